// Package redis is jq's optional Redis fast path: per-job assignment locks shared by the server
// instances (SetNxPxMany and DelIfValueMany, for a batch of jobs at a time) and a leader lease
// electing the one instance that runs the maintenance loops (Lease).
//
// PostgreSQL stays the only store of record and correctness never depends on Redis: the database's
// FOR UPDATE SKIP LOCKED already guarantees single assignment, and leadership falls back to a
// PostgreSQL advisory lock. So every method here fails fast (a short timeout, no retries) with an
// error wrapping ErrUnavailable when Redis cannot be reached, and callers carry on without it. The
// Client logs one WARN line per warning interval while Redis is unreachable, and one INFO line when
// it answers again; it never logs per call.
//
// Every call is timed into the histogram given to New (jq_redis_operation_duration_seconds), with
// the label operation set to one of: set_nx_px_many, del_if_value_many, ping, lease_acquire,
// lease_release.
package redis

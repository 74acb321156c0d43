package queue

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The outbox: jq.job_events read in the order the relay publishes it.

// OutboxEvent is one job transition to publish.
type OutboxEvent struct {
	Event
	// XID is the id of the transaction that wrote it; events are published in (XID, ID) order.
	XID uint64
}

// OutboxPosition is a point in the outbox: every event at or before it is published.
type OutboxPosition struct {
	XID uint64
	ID  int64
}

// Less orders positions.
func (p OutboxPosition) Less(q OutboxPosition) bool {
	return p.XID < q.XID || (p.XID == q.XID && p.ID < q.ID)
}

// RelayCursor returns how far the relay called name has got; the zero position when it has
// never run.
func (s *Store) RelayCursor(ctx context.Context, name string) (OutboxPosition, error) {
	var pos OutboxPosition
	err := s.observe(ctx, "relay_cursor", func(ctx context.Context) error {
		err := s.pool.QueryRow(ctx, `SELECT xid::text::bigint, id FROM jq.relay_cursors WHERE name = $1`, name).Scan(&pos.XID, &pos.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return pos, err
}

// outboxHorizon is the transaction id below which every transaction that could write to this
// database's jq.job_events has finished, in the statement's snapshot: the oldest transaction
// still running there, else the snapshot's xmax. Transaction ids are cluster-wide, so running
// transactions positively known to belong to other databases (pg_stat_activity,
// pg_prepared_xacts) do not hold it back; one that cannot be placed (it ended after the
// snapshot, or the role may not see it: grant pg_read_all_stats) counts, which only delays.
const outboxHorizon = `(
	SELECT coalesce(
		(SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
		 WHERE x::xid NOT IN (
			SELECT a.backend_xid FROM pg_stat_activity a
			WHERE a.backend_xid IS NOT NULL
			  AND a.datid IS DISTINCT FROM (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
			UNION ALL
			SELECT p.transaction FROM pg_prepared_xacts p WHERE p.database <> current_database())),
		pg_snapshot_xmax(pg_current_snapshot())))`

// OutboxBatch returns up to limit events after pos whose transactions have all finished, in
// (xid, id) order. An event of a transaction still running is never returned, nor any event
// ordered after it, so nothing is skipped when that transaction commits late.
func (s *Store) OutboxBatch(ctx context.Context, after OutboxPosition, limit int) ([]OutboxEvent, error) {
	var events []OutboxEvent
	err := s.observe(ctx, "outbox_batch", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `
			SELECT id, xid::text::bigint, job_id, queue_name, coalesce(from_status::text, ''), to_status::text,
				worker_id, attempt, reason, coalesce(error_message, ''), occurred_at
			FROM jq.job_events
			WHERE xid >= $1::bigint::text::xid8
			  AND (xid > $1::bigint::text::xid8 OR id > $2)
			  AND xid < `+outboxHorizon+`
			ORDER BY xid, id
			LIMIT $3`, int64(after.XID), after.ID, limit)
		if err != nil {
			return err
		}
		events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxEvent, error) {
			var e OutboxEvent
			var from, to string
			var worker uuid.NullUUID
			err := r.Scan(&e.ID, &e.XID, &e.JobID, &e.Queue, &from, &to, &worker, &e.Attempt, &e.Reason, &e.ErrorMessage, &e.OccurredAt)
			e.From, e.To, e.WorkerID = JobStatus(from), JobStatus(to), worker.UUID
			return e, err
		})
		return err
	})
	return events, err
}

// AdvanceRelayCursor moves the relay called name from one position to a later one. It reports
// false, and changes nothing, when the cursor is no longer at from (another relay moved it:
// two leaders overlapping for a moment); it never moves a cursor backwards.
func (s *Store) AdvanceRelayCursor(ctx context.Context, name string, from, to OutboxPosition) (bool, error) {
	var moved bool
	err := s.observe(ctx, "advance_relay_cursor", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `
			INSERT INTO jq.relay_cursors AS c (name, xid, id) VALUES ($1, $4::bigint::text::xid8, $5)
			ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, id = excluded.id, updated_at = now()
			WHERE c.xid = $2::bigint::text::xid8 AND c.id = $3`, name, int64(from.XID), from.ID, int64(to.XID), to.ID)
		moved = err == nil && tag.RowsAffected() == 1
		return err
	})
	return moved, err
}

// maxLagCount caps OutboxLag's count, so a relay far behind does not make it slow.
const maxLagCount = 1_000_000

// OutboxLag counts the events after pos (up to a million) and returns the time of the oldest
// of them (zero when none).
func (s *Store) OutboxLag(ctx context.Context, after OutboxPosition) (int64, time.Time, error) {
	var n int64
	var oldest *time.Time
	err := s.observe(ctx, "outbox_lag", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `
			WITH after AS (
				SELECT occurred_at FROM jq.job_events
				WHERE xid >= $1::bigint::text::xid8 AND (xid > $1::bigint::text::xid8 OR id > $2)
				LIMIT $3
			)
			SELECT count(*), min(occurred_at) FROM after`,
			int64(after.XID), after.ID, maxLagCount).Scan(&n, &oldest)
	})
	if oldest == nil {
		return n, time.Time{}, err
	}
	return n, *oldest, err
}

package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Workers, queues and maintenance.

const workerColumns = `worker_id, hostname, status::text, concurrency, active_job_count, queues,
	incarnation, shutdown_requested, coalesce(owner, ''), last_heartbeat, registered_at, updated_at`

func scanWorker(row pgx.Row) (*Worker, error) {
	var w Worker
	var status string
	err := row.Scan(&w.ID, &w.Hostname, &status, &w.Concurrency, &w.ActiveJobCount, &w.Queues,
		&w.Incarnation, &w.ShutdownRequested, &w.Owner, &w.LastHeartbeat, &w.RegisteredAt, &w.UpdatedAt)
	w.Status = WorkerStatus(status)
	return &w, err
}

func (s *Store) queryWorker(ctx context.Context, name, sql string, args ...any) (*Worker, error) {
	var w *Worker
	err := s.observe(ctx, name, func(ctx context.Context) error {
		var err error
		w, err = scanWorker(s.pool.QueryRow(ctx, sql, args...))
		return err
	})
	return w, err
}

// RegisterWorkerParams describe a worker registering.
type RegisterWorkerParams struct {
	ID          uuid.UUID
	Hostname    string
	Concurrency int
	Queues      []string
	// Incarnation is random per worker process; a new one retries the jobs the previous
	// process under this id held.
	Incarnation string
	// Owner is the credential registering it; while the worker is not OFFLINE, no other may
	// register, stream, heartbeat or report for it (ErrForbidden). Empty: none (SQL use).
	Owner string
	// MaxPerOwner bounds the workers Owner has registered and not OFFLINE (ErrLimit); 0: none.
	MaxPerOwner int
}

// RegisterWorker upserts a worker as ONLINE (jq.register_worker).
func (s *Store) RegisterWorker(ctx context.Context, p RegisterWorkerParams) (*Worker, error) {
	return s.queryWorker(ctx, "register_worker", `SELECT `+workerColumns+` FROM jq.register_worker($1, $2, $3, $4, $5, $6, $7)`,
		p.ID, p.Hostname, p.Concurrency, p.Queues, p.Incarnation, nullText(p.Owner),
		pgtype.Int4{Int32: int32(p.MaxPerOwner), Valid: p.MaxPerOwner > 0})
}

// Heartbeat refreshes a worker's liveness (jq.heartbeat); activeJobs < 0 leaves its job count
// as it is. An OFFLINE worker gets ErrWrongState and must register again; with owner set, a
// worker registered by another credential gets ErrForbidden.
func (s *Store) Heartbeat(ctx context.Context, workerID uuid.UUID, activeJobs int, owner string) (*Worker, error) {
	active := pgtype.Int4{Int32: int32(activeJobs), Valid: activeJobs >= 0}
	return s.queryWorker(ctx, "heartbeat", `SELECT `+workerColumns+` FROM jq.heartbeat($1, $2, $3)`, workerID, active, nullText(owner))
}

// DrainWorker marks a worker DRAINING (jq.drain_worker), audited with actor.
func (s *Store) DrainWorker(ctx context.Context, workerID uuid.UUID, actor string) (*Worker, error) {
	return s.queryWorker(ctx, "drain_worker", `SELECT `+workerColumns+` FROM jq.drain_worker($1, $2)`, workerID, actor)
}

// ShutdownWorker drains a worker and asks it to exit once drained (jq.shutdown_worker),
// audited with actor.
func (s *Store) ShutdownWorker(ctx context.Context, workerID uuid.UUID, actor string) (*Worker, error) {
	return s.queryWorker(ctx, "shutdown_worker", `SELECT `+workerColumns+` FROM jq.shutdown_worker($1, $2)`, workerID, actor)
}

// ReleaseSilentWorker marks a worker whose stream broke at silentSince OFFLINE and fails the
// jobs it holds through the retry rule, as WORKER_LOST (jq.release_worker); it returns how many
// jobs it failed. It does nothing (and returns 0) when the worker heartbeated or registered
// again since, e.g. because it reconnected to another server.
func (s *Store) ReleaseSilentWorker(ctx context.Context, workerID uuid.UUID, silentSince time.Time, policy RetryPolicy) (int, error) {
	return s.queryInt(ctx, "release_worker", `SELECT jq.release_worker($1, $2, $3, $4, $5)`,
		workerID, ReasonWorkerLost, policy.BaseDelay, policy.MaxDelay, silentSince)
}

// DeregisterWorker marks a worker OFFLINE; jobs it still holds are retried elsewhere. With
// owner set, a worker registered by another credential gets ErrForbidden.
func (s *Store) DeregisterWorker(ctx context.Context, workerID uuid.UUID, owner string) (int, error) {
	return s.queryInt(ctx, "deregister_worker", `SELECT jq.deregister_worker($1, $2)`, workerID, nullText(owner))
}

// GetWorker returns one worker.
func (s *Store) GetWorker(ctx context.Context, workerID uuid.UUID) (*Worker, error) {
	w, err := s.queryWorker(ctx, "get_worker", `SELECT `+workerColumns+` FROM jq.workers WHERE worker_id = $1`, workerID)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Kind: ErrNotFound, Message: fmt.Sprintf("worker %s not found", workerID)}
	}
	return w, err
}

// ListWorkersParams select a page of workers, newest registration first.
type ListWorkersParams struct {
	// Status, when set, keeps the workers in that status.
	Status WorkerStatus
	// After, when set, starts after this worker (the last of the previous page).
	After *WorkerCursor
	Limit int
}

// WorkerCursor is where a page of workers ends: the order is registered_at, then worker_id,
// descending, both of which a worker keeps while it is registered.
type WorkerCursor struct {
	RegisteredAt time.Time
	ID           uuid.UUID
}

// ListWorkers lists a page of workers, optionally of one status, newest registration first.
func (s *Store) ListWorkers(ctx context.Context, p ListWorkersParams) ([]*Worker, error) {
	var workers []*Worker
	var afterTime pgtype.Timestamptz
	var afterID uuid.NullUUID
	if p.After != nil {
		afterTime = pgtype.Timestamptz{Time: p.After.RegisteredAt, Valid: true}
		afterID = uuid.NullUUID{UUID: p.After.ID, Valid: true}
	}
	err := s.observe(ctx, "list_workers", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+workerColumns+` FROM jq.workers
			WHERE ($1 = '' OR status = $1::jq.worker_status)
			  AND ($2::timestamptz IS NULL OR (registered_at, worker_id) < ($2, $3))
			ORDER BY registered_at DESC, worker_id DESC
			LIMIT $4`, string(p.Status), afterTime, afterID, p.Limit)
		if err != nil {
			return err
		}
		workers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Worker, error) { return scanWorker(r) })
		return err
	})
	return workers, err
}

// SystemCounts are the counts jq-ctl system status shows.
type SystemCounts struct {
	OnlineWorkers int64
	DeadLettered  int64
}

// SystemCounts counts the ONLINE workers and the DEAD_LETTERED jobs, each through a partial
// index, so that the answer stays cheap however many jobs are kept.
func (s *Store) SystemCounts(ctx context.Context) (SystemCounts, error) {
	var c SystemCounts
	err := s.observe(ctx, "system_counts", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM jq.workers WHERE status = 'ONLINE'),
			(SELECT count(*) FROM jq.jobs WHERE status = 'DEAD_LETTERED')`).Scan(&c.OnlineWorkers, &c.DeadLettered)
	})
	return c, err
}

// ExpireTTL dead-letters PENDING jobs past their queue's TTL (jq.expire_ttl).
func (s *Store) ExpireTTL(ctx context.Context, maxRows int) (int, error) {
	return s.queryInt(ctx, "expire_ttl", `SELECT jq.expire_ttl($1)`, maxRows)
}

// ReapWorkers declares workers silent for heartbeatTimeout lost and retries their jobs
// (jq.reap_workers); it returns the number of workers.
func (s *Store) ReapWorkers(ctx context.Context, heartbeatTimeout time.Duration, policy RetryPolicy) (int, error) {
	return s.queryInt(ctx, "reap_workers", `SELECT jq.reap_workers($1, $2, $3)`,
		heartbeatTimeout, policy.BaseDelay, policy.MaxDelay)
}

// RequeueUnstarted puts jobs ASSIGNED longer than assignmentTimeout back to PENDING
// (jq.requeue_unstarted).
func (s *Store) RequeueUnstarted(ctx context.Context, assignmentTimeout time.Duration, maxRows int) (int, error) {
	return s.queryInt(ctx, "requeue_unstarted", `SELECT jq.requeue_unstarted($1, $2)`, assignmentTimeout, maxRows)
}

// ReapOrphans retries the ASSIGNED and RUNNING jobs whose worker is OFFLINE or unregistered
// (jq.reap_orphans), at most maxRows per call.
func (s *Store) ReapOrphans(ctx context.Context, maxRows int) (int, error) {
	return s.queryInt(ctx, "reap_orphans", `SELECT jq.reap_orphans($1)`, maxRows)
}

// PruneWorkers deletes workers OFFLINE for longer than olderThan (jq.prune_workers), at most
// maxRows per call.
func (s *Store) PruneWorkers(ctx context.Context, olderThan time.Duration, maxRows int) (int, error) {
	return s.queryInt(ctx, "prune_workers", `SELECT jq.prune_workers($1, $2)`, olderThan, maxRows)
}

// Attempt names one attempt of a job.
type Attempt struct {
	JobID   uuid.UUID
	Attempt int
}

// ReconcileWorker retries the jobs the database gives a live worker that the worker says it
// does not hold (jq.reconcile_worker), assigned longer than grace ago, and returns them.
func (s *Store) ReconcileWorker(ctx context.Context, workerID uuid.UUID, held []uuid.UUID, grace time.Duration) ([]Attempt, error) {
	if held == nil {
		held = []uuid.UUID{}
	}
	var out []Attempt
	err := s.observe(ctx, "reconcile_worker", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT job_id, attempt FROM jq.reconcile_worker($1, $2, $3)`, workerID, held, grace)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Attempt])
		return err
	})
	return out, err
}

// CancelledAmong returns the attempts among held that the worker was given and an operator
// cancelled since.
func (s *Store) CancelledAmong(ctx context.Context, workerID uuid.UUID, held []uuid.UUID) ([]Attempt, error) {
	var out []Attempt
	err := s.observe(ctx, "cancelled_among", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT job_id, attempt FROM jq.jobs
			WHERE job_id = ANY($1) AND worker_id = $2 AND status = 'CANCELLED'`, held, workerID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Attempt])
		return err
	})
	return out, err
}

// Prune deletes DONE, DEAD_LETTERED and CANCELLED jobs finished more than olderThan ago (jq.prune), at
// most maxRows per call.
func (s *Store) Prune(ctx context.Context, olderThan time.Duration, maxRows int) (int, error) {
	return s.queryInt(ctx, "prune", `SELECT jq.prune($1, $2)`, olderThan, maxRows)
}

const queueColumns = `name, max_retries, coalesce(ttl_seconds, 0), created_at, updated_at, paused,
	coalesce(max_running, 0), coalesce(rate_limit, 0), coalesce(rate_period, '0'), coalesce(max_running_per_key, 0)`

func scanQueue(row pgx.Row) (*Queue, error) {
	var q Queue
	var ttl int
	err := row.Scan(&q.Name, &q.MaxRetries, &ttl, &q.CreatedAt, &q.UpdatedAt, &q.Paused,
		&q.MaxRunning, &q.RateLimit, &q.RatePeriod, &q.MaxRunningPerKey)
	q.TTL = time.Duration(ttl) * time.Second
	return &q, err
}

func (s *Store) queryQueue(ctx context.Context, name, sql string, args ...any) (*Queue, error) {
	var q *Queue
	err := s.observe(ctx, name, func(ctx context.Context) error {
		var err error
		q, err = scanQueue(s.pool.QueryRow(ctx, sql, args...))
		return err
	})
	return q, err
}

// PauseQueues pauses the named queues, every queue when names is empty (jq.pause_queues),
// audited with actor; it returns the queues it paused.
func (s *Store) PauseQueues(ctx context.Context, names []string, actor string) ([]string, error) {
	return s.queryNames(ctx, "pause_queues", `SELECT jq.pause_queues($1, $2)`, names, actor)
}

// ResumeQueues resumes the named queues, every paused one when names is empty
// (jq.resume_queues), and wakes the schedulers; it returns the queues it resumed.
func (s *Store) ResumeQueues(ctx context.Context, names []string, actor string) ([]string, error) {
	return s.queryNames(ctx, "resume_queues", `SELECT jq.resume_queues($1, $2)`, names, actor)
}

func (s *Store) queryNames(ctx context.Context, name, sql string, names []string, actor string) ([]string, error) {
	var out []string
	err := s.observe(ctx, name, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, names, actor)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// QueueLimits change a queue's limits (jq.set_queue_limits): nil leaves a limit as it is, a
// pointer to 0 removes it.
type QueueLimits struct {
	MaxRunning       *int
	RateLimit        *int
	RatePeriod       time.Duration // with RateLimit
	MaxRunningPerKey *int
}

// SetQueueLimits changes a queue's limits, audited with actor.
func (s *Store) SetQueueLimits(ctx context.Context, name string, l QueueLimits, actor string) (*Queue, error) {
	period := pgtype.Interval{Microseconds: l.RatePeriod.Microseconds(), Valid: l.RateLimit != nil && *l.RateLimit > 0}
	return s.queryQueue(ctx, "set_queue_limits", `SELECT `+queueColumns+` FROM jq.set_queue_limits($1, $2, $3, $4, $5, $6)`,
		name, l.MaxRunning, l.RateLimit, period, l.MaxRunningPerKey, actor)
}

// FlowStats is a queue's flow control as the metrics show it: paused or not, and the jobs each
// limit has held back since the queue was created (cluster-wide).
type FlowStats struct {
	Queue                                         string
	Paused                                        bool
	HeldPaused, HeldMaxRunning, HeldRate, HeldKey int64
}

// FlowStats reads every queue's flow control state.
func (s *Store) FlowStats(ctx context.Context) ([]FlowStats, error) {
	var out []FlowStats
	err := s.observe(ctx, "flow_stats", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT name, paused, held_paused, held_max_running, held_rate, held_per_key
			FROM jq.queues ORDER BY name`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[FlowStats])
		return err
	})
	return out, err
}

// CancelMany cancels the unfinished jobs of a queue ("": every queue) in one status ("": every
// unfinished status), at most maxRows (jq.cancel_many), and returns how many of each queue;
// dryRun only counts them.
func (s *Store) CancelMany(ctx context.Context, queue string, status JobStatus, actor string, maxRows int, dryRun bool) (map[string]int, error) {
	st := pgtype.Text{String: string(status), Valid: status != ""}
	out := map[string]int{}
	err := s.observe(ctx, "cancel_many", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT queue_name, cancelled FROM jq.cancel_many($1, $2::jq.job_status, $3, $4, $5)`,
			nullText(queue), st, actor, maxRows, dryRun)
		if err != nil {
			return err
		}
		var name string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
			out[name] = n
			return nil
		})
		return err
	})
	return out, err
}

// CreateQueueParams describe a new queue.
type CreateQueueParams struct {
	Name       string
	MaxRetries int
	TTL        time.Duration // 0: no TTL; rounded down to whole seconds
	// Actor is audited as the one who created it.
	Actor string
}

// CreateQueue creates a queue (jq.create_queue).
func (s *Store) CreateQueue(ctx context.Context, p CreateQueueParams) (*Queue, error) {
	ttl := pgtype.Int4{Int32: int32(p.TTL / time.Second), Valid: p.TTL > 0}
	var q *Queue
	err := s.observe(ctx, "create_queue", func(ctx context.Context) error {
		var err error
		q, err = scanQueue(s.pool.QueryRow(ctx, `SELECT `+queueColumns+` FROM jq.create_queue($1, $2, $3, $4)`,
			p.Name, p.MaxRetries, ttl, p.Actor))
		return err
	})
	return q, err
}

// DeleteQueue deletes a queue and its finished jobs (jq.delete_queue); ErrWrongState while it
// has unfinished jobs. It returns how many jobs were deleted. Audited with actor.
func (s *Store) DeleteQueue(ctx context.Context, name, actor string) (int, error) {
	return s.queryInt(ctx, "delete_queue", `SELECT jq.delete_queue($1, $2)`, name, actor)
}

// ListQueues lists every queue by name.
func (s *Store) ListQueues(ctx context.Context) ([]*Queue, error) {
	var queues []*Queue
	err := s.observe(ctx, "list_queues", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+queueColumns+` FROM jq.queues ORDER BY name`)
		if err != nil {
			return err
		}
		queues, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Queue, error) { return scanQueue(r) })
		return err
	})
	return queues, err
}

// QueueStats counts the jobs of one queue (or of every queue, for "") per status
// (jq.queue_stats).
func (s *Store) QueueStats(ctx context.Context, queue string) ([]*QueueStats, error) {
	var stats []*QueueStats
	name := pgtype.Text{String: queue, Valid: queue != ""}
	err := s.observe(ctx, "queue_stats", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT queue_name, pending, assigned, running, done, failed, dead_lettered,
				cancelled, waiting, oldest_pending_at, completed_last_minute, failed_last_minute FROM jq.queue_stats($1)`, name)
		if err != nil {
			return err
		}
		stats, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*QueueStats, error) {
			var st QueueStats
			var pending, assigned, running, done, failed, dead, cancelled, waiting int64
			var oldest pgtype.Timestamptz
			err := r.Scan(&st.Queue, &pending, &assigned, &running, &done, &failed, &dead, &cancelled, &waiting, &oldest,
				&st.CompletedLastMinute, &st.FailedLastMinute)
			st.Counts = map[JobStatus]int64{
				StatusPending: pending, StatusAssigned: assigned, StatusRunning: running,
				StatusDone: done, StatusFailed: failed, StatusDeadLettered: dead, StatusCancelled: cancelled,
				StatusWaiting: waiting,
			}
			st.OldestPendingAt = oldest.Time
			return &st, err
		})
		return err
	})
	return stats, err
}

// Depth is the number of jobs of one queue in one status.
type Depth struct {
	Queue  string
	Status JobStatus
	Count  int64
}

// QueueDepths counts the jobs that are not finished, per queue and status, with a zero for
// every queue and unfinished status that has none. It reads only the partial indexes of those
// states, so it stays cheap however many finished jobs are kept.
func (s *Store) QueueDepths(ctx context.Context) ([]Depth, error) {
	var out []Depth
	err := s.observe(ctx, "queue_depths", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `
			WITH counts AS (
				SELECT queue_name, 'PENDING' AS status, count(*) AS n FROM jq.jobs WHERE status = 'PENDING' GROUP BY queue_name
				UNION ALL
				SELECT queue_name, status::text, count(*) FROM jq.jobs WHERE status IN ('ASSIGNED', 'RUNNING') GROUP BY 1, 2
			)
			SELECT q.name, st.status, coalesce(c.n, 0)
			FROM jq.queues q
			CROSS JOIN (VALUES ('PENDING'), ('ASSIGNED'), ('RUNNING')) AS st (status)
			LEFT JOIN counts c ON c.queue_name = q.name AND c.status = st.status
			ORDER BY 1, 2`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Depth, error) {
			var d Depth
			var status string
			err := r.Scan(&d.Queue, &status, &d.Count)
			d.Status = JobStatus(status)
			return d, err
		})
		return err
	})
	return out, err
}

// nullText is SQL NULL for "".
func nullText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// ServerVersion returns PostgreSQL's version string, for status reports.
func (s *Store) ServerVersion(ctx context.Context) (string, error) {
	var v string
	err := s.observe(ctx, "server_version", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SHOW server_version").Scan(&v)
	})
	return v, err
}

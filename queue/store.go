package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Store performs jq's transitions and reads over a pgx pool. Transitions are calls of the SQL
// functions in schema jq; reads are plain queries. Errors wrap the sentinels of this package.
type Store struct {
	pool          *pgxpool.Pool
	claims        *pgxpool.Pool // the scheduler's claims, starts and releases; pool when unset
	queryDuration prometheus.ObserverVec
	timeout       time.Duration // deadline of a call whose context has none; 0: none
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithQueryDuration records every query's duration, labelled by query name, in h (the
// jq_db_query_duration_seconds histogram).
func WithQueryDuration(h prometheus.ObserverVec) StoreOption {
	return func(s *Store) { s.queryDuration = h }
}

// WithStatementTimeout gives every call whose context has no deadline one of d (0: none).
// The deadline is the client's: when it passes mid-query pgx closes the connection (the pool
// then drops it) and the call fails with context.DeadlineExceeded. A server-side
// statement_timeout cannot do this job: over a path that went silent, its error never
// arrives. Callers that set their own deadline (RPCs whose client set one) keep it.
func WithStatementTimeout(d time.Duration) StoreOption {
	return func(s *Store) { s.timeout = d }
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool, opts ...StoreOption) *Store {
	s := &Store{pool: pool, claims: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

// WithClaimPool runs the scheduler's claims, starts and releases (ClaimFor, StartFor,
// Release) on pool: jq-server gives it connections with synchronous_commit off. Those
// transitions are the ones a crash may forget at no cost but a second run of the job: the
// attempt is fenced, so the forgotten attempt's report is refused and the job is claimed again.
func WithClaimPool(pool *pgxpool.Pool) StoreOption {
	return func(s *Store) {
		if pool != nil {
			s.claims = pool
		}
	}
}

// Pool returns the underlying pool, for health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// maxRetries bounds the retries of a call PostgreSQL asked to retry (40001, 40P01).
const maxRetries = 5

// observe runs fn as the query called name, timing it, retrying it when PostgreSQL says a
// retry will do (a serialization failure: jq._in_order, or a deadlock; the call changed
// nothing), and interpreting its error.
func (s *Store) observe(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok && s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	start := time.Now()
	err := fn(ctx)
	for attempt := 1; attempt <= maxRetries && retryable(err) && ctx.Err() == nil; attempt++ {
		time.Sleep(time.Duration(attempt) * time.Millisecond)
		err = fn(ctx)
	}
	if s.queryDuration != nil {
		s.queryDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
	if err = interpretError(err); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// jobColumns selects a jq.jobs row (or a function result of that type) for scanJob.
const jobColumns = `job_id, queue_name, payload, priority, status::text, max_retries, retry_count, attempt,
	worker_id, result, error_message, idempotency_key, not_before, created_at, assigned_at,
	started_at, completed_at, updated_at, concurrency_key, unique_key, has_dependents, progress, progress_message,
	progress_at`

func scanJob(row pgx.Row) (*Job, error) {
	var (
		j                                       Job
		status                                  string
		workerID                                *uuid.UUID
		errMsg, key, ckey, ukey, progressMsg    pgtype.Text
		notBefore, assigned, started, completed pgtype.Timestamptz
		progress                                pgtype.Float8
		progressAt                              pgtype.Timestamptz
	)
	err := row.Scan(&j.ID, &j.Queue, &j.Payload, &j.Priority, &status, &j.MaxRetries, &j.RetryCount, &j.Attempt,
		&workerID, &j.Result, &errMsg, &key, &notBefore, &j.CreatedAt, &assigned, &started, &completed, &j.UpdatedAt, &ckey,
		&ukey, &j.HasDependents, &progress, &progressMsg, &progressAt)
	if err != nil {
		return nil, err
	}
	j.UniqueKey = ukey.String
	if progress.Valid {
		j.Progress = &Progress{Percent: progress.Float64, Message: progressMsg.String, ReportedAt: progressAt.Time}
	}
	j.Status = JobStatus(status)
	if workerID != nil {
		j.WorkerID = *workerID
	}
	j.ErrorMessage = errMsg.String
	j.IdempotencyKey = key.String
	j.ConcurrencyKey = ckey.String
	j.NotBefore = notBefore.Time
	j.AssignedAt = assigned.Time
	j.StartedAt = started.Time
	j.CompletedAt = completed.Time
	return &j, nil
}

func collectJobs(rows pgx.Rows) ([]*Job, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Job, error) { return scanJob(r) })
}

// summaryColumns are the columns of a job summary: what the hot path needs of the jobs it
// started or completed. Reading and decoding the full rows (payload, result, 18 columns) cost
// a tenth of jq-server's CPU.
const summaryColumns = `job_id, queue_name, status::text, started_at`

// collectSummaries reads rows of summaryColumns into jobs with only ID, Queue, Status and
// StartedAt set.
func collectSummaries(rows pgx.Rows) ([]*Job, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Job, error) {
		var (
			j       Job
			status  string
			started pgtype.Timestamptz
		)
		if err := r.Scan(&j.ID, &j.Queue, &status, &started); err != nil {
			return nil, err
		}
		j.Status, j.StartedAt = JobStatus(status), started.Time
		return &j, nil
	})
}

// queryJobs runs a query returning job rows.
func (s *Store) queryJobs(ctx context.Context, name, sql string, args ...any) ([]*Job, error) {
	return s.queryRows(ctx, name, collectJobs, sql, args...)
}

// queryRows runs a query and reads its rows with collect.
func (s *Store) queryRows(ctx context.Context, name string, collect func(pgx.Rows) ([]*Job, error), sql string, args ...any) ([]*Job, error) {
	var jobs []*Job
	err := s.observe(ctx, name, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		jobs, err = collect(rows)
		return err
	})
	return jobs, err
}

// queryJob runs a query returning one job row.
func (s *Store) queryJob(ctx context.Context, name, sql string, args ...any) (*Job, error) {
	var job *Job
	err := s.observe(ctx, name, func(ctx context.Context) error {
		var err error
		job, err = scanJob(s.pool.QueryRow(ctx, sql, args...))
		return err
	})
	return job, err
}

// queryInt runs a query returning one integer.
func (s *Store) queryInt(ctx context.Context, name, sql string, args ...any) (int, error) {
	var n int
	err := s.observe(ctx, name, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, sql, args...).Scan(&n)
	})
	return n, err
}

// SubmitParams describe a job to submit.
type SubmitParams struct {
	// ID is the new job's id; zero makes one (a UUIDv7). A caller that makes it can tell, after
	// losing a commit's answer, whether the job exists (see Inserter).
	ID       uuid.UUID
	Queue    string
	Payload  json.RawMessage
	Priority int
	// MaxRetries nil takes the queue's.
	MaxRetries *int
	// NotBefore zero: runnable at once.
	NotBefore      time.Time
	IdempotencyKey string
	// ConcurrencyKey groups the job for fairness and per-key limits (optional).
	ConcurrencyKey string
	// UniqueKey makes the submit insert nothing while a job of the queue with this key was
	// created within UniqueWindow (0: ever) and is in one of UniqueStatuses (none: any); the
	// result is then that job, with Inserted false.
	UniqueKey      string
	UniqueWindow   time.Duration
	UniqueStatuses []JobStatus
	// DependsOn lists the jobs this one waits for: it is WAITING until they are all DONE.
	DependsOn []uuid.UUID
	// OnDependencyFailure is what a failed (dead-lettered or cancelled) dependency does to the
	// job: DependencyCancel (the default) or DependencyRun.
	OnDependencyFailure string
	// SkipNotify leaves waking the schedulers to the caller (an Announcer): the submitting
	// transaction then does not NOTIFY.
	SkipNotify bool
}

// The policies of a job towards a dependency that fails (SubmitParams.OnDependencyFailure).
const (
	// DependencyCancel cancels the job when a job it depends on is dead-lettered or cancelled.
	DependencyCancel = "cancel"
	// DependencyRun runs the job once every job it depends on has finished, whatever its outcome.
	DependencyRun = "run"
)

// SubmitResult says which job a submit produced.
type SubmitResult struct {
	ID uuid.UUID
	// Inserted is false when the idempotency key or the unique key matched an existing job.
	Inserted bool
}

// enqueueSQL calls jq.enqueue with enqueueArgs.
const enqueueSQL = `SELECT job_id, inserted FROM jq.enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9,
	$10, $11, $12::text[]::jq.job_status[], $13, $14)`

func enqueueArgs(p SubmitParams) []any {
	var window pgtype.Interval
	if p.UniqueWindow != 0 {
		window = pgtype.Interval{Microseconds: p.UniqueWindow.Microseconds(), Valid: true}
	}
	var statuses []string
	if len(p.UniqueStatuses) > 0 {
		statuses = make([]string, len(p.UniqueStatuses))
		for i, st := range p.UniqueStatuses {
			statuses[i] = string(st)
		}
	}
	var deps []uuid.UUID
	if len(p.DependsOn) > 0 {
		deps = p.DependsOn
	}
	return []any{p.Queue, p.Payload, p.Priority, p.MaxRetries, pgtype.Timestamptz{Time: p.NotBefore, Valid: !p.NotBefore.IsZero()},
		p.IdempotencyKey, !p.SkipNotify, uuid.NullUUID{UUID: p.ID, Valid: p.ID != uuid.Nil}, nullText(p.ConcurrencyKey),
		nullText(p.UniqueKey), window, statuses, deps, cmp.Or(p.OnDependencyFailure, DependencyCancel)}
}

// Submit inserts a PENDING job (jq.enqueue).
func (s *Store) Submit(ctx context.Context, p SubmitParams) (SubmitResult, error) {
	var res SubmitResult
	err := s.observe(ctx, "submit", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, enqueueSQL, enqueueArgs(p)...).Scan(&res.ID, &res.Inserted)
	})
	return res, err
}

// Snooze ends the current attempt without using a retry (jq.snooze): PENDING again, runnable
// after delay.
func (s *Store) Snooze(ctx context.Context, r Report, delay time.Duration) (*Job, error) {
	return s.queryJob(ctx, "snooze", `SELECT `+jobColumns+` FROM jq.snooze($1, $2, $3, $4)`, r.JobID, r.WorkerID, r.Attempt, delay)
}

// SubmitTx inserts a PENDING job within the caller's transaction (jq.enqueue): the job exists
// if and only if tx commits, and the schedulers are woken at that commit. This is how a Go
// program that shares jq's database makes a job part of its own unit of work (the order saved
// and its confirmation email queued, or neither).
func SubmitTx(ctx context.Context, tx pgx.Tx, p SubmitParams) (SubmitResult, error) {
	var res SubmitResult
	err := tx.QueryRow(ctx, enqueueSQL, enqueueArgs(p)...).Scan(&res.ID, &res.Inserted)
	if err = interpretError(err); err != nil {
		return SubmitResult{}, fmt.Errorf("submit: %w", err)
	}
	return res, nil
}

// ExistingJobs reports which of ids are jobs, for a caller that lost the answer of a commit.
func (s *Store) ExistingJobs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := make(map[uuid.UUID]bool, len(ids))
	err := s.observe(ctx, "existing_jobs", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT job_id FROM jq.jobs WHERE job_id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		for _, id := range found {
			out[id] = true
		}
		return err
	})
	return out, err
}

// SubmitAll inserts jobs in one statement and one transaction (jq.enqueue_many): one commit
// for all of them. They succeed or fail together (the error names the job at fault); a caller
// that needs each one's own error submits them one by one after a failure. A job whose
// idempotency key matches an existing job, or an earlier one of the batch, is not inserted and
// gets that job's id. The schedulers are notified unless every job has SkipNotify.
func (s *Store) SubmitAll(ctx context.Context, ps []SubmitParams) ([]SubmitResult, error) {
	n := len(ps)
	queues, payloads := make([]string, n), make([][]byte, n)
	priorities, retries := make([]int32, n), make([]pgtype.Int4, n)
	notBefores, keys, ckeys := make([]pgtype.Timestamptz, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
	ids := make([]uuid.NullUUID, n)
	notify := false
	for i, p := range ps {
		queues[i], payloads[i], priorities[i] = p.Queue, p.Payload, int32(p.Priority)
		if p.MaxRetries != nil {
			retries[i] = pgtype.Int4{Int32: int32(*p.MaxRetries), Valid: true}
		}
		notBefores[i] = pgtype.Timestamptz{Time: p.NotBefore, Valid: !p.NotBefore.IsZero()}
		keys[i], ckeys[i] = nullText(p.IdempotencyKey), nullText(p.ConcurrencyKey)
		ids[i] = uuid.NullUUID{UUID: p.ID, Valid: p.ID != uuid.Nil}
		notify = notify || !p.SkipNotify
	}
	res := make([]SubmitResult, n)
	err := s.observe(ctx, "submit_many", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT ord, job_id, inserted FROM jq.enqueue_many($1, $2::jsonb[], $3, $4, $5, $6, $7, $8, $9)`,
			queues, payloads, priorities, retries, notBefores, keys, ckeys, ids, notify)
		if err != nil {
			return err
		}
		var ord int
		var r SubmitResult
		_, err = pgx.ForEachRow(rows, []any{&ord, &r.ID, &r.Inserted}, func() error {
			if ord < 1 || ord > n {
				return fmt.Errorf("enqueue_many answered for job %d of %d", ord, n)
			}
			res[ord-1] = r
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// NotifyChannel sends one NOTIFY on channel with payload (the notifier's probe).
func (s *Store) NotifyChannel(ctx context.Context, channel, payload string) error {
	return s.observe(ctx, "notify_channel", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
		return err
	})
}

// Notify sends a NOTIFY on ReadyChannel once for each queue, in one short transaction.
func (s *Store) Notify(ctx context.Context, queues []string) error {
	return s.observe(ctx, "notify", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q`, ReadyChannel, queues)
		return err
	})
}

// SubmitMany inserts one PENDING job per payload with one NOTIFY (jq.submit_many) and returns
// the ids in payload order.
func (s *Store) SubmitMany(ctx context.Context, queue string, payloads []json.RawMessage, priority int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.observe(ctx, "submit_many", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT jq.submit_many($1, $2::jsonb[], $3)`, queue, payloads, priority)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	return ids, err
}

// Claim assigns up to max runnable PENDING jobs of queues to a worker (jq.claim), highest
// priority and oldest first.
func (s *Store) Claim(ctx context.Context, queues []string, max int, workerID uuid.UUID) ([]*Job, error) {
	return s.queryJobs(ctx, "claim", `SELECT `+jobColumns+` FROM jq.claim($1, $2, $3)`, queues, max, workerID)
}

// Slot is how many jobs one worker may be given by ClaimFor.
type Slot struct {
	WorkerID uuid.UUID
	Max      int
}

// ClaimFor assigns runnable PENDING jobs of queues to several workers in one statement
// (jq.claim_for), up to each slot's Max, dealt out in turn in slot order; each job's WorkerID
// says whose it is. If one worker is not registered or not ONLINE, nothing is claimed.
func (s *Store) ClaimFor(ctx context.Context, queues []string, slots []Slot) ([]*Job, error) {
	return s.claimFor(ctx, queues, slots, nil)
}

// ClaimAbove is ClaimFor with each priority's scan starting at its floor (jq.claim_for's
// floors; a zero floor starts at the head). See ClaimFloors.
func (s *Store) ClaimAbove(ctx context.Context, queues []string, slots []Slot, floors ClaimFloors) ([]*Job, error) {
	return s.claimFor(ctx, queues, slots, floorArgs(floors))
}

func (s *Store) claimFor(ctx context.Context, queues []string, slots []Slot, floors []*time.Time) ([]*Job, error) {
	workers := make([]uuid.UUID, len(slots))
	maxJobs := make([]int32, len(slots))
	for i, sl := range slots {
		workers[i], maxJobs[i] = sl.WorkerID, int32(sl.Max)
	}
	var jobs []*Job
	err := s.observe(ctx, "claim", func(ctx context.Context) error {
		rows, err := s.claims.Query(ctx, `SELECT `+jobColumns+` FROM jq.claim_for($1, $2, $3, $4)`, queues, workers, maxJobs, floors)
		if err != nil {
			return err
		}
		jobs, err = collectJobs(rows)
		return err
	})
	return jobs, err
}

// ClaimFloorCheck returns, for each priority with a floor, the created_at of the oldest
// runnable PENDING job of any of queues below it (jq.claim_floor_check); zero where there is
// none.
func (s *Store) ClaimFloorCheck(ctx context.Context, queues []string, floors ClaimFloors) (ClaimFloors, error) {
	var found []*time.Time
	err := s.observe(ctx, "claim_floor_check", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT jq.claim_floor_check($1::text[], $2)`, queues, floorArgs(floors)).Scan(&found)
	})
	var out ClaimFloors
	for p, t := range found {
		if t != nil && p < len(out) {
			out[p] = *t
		}
	}
	return out, err
}

// HorizonAge is how many transactions old the oldest snapshot or transaction is that holds
// back vacuum in this database: a session's, a prepared transaction's or a replication
// slot's (the largest XIDAge of PGHealth's Horizon).
func (s *Store) HorizonAge(ctx context.Context) (int64, error) {
	var age int64
	err := s.observe(ctx, "horizon_age", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT max(h.age) FROM (`+sqlHorizon+`) AS h (holder, age, seconds, has_seconds)`).Scan(&age)
	})
	return age, err
}

// floorArgs is floors as jq.claim_floor_check and jq.claim_for take them: NULL for a zero floor.
func floorArgs(floors ClaimFloors) []*time.Time {
	out := make([]*time.Time, len(floors))
	for p := range floors {
		if !floors[p].IsZero() {
			out[p] = &floors[p]
		}
	}
	return out
}

// Start marks delivered jobs RUNNING (jq.start) and returns those it started, with only ID,
// Queue, Status and StartedAt set.
func (s *Store) Start(ctx context.Context, jobIDs []uuid.UUID, workerID uuid.UUID) ([]*Job, error) {
	return s.queryRows(ctx, "start", collectSummaries, `SELECT `+summaryColumns+` FROM jq.start($1, $2)`, jobIDs, workerID)
}

// StartFor marks delivered jobs RUNNING, jobIDs[i] delivered to workerIDs[i] (jq.start_for),
// and returns those it started, with only ID, Queue, Status and StartedAt set.
func (s *Store) StartFor(ctx context.Context, jobIDs, workerIDs []uuid.UUID) ([]*Job, error) {
	var jobs []*Job
	err := s.observe(ctx, "start", func(ctx context.Context) error {
		rows, err := s.claims.Query(ctx, `SELECT `+summaryColumns+` FROM jq.start_for($1, $2)`, jobIDs, workerIDs)
		if err != nil {
			return err
		}
		jobs, err = collectSummaries(rows)
		return err
	})
	return jobs, err
}

// Release puts jobs ASSIGNED to a worker back to PENDING at once (jq.release).
func (s *Store) Release(ctx context.Context, jobIDs []uuid.UUID, workerID uuid.UUID, reason string) (int, error) {
	var n int
	err := s.observe(ctx, "release", func(ctx context.Context) error {
		return s.claims.QueryRow(ctx, `SELECT jq.release($1, $2, $3)`, jobIDs, workerID, reason).Scan(&n)
	})
	return n, err
}

// Report identifies the attempt a worker reports on.
type Report struct {
	JobID    uuid.UUID
	WorkerID uuid.UUID
	Attempt  int
}

// Complete records a successful attempt (jq.complete).
func (s *Store) Complete(ctx context.Context, r Report, result []byte) (*Job, error) {
	return s.queryJob(ctx, "complete", `SELECT `+jobColumns+` FROM jq.complete($1, $2, $3, $4)`,
		r.JobID, r.WorkerID, r.Attempt, result)
}

// CompleteMany records a batch of successful attempts in one statement (jq.complete_many).
// results[i] belongs to reports[i]. It returns the jobs it completed; a report missing from
// them was not current (Complete on it alone tells why). The jobs have only ID, Queue, Status
// and StartedAt set.
func (s *Store) CompleteMany(ctx context.Context, reports []Report, results [][]byte) ([]*Job, error) {
	ids := make([]uuid.UUID, len(reports))
	workers := make([]uuid.UUID, len(reports))
	attempts := make([]int32, len(reports))
	for i, r := range reports {
		ids[i], workers[i], attempts[i] = r.JobID, r.WorkerID, int32(r.Attempt)
	}
	if len(results) != len(reports) {
		return nil, &Error{Kind: ErrInvalid, Message: fmt.Sprintf("%d results for %d reports", len(results), len(reports))}
	}
	return s.queryRows(ctx, "complete_many", collectSummaries, `SELECT `+summaryColumns+` FROM jq.complete_many($1, $2, $3, $4)`,
		ids, workers, attempts, results)
}

// RetryPolicy is the backoff between attempts.
type RetryPolicy struct {
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// DefaultRetryPolicy is 1 s doubling up to 5 min.
var DefaultRetryPolicy = RetryPolicy{BaseDelay: time.Second, MaxDelay: 5 * time.Minute}

// LostWorkerRetry is the policy for the jobs of a lost worker: the attempt did not fail, its
// worker did, so the job is runnable again at once (its retry count still grows, so a job that
// takes down every worker it runs on ends dead-lettered).
var LostWorkerRetry = RetryPolicy{}

// Fail records a failed attempt (jq.fail): the job is retried after a backoff, or
// dead-lettered when its retries are spent or permanent is set.
func (s *Store) Fail(ctx context.Context, r Report, message string, permanent bool, policy RetryPolicy) (*Job, error) {
	return s.queryJob(ctx, "fail", `SELECT `+jobColumns+` FROM jq.fail($1, $2, $3, $4, $5, $6, $7)`,
		r.JobID, r.WorkerID, r.Attempt, message, policy.BaseDelay, policy.MaxDelay, permanent)
}

// Cancel ends an unfinished job CANCELLED (jq.cancel), fencing a running attempt and
// notifying CancelChannel; actor is recorded in its event.
func (s *Store) Cancel(ctx context.Context, jobID uuid.UUID, actor string) (*Job, error) {
	return s.queryJob(ctx, "cancel", `SELECT `+jobColumns+` FROM jq.cancel($1, $2)`, jobID, actor)
}

// Retry makes a FAILED or DEAD_LETTERED job PENDING again (jq.retry); actor is recorded in its
// event.
func (s *Store) Retry(ctx context.Context, jobID uuid.UUID, actor string) (*Job, error) {
	return s.queryJob(ctx, "retry", `SELECT `+jobColumns+` FROM jq.retry($1, $2)`, jobID, actor)
}

// GetJob returns one job.
func (s *Store) GetJob(ctx context.Context, jobID uuid.UUID) (*Job, error) {
	job, err := s.queryJob(ctx, "get_job", `SELECT `+jobColumns+` FROM jq.jobs WHERE job_id = $1`, jobID)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Kind: ErrNotFound, Message: fmt.Sprintf("job %s not found", jobID)}
	}
	return job, err
}

// JobCursor is the position after which a page of ListJobs starts.
type JobCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ListJobsParams filter and page ListJobs.
type ListJobsParams struct {
	Queue  string    // "" for every queue
	Status JobStatus // "" for every status
	Limit  int
	After  *JobCursor // nil for the first page
}

// ListJobs lists jobs newest first.
//
// Newest first is by id: job ids are UUIDv7, time-ordered, so the primary key serves the order
// and the pages (created_at has no index: one more on every transition would cost the hot path
// for a listing).
func (s *Store) ListJobs(ctx context.Context, p ListJobsParams) ([]*Job, error) {
	var afterID uuid.NullUUID
	if p.After != nil {
		afterID = uuid.NullUUID{UUID: p.After.ID, Valid: true}
	}
	return s.queryJobs(ctx, "list_jobs", `SELECT `+jobColumns+` FROM jq.jobs
		WHERE ($1 = '' OR queue_name = $1)
		  AND ($2 = '' OR status = $2::jq.job_status)
		  AND ($3::uuid IS NULL OR job_id < $3)
		ORDER BY job_id DESC
		LIMIT $4`, p.Queue, string(p.Status), afterID, p.Limit)
}

// JobEvents returns a job's transitions, oldest first.
func (s *Store) JobEvents(ctx context.Context, jobID uuid.UUID) ([]*Event, error) {
	var events []*Event
	err := s.observe(ctx, "job_events", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT id, job_id, queue_name, coalesce(from_status::text, ''), to_status::text,
				worker_id, attempt, reason, coalesce(error_message, ''), coalesce(actor, ''), occurred_at
			FROM jq.job_events WHERE job_id = $1 ORDER BY id`, jobID)
		if err != nil {
			return err
		}
		events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Event, error) {
			var e Event
			var from, to string
			var worker uuid.NullUUID
			err := r.Scan(&e.ID, &e.JobID, &e.Queue, &from, &to, &worker, &e.Attempt, &e.Reason, &e.ErrorMessage, &e.Actor, &e.OccurredAt)
			e.From, e.To, e.WorkerID = JobStatus(from), JobStatus(to), worker.UUID
			return &e, err
		})
		return err
	})
	if err == nil && len(events) == 0 {
		// A job always has its SUBMITTED event; none means no such job.
		if _, err := s.GetJob(ctx, jobID); err != nil {
			return nil, err
		}
	}
	return events, err
}

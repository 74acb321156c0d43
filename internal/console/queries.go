package console

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// reader runs the console's own read-only queries: the ones the gRPC API has no call for.
// Every one is shaped for an index of the schema (see docs/console.md, "Performance"); none
// changes a row (actions go through the services and the SQL functions).
type reader struct {
	pool *pgxpool.Pool
}

// querier is what the queries need of a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// read runs fn in a read-only transaction without JIT compilation. The console's queries are
// short, but their estimates often pass jit_above_cost (a never-analyzed jq.queues counts as
// 970 rows): on a million jobs, JIT took 70 ms to compile the 16 ms count of the overview.
func (d *reader) read(ctx context.Context, fn func(q querier) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		return fn(tx)
	})
}

// statuses lists the job statuses of the database's jq.job_status enum, in lifecycle order:
// a status added by a later migration appears without a change here.
func (d *reader) statuses(ctx context.Context) ([]string, error) {
	var out []string
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT unnest(enum_range(NULL::jq.job_status))::text`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job statuses: %w", err)
	}
	return out, nil
}

// jobRow is a job as the jobs list shows it: payload and error cut short.
type jobRow struct {
	ID          uuid.UUID
	Queue       string
	Status      string
	Priority    int
	RetryCount  int
	MaxRetries  int
	Attempt     int
	WorkerID    uuid.UUID
	Key         string
	Error       string
	Payload     string
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	NotBefore   time.Time
}

// listColumnCut bounds the payload and error text the list reads per row.
const listColumnCut = 160

// listJobs returns up to limit jobs matching f within scope (nil: every queue), in f's order
// from its cursor, and whether there are more.
func (d *reader) listJobs(ctx context.Context, f *jobFilter, scope []string, limit int) ([]jobRow, bool, error) {
	sql, args := listQuery(f, scope, limit+1)
	var jobs []jobRow
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (jobRow, error) {
			var j jobRow
			var worker uuid.NullUUID
			var started, completed, notBefore pgtype.Timestamptz
			err := r.Scan(&j.ID, &j.Queue, &j.Status, &j.Priority, &j.RetryCount, &j.MaxRetries, &j.Attempt, &worker,
				&j.Key, &j.Error, &j.Payload, &j.CreatedAt, &started, &completed, &notBefore)
			j.WorkerID, j.StartedAt, j.CompletedAt, j.NotBefore = worker.UUID, started.Time, completed.Time, notBefore.Time
			return j, err
		})
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("list jobs: %w", err)
	}
	more := len(jobs) > limit
	if more {
		jobs = jobs[:limit]
	}
	if f.Before != uuid.Nil {
		for i, j := 0, len(jobs)-1; i < j; i, j = i+1, j-1 {
			jobs[i], jobs[j] = jobs[j], jobs[i]
		}
	}
	return jobs, more, nil
}

// listQuery is the jobs list's query: limit jobs matching f within scope, in f's order from
// its cursor (reversed when paging back).
func listQuery(f *jobFilter, scope []string, limit int) (string, []any) {
	var args []any
	conds := f.conditions(scope, &args)
	o := f.order()
	desc := o.Desc
	if f.Before != uuid.Nil {
		desc = !desc // walk back from the cursor; listJobs turns the page around
	}
	cursor := f.After
	if f.Before != uuid.Nil {
		cursor = f.Before
	}
	if cursor != uuid.Nil {
		op := ">"
		if desc {
			op = "<"
		}
		switch o.Column {
		case "":
			args = append(args, cursor)
			conds = append(conds, fmt.Sprintf("job_id %s $%d", op, len(args)))
		default:
			// A row comparison: the jobs after (column, id) in the list's order. The cursor's key
			// was checked (a priority 0-9, a status of the enum).
			typ := "int"
			if o.Column == "status" {
				typ = "jq.job_status"
			}
			args = append(args, f.CursorKey, cursor)
			conds = append(conds, fmt.Sprintf("(%s, job_id) %s ($%d::%s, $%d)", o.Column, op, len(args)-1, typ, len(args)))
		}
	}
	args = append(args, limit)
	if o.Column == "" {
		return fmt.Sprintf(`SELECT %s FROM jq.jobs %s ORDER BY %s LIMIT $%d`,
			listColumns(""), where(conds), orderBy("jobs", "", desc), len(args)), args
	}
	// A sort by a column has no index to walk (but the status within a queue): the matching
	// jobs are sorted. Sorting only their ids and keys, then reading the page's rows, spares
	// turning every matching payload into text for the sort (1,000,000 jobs: 5 s, over the
	// list's time limit, before).
	return fmt.Sprintf(`SELECT %s FROM (
			SELECT job_id, %s FROM jq.jobs %s ORDER BY %s LIMIT $%d
		) AS k JOIN jq.jobs j ON j.job_id = k.job_id
		ORDER BY %s`, listColumns("j."), o.Column, where(conds), orderBy("jobs", o.Column, desc), len(args),
		orderBy("k", o.Column, desc)), args
}

// listColumns are the columns the list reads, of the table named by prefix ("j." or "").
func listColumns(prefix string) string {
	return strings.NewReplacer("$.", prefix).Replace(fmt.Sprintf(`$.job_id, $.queue_name, $.status::text, $.priority, $.retry_count,
		$.max_retries, $.attempt, $.worker_id, coalesce($.idempotency_key, ''), left(coalesce($.error_message, ''), %d),
		left($.payload::text, %d), $.created_at, $.started_at, $.completed_at, $.not_before`, listColumnCut, listColumnCut))
}

// orderBy is the ORDER BY of a sort: its column then job id, in one direction. The column is
// qualified: the list also outputs status::text as "status", which a bare name would sort by
// (alphabetically, not in the enum's lifecycle order that the cursor compares in).
func orderBy(table, column string, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	if column == "" {
		return table + ".job_id" + dir
	}
	return table + "." + column + dir + ", " + table + ".job_id" + dir
}

// matchingIDs returns up to limit ids of the jobs matching f within scope whose status is one
// of statuses, in f's order (a bulk action "on everything matching").
func (d *reader) matchingIDs(ctx context.Context, f *jobFilter, scope, statuses []string, limit int) ([]uuid.UUID, error) {
	var args []any
	conds := append(f.conditions(scope, &args), "status IN ("+statusList(statuses)+")")
	args = append(args, limit)
	var ids []uuid.UUID
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, fmt.Sprintf(`SELECT job_id FROM jq.jobs %s ORDER BY %s LIMIT $%d`,
			where(conds), orderBy("jobs", f.order().Column, f.order().Desc), len(args)), args...)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("matching jobs: %w", err)
	}
	return ids, nil
}

// countMatching counts the jobs matching f within scope whose status is one of statuses, up
// to limit+1: enough to say "more than limit" without counting a million rows.
func (d *reader) countMatching(ctx context.Context, f *jobFilter, scope, statuses []string, limit int) (int, error) {
	var args []any
	conds := append(f.conditions(scope, &args), "status IN ("+statusList(statuses)+")")
	args = append(args, limit+1)
	var n int
	err := d.read(ctx, func(q querier) error {
		return q.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM jq.jobs %s LIMIT $%d) AS m`,
			where(conds), len(args)), args...).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count matching jobs: %w", err)
	}
	return n, nil
}

// statusList is statuses as SQL literals. They were checked against the enum (jobFilter), and
// literals, unlike a parameter, let the planner use the partial indexes of a status.
func statusList(statuses []string) string {
	quoted := make([]string, len(statuses))
	for i, s := range statuses {
		quoted[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	if len(quoted) == 0 {
		return "NULL" // matches nothing
	}
	return strings.Join(quoted, ", ")
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(conds, " AND ")
}

// pairCount is the number of jobs of one queue in one status, counted up to a cap.
type pairCount struct {
	Queue  string
	Status string
	N      int64
}

const cappedCountsSQL = `
	SELECT q.name, s.status::text, c.n
	FROM jq.queues q
	CROSS JOIN unnest(enum_range(NULL::jq.job_status)) AS s (status)
	CROSS JOIN LATERAL (
		SELECT count(*) AS n FROM (
			SELECT 1 FROM jq.jobs j WHERE j.queue_name = q.name AND j.status = s.status LIMIT $1
		) AS x
	) AS c
	ORDER BY 1`

// cappedCounts counts the jobs of every queue and status, each up to limit: one index-only
// range of jobs_queue_status_idx per pair, so its cost is bounded whatever the table holds.
func (d *reader) cappedCounts(ctx context.Context, limit int) ([]pairCount, error) {
	return d.pairs(ctx, cappedCountsSQL, limit)
}

const sampledCountsSQL = `SELECT queue_name, status::text, count(*)
	FROM jq.jobs TABLESAMPLE SYSTEM ($1) REPEATABLE (7) GROUP BY 1, 2`

// sampledCounts counts the jobs of a sample of pct percent of the table's pages, per queue and
// status (TABLESAMPLE SYSTEM reads only those pages). REPEATABLE keeps the same pages while the
// table is unchanged, so the estimate does not flicker from one refresh to the next.
func (d *reader) sampledCounts(ctx context.Context, pct float64) ([]pairCount, error) {
	return d.pairs(ctx, sampledCountsSQL, pct)
}

// pairs runs a query of (queue, status, count) rows.
func (d *reader) pairs(ctx context.Context, sql string, args ...any) ([]pairCount, error) {
	var out []pairCount
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (pairCount, error) {
			var p pairCount
			err := r.Scan(&p.Queue, &p.Status, &p.N)
			return p, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// tableRows is the planner's row count of jq.jobs (from the last ANALYZE; -1 when never).
func (d *reader) tableRows(ctx context.Context) (int64, error) {
	var n float64
	if err := d.pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'jq.jobs'::regclass`).Scan(&n); err != nil {
		return 0, fmt.Errorf("table size: %w", err)
	}
	return int64(n), nil
}

// minute is one minute of the charts.
type minute struct {
	At           time.Time
	Done         int64
	DeadLettered int64
	Failed       int64 // failed attempts (retried or not)
	P50, P95     float64
}

const finishedByMinuteSQL = `
	SELECT date_bin('1 minute', completed_at, $1) AS m,
	       count(*) FILTER (WHERE status = 'DONE'),
	       count(*) FILTER (WHERE status = 'DEAD_LETTERED'),
	       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)) FILTER (WHERE status = 'DONE'), 0),
	       coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)) FILTER (WHERE status = 'DONE'), 0)
	FROM jq.jobs
	WHERE status IN ('DONE', 'DEAD_LETTERED') AND completed_at >= $1`

// finishedByMinute counts the jobs that finished in each minute since since, within scope, with
// the median and 95th percentile of their time from submission to DONE. jobs_finished_idx
// holds exactly the finished jobs, by completed_at.
func (d *reader) finishedByMinute(ctx context.Context, since time.Time, scope []string) (map[time.Time]*minute, error) {
	args := []any{since}
	cond := ""
	if scope != nil {
		args = append(args, scope)
		cond = " AND queue_name = ANY($2)"
	}
	out := map[time.Time]*minute{}
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, finishedByMinuteSQL+cond+` GROUP BY 1`, args...)
		if err != nil {
			return err
		}
		var m minute
		_, err = pgx.ForEachRow(rows, []any{&m.At, &m.Done, &m.DeadLettered, &m.P50, &m.P95}, func() error {
			v := m
			out[m.At.UTC()] = &v
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("finished jobs by minute: %w", err)
	}
	return out, nil
}

const failedByMinuteSQL = `SELECT date_bin('1 minute', occurred_at, $1), count(*)
	FROM jq.job_events WHERE to_status = 'FAILED' AND occurred_at >= $1`

// failedByMinute counts the failed attempts of each minute since since, within scope, from
// job_events (job_events_failed_idx holds exactly those events, by time).
func (d *reader) failedByMinute(ctx context.Context, since time.Time, scope []string) (map[time.Time]int64, error) {
	args := []any{since}
	cond := ""
	if scope != nil {
		args = append(args, scope)
		cond = " AND queue_name = ANY($2)"
	}
	out := map[time.Time]int64{}
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, failedByMinuteSQL+cond+` GROUP BY 1`, args...)
		if err != nil {
			return err
		}
		var at time.Time
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&at, &n}, func() error {
			out[at.UTC()] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed attempts by minute: %w", err)
	}
	return out, nil
}

// throughputSQL counts each queue's jobs done in the last minute and hour. The IN list is
// jobs_finished_idx's own predicate, which the planner must see to use it.
const throughputSQL = `SELECT queue_name,
		count(*) FILTER (WHERE completed_at >= now() - interval '1 minute'), count(*)
	FROM jq.jobs
	WHERE status IN ('DONE', 'DEAD_LETTERED') AND status = 'DONE' AND completed_at >= now() - interval '1 hour'
	GROUP BY 1`

// oldestRunnableSQL finds each queue's oldest runnable job, one jobs_claim_idx probe per
// priority.
const oldestRunnableSQL = `
	SELECT q.name, (
		SELECT min(o.created_at) FROM generate_series(0, 9) AS p (priority)
		CROSS JOIN LATERAL (
			SELECT j.created_at FROM jq.jobs j
			WHERE j.queue_name = q.name AND j.priority = p.priority AND j.status = 'PENDING'
			  AND (j.not_before IS NULL OR j.not_before <= now())
			ORDER BY j.created_at LIMIT 1
		) AS o
	)
	FROM jq.queues q`

// queueActivity is what a queue did lately.
type queueActivity struct {
	DoneLastMinute int64
	DoneLastHour   int64
	// OldestRunnable is when the oldest job that could run now was submitted (zero: none).
	OldestRunnable time.Time
}

// activity returns each queue's throughput over the last minute and hour, and the submission
// time of its oldest runnable job. The latter probes jobs_claim_idx once per priority (0-9)
// instead of reading every pending job: a backlog of millions costs ten index lookups.
func (d *reader) activity(ctx context.Context) (map[string]*queueActivity, error) {
	out := map[string]*queueActivity{}
	get := func(q string) *queueActivity {
		if out[q] == nil {
			out[q] = &queueActivity{}
		}
		return out[q]
	}
	err := d.read(ctx, func(db querier) error {
		rows, err := db.Query(ctx, throughputSQL)
		if err != nil {
			return err
		}
		var q string
		var minute, hour int64
		if _, err := pgx.ForEachRow(rows, []any{&q, &minute, &hour}, func() error {
			a := get(q)
			a.DoneLastMinute, a.DoneLastHour = minute, hour
			return nil
		}); err != nil {
			return err
		}
		rows, err = db.Query(ctx, oldestRunnableSQL)
		if err != nil {
			return err
		}
		var oldest pgtype.Timestamptz
		_, err = pgx.ForEachRow(rows, []any{&q, &oldest}, func() error {
			if oldest.Valid {
				get(q).OldestRunnable = oldest.Time
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue activity: %w", err)
	}
	return out, nil
}

// maxRunningShown bounds the running jobs listed per worker (its slot count says how many).
const maxRunningShown = 20

// runningJobs returns the ids of up to maxRunningShown jobs each of the workers holds
// (jobs_inflight_idx, one probe per worker).
func (d *reader) runningJobs(ctx context.Context, workers []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	out := map[uuid.UUID][]uuid.UUID{}
	if len(workers) == 0 {
		return out, nil
	}
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT w.id, j.job_id FROM unnest($1::uuid[]) AS w (id)
			CROSS JOIN LATERAL (
				SELECT job_id FROM jq.jobs WHERE status IN ('ASSIGNED', 'RUNNING') AND worker_id = w.id LIMIT $2
			) AS j`, workers, maxRunningShown)
		if err != nil {
			return err
		}
		var w, j uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&w, &j}, func() error {
			out[w] = append(out[w], j)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("running jobs: %w", err)
	}
	return out, nil
}

// workflowRef names the workflow node a job is.
type workflowRef struct {
	ID   uuid.UUID
	Node string
}

// jobWorkflow returns the workflow and node of a job, nil when it belongs to none
// (workflow_jobs_job_id_idx: one probe).
func (d *reader) jobWorkflow(ctx context.Context, jobID string) (*workflowRef, error) {
	var out *workflowRef
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT workflow_id, node FROM jq.workflow_jobs WHERE job_id = $1 LIMIT 1`, jobID)
		if err != nil {
			return err
		}
		refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[workflowRef])
		if len(refs) > 0 {
			out = &refs[0]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job's workflow: %w", err)
	}
	return out, nil
}

// workflowSummary is a workflow as the list shows it: its jobs counted by state.
type workflowSummary struct {
	ID                      uuid.UUID
	Name, CreatedBy         string
	CreatedAt               time.Time
	Jobs, Done, Failed      int64
	Running, Waiting, Other int64
}

// listWorkflowsSQL walks jq.workflows newest first by its primary key (workflow ids are
// UUIDv7) and counts each one's jobs through workflow_jobs_pkey (one range per workflow). $2,
// when not null, keeps the workflows whose jobs are all in those queues (a scoped key).
const listWorkflowsSQL = `
	SELECT f.workflow_id, f.name, f.created_by, f.created_at, c.jobs, c.done, c.failed, c.running, c.waiting,
	       c.jobs - c.done - c.failed - c.running - c.waiting
	FROM (
		SELECT * FROM jq.workflows WHERE $1::uuid IS NULL OR workflow_id < $1 ORDER BY workflow_id DESC
	) AS f
	CROSS JOIN LATERAL (
		SELECT count(*) AS jobs,
		       count(*) FILTER (WHERE j.status = 'DONE') AS done,
		       count(*) FILTER (WHERE j.status IN ('FAILED', 'DEAD_LETTERED', 'CANCELLED')) AS failed,
		       count(*) FILTER (WHERE j.status IN ('ASSIGNED', 'RUNNING')) AS running,
		       count(*) FILTER (WHERE j.status = 'WAITING') AS waiting,
		       count(*) FILTER (WHERE $2::text[] IS NOT NULL AND NOT j.queue_name = ANY($2)) AS outside
		FROM jq.workflow_jobs w JOIN jq.jobs j ON j.job_id = w.job_id
		WHERE w.workflow_id = f.workflow_id
	) AS c
	WHERE c.outside = 0
	ORDER BY f.workflow_id DESC
	LIMIT $3`

// listWorkflows returns up to limit workflows older than before (uuid.Nil: the newest), within
// scope (nil: every queue), and whether there are more.
func (d *reader) listWorkflows(ctx context.Context, before uuid.UUID, scope []string, limit int) ([]workflowSummary, bool, error) {
	var out []workflowSummary
	var cursor any
	if before != uuid.Nil {
		cursor = before
	}
	err := d.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, listWorkflowsSQL, cursor, scope, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[workflowSummary])
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("list workflows: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

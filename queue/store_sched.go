package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Progress, dependencies and workflows (docs/scheduling.md).

// MaxProgressMessage is the most of a progress message kept, in characters (jq.report_progress).
const MaxProgressMessage = 1024

// ReportProgress records what the current attempt of a running job says of its progress
// (jq.report_progress): percent from 0 to 100, and a message. A report that is not current
// gets ErrStaleAttempt, as an outcome's would.
func (s *Store) ReportProgress(ctx context.Context, r Report, percent float64, message string) (*Job, error) {
	return s.queryJob(ctx, "report_progress", `SELECT `+jobColumns+` FROM jq.report_progress($1, $2, $3, $4, $5)`,
		r.JobID, r.WorkerID, r.Attempt, percent, nullText(message))
}

// JobDependencies returns the jobs a job depends on, in id order (none for an unknown job).
func (s *Store) JobDependencies(ctx context.Context, jobID uuid.UUID) ([]uuid.UUID, error) {
	var out []uuid.UUID
	err := s.observe(ctx, "job_dependencies", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT depends_on FROM jq.job_dependencies WHERE job_id = $1 ORDER BY depends_on`, jobID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	})
	return out, err
}

// WorkflowNode is one job of a workflow to submit.
type WorkflowNode struct {
	// Name identifies the node within its workflow (queue-name characters).
	Name string `json:"name"`
	// Queue is the job's queue ("" is the default queue).
	Queue    string          `json:"queue,omitempty"`
	Payload  json.RawMessage `json:"payload"`
	Priority int             `json:"priority,omitempty"`
	// MaxRetries nil takes the queue's.
	MaxRetries     *int   `json:"max_retries,omitempty"`
	ConcurrencyKey string `json:"concurrency_key,omitempty"`
	// DependsOn names the nodes this one waits for.
	DependsOn []string `json:"depends_on,omitempty"`
	// OnDependencyFailure is DependencyCancel (default) or DependencyRun.
	OnDependencyFailure string `json:"on_dependency_failure,omitempty"`
}

// WorkflowJobRef names the job of one node.
type WorkflowJobRef struct {
	Node  string
	JobID uuid.UUID
}

// SubmitWorkflow submits a DAG of named jobs atomically (jq.submit_workflow); a cycle is
// ErrInvalid, naming it. It returns the workflow's id and each node's job, in node order.
func (s *Store) SubmitWorkflow(ctx context.Context, name string, nodes []WorkflowNode, actor string) (uuid.UUID, []WorkflowJobRef, error) {
	doc, err := json.Marshal(nodes)
	if err != nil {
		return uuid.Nil, nil, &Error{Kind: ErrInvalid, Message: fmt.Sprintf("nodes: %v", err)}
	}
	var id uuid.UUID
	var refs []WorkflowJobRef
	err = s.observe(ctx, "submit_workflow", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT workflow_id, node, job_id FROM jq.submit_workflow($1, $2, $3)`, name, doc, actor)
		if err != nil {
			return err
		}
		refs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkflowJobRef, error) {
			var ref WorkflowJobRef
			err := r.Scan(&id, &ref.Node, &ref.JobID)
			return ref, err
		})
		return err
	})
	if err != nil {
		return uuid.Nil, nil, err
	}
	return id, refs, nil
}

// Workflow is a submitted workflow and the state of its jobs.
type Workflow struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
	CreatedBy string
	// Jobs are in submission order (every node after the nodes it depends on). A job pruned
	// since is left out.
	Jobs []*WorkflowJob
}

// WorkflowJob is one node of a workflow and its job.
type WorkflowJob struct {
	Node string
	// DependsOn names the nodes it waits for.
	DependsOn []string
	Job       *Job
}

// GetWorkflow returns a workflow with its jobs; ErrNotFound for an unknown one.
func (s *Store) GetWorkflow(ctx context.Context, id uuid.UUID) (*Workflow, error) {
	w := &Workflow{ID: id}
	err := s.observe(ctx, "get_workflow", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT name, created_at, created_by FROM jq.workflows WHERE workflow_id = $1`, id).
			Scan(&w.Name, &w.CreatedAt, &w.CreatedBy)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Kind: ErrNotFound, Message: fmt.Sprintf("workflow %s not found", id)}
	}
	if err != nil {
		return nil, err
	}
	err = s.observe(ctx, "get_workflow", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT w.node,
				ARRAY(SELECT p.node FROM jq.job_dependencies d
				      JOIN jq.workflow_jobs p ON p.workflow_id = w.workflow_id AND p.job_id = d.depends_on
				      WHERE d.job_id = w.job_id ORDER BY p.node),
				`+qualified(jobColumns, "j")+`
			FROM jq.workflow_jobs w JOIN jq.jobs j ON j.job_id = w.job_id
			WHERE w.workflow_id = $1
			ORDER BY j.job_id`, id)
		if err != nil {
			return err
		}
		w.Jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*WorkflowJob, error) {
			var wj WorkflowJob
			var err error
			wj.Job, err = scanJob(prefixed{r, []any{&wj.Node, &wj.DependsOn}})
			return &wj, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// qualified prefixes each column of a column list with alias.
func qualified(columns, alias string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// prefixed is a row whose first columns go to dest, before the columns a scan function reads.
type prefixed struct {
	pgx.Row
	dest []any
}

func (p prefixed) Scan(dest ...any) error { return p.Row.Scan(append(p.dest, dest...)...) }

// The overlap policies of a schedule.
const (
	// OverlapAllow submits at every time, whether the previous job has finished or not.
	OverlapAllow = "allow"
	// OverlapSkip submits nothing while the schedule's previous job is unfinished.
	OverlapSkip = "skip"
)

// The catch-up policies of a schedule: what a leader does with the times missed while no
// server ran (older than the leader's grace).
const (
	// CatchUpNone skips them.
	CatchUpNone = "none"
	// CatchUpLast fires the latest of them, once.
	CatchUpLast = "last"
)

// Schedule is a periodic schedule: a job submitted at each time of a cron expression.
type Schedule struct {
	Name     string
	Cron     string
	TimeZone string
	Queue    string
	Payload  json.RawMessage
	Priority int
	// MaxRetries nil takes the queue's.
	MaxRetries *int
	Overlap    string
	CatchUp    string
	Paused     bool
	// FromConfig: defined in jq-server's configuration (schedules:).
	FromConfig bool
	// NextFireAt is the next time to fire; zero until the leader computes it.
	NextFireAt time.Time
	LastFireAt time.Time
	LastJobID  uuid.UUID
	// LastError says why the last fire failed, or why the expression cannot be parsed.
	LastError string
	// Missed counts the times skipped because no server ran then (catch-up).
	Missed    int64
	CreatedAt time.Time
	// UpdatedAt is when the definition last changed: the version fires are computed from.
	UpdatedAt time.Time
	CreatedBy string
}

const scheduleColumns = `name, cron, time_zone, queue_name, payload, priority, max_retries, overlap, catch_up, paused,
	from_config, next_fire_at, last_fire_at, last_job_id, coalesce(last_error, ''), missed, created_at, updated_at, created_by`

func scanSchedule(row pgx.Row) (*Schedule, error) {
	var (
		sc               Schedule
		maxRetries       pgtype.Int4
		next, lastFire   pgtype.Timestamptz
		lastJob          uuid.NullUUID
		priority, missed int64
	)
	err := row.Scan(&sc.Name, &sc.Cron, &sc.TimeZone, &sc.Queue, &sc.Payload, &priority, &maxRetries, &sc.Overlap, &sc.CatchUp,
		&sc.Paused, &sc.FromConfig, &next, &lastFire, &lastJob, &sc.LastError, &missed, &sc.CreatedAt, &sc.UpdatedAt, &sc.CreatedBy)
	if err != nil {
		return nil, err
	}
	sc.Priority, sc.Missed = int(priority), missed
	if maxRetries.Valid {
		n := int(maxRetries.Int32)
		sc.MaxRetries = &n
	}
	sc.NextFireAt, sc.LastFireAt, sc.LastJobID = next.Time, lastFire.Time, lastJob.UUID
	return &sc, nil
}

func (s *Store) querySchedule(ctx context.Context, name, sql string, args ...any) (*Schedule, error) {
	var sc *Schedule
	err := s.observe(ctx, name, func(ctx context.Context) error {
		var err error
		sc, err = scanSchedule(s.pool.QueryRow(ctx, sql, args...))
		return err
	})
	return sc, err
}

func (s *Store) querySchedules(ctx context.Context, name, sql string, args ...any) ([]*Schedule, error) {
	var out []*Schedule
	err := s.observe(ctx, name, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Schedule, error) { return scanSchedule(r) })
		return err
	})
	return out, err
}

// ScheduleParams define a schedule (CreateSchedule).
type ScheduleParams struct {
	Name     string
	Cron     string
	TimeZone string // "" is UTC
	Queue    string
	Payload  json.RawMessage
	Priority int
	// MaxRetries nil takes the queue's.
	MaxRetries *int
	Overlap    string // "" is OverlapAllow
	CatchUp    string // "" is CatchUpNone
	// Replace redefines an existing schedule instead of refusing it (ErrExists).
	Replace bool
	// FromConfig marks a schedule of jq-server's configuration.
	FromConfig bool
	Actor      string
}

// CreateSchedule creates (or with Replace, redefines) a schedule (jq.create_schedule), audited
// with Actor.
func (s *Store) CreateSchedule(ctx context.Context, p ScheduleParams) (*Schedule, error) {
	return s.querySchedule(ctx, "create_schedule", `SELECT `+scheduleColumns+` FROM jq.create_schedule(
		name => $1, cron => $2, queue => $3, payload => $4, time_zone => $5, priority => $6, max_retries => $7,
		overlap => $8, catch_up => $9, replace => $10, from_config => $11, actor => $12)`,
		p.Name, p.Cron, p.Queue, p.Payload, orDefault(p.TimeZone, "UTC"), p.Priority, p.MaxRetries,
		orDefault(p.Overlap, OverlapAllow), orDefault(p.CatchUp, CatchUpNone), p.Replace, p.FromConfig, p.Actor)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// GetSchedule returns one schedule; ErrNotFound for an unknown one.
func (s *Store) GetSchedule(ctx context.Context, name string) (*Schedule, error) {
	sc, err := s.querySchedule(ctx, "get_schedule", `SELECT `+scheduleColumns+` FROM jq.schedules WHERE name = $1`, name)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Kind: ErrNotFound, Message: fmt.Sprintf("schedule %s does not exist", name)}
	}
	return sc, err
}

// ListSchedules lists every schedule by name.
func (s *Store) ListSchedules(ctx context.Context) ([]*Schedule, error) {
	return s.querySchedules(ctx, "list_schedules", `SELECT `+scheduleColumns+` FROM jq.schedules ORDER BY name`)
}

// DeleteSchedule deletes a schedule (jq.delete_schedule); one of the configuration only with
// force (else ErrWrongState). Audited with actor.
func (s *Store) DeleteSchedule(ctx context.Context, name, actor string, force bool) (*Schedule, error) {
	return s.querySchedule(ctx, "delete_schedule", `SELECT `+scheduleColumns+` FROM jq.delete_schedule($1, $2, $3)`, name, actor, force)
}

// PauseSchedule stops a schedule firing (jq.pause_schedule), audited with actor.
func (s *Store) PauseSchedule(ctx context.Context, name, actor string) (*Schedule, error) {
	return s.querySchedule(ctx, "pause_schedule", `SELECT `+scheduleColumns+` FROM jq.pause_schedule($1, $2)`, name, actor)
}

// ResumeSchedule resumes a paused schedule from now (jq.resume_schedule), audited with actor.
func (s *Store) ResumeSchedule(ctx context.Context, name, actor string) (*Schedule, error) {
	return s.querySchedule(ctx, "resume_schedule", `SELECT `+scheduleColumns+` FROM jq.resume_schedule($1, $2)`, name, actor)
}

// TriggerSchedule fires a schedule now, out of turn (jq.trigger_schedule), and returns its job.
func (s *Store) TriggerSchedule(ctx context.Context, name, actor string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.observe(ctx, "trigger_schedule", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT jq.trigger_schedule($1, $2)`, name, actor).Scan(&id)
	})
	return id, err
}

// The outcomes of a fire (jq.fire_schedule, jq.trigger_schedule).
const (
	FireSubmitted = "submitted"
	FireSkipped   = "skipped"
	FireFailed    = "failed"
	FireDuplicate = "duplicate"
	FireChanged   = "changed"
	FirePaused    = "paused"
	FireTriggered = "triggered"
)

// FireResult is what one fire did.
type FireResult struct {
	Outcome string
	JobID   uuid.UUID // uuid.Nil when no job was submitted
}

// FireSchedule fires a schedule for one of its times (jq.fire_schedule): it records the time
// (once, whatever the number of servers), submits the job, and moves the next time to next.
// version is the UpdatedAt the times were computed from.
func (s *Store) FireSchedule(ctx context.Context, name string, version, fireTime, next time.Time) (FireResult, error) {
	var r FireResult
	err := s.observe(ctx, "fire_schedule", func(ctx context.Context) error {
		var job uuid.NullUUID
		err := s.pool.QueryRow(ctx, `SELECT outcome, job_id FROM jq.fire_schedule($1, $2, $3, $4)`, name, version, fireTime, next).
			Scan(&r.Outcome, &job)
		r.JobID = job.UUID
		return err
	})
	return r, err
}

// AdvanceSchedule moves a schedule's next time forward without firing (jq.advance_schedule),
// counting missed times; false when it did not move (redefined, paused, or further already).
func (s *Store) AdvanceSchedule(ctx context.Context, name string, version, next time.Time, missed int) (bool, error) {
	var moved bool
	err := s.observe(ctx, "advance_schedule", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT jq.advance_schedule($1, $2, $3, $4)`, name, version, next, missed).Scan(&moved)
	})
	return moved, err
}

// ScheduleFailed records why a schedule cannot fire (jq.schedule_failed), unless it was
// redefined since version.
func (s *Store) ScheduleFailed(ctx context.Context, name string, version time.Time, message string) error {
	return s.observe(ctx, "schedule_failed", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `SELECT jq.schedule_failed($1, $2, $3)`, name, version, message)
		return err
	})
}

// DueSchedules returns the schedules that are not paused and are due (or whose next time is
// not computed yet), with the database's clock.
func (s *Store) DueSchedules(ctx context.Context) ([]*Schedule, time.Time, error) {
	var now time.Time
	err := s.observe(ctx, "due_schedules", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT now()`).Scan(&now)
	})
	if err != nil {
		return nil, now, err
	}
	due, err := s.querySchedules(ctx, "due_schedules", `SELECT `+scheduleColumns+` FROM jq.schedules
		WHERE NOT paused AND (next_fire_at IS NULL OR next_fire_at <= $1) ORDER BY next_fire_at NULLS FIRST, name`, now)
	return due, now, err
}

// NextScheduleFire is the earliest next time of the schedules that are not paused; zero when
// there is none.
func (s *Store) NextScheduleFire(ctx context.Context) (time.Time, error) {
	var next pgtype.Timestamptz
	err := s.observe(ctx, "next_schedule_fire", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT min(next_fire_at) FROM jq.schedules WHERE NOT paused`).Scan(&next)
	})
	return next.Time, err
}

// ScheduleFire is one recorded fire of a schedule.
type ScheduleFire struct {
	FireTime time.Time
	Outcome  string
	JobID    uuid.UUID
	Error    string
	FiredAt  time.Time
}

// ScheduleFires returns a schedule's recorded fires, newest first, at most limit.
func (s *Store) ScheduleFires(ctx context.Context, name string, limit int) ([]ScheduleFire, error) {
	var out []ScheduleFire
	err := s.observe(ctx, "schedule_fires", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT fire_time, outcome, coalesce(job_id, '00000000-0000-0000-0000-000000000000'),
				coalesce(error, ''), fired_at
			FROM jq.schedule_fires WHERE schedule_name = $1 ORDER BY fire_time DESC LIMIT $2`, name, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ScheduleFire])
		return err
	})
	return out, err
}

// PruneScheduleFires deletes the record of fires older than olderThan (jq.prune_schedule_fires),
// at most maxRows per call.
func (s *Store) PruneScheduleFires(ctx context.Context, olderThan time.Duration, maxRows int) (int, error) {
	return s.queryInt(ctx, "prune_schedule_fires", `SELECT jq.prune_schedule_fires($1, $2)`, olderThan, maxRows)
}

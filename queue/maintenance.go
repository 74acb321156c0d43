package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"
)

// MaintenanceStore is what Maintenance needs from the database.
type MaintenanceStore interface {
	ReapWorkers(ctx context.Context, heartbeatTimeout time.Duration, policy RetryPolicy) (int, error)
	ExpireTTL(ctx context.Context, maxRows int) (int, error)
	RequeueUnstarted(ctx context.Context, assignmentTimeout time.Duration, maxRows int) (int, error)
	Prune(ctx context.Context, olderThan time.Duration, maxRows int) (int, error)
	ReapOrphans(ctx context.Context, maxRows int) (int, error)
	PruneWorkers(ctx context.Context, olderThan time.Duration, maxRows int) (int, error)
	PruneScheduleFires(ctx context.Context, olderThan time.Duration, maxRows int) (int, error)
}

// The maintenance tasks, the values of the task label of jq_maintenance_rows_total.
const (
	TaskReapWorkers      = "reap_workers"
	TaskReapOrphans      = "reap_orphans"
	TaskExpireTTL        = "expire_ttl"
	TaskRequeueUnstarted = "requeue_unstarted"
	TaskPrune            = "prune"
	TaskPruneWorkers     = "prune_workers"
	TaskPruneFires       = "prune_schedule_fires"
)

// MaintenanceTasks lists every maintenance task.
var MaintenanceTasks = []string{TaskReapWorkers, TaskReapOrphans, TaskExpireTTL, TaskRequeueUnstarted, TaskPrune, TaskPruneWorkers,
	TaskPruneFires}

// MaintenanceConfig sets the maintenance periods and limits.
type MaintenanceConfig struct {
	ReapInterval      time.Duration
	HeartbeatTimeout  time.Duration
	ExpireInterval    time.Duration
	AssignmentTimeout time.Duration
	PruneInterval     time.Duration
	Retention         time.Duration
	// WorkerRetention is how long an OFFLINE worker's row is kept (default 24 h).
	WorkerRetention time.Duration
	// LostWorkerRetry is the retry policy of a reaped worker's jobs (LostWorkerRetry: none).
	LostWorkerRetry RetryPolicy
	// BatchRows caps the rows one call of a maintenance function changes (default 10,000);
	// a task that hits the cap runs again at once.
	BatchRows int
}

// Maintenance runs the periodic repairs while this instance leads: the heartbeat monitor
// (jq.reap_workers) and the sweep of jobs whose worker is gone (jq.reap_orphans), TTL expiry
// (jq.expire_ttl), assignment-timeout recovery (jq.requeue_unstarted), and retention pruning
// of jobs (jq.prune), of OFFLINE workers (jq.prune_workers) and of the record of schedule fires
// (jq.prune_schedule_fires, kept as long as jobs).
type Maintenance struct {
	startstop.BaseStartStop

	store   MaintenanceStore
	leading func() time.Duration // how long this instance has led; 0 when it does not
	cfg     MaintenanceConfig
	logger  *slog.Logger
	rows    *prometheus.CounterVec // {task}; may be nil
	wake    func()                 // scheduler wake-up when jobs became runnable
}

// NewMaintenance returns the maintenance loops; they act only while leadingFor() is positive
// (see Leader.LeadingFor).
func NewMaintenance(store MaintenanceStore, leadingFor func() time.Duration, cfg MaintenanceConfig, logger *slog.Logger, rows *prometheus.CounterVec, wake func()) *Maintenance {
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 10_000
	}
	if cfg.WorkerRetention <= 0 {
		cfg.WorkerRetention = 24 * time.Hour
	}
	if wake == nil {
		wake = func() {}
	}
	return &Maintenance{store: store, leading: leadingFor, cfg: cfg, logger: logger, rows: rows, wake: wake}
}

type task struct {
	name     string
	interval time.Duration
	run      func(ctx context.Context) (int, error)
	batched  bool // returns BatchRows when there may be more
	// settle is how long an instance must have led before the task runs.
	settle time.Duration
}

func (m *Maintenance) tasks() []task {
	c := m.cfg
	return []task{
		// A new leader (often a server that just started) waits a heartbeat timeout before
		// reaping: while no server ran, no worker could heartbeat, and live workers need
		// that long to reconnect and prove it.
		{TaskReapWorkers, c.ReapInterval, func(ctx context.Context) (int, error) {
			return m.store.ReapWorkers(ctx, c.HeartbeatTimeout, c.LostWorkerRetry)
		}, false, c.HeartbeatTimeout},
		{TaskReapOrphans, c.ReapInterval, func(ctx context.Context) (int, error) {
			return m.store.ReapOrphans(ctx, c.BatchRows)
		}, true, 0},
		{TaskExpireTTL, c.ExpireInterval, func(ctx context.Context) (int, error) {
			return m.store.ExpireTTL(ctx, c.BatchRows)
		}, true, 0},
		{TaskRequeueUnstarted, c.ExpireInterval, func(ctx context.Context) (int, error) {
			return m.store.RequeueUnstarted(ctx, c.AssignmentTimeout, c.BatchRows)
		}, true, 0},
		{TaskPrune, c.PruneInterval, func(ctx context.Context) (int, error) {
			return m.store.Prune(ctx, c.Retention, c.BatchRows)
		}, true, 0},
		{TaskPruneWorkers, c.PruneInterval, func(ctx context.Context) (int, error) {
			return m.store.PruneWorkers(ctx, c.WorkerRetention, c.BatchRows)
		}, true, 0},
		{TaskPruneFires, c.PruneInterval, func(ctx context.Context) (int, error) {
			return m.store.PruneScheduleFires(ctx, c.Retention, c.BatchRows)
		}, true, 0},
	}
}

// Start runs every task on its own ticker until ctx ends or Stop is called.
func (m *Maintenance) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := m.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	tasks := m.tasks()
	done := make(chan struct{}, len(tasks))
	for _, t := range tasks {
		go func() {
			defer func() { done <- struct{}{} }()
			m.loop(ctx, t)
		}()
	}
	go func() {
		started()
		defer stopped()
		for range tasks {
			<-done
		}
	}()
	return nil
}

func (m *Maintenance) loop(ctx context.Context, t task) {
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if led := m.leading(); led > 0 && led >= t.settle {
			m.RunTask(ctx, t.name)
		}
	}
}

// RunTask runs one task by name now (repeating while it fills its batch), whatever the
// leadership: for tests and operators.
func (m *Maintenance) RunTask(ctx context.Context, name string) int {
	total := 0
	for _, t := range m.tasks() {
		if t.name != name {
			continue
		}
		for ctx.Err() == nil {
			n, err := t.run(ctx)
			if err != nil {
				if ctx.Err() == nil {
					m.logger.WarnContext(ctx, "maintenance task failed", "task", t.name, "error", err)
				}
				break
			}
			total += n
			if n > 0 && m.rows != nil {
				m.rows.WithLabelValues(t.name).Add(float64(n))
			}
			if !t.batched || n < m.cfg.BatchRows {
				break
			}
		}
		if total > 0 {
			m.logger.InfoContext(ctx, "maintenance", "task", t.name, "rows", total)
			if t.name == "requeue_unstarted" {
				m.wake()
			}
		}
	}
	return total
}

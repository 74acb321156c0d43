package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"
)

// SchedulerStore is what the scheduler needs from the database.
type SchedulerStore interface {
	ClaimFor(ctx context.Context, queues []string, slots []Slot) ([]*Job, error)
	ClaimAbove(ctx context.Context, queues []string, slots []Slot, floors ClaimFloors) ([]*Job, error)
	FloorStore
	StartFor(ctx context.Context, jobIDs, workerIDs []uuid.UUID) ([]*Job, error)
	Release(ctx context.Context, jobIDs []uuid.UUID, workerID uuid.UUID, reason string) (int, error)
	GetWorker(ctx context.Context, workerID uuid.UUID) (*Worker, error)
}

// JobLocker takes and drops the per-job assignment locks between server instances (Redis).
// The database already assigns each attempt once; the locks keep a second instance from
// delivering a job that another is still delivering.
type JobLocker interface {
	SetNxPxMany(ctx context.Context, keys []string, value string, ttl time.Duration) ([]bool, error)
	DelIfValueMany(ctx context.Context, keys []string, value string) (int64, error)
}

var _ SchedulerStore = (*Store)(nil)

// SchedulerConfig tunes a Scheduler.
type SchedulerConfig struct {
	// Interval is the poll period: the fallback when no wake-up arrives.
	Interval time.Duration
	// BatchSize caps the jobs one claim takes (for all the workers it serves).
	BatchSize int
	// AssignmentTimeout is the TTL of the assignment locks.
	AssignmentTimeout time.Duration
	// InstanceID names this server in lock values.
	InstanceID string
	// StartDelay is how long delivered jobs wait to be marked RUNNING, so that one
	// jq.start_for call covers many and a job finished meanwhile skips that write (its
	// completion records the start): every StartDelay/2, the jobs delivered at least
	// StartDelay ago that their workers have not reported are marked. Default 1 s: at 200 ms,
	// marking no-op jobs RUNNING still cost a fifth of the database time of a burn (burn
	// --jobs 30000 --procs 1, two interleaved pairs: 2,286 / 1,763 jobs/s at 200 ms, 2,915 /
	// 3,430 at 1 s). The price is that a job shows ASSIGNED for up to 1.5 × this long while
	// it runs (cancel, the reaper and the dashboards treat ASSIGNED and RUNNING alike). It
	// must stay far below AssignmentTimeout.
	StartDelay time.Duration
	// FloorsAfterXIDs turns the claim floors on (see floors) while the oldest transaction
	// that holds back vacuum is more than this many transactions old; FloorCheckEvery is how
	// often that age is read and, while the floors are on, how often they are checked for
	// jobs below them; FloorMargin is how far behind a claim's clock a floor stays. Defaults
	// 1,000, 1 s and 1 s; FloorsAfterXIDs < 0 turns the floors off.
	FloorsAfterXIDs int64
	FloorCheckEvery time.Duration
	FloorMargin     time.Duration
}

// SchedulerMetrics are the scheduler's instruments; nil fields are skipped.
type SchedulerMetrics struct {
	CycleDuration prometheus.Observer
	JobsAssigned  *prometheus.CounterVec // {queue}
	WaitDuration  *prometheus.HistogramVec
	JobTotal      *prometheus.CounterVec // {queue,status,reason}
}

// Scheduler moves runnable jobs to connected workers. Each cycle it asks the registry which
// workers can take jobs, claims up to their free slots from their queues (jq.claim_for: one
// statement for all the workers that take the same queues), takes the assignment locks, sends
// the jobs over the workers' streams and marks the delivered ones RUNNING (jq.start_for, one
// call for all workers); a job it could not deliver goes back to PENDING at once (jq.release).
//
// Cycles run one at a time, on a tick (Interval) and whenever Wake is called: by the NOTIFY
// listener, when a worker attaches, when a slot frees. Wake-ups that arrive during a cycle
// fold into a single next cycle.
type Scheduler struct {
	startstop.BaseStartStop

	store    SchedulerStore
	registry *Registry
	locker   JobLocker // nil: no Redis
	logger   *slog.Logger
	cfg      SchedulerConfig
	metrics  SchedulerMetrics
	wake     chan struct{}
	now      func() time.Time
	starts   *starter
	floors   floors
}

// NewScheduler returns a scheduler; locker may be nil.
func NewScheduler(store SchedulerStore, registry *Registry, locker JobLocker, logger *slog.Logger, cfg SchedulerConfig, m SchedulerMetrics) *Scheduler {
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.AssignmentTimeout <= 0 {
		cfg.AssignmentTimeout = 30 * time.Second
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = uuid.NewString()
	}
	if cfg.StartDelay <= 0 {
		cfg.StartDelay = time.Second
	}
	if cfg.FloorsAfterXIDs == 0 {
		cfg.FloorsAfterXIDs = 1000
	}
	if cfg.FloorCheckEvery <= 0 {
		cfg.FloorCheckEvery = time.Second
	}
	if cfg.FloorMargin <= 0 {
		cfg.FloorMargin = time.Second
	}
	s := &Scheduler{
		store: store, registry: registry, locker: locker, logger: logger, cfg: cfg, metrics: m,
		wake: make(chan struct{}, 1), now: time.Now,
	}
	s.starts = &starter{sched: s, busy: make(chan struct{}, 1)}
	s.floors.afterXIDs, s.floors.margin = cfg.FloorsAfterXIDs, cfg.FloorMargin
	return s
}

// Wake asks for a cycle as soon as the current one (if any) ends. It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs the scheduling loop until ctx ends or Stop is called; jobs delivered but not yet
// marked RUNNING are marked before it returns.
func (s *Scheduler) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := s.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		defer s.starts.flush(context.WithoutCancel(ctx))
		ticker := time.NewTicker(s.cfg.Interval)
		defer ticker.Stop()
		startTicker := time.NewTicker(max(s.cfg.StartDelay/2, time.Millisecond))
		defer startTicker.Stop()
		floorTicker := time.NewTicker(s.cfg.FloorCheckEvery)
		defer floorTicker.Stop()
		var checks sync.WaitGroup
		defer checks.Wait()
		if s.cfg.FloorsAfterXIDs < 0 {
			floorTicker.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-startTicker.C:
				s.starts.flushBackground(ctx, now.Add(-s.cfg.StartDelay))
				continue
			case <-floorTicker.C:
				// Off the cycle: under pressure a check reads what a claim from the head
				// would. One at a time.
				if s.floors.checking.CompareAndSwap(false, true) {
					checks.Go(func() {
						defer s.floors.checking.Store(false)
						if err := s.CheckFloors(ctx); err != nil && ctx.Err() == nil {
							s.logger.WarnContext(ctx, "claim floors", "error", err)
						}
					})
				}
				continue
			case <-ticker.C:
			case <-s.wake:
			}
			if _, err := s.RunCycle(ctx); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "scheduler cycle failed", "error", err)
			}
		}
	}()
	return nil
}

// CheckFloors reads how old the transaction holding back vacuum is, turns the claim floors
// on or off accordingly, and while they are on lowers them to any runnable job below them
// (see floors). Exported for tests and tools; Start calls it every FloorCheckEvery, in the
// background.
func (s *Scheduler) CheckFloors(ctx context.Context) error {
	return s.floors.refresh(ctx, s.store)
}

// CycleResult counts what one cycle did.
type CycleResult struct {
	Claimed   int
	Delivered int
	Released  int
}

// RunCycle performs one scheduling cycle. Exported for tests and tools; Start calls it. The
// jobs it delivers are marked RUNNING by the next FlushStarts.
func (s *Scheduler) RunCycle(ctx context.Context) (CycleResult, error) {
	begin := s.now()
	var total CycleResult
	var errs []error
	candidates := s.registry.Candidates()
	// One claim serves every worker of a queue set (up to BatchSize jobs), least loaded
	// first; the claims run one after another: serving them concurrently would need more
	// connections than a 2-core database wants.
	for _, group := range claimGroups(candidates, s.cfg.BatchSize) {
		res, err := s.serve(ctx, group)
		total.Claimed += res.Claimed
		total.Delivered += res.Delivered
		total.Released += res.Released
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if s.metrics.CycleDuration != nil && len(candidates) > 0 {
		s.metrics.CycleDuration.Observe(s.now().Sub(begin).Seconds())
	}
	return total, errors.Join(errs...)
}

// claimGroups splits the candidates into the groups one claim serves: workers that take the
// same queues, in the candidates' order, at most batchSize slots per group (a worker alone
// may have up to batchSize).
func claimGroups(candidates []Candidate, batchSize int) [][]Candidate {
	var groups [][]Candidate
	open := map[string]int{} // queue set -> index of its group still filling
	slots := map[int]int{}   // group index -> slots in it
	for _, c := range candidates {
		key := strings.Join(slices.Sorted(slices.Values(c.Queues)), "\x00")
		free := min(c.Free, batchSize)
		i, ok := open[key]
		if !ok || slots[i]+free > batchSize {
			i = len(groups)
			groups = append(groups, nil)
			open[key] = i
		}
		groups[i] = append(groups[i], c)
		slots[i] += free
	}
	return groups
}

// serve claims jobs for a group of workers that take the same queues and delivers them.
func (s *Scheduler) serve(ctx context.Context, group []Candidate) (CycleResult, error) {
	var res CycleResult
	slots := make([]Slot, len(group))
	for i, c := range group {
		slots[i] = Slot{WorkerID: c.WorkerID, Max: min(c.Free, s.cfg.BatchSize)}
	}
	var jobs []*Job
	var err error
	floors, version, above := s.floors.get(group[0].Queues)
	if above {
		jobs, err = s.store.ClaimAbove(ctx, group[0].Queues, slots, floors)
	} else {
		jobs, err = s.store.ClaimFor(ctx, group[0].Queues, slots)
	}
	if err != nil {
		if len(group) > 1 && (errors.Is(err, ErrWrongState) || errors.Is(err, ErrNotFound)) {
			// One of them was drained or declared lost elsewhere: serve them one by one,
			// which finds it.
			var errs []error
			for _, c := range group {
				r, err := s.serve(ctx, []Candidate{c})
				res.Claimed += r.Claimed
				res.Delivered += r.Delivered
				res.Released += r.Released
				errs = append(errs, err)
			}
			return res, errors.Join(errs...)
		}
		if errors.Is(err, ErrWrongState) {
			// Drained or declared lost elsewhere (another server, an operator): stop
			// feeding it and pass the news on in-band.
			s.stopFeeding(ctx, group[0].WorkerID)
			return res, nil
		}
		return res, fmt.Errorf("claim for %d worker(s), first %s: %w", len(group), group[0].WorkerID, err)
	}
	if len(jobs) == 0 {
		return res, nil
	}
	res.Claimed = len(jobs)
	if above {
		requested := 0
		for _, sl := range slots {
			requested += sl.Max
		}
		s.floors.raise(group[0].Queues, version, requested, jobs)
	}
	for _, j := range jobs {
		s.count(j.Queue, StatusAssigned, ReasonClaimed)
	}

	sendable, held := s.lock(ctx, jobs)
	if len(held) > 0 {
		// Another instance is still delivering an earlier attempt of these jobs. They stay
		// ASSIGNED to their workers; requeue_unstarted returns them after the lock's TTL.
		s.logger.InfoContext(ctx, "jobs locked by another instance; leaving them for assignment-timeout recovery",
			"jobs", len(held))
	}
	byWorker := map[uuid.UUID][]*Job{}
	for _, j := range sendable {
		byWorker[j.WorkerID] = append(byWorker[j.WorkerID], j)
	}
	now := s.now()
	for _, c := range group {
		if jobs := byWorker[c.WorkerID]; len(jobs) > 0 {
			d, r := s.deliver(ctx, c.WorkerID, jobs, now)
			res.Delivered += d
			res.Released += r
		}
	}
	return res, nil
}

// deliver sends a worker the jobs claimed for it, puts back those it could not send and
// queues the delivered ones for jq.start_for. It returns how many it delivered and released.
func (s *Scheduler) deliver(ctx context.Context, workerID uuid.UUID, jobs []*Job, now time.Time) (delivered, released int) {
	sent, failed := s.registry.Deliver(ctx, workerID, jobs)
	if len(failed) > 0 {
		ids := jobIDs(failed)
		n, err := s.store.Release(context.WithoutCancel(ctx), ids, workerID, ReasonDeliveryFailed)
		if err != nil {
			s.logger.ErrorContext(ctx, "could not release undelivered jobs; assignment-timeout recovery will", "worker_id", workerID, "jobs", len(ids), "error", err)
		}
		released = n
		s.floors.lower(failed)
		s.unlock(ctx, failed)
		for _, j := range failed {
			s.count(j.Queue, StatusPending, ReasonDeliveryFailed)
		}
	}
	// Counted on delivery, when the job starts running on the worker: it may finish before
	// jq.start_for reaches it.
	for _, j := range sent {
		s.count(j.Queue, StatusRunning, ReasonStarted)
		if s.metrics.JobsAssigned != nil {
			s.metrics.JobsAssigned.WithLabelValues(j.Queue).Inc()
		}
		if s.metrics.WaitDuration != nil {
			since := j.CreatedAt
			if j.NotBefore.After(since) {
				since = j.NotBefore
			}
			s.metrics.WaitDuration.WithLabelValues(j.Queue).Observe(now.Sub(since).Seconds())
		}
	}
	s.starts.add(sent)
	return len(sent), released
}

func (s *Scheduler) count(queue string, status JobStatus, reason string) {
	if s.metrics.JobTotal != nil {
		s.metrics.JobTotal.WithLabelValues(queue, string(status), reason).Inc()
	}
}

// stopFeeding handles a worker the database says is not ONLINE.
func (s *Scheduler) stopFeeding(ctx context.Context, workerID uuid.UUID) {
	w, err := s.store.GetWorker(ctx, workerID)
	if err != nil {
		return
	}
	switch w.Status {
	case WorkerDraining:
		if err := s.registry.Drain(ctx, workerID, "drained by an operator", w.ShutdownRequested); err == nil {
			s.logger.InfoContext(ctx, "worker drained", "worker_id", workerID, "shutdown", w.ShutdownRequested)
		}
	case WorkerOffline:
		// Declared lost (missed heartbeats) while its stream is still open here: end the
		// stream so it registers again; its jobs were already retried.
		if err := s.registry.End(workerID, "worker was declared lost (missed heartbeats); register again"); err == nil {
			s.logger.InfoContext(ctx, "stream of a worker declared lost ended; it will register again", "worker_id", workerID)
		}
	}
}

func lockKey(jobID uuid.UUID) string { return "lock:job:" + jobID.String() }

// lock takes the assignment locks of a batch in one round trip and splits the jobs into those
// this instance may deliver and those another instance holds. Without Redis, or when Redis
// fails, every job may be delivered: the database alone is enough for correctness.
func (s *Scheduler) lock(ctx context.Context, jobs []*Job) (sendable, held []*Job) {
	if s.locker == nil {
		return jobs, nil
	}
	keys := make([]string, len(jobs))
	for i, j := range jobs {
		keys[i] = lockKey(j.ID)
	}
	ok, err := s.locker.SetNxPxMany(ctx, keys, s.lockValue(), s.cfg.AssignmentTimeout)
	if err != nil || len(ok) != len(jobs) {
		return jobs, nil // Redis down: logged by the client, rate-limited
	}
	for i, j := range jobs {
		if ok[i] {
			sendable = append(sendable, j)
		} else {
			held = append(held, j)
		}
	}
	return sendable, held
}

func (s *Scheduler) unlock(ctx context.Context, jobs []*Job) {
	if s.locker == nil || len(jobs) == 0 {
		return
	}
	keys := make([]string, len(jobs))
	for i, j := range jobs {
		keys[i] = lockKey(j.ID)
	}
	_, _ = s.locker.DelIfValueMany(context.WithoutCancel(ctx), keys, s.lockValue())
}

func (s *Scheduler) lockValue() string { return s.cfg.InstanceID }

func jobIDs(jobs []*Job) []uuid.UUID {
	ids := make([]uuid.UUID, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// FlushStarts marks the delivered jobs RUNNING now (jq.start), for tests and tools; the loop
// does it every StartDelay.
func (s *Scheduler) FlushStarts(ctx context.Context) { s.starts.flush(ctx) }

// starter batches the jq.start_for calls of delivered jobs (each job's WorkerID is the worker
// it was delivered to). Only the scheduler's goroutine adds and flushes; a background flush
// works on its own batch.
type starter struct {
	sched   *Scheduler
	pending []delivery // in delivery order
	// busy holds a token while a flush runs. jq.start_for waits on rows that completions are
	// finishing (until their commit), so the loop hands its batch to a goroutine rather than
	// stop claiming meanwhile.
	busy chan struct{}
}

// delivery is the jobs one cycle delivered, and when.
type delivery struct {
	at   time.Time
	jobs []*Job
}

func (st *starter) add(jobs []*Job) {
	if len(jobs) > 0 {
		st.pending = append(st.pending, delivery{at: time.Now(), jobs: jobs})
	}
}

// take removes the jobs delivered at or before cutoff from the pending ones and returns them.
func (st *starter) take(cutoff time.Time) []*Job {
	var jobs []*Job
	n := 0
	for ; n < len(st.pending) && !st.pending[n].at.After(cutoff); n++ {
		jobs = append(jobs, st.pending[n].jobs...)
	}
	st.pending = st.pending[n:]
	return jobs
}

// flushBackground starts a flush of the starts delivered at or before cutoff in a goroutine;
// while the previous one still runs, they wait for the next tick.
func (st *starter) flushBackground(ctx context.Context, cutoff time.Time) {
	if len(st.pending) == 0 || st.pending[0].at.After(cutoff) {
		return
	}
	select {
	case st.busy <- struct{}{}:
	default:
		return
	}
	jobs := st.take(cutoff)
	go func() {
		defer func() { <-st.busy }()
		st.start(ctx, jobs)
	}()
}

// flush marks every pending start now, after any background flush has ended.
func (st *starter) flush(ctx context.Context) {
	st.busy <- struct{}{}
	defer func() { <-st.busy }()
	st.start(ctx, st.take(time.Now()))
}

// start marks the delivered jobs RUNNING, but for those their workers have reported since:
// most jobs finish within StartDelay, and jq.start_for would only look each one up to skip it,
// and wait on the row locks of the completions under way.
func (st *starter) start(ctx context.Context, jobs []*Job) {
	if len(jobs) == 0 {
		return
	}
	s := st.sched
	running := s.registry.Outstanding(jobs)
	if len(running) > 0 {
		ids, workers := make([]uuid.UUID, len(running)), make([]uuid.UUID, len(running))
		for i, j := range running {
			ids[i], workers[i] = j.ID, j.WorkerID
		}
		if _, err := s.store.StartFor(context.WithoutCancel(ctx), ids, workers); err != nil {
			// The jobs are with their workers; their reports start them (jq.complete accepts an
			// ASSIGNED job), or assignment-timeout recovery requeues them.
			s.logger.WarnContext(ctx, "could not mark delivered jobs RUNNING", "jobs", len(running), "error", err)
			return
		}
	}
	s.unlock(ctx, jobs)
}

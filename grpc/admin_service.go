package grpc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/health"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// AdminStore is what AdminService needs from the database.
type AdminStore interface {
	CreateQueue(ctx context.Context, p queue.CreateQueueParams) (*queue.Queue, error)
	DeleteQueue(ctx context.Context, name, actor string) (int, error)
	ListQueues(ctx context.Context) ([]*queue.Queue, error)
	QueueStats(ctx context.Context, queue string) ([]*queue.QueueStats, error)
	ListWorkers(ctx context.Context, p queue.ListWorkersParams) ([]*queue.Worker, error)
	SystemCounts(ctx context.Context) (queue.SystemCounts, error)
	DrainWorker(ctx context.Context, workerID uuid.UUID, actor string) (*queue.Worker, error)
	ShutdownWorker(ctx context.Context, workerID uuid.UUID, actor string) (*queue.Worker, error)
	QueueDepths(ctx context.Context) ([]queue.Depth, error)
	CreateAPIKey(ctx context.Context, p queue.CreateAPIKeyParams) (*queue.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]*queue.APIKey, error)
	RevokeAPIKey(ctx context.Context, name, actor string) (*queue.APIKey, error)
	ListAudit(ctx context.Context, p queue.ListAuditParams) ([]*queue.AuditEntry, error)
	PauseQueues(ctx context.Context, names []string, actor string) ([]string, error)
	ResumeQueues(ctx context.Context, names []string, actor string) ([]string, error)
	SetQueueLimits(ctx context.Context, name string, l queue.QueueLimits, actor string) (*queue.Queue, error)
	CreateSchedule(ctx context.Context, p queue.ScheduleParams) (*queue.Schedule, error)
	ListSchedules(ctx context.Context) ([]*queue.Schedule, error)
	DeleteSchedule(ctx context.Context, name, actor string, force bool) (*queue.Schedule, error)
	PauseSchedule(ctx context.Context, name, actor string) (*queue.Schedule, error)
	ResumeSchedule(ctx context.Context, name, actor string) (*queue.Schedule, error)
	TriggerSchedule(ctx context.Context, name, actor string) (uuid.UUID, error)
}

var _ AdminStore = (*queue.Store)(nil)

// AdminService implements jq.v1.AdminService.
type AdminService struct {
	jqv1.UnimplementedAdminServiceServer

	store      AdminStore
	registry   *queue.Registry
	logger     *slog.Logger
	components []health.Component
	leading    func() bool
	counts     *systemCounts
	// maxPageSize bounds ListWorkers pages (grpc.max_page_size).
	maxPageSize     int
	scheduleChanged func()
}

// AdminServiceConfig tunes the AdminService.
type AdminServiceConfig struct {
	// Components are the dependencies GetSystemStatus checks (the same list /readyz checks).
	Components []health.Component
	// Leading (may be nil) says whether this instance runs the maintenance loops.
	Leading func() bool
	// MaxPageSize bounds ListWorkers pages (grpc.max_page_size; default 1000).
	MaxPageSize int
	// ScheduleChanged (may be nil) is told when a schedule is created or resumed here, so that
	// this instance, if it leads, computes its first time at once.
	ScheduleChanged func()
}

// NewAdminService returns the AdminService.
func NewAdminService(store AdminStore, registry *queue.Registry, logger *slog.Logger, cfg AdminServiceConfig) *AdminService {
	if cfg.Leading == nil {
		cfg.Leading = func() bool { return false }
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 1000
	}
	if cfg.ScheduleChanged == nil {
		cfg.ScheduleChanged = func() {}
	}
	return &AdminService{store: store, registry: registry, logger: logger, components: cfg.Components, leading: cfg.Leading,
		counts: &systemCounts{store: store}, maxPageSize: cfg.MaxPageSize, scheduleChanged: cfg.ScheduleChanged}
}

// CreateQueue creates a queue.
func (s *AdminService) CreateQueue(ctx context.Context, req *jqv1.CreateQueueRequest) (*jqv1.CreateQueueResponse, error) {
	if err := validateQueueName("name", req.GetName()); err != nil {
		return nil, err
	}
	maxRetries := 3
	if req.MaxRetries != nil {
		maxRetries = int(req.GetMaxRetries())
	}
	if maxRetries < 0 || maxRetries > 1000 {
		return nil, invalid("max_retries %d is outside 0-1000", maxRetries)
	}
	if req.GetTtlSeconds() < 0 {
		return nil, invalid("ttl_seconds %d is negative (0 means no TTL)", req.GetTtlSeconds())
	}
	q, err := s.store.CreateQueue(ctx, queue.CreateQueueParams{
		Name: req.GetName(), MaxRetries: maxRetries, TTL: time.Duration(req.GetTtlSeconds()) * time.Second,
		Actor: caller(ctx).Name,
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.CreateQueueResponse{Queue: queueToProto(q)}, nil
}

// DeleteQueue deletes a queue with its finished jobs; FAILED_PRECONDITION while it has
// unfinished ones.
func (s *AdminService) DeleteQueue(ctx context.Context, req *jqv1.DeleteQueueRequest) (*jqv1.DeleteQueueResponse, error) {
	if err := validateQueueName("name", req.GetName()); err != nil {
		return nil, err
	}
	if _, err := s.store.DeleteQueue(ctx, req.GetName(), caller(ctx).Name); err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.DeleteQueueResponse{}, nil
}

// ListQueues lists every queue.
func (s *AdminService) ListQueues(ctx context.Context, _ *jqv1.ListQueuesRequest) (*jqv1.ListQueuesResponse, error) {
	queues, err := s.store.ListQueues(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.ListQueuesResponse{}
	p := caller(ctx)
	for _, q := range queues {
		if p.MayUse(q.Name) {
			resp.Queues = append(resp.Queues, queueToProto(q))
		}
	}
	return resp, nil
}

// GetQueueStats returns per-status counts, the oldest pending age and recent throughput.
func (s *AdminService) GetQueueStats(ctx context.Context, req *jqv1.GetQueueStatsRequest) (*jqv1.GetQueueStatsResponse, error) {
	if q := req.GetQueueName(); q != "" {
		if err := validateQueueName("queue_name", q); err != nil {
			return nil, err
		}
	}
	caller := caller(ctx)
	if q := req.GetQueueName(); q != "" && !caller.MayUse(q) {
		return nil, caller.queueDenied(q)
	}
	stats, err := s.store.QueueStats(ctx, req.GetQueueName())
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	queues, err := s.store.ListQueues(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	paused := map[string]bool{}
	for _, q := range queues {
		paused[q.Name] = q.Paused
	}
	resp := &jqv1.GetQueueStatsResponse{}
	now := time.Now()
	for _, st := range stats {
		if !caller.MayUse(st.Queue) {
			continue
		}
		p := &jqv1.QueueStats{
			QueueName:           st.Queue,
			Pending:             st.Counts[queue.StatusPending],
			Assigned:            st.Counts[queue.StatusAssigned],
			Running:             st.Counts[queue.StatusRunning],
			Done:                st.Counts[queue.StatusDone],
			Failed:              st.Counts[queue.StatusFailed],
			DeadLettered:        st.Counts[queue.StatusDeadLettered],
			CompletedLastMinute: st.CompletedLastMinute,
			FailedLastMinute:    st.FailedLastMinute,
			Cancelled:           st.Counts[queue.StatusCancelled],
			Waiting:             st.Counts[queue.StatusWaiting],
			Paused:              paused[st.Queue],
		}
		if !st.OldestPendingAt.IsZero() {
			p.OldestPendingAge = durationpb.New(max(now.Sub(st.OldestPendingAt), 0))
		}
		resp.Stats = append(resp.Stats, p)
	}
	return resp, nil
}

const defaultWorkerPage = 100

// ListWorkers lists registered workers, optionally of one status, a page at a time.
func (s *AdminService) ListWorkers(ctx context.Context, req *jqv1.ListWorkersRequest) (*jqv1.ListWorkersResponse, error) {
	status, ok := workerStatusFromProto(req.GetStatus())
	if !ok {
		return nil, invalid("status %d is not a worker status", req.GetStatus())
	}
	limit := int(req.GetLimit())
	switch {
	case limit < 0:
		return nil, invalid("limit %d is negative", limit)
	case limit == 0:
		limit = defaultWorkerPage
	case limit > s.maxPageSize:
		return nil, invalid("limit %d is over the largest page, %d (grpc.max_page_size)", limit, s.maxPageSize)
	}
	p := queue.ListWorkersParams{Status: status, Limit: limit + 1}
	if tok := req.GetPageToken(); tok != "" {
		c, err := decodePageToken(tok)
		if err != nil {
			return nil, err
		}
		p.After = &queue.WorkerCursor{RegisteredAt: c.CreatedAt, ID: c.ID}
	}
	workers, err := s.store.ListWorkers(ctx, p)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.ListWorkersResponse{}
	if len(workers) > limit {
		workers = workers[:limit]
		last := workers[len(workers)-1]
		resp.NextPageToken = encodePageToken(queue.JobCursor{CreatedAt: last.RegisteredAt, ID: last.ID})
	}
	for _, w := range workers {
		resp.Workers = append(resp.Workers, workerToProto(w, s.registry.Connected(w.ID)))
	}
	return resp, nil
}

// DrainWorker marks a worker DRAINING and tells it in-band when its stream is on this server
// (otherwise it learns from its next heartbeat).
func (s *AdminService) DrainWorker(ctx context.Context, req *jqv1.DrainWorkerRequest) (*jqv1.DrainWorkerResponse, error) {
	id, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	w, err := s.store.DrainWorker(ctx, id, caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.tell(ctx, id, false)
	return &jqv1.DrainWorkerResponse{Worker: workerToProto(w, s.registry.Connected(id))}, nil
}

// ShutdownWorker drains a worker and has it exit afterwards.
func (s *AdminService) ShutdownWorker(ctx context.Context, req *jqv1.ShutdownWorkerRequest) (*jqv1.ShutdownWorkerResponse, error) {
	id, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	w, err := s.store.ShutdownWorker(ctx, id, caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.tell(ctx, id, true)
	return &jqv1.ShutdownWorkerResponse{Worker: workerToProto(w, s.registry.Connected(id))}, nil
}

func (s *AdminService) tell(ctx context.Context, id uuid.UUID, shutdown bool) {
	err := s.registry.Drain(ctx, id, "drained by an operator", shutdown)
	if err != nil && !errors.Is(err, queue.ErrNotConnected) {
		s.logger.WarnContext(ctx, "could not send the drain notice; the worker learns from its next heartbeat", "worker_id", id, "error", err)
	}
}

// componentTimeout bounds the check of each component in GetSystemStatus.
const componentTimeout = 3 * time.Second

// GetSystemStatus reports the health of PostgreSQL, Redis and Kafka, versions and counts.
func (s *AdminService) GetSystemStatus(ctx context.Context, _ *jqv1.GetSystemStatusRequest) (*jqv1.GetSystemStatusResponse, error) {
	resp := &jqv1.GetSystemStatusResponse{
		ServerVersion: buildinfo.Version,
		ServerCommit:  buildinfo.Commit,
		ServerTime:    timestamppb.Now(),
		Leader:        s.leading(),
	}
	resp.Components = make([]*jqv1.ComponentStatus, len(s.components))
	var wg sync.WaitGroup
	for i, c := range s.components {
		wg.Go(func() {
			st := &jqv1.ComponentStatus{Name: c.Name, Configured: c.Configured}
			if c.Configured && c.Check != nil {
				r := c.Probe(ctx, componentTimeout)
				st.Latency = durationpb.New(r.Latency)
				st.Version = r.Version
				st.Healthy = r.Err == nil
				if r.Err != nil {
					st.Detail = r.Err.Error()
				}
			} else {
				st.Detail = "not configured"
			}
			resp.Components[i] = st
		})
	}
	wg.Wait()

	c := s.counts.get(ctx)
	resp.PendingJobs, resp.RunningJobs, resp.OnlineWorkers, resp.DeadLetteredJobs = c.pending, c.running, int32(c.online), c.dead
	return resp, nil
}

// countsMaxAge is how long GetSystemStatus reuses its counts: any caller may poll it, and the
// counts need not be fresher than a dashboard refresh.
const countsMaxAge = 5 * time.Second

// systemCounts caches the counts of GetSystemStatus; one caller computes them at a time, the
// others use the previous ones meanwhile (or, before there are any, wait for them).
type systemCounts struct {
	store    AdminStore
	mu       sync.Mutex
	last     counts
	at       time.Time
	inFlight chan struct{} // closed when the computation under way ends; nil when none is
}

type counts struct{ pending, running, online, dead int64 }

func (c *systemCounts) get(ctx context.Context) counts {
	c.mu.Lock()
	switch {
	case time.Since(c.at) < countsMaxAge, c.inFlight != nil && !c.at.IsZero():
		defer c.mu.Unlock()
		return c.last
	case c.inFlight != nil:
		wait := c.inFlight
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.last
	}
	done := make(chan struct{})
	c.inFlight = done
	c.mu.Unlock()
	defer close(done)
	// Best effort: the status must answer even when the database does not.
	var n counts
	ok := true
	if depths, err := c.store.QueueDepths(ctx); err == nil {
		for _, d := range depths {
			switch d.Status {
			case queue.StatusPending:
				n.pending += d.Count
			case queue.StatusRunning:
				n.running += d.Count
			}
		}
	} else {
		ok = false
	}
	if sc, err := c.store.SystemCounts(ctx); err == nil {
		n.online, n.dead = sc.OnlineWorkers, sc.DeadLettered
	} else {
		ok = false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight = nil
	if ok {
		c.last, c.at = n, time.Now()
	}
	return n
}

// PauseQueues pauses queues (every queue when none is named).
func (s *AdminService) PauseQueues(ctx context.Context, req *jqv1.PauseQueuesRequest) (*jqv1.PauseQueuesResponse, error) {
	if err := validateNames(req.GetNames()); err != nil {
		return nil, err
	}
	names, err := s.store.PauseQueues(ctx, req.GetNames(), caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.PauseQueuesResponse{Paused: names}, nil
}

// ResumeQueues resumes paused queues (every one when none is named).
func (s *AdminService) ResumeQueues(ctx context.Context, req *jqv1.ResumeQueuesRequest) (*jqv1.ResumeQueuesResponse, error) {
	if err := validateNames(req.GetNames()); err != nil {
		return nil, err
	}
	names, err := s.store.ResumeQueues(ctx, req.GetNames(), caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.ResumeQueuesResponse{Resumed: names}, nil
}

func validateNames(names []string) error {
	for _, n := range names {
		if err := validateQueueName("names", n); err != nil {
			return err
		}
	}
	return nil
}

// UpdateQueue changes a queue's limits.
func (s *AdminService) UpdateQueue(ctx context.Context, req *jqv1.UpdateQueueRequest) (*jqv1.UpdateQueueResponse, error) {
	if err := validateQueueName("name", req.GetName()); err != nil {
		return nil, err
	}
	var l queue.QueueLimits
	optional := func(field string, v *int32) (*int, error) {
		if v == nil {
			return nil, nil
		}
		if *v < 0 {
			return nil, invalid("%s %d is negative (0 removes the limit)", field, *v)
		}
		n := int(*v)
		return &n, nil
	}
	var err error
	if l.MaxRunning, err = optional("max_running", req.MaxRunning); err != nil {
		return nil, err
	}
	if l.MaxRunningPerKey, err = optional("max_running_per_key", req.MaxRunningPerKey); err != nil {
		return nil, err
	}
	if l.RateLimit, err = optional("rate_limit", req.RateLimit); err != nil {
		return nil, err
	}
	if l.RateLimit != nil && *l.RateLimit > 0 {
		p := req.GetRatePeriod()
		if p == nil || p.CheckValid() != nil || p.AsDuration() <= 0 {
			return nil, invalid("rate_period is required with a rate_limit (e.g. 1s for %d per second)", *l.RateLimit)
		}
		l.RatePeriod = p.AsDuration()
	}
	if l == (queue.QueueLimits{}) {
		return nil, invalid("nothing to change: set max_running, rate_limit or max_running_per_key")
	}
	q, err := s.store.SetQueueLimits(ctx, req.GetName(), l, caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.UpdateQueueResponse{Queue: queueToProto(q)}, nil
}

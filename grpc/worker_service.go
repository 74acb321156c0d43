package grpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jqhq/jq/internal/safetext"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// maxErrorMessageBytes caps the error text stored for a failed attempt; the rest is cut.
const maxErrorMessageBytes = 64 << 10

// WorkerStore is what WorkerService needs from the database.
type WorkerStore interface {
	RegisterWorker(ctx context.Context, p queue.RegisterWorkerParams) (*queue.Worker, error)
	Heartbeat(ctx context.Context, workerID uuid.UUID, activeJobs int, owner string) (*queue.Worker, error)
	GetWorker(ctx context.Context, workerID uuid.UUID) (*queue.Worker, error)
	DrainWorker(ctx context.Context, workerID uuid.UUID, actor string) (*queue.Worker, error)
	DeregisterWorker(ctx context.Context, workerID uuid.UUID, owner string) (int, error)
	ReconcileWorker(ctx context.Context, workerID uuid.UUID, held []uuid.UUID, grace time.Duration) ([]queue.Attempt, error)
	CancelledAmong(ctx context.Context, workerID uuid.UUID, held []uuid.UUID) ([]queue.Attempt, error)
	Complete(ctx context.Context, r queue.Report, result []byte) (*queue.Job, error)
	Fail(ctx context.Context, r queue.Report, message string, permanent bool, policy queue.RetryPolicy) (*queue.Job, error)
	Snooze(ctx context.Context, r queue.Report, delay time.Duration) (*queue.Job, error)
	ListQueues(ctx context.Context) ([]*queue.Queue, error)
	ReportProgress(ctx context.Context, r queue.Report, percent float64, message string) (*queue.Job, error)
}

var _ WorkerStore = (*queue.Store)(nil)

// Completer completes successful attempts, possibly in batches (queue.Completer): jobs[i]
// and errs[i] answer reports[i], whose result is results[i].
type Completer interface {
	CompleteAll(ctx context.Context, reports []queue.Report, results [][]byte) (jobs []*queue.Job, errs []error)
}

// oneByOne completes each report on its own, through the store (no Completer configured).
type oneByOne struct{ store WorkerStore }

func (c oneByOne) CompleteAll(ctx context.Context, reports []queue.Report, results [][]byte) ([]*queue.Job, []error) {
	jobs, errs := make([]*queue.Job, len(reports)), make([]error, len(reports))
	for i, r := range reports {
		jobs[i], errs[i] = c.store.Complete(ctx, r, results[i])
	}
	return jobs, errs
}

// ProgressSink records the progress of running jobs, at most once a second per job
// (queue.ProgressCoalescer).
type ProgressSink interface {
	Report(ctx context.Context, r queue.Report, percent float64, message string) (coalesced bool, err error)
}

// WorkerServiceConfig tunes the WorkerService.
type WorkerServiceConfig struct {
	// HeartbeatInterval is what RegisterWorker tells workers.
	HeartbeatInterval time.Duration
	Retry             queue.RetryPolicy
	// Completer batches completions; nil completes each report on its own.
	Completer Completer
	// Heartbeats receives every accepted heartbeat (to publish it to Kafka); may be nil.
	Heartbeats HeartbeatSink
	// MaxWorkersPerOwner bounds the workers one credential may have registered and not OFFLINE
	// (auth.max_workers_per_key); 0: no limit.
	MaxWorkersPerOwner int
	// OwnerCacheTTL is how long a worker's owner is trusted before it is read again, for the
	// reports of outcomes (default 10 s).
	OwnerCacheTTL time.Duration
	// ReconcileGrace: a job given to a worker longer ago than this, which its heartbeat does not
	// list as held, is retried (scheduler.reconcile_grace; default 30 s).
	ReconcileGrace time.Duration
	// MaxResultBytes bounds the result and the error text of a report (grpc.max_result_bytes):
	// a longer result is refused, a longer error text is cut (default 1 MiB).
	MaxResultBytes int
	// Progress records progress reports; nil writes each one.
	Progress ProgressSink
}

// HeartbeatSink is told about each worker heartbeat.
type HeartbeatSink interface {
	Heartbeat(ctx context.Context, w *queue.Worker)
}

// WorkerMetrics are the instruments of job outcomes; nil fields are skipped.
type WorkerMetrics struct {
	JobTotal           *prometheus.CounterVec   // {queue,status,reason}
	ProcessingDuration *prometheus.HistogramVec // {queue}
	ActiveWorkers      prometheus.Gauge
}

// WorkerService implements jq.v1.WorkerService: registration, heartbeats, the job streams and
// the reports of outcomes.
type WorkerService struct {
	jqv1.UnimplementedWorkerServiceServer

	store     WorkerStore
	completer Completer
	registry  *queue.Registry
	logger    *slog.Logger
	cfg       WorkerServiceConfig
	metrics   WorkerMetrics
	ttls      *queueTTLs
	owners    *workerOwners

	mu      sync.Mutex
	streams map[uuid.UUID]*workerStream
	closing chan struct{} // closed by Close: every stream ends
	closed  bool
}

// NewWorkerService returns the WorkerService delivering through registry.
func NewWorkerService(store WorkerStore, registry *queue.Registry, logger *slog.Logger, cfg WorkerServiceConfig, m WorkerMetrics) *WorkerService {
	completer := cfg.Completer
	if completer == nil {
		completer = oneByOne{store}
	}
	if cfg.OwnerCacheTTL <= 0 {
		cfg.OwnerCacheTTL = 10 * time.Second
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = 1 << 20
	}
	if cfg.ReconcileGrace <= 0 {
		cfg.ReconcileGrace = 30 * time.Second
	}
	return &WorkerService{
		store: store, completer: completer, registry: registry, logger: logger, cfg: cfg, metrics: m,
		ttls:    &queueTTLs{list: store.ListQueues, maxAge: 30 * time.Second},
		owners:  newWorkerOwners(store.GetWorker, cfg.OwnerCacheTTL),
		streams: map[uuid.UUID]*workerStream{},
		closing: make(chan struct{}),
	}
}

// Close ends every open stream with UNAVAILABLE so workers reconnect (to this server once it
// is back, or to another). Their jobs are not failed: they keep running and are reported
// after the reconnect.
func (s *WorkerService) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// RegisterWorker upserts the worker as ONLINE.
func (s *WorkerService) RegisterWorker(ctx context.Context, req *jqv1.RegisterWorkerRequest) (*jqv1.RegisterWorkerResponse, error) {
	id, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	if c := req.GetConcurrency(); c < 1 || c > 4096 {
		return nil, invalid("concurrency %d is outside 1-4096", c)
	}
	if err := validateQueues(req.GetQueues()); err != nil {
		return nil, err
	}
	if len(req.GetIncarnation()) > 128 {
		return nil, invalid("incarnation is %d bytes, over the limit of 128", len(req.GetIncarnation()))
	}
	if len(req.GetHostname()) > 255 {
		return nil, invalid("hostname is %d bytes, over the limit of 255", len(req.GetHostname()))
	}
	p := caller(ctx)
	if err := p.checkQueues(req.GetQueues()); err != nil {
		return nil, err
	}
	w, err := s.store.RegisterWorker(ctx, queue.RegisterWorkerParams{
		ID: id, Hostname: req.GetHostname(), Concurrency: int(req.GetConcurrency()), Queues: req.GetQueues(),
		Incarnation: req.GetIncarnation(), Owner: p.Name, MaxPerOwner: s.cfg.MaxWorkersPerOwner,
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.owners.set(id, w.Owner)
	s.logger.InfoContext(ctx, "worker registered", "worker_id", id, "hostname", w.Hostname,
		"concurrency", w.Concurrency, "queues", w.Queues, "version", req.GetVersion())
	return &jqv1.RegisterWorkerResponse{
		Worker:            workerToProto(w, s.registry.Connected(id)),
		HeartbeatInterval: durationpb.New(s.cfg.HeartbeatInterval),
	}, nil
}

// Heartbeat refreshes the worker's liveness and tells it whether to drain.
func (s *WorkerService) Heartbeat(ctx context.Context, req *jqv1.HeartbeatRequest) (*jqv1.HeartbeatResponse, error) {
	id, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	if req.GetActiveJobCount() < 0 {
		return nil, invalid("active_job_count %d is negative", req.GetActiveJobCount())
	}
	var held []uuid.UUID
	if req.GetReportsHeldJobs() {
		if len(req.GetHeldJobIds()) > maxHeldJobs {
			return nil, invalid("held_job_ids lists %d jobs; at most %d", len(req.GetHeldJobIds()), maxHeldJobs)
		}
		held = make([]uuid.UUID, 0, len(req.GetHeldJobIds()))
		for _, s := range req.GetHeldJobIds() {
			jid, err := parseID("held_job_ids", s)
			if err != nil {
				return nil, err
			}
			held = append(held, jid)
		}
	}
	p := caller(ctx)
	w, err := s.store.Heartbeat(ctx, id, int(req.GetActiveJobCount()), p.Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	if req.GetDraining() && w.Status == queue.WorkerOnline {
		if w, err = s.store.DrainWorker(ctx, id, p.Name); err != nil {
			return nil, toStatus(ctx, s.logger, err)
		}
		s.logger.InfoContext(ctx, "worker draining for shutdown", "worker_id", id)
	}
	if w.Status == queue.WorkerDraining {
		_ = s.registry.Drain(ctx, id, "drained by an operator", w.ShutdownRequested)
	}
	resp := &jqv1.HeartbeatResponse{Status: workerStatusToProto[w.Status], Shutdown: w.ShutdownRequested}
	if held != nil {
		grace := s.cfg.ReconcileGrace
		s.mu.Lock()
		ws := s.streams[id]
		s.mu.Unlock()
		if ws != nil && ws.fresh.CompareAndSwap(true, false) {
			grace = min(grace, freshReconcileGrace)
		}
		s.reconcile(ctx, id, held, grace)
		resp.Cancel = s.cancelled(ctx, id, held)
	}
	if s.cfg.Heartbeats != nil {
		s.cfg.Heartbeats.Heartbeat(ctx, w)
	}
	return resp, nil
}

// cancelled lists the held jobs an operator cancelled, for a worker that missed the notice on
// its stream. A failure only delays it to the next heartbeat.
func (s *WorkerService) cancelled(ctx context.Context, id uuid.UUID, held []uuid.UUID) []*jqv1.CancelNotice {
	if len(held) == 0 {
		return nil
	}
	gone, err := s.store.CancelledAmong(ctx, id, held)
	if err != nil {
		s.logger.WarnContext(ctx, "could not look for cancelled jobs the worker holds; the next heartbeat will", "worker_id", id, "error", err)
		return nil
	}
	out := make([]*jqv1.CancelNotice, 0, len(gone))
	for _, a := range gone {
		out = append(out, &jqv1.CancelNotice{JobId: a.JobID.String(), Attempt: int32(a.Attempt)})
	}
	return out
}

// freshReconcileGrace is the reconcile grace of the first heartbeat on a new stream. Jobs
// claimed for the worker by a server that died (or lost the stream) before delivering them
// are ASSIGNED to a worker that never got them; the worker's reconnection is when that can
// be found, and the regular grace (scheduler.reconcile_grace, 30 s) left them waiting for it
// or for the assignment timeout. A delivery made on this stream is seconds old at most.
const freshReconcileGrace = 10 * time.Second

// maxHeldJobs bounds held_job_ids: a worker runs at most 4096 jobs at once, and holds at most
// a few batches of unreported outcomes besides.
const maxHeldJobs = 16384

// reconcile retries the jobs the database gives the worker that it does not hold (a delivery
// lost on the way) and frees their slots here, and the slots of jobs it no longer holds (a
// report that went elsewhere). A failure only delays the repair to the next heartbeat.
func (s *WorkerService) reconcile(ctx context.Context, id uuid.UUID, held []uuid.UUID, grace time.Duration) {
	if n := s.registry.Reconcile(id, held, grace); n > 0 {
		s.logger.WarnContext(ctx, "freed the slots of jobs the worker no longer holds", "worker_id", id, "slots", n)
	}
	lost, err := s.store.ReconcileWorker(ctx, id, held, grace)
	if err != nil {
		s.logger.WarnContext(ctx, "could not reconcile the worker's jobs; the next heartbeat will", "worker_id", id, "error", err)
		return
	}
	for _, a := range lost {
		s.registry.Done(id, a.JobID, a.Attempt)
	}
	if len(lost) > 0 {
		s.logger.WarnContext(ctx, "jobs given to the worker that it does not hold were retried", "worker_id", id, "jobs", len(lost))
	}
}

// StreamJobs registers the worker's stream and delivers jobs on it until the worker
// disconnects, deregisters, or the server stops.
func (s *WorkerService) StreamJobs(req *jqv1.StreamJobsRequest, stream jqv1.WorkerService_StreamJobsServer) error {
	ctx := stream.Context()
	id, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return err
	}
	if req.GetFreeSlots() < 0 {
		return invalid("free_slots %d is negative", req.GetFreeSlots())
	}
	if len(req.GetRunning()) > maxHeldJobs {
		return invalid("running lists %d attempts; at most %d", len(req.GetRunning()), maxHeldJobs)
	}
	running := make(map[uuid.UUID]int, len(req.GetRunning()))
	for _, r := range req.GetRunning() {
		jid, err := parseID("running.job_id", r.GetJobId())
		if err != nil {
			return err
		}
		if r.GetAttempt() < 1 {
			return invalid("running attempt %d of job %s is not positive", r.GetAttempt(), jid)
		}
		running[jid] = int(r.GetAttempt())
	}
	w, err := s.store.GetWorker(ctx, id)
	if err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return status.Errorf(codes.NotFound, "worker %s is not registered; call RegisterWorker first", id)
		}
		return toStatus(ctx, s.logger, err)
	}
	if w.Status == queue.WorkerOffline {
		return status.Errorf(codes.FailedPrecondition, "worker %s is OFFLINE; call RegisterWorker again", id)
	}
	p := caller(ctx)
	if w.Owner != p.Name {
		return notOwner(p, id)
	}
	queues := req.GetQueues()
	if len(queues) == 0 {
		queues = w.Queues
	}
	if err := validateQueues(queues); err != nil {
		return err
	}
	if err := p.checkQueues(queues); err != nil {
		return err
	}
	free := min(int(req.GetFreeSlots()), max(w.Concurrency-len(running), 0))

	ws := &workerStream{stream: stream, incarnation: w.Incarnation, owner: w.Owner, ttls: s.ttls, batches: req.GetAcceptsBatches(),
		goodbye: make(chan struct{}), kicked: make(chan error, 1)}
	ws.fresh.Store(true)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "server shutting down")
	}
	if old, ok := s.streams[id]; ok {
		if old.incarnation == w.Incarnation {
			old.end() // a reconnect replaces the process's previous stream
		} else {
			old.End(queue.EndSuperseded, "another process registered as worker "+id.String()+"; give each worker its own id")
		}
	}
	s.streams[id] = ws
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		if s.streams[id] == ws {
			delete(s.streams, id)
		}
		s.mu.Unlock()
	}

	// Tell the worker the stream is up once Deregister and the registry can find it (ListWorkers
	// then says connected), and before any job: sends wait on ws.mu until the headers are out.
	ws.mu.Lock()
	detach := s.registry.Attach(id, w.Incarnation, queues, free, running, ws)
	if err := stream.SendHeader(nil); err != nil {
		ws.closed = true
		ws.mu.Unlock()
		detach(false)
		forget()
		return err
	}
	ws.mu.Unlock()
	s.setActiveGauge()
	s.logger.InfoContext(ctx, "worker stream opened", "worker_id", id, "queues", queues, "free_slots", free, "running", len(running))
	if w.Status == queue.WorkerDraining {
		_ = s.registry.Drain(ctx, id, "drained by an operator", w.ShutdownRequested)
	}

	var result error
	goodbye := false
	select {
	case <-ctx.Done():
		s.logger.InfoContext(ctx, "worker stream closed by the worker", "worker_id", id)
	case <-ws.goodbye:
		goodbye = true
	case <-s.closing:
		goodbye = true // the server stops; the worker will reconnect and keep its jobs
		result = status.Error(codes.Unavailable, "server shutting down; reconnect")
	case result = <-ws.kicked:
	}
	ws.close()
	detach(goodbye)
	forget()
	s.setActiveGauge()
	return result
}

func (s *WorkerService) setActiveGauge() {
	if s.metrics.ActiveWorkers != nil {
		s.metrics.ActiveWorkers.Set(float64(s.registry.Len()))
	}
}

// ReportResult records the outcome of one attempt.
func (s *WorkerService) ReportResult(ctx context.Context, req *jqv1.ReportResultRequest) (*jqv1.ReportResultResponse, error) {
	workerID, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	if _, err := s.validateReport(req); err != nil {
		return nil, err
	}
	if err := s.checkOwner(ctx, workerID); err != nil {
		return nil, err
	}
	return s.report(ctx, workerID, req)
}

// checkOwner refuses a report for a worker that another credential registered: the worker id
// and the attempt are not a secret to whoever can read the job, the credential is.
func (s *WorkerService) checkOwner(ctx context.Context, workerID uuid.UUID) error {
	owner, err := s.owners.get(ctx, workerID)
	if err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return status.Errorf(codes.NotFound, "worker %s is not registered", workerID)
		}
		return toStatus(ctx, s.logger, err)
	}
	if p := caller(ctx); owner != p.Name {
		return notOwner(p, workerID)
	}
	return nil
}

func notOwner(p *Principal, workerID uuid.UUID) error {
	return status.Errorf(codes.PermissionDenied, "worker %s was registered with another credential; %s may not act for it", workerID, p.Name)
}

// maxSnooze bounds how long a job may snooze (jq.snooze's limit).
const maxSnooze = 30 * 24 * time.Hour

// maxReportsPerCall bounds ReportResults.
const maxReportsPerCall = 1000

// ReportResults records a batch of outcomes, each as ReportResult would. The successes go to
// the completer together, with one wait for them all; the other outcomes are recorded
// concurrently meanwhile.
func (s *WorkerService) ReportResults(ctx context.Context, req *jqv1.ReportResultsRequest) (*jqv1.ReportResultsResponse, error) {
	workerID, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	results := req.GetResults()
	if len(results) > maxReportsPerCall {
		return nil, invalid("%d results in one call; at most %d", len(results), maxReportsPerCall)
	}
	if err := s.checkOwner(ctx, workerID); err != nil {
		return nil, err
	}
	outcomes := make([]*jqv1.ReportResultOutcome, len(results))
	outcome := func(i int, resp *jqv1.ReportResultResponse, err error) {
		st := status.Convert(err)
		outcomes[i] = &jqv1.ReportResultOutcome{Code: uint32(st.Code()), Message: st.Message(), Response: resp}
	}
	var wg sync.WaitGroup
	var successes []int // indexes into results
	var reports []queue.Report
	var payloads [][]byte
	for i, r := range results {
		if id := r.GetWorkerId(); id != "" && id != req.GetWorkerId() {
			outcome(i, nil, invalid("result %d is for worker %q, not %q", i, id, req.GetWorkerId()))
			continue
		}
		if !s.completes(r) {
			wg.Go(func() {
				resp, err := s.report(ctx, workerID, r)
				outcome(i, resp, err)
			})
			continue
		}
		rep, err := s.accept(workerID, r)
		if err != nil {
			outcome(i, nil, err)
			continue
		}
		successes, reports, payloads = append(successes, i), append(reports, rep), append(payloads, r.GetResult())
	}
	if len(reports) > 0 {
		jobs, errs := s.completer.CompleteAll(ctx, reports, payloads)
		for k, i := range successes {
			resp, err := s.answer(ctx, jobs[k], errs[k], results[i])
			outcome(i, resp, err)
		}
	}
	wg.Wait()
	return &jqv1.ReportResultsResponse{Outcomes: outcomes}, nil
}

// completes says whether a report goes to the completer: a success whose result is within
// grpc.max_result_bytes.
func (s *WorkerService) completes(req *jqv1.ReportResultRequest) bool {
	return req.GetSuccess() && len(req.GetResult()) <= s.cfg.MaxResultBytes
}

// accept checks a report of workerID and frees the worker's slot for it. The worker no longer
// runs the job, whatever becomes of its report: its slot is free now, not once the outcome is
// committed (the completer batches them), so that the scheduler can refill it meanwhile. A
// report that must be sent again holds no slot on the worker.
func (s *WorkerService) accept(workerID uuid.UUID, req *jqv1.ReportResultRequest) (queue.Report, error) {
	jobID, err := s.validateReport(req)
	if err != nil {
		return queue.Report{}, err
	}
	r := queue.Report{JobID: jobID, WorkerID: workerID, Attempt: int(req.GetAttempt())}
	s.registry.Done(workerID, jobID, r.Attempt)
	return r, nil
}

// report records one outcome for workerID; its errors are gRPC statuses.
func (s *WorkerService) report(ctx context.Context, workerID uuid.UUID, req *jqv1.ReportResultRequest) (*jqv1.ReportResultResponse, error) {
	r, err := s.accept(workerID, req)
	if err != nil {
		return nil, err
	}
	var j *queue.Job
	switch {
	case s.completes(req):
		jobs, errs := s.completer.CompleteAll(ctx, []queue.Report{r}, [][]byte{req.GetResult()})
		j, err = jobs[0], errs[0]
	case req.GetSuccess():
		// Refusing the report would leave the job RUNNING with its worker done with it: the
		// outcome is recorded, as a failure for good that says why.
		msg := fmt.Sprintf("the job succeeded, but its result (%d bytes) is over grpc.max_result_bytes (%d): failed for good",
			len(req.GetResult()), s.cfg.MaxResultBytes)
		j, err = s.store.Fail(ctx, r, msg, true, s.cfg.Retry)
	case req.GetSnooze() != nil:
		j, err = s.store.Snooze(ctx, r, req.GetSnooze().AsDuration())
	default:
		msg := req.GetErrorMessage()
		if msg == "" {
			msg = "failed without a message"
		}
		// Whatever bytes the job wrote, stored as valid text (PostgreSQL refuses NUL and
		// invalid UTF-8, which would leave the job RUNNING).
		j, err = s.store.Fail(ctx, r, safetext.Clean(msg, min(maxErrorMessageBytes, s.cfg.MaxResultBytes)), req.GetPermanent(), s.cfg.Retry)
	}
	return s.answer(ctx, j, err, req)
}

// answer turns the recorded outcome of req into its response, counting it in the metrics.
func (s *WorkerService) answer(ctx context.Context, j *queue.Job, err error, req *jqv1.ReportResultRequest) (*jqv1.ReportResultResponse, error) {
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.observe(j, req)
	resp := &jqv1.ReportResultResponse{Status: jobStatusToProto[j.Status]}
	if j.Status == queue.StatusPending {
		resp.RetryAt = ts(j.NotBefore)
	}
	return resp, nil
}

// validateReport checks a report's fields and returns its job id.
func (s *WorkerService) validateReport(req *jqv1.ReportResultRequest) (uuid.UUID, error) {
	jobID, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return uuid.Nil, err
	}
	if req.GetAttempt() < 1 {
		return uuid.Nil, invalid("attempt %d: echo the attempt of the JobAssignment (1 or more)", req.GetAttempt())
	}
	if sn := req.GetSnooze(); sn != nil {
		if err := sn.CheckValid(); err != nil || sn.AsDuration() < 0 || sn.AsDuration() > maxSnooze || req.GetSuccess() {
			return uuid.Nil, invalid("snooze must be between 0 and %s, on a report that is not a success", maxSnooze)
		}
	}
	return jobID, nil
}

func (s *WorkerService) observe(j *queue.Job, req *jqv1.ReportResultRequest) {
	if s.metrics.JobTotal != nil {
		switch {
		case j.Status == queue.StatusDone:
			s.metrics.JobTotal.WithLabelValues(j.Queue, string(queue.StatusDone), queue.ReasonCompleted).Inc()
		case req.GetSnooze() != nil:
			s.metrics.JobTotal.WithLabelValues(j.Queue, string(queue.StatusPending), queue.ReasonSnoozed).Inc()
		default:
			s.metrics.JobTotal.WithLabelValues(j.Queue, string(queue.StatusFailed), queue.ReasonFailed).Inc()
			reason := queue.ReasonRetry
			switch {
			case j.Status == queue.StatusPending:
			case req.GetPermanent() || req.GetSuccess(): // a success whose result was too large
				reason = queue.ReasonPermanentFailure
			default:
				reason = queue.ReasonRetriesExhausted
			}
			s.metrics.JobTotal.WithLabelValues(j.Queue, string(j.Status), reason).Inc()
		}
	}
	if s.metrics.ProcessingDuration != nil && !j.StartedAt.IsZero() {
		s.metrics.ProcessingDuration.WithLabelValues(j.Queue).Observe(time.Since(j.StartedAt).Seconds())
	}
}

// Deregister marks the worker OFFLINE (retrying any job it still holds) and ends its stream.
func (s *WorkerService) Deregister(ctx context.Context, req *jqv1.DeregisterRequest) (*jqv1.DeregisterResponse, error) {
	id, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	// Once the row is OFFLINE a scheduler cycle may find it so and end the stream as for a
	// lost worker (register again); a worker that is leaving gets a clean end instead.
	s.mu.Lock()
	ws := s.streams[id]
	s.mu.Unlock()
	if ws != nil && ws.owner == caller(ctx).Name {
		ws.leaving.Store(true)
	}
	n, err := s.store.DeregisterWorker(ctx, id, caller(ctx).Name)
	if err != nil {
		if ws != nil {
			ws.leaving.Store(false)
		}
		return nil, toStatus(ctx, s.logger, err)
	}
	s.owners.forget(id)
	if ws != nil {
		ws.end()
	}
	s.logger.InfoContext(ctx, "worker deregistered", "worker_id", id, "jobs_retried", n)
	return &jqv1.DeregisterResponse{}, nil
}

func validateQueues(queues []string) error {
	if len(queues) == 0 {
		return invalid("queues: at least one queue is required")
	}
	for _, q := range queues {
		if err := validateQueueName("queues", q); err != nil {
			return err
		}
	}
	return nil
}

// workerStream is one worker's StreamJobs call as the registry's queue.Stream. Sends are
// serialised: gRPC streams do not allow concurrent Send.
type workerStream struct {
	stream      jqv1.WorkerService_StreamJobsServer
	incarnation string
	owner       string
	ttls        *queueTTLs
	batches     bool // the worker takes JobAssignments

	mu      sync.Mutex
	closed  bool
	goodbye chan struct{}
	ended   sync.Once
	kicked  chan error  // End's status: the handler ends with it
	leaving atomic.Bool // Deregister is under way: End ends cleanly
	// fresh until the first heartbeat on this stream, which reconciles with freshReconcileGrace.
	fresh atomic.Bool
}

var errStreamClosed = errors.New("stream closed")

// maxBatchPayload bounds the payload bytes of one JobAssignments message (a job larger than
// that goes alone), well below the 4 MiB a gRPC client receives by default.
const maxBatchPayload = 256 << 10

// Send delivers the jobs one message each, or, to a worker that accepts batches, as few
// JobAssignments messages as maxBatchPayload allows: a message costs both sides more than
// an assignment in it.
func (w *workerStream) Send(ctx context.Context, jobs []*queue.Job) (int, error) {
	sent := 0
	for sent < len(jobs) {
		n, size := 1, len(jobs[sent].Payload)
		for w.batches && sent+n < len(jobs) && size+len(jobs[sent+n].Payload) <= maxBatchPayload {
			size += len(jobs[sent+n].Payload)
			n++
		}
		var msg *jqv1.StreamJobsResponse
		if w.batches {
			batch := &jqv1.JobAssignments{Assignments: make([]*jqv1.JobAssignment, n)}
			for i, j := range jobs[sent : sent+n] {
				batch.Assignments[i] = w.assignment(ctx, j)
			}
			msg = &jqv1.StreamJobsResponse{Message: &jqv1.StreamJobsResponse_Assignments{Assignments: batch}}
		} else {
			msg = &jqv1.StreamJobsResponse{Message: &jqv1.StreamJobsResponse_Assignment{Assignment: w.assignment(ctx, jobs[sent])}}
		}
		if err := w.send(msg); err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

func (w *workerStream) assignment(ctx context.Context, j *queue.Job) *jqv1.JobAssignment {
	a := &jqv1.JobAssignment{Job: jobToProto(j), Attempt: int32(j.Attempt), AssignedAt: ts(j.AssignedAt)}
	if ttl := w.ttls.get(ctx, j.Queue); ttl > 0 {
		a.QueueTtl = durationpb.New(ttl)
	}
	return a
}

func (w *workerStream) Cancel(_ context.Context, jobID uuid.UUID, attempt int) error {
	return w.send(&jqv1.StreamJobsResponse{Message: &jqv1.StreamJobsResponse_Cancel{Cancel: &jqv1.CancelNotice{JobId: jobID.String(), Attempt: int32(attempt)}}})
}

func (w *workerStream) Drain(_ context.Context, reason string, shutdown bool) error {
	return w.send(&jqv1.StreamJobsResponse{Message: &jqv1.StreamJobsResponse_Drain{Drain: &jqv1.DrainNotice{Reason: reason, Shutdown: shutdown}}})
}

func (w *workerStream) send(msg *jqv1.StreamJobsResponse) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errStreamClosed
	}
	return w.stream.Send(msg)
}

// close forbids further sends; it waits for a send in progress.
func (w *workerStream) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// End makes the handler return: FAILED_PRECONDITION makes the worker register again, ABORTED
// makes it stop (another process took its id).
func (w *workerStream) End(how queue.EndReason, message string) {
	if how == queue.EndReregister && w.leaving.Load() {
		w.end()
		return
	}
	code := codes.FailedPrecondition
	if how == queue.EndSuperseded {
		code = codes.Aborted
	}
	select {
	case w.kicked <- status.Error(code, message):
	default:
	}
}

// end makes the handler return (deregistration, replacement by a newer stream).
func (w *workerStream) end() { w.ended.Do(func() { close(w.goodbye) }) }

// queueTTLs caches the queues' TTLs for the assignments (a worker's default timeout). It never
// holds its lock across a query: a stale cache is refreshed by one caller while the others
// use what it has, and a queue it does not know (new, or a typo in a worker's queues) makes
// it look again at most once a second, not on every assignment.
type queueTTLs struct {
	list   func(ctx context.Context) ([]*queue.Queue, error)
	maxAge time.Duration

	mu         sync.Mutex
	ttls       map[string]time.Duration
	fetched    time.Time
	refreshing bool
}

// unknownRetry is how often an unknown queue name may trigger a refresh.
const unknownRetry = time.Second

func (c *queueTTLs) get(ctx context.Context, name string) time.Duration {
	c.mu.Lock()
	ttl, known := c.ttls[name]
	age := time.Since(c.fetched)
	refresh := !c.refreshing && (age > c.maxAge || (!known && age > unknownRetry))
	if refresh {
		c.refreshing = true
	}
	c.mu.Unlock()
	if !refresh {
		return ttl
	}
	queues, err := c.list(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil {
		return ttl
	}
	c.ttls = make(map[string]time.Duration, len(queues))
	for _, q := range queues {
		c.ttls[q.Name] = q.TTL
	}
	c.fetched = time.Now()
	return c.ttls[name]
}

// workerOwners caches which credential registered each worker, for the reports of outcomes
// (many per second per worker, where a database read each would double the work). An owner
// changes only when an OFFLINE worker registers again, and a worker goes OFFLINE only after
// its jobs were taken from it, so a cached owner can at worst accept a report for a job the
// worker no longer holds, which the fencing of the attempt refuses.
type workerOwners struct {
	read func(ctx context.Context, id uuid.UUID) (*queue.Worker, error)
	ttl  time.Duration

	mu      sync.Mutex
	entries map[uuid.UUID]ownerEntry
}

type ownerEntry struct {
	owner   string
	fetched time.Time
}

// maxCachedOwners bounds the cache; past it, the cache starts over.
const maxCachedOwners = 100000

func newWorkerOwners(read func(ctx context.Context, id uuid.UUID) (*queue.Worker, error), ttl time.Duration) *workerOwners {
	return &workerOwners{read: read, ttl: ttl, entries: map[uuid.UUID]ownerEntry{}}
}

func (o *workerOwners) get(ctx context.Context, id uuid.UUID) (string, error) {
	o.mu.Lock()
	e, ok := o.entries[id]
	o.mu.Unlock()
	if ok && time.Since(e.fetched) < o.ttl {
		return e.owner, nil
	}
	w, err := o.read(ctx, id)
	if err != nil {
		return "", err
	}
	o.set(id, w.Owner)
	return w.Owner, nil
}

func (o *workerOwners) set(id uuid.UUID, owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.entries) >= maxCachedOwners {
		clear(o.entries)
	}
	o.entries[id] = ownerEntry{owner: owner, fetched: time.Now()}
}

func (o *workerOwners) forget(id uuid.UUID) {
	o.mu.Lock()
	delete(o.entries, id)
	o.mu.Unlock()
}

// maxProgressMessageBytes is the most of a progress message kept; the rest is cut.
const maxProgressMessageBytes = 1024

// ReportProgress records how far a running attempt is, at most once a second per job: a report
// that comes sooner is kept and written then (coalesced), a later one replacing it.
func (s *WorkerService) ReportProgress(ctx context.Context, req *jqv1.ReportProgressRequest) (*jqv1.ReportProgressResponse, error) {
	workerID, err := parseID("worker_id", req.GetWorkerId())
	if err != nil {
		return nil, err
	}
	jobID, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, err
	}
	if req.GetAttempt() < 1 {
		return nil, invalid("attempt %d: echo the attempt of the JobAssignment (1 or more)", req.GetAttempt())
	}
	if pct := req.GetProgress(); math.IsNaN(pct) || pct < 0 || pct > 100 {
		return nil, invalid("progress %v is not a percentage from 0 to 100", pct)
	}
	if err := s.checkOwner(ctx, workerID); err != nil {
		return nil, err
	}
	r := queue.Report{JobID: jobID, WorkerID: workerID, Attempt: int(req.GetAttempt())}
	msg := safetext.Clean(req.GetMessage(), maxProgressMessageBytes)
	coalesced := false
	if s.cfg.Progress != nil {
		coalesced, err = s.cfg.Progress.Report(ctx, r, req.GetProgress(), msg)
	} else {
		_, err = s.store.ReportProgress(ctx, r, req.GetProgress(), msg)
	}
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.ReportProgressResponse{Coalesced: coalesced}, nil
}

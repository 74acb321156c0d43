package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/util/serviceutil"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/safetext"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Config configures a Worker. Zero fields take the defaults noted.
type Config struct {
	// ServerAddr is jq-server's host:port.
	ServerAddr string
	// Creds enables TLS (see client.TLS); nil is plaintext.
	Creds credentials.TransportCredentials
	// Token is the API key (role worker) the worker presents; the server binds the worker's id
	// to it.
	Token string
	// ID identifies the worker (see ResolveID); empty gives this process an id of its own.
	ID string
	// Concurrency is how many jobs run at once (default 4).
	Concurrency int
	// Queues to take jobs from (default ["default"]).
	Queues []string
	// HeartbeatInterval (default 10 s; the server may ask for shorter).
	HeartbeatInterval time.Duration
	// ShutdownGrace is how long running jobs may take once draining before they are killed
	// and reported failed, so they retry elsewhere (default 60 s).
	ShutdownGrace time.Duration
	// DefaultTimeout bounds a job that sets no timeout and whose queue has no TTL (default 30 min).
	DefaultTimeout time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
	// Metrics (optional).
	Metrics Metrics
	// ReconnectMax caps the full-jitter backoff between reconnection attempts (default 10 s;
	// never more than HeartbeatInterval, so that a worker comes back within about a heartbeat
	// of the server's return and a server restart shorter than the heartbeat timeout does not
	// cost it its jobs).
	ReconnectMax time.Duration
}

// Metrics are the worker's instruments; nil fields are skipped. Labels: worker_id, and
// outcome for JobsRun.
type Metrics struct {
	JobConcurrency        *prometheus.GaugeVec
	ConfiguredConcurrency *prometheus.GaugeVec
	JobsRun               *prometheus.CounterVec
	ExecutionDuration     *prometheus.HistogramVec
}

// Outcomes of a job run, the outcome label of Metrics.JobsRun.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeTimedOut  = "timed_out"
	OutcomeKilled    = "killed"
	OutcomeCancelled = "cancelled"
	OutcomeSnoozed   = "snoozed"
)

// outcomes lists every outcome, so that the worker's series start at zero.
var outcomes = []string{OutcomeSucceeded, OutcomeFailed, OutcomeTimedOut, OutcomeKilled, OutcomeCancelled, OutcomeSnoozed}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if len(c.Queues) == 0 {
		c.Queues = []string{"default"}
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 60 * time.Second
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = 10 * time.Second
	}
	c.ReconnectMax = min(c.ReconnectMax, c.HeartbeatInterval)
}

// Worker runs jobs for one jq-server.
type Worker struct {
	cfg         Config
	handler     Handler
	id          uuid.UUID
	name        string
	hostname    string
	incarnation string // random per process: tells the server a restart from a reconnect
	logger      *slog.Logger
	conn        *grpclib.ClientConn
	client      jqv1.WorkerServiceClient

	slots   chan struct{} // one token per running job
	running *inflight
	held    *heldJobs // running or unreported: what the heartbeat says the worker holds
	stops   *stoppers // how to stop each running attempt, for cancel notices
	active  atomic.Int64

	// jobsCtx is the parent of every job's context; cancelling it kills running jobs.
	jobsCtx    context.Context
	killJobs   context.CancelFunc
	results    chan report
	reporterWG sync.WaitGroup
	progressWG sync.WaitGroup // progress reports in flight

	draining  atomic.Bool
	drainOnce sync.Once
	drained   chan struct{} // closed when a drain begins
	ready     atomic.Bool

	superseded chan error // receives the error when another process took the worker id

	// The worker's series of Metrics, looked up once (initMetrics); nil when not configured.
	concurrency prometheus.Gauge
	runs        map[string]prometheus.Counter // by outcome
	duration    prometheus.Observer
}

// reportGrace bounds how long a stopping worker keeps trying to report outcomes to a server
// that does not answer.
const reportGrace = 30 * time.Second

// report is the outcome of one attempt, waiting to be reported.
type report struct {
	req   *jqv1.ReportResultRequest
	queue string
	// final: the report already replaces one the server refused; if the server refuses it
	// too, it is dropped (the server's sweeps retry the job) rather than retried forever.
	final bool
	// internals counts the INTERNAL errors this report met.
	internals int
}

// maxInternalErrors is how many INTERNAL answers a report may meet before it is taken for one
// the server can never accept.
const maxInternalErrors = 5

// refused is the permanent failure reported instead of an outcome the server refused as
// malformed, or could not take after maxInternalErrors tries: the job ends, saying why, rather
// than staying RUNNING while the worker retries for ever.
func refused(r report, err error) report {
	msg := safetext.Clean(fmt.Sprintf("jq-server refused this job's report (%s: %s); the job is failed for good",
		status.Code(err), status.Convert(err).Message()), maxOversizeNote/2)
	r.req = &jqv1.ReportResultRequest{WorkerId: r.req.GetWorkerId(), JobId: r.req.GetJobId(), Attempt: r.req.GetAttempt(),
		ErrorMessage: msg, Permanent: true}
	r.final, r.internals = true, 0
	return r
}

// maxOversizeNote bounds the report that replaces one too large for the server.
const maxOversizeNote = 4 << 10

// maxErrorText bounds a report's error text: the server keeps at most 64 KiB of it.
const maxErrorText = 64 << 10

// oversized is the permanent failure reported instead of an outcome the server refused as too
// large.
func oversized(r report, err error) report {
	msg := fmt.Sprintf("the job's outcome (%d bytes of output and error text) is over jq-server's message size limit: %v",
		len(r.req.GetResult())+len(r.req.GetErrorMessage()), status.Convert(err).Message())
	if len(msg) > maxOversizeNote/2 {
		msg = msg[:maxOversizeNote/2]
	}
	r.req = &jqv1.ReportResultRequest{WorkerId: r.req.GetWorkerId(), JobId: r.req.GetJobId(), Attempt: r.req.GetAttempt(),
		ErrorMessage: msg, Permanent: true}
	return r
}

// size approximates the bytes the report adds to a ReportResults request.
func (r report) size() int { return len(r.req.GetResult()) + len(r.req.GetErrorMessage()) + 64 }

// New returns a worker; Run starts it. The connection is made lazily.
func New(cfg Config, handler Handler) (*Worker, error) {
	cfg.defaults()
	if cfg.ServerAddr == "" {
		return nil, errors.New("worker: ServerAddr is required")
	}
	if handler == nil {
		return nil, errors.New("worker: a handler is required")
	}
	id, name := ResolveID(cfg.ID)
	host, _ := os.Hostname()
	conn, err := client.Dial(cfg.ServerAddr, client.Options{TLS: cfg.Creds, Token: cfg.Token})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	jobsCtx, kill := context.WithCancel(context.Background())
	w := &Worker{
		cfg: cfg, handler: handler, id: id, name: name, hostname: host, incarnation: uuid.NewString(),
		superseded: make(chan error, 1),
		logger:     cfg.Logger.With("worker_id", id.String()),
		conn:       conn, client: jqv1.NewWorkerServiceClient(conn),
		slots: make(chan struct{}, cfg.Concurrency), running: newInflight(), held: newHeldJobs(), stops: newStoppers(),
		jobsCtx: jobsCtx, killJobs: kill,
		results: make(chan report, 4*cfg.Concurrency+16),
		drained: make(chan struct{}),
	}
	if g := cfg.Metrics.ConfiguredConcurrency; g != nil {
		g.WithLabelValues(id.String()).Set(float64(cfg.Concurrency))
	}
	w.initMetrics()
	return w, nil
}

// ID is the worker's id as the server knows it.
func (w *Worker) ID() uuid.UUID { return w.id }

// Ready reports whether the worker is registered and its stream is open.
func (w *Worker) Ready() bool { return w.ready.Load() }

// Active is the number of jobs running now.
func (w *Worker) Active() int { return int(w.active.Load()) }

// Run works until ctx ends or the server drains the worker, then stops taking jobs, lets the
// running ones finish within ShutdownGrace (killing and failing the rest so they retry
// elsewhere), reports every outcome, deregisters and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	defer func() { _ = w.conn.Close() }()
	// The session outlives ctx: draining needs the server.
	sessionCtx, endSession := context.WithCancel(context.WithoutCancel(ctx))
	defer endSession()

	w.reporterWG.Add(1)
	go w.reportLoop(sessionCtx)
	sessionDone := make(chan struct{})
	go func() {
		defer close(sessionDone)
		w.connectLoop(sessionCtx)
	}()

	select {
	case err := <-w.superseded:
		// The server already retried this process's jobs; they are not ours to report.
		w.logger.Error("another process registered with this worker id; stopping", "error", err)
		endSession() // their outcomes are not ours to report any more
		w.killJobs()
		<-w.running.stop()
		close(w.results)
		w.reporterWG.Wait()
		<-sessionDone
		w.progressWG.Wait()
		return fmt.Errorf("worker id %s is in use by another process: give each worker its own id (--worker-id): %w", w.id, err)
	case <-ctx.Done():
		w.logger.Info("shutting down: finishing running jobs", "running", w.Active(), "grace", w.cfg.ShutdownGrace.String())
	case <-w.drained:
		w.logger.Info("drained by the server: finishing running jobs", "running", w.Active(), "grace", w.cfg.ShutdownGrace.String())
	}
	w.beginDrain()
	if err := w.heartbeatNow(sessionCtx); err != nil { // tell the server at once: no more jobs
		w.logger.Warn("could not tell the server this worker is draining; it learns when the stream ends", "error", err)
	}

	w.finishJobs()
	close(w.results)
	reported := make(chan struct{})
	go func() { w.reporterWG.Wait(); close(reported) }()
	select {
	case <-reported: // every outcome reported (or refused as stale)
	case <-time.After(reportGrace):
		w.logger.Error("jq-server unreachable: giving up on reporting; the unreported jobs will be retried after the server notices this worker is gone",
			"waited", reportGrace.String())
		endSession()
		<-reported
	}

	dctx, cancel := context.WithTimeout(sessionCtx, 5*time.Second)
	_, err := w.client.Deregister(dctx, &jqv1.DeregisterRequest{WorkerId: w.id.String()})
	cancel()
	if err != nil {
		w.logger.Warn("deregister failed; the server will notice the worker is gone", "error", err)
	}
	endSession()
	<-sessionDone
	w.killJobs()
	w.progressWG.Wait()
	w.logger.Info("worker stopped")
	return nil
}

// finishJobs lets the running jobs end within ShutdownGrace and kills what is left then. Jobs
// the server sent before it learnt of the drain still run; once the worker is idle it takes no
// more, so when finishJobs returns no job will write to results again.
func (w *Worker) finishJobs() {
	grace := time.NewTimer(w.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-w.running.idle():
		select {
		case <-w.running.stop(): // nothing arrived in between, or it ended within the grace
			return
		case <-grace.C:
		}
	case <-grace.C:
	}
	w.logger.Warn("grace period over: killing running jobs; they will be retried elsewhere", "running", w.Active())
	w.killJobs()
	<-w.running.stop()
}

func (w *Worker) beginDrain() {
	w.drainOnce.Do(func() {
		w.draining.Store(true)
		close(w.drained)
	})
}

// connectLoop registers, streams, and reconnects with full-jitter backoff until ctx ends.
func (w *Worker) connectLoop(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		streamed, err := w.session(ctx)
		w.ready.Store(false)
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.Aborted {
			w.superseded <- err
			return
		}
		if streamed {
			attempt = 0
		}
		attempt++
		delay := fullJitter(attempt, w.cfg.ReconnectMax)
		w.logger.Warn("disconnected from jq-server; reconnecting", "error", err, "in", delay.Round(time.Millisecond).String())
		serviceutil.CancellableSleep(ctx, delay)
	}
}

// fullJitter is a random delay in [0, min(cap, 100ms·2^attempt)).
func fullJitter(attempt int, maxDelay time.Duration) time.Duration {
	ceiling := min(maxDelay, 100*time.Millisecond<<min(attempt, 20))
	return time.Duration(rand.Int64N(int64(ceiling)) + 1)
}

// session is one registration and stream; it returns when the stream ends. streamed says
// whether the stream was established (for the backoff).
func (w *Worker) session(ctx context.Context) (streamed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := w.client.RegisterWorker(rctx, &jqv1.RegisterWorkerRequest{
		WorkerId: w.id.String(), Hostname: w.hostname, Concurrency: int32(w.cfg.Concurrency),
		Queues: w.cfg.Queues, Version: buildinfo.Version, Incarnation: w.incarnation,
	})
	rcancel()
	if err != nil {
		return false, fmt.Errorf("register: %w", err)
	}
	interval := w.cfg.HeartbeatInterval
	if s := resp.GetHeartbeatInterval().AsDuration(); s > 0 && s < interval {
		interval = s
	}
	free := w.cfg.Concurrency - w.Active()
	if w.draining.Load() {
		free = 0
	}
	stream, err := w.client.StreamJobs(ctx, &jqv1.StreamJobsRequest{WorkerId: w.id.String(), Queues: w.cfg.Queues,
		FreeSlots: int32(free), Running: w.stops.running(), AcceptsBatches: true})
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	if _, err := stream.Header(); err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	w.ready.Store(true)
	w.logger.Info("connected to jq-server", "server", w.cfg.ServerAddr, "name", w.name, "queues", w.cfg.Queues,
		"concurrency", w.cfg.Concurrency, "free_slots", free)
	if w.draining.Load() {
		_ = w.heartbeatNow(ctx) // the server must know after a reconnect too; the heartbeat loop repeats it
	}

	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeatLoop(ctx, interval, cancel)
	}()
	defer func() { cancel(); <-hbDone }()

	for {
		msg, err := stream.Recv()
		if err != nil {
			return true, fmt.Errorf("stream: %w", err)
		}
		switch m := msg.GetMessage().(type) {
		case *jqv1.StreamJobsResponse_Assignment:
			w.start(m.Assignment)
		case *jqv1.StreamJobsResponse_Assignments:
			for _, a := range m.Assignments.GetAssignments() {
				w.start(a)
			}
		case *jqv1.StreamJobsResponse_Drain:
			w.logger.Info("drain notice from the server", "reason", m.Drain.GetReason(), "shutdown", m.Drain.GetShutdown())
			w.beginDrain()
		case *jqv1.StreamJobsResponse_Cancel:
			w.cancel(m.Cancel)
		}
	}
}

// heartbeatLoop heartbeats every interval; after three failures in a row it ends the session
// (reconnect). A status of DRAINING starts the drain; OFFLINE means the server declared the
// worker lost: end the session and register again.
func (w *Worker) heartbeatLoop(ctx context.Context, interval time.Duration, endSession context.CancelFunc) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := w.heartbeatNow(ctx)
		switch {
		case err == nil:
			failures = 0
		case status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.NotFound:
			w.logger.Warn("the server no longer knows this worker as online; registering again", "error", err)
			endSession()
			return
		default:
			failures++
			if failures >= 3 {
				w.logger.Error("three heartbeats failed in a row; reconnecting", "error", err)
				endSession()
				return
			}
		}
	}
}

func (w *Worker) heartbeatNow(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := w.client.Heartbeat(hctx, &jqv1.HeartbeatRequest{
		WorkerId: w.id.String(), ActiveJobCount: int32(w.Active()), Draining: w.draining.Load(),
		HeldJobIds: w.held.list(), ReportsHeldJobs: true,
	})
	if err != nil {
		return err
	}
	if resp.GetStatus() == jqv1.WorkerStatus_WORKER_STATUS_DRAINING && !w.draining.Load() {
		w.logger.Info("the server says this worker is draining", "shutdown", resp.GetShutdown())
		w.beginDrain()
	}
	for _, c := range resp.GetCancel() {
		w.cancel(c)
	}
	return nil
}

// cancel stops a running attempt an operator cancelled: its handler's context ends with cause
// ErrCancelled (Exec sends SIGTERM, then SIGKILL after the grace). Its outcome is still
// reported, and refused, which frees the slot on the server.
func (w *Worker) cancel(c *jqv1.CancelNotice) {
	if w.stops.stop(c.GetJobId(), int(c.GetAttempt())) {
		w.logger.Info("job cancelled by an operator: stopping it", "job_id", c.GetJobId(), "attempt", c.GetAttempt())
	}
}

// start runs one assignment in its own goroutine.
func (w *Worker) start(a *jqv1.JobAssignment) {
	pj := a.GetJob()
	job := Job{
		ID: pj.GetJobId(), Queue: pj.GetQueueName(), Payload: pj.GetPayload(), Priority: int(pj.GetPriority()),
		Attempt: int(a.GetAttempt()), RetryCount: int(pj.GetRetryCount()), MaxRetries: int(pj.GetMaxRetries()),
	}
	switch {
	case payloadTimeout(job.Payload) > 0:
		job.Timeout = payloadTimeout(job.Payload)
	case a.GetQueueTtl().AsDuration() > 0:
		job.Timeout = a.GetQueueTtl().AsDuration()
	default:
		job.Timeout = w.cfg.DefaultTimeout
	}
	if !w.running.add() {
		// The worker has stopped and reported its last outcome; Deregister hands this job
		// back to the server, which retries it elsewhere.
		w.logger.Warn("job arrived after the worker stopped taking jobs; the server retries it elsewhere",
			"job_id", job.ID, "attempt", job.Attempt)
		return
	}
	w.held.add(job.ID)
	w.slots <- struct{}{} // the server never sends more than the free slots; this only guards
	w.setActive(w.active.Add(1))
	go func() {
		defer w.running.done()
		defer func() { <-w.slots; w.setActive(w.active.Add(-1)) }()
		w.results <- w.execute(job)
	}()
}

// initMetrics creates the worker's series at zero, so that its /metrics holds them before
// the first job: a dashboard shows 0 rather than "No data", and rate() counts the first job.
// It keeps them, so that a job does not look its series up by label.
func (w *Worker) initMetrics() {
	id := w.id.String()
	if g := w.cfg.Metrics.JobConcurrency; g != nil {
		w.concurrency = g.WithLabelValues(id)
	}
	w.setActive(0)
	if c := w.cfg.Metrics.JobsRun; c != nil {
		w.runs = make(map[string]prometheus.Counter, len(outcomes))
		for _, o := range outcomes {
			w.runs[o] = c.WithLabelValues(id, o)
		}
	}
	if h := w.cfg.Metrics.ExecutionDuration; h != nil {
		w.duration = h.WithLabelValues(id)
	}
}

func (w *Worker) setActive(n int64) {
	if w.concurrency != nil {
		w.concurrency.Set(float64(n))
	}
}

// execute runs a job with its timeout and turns the outcome into a report.
func (w *Worker) execute(job Job) report {
	stopCtx, stop := context.WithCancelCause(w.jobsCtx)
	defer stop(nil)
	defer w.stops.add(job.ID, job.Attempt, stop)()
	progress := w.newProgressReporter(job)
	defer progress.close()
	ctx, cancel := context.WithTimeout(WithProgress(stopCtx, progress.report), job.Timeout)
	defer cancel()
	start := time.Now()
	result, err := w.safeHandle(ctx, job)
	elapsed := time.Since(start)

	req := &jqv1.ReportResultRequest{WorkerId: w.id.String(), JobId: job.ID, Attempt: int32(job.Attempt)}
	outcome := OutcomeSucceeded
	delay, snooze := SnoozeDelay(err)
	switch {
	case err == nil:
		req.Success, req.Result = true, result
	case snooze && ctx.Err() == nil:
		req.Snooze, outcome = durationpb.New(delay), OutcomeSnoozed
	default:
		msg := err.Error()
		req.Permanent = IsPermanent(err)
		outcome = OutcomeFailed
		switch {
		case errors.Is(context.Cause(ctx), ErrCancelled):
			// The server already ended the attempt; this report is refused, and frees the slot.
			outcome = OutcomeCancelled
			msg = "cancelled by an operator (" + msg + ")"
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			outcome = OutcomeTimedOut
		case w.jobsCtx.Err() != nil:
			outcome = OutcomeKilled
			msg = "killed: the worker shut down before the job finished (" + msg + ")"
		}
		// Whatever bytes the job wrote: a protobuf string must be valid UTF-8, or the report
		// could never be sent.
		req.ErrorMessage = safetext.Clean(msg, maxErrorText)
	}
	if c := w.runs[outcome]; c != nil {
		c.Inc()
	}
	if w.duration != nil {
		w.duration.Observe(elapsed.Seconds())
	}
	level := slog.LevelInfo
	if outcome != OutcomeSucceeded && outcome != OutcomeSnoozed {
		level = slog.LevelWarn
	}
	w.logger.Log(ctx, level, "job finished", "job_id", job.ID, "queue", job.Queue, "attempt", job.Attempt,
		"outcome", outcome, "duration_ms", elapsed.Milliseconds(), "error", req.GetErrorMessage())
	return report{req: req, queue: job.Queue}
}

func (w *Worker) safeHandle(ctx context.Context, job Job) (result []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return w.handler.Handle(ctx, job)
}

// Reports go out in batches (ReportResults): a reporter takes every outcome queued, up to
// maxReportBatch outcomes or reportBatchBytes of output, and sends them in one call. A few
// reporters run at once, so that a batch forms while the previous one waits for the server
// (which completes the batches of all its workers together in one statement).
const (
	reporters        = 4
	maxReportBatch   = 500
	reportBatchBytes = 1 << 20
)

// reportLoop reports outcomes. A report the server cannot take now (it is down, the worker is
// reconnecting) is retried until it goes through; one the server refuses (the attempt went
// stale: the job was given to another worker) is dropped with a warning.
func (w *Worker) reportLoop(ctx context.Context) {
	defer w.reporterWG.Done()
	var wg sync.WaitGroup
	for range reporters {
		wg.Go(func() {
			var carry *report
			for {
				batch, next, open := w.takeBatch(carry)
				if len(batch) > 0 {
					w.deliverBatch(ctx, batch)
				}
				carry = next
				if !open && carry == nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// takeBatch starts from carry, or waits for an outcome, and adds what else is queued within
// the batch limits. An outcome over the byte budget comes back as next, to start the next
// batch. open is false once the results channel is closed and drained.
func (w *Worker) takeBatch(carry *report) (batch []report, next *report, open bool) {
	if carry != nil {
		batch = append(batch, *carry)
	} else {
		r, ok := <-w.results
		if !ok {
			return nil, nil, false
		}
		batch = append(batch, r)
	}
	size := batch[0].size()
	for len(batch) < maxReportBatch {
		select {
		case r, ok := <-w.results:
			if !ok {
				return batch, nil, false
			}
			if size += r.size(); size > reportBatchBytes {
				return batch, &r, true
			}
			batch = append(batch, r)
		default:
			return batch, nil, true
		}
	}
	return batch, nil, true
}

// deliverBatch reports a batch, retrying the outcomes the server could not take now.
func (w *Worker) deliverBatch(ctx context.Context, batch []report) {
	pending := batch
	for attempt := 1; len(pending) > 0 && ctx.Err() == nil; attempt++ {
		req := &jqv1.ReportResultsRequest{WorkerId: w.id.String(), Results: make([]*jqv1.ReportResultRequest, len(pending))}
		for i, r := range pending {
			req.Results[i] = r.req
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := w.client.ReportResults(rctx, req)
		cancel()
		switch status.Code(err) {
		case codes.Unimplemented, // a server older than ReportResults
			codes.InvalidArgument, codes.ResourceExhausted, // the call as a whole was refused (too large?)
			codes.Internal: // one of them cannot be encoded, or the server failed on one
			// One by one, each outcome gets its own answer.
			for _, r := range pending {
				w.deliver(ctx, r)
			}
			return
		}
		var retry []report
		switch {
		case err != nil:
			retry = pending
		case len(resp.GetOutcomes()) != len(pending):
			err = fmt.Errorf("the server answered %d outcomes for %d results", len(resp.GetOutcomes()), len(pending))
			retry = pending
		default:
			for i, o := range resp.GetOutcomes() {
				oerr := status.Error(codes.Code(o.GetCode()), o.GetMessage())
				if next, again := w.settle(pending[i], oerr); again {
					err = oerr
					retry = append(retry, next)
				}
			}
		}
		if len(retry) == 0 {
			return
		}
		pending = retry
		delay := fullJitter(attempt, w.cfg.ReconnectMax)
		w.logger.Warn("could not report results; retrying", "results", len(pending), "error", err,
			"in", delay.Round(time.Millisecond).String())
		serviceutil.CancellableSleep(ctx, delay)
	}
}

// settle decides what becomes of a report the server answered err: done (OK, or refused for
// good), or to be sent again as next. A report is never retried for ever for a reason that
// retrying cannot fix: one the server refuses as malformed, or keeps failing on, is replaced
// by a permanent failure of the job saying why, and dropped if that is refused too.
func (w *Worker) settle(r report, err error) (next report, again bool) {
	code := status.Code(err)
	switch {
	case code == codes.OK:
	case code == codes.FailedPrecondition || code == codes.NotFound:
		w.logger.Warn("result refused; the attempt is no longer current", "job_id", r.req.GetJobId(),
			"attempt", r.req.GetAttempt(), "error", status.Convert(err).Message())
	case code == codes.PermissionDenied || code == codes.Unauthenticated:
		w.logger.Error("result refused: this worker's credential may not report it; the server retries the job once it notices",
			"job_id", r.req.GetJobId(), "error", status.Convert(err).Message())
	case code == codes.InvalidArgument, code == codes.Internal && r.internals+1 >= maxInternalErrors:
		if r.final {
			w.logger.Error("the failure report was refused too; giving up on it (the server's sweeps retry the job)",
				"job_id", r.req.GetJobId(), "error", err)
			break
		}
		w.logger.Error("jq-server cannot take this result; reporting the job failed for good", "job_id", r.req.GetJobId(), "error", err)
		return refused(r, err), true
	case code == codes.Internal:
		r.internals++
		return r, true
	default:
		return r, true
	}
	w.held.remove(r.req.GetJobId())
	return r, false
}

// deliver reports one outcome through ReportResult (for servers without ReportResults).
func (w *Worker) deliver(ctx context.Context, r report) {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := w.client.ReportResult(rctx, r.req)
		cancel()
		if status.Code(err) == codes.ResourceExhausted && r.size() > maxOversizeNote {
			// The outcome can never fit the server's message limit (output caps set above it):
			// report the job failed, for good, with a message that says why.
			w.logger.Error("outcome too large for jq-server; reporting the job failed", "job_id", r.req.GetJobId(),
				"bytes", r.size(), "error", err)
			r = oversized(r, err)
			continue
		}
		next, again := w.settle(r, err)
		if !again {
			return
		}
		if next.final && !r.final {
			r = next
			continue // the replacing failure goes at once
		}
		r = next
		delay := fullJitter(attempt, w.cfg.ReconnectMax)
		w.logger.Warn("could not report a result; retrying", "job_id", r.req.GetJobId(), "error", err,
			"in", delay.Round(time.Millisecond).String())
		serviceutil.CancellableSleep(ctx, delay)
	}
}

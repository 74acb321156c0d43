package grpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/queue/queuename"
)

const (
	defaultListLimit     = 20
	maxConcurrencyKeyLen = 255
	maxCancelMany        = 10000
	maxIdempotencyKeyLen = 255
	maxUniqueKeyLen      = 255
	maxDependencies      = 1000
)

// JobStore is what JobService needs from the database.
type JobStore interface {
	Submit(ctx context.Context, p queue.SubmitParams) (queue.SubmitResult, error)
	Cancel(ctx context.Context, jobID uuid.UUID, actor string) (*queue.Job, error)
	GetJob(ctx context.Context, jobID uuid.UUID) (*queue.Job, error)
	ListJobs(ctx context.Context, p queue.ListJobsParams) ([]*queue.Job, error)
	JobEvents(ctx context.Context, jobID uuid.UUID) ([]*queue.Event, error)
	Retry(ctx context.Context, jobID uuid.UUID, actor string) (*queue.Job, error)
	SubmitAll(ctx context.Context, ps []queue.SubmitParams) ([]queue.SubmitResult, error)
	CancelMany(ctx context.Context, queue string, status queue.JobStatus, actor string, maxRows int, dryRun bool) (map[string]int, error)
	JobDependencies(ctx context.Context, jobID uuid.UUID) ([]uuid.UUID, error)
	SubmitWorkflow(ctx context.Context, name string, nodes []queue.WorkflowNode, actor string) (uuid.UUID, []queue.WorkflowJobRef, error)
	GetWorkflow(ctx context.Context, id uuid.UUID) (*queue.Workflow, error)
}

var _ JobStore = (*queue.Store)(nil)

// JobService implements jq.v1.JobService.
type JobService struct {
	jqv1.UnimplementedJobServiceServer

	store  JobStore
	logger *slog.Logger
	cfg    JobServiceConfig
}

// JobServiceConfig tunes the JobService.
type JobServiceConfig struct {
	// MaxPayloadBytes is the largest payload accepted.
	MaxPayloadBytes int
	// MaxPageSize is the largest page ListJobs returns (grpc.max_page_size).
	MaxPageSize int
	// Announce, when set, is told the queue of each runnable job submitted, after its commit,
	// and wakes the schedulers (queue.Announcer); the submit itself then sends no NOTIFY.
	Announce func(queue string)
	// Submit, when set, inserts the jobs instead of the store's Submit (queue.Inserter, which
	// batches concurrent submits into one commit).
	Submit func(ctx context.Context, p queue.SubmitParams) (queue.SubmitResult, error)
	// JobTotal (jq_job_total{queue,status,reason}), when set, counts the jobs cancelled.
	JobTotal *prometheus.CounterVec
}

// NewJobService returns the JobService.
func NewJobService(store JobStore, logger *slog.Logger, cfg JobServiceConfig) *JobService {
	if cfg.Submit == nil {
		cfg.Submit = store.Submit
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 1000
	}
	return &JobService{store: store, logger: logger, cfg: cfg}
}

// SubmitJob validates and enqueues a job.
func (s *JobService) SubmitJob(ctx context.Context, req *jqv1.SubmitJobRequest) (*jqv1.SubmitJobResponse, error) {
	p, err := s.submitParams(ctx, req)
	if err != nil {
		return nil, err
	}
	submit := s.cfg.Submit
	if p.UniqueKey != "" || len(p.DependsOn) > 0 {
		// They take locks (the key's, the parents' rows) until commit: alone, not in a batch
		// whose other jobs could take the same locks in another order.
		submit = s.store.Submit
	}
	res, err := submit(ctx, p)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.announce(p, res)
	return &jqv1.SubmitJobResponse{JobId: res.ID.String(), Deduplicated: !res.Inserted}, nil
}

// maxSubmitJobs bounds a SubmitJobs call (jq.enqueue_many's limit).
const maxSubmitJobs = 10000

// SubmitJobs validates and enqueues many jobs in one transaction: all or none.
func (s *JobService) SubmitJobs(ctx context.Context, req *jqv1.SubmitJobsRequest) (*jqv1.SubmitJobsResponse, error) {
	n := len(req.GetJobs())
	if n == 0 || n > maxSubmitJobs {
		return nil, invalid("jobs lists %d jobs; want 1 to %d", n, maxSubmitJobs)
	}
	ps := make([]queue.SubmitParams, n)
	for i, r := range req.GetJobs() {
		p, err := s.submitParams(ctx, r)
		if err == nil && (p.UniqueKey != "" || len(p.DependsOn) > 0) {
			err = invalid("unique keys and dependencies are for SubmitJob and SubmitWorkflow, not SubmitJobs")
		}
		if err != nil {
			st := status.Convert(err)
			return nil, status.Errorf(st.Code(), "jobs[%d]: %s", i, st.Message())
		}
		if p.ID == uuid.Nil {
			// Ids made here, not by jq.uuid_v7 in the insert: 12 of the 44 ms PostgreSQL
			// spent on a batch of 1,000 went to that function.
			p.ID = uuid.Must(uuid.NewV7())
		}
		ps[i] = p
	}
	results, err := s.store.SubmitAll(ctx, ps)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.SubmitJobsResponse{Results: make([]*jqv1.SubmitJobResponse, n)}
	for i, res := range results {
		s.announce(ps[i], res)
		resp.Results[i] = &jqv1.SubmitJobResponse{JobId: res.ID.String(), Deduplicated: !res.Inserted}
	}
	return resp, nil
}

// announce wakes the schedulers for a job that is runnable now, after its commit.
func (s *JobService) announce(p queue.SubmitParams, res queue.SubmitResult) {
	if s.cfg.Announce != nil && res.Inserted && !p.NotBefore.After(time.Now()) {
		s.cfg.Announce(p.Queue)
	}
}

// submitParams checks a submit request, and the caller's right to its queue.
func (s *JobService) submitParams(ctx context.Context, req *jqv1.SubmitJobRequest) (queue.SubmitParams, error) {
	var p queue.SubmitParams
	if err := validateQueueName("queue_name", req.GetQueueName()); err != nil {
		return p, err
	}
	if !caller(ctx).MayUse(req.GetQueueName()) {
		return p, caller(ctx).queueDenied(req.GetQueueName())
	}
	if prio := req.GetPriority(); prio < 0 || prio > 9 {
		return p, invalid("priority %d is outside 0-9", prio)
	}
	payload := req.GetPayload()
	switch {
	case len(payload) == 0:
		return p, invalid("payload is required (a JSON document)")
	case len(payload) > s.cfg.MaxPayloadBytes:
		return p, invalid("payload is %d bytes, over the limit of %d (grpc.max_payload_bytes)", len(payload), s.cfg.MaxPayloadBytes)
	case !json.Valid(payload):
		return p, invalid("payload is not valid JSON")
	}
	p = queue.SubmitParams{
		Queue:          req.GetQueueName(),
		Payload:        payload,
		Priority:       int(req.GetPriority()),
		IdempotencyKey: req.GetIdempotencyKey(),
		SkipNotify:     s.cfg.Announce != nil,
	}
	if req.MaxRetries != nil {
		n := int(req.GetMaxRetries())
		if n < 0 || n > 1000 {
			return p, invalid("max_retries %d is outside 0-1000", n)
		}
		p.MaxRetries = &n
	}
	if len(p.IdempotencyKey) > maxIdempotencyKeyLen {
		return p, invalid("idempotency_key is %d bytes, over the limit of %d", len(p.IdempotencyKey), maxIdempotencyKeyLen)
	}
	if p.ConcurrencyKey = req.GetConcurrencyKey(); len(p.ConcurrencyKey) > maxConcurrencyKeyLen || strings.ContainsRune(p.ConcurrencyKey, 0) {
		return p, invalid("concurrency_key must be at most %d bytes, without NUL", maxConcurrencyKeyLen)
	}
	if nb := req.GetNotBefore(); nb != nil {
		if err := nb.CheckValid(); err != nil {
			return p, invalid("not_before: %v", err)
		}
		p.NotBefore = nb.AsTime()
	}
	if err := s.uniqueParams(req, &p); err != nil {
		return p, err
	}
	if err := s.dependencyParams(ctx, req, &p); err != nil {
		return p, err
	}
	return p, nil
}

// uniqueParams reads the unique key, window and statuses of a submit.
func (s *JobService) uniqueParams(req *jqv1.SubmitJobRequest, p *queue.SubmitParams) error {
	if p.UniqueKey = req.GetUniqueKey(); len(p.UniqueKey) > maxUniqueKeyLen || strings.ContainsRune(p.UniqueKey, 0) {
		return invalid("unique_key must be at most %d bytes, without NUL", maxUniqueKeyLen)
	}
	if w := req.GetUniqueWindow(); w != nil {
		if err := w.CheckValid(); err != nil || w.AsDuration() <= 0 {
			return invalid("unique_window must be a positive duration (unset: no window)")
		}
		p.UniqueWindow = w.AsDuration()
	}
	for _, st := range req.GetUniqueStatuses() {
		status, ok := jobStatusFromProto(st)
		if !ok || status == "" {
			return invalid("unique_statuses: %d is not a job status", st)
		}
		p.UniqueStatuses = append(p.UniqueStatuses, status)
	}
	if p.UniqueKey == "" && (p.UniqueWindow != 0 || len(p.UniqueStatuses) > 0) {
		return invalid("unique_window and unique_statuses need a unique_key")
	}
	return nil
}

// dependencyParams reads the jobs a submit depends on. A caller limited to some queues may
// depend only on jobs of those.
func (s *JobService) dependencyParams(ctx context.Context, req *jqv1.SubmitJobRequest, p *queue.SubmitParams) error {
	policy, ok := dependencyFailureFromProto(req.GetOnDependencyFailure())
	if !ok {
		return invalid("on_dependency_failure %d is not a policy", req.GetOnDependencyFailure())
	}
	p.OnDependencyFailure = policy
	if len(req.GetDependsOn()) > maxDependencies {
		return invalid("depends_on lists %d jobs; at most %d", len(req.GetDependsOn()), maxDependencies)
	}
	for _, d := range req.GetDependsOn() {
		id, err := parseID("depends_on", d)
		if err != nil {
			return err
		}
		if err := s.checkJobQueue(ctx, id); err != nil {
			return err
		}
		p.DependsOn = append(p.DependsOn, id)
	}
	return nil
}

// CancelJob cancels an unfinished job (CANCELLED); a running one's worker is told to stop it.
func (s *JobService) CancelJob(ctx context.Context, req *jqv1.CancelJobRequest) (*jqv1.CancelJobResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, err
	}
	if err := s.checkJobQueue(ctx, id); err != nil {
		return nil, err
	}
	j, err := s.store.Cancel(ctx, id, caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	s.countCancelled(j.Queue, 1)
	return &jqv1.CancelJobResponse{Job: jobForCaller(ctx, j)}, nil
}

// CancelJobs cancels the unfinished jobs of a queue and status, or counts them (dry_run).
func (s *JobService) CancelJobs(ctx context.Context, req *jqv1.CancelJobsRequest) (*jqv1.CancelJobsResponse, error) {
	if q := req.GetQueueName(); q != "" {
		if err := validateQueueName("queue_name", q); err != nil {
			return nil, err
		}
	}
	p := caller(ctx)
	if !p.MayUse(req.GetQueueName()) {
		if req.GetQueueName() == "" {
			return nil, p.queueRequired()
		}
		return nil, p.queueDenied(req.GetQueueName())
	}
	status, ok := jobStatusFromProto(req.GetStatus())
	if !ok {
		return nil, invalid("status %d is not a job status", req.GetStatus())
	}
	limit := int(req.GetLimit())
	switch {
	case limit < 0 || limit > maxCancelMany:
		return nil, invalid("limit %d is outside 0-%d", limit, maxCancelMany)
	case limit == 0:
		limit = maxCancelMany
	}
	counts, err := s.store.CancelMany(ctx, req.GetQueueName(), status, p.Name, limit, req.GetDryRun())
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	var n int64
	for q, c := range counts {
		n += int64(c)
		if !req.GetDryRun() {
			s.countCancelled(q, c)
		}
	}
	return &jqv1.CancelJobsResponse{Count: n}, nil
}

func (s *JobService) countCancelled(queueName string, n int) {
	if s.cfg.JobTotal != nil && n > 0 {
		s.cfg.JobTotal.WithLabelValues(queueName, string(queue.StatusCancelled), queue.ReasonCancelled).Add(float64(n))
	}
}

// GetJobStatus returns one job.
func (s *JobService) GetJobStatus(ctx context.Context, req *jqv1.GetJobStatusRequest) (*jqv1.GetJobStatusResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, err
	}
	j, err := s.store.GetJob(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	if p := caller(ctx); !p.MayUse(j.Queue) {
		return nil, p.queueDenied(j.Queue)
	}
	deps, err := s.store.JobDependencies(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	pj := jobForCaller(ctx, j)
	for _, d := range deps {
		pj.DependsOn = append(pj.DependsOn, d.String())
	}
	return &jqv1.GetJobStatusResponse{Job: pj}, nil
}

// ListJobs lists jobs newest first, a page at a time.
func (s *JobService) ListJobs(ctx context.Context, req *jqv1.ListJobsRequest) (*jqv1.ListJobsResponse, error) {
	limit := int(req.GetLimit())
	switch {
	case limit < 0:
		return nil, invalid("limit %d is negative", limit)
	case limit == 0:
		limit = defaultListLimit
	case limit > s.cfg.MaxPageSize:
		return nil, invalid("limit %d is over the largest page, %d (grpc.max_page_size)", limit, s.cfg.MaxPageSize)
	}
	status, ok := jobStatusFromProto(req.GetStatus())
	if !ok {
		return nil, invalid("status %d is not a job status", req.GetStatus())
	}
	if q := req.GetQueueName(); q != "" {
		if err := validateQueueName("queue_name", q); err != nil {
			return nil, err
		}
	}
	if p := caller(ctx); !p.MayUse(req.GetQueueName()) {
		if req.GetQueueName() == "" {
			return nil, p.queueRequired()
		}
		return nil, p.queueDenied(req.GetQueueName())
	}
	p := queue.ListJobsParams{Queue: req.GetQueueName(), Status: status, Limit: limit + 1}
	if tok := req.GetPageToken(); tok != "" {
		cursor, err := decodePageToken(tok)
		if err != nil {
			return nil, err
		}
		p.After = cursor
	}
	jobs, err := s.store.ListJobs(ctx, p)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &jqv1.ListJobsResponse{}
	if len(jobs) > limit {
		jobs = jobs[:limit]
		last := jobs[len(jobs)-1]
		resp.NextPageToken = encodePageToken(queue.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobForCaller(ctx, j))
	}
	return resp, nil
}

// GetJobLogs returns a job's transitions, oldest first.
func (s *JobService) GetJobLogs(ctx context.Context, req *jqv1.GetJobLogsRequest) (*jqv1.GetJobLogsResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, err
	}
	events, err := s.store.JobEvents(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	p := caller(ctx)
	if len(events) > 0 && !p.MayUse(events[0].Queue) {
		return nil, p.queueDenied(events[0].Queue)
	}
	resp := &jqv1.GetJobLogsResponse{}
	for _, e := range events {
		pe := eventToProto(e)
		if !p.seesFencing() {
			pe.WorkerId, pe.Attempt = "", 0
		}
		resp.Events = append(resp.Events, pe)
	}
	return resp, nil
}

// RetryJob makes a FAILED or DEAD_LETTERED job PENDING again.
func (s *JobService) RetryJob(ctx context.Context, req *jqv1.RetryJobRequest) (*jqv1.RetryJobResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, err
	}
	if err := s.checkJobQueue(ctx, id); err != nil {
		return nil, err
	}
	j, err := s.store.Retry(ctx, id, caller(ctx).Name)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &jqv1.RetryJobResponse{Job: jobForCaller(ctx, j)}, nil
}

// checkJobQueue refuses a caller limited to some queues an action on a job of another queue.
// Callers free to use every queue pay no extra read.
func (s *JobService) checkJobQueue(ctx context.Context, id uuid.UUID) error {
	p := caller(ctx)
	if !p.scoped() {
		return nil
	}
	j, err := s.store.GetJob(ctx, id)
	if err != nil {
		return toStatus(ctx, s.logger, err)
	}
	if !p.MayUse(j.Queue) {
		return p.queueDenied(j.Queue)
	}
	return nil
}

// jobForCaller is the job as the caller may see it: without the worker id and attempt (the
// running attempt's fencing token) for submitters and readers.
func jobForCaller(ctx context.Context, j *queue.Job) *jqv1.Job {
	pj := jobToProto(j)
	if !caller(ctx).seesFencing() {
		pj.WorkerId, pj.Attempt = "", 0
	}
	return pj
}

func validateQueueName(field, name string) error {
	if name == "" {
		return invalid("%s is required", field)
	}
	if !queuename.Valid(name) {
		return invalid("%s %q is invalid: use %s", field, name, queuename.Rule)
	}
	return nil
}

// Page tokens are opaque to clients: base64url("<created_at unix ns>:<job id>").
func encodePageToken(c queue.JobCursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%s", c.CreatedAt.UnixNano(), c.ID))
}

func decodePageToken(tok string) (*queue.JobCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, invalid("page_token is malformed")
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	var nanos int64
	if _, err := fmt.Sscanf(ns, "%d", &nanos); !ok || err != nil {
		return nil, invalid("page_token is malformed")
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, invalid("page_token is malformed")
	}
	return &queue.JobCursor{CreatedAt: time.Unix(0, nanos), ID: uid}, nil
}

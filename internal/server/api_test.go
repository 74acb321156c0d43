package server_test

import (
	"context"
	"encoding/json"

	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

func TestJobService(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("SubmitAndGet", func(t *testing.T) {
		at := time.Now().Add(time.Hour)
		resp, err := b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{
			QueueName: "default", Payload: []byte(`{"command": ["echo", "hi"]}`), Priority: 4,
			MaxRetries: proto.Int32(7), NotBefore: timestamppb.New(at), IdempotencyKey: "k1",
		})
		require.NoError(t, err)
		require.False(t, resp.GetDeduplicated())
		j := b.job(t, resp.GetJobId())
		require.Equal(t, jqv1.JobStatus_JOB_STATUS_PENDING, j.GetStatus())
		require.Equal(t, int32(4), j.GetPriority())
		require.Equal(t, int32(7), j.GetMaxRetries())
		require.WithinDuration(t, at, j.GetNotBefore().AsTime(), time.Millisecond)
		require.JSONEq(t, `{"command": ["echo", "hi"]}`, string(j.GetPayload()))

		again, err := b.jobs.SubmitJob(b.ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), IdempotencyKey: "k1"})
		require.NoError(t, err)
		require.True(t, again.GetDeduplicated())
		require.Equal(t, resp.GetJobId(), again.GetJobId())
	})

	t.Run("SubmitJobs", func(t *testing.T) {
		job := func(key string, prio int32) *jqv1.SubmitJobRequest {
			return &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"n": 1}`), Priority: prio, IdempotencyKey: key}
		}
		resp, err := b.jobs.SubmitJobs(b.ctx, &jqv1.SubmitJobsRequest{Jobs: []*jqv1.SubmitJobRequest{
			job("", 1), job("batch-a", 2), job("batch-a", 3), job("", 4),
		}})
		require.NoError(t, err)
		r := resp.GetResults()
		require.Len(t, r, 4)
		require.Equal(t, int32(1), b.job(t, r[0].GetJobId()).GetPriority(), "answers in the order of the jobs")
		require.Equal(t, int32(4), b.job(t, r[3].GetJobId()).GetPriority())
		require.Equal(t, r[1].GetJobId(), r[2].GetJobId(), "one key, one job")
		require.True(t, r[2].GetDeduplicated())
		require.False(t, r[1].GetDeduplicated())

		before := len(b.list(t, "default"))
		_, err = b.jobs.SubmitJobs(b.ctx, &jqv1.SubmitJobsRequest{Jobs: []*jqv1.SubmitJobRequest{job("", 0), job("", 11)}})
		requireCode(t, err, codes.InvalidArgument)
		require.Contains(t, status.Convert(err).Message(), "jobs[1]: priority 11 is outside 0-9")
		_, err = b.jobs.SubmitJobs(b.ctx, &jqv1.SubmitJobsRequest{Jobs: []*jqv1.SubmitJobRequest{job("", 0), {QueueName: "nope", Payload: []byte(`{}`)}}})
		requireCode(t, err, codes.NotFound)
		require.Len(t, b.list(t, "default"), before, "a refused batch inserts nothing")
		_, err = b.jobs.SubmitJobs(b.ctx, &jqv1.SubmitJobsRequest{})
		requireCode(t, err, codes.InvalidArgument)
	})

	t.Run("SubmitRefused", func(t *testing.T) {
		big := []byte(`"` + strings.Repeat("x", b.cfg.GRPC.MaxPayloadBytes) + `"`)
		for name, tc := range map[string]struct {
			req  *jqv1.SubmitJobRequest
			code codes.Code
		}{
			"EmptyQueue":      {&jqv1.SubmitJobRequest{Payload: []byte(`{}`)}, codes.InvalidArgument},
			"BadQueueName":    {&jqv1.SubmitJobRequest{QueueName: "no spaces", Payload: []byte(`{}`)}, codes.InvalidArgument},
			"UnknownQueue":    {&jqv1.SubmitJobRequest{QueueName: "nope", Payload: []byte(`{}`)}, codes.NotFound},
			"Priority":        {&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), Priority: 10}, codes.InvalidArgument},
			"NegativePrio":    {&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), Priority: -1}, codes.InvalidArgument},
			"NoPayload":       {&jqv1.SubmitJobRequest{QueueName: "default"}, codes.InvalidArgument},
			"NotJSON":         {&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{`)}, codes.InvalidArgument},
			"TooBig":          {&jqv1.SubmitJobRequest{QueueName: "default", Payload: big}, codes.InvalidArgument},
			"MaxRetries":      {&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), MaxRetries: proto.Int32(-1)}, codes.InvalidArgument},
			"NulInJSON":       {&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"a":"\u0000"}`)}, codes.InvalidArgument},
			"IdempotencyLong": {&jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), IdempotencyKey: strings.Repeat("k", 300)}, codes.InvalidArgument},
		} {
			_, err := b.jobs.SubmitJob(b.ctx, tc.req)
			requireCode(t, err, tc.code)
			_ = name
		}
	})

	t.Run("MalformedAndUnknownIDs", func(t *testing.T) {
		_, err := b.jobs.GetJobStatus(b.ctx, &jqv1.GetJobStatusRequest{JobId: "nope"})
		requireCode(t, err, codes.InvalidArgument)
		_, err = b.jobs.GetJobStatus(b.ctx, &jqv1.GetJobStatusRequest{})
		requireCode(t, err, codes.InvalidArgument)
		missing := "0191e3a0-0000-7000-8000-000000000000"
		_, err = b.jobs.GetJobStatus(b.ctx, &jqv1.GetJobStatusRequest{JobId: missing})
		requireCode(t, err, codes.NotFound)
		require.ErrorContains(t, err, missing)
		_, err = b.jobs.CancelJob(b.ctx, &jqv1.CancelJobRequest{JobId: missing})
		requireCode(t, err, codes.NotFound)
		_, err = b.jobs.RetryJob(b.ctx, &jqv1.RetryJobRequest{JobId: missing})
		requireCode(t, err, codes.NotFound)
		_, err = b.jobs.GetJobLogs(b.ctx, &jqv1.GetJobLogsRequest{JobId: missing})
		requireCode(t, err, codes.NotFound)
	})

	t.Run("CancelAndRetryPreconditions", func(t *testing.T) {
		id := b.submit(t, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), NotBefore: timestamppb.New(time.Now().Add(time.Hour))})
		_, err := b.jobs.RetryJob(b.ctx, &jqv1.RetryJobRequest{JobId: id})
		requireCode(t, err, codes.FailedPrecondition)
		c, err := b.jobs.CancelJob(b.ctx, &jqv1.CancelJobRequest{JobId: id})
		require.NoError(t, err)
		require.Equal(t, jqv1.JobStatus_JOB_STATUS_CANCELLED, c.GetJob().GetStatus())
		_, err = b.jobs.CancelJob(b.ctx, &jqv1.CancelJobRequest{JobId: id})
		requireCode(t, err, codes.FailedPrecondition)
		r, err := b.jobs.RetryJob(b.ctx, &jqv1.RetryJobRequest{JobId: id})
		require.NoError(t, err)
		require.Equal(t, jqv1.JobStatus_JOB_STATUS_PENDING, r.GetJob().GetStatus())
		logs, err := b.jobs.GetJobLogs(b.ctx, &jqv1.GetJobLogsRequest{JobId: id})
		require.NoError(t, err)
		require.Len(t, logs.GetEvents(), 3)
		require.Equal(t, "CANCELLED", logs.GetEvents()[1].GetReason())
		require.Equal(t, jqv1.JobStatus_JOB_STATUS_UNSPECIFIED, logs.GetEvents()[0].GetFromStatus())
	})

	t.Run("ListPagesAndFilters", func(t *testing.T) {
		_, err := b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: "listing"})
		require.NoError(t, err)
		var want []string
		for range 25 {
			want = append([]string{b.submit(t, &jqv1.SubmitJobRequest{QueueName: "listing", Payload: []byte(`{}`)})}, want...)
		}
		var got []string
		token := ""
		pages := 0
		for {
			resp, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{QueueName: "listing", PageToken: token})
			require.NoError(t, err)
			pages++
			for _, j := range resp.GetJobs() {
				got = append(got, j.GetJobId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		require.Equal(t, want, got)
		require.Equal(t, 2, pages, "the default limit is 20")

		big, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{Limit: 1000})
		require.NoError(t, err, "a page of grpc.max_page_size (1000 by default) is allowed")
		require.GreaterOrEqual(t, len(big.GetJobs()), 25)
		require.Empty(t, big.GetNextPageToken(), "every job fits in one page of 1000")
		_, err = b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{Limit: 1001})
		requireCode(t, err, codes.InvalidArgument)
		require.Contains(t, status.Convert(err).Message(), "over the largest page, 1000 (grpc.max_page_size)")
		done, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{QueueName: "listing", Status: jqv1.JobStatus_JOB_STATUS_DONE})
		require.NoError(t, err)
		require.Empty(t, done.GetJobs())

		_, err = b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{PageToken: "garbage!"})
		requireCode(t, err, codes.InvalidArgument)
		_, err = b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{Limit: -1})
		requireCode(t, err, codes.InvalidArgument)
		_, err = b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{Status: 42})
		requireCode(t, err, codes.InvalidArgument)
	})
}

func TestAdminService(t *testing.T) {
	t.Parallel()
	b := setup(t)

	q, err := b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: "reports", MaxRetries: proto.Int32(0), TtlSeconds: 60})
	require.NoError(t, err)
	require.Equal(t, int32(0), q.GetQueue().GetMaxRetries(), "an explicit 0 is kept")
	require.Equal(t, int32(60), q.GetQueue().GetTtlSeconds())
	dflt, err := b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: "other"})
	require.NoError(t, err)
	require.Equal(t, int32(3), dflt.GetQueue().GetMaxRetries())

	_, err = b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: "reports"})
	requireCode(t, err, codes.AlreadyExists)
	_, err = b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: ""})
	requireCode(t, err, codes.InvalidArgument)
	_, err = b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: "x", TtlSeconds: -1})
	requireCode(t, err, codes.InvalidArgument)

	list, err := b.admin.ListQueues(b.ctx, &jqv1.ListQueuesRequest{})
	require.NoError(t, err)
	require.Len(t, list.GetQueues(), 3)

	b.submit(t, &jqv1.SubmitJobRequest{QueueName: "reports", Payload: []byte(`{}`)})
	_, err = b.admin.DeleteQueue(b.ctx, &jqv1.DeleteQueueRequest{Name: "reports"})
	requireCode(t, err, codes.FailedPrecondition)
	_, err = b.admin.DeleteQueue(b.ctx, &jqv1.DeleteQueueRequest{Name: "other"})
	require.NoError(t, err)
	_, err = b.admin.DeleteQueue(b.ctx, &jqv1.DeleteQueueRequest{Name: "other"})
	requireCode(t, err, codes.NotFound)

	stats, err := b.admin.GetQueueStats(b.ctx, &jqv1.GetQueueStatsRequest{QueueName: "reports"})
	require.NoError(t, err)
	require.Len(t, stats.GetStats(), 1)
	require.Equal(t, int64(1), stats.GetStats()[0].GetPending())
	require.NotNil(t, stats.GetStats()[0].GetOldestPendingAge())
	_, err = b.admin.GetQueueStats(b.ctx, &jqv1.GetQueueStatsRequest{QueueName: "missing"})
	requireCode(t, err, codes.NotFound)

	w := newTestWorker(t, b.conn, 1, "default")
	workers, err := b.admin.ListWorkers(b.ctx, &jqv1.ListWorkersRequest{Status: jqv1.WorkerStatus_WORKER_STATUS_ONLINE})
	require.NoError(t, err)
	require.Len(t, workers.GetWorkers(), 1)
	require.Equal(t, w.id.String(), workers.GetWorkers()[0].GetWorkerId())
	require.True(t, workers.GetWorkers()[0].GetConnected())
	_, err = b.admin.DrainWorker(b.ctx, &jqv1.DrainWorkerRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000000"})
	requireCode(t, err, codes.NotFound)
	_, err = b.admin.ShutdownWorker(b.ctx, &jqv1.ShutdownWorkerRequest{WorkerId: "bad"})
	requireCode(t, err, codes.InvalidArgument)

	st, err := b.admin.GetSystemStatus(b.ctx, &jqv1.GetSystemStatusRequest{})
	require.NoError(t, err)
	byName := map[string]*jqv1.ComponentStatus{}
	for _, c := range st.GetComponents() {
		byName[c.GetName()] = c
	}
	require.True(t, byName["postgresql"].GetHealthy())
	require.NotEmpty(t, byName["postgresql"].GetVersion())
	require.False(t, byName["redis"].GetConfigured())
	require.False(t, byName["kafka"].GetConfigured())
	require.Equal(t, int32(1), st.GetOnlineWorkers())
	require.Equal(t, int64(1), st.GetPendingJobs())
	require.Eventually(t, func() bool {
		st, err := b.admin.GetSystemStatus(b.ctx, &jqv1.GetSystemStatusRequest{})
		return err == nil && st.GetLeader()
	}, 5*time.Second, 50*time.Millisecond, "a lone server leads")
}

func TestWorkerService_Validation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, tc := range map[string]struct {
		call func() error
		code codes.Code
	}{
		"RegisterBadID": {func() error {
			_, err := b.worker.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: "x", Concurrency: 1, Queues: []string{"default"}})
			return err
		}, codes.InvalidArgument},
		"RegisterNoQueues": {func() error {
			_, err := b.worker.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000001", Concurrency: 1})
			return err
		}, codes.InvalidArgument},
		"RegisterConcurrency": {func() error {
			_, err := b.worker.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000001", Queues: []string{"default"}})
			return err
		}, codes.InvalidArgument},
		"HeartbeatUnknown": {func() error {
			_, err := b.worker.Heartbeat(b.ctx, &jqv1.HeartbeatRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000002"})
			return err
		}, codes.NotFound},
		"StreamUnregistered": {func() error {
			s, err := b.worker.StreamJobs(b.ctx, &jqv1.StreamJobsRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000003", FreeSlots: 1})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.NotFound},
		"ReportBadAttempt": {func() error {
			_, err := b.worker.ReportResult(b.ctx, &jqv1.ReportResultRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000002", JobId: "0191e3a0-0000-7000-8000-000000000002"})
			return err
		}, codes.InvalidArgument},
		"ReportUnknownJob": {func() error {
			_, err := b.worker.ReportResult(b.ctx, &jqv1.ReportResultRequest{WorkerId: "0191e3a0-0000-7000-8000-000000000002", JobId: "0191e3a0-0000-7000-8000-000000000002", Attempt: 1, Success: true})
			return err
		}, codes.NotFound},
	} {
		requireCode(t, tc.call(), tc.code)
		_ = name
	}
}

func TestServer_HealthReflectionMetricsAndCorrelation(t *testing.T) {
	t.Parallel()
	b := setup(t)

	hc, err := healthpb.NewHealthClient(b.conn).Check(b.ctx, &healthpb.HealthCheckRequest{Service: "jq.v1.JobService"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hc.GetStatus())

	rs, err := reflectionpb.NewServerReflectionClient(b.conn).ServerReflectionInfo(b.ctx)
	require.NoError(t, err)
	require.NoError(t, rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	rr, err := rs.Recv()
	require.NoError(t, err)
	var services []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	require.Subset(t, services, []string{"jq.v1.JobService", "jq.v1.WorkerService", "jq.v1.AdminService", "grpc.health.v1.Health"})
	require.NoError(t, rs.CloseSend())

	var header metadata.MD
	ctx := metadata.AppendToOutgoingContext(b.ctx, "x-correlation-id", "test-corr-1")
	_, err = b.admin.ListQueues(ctx, &jqv1.ListQueuesRequest{}, grpcHeader(&header))
	require.NoError(t, err)
	require.Equal(t, []string{"test-corr-1"}, header.Get("x-correlation-id"))

	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("http://" + b.srv.HealthAddr().String() + "/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body)
	code, body = get("http://" + b.srv.HealthAddr().String() + "/readyz")
	require.Equal(t, http.StatusOK, code, body)

	b.submit(t, &jqv1.SubmitJobRequest{})
	w := newTestWorker(t, b.conn, 1)
	w.mustReport(w.next(5*time.Second), true)
	want := []string{
		`jq_grpc_request_duration_seconds_count{code="OK",method="AdminService/ListQueues"}`,
		`jq_scheduler_jobs_assigned_total{queue="default"} 1`,
		`jq_job_total{queue="default",reason="COMPLETED",status="DONE"} 1`,
		`jq_job_total{queue="default",reason="CLAIMED",status="ASSIGNED"} 1`,
		// Counted on delivery, though the job finished before the batched jq.start_for.
		`jq_job_total{queue="default",reason="STARTED",status="RUNNING"} 1`,
		`jq_db_query_duration_seconds_count{query="claim"}`,
		`jq_job_queue_depth{queue="default",status="PENDING"} 0`,
		`jq_job_wait_duration_seconds_count{queue="default"} 1`,
		`jq_job_processing_duration_seconds_count{queue="default"} 1`,
		`jq_worker_active_count 1`,
		`jq_leader 1`,
	}
	var missing []string
	require.Eventually(t, func() bool {
		_, body := get("http://" + b.srv.MetricsAddr() + "/metrics")
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0 && strings.Contains(body, "jq_scheduler_cycle_duration_seconds_count") &&
			!strings.Contains(body, "jq_scheduler_cycle_duration_seconds_count 0")
	}, 5*time.Second, 50*time.Millisecond, "missing from /metrics: %v", &missing)
}

func TestServer_PostgresUnreachable(t *testing.T) {
	t.Parallel()
	proxy, url := testdb.NewProxy(t, testdb.New(t))
	cfg := testConfig(url)
	cfg.DB.ConnectTimeout = config.Duration(time.Second)
	srv, _ := startServer(t, cfg)
	conn := dial(t, srv)
	jobs := jqv1.NewJobServiceClient(conn)
	ctx := context.Background()

	_, err := jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})
	require.NoError(t, err)

	proxy.Cut()
	_, err = jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})
	requireCode(t, err, codes.Unavailable)
	resp, err := http.Get("http://" + srv.HealthAddr().String() + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var ready struct{ Checks map[string]string }
	require.NoError(t, json.Unmarshal(body, &ready))
	require.NotEqual(t, "ok", ready.Checks["postgresql"], "readyz names what failed: %s", body)

	proxy.Restore()
	require.Eventually(t, func() bool {
		_, err := jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "the server recovers when PostgreSQL is back")
	list, err := jobs.ListJobs(ctx, &jqv1.ListJobsRequest{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(list.GetJobs()), 2)

}

package client_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testserver"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// TestRetry_CallsSafeToRepeatRideOutAnOutage: a real jq-server loses PostgreSQL, so its calls
// fail UNAVAILABLE; PostgreSQL comes back once the first attempt has failed. A read and a
// submit with an idempotency key succeed without the caller noticing, the submit inserted
// once; a submit without a key fails after one attempt, since it may have committed.
func TestRetry_CallsSafeToRepeatRideOutAnOutage(t *testing.T) {
	t.Parallel()
	proxy, dbURL := testdb.NewProxy(t, testdb.New(t))
	cfg := testserver.Config(dbURL)
	cfg.DB.ConnectTimeout = config.Duration(time.Second)
	srv := testserver.StartWith(t, cfg)
	rec := &attempts{failed: make(chan string, 100)}
	conn, err := client.Dial(srv.GRPCAddr().String(), client.Options{Token: srv.AdminKey}, grpclib.WithStatsHandler(rec))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	jobs := jqv1.NewJobServiceClient(conn)
	ctx := context.Background()
	job := func(key string) *jqv1.SubmitJobRequest {
		return &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), IdempotencyKey: key}
	}
	first, err := jobs.SubmitJob(ctx, job(""))
	require.NoError(t, err)

	// outage runs call with PostgreSQL out of reach, and brings it back once an attempt of
	// method has failed. It returns the call's attempts and its error.
	outage := func(method string, call func() error) ([]codes.Code, error) {
		t.Helper()
		rec.reset()
		proxy.Cut()
		done := make(chan error, 1)
		go func() { done <- call() }()
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case m := <-rec.failed:
				if m == method {
					break wait
				}
			case <-deadline:
				proxy.Restore()
				t.Fatalf("%s: no attempt failed within 30 s", method)
			}
		}
		proxy.Restore()
		select {
		case err := <-done:
			t.Logf("%s: attempts %v", method, rec.of(method))
			return rec.of(method), err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no answer within 30 s of PostgreSQL's return", method)
			return nil, nil
		}
	}

	tries, err := outage(jqv1.JobService_GetJobStatus_FullMethodName, func() error {
		_, err := jobs.GetJobStatus(ctx, &jqv1.GetJobStatusRequest{JobId: first.GetJobId()})
		return err
	})
	require.NoError(t, err, "attempts: %v", tries)
	require.Equal(t, codes.Unavailable, tries[0])
	require.Equal(t, codes.OK, tries[len(tries)-1])

	tries, err = outage(jqv1.JobService_SubmitJob_FullMethodName, func() error {
		_, err := jobs.SubmitJob(ctx, job(""))
		return err
	})
	require.Equal(t, codes.Unavailable, status.Code(err), "a submit without a key is not retried: %v", err)
	require.Equal(t, []codes.Code{codes.Unavailable}, tries)

	var keyed *jqv1.SubmitJobResponse
	tries, err = outage(jqv1.JobService_SubmitJob_FullMethodName, func() error {
		var err error
		keyed, err = jobs.SubmitJob(ctx, job("retried-1"))
		return err
	})
	require.NoError(t, err, "attempts: %v", tries)
	require.Greater(t, len(tries), 1)
	require.Equal(t, codes.OK, tries[len(tries)-1])
	again, err := jobs.SubmitJob(ctx, job("retried-1"))
	require.NoError(t, err)
	require.True(t, again.GetDeduplicated())
	require.Equal(t, keyed.GetJobId(), again.GetJobId())

	tries, err = outage(jqv1.JobService_SubmitJobs_FullMethodName, func() error {
		_, err := jobs.SubmitJobs(ctx, &jqv1.SubmitJobsRequest{Jobs: []*jqv1.SubmitJobRequest{job("batch-1"), job("batch-2")}})
		return err
	})
	require.NoError(t, err, "attempts: %v", tries)
	require.Greater(t, len(tries), 1)

	list, err := jobs.ListJobs(ctx, &jqv1.ListJobsRequest{QueueName: "default"})
	require.NoError(t, err)
	require.Len(t, list.GetJobs(), 4, "the first job, retried-1, batch-1 and batch-2, each once")
}

// TestRetry_EveryMethodIsClassified: every RPC of jq's services is either retried (it
// changes nothing) or deliberately not; a new RPC makes this test fail until it is sorted.
func TestRetry_EveryMethodIsClassified(t *testing.T) {
	t.Parallel()
	notRetried := []string{
		// Submits are retried only with idempotency keys (client/retry.go).
		"/jq.v1.JobService/SubmitJob", "/jq.v1.JobService/SubmitJobs", "/jq.v1.JobService/SubmitWorkflow",
		"/jq.v1.JobService/CancelJob", "/jq.v1.JobService/CancelJobs", "/jq.v1.JobService/RetryJob",
		"/jq.v1.AdminService/CreateQueue", "/jq.v1.AdminService/DeleteQueue", "/jq.v1.AdminService/PauseQueues",
		"/jq.v1.AdminService/ResumeQueues", "/jq.v1.AdminService/UpdateQueue", "/jq.v1.AdminService/DrainWorker",
		"/jq.v1.AdminService/ShutdownWorker", "/jq.v1.AdminService/CreateAPIKey", "/jq.v1.AdminService/RevokeAPIKey",
		"/jq.v1.AdminService/CreateSchedule", "/jq.v1.AdminService/DeleteSchedule", "/jq.v1.AdminService/PauseSchedule",
		"/jq.v1.AdminService/ResumeSchedule", "/jq.v1.AdminService/TriggerSchedule",
	}
	var all []string
	for _, f := range []protoreflect.FileDescriptor{
		jqv1.File_jq_v1_job_service_proto, jqv1.File_jq_v1_admin_service_proto, jqv1.File_jq_v1_worker_service_proto,
	} {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				full := "/" + string(s.FullName()) + "/" + string(s.Methods().Get(j).Name())
				all = append(all, full)
				if s.Name() == "WorkerService" { // the worker retries on its own
					require.NotContains(t, client.Retried, full)
					continue
				}
				require.True(t, slices.Contains(client.Retried, full) != slices.Contains(notRetried, full),
					"%s must be in exactly one of client.Retried and this test's notRetried", full)
			}
		}
	}
	for _, m := range client.Retried {
		require.True(t, slices.Contains(all, m) || m == "/grpc.health.v1.Health/Check", "client.Retried names %s, which does not exist", m)
	}
}

// attempts records, per method, the code that ended each attempt a connection made, and
// sends the method of each failed attempt on failed.
type attempts struct {
	mu     sync.Mutex
	ends   map[string][]codes.Code
	failed chan string
}

type methodKey struct{}

func (a *attempts) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ends = map[string][]codes.Code{}
	for len(a.failed) > 0 {
		<-a.failed
	}
}

func (a *attempts) of(method string) []codes.Code {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ends[method])
}

func (a *attempts) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

func (a *attempts) HandleRPC(ctx context.Context, s stats.RPCStats) {
	end, ok := s.(*stats.End)
	if !ok || !end.Client {
		return
	}
	method, _ := ctx.Value(methodKey{}).(string)
	code := status.Code(end.Error)
	a.mu.Lock()
	if a.ends != nil {
		a.ends[method] = append(a.ends[method], code)
	}
	a.mu.Unlock()
	if code != codes.OK {
		select {
		case a.failed <- method:
		default:
		}
	}
}

func (a *attempts) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (a *attempts) HandleConn(context.Context, stats.ConnStats) {}

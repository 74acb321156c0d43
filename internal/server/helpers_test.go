package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testserver"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// testConfig is a server configuration for tests on dbURL (free ports, fast poll, short delays).
func testConfig(dbURL string) *config.Config { return testserver.Config(dbURL) }

// startServer runs a server on cfg until the test ends (or until the returned stop is called).
func startServer(t *testing.T, cfg *config.Config) (*testserver.Server, func()) {
	t.Helper()
	s := testserver.StartWith(t, cfg)
	return s, s.Stop
}

// bundle is a server on its own database with clients.
type bundle struct {
	ctx    context.Context
	cfg    *config.Config
	srv    *testserver.Server
	stop   func()
	conn   *grpclib.ClientConn
	jobs   jqv1.JobServiceClient
	admin  jqv1.AdminServiceClient
	worker jqv1.WorkerServiceClient
}

func setup(t *testing.T, tweak ...func(*config.Config)) *bundle {
	t.Helper()
	cfg := testConfig(testdb.New(t))
	for _, f := range tweak {
		f(cfg)
	}
	srv, stop := startServer(t, cfg)
	conn := dial(t, srv)
	return &bundle{
		ctx: context.Background(), cfg: cfg, srv: srv, stop: stop, conn: conn,
		jobs: jqv1.NewJobServiceClient(conn), admin: jqv1.NewAdminServiceClient(conn), worker: jqv1.NewWorkerServiceClient(conn),
	}
}

// dial connects to srv as an admin.
func dial(t *testing.T, srv *testserver.Server) *grpclib.ClientConn {
	t.Helper()
	return srv.Dial(t, srv.AdminKey)
}

func (b *bundle) submit(t *testing.T, req *jqv1.SubmitJobRequest) string {
	t.Helper()
	if req.QueueName == "" {
		req.QueueName = "default"
	}
	if req.Payload == nil {
		req.Payload = []byte(`{"command": ["true"]}`)
	}
	resp, err := b.jobs.SubmitJob(b.ctx, req)
	require.NoError(t, err)
	return resp.GetJobId()
}

func (b *bundle) job(t *testing.T, id string) *jqv1.Job {
	t.Helper()
	resp, err := b.jobs.GetJobStatus(b.ctx, &jqv1.GetJobStatusRequest{JobId: id})
	require.NoError(t, err)
	return resp.GetJob()
}

func requireCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	require.Equal(t, code, st.Code(), "message: %s", st.Message())
}

// testWorker is a worker written against the raw protocol: it registers, holds a stream and
// records what arrives; the test decides when to report.
type testWorker struct {
	t       *testing.T
	id      uuid.UUID
	client  jqv1.WorkerServiceClient
	cancel  context.CancelFunc
	assigns chan *jqv1.JobAssignment
	drains  chan *jqv1.DrainNotice
	ended   chan error
	once    sync.Once
}

func newTestWorker(t *testing.T, conn *grpclib.ClientConn, freeSlots int, queues ...string) *testWorker {
	t.Helper()
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	w := &testWorker{
		t: t, id: uuid.New(), client: jqv1.NewWorkerServiceClient(conn),
		assigns: make(chan *jqv1.JobAssignment, 10_000), drains: make(chan *jqv1.DrainNotice, 10), ended: make(chan error, 1),
	}
	ctx := context.Background()
	_, err := w.client.RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{
		WorkerId: w.id.String(), Hostname: "test", Concurrency: int32(max(freeSlots, 1)), Queues: queues,
	})
	require.NoError(t, err)
	w.open(freeSlots, queues)
	t.Cleanup(w.close)
	return w
}

func (w *testWorker) open(freeSlots int, queues []string) {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	stream, err := w.client.StreamJobs(ctx, &jqv1.StreamJobsRequest{WorkerId: w.id.String(), Queues: queues, FreeSlots: int32(freeSlots)})
	require.NoError(w.t, err)
	_, err = stream.Header() // the server sends headers once the stream is registered
	require.NoError(w.t, err)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				select {
				case w.ended <- err:
				default: // an earlier stream's end was not read
				}
				return
			}
			switch m := msg.GetMessage().(type) {
			case *jqv1.StreamJobsResponse_Assignment:
				w.assigns <- m.Assignment
			case *jqv1.StreamJobsResponse_Drain:
				w.drains <- m.Drain
			}
		}
	}()
}

// close cuts the stream as a crashed worker would.
func (w *testWorker) close() { w.once.Do(func() { w.cancel() }) }

func (w *testWorker) next(within time.Duration) *jqv1.JobAssignment {
	w.t.Helper()
	select {
	case a := <-w.assigns:
		return a
	case <-time.After(within):
		w.t.Fatalf("worker %s: no job within %v", w.id, within)
		return nil
	}
}

// none asserts that no job arrives for d.
func (w *testWorker) none(d time.Duration) {
	w.t.Helper()
	select {
	case a := <-w.assigns:
		w.t.Fatalf("worker %s got job %s, want none", w.id, a.GetJob().GetJobId())
	case <-time.After(d):
	}
}

func (w *testWorker) report(a *jqv1.JobAssignment, success bool, msg string) (*jqv1.ReportResultResponse, error) {
	req := &jqv1.ReportResultRequest{WorkerId: w.id.String(), JobId: a.GetJob().GetJobId(), Attempt: a.GetAttempt(), Success: success}
	if success {
		req.Result = []byte("ok:" + a.GetJob().GetJobId())
	} else {
		req.ErrorMessage = msg
	}
	return w.client.ReportResult(context.Background(), req)
}

func (w *testWorker) mustReport(a *jqv1.JobAssignment, success bool) *jqv1.ReportResultResponse {
	w.t.Helper()
	resp, err := w.report(a, success, "boom")
	require.NoError(w.t, err)
	return resp
}

func grpcHeader(md *metadata.MD) grpclib.CallOption { return grpclib.Header(md) }

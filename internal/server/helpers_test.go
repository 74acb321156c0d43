package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/server"
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

// setupLogged is setup with the server's log, at DEBUG, written to logs, for a test that
// waits on what the server logs. The bundle has no testserver (srv and stop are nil).
func setupLogged(t *testing.T, logs io.Writer) *bundle {
	t.Helper()
	ctx := context.Background()
	cfg := testConfig(testdb.New(t))
	srv, err := server.New(ctx, cfg, logging.New(logs, "jq-server", logging.Options{Level: slog.LevelDebug}), metrics.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(srv.Shutdown)
	conn, err := client.Dial(srv.GRPCAddr().String(), client.Options{Token: testserver.NewKey(t, srv.Store(), apikey.RoleAdmin)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &bundle{
		ctx: ctx, cfg: cfg, conn: conn,
		jobs: jqv1.NewJobServiceClient(conn), admin: jqv1.NewAdminServiceClient(conn), worker: jqv1.NewWorkerServiceClient(conn),
	}
}

// logged returns the message of the first line of logs (JSON, as logging.New writes) that has
// the attribute key set to value and a message starting with one of prefixes, or "".
func logged(logs fmt.Stringer, key, value string, prefixes ...string) string {
	for line := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m[key] != value {
			continue
		}
		msg, _ := m["message"].(string)
		for _, p := range prefixes {
			if strings.HasPrefix(msg, p) {
				return msg
			}
		}
	}
	return ""
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
	// running are the attempts the next stream says the worker runs already.
	running []*jqv1.RunningAttempt
	// batches makes its streams accept JobAssignments; messages receives the number of
	// assignments in each message that carried any.
	batches  bool
	messages chan int
}

func newTestWorker(t *testing.T, conn *grpclib.ClientConn, freeSlots int, queues ...string) *testWorker {
	t.Helper()
	return newTestWorkerBatching(t, conn, false, freeSlots, queues...)
}

// newTestWorkerBatching is newTestWorker whose streams accept batches (StreamJobsRequest's
// accepts_batches) if batches is set.
func newTestWorkerBatching(t *testing.T, conn *grpclib.ClientConn, batches bool, freeSlots int, queues ...string) *testWorker {
	t.Helper()
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	w := &testWorker{
		t: t, id: uuid.New(), client: jqv1.NewWorkerServiceClient(conn),
		assigns: make(chan *jqv1.JobAssignment, 10_000), drains: make(chan *jqv1.DrainNotice, 10), ended: make(chan error, 1),
		batches: batches,
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
	if w.messages == nil { // open makes it, for workers built here or by a test
		w.messages = make(chan int, 10_000)
	}
	stream, err := w.client.StreamJobs(ctx, &jqv1.StreamJobsRequest{WorkerId: w.id.String(), Queues: queues, FreeSlots: int32(freeSlots),
		Running: w.running, AcceptsBatches: w.batches})
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
				w.messages <- 1
				w.assigns <- m.Assignment
			case *jqv1.StreamJobsResponse_Assignments:
				w.messages <- len(m.Assignments.GetAssignments())
				for _, a := range m.Assignments.GetAssignments() {
					w.assigns <- a
				}
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

// cyclesServed matches the count of scheduling cycles that had a worker to serve.
var cyclesServed = regexp.MustCompile(`(?m)^jq_scheduler_cycle_duration_seconds_count (\d+)$`)

// waitSchedulerIdle waits until srv's scheduler has run a cycle with a worker connected (the
// cycle a worker's attach triggers, or a poll), so that a job submitted afterwards is
// delivered only by a later wake-up or poll. It reads /metrics: a cycle with no worker is not
// counted, and nothing else wakes the scheduler of a test server that was given no job.
func waitSchedulerIdle(t *testing.T, srv *testserver.Server) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + srv.MetricsAddr() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return false
		}
		m := cyclesServed.FindSubmatch(body)
		return m != nil && string(m[1]) != "0"
	}, 5*time.Second, 10*time.Millisecond, "a scheduling cycle with the worker connected")
}

// list returns the ids of a queue's jobs, up to 1,000.
func (b *bundle) list(t *testing.T, queueName string) []string {
	t.Helper()
	resp, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{QueueName: queueName, Limit: 1000})
	require.NoError(t, err)
	ids := make([]string, 0, len(resp.GetJobs()))
	for _, j := range resp.GetJobs() {
		ids = append(ids, j.GetJobId())
	}
	return ids
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	grpclib "google.golang.org/grpc"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testserver"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// result is what one jq-ctl invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs jq-ctl in-process with stdin.
func ctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// requireCode checks the exit code and, for a failure, that stderr is one "jq-ctl: " line.
func (r result) requireCode(t *testing.T, code int) {
	t.Helper()
	require.Equal(t, code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	if code == exitOK {
		return
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	require.Len(t, lines, 1, "stderr: %q", r.stderr)
	require.True(t, strings.HasPrefix(lines[0], "jq-ctl: "), "stderr: %q", r.stderr)
}

// decode parses stdout as JSON into v.
func (r result) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.stdout), v), "stdout: %s", r.stdout)
}

// decodeYAML parses stdout as YAML into v.
func (r result) decodeYAML(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, yaml.Unmarshal([]byte(r.stdout), v), "stdout: %s", r.stdout)
}

// bundle is a jq-server on its own fresh database, and raw clients to set the scene.
type bundle struct {
	srv    *testserver.Server
	addr   string
	conn   *grpclib.ClientConn
	jobs   jqv1.JobServiceClient
	admin  jqv1.AdminServiceClient
	worker jqv1.WorkerServiceClient
}

func setup(t *testing.T, tweak ...func(*config.Config)) *bundle {
	t.Helper()
	srv := testserver.Start(t, tweak...)
	addr := srv.GRPCAddr().String()
	conn := srv.Dial(t, srv.AdminKey)
	return &bundle{
		addr: addr, conn: conn, srv: srv,
		jobs: jqv1.NewJobServiceClient(conn), admin: jqv1.NewAdminServiceClient(conn), worker: jqv1.NewWorkerServiceClient(conn),
	}
}

// ctl runs jq-ctl against the bundle's server.
func (b *bundle) ctl(t *testing.T, args ...string) result {
	t.Helper()
	return ctl(t, "", append([]string{"--server-addr", b.addr, "--token", b.srv.AdminKey}, args...)...)
}

// ctlIn runs jq-ctl against the bundle's server with stdin.
func (b *bundle) ctlIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return ctl(t, stdin, append([]string{"--server-addr", b.addr, "--token", b.srv.AdminKey}, args...)...)
}

// submit submits a job with jq-ctl and returns its id.
func (b *bundle) submit(t *testing.T, args ...string) string {
	t.Helper()
	r := b.ctl(t, append([]string{"job", "submit"}, args...)...)
	r.requireCode(t, exitOK)
	id := strings.TrimSpace(r.stdout)
	_, err := uuid.Parse(id)
	require.NoError(t, err, "stdout: %q", r.stdout)
	return id
}

// job reads a job with jq-ctl job status -o json.
func (b *bundle) job(t *testing.T, id string) jobView {
	t.Helper()
	r := b.ctl(t, "job", "status", id, "-o", "json")
	r.requireCode(t, exitOK)
	var v jobView
	r.decode(t, &v)
	return v
}

// testWorker speaks the raw worker protocol: it registers, holds a stream with one free slot
// and hands each assignment to the test, which reports the outcome.
type testWorker struct {
	t       *testing.T
	id      string
	client  jqv1.WorkerServiceClient
	assigns chan *jqv1.JobAssignment
}

func newTestWorker(t *testing.T, b *bundle, queues ...string) *testWorker {
	t.Helper()
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	w := &testWorker{t: t, id: uuid.NewString(), client: b.worker, assigns: make(chan *jqv1.JobAssignment, 100)}
	_, err := w.client.RegisterWorker(context.Background(), &jqv1.RegisterWorkerRequest{
		WorkerId: w.id, Hostname: "test-host", Concurrency: 1, Queues: queues,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := w.client.StreamJobs(ctx, &jqv1.StreamJobsRequest{WorkerId: w.id, Queues: queues, FreeSlots: 1})
	require.NoError(t, err)
	_, err = stream.Header() // sent once the server has registered the stream
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			if a := msg.GetAssignment(); a != nil {
				w.assigns <- a
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

func (w *testWorker) next() *jqv1.JobAssignment {
	w.t.Helper()
	select {
	case a := <-w.assigns:
		return a
	case <-time.After(10 * time.Second):
		w.t.Fatalf("worker %s: no job within 10s", w.id)
		return nil
	}
}

func (w *testWorker) report(a *jqv1.JobAssignment, success bool, result, errMsg string) {
	w.t.Helper()
	_, err := w.client.ReportResult(context.Background(), &jqv1.ReportResultRequest{
		WorkerId: w.id, JobId: a.GetJob().GetJobId(), Attempt: a.GetAttempt(),
		Success: success, Result: []byte(result), ErrorMessage: errMsg,
	})
	require.NoError(w.t, err)
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

// silentAddr is an address that accepts connections and never answers, as a hung server would.
func silentAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		_ = lis.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return lis.Addr().String()
}

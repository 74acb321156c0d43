package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/testbin"
	"github.com/jqhq/jq/internal/testdb"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// process is a jq binary run as a real process, with its JSON log lines.
type process struct {
	cmd     *exec.Cmd
	started map[string]any // the "… started" log line
	lines   chan map[string]any
	exited  chan struct{} // closed when the process has exited
	exitErr error         // valid once exited is closed

	mu   sync.Mutex
	tail []string // the last log lines, printed when the test fails
}

// maxTail is how many log lines of each process a failed test prints.
const maxTail = 200

// serverProcess is a jq-server process.
type serverProcess struct {
	*process
	grpcAddr   string
	healthAddr string
}

// startProcess runs a jq binary and waits for its "<binary> started" log line.
func startProcess(t *testing.T, binary string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, binary), args...)
	cmd.Env = append(testEnv(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, lines: make(chan map[string]any, 10000), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if len(p.tail) == maxTail {
				p.tail = p.tail[1:]
			}
			p.tail = append(p.tail, sc.Text())
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.lines <- m:
				default:
				}
			}
		}
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			p.mu.Lock()
			t.Logf("last log lines of %s (pid %d):\n%s", binary, cmd.Process.Pid, strings.Join(p.tail, "\n"))
			p.mu.Unlock()
		}
	})
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m := <-p.lines:
			if m["message"] == binary+" started" {
				p.started = m
				return p
			}
		case <-p.exited:
			t.Fatalf("%s exited before starting: %v", binary, p.exitErr)
		case <-deadline:
			t.Fatalf("%s did not start within 60 s", binary)
		}
	}
}

// createKey makes an API key with `jq-server auth create-key`, which prints it alone on stdout.
func createKey(t *testing.T, dbURL, role string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", role, keySeq.Add(1))
	r := run(t, "jq-server", []string{"JQ_DB_URL=" + dbURL}, "auth", "create-key", "--name", name, "--role", role)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	key := strings.TrimSuffix(r.stdout, "\n")
	require.NoError(t, apikey.Check(key), "stdout holds the key alone: %q", r.stdout)
	return key
}

var keySeq atomic.Int64

// startServerProcess runs jq-server with free ports (or the given gRPC port) and waits for it.
func startServerProcess(t *testing.T, env ...string) *serverProcess {
	t.Helper()
	port := "0"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "JQ_GRPC_PORT="); ok {
			port = v
		}
	}
	p := startProcess(t, "jq-server", append([]string{"JQ_GRPC_HOST=127.0.0.1", "JQ_HEALTH_HOST=127.0.0.1", "JQ_METRICS_HOST=127.0.0.1"}, env...),
		"--grpc-port", port, "--health-port", "0", "--metrics-port", "0")
	s := &serverProcess{process: p}
	s.grpcAddr, _ = p.started["grpc"].(string)
	s.healthAddr, _ = p.started["health"].(string)
	return s
}

// stop sends SIGTERM and waits for the exit.
func (p *process) stop(t *testing.T) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(60 * time.Second):
		t.Fatal("the process did not exit within 60 s of SIGTERM")
		return nil
	}
}

// TestServer_SIGTERMStopsGracefully: on SIGTERM, /readyz turns 503, worker streams end with
// UNAVAILABLE (so workers reconnect, keeping their jobs) and the process exits 0.
func TestServer_SIGTERMStopsGracefully(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	p := startServerProcess(t, "JQ_DB_URL="+dbURL)
	conn, err := client.Dial(p.grpcAddr, client.Options{Token: createKey(t, dbURL, "worker")})
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	workers := jqv1.NewWorkerServiceClient(conn)
	id := uuid.NewString()
	_, err = workers.RegisterWorker(ctx, &jqv1.RegisterWorkerRequest{WorkerId: id, Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	stream, err := workers.StreamJobs(ctx, &jqv1.StreamJobsRequest{WorkerId: id, FreeSlots: 1})
	require.NoError(t, err)
	_, err = stream.Header()
	require.NoError(t, err)
	resp, err := http.Get("http://" + p.healthAddr + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	_, err = stream.Recv()
	require.Equal(t, codes.Unavailable, status.Code(err), "the stream ends asking the worker to reconnect: %v", err)

	select {
	case <-p.exited:
		require.NoError(t, p.exitErr, "exit status 0")
	case <-time.After(15 * time.Second):
		t.Fatal("jq-server did not exit within 15 s of SIGTERM")
	}
	resp, err = http.Get("http://" + p.healthAddr + "/readyz")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "nothing listens after exit")
}

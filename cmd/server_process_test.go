package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/testbin"
	"github.com/jqhq/jq/internal/testdb"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// serverProcess is a jq-server run as a real process.
type serverProcess struct {
	cmd        *exec.Cmd
	grpcAddr   string
	healthAddr string
	lines      chan map[string]any
	exited     chan struct{} // closed when the process has exited
	exitErr    error         // valid once exited is closed
}

// startServerProcess runs jq-server with free ports and waits for its "started" line.
func startServerProcess(t *testing.T, env ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, "jq-server"), "--grpc-port", "0", "--health-port", "0", "--metrics-port", "0")
	cmd.Env = append(os.Environ(), append([]string{"JQ_GRPC_HOST=127.0.0.1", "JQ_HEALTH_HOST=127.0.0.1", "JQ_METRICS_HOST=127.0.0.1"}, env...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &serverProcess{cmd: cmd, lines: make(chan map[string]any, 1000), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
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
	})
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-p.lines:
			if m["message"] == "jq-server started" {
				p.grpcAddr, _ = m["grpc"].(string)
				p.healthAddr, _ = m["health"].(string)
				return p
			}
		case <-p.exited:
			t.Fatalf("jq-server exited before starting: %v", p.exitErr)
		case <-deadline:
			t.Fatal("jq-server did not start within 30 s")
		}
	}
}

// TestServer_SIGTERMStopsGracefully: on SIGTERM, /readyz turns 503, worker streams end with
// UNAVAILABLE (so workers reconnect, keeping their jobs) and the process exits 0.
func TestServer_SIGTERMStopsGracefully(t *testing.T) {
	t.Parallel()
	p := startServerProcess(t, "JQ_DB_URL="+testdb.New(t))
	conn, err := jqgrpc.Dial(p.grpcAddr, nil)
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

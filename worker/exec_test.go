package worker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/worker"
)

func TestParseExecPayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		payload string
		want    string // error substring; "" for valid
	}{
		{`{"command": ["echo", "hi"]}`, ""},
		{`{"command": ["true"], "env": {"A": "1"}, "timeout_seconds": 2.5}`, ""},
		{`not json`, "payload is not a JSON object"},
		{`["echo"]`, "payload field"},
		{`{}`, `payload has no "command"`},
		{`{"command": []}`, `payload has no "command"`},
		{`{"command": "echo hi"}`, `payload field "command": want []string`},
		{`{"command": [1, 2]}`, `want string`},
		{`{"command": [""]}`, "the program name is empty"},
		{`{"command": ["true"], "env": {"A": 1}}`, `payload field "env": want string, got a JSON number`},
		{`{"command": ["true"], "timeout_seconds": -1}`, "is negative"},
	} {
		_, err := worker.ParseExecPayload([]byte(tc.payload))
		if tc.want == "" {
			require.NoError(t, err, tc.payload)
		} else {
			require.ErrorContains(t, err, tc.want, tc.payload)
		}
	}
}

func execJob(payload string, timeout time.Duration) worker.Job {
	return worker.Job{ID: "j", Payload: []byte(payload), Timeout: timeout}
}

func TestExec(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("StdoutIsTheResult", func(t *testing.T) {
		t.Parallel()
		out, err := worker.Exec{}.Handle(ctx, execJob(`{"command": ["echo", "hello", "world"]}`, time.Minute))
		require.NoError(t, err)
		require.Equal(t, "hello world\n", string(out))
	})

	t.Run("NoShell", func(t *testing.T) {
		t.Parallel()
		out, err := worker.Exec{}.Handle(ctx, execJob(`{"command": ["echo", "$HOME", "|", "wc"]}`, time.Minute))
		require.NoError(t, err)
		require.Equal(t, "$HOME | wc\n", string(out))
	})

	t.Run("NonZeroExitWithStderr", func(t *testing.T) {
		t.Parallel()
		_, err := worker.Exec{}.Handle(ctx, execJob(`{"command": ["sh", "-c", "echo oops >&2; exit 3"]}`, time.Minute))
		require.EqualError(t, err, "exit status 3: oops")
		require.False(t, worker.IsPermanent(err))
	})

	t.Run("Signal", func(t *testing.T) {
		t.Parallel()
		_, err := worker.Exec{}.Handle(ctx, execJob(`{"command": ["sh", "-c", "kill -TERM $$"]}`, time.Minute))
		require.ErrorContains(t, err, "killed by signal 15")
	})

	t.Run("TimeoutKillsTheProcessGroup", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "child.pid")
		payload := fmt.Sprintf(`{"command": ["sh", "-c", "sleep 60 & echo $! > %s; wait"]}`, pidFile)
		jctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		_, err := worker.Exec{}.Handle(jctx, execJob(payload, time.Second))
		require.ErrorContains(t, err, "killed after 1s (timeout)")
		require.Less(t, time.Since(start), 5*time.Second)
		data, rerr := os.ReadFile(pidFile)
		require.NoError(t, rerr)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 3*time.Second, 20*time.Millisecond,
			"the grandchild (pid %d) survived the timeout", pid)
	})

	t.Run("OutputIsCapped", func(t *testing.T) {
		t.Parallel()
		out, err := worker.Exec{MaxOutputBytes: 1024}.Handle(ctx, execJob(`{"command": ["sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x"]}`, time.Minute))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(out), strings.Repeat("x", 1024)+"\n…[truncated: 3976 more bytes]"), "got %q", out[1000:])
	})

	t.Run("MalformedPayloadIsPermanent", func(t *testing.T) {
		t.Parallel()
		_, err := worker.Exec{}.Handle(ctx, execJob(`{"cmd": ["true"]}`, time.Minute))
		require.True(t, worker.IsPermanent(err))
		require.ErrorContains(t, err, `no "command"`)
	})

	t.Run("MissingProgramIsNotPermanent", func(t *testing.T) {
		t.Parallel()
		_, err := worker.Exec{}.Handle(ctx, execJob(`{"command": ["/no/such/program"]}`, time.Minute))
		require.ErrorContains(t, err, `cannot run "/no/such/program"`)
		require.False(t, worker.IsPermanent(err), "another worker may have it")
	})
}

// Not parallel: it sets an environment variable of the test process.
func TestExec_EnvAddedAndJQVarsRemoved(t *testing.T) {
	t.Setenv("JQ_SECRET_TEST", "leak")
	out, err := worker.Exec{}.Handle(context.Background(), execJob(`{"command": ["sh", "-c", "echo $GREETING; env | grep -c ^JQ_ || true"], "env": {"GREETING": "hi"}}`, time.Minute))
	require.NoError(t, err)
	require.Equal(t, "hi\n0\n", string(out))
}

func TestMux(t *testing.T) {
	t.Parallel()
	mux := worker.NewMux()
	mux.Register("greet", func(_ context.Context, j worker.Job) ([]byte, error) { return []byte("hi " + j.ID), nil })
	out, err := mux.Handle(context.Background(), worker.Job{ID: "1", Payload: []byte(`{"kind": "greet"}`)})
	require.NoError(t, err)
	require.Equal(t, "hi 1", string(out))

	_, err = mux.Handle(context.Background(), worker.Job{Payload: []byte(`{"kind": "nope"}`)})
	require.True(t, worker.IsPermanent(err))
	require.ErrorContains(t, err, `no handler for job kind "nope"`)

	mux.Fallback(worker.Exec{})
	out, err = mux.Handle(context.Background(), worker.Job{Payload: []byte(`{"command": ["echo", "x"]}`), Timeout: time.Minute})
	require.NoError(t, err)
	require.Equal(t, "x\n", string(out))
}

func TestResolveID(t *testing.T) {
	t.Parallel()
	a, _ := worker.ResolveID("jq-worker-7d9f-abc")
	b, _ := worker.ResolveID("jq-worker-7d9f-abc")
	c, _ := worker.ResolveID("jq-worker-other")
	require.Equal(t, a, b, "a name maps to one id")
	require.NotEqual(t, a, c)
	u, name := worker.ResolveID("0191e3a0-0000-7000-8000-000000000001")
	require.Equal(t, "0191e3a0-0000-7000-8000-000000000001", u.String())
	require.Equal(t, "0191e3a0-0000-7000-8000-000000000001", name)
	h1, host := worker.ResolveID("")
	h2, _ := worker.ResolveID("")
	require.NotEqual(t, h1, h2, "without a configured id, each process has its own: two workers on one host do not share one")
	require.NotEmpty(t, host)
}

// TestExec_ProgressLines: "::progress N message" lines of a command's stdout report its
// progress and are left out of its result.
func TestExec_ProgressLines(t *testing.T) {
	t.Parallel()
	var got []string
	ctx := worker.WithProgress(context.Background(), func(pct float64, msg string) { got = append(got, fmt.Sprintf("%v %s", pct, msg)) })
	script := `echo start; echo "::progress 25 copying files"; echo "::progress 100%"; echo end`
	out, err := worker.Exec{}.Handle(ctx, execJob(fmt.Sprintf(`{"command": ["sh", "-c", %q]}`, script), time.Minute))
	require.NoError(t, err)
	require.Equal(t, "start\nend\n", string(out))
	require.Equal(t, []string{"25 copying files", "100 "}, got)
}

package cmd_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testbin"
	"github.com/jqhq/jq/internal/testdb"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, binary string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, binary), args...)
	cmd.Env = append(testEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// testEnv is the processes' environment: this one, without a user config folder where jq-ctl
// would find the key of a `make run` on this machine.
func testEnv() []string {
	return append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(os.TempDir(), "jq-test-no-config"))
}

var binaries = []string{"jq-server", "jq-worker", "jq-ctl"}

func TestBinaries_Version(t *testing.T) {
	t.Parallel()
	for _, b := range binaries {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			r := run(t, b, nil, "--version")
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stdout, b+" "+testbin.Version)
			require.Contains(t, r.stdout, "commit testcommit")
		})
	}
}

func TestBinaries_HelpListsEveryFlagWithDefaultAndEnv(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"jq-server": {"--config", "--log-level", "--grpc-port", "--metrics-port", "--health-port", "--dry-run", "--version", "--help"},
		"jq-worker": {"--config", "--log-level", "--server-addr", "--worker-id", "--concurrency", "--queues", "--metrics-port", "--health-port"},
		"jq-ctl":    {"--server-addr"},
	}
	for _, b := range binaries {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			r := run(t, b, nil, "--help")
			require.Equal(t, 0, r.code)
			for _, flag := range want[b] {
				require.Contains(t, r.stdout, "  "+flag, "help of %s lacks %s", b, flag)
			}
			require.Contains(t, r.stdout, "env JQ_LOG_LEVEL")
			require.Contains(t, r.stdout, "default info")
			require.Equal(t, r.stdout, run(t, b, nil, "-h").stdout, "-h and --help differ")
		})
	}
	r := run(t, "jq-server", nil, "--help")
	require.Contains(t, r.stdout, "--grpc-port INT")
	require.Contains(t, r.stdout, "default 50051; env JQ_GRPC_PORT")
	r = run(t, "jq-worker", nil, "--help")
	require.Contains(t, r.stdout, "default 9091; env JQ_METRICS_PORT", "the worker's own default is shown")
}

func TestBinaries_BadFlagIsOneLineError(t *testing.T) {
	t.Parallel()
	for _, b := range binaries {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			r := run(t, b, nil, "--no-such-flag")
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			require.Len(t, lines, 1, "stderr: %q", r.stderr)
			require.Contains(t, lines[0], "no-such-flag")
			require.Contains(t, lines[0], "--help")
		})
	}
}

func TestBinaries_InvalidConfigListsEveryProblem(t *testing.T) {
	t.Parallel()
	r := run(t, "jq-worker", []string{"JQ_WORKER_CONCURRENCY=0", "JQ_LOG_LEVEL=loud"}, "--server-addr", "nope")
	require.Equal(t, 2, r.code)
	for _, field := range []string{"worker.concurrency", "logging.level", "worker.server_addr"} {
		require.Contains(t, r.stderr, field)
	}
}

func TestBinaries_SecretInFileLogsWarning(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/jq.yaml"
	require.NoError(t, os.WriteFile(path, []byte("db:\n  password: hunter2\n  port: 1\n"), 0o600))
	r := run(t, "jq-server", []string{"JQ_DB_URL="}, "--config", path, "--dry-run")
	require.Contains(t, r.stdout, `"level":"warn"`)
	require.Contains(t, r.stdout, "JQ_DB_PASSWORD")
	require.NotContains(t, r.stdout+r.stderr, "hunter2")
	require.NotEqual(t, 0, r.code, "nothing listens on port 1")
}

func TestServer_DryRun(t *testing.T) {
	t.Parallel()
	r := run(t, "jq-server", []string{"JQ_DB_URL=" + testdb.AdminURL()}, "--dry-run")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "postgresql ok")

	r = run(t, "jq-server", []string{"JQ_DB_URL=postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}, "--dry-run")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "postgresql")
}

func TestServer_Migrate(t *testing.T) {
	t.Parallel()
	env := []string{"JQ_DB_URL=" + testdb.EmptyDatabase(t)}

	r := run(t, "jq-server", env, "migrate", "status")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "[ ] 20261127000001_schema.sql")
	require.Contains(t, r.stdout, "applied: 0")

	r = run(t, "jq-server", env, "migrate", "up")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	r = run(t, "jq-server", env, "migrate", "status")
	require.Contains(t, r.stdout, "[X] 20261127000002_sqlfuncs.sql")
	require.Contains(t, r.stdout, "pending: 0")

	r = run(t, "jq-server", env, "migrate", "down")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	r = run(t, "jq-server", env, "migrate", "status")
	require.Contains(t, r.stdout, "[X] 20261127000002_sqlfuncs.sql")
	require.Contains(t, r.stdout, "pending: 1", "down rolls back the newest migration only")

	r = run(t, "jq-server", env, "migrate", "sideways")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `unknown migrate command "sideways"`)
	r = run(t, "jq-server", env, "frobnicate")
	require.Equal(t, 2, r.code)
}

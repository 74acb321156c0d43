package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// healthServer serves /readyz with the given status and /healthz with 200, and returns its port.
func healthServer(t *testing.T, readyStatus int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(readyStatus)
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u.Port()
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRun(t *testing.T) {
	t.Parallel()
	ready := healthServer(t, http.StatusOK)
	notReady := healthServer(t, http.StatusServiceUnavailable)

	// A port nobody listens on: bind one, remember it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, closedPort, err := net.SplitHostPort(l.Addr().String())
	require.NoError(t, err)
	require.NoError(t, l.Close())

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // empty: success
	}{
		{name: "ReadyFromEnvPort", env: map[string]string{"JQ_HEALTH_PORT": ready}},
		{name: "ReadyFromArgPort", args: []string{"/readyz", ready}},
		{name: "ArgPortWinsOverEnv", args: []string{"/readyz", ready}, env: map[string]string{"JQ_HEALTH_PORT": notReady}},
		{name: "OtherPath", args: []string{"/healthz", notReady}},
		{name: "NotReady", env: map[string]string{"JQ_HEALTH_PORT": notReady}, wantErr: "status 503"},
		{name: "UnknownPath", args: []string{"/nope", ready}, wantErr: "status 404"},
		{name: "NobodyListens", args: []string{"/readyz", closedPort}, wantErr: "connect"},
		{name: "BadPort", args: []string{"/readyz", "http"}, wantErr: "not a port number"},
		{name: "RelativePath", args: []string{"readyz", ready}, wantErr: "must start with /"},
		{name: "TooManyArgs", args: []string{"/readyz", ready, "x"}, wantErr: "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(tt.args, env(tt.env))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestProbe_MalformedReply(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH\r\n"))
	}()
	err = probe(l.Addr().String(), "/readyz")
	require.ErrorContains(t, err, "malformed status line")
}

// TestBuildsOutsideAnyModule builds main.go the way the Dockerfiles do (one file, from a
// directory outside every module): it fails as soon as the probe imports anything but the
// standard library.
func TestBuildsOutsideAnyModule(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary; skipped with -short")
	}
	src, err := filepath.Abs("main.go")
	require.NoError(t, err)
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "jq-probe"), src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "go build %s outside a module: %s", src, out)
	require.NotContains(t, strings.ToLower(string(out)), "warning")
}

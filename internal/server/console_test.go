package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/server"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testserver"
)

// TestConsole_Listener: the console is off by default; on, it serves with the server and stops
// with it; beyond loopback it warns (keys in clear) and refuses auth mode none, like gRPC.
func TestConsole_Listener(t *testing.T) {
	t.Parallel()
	require.False(t, config.Default(config.ServiceServer).UI.Enabled)
	require.Empty(t, testserver.Start(t).ConsoleURL(), "off by default")

	var logs syncBuffer
	cfg := testserver.Config(testdb.New(t))
	cfg.UI.Enabled, cfg.UI.Host, cfg.UI.Port, cfg.UI.PathPrefix = true, "127.0.0.1", 0, "/jq"
	srv, err := server.New(context.Background(), cfg, logging.New(&logs, "jq-server", logging.Options{}), metrics.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	url := srv.ConsoleURL()
	require.Regexp(t, `^http://127\.0\.0\.1:\d+/jq/$`, url)
	require.Contains(t, logs.String(), `"console":"`+url+`"`, "the start line gives the console's address")
	resp, err := http.Get(url + "login")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	srv.Shutdown()
	resp, err = http.Get(url + "login")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the console stops with the server")

	cfg = testserver.Config(testdb.New(t))
	cfg.Auth.Mode = "none"
	cfg.UI.Enabled, cfg.UI.Host, cfg.UI.Port = true, "0.0.0.0", 0
	_, err = server.New(context.Background(), cfg, testserver.Logger(), metrics.NewRegistry())
	require.ErrorContains(t, err, "ui.host", "mode none is refused on a public console")

	logs = syncBuffer{}
	cfg = testserver.Config(testdb.New(t))
	cfg.UI.Enabled, cfg.UI.Host, cfg.UI.Port = true, "0.0.0.0", 0
	srv, err = server.New(context.Background(), cfg, logging.New(&logs, "jq-server", logging.Options{}), metrics.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	srv.Shutdown()
	require.Contains(t, logs.String(), "terminate TLS in front of it", "keys in clear beyond loopback: a warning")
}

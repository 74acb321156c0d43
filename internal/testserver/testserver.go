// Package testserver runs a real jq-server in the test's process, on its own fresh database
// and free ports, for the tests of the packages that talk to it (worker, jq-ctl).
package testserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/queue"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/server"
	"github.com/jqhq/jq/internal/testdb"
)

// Config is a server configuration for tests on dbURL: free ports on 127.0.0.1, a fast poll,
// short retry delays and grace periods.
func Config(dbURL string) *config.Config {
	cfg := config.Default(config.ServiceServer)
	cfg.DB.URL = dbURL
	cfg.DB.MigrateOnStart = false // test databases are copies of a migrated template
	cfg.DB.MaxConns = 6
	cfg.GRPC.Host, cfg.GRPC.Port = "127.0.0.1", 0
	cfg.Health.Host, cfg.Health.Port = "127.0.0.1", 0
	cfg.Metrics.Host, cfg.Metrics.Port = "127.0.0.1", 0
	cfg.GRPC.ShutdownGrace = config.Duration(5 * time.Second)
	s := &cfg.Scheduler
	s.Interval = config.Duration(100 * time.Millisecond)
	s.RetryBaseDelay = config.Duration(50 * time.Millisecond)
	s.RetryMaxDelay = config.Duration(200 * time.Millisecond)
	s.StreamGrace = config.Duration(300 * time.Millisecond)
	s.LeaderLease = config.Duration(time.Second)
	s.ReapInterval = config.Duration(200 * time.Millisecond)
	s.ExpireInterval = config.Duration(200 * time.Millisecond)
	s.DepthRefreshInterval = config.Duration(200 * time.Millisecond)
	return cfg
}

// Server is a running test server.
type Server struct {
	*server.Server
	Config *config.Config
	// AdminKey is an API key with role admin, made at start: every test client may use it.
	AdminKey string
	stop     func()
}

// Start runs a server on a fresh database (tweaked by the given functions) until the test ends.
func Start(tb testing.TB, tweak ...func(*config.Config)) *Server {
	tb.Helper()
	cfg := Config(testdb.New(tb))
	for _, f := range tweak {
		f(cfg)
	}
	return StartWith(tb, cfg)
}

// StartWith runs a server on cfg until the test ends or Stop is called.
func StartWith(tb testing.TB, cfg *config.Config) *Server {
	tb.Helper()
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, Logger(), metrics.NewRegistry())
	if err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	var once sync.Once
	s := &Server{Server: srv, Config: cfg, stop: func() { once.Do(srv.Shutdown) }}
	tb.Cleanup(s.stop)
	s.AdminKey = s.Key(tb, apikey.RoleAdmin)
	return s
}

var keySeq atomic.Int64

// Key makes an API key of role on the server's database, limited to queues when given.
func (s *Server) Key(tb testing.TB, role apikey.Role, queues ...string) string {
	tb.Helper()
	return NewKey(tb, s.Store(), role, queues...)
}

// NewKey makes an API key of role through store, limited to queues when given.
func NewKey(tb testing.TB, store *queue.Store, role apikey.Role, queues ...string) string {
	tb.Helper()
	key := apikey.Generate()
	name := fmt.Sprintf("test-%s-%d", role, keySeq.Add(1))
	if _, err := store.CreateAPIKey(context.Background(), queue.CreateAPIKeyParams{
		Name: name, Role: role, Queues: queues, Hash: apikey.Hash(key), Prefix: apikey.Display(key), Actor: "testserver",
	}); err != nil {
		tb.Fatalf("testserver: create key: %v", err)
	}
	return key
}

// Dial connects to the server with key (empty: none) and closes the connection when the test
// ends.
func (s *Server) Dial(tb testing.TB, key string) *grpc.ClientConn {
	tb.Helper()
	conn, err := client.Dial(s.GRPCAddr().String(), client.Options{Token: key})
	if err != nil {
		tb.Fatalf("testserver: dial: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Stop shuts the server down (as SIGTERM would); later calls do nothing.
func (s *Server) Stop() { s.stop() }

// Logger discards, unless JQ_TEST_LOGS is set: then it writes JSON lines to stderr.
func Logger() *slog.Logger {
	if os.Getenv("JQ_TEST_LOGS") != "" {
		return logging.New(os.Stderr, "jq-server", logging.Options{Level: slog.LevelDebug})
	}
	return logging.New(io.Discard, "jq-server", logging.Options{})
}

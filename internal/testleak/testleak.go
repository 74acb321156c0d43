// Package testleak checks a test binary for leaked goroutines (goleak), ignoring the ones
// jq's libraries end on their own shortly after Close.
package testleak

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Options are the goroutines that outlive Close for a moment and are not leaks.
func Options() []goleak.Option {
	return []goleak.Option{
		// pgxpool's health checker ends asynchronously after Close.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		// gRPC closes its client transports asynchronously.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// go-redis probes a dead address once more, for up to a second, after Close.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	}
}

// VerifyTestMain runs the tests and fails the binary if goroutines leaked.
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, Options()...) }

// Run runs the tests, then cleanup, and returns their exit code, failing it if goroutines
// leaked: for a TestMain that starts something for the tests (the examples' server).
func Run(m *testing.M, cleanup func()) int {
	code := m.Run()
	cleanup()
	if code == 0 {
		if err := goleak.Find(Options()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			return 1
		}
	}
	return code
}

// Command jq-bench is jq's load-test suite: it starts what it measures (a fresh database, an
// in-process jq-server, workers) or targets a running deployment, and reports throughput,
// latency percentiles, scheduler cycle times, recovery times and memory. bench/README.md
// explains every scenario and figure.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jqhq/jq/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := bench.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps an outcome to the exit status, printing any error as one line on stderr:
// 0 done (or help shown), 2 for a usage mistake, 1 otherwise.
func exitCode(err error) int {
	var usage *bench.UsageError
	switch {
	case err == nil, errors.Is(err, bench.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "jq-bench: %v\n", err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "jq-bench: %v\n", err)
		return 1
	}
}

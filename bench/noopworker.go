package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/worker"
)

// noopWorkerCommand is `jq-bench noop-worker`: the worker package with a no-op Go handler, in
// its own process. The scenarios run it for --procs, since jq-worker runs every job as a
// subprocess. Each run is reported on stdout as "seq start end" (Unix nanoseconds); logs go
// to stderr. SIGTERM drains it like jq-worker.
func (c *cli) noopWorkerCommand() *ffcli.Command {
	fs := c.flagSet("jq-bench noop-worker")
	addr := fs.String("server-addr", "localhost:50051", "jq-server's gRPC address")
	id := fs.String("worker-id", "", "worker id (a UUID or a name; default: from the hostname)")
	concurrency := fs.Int("concurrency", 256, "jobs run at once")
	queue := fs.String("queue", "default", "queue(s) to take jobs from, comma-separated")
	level := fs.String("log-level", "error", "debug, info, warn or error (logs go to stderr)")
	ledgerPath := fs.String("ledger", "", "append one line per execution, \"job_id seq attempt start_ns end_ns\", to this file before the job is reported (the chaos scenarios' execution ledger)")
	jobDuration := fs.Duration("job-duration", 0, "how long each job runs (sleeps; ends early when the job's context ends)")
	return &ffcli.Command{
		Name:       "noop-worker",
		ShortUsage: "jq-bench noop-worker [flags]",
		ShortHelp:  "internal: a worker process with a no-op Go handler (what --procs runs for no-op jobs)",
		LongHelp: `noop-worker runs the embeddable worker package with a handler that does nothing, in its own
process: burn, steady and backlog start it for --procs, since jq-worker runs every job as a
subprocess. It prints one line per job on stdout, "seq start_ns end_ns", for the parent's
figures. With --ledger it also appends "job_id seq attempt start_ns end_ns" to that file,
one write(2) per execution, before the job's result is reported: the chaos scenarios'
execution ledger, which a SIGKILL cannot lose once the server has the result. SIGTERM or
SIGINT drains it.

Example:
  jq-bench noop-worker --server-addr 127.0.0.1:50051 --worker-id bench-1 --concurrency 256`,
		FlagSet:   fs,
		UsageFunc: c.usage,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("noop-worker takes no arguments, got %q", args)}
			}
			lvl, err := config.ParseLevel(*level)
			if err != nil {
				return &UsageError{Err: fmt.Errorf("--log-level %w", err)}
			}
			if *concurrency < 1 || *concurrency > 4096 {
				return &UsageError{Err: fmt.Errorf("--concurrency %d is outside 1-4096", *concurrency)}
			}
			if *queue == "" {
				return &UsageError{Err: errors.New("--queue must not be empty")}
			}
			if *jobDuration < 0 {
				return &UsageError{Err: fmt.Errorf("--job-duration %s is negative", *jobDuration)}
			}
			events := newEventWriter(c.stdout)
			h := events.handler()
			if *ledgerPath != "" {
				l, err := openLedger(*ledgerPath)
				if err != nil {
					return err
				}
				defer func() { _ = l.Close() }()
				// The ledger replaces the event lines on stdout.
				h = ledgerHandler(l, *jobDuration, worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) { return nil, nil }))
			} else if *jobDuration > 0 {
				h = ledgerHandler(nil, *jobDuration, h)
			}
			w, err := worker.New(worker.Config{
				ServerAddr: *addr, Token: os.Getenv("JQ_TOKEN"), ID: *id, Concurrency: *concurrency, Queues: strings.Split(*queue, ","),
				ShutdownGrace: 10 * time.Second,
				Logger:        logging.New(c.stderr, "jq-bench-noop-worker", logging.Options{Level: lvl}),
			}, h)
			if err != nil {
				return err
			}
			fctx, stopFlushing := context.WithCancel(context.Background())
			flushed := make(chan struct{})
			go func() {
				defer close(flushed)
				events.flushEvery(fctx, 5*time.Millisecond)
			}()
			err = w.Run(ctx)
			stopFlushing()
			<-flushed
			return err
		},
	}
}

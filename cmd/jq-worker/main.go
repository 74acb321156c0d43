// Command jq-worker runs jobs that jq-server streams to it.
package main

import (
	"context"
	"io"
	"os/signal"
	"syscall"

	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/config"
)

var program = cli.Program{
	Service: config.ServiceWorker,
	Summary: "runs the jobs jq-server streams to it",
	Usage:   []string{"jq-worker [flags]"},
	Bound: []cli.Bound{
		{Flag: "server-addr", Path: "worker.server_addr"},
		{Flag: "worker-id", Path: "worker.id"},
		{Flag: "concurrency", Path: "worker.concurrency"},
		{Flag: "queues", Path: "worker.queues"},
		{Flag: "metrics-port", Path: "metrics.port"},
		{Flag: "health-port", Path: "health.port"},
	},
	Footer: `Examples:
  jq-worker --server-addr localhost:50051 --concurrency 8 --queues default,emails
  JQ_SERVER_ADDR=jq-server:50051 JQ_WORKER_ID=$(hostname) jq-worker`,
}

func main() { cli.Main(program.Service, run) }

func run(args []string, stdout, _ io.Writer) error {
	setup, err := program.Parse(args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	setup.Logger.InfoContext(ctx, "jq-worker started; job execution is not built yet, waiting for a signal",
		"server_addr", setup.Config.Worker.ServerAddr)
	<-ctx.Done()
	return nil
}

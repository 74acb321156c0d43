// Command jq-server is the jq scheduler and gRPC API: it claims jobs from PostgreSQL and streams
// them to connected jq-worker processes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/metrics"
	jqredis "github.com/jqhq/jq/internal/redis"
	"github.com/jqhq/jq/internal/server"
)

var program = cli.Program{
	Service: config.ServiceServer,
	Summary: "the jq scheduler and gRPC API server",
	Usage: []string{
		"jq-server [flags]                          run the server (applies pending migrations first)",
		"jq-server migrate up|down|status [flags]   manage the schema by hand",
	},
	Bound: []cli.Bound{
		{Flag: "grpc-port", Path: "grpc.port"},
		{Flag: "metrics-port", Path: "metrics.port"},
		{Flag: "health-port", Path: "health.port"},
	},
	Extra: func(fs *flag.FlagSet) {
		fs.Bool("dry-run", false, "check PostgreSQL (and Redis, Kafka when configured) and exit: 0 if all answer")
	},
	Footer: `Examples:
  JQ_DB_URL=postgres://jq@localhost:5432/jq jq-server
  JQ_REDIS_ADDR=localhost:6379 jq-server --config /etc/jq/config.yaml --grpc-port 50051
  jq-server --dry-run
  jq-server migrate status

Signals: SIGTERM or SIGINT stops the server gracefully (workers keep their jobs and reconnect).`,
}

func main() { cli.Main(program.Service, run) }

func run(args []string, stdout, _ io.Writer) error {
	setup, err := program.Parse(args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if len(setup.Args) > 0 {
		if setup.Args[0] != "migrate" {
			return &cli.UsageError{Err: fmt.Errorf("unknown command %q (see jq-server --help)", setup.Args[0])}
		}
		return runMigrate(ctx, setup, setup.Args[1:], stdout)
	}
	if setup.Flags.Lookup("dry-run").Value.String() == "true" {
		return server.DryRun(ctx, setup.Config, setup.Logger)
	}

	jqredis.SetLibraryLogger(setup.Logger) // go-redis's own dial errors, at DEBUG
	srv, err := server.New(ctx, setup.Config, setup.Logger, metrics.NewRegistry())
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Shutdown()
		return err
	}
	<-ctx.Done()
	setup.Logger.Info("shutting down")
	srv.Shutdown()
	return nil
}

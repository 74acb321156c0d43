// Command jq-server is the jq scheduler and gRPC API: it claims jobs from PostgreSQL and streams
// them to connected jq-worker processes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"slices"
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
		"jq-server auth create-key --name NAME --role ROLE [--queues a,b] [--expires 720h] [--out FILE]",
		"jq-server auth list-keys | revoke-key NAME  manage API keys on the database directly",
	},
	Bound: []cli.Bound{
		{Flag: "grpc-port", Path: "grpc.port"},
		{Flag: "metrics-port", Path: "metrics.port"},
		{Flag: "health-port", Path: "health.port"},
		{Flag: "ui-port", Path: "ui.port"},
		{Flag: "auth-mode", Path: "auth.mode"},
		{Flag: "insecure-allow-none", Path: "auth.insecure_allow_none"},
	},
	Extra: func(fs *flag.FlagSet) {
		fs.Bool("dry-run", false, "check PostgreSQL (and Redis, Kafka when configured) and exit: 0 if all answer")
	},
	Footer: `Examples:
  JQ_DB_URL=postgres://jq@localhost:5432/jq jq-server
  JQ_REDIS_ADDR=localhost:6379 jq-server --config /etc/jq/config.yaml --grpc-port 50051
  jq-server --dry-run
  jq-server migrate status
  jq-server auth create-key --name alice --role admin        # the first admin key, printed once
  jq-server auth create-key --name pool-a --role worker --out /run/jq/worker.key

Callers present an API key as gRPC metadata "authorization: Bearer KEY" (auth.mode token, the
default); auth.mode mtls maps client certificates to roles; auth.mode none (no credentials) is
refused unless grpc.host is a loopback address or --insecure-allow-none is set. See
docs/security.md.

Signals: SIGTERM or SIGINT stops the server gracefully (workers keep their jobs and reconnect).`,
}

func main() { cli.Main(program.Service, run) }

func run(args []string, stdout, stderr io.Writer) error {
	logs := stdout
	if slices.Contains(args, "auth") {
		logs = stderr // the key is printed on stdout, alone
	}
	setup, err := program.ParseLogTo(args, stdout, logs)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if len(setup.Args) > 0 {
		switch setup.Args[0] {
		case "migrate":
			return runMigrate(ctx, setup, setup.Args[1:], stdout)
		case "auth":
			return runAuth(ctx, setup, setup.Args[1:], stdout, stderr)
		}
		return &cli.UsageError{Err: fmt.Errorf("unknown command %q (see jq-server --help)", setup.Args[0])}
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

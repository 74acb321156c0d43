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
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jqhq/jq/db"
	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/config"
)

var program = cli.Program{
	Service: config.ServiceServer,
	Summary: "the jq scheduler and gRPC API server",
	Usage: []string{
		"jq-server [flags]                      run the server (applies pending migrations first)",
		"jq-server migrate up|down|status [flags]   manage the schema by hand",
	},
	Bound: []cli.Bound{
		{Flag: "grpc-port", Path: "grpc.port"},
		{Flag: "metrics-port", Path: "metrics.port"},
		{Flag: "health-port", Path: "health.port"},
	},
	Extra: func(fs *flag.FlagSet) {
		fs.Bool("dry-run", false, "check the connection to PostgreSQL and exit (0 if it answers)")
	},
	Footer: `Examples:
  JQ_DB_URL=postgres://jq@localhost:5432/jq jq-server
  jq-server --config /etc/jq/config.yaml --grpc-port 50051
  jq-server --dry-run`,
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
		return dryRun(ctx, setup)
	}
	if setup.Config.DB.MigrateOnStart {
		m, err := db.NewMigrator(setup.Config.DB.ConnString(), nil)
		if err != nil {
			return err
		}
		if err := m.Up(ctx); err != nil {
			return err
		}
		setup.Logger.InfoContext(ctx, "schema up to date")
	}
	setup.Logger.InfoContext(ctx, "jq-server started; the scheduler and gRPC services are not built yet, waiting for a signal",
		"db", config.Redacted(setup.Config.DB.ConnString()))
	<-ctx.Done()
	setup.Logger.Info("jq-server stopped")
	return nil
}

// dryRun checks that PostgreSQL answers.
func dryRun(ctx context.Context, setup *cli.Setup) error {
	ctx, cancel := context.WithTimeout(ctx, setup.Config.DB.ConnectTimeout.Std()+time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, setup.Config.DB.ConnString())
	if err != nil {
		return fmt.Errorf("postgresql %s: %w", config.Redacted(setup.Config.DB.ConnString()), err)
	}
	defer conn.Close(context.Background())
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return fmt.Errorf("postgresql: %w", err)
	}
	setup.Logger.InfoContext(ctx, "postgresql ok", "version", version)
	return nil
}

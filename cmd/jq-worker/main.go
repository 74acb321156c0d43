// Command jq-worker runs the jobs jq-server streams to it, as subprocesses.
package main

import (
	"context"
	"io"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/cli"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/health"
	"github.com/jqhq/jq/internal/httpserve"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/worker"
)

var program = cli.Program{
	Service: config.ServiceWorker,
	Summary: "runs the jobs jq-server streams to it, as subprocesses",
	Usage:   []string{"jq-worker [flags]"},
	Bound: []cli.Bound{
		{Flag: "server-addr", Path: "worker.server_addr"},
		{Flag: "worker-id", Path: "worker.id"},
		{Flag: "concurrency", Path: "worker.concurrency"},
		{Flag: "queues", Path: "worker.queues"},
		{Flag: "token", Path: "worker.token"},
		{Flag: "token-file", Path: "worker.token_file"},
		{Flag: "metrics-port", Path: "metrics.port"},
		{Flag: "health-port", Path: "health.port"},
	},
	Footer: `A job's payload is {"command": ["prog", "arg", ...], "env": {"K": "V"}, "timeout_seconds": n}:
the command runs without a shell; its stdout is the result, its stderr the error text.
The worker refuses (a permanent failure) a program outside worker.allowed_commands when that
is set, and payload env names that change how programs load or run (LD_*, PATH, PYTHONPATH...)
unless worker.allowed_env names them.

The worker presents an API key with role worker (--token-file, JQ_TOKEN_FILE, --token or
JQ_TOKEN); jq-server binds the worker's id to that key.

Examples:
  jq-worker --server-addr localhost:50051 --concurrency 8 --queues default,emails
  JQ_SERVER_ADDR=jq-server:50051 JQ_TOKEN_FILE=/run/secrets/jq-worker-key jq-worker

Signals: SIGTERM or SIGINT drains the worker: it takes no new jobs, lets running ones finish
within worker.shutdown_grace (then kills them; they are retried elsewhere), deregisters and
exits 0.`,
}

func main() { cli.Main(program.Service, run) }

func run(args []string, stdout, _ io.Writer) error {
	setup, err := program.Parse(args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, log := setup.Config, setup.Logger

	creds, err := client.TLS(cfg.Worker.TLSCAFile, cfg.Worker.TLSCertFile, cfg.Worker.TLSKeyFile, cfg.Worker.TLSServerName)
	if err != nil {
		return err
	}
	token, err := client.ReadToken(cfg.Worker.Token, cfg.Worker.TokenFile)
	if err != nil {
		return err
	}
	if token == "" {
		log.Warn("no API key set (worker.token_file, JQ_TOKEN_FILE, worker.token, JQ_TOKEN): a jq-server in auth mode token will refuse this worker")
	}
	reg := metrics.NewRegistry()
	m := metrics.NewWorker(reg) // the worker exports only its own series

	w, err := worker.New(worker.Config{
		ServerAddr:        cfg.Worker.ServerAddr,
		Creds:             creds,
		Token:             token,
		ID:                cfg.Worker.ID,
		Concurrency:       cfg.Worker.Concurrency,
		Queues:            cfg.Worker.Queues,
		HeartbeatInterval: cfg.Worker.HeartbeatInterval.Std(),
		ShutdownGrace:     cfg.Worker.ShutdownGrace.Std(),
		DefaultTimeout:    cfg.Worker.DefaultTimeout.Std(),
		Logger:            log,
		Metrics: worker.Metrics{
			JobConcurrency: m.WorkerJobConcurrency, ConfiguredConcurrency: m.WorkerConfiguredConcurrency,
			JobsRun: m.WorkerJobsRun, ExecutionDuration: m.WorkerExecutionDuration,
		},
	}, worker.Exec{MaxOutputBytes: cfg.Worker.MaxOutputBytes, CancelGrace: cfg.Worker.CancelGrace.Std(), Guard: worker.Guard{
		AllowedCommands: cfg.Worker.AllowedCommands, AllowedEnv: cfg.Worker.AllowedEnv,
	}})
	if err != nil {
		return err
	}

	h := health.New(log)
	h.Add("jq-server stream", func(context.Context) error {
		if !w.Ready() {
			return errNotStreaming
		}
		return nil
	})
	listeners := []*httpserve.Server{httpserve.New(config.Address(cfg.Health.Host, cfg.Health.Port), h.Handler(), log)}
	if cfg.Metrics.Enabled {
		listeners = append(listeners, httpserve.New(config.Address(cfg.Metrics.Host, cfg.Metrics.Port), metrics.Handler(prometheus.Gatherer(reg)), log))
	}
	for _, l := range listeners {
		if err := l.Start(ctx); err != nil {
			return err
		}
		defer l.Stop()
	}
	metricsAddr := ""
	if len(listeners) > 1 {
		metricsAddr = listeners[1].Addr().String()
	}
	log.Info("jq-worker started", "worker_id", w.ID().String(), "server_addr", cfg.Worker.ServerAddr,
		"health", listeners[0].Addr().String(), "metrics", metricsAddr,
		"concurrency", cfg.Worker.Concurrency, "queues", cfg.Worker.Queues)
	err = w.Run(ctx)
	h.SetShuttingDown()
	return err
}

type errString string

func (e errString) Error() string { return string(e) }

const errNotStreaming = errString("not connected to jq-server yet")

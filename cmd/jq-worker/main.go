// Command jq-worker runs the jobs jq-server streams to it, as subprocesses.
package main

import (
	"context"
	"io"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	jqgrpc "github.com/jqhq/jq/grpc"
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
		{Flag: "metrics-port", Path: "metrics.port"},
		{Flag: "health-port", Path: "health.port"},
	},
	Footer: `A job's payload is {"command": ["prog", "arg", ...], "env": {"K": "V"}, "timeout_seconds": n}:
the command runs without a shell; its stdout is the result, its stderr the error text.

Examples:
  jq-worker --server-addr localhost:50051 --concurrency 8 --queues default,emails
  JQ_SERVER_ADDR=jq-server:50051 JQ_WORKER_ID=$(hostname) jq-worker

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

	creds, err := jqgrpc.ClientCredentials(cfg.Worker.TLSCAFile, cfg.Worker.TLSCertFile, cfg.Worker.TLSKeyFile, cfg.Worker.TLSServerName)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	m := metrics.NewWorker(reg) // the worker exports only its own series

	w, err := worker.New(worker.Config{
		ServerAddr:        cfg.Worker.ServerAddr,
		Creds:             creds,
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
	}, worker.Exec{MaxOutputBytes: cfg.Worker.MaxOutputBytes})
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

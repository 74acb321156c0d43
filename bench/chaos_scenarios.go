package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/peterbourgon/ff/v3/ffcli"
)

// chaosScenario is one fault of jq-bench chaos.
type chaosScenario struct {
	name  string
	fault string // what is done, for the help and the report
	// servers is how many jq-server processes run (1 or 2).
	servers int
	// maxConn is the cluster's max_connections (0: 100).
	maxConn int
	// pgProxy puts a fault-injecting proxy between the servers and PostgreSQL; workerProxy
	// one between each worker and its server.
	pgProxy, workerProxy bool
	// pgOutage: PostgreSQL (or the path to it) goes away; the servers must report not ready
	// and serve again within 2 s of its return.
	pgOutage bool
	// defaults sets the scenario's fault duration and other defaults.
	defaults func(p *chaosParams)
	// serverEnv is extra environment of the servers.
	serverEnv func(p chaosParams) []string
	// setUp starts what the scenario needs besides the cluster (Redis, Kafka).
	setUp func(ctx context.Context, e *chaosEnv) error
	// inject runs the fault: it calls markStart, (markPGBack,) markEnd.
	inject func(ctx context.Context, e *chaosEnv) error
	// allowance is the detection time the recovery target adds to its 10 s, and the window
	// around the fault in which a cut-off attempt counts as the fault's.
	allowance func(p chaosParams) time.Duration
	// prepare runs before the load and returns the rate to offer (0: --rate).
	prepare func(ctx context.Context, e *chaosEnv) (float64, error)
	// finish adds the scenario's own figures and targets.
	finish func(ctx context.Context, e *chaosEnv, rep *Report) error
}

// Targets of every chaos scenario.
const (
	chaosRecoveryTarget = 10.0 // s from the fault's end to ≥ 90 % of the baseline throughput
	chaosServedTarget   = 2.0  // s from PostgreSQL's return to the first accepted submit
	chaosDetectionSlack = 5.0  // s added to the detection timeouts after a partition
)

// chaosScenarios lists the scenarios of jq-bench chaos.
func chaosScenarios() []chaosScenario {
	return []chaosScenario{
		{
			name: "pg-backend-kill", fault: "pg_terminate_backend of every connection to jq's database, 2×/s", servers: 1, pgOutage: true,
			defaults: func(p *chaosParams) { p.fault = 10 * time.Second },
			inject: func(ctx context.Context, e *chaosEnv) error {
				e.markStart()
				end := time.Now().Add(e.p.fault)
				killed, rounds := 0, 0
				// A round every 500 ms from the fault's start (a slow round delays the next, on a
				// busy box, but the cadence does not drift by the rounds' own time).
				for next := time.Now(); next.Before(end); next = next.Add(500 * time.Millisecond) {
					if err := sleep(ctx, time.Until(next)); err != nil {
						return err
					}
					n, err := e.cluster.terminate(ctx, e.dbName)
					if err != nil {
						return err
					}
					killed += n
					rounds++
				}
				e.markPGBack()
				e.markEnd()
				e.setExtra("backends_terminated", killed)
				e.note("%d backends terminated in %d rounds", killed, rounds)
				return nil
			},
		},
		{
			name: "pg-restart", fault: "PostgreSQL fast shutdown, down for --fault, started again", servers: 1, pgOutage: true,
			defaults: func(p *chaosParams) { p.fault = 5 * time.Second },
			inject: func(ctx context.Context, e *chaosEnv) error {
				e.markStart()
				if err := e.cluster.stop(ctx, "fast"); err != nil {
					return err
				}
				if err := sleep(ctx, e.p.fault); err != nil {
					return err
				}
				if err := e.cluster.start(ctx); err != nil {
					return err
				}
				e.markPGBack()
				e.markEnd()
				return nil
			},
		},
		{
			name: "pg-pool-exhaustion", fault: "other clients hold all but 3 of max_connections (40) idle", servers: 1, maxConn: 40,
			defaults: func(p *chaosParams) { p.fault = 20 * time.Second },
			inject: func(ctx context.Context, e *chaosEnv) error {
				conn, err := pgx.Connect(ctx, e.cluster.url("postgres"))
				if err != nil {
					return err
				}
				var used int
				err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'`).Scan(&used)
				_ = conn.Close(ctx)
				if err != nil {
					return err
				}
				e.markStart()
				var held []*pgx.Conn
				defer func() {
					for _, c := range held {
						_ = c.Close(context.Background())
					}
				}()
				for range e.cluster.maxConn - used - 3 {
					c, err := pgx.Connect(ctx, e.cluster.url("postgres"))
					if err != nil {
						e.note("grabbing connections stopped at %d: %v", len(held), err)
						break
					}
					held = append(held, c)
				}
				e.setExtra("connections_held", len(held))
				e.note("held %d idle connections of max_connections %d (%d in use before)", len(held), e.cluster.maxConn, used)
				if err := sleep(ctx, e.p.fault); err != nil {
					return err
				}
				for _, c := range held {
					_ = c.Close(ctx)
				}
				held = nil
				e.markEnd()
				return nil
			},
		},
		{
			name: "pg-partition", fault: "server ↔ PostgreSQL traffic silently dropped (no FIN/RST), then restored", servers: 1,
			pgProxy: true, pgOutage: true,
			defaults:  func(p *chaosParams) { p.fault = 15 * time.Second },
			allowance: func(chaosParams) time.Duration { return pgDetection },
			inject: func(ctx context.Context, e *chaosEnv) error {
				e.markStart()
				e.pgProxy.Blackhole()
				if err := sleep(ctx, e.p.fault); err != nil {
					return err
				}
				e.pgProxy.Restore()
				e.markPGBack()
				e.markEnd()
				return nil
			},
		},
		{
			name: "server-kill", fault: "two servers; SIGKILL one, start it again after --fault", servers: 2,
			defaults: func(p *chaosParams) { p.fault = 5 * time.Second },
			inject: func(ctx context.Context, e *chaosEnv) error {
				e.markStart()
				e.servers[1].kill()
				if err := sleep(ctx, e.p.fault); err != nil {
					return err
				}
				if err := e.servers[1].start(); err != nil {
					return err
				}
				e.markEnd()
				return nil
			},
		},
		{
			name: "worker-kill-repeated", fault: "SIGKILL and restart of one worker every 5 s", servers: 1,
			defaults: func(p *chaosParams) { p.fault = 30 * time.Second },
			inject: func(ctx context.Context, e *chaosEnv) error {
				e.markStart()
				end := time.Now().Add(e.p.fault)
				kills := 0
				for time.Now().Before(end) {
					e.workers[0].kill()
					kills++
					if err := e.workers[0].start(); err != nil {
						return err
					}
					if err := sleep(ctx, min(5*time.Second, time.Until(end))); err != nil {
						return err
					}
				}
				e.markEnd()
				e.setExtra("worker_kills", kills)
				return nil
			},
		},
		{
			name: "worker-partition", fault: "one worker ↔ server path silently dropped (no FIN/RST), then restored", servers: 1,
			workerProxy: true,
			defaults:    func(p *chaosParams) { p.fault = 15 * time.Second },
			serverEnv: func(chaosParams) []string {
				return []string{"JQ_SCHEDULER_HEARTBEAT_TIMEOUT=" + workerDetection.String()}
			},
			allowance: func(chaosParams) time.Duration { return workerDetection },
			inject: func(ctx context.Context, e *chaosEnv) error {
				e.markStart()
				e.workerProxy[0].Blackhole()
				if err := sleep(ctx, e.p.fault); err != nil {
					return err
				}
				e.workerProxy[0].Restore()
				e.markEnd()
				return nil
			},
		},
		{
			name: "redis-down", fault: "two servers on Redis; Redis stopped for --fault, started again", servers: 2,
			defaults: func(p *chaosParams) { p.fault = 15 * time.Second },
			setUp:    startChaosRedis,
			inject: func(ctx context.Context, e *chaosEnv) error {
				rd := e.redis
				e.markStart()
				rd.stop(5 * time.Second)
				if err := sleep(ctx, e.p.fault); err != nil {
					return err
				}
				if err := rd.start(); err != nil {
					return err
				}
				e.markEnd()
				return nil
			},
		},
		{
			name: "kafka-down", fault: "the Kafka broker (kfake) stopped for --fault, started again on the same port", servers: 1,
			defaults: func(p *chaosParams) { p.fault = 15 * time.Second },
			setUp:    startChaosKafka,
			inject:   kafkaDown,
			finish:   kafkaFinish,
		},
		overloadScenario(),
	}
}

// The detection timeouts the partition scenarios allow for: the PostgreSQL path's (statement,
// connect and keepalive timeouts, whichever the server applies) and the worker path's
// (scheduler.heartbeat_timeout, set for the scenario).
const (
	pgDetection     = 10 * time.Second
	workerDetection = 10 * time.Second
)

// startChaosRedis starts a private redis-server on a free port for the servers.
func startChaosRedis(ctx context.Context, e *chaosEnv) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server not found on PATH")
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	rd := newChaosProc("redis-server", bin, []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", e.cluster.dir}, nil, e.r.stderrLogs())
	if err := rd.start(); err != nil {
		return err
	}
	e.r.onClose(func() { rd.stop(5 * time.Second) })
	e.redis = rd
	e.serverEnv = append(e.serverEnv, fmt.Sprintf("JQ_REDIS_ADDR=127.0.0.1:%d", port), "JQ_REDIS_KEY_PREFIX=jq-chaos:")
	return waitFor(ctx, 10*time.Second, "redis-server listening", func() bool {
		return freePortTaken(port)
	})
}

// runChaos runs one chaos scenario.
func runChaos(ctx context.Context, r *run, spec chaosScenario, p chaosParams) (*Report, error) {
	started := time.Now()
	e := &chaosEnv{r: r, p: p}
	if err := e.setUp(ctx, &spec); err != nil {
		return nil, err
	}
	allowance := time.Duration(0)
	if spec.allowance != nil {
		allowance = spec.allowance(p)
	}
	e.sub = &submitter{retryFor: max(p.fault+5*time.Second, 10*time.Second)}
	for _, c := range e.conns {
		e.sub.clients = append(e.sub.clients, jobClient(c))
	}
	if spec.prepare != nil {
		rate, err := spec.prepare(ctx, e)
		if err != nil {
			return nil, err
		}
		if rate > 0 {
			p.rate = rate
		}
	}
	lctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	e.sampleReadiness(lctx)

	loadStart := time.Now()
	r.progress("%d server(s), %d worker process(es) × %d; offering %.0f jobs/s; fault in %s", len(e.servers), len(e.workers), p.concurrency, p.rate, p.before)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		e.sub.run(ctx, p.rate)
	}()
	if err := sleep(ctx, p.before); err != nil {
		return nil, err
	}
	r.progress("fault: %s", spec.fault)
	if err := spec.inject(ctx, e); err != nil {
		e.sub.stop(time.Now())
		<-subDone
		return nil, fmt.Errorf("inject the fault: %w", err)
	}
	r.progress("fault over after %.1f s; load goes on for %s", time.Since(e.faultStart).Seconds(), p.after)
	loadEnd := time.Now().Add(p.after)
	e.sub.stop(loadEnd)
	<-subDone
	r.progress("load over; waiting up to %s for the last jobs", p.drain)
	settleErr := e.waitSettled(ctx, p.drain)
	if settleErr != nil {
		e.note("not every job finished: %v", settleErr)
	}
	if e.kafka != nil {
		if err := e.waitRelayCaughtUp(ctx, p.drain); err != nil {
			e.note("the relay did not catch up: %v", err)
		}
	}
	stopSampling()
	t0 := time.Now()
	stopAll(e.workers, 10*time.Second)
	r.progress("workers drained and stopped in %.1f s", time.Since(t0).Seconds())
	f, err := e.analyse(ctx, loadStart, loadEnd, allowance+10*time.Second)
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	stopAll(e.servers, 10*time.Second)
	r.progress("servers stopped in %.1f s", time.Since(t0).Seconds())
	// The servers' exits at the end were asked for; count again for the summary.
	f.Processes = f.Processes[:0]
	for _, ps := range append(append([]*chaosProc{}, e.servers...), e.workers...) {
		f.Processes = append(f.Processes, ps.summary())
	}

	rep := r.report(ctx, started, map[string]any{
		"fault": spec.fault, "rate": p.rate, "before_s": p.before.Seconds(), "fault_s": p.fault.Seconds(), "after_s": p.after.Seconds(),
		"servers": len(e.servers), "procs": p.procs, "concurrency": p.concurrency, "job_duration_ms": p.jobDuration.Milliseconds(),
	})
	rep.PeakRSS = PeakRSS{Server: ptr(f.ServerPeakRSSMB), Workers: ptr(f.WorkerPeakRSSMB), Scope: "largest jq-server process; largest no-op worker process (VmHWM)"}
	rep.JobsPerSec = ptr(f.BaselineJobsPerS)
	rep.Extra = map[string]any{"chaos": f}
	for k, v := range e.extra {
		rep.Extra[k] = v
	}
	rep.Notes = append(rep.Notes, e.notes...)
	recovery := "not back to 90 % before the load ended"
	if f.RecoveryS >= 0 {
		recovery = fmt.Sprintf("%.2f s", f.RecoveryS)
	}
	rep.Rows = []Row{
		{"jobs offered / accepted / not accepted", fmt.Sprintf("%d / %d / %d (skipped ticks %d, accepted after a retry %d)", f.Offered, f.Accepted, f.NotAccepted, f.SkippedTicks, f.Retried)},
		{"jobs in the database / DONE and in the ledger", fmt.Sprintf("%d / %d", f.JobsInDB, f.Done)},
		{"lost", fmt.Sprint(f.Lost)},
		{"doubled (of which cut off by the fault)", fmt.Sprintf("%d (%d)", f.Doubled, f.DoubledCutOff)},
		{"executions in the ledger (torn lines)", fmt.Sprintf("%d (%d)", f.Executions, f.TornLedgerLines)},
		{"throughput before / during (ratio)", fmt.Sprintf("%s / %s jobs/s (%.2f)", formatNumber(f.BaselineJobsPerS), formatNumber(f.DuringJobsPerS), f.DuringOverBefore)},
		{"fault lasted", fmt.Sprintf("%.2f s", f.FaultS)},
		{"recovery to ≥ 90 % of before", recovery},
		{"submit→start p99 before / during / after", fmt.Sprintf("%s / %s / %s ms (max during %s ms)", formatNumber(f.P99Before), formatNumber(f.P99During), formatNumber(f.P99After), formatNumber(f.MaxDuring))},
		{"unexpected process exits", fmt.Sprint(f.UnexpectedExits)},
	}
	if f.ServedAgainS != nil {
		rep.Rows = append(rep.Rows, Row{"PostgreSQL back → first accepted submit", fmt.Sprintf("%.2f s", *f.ServedAgainS)})
	}
	if f.ReadyAgainS != nil {
		rep.Rows = append(rep.Rows, Row{"PostgreSQL back → every server ready", fmt.Sprintf("%.2f s", *f.ReadyAgainS)})
	}
	if f.NotReadySeen != nil {
		rep.Rows = append(rep.Rows, Row{"a server reported not ready during the fault", fmt.Sprint(*f.NotReadySeen)})
	}
	for _, d := range f.LostDetail {
		rep.Notes = append(rep.Notes, "lost: "+d)
	}
	for _, ps := range f.Processes {
		for _, x := range ps.Exits {
			if !x.Expected {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s exited unexpectedly: %s at %s", ps.Name, x.Status, x.At))
			}
		}
	}

	rep.Targets = append(rep.Targets,
		atMost("lost jobs", float64(f.Lost), 0, "jobs"),
		atMost("doubled, not cut off by the fault", float64(f.Doubled-f.DoubledCutOff), 0, "jobs"),
		atMost("processes exited because of the fault", float64(f.UnexpectedExits), 0, "exits"),
	)
	recTarget := chaosRecoveryTarget
	if spec.allowance != nil {
		recTarget = allowance.Seconds() + chaosDetectionSlack
	}
	recValue := f.RecoveryS
	if recValue < 0 {
		recValue = p.after.Seconds() + 1 // never recovered within the load
	}
	rep.Targets = append(rep.Targets, atMost("recovery to 90 % of the baseline throughput", recValue, recTarget, "s"))
	if spec.pgOutage {
		served := p.after.Seconds() + 1
		if f.ServedAgainS != nil {
			served = *f.ServedAgainS
		}
		rep.Targets = append(rep.Targets, atMost("PostgreSQL back → serving again", served, chaosServedTarget, "s"))
	}
	if spec.finish != nil {
		if err := spec.finish(ctx, e, rep); err != nil {
			return nil, err
		}
	}
	rep.Notes = append(rep.Notes, "the machine is shared: throughput and latency figures vary with the neighbours' load (see machine)")
	rep.Duration = time.Since(started)
	return rep, nil
}

// chaosCommand is `jq-bench chaos`: one subcommand per scenario, and all.
func (c *cli) chaosCommand() *ffcli.Command {
	fs := c.flagSet("jq-bench chaos")
	cmd := &ffcli.Command{
		Name:       "chaos",
		ShortUsage: "jq-bench chaos SCENARIO [flags]",
		ShortHelp:  "inject a fault under steady load into a system of real processes: lost, doubled, recovery",
		LongHelp:   chaosLongHelp(),
		FlagSet:    fs,
		UsageFunc:  c.usage,
		Exec: func(_ context.Context, args []string) error {
			if len(args) == 0 {
				return &UsageError{Err: fmt.Errorf("name a chaos scenario: %s or all (see jq-bench chaos --help)", strings.Join(chaosNames(), ", "))}
			}
			return &UsageError{Err: fmt.Errorf("unknown chaos scenario %q (see jq-bench chaos --help)", args[0])}
		},
	}
	for _, cs := range chaosScenarios() {
		cmd.Subcommands = append(cmd.Subcommands, c.scenarioCommand(chaosCommandScenario(cs)))
	}
	cmd.Subcommands = append(cmd.Subcommands, c.chaosAllCommand())
	return cmd
}

func chaosNames() []string {
	var out []string
	for _, cs := range chaosScenarios() {
		out = append(out, cs.name)
	}
	return out
}

func chaosLongHelp() string {
	var b strings.Builder
	b.WriteString(`chaos runs a system of real processes against a PostgreSQL cluster of its own (initdb and
pg_ctl from the machine's PostgreSQL binaries, on a free port; as the user postgres when
jq-bench runs as root): jq-server processes, no-op worker processes (jq-bench noop-worker)
appending every execution to a ledger, a steady load through SubmitJob (each job numbered,
idempotency-keyed, retried on failure), then one fault, and the load goes on through the
recovery. It reports lost jobs (accepted but never DONE, or DONE but not in the ledger),
doubled executions (and how many had an attempt cut off by the fault), throughput during ÷
before, the recovery time to ≥ 90 % of the baseline, submit→start p99 before / during / after,
the processes' exits and peak RSS; bench/README.md explains the figures and docs/reliability.md
what they mean.

Scenarios:
`)
	for _, cs := range chaosScenarios() {
		fmt.Fprintf(&b, "  %-22s %s\n", cs.name, cs.fault)
	}
	b.WriteString(`
Examples:
  jq-bench chaos pg-restart
  jq-bench chaos pg-backend-kill --before 5s --fault 5s --after 10s --json
  jq-bench chaos all --out bench/results/chaos.json       # what make chaos runs`)
	return b.String()
}

// chaosCommandScenario turns a chaos scenario into a scenario command.
func chaosCommandScenario(cs chaosScenario) scenario {
	return scenario{
		name:       cs.name,
		path:       "jq-bench chaos " + cs.name,
		short:      cs.fault,
		ownCluster: true,
		long: fmt.Sprintf(`%s: %s, under a steady load, while the load goes on through the recovery
(see jq-bench chaos --help).

Examples:
  jq-bench chaos %s
  jq-bench chaos %s --rate 100 --before 3s --after 8s --json`, cs.name, cs.fault, cs.name, cs.name),
		bind: func(o *Options, fs *flag.FlagSet) runner {
			p := chaosParams{rate: 200, before: 10 * time.Second, after: 20 * time.Second, procs: 2, concurrency: 32,
				jobDuration: 10 * time.Millisecond, drain: 60 * time.Second}
			if cs.defaults != nil {
				cs.defaults(&p)
			}
			fs.Float64Var(&p.rate, "rate", p.rate, "jobs offered per second")
			fs.DurationVar(&p.before, "before", p.before, "load before the fault (the baseline)")
			fs.DurationVar(&p.fault, "fault", p.fault, "how long the fault lasts")
			fs.DurationVar(&p.after, "after", p.after, "load after the fault ends")
			fs.IntVar(&p.procs, "procs", p.procs, "no-op worker processes")
			fs.IntVar(&p.concurrency, "concurrency", p.concurrency, "jobs each worker runs at once")
			fs.DurationVar(&p.jobDuration, "job-duration", p.jobDuration, "how long each job runs")
			fs.DurationVar(&p.drain, "drain-timeout", p.drain, "how long to wait for the last jobs after the load")
			fs.StringVar(&p.serverBin, "server-bin", "", "jq-server binary (default: next to jq-bench, else on PATH)")
			fs.StringVar(&p.pgBindir, "pg-bindir", "", "PostgreSQL server binaries (default: pg_config --bindir, else /usr/lib/postgresql/*/bin)")
			fs.StringVar(&o.BenchBin, "bench-bin", o.BenchBin, "jq-bench binary run as noop-worker (default: this one)")
			return runner{
				check: func(*Options) error {
					var errs []error
					if p.rate <= 0 || p.rate > 20000 {
						errs = append(errs, fmt.Errorf("--rate %v is outside (0, 20000]", p.rate))
					}
					if p.before < time.Second || p.after < 2*time.Second || p.fault <= 0 {
						errs = append(errs, errors.New("--before must be at least 1s, --after at least 2s, --fault positive"))
					}
					if p.procs < 1 || p.concurrency < 1 {
						errs = append(errs, fmt.Errorf("--procs %d and --concurrency %d must be at least 1", p.procs, p.concurrency))
					}
					if cs.workerProxy && p.procs < 2 {
						errs = append(errs, errors.New("--procs must be at least 2: one worker is cut off, the others carry the load"))
					}
					return errors.Join(errs...)
				},
				run: func(ctx context.Context, r *run) (*Report, error) {
					p.logLevel = r.o.LogLevel
					if p.serverBin == "" {
						bin, err := siblingBin("jq-server")
						if err != nil {
							return nil, err
						}
						p.serverBin = bin
					}
					return runChaos(ctx, r, cs, p)
				},
			}
		},
	}
}

// siblingBin finds a jq binary next to jq-bench, else on PATH.
func siblingBin(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found next to jq-bench nor on PATH: build it (make build) or set --server-bin", name)
	}
	return p, nil
}

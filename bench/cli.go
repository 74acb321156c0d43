package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/config"
)

// UsageError is a mistake on the command line; jq-bench exits 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ErrHelp is returned once --help (or --version) has been printed; jq-bench exits 0.
var ErrHelp = flag.ErrHelp

// defaultDBURL is the PostgreSQL tried when neither --db-url, JQ_DB_URL nor
// deploy/local-services.sh gives one.
const defaultDBURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Run runs jq-bench with args (without the program name). The report goes to stdout: a
// table, or with --json one JSON document (and the table to stderr). Progress lines and the
// server's and workers' logs go to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return (&cli{stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}).run(ctx, args)
}

// cli is one invocation of jq-bench.
type cli struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// parseOut catches what the flag package writes while parsing: the help asked for.
	parseOut bytes.Buffer
	// onReport receives each scenario's report; nil prints it.
	onReport func(*Report) error
	// args is the command line, for the reports.
	args []string
	// parsing names the command whose flags were parsed last, for the "see … --help" hint.
	parsing string
	// set is the suite's set of runs; nil means StandardSet.
	set [][]string
}

func (c *cli) run(ctx context.Context, args []string) error {
	c.args, c.parsing = args, "jq-bench"
	root := c.tree()
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = c.parseOut.WriteTo(c.stdout)
			return ErrHelp
		}
		return &UsageError{Err: fmt.Errorf("%w (see %s --help)", unwrapFF(err), c.parsing)}
	}
	return root.Run(ctx)
}

// tree is jq-bench's command tree: one command per scenario, the standard suite, and the
// no-op worker process.
func (c *cli) tree() *ffcli.Command {
	rootFS := c.flagSet("jq-bench")
	version := rootFS.Bool("version", false, "print the version and exit")
	root := &ffcli.Command{
		Name:       "jq-bench",
		ShortUsage: "jq-bench SCENARIO [flags]",
		ShortHelp:  "jq's load-test suite",
		LongHelp: `jq-bench measures jq. Each run creates a fresh database (jq_bench_<id>) on the PostgreSQL
server of --db-url (else JQ_DB_URL, else what deploy/local-services.sh finds), starts an
in-process jq-server and workers, measures, prints a table (or --json), and drops the
database. burn, steady and subprocess can target a running deployment with --server-addr.
bench/README.md explains every figure and the targets.

Examples:
  jq-bench burn --jobs 50000 --procs 1
  jq-bench steady --rate 1000 --duration 10s --json
  jq-bench suite --out bench/results/latest.json      # the standard set, as make bench runs it
  jq-bench SCENARIO --help                            # each scenario's flags and examples`,
		FlagSet:   rootFS,
		UsageFunc: c.usage,
		Exec: func(_ context.Context, args []string) error {
			if *version {
				fmt.Fprintln(c.stdout, buildinfo.String("jq-bench"))
				return ErrHelp
			}
			if len(args) == 0 {
				return &UsageError{Err: errors.New("name a scenario: burn, steady, subprocess, sql, backlog, recovery, events, fleet, chaos or suite (see jq-bench --help)")}
			}
			return &UsageError{Err: fmt.Errorf("unknown scenario %q (see jq-bench --help)", args[0])}
		},
	}
	for _, s := range scenarios() {
		root.Subcommands = append(root.Subcommands, c.scenarioCommand(s))
	}
	root.Subcommands = append(root.Subcommands, c.chaosCommand(), c.suiteCommand(), c.noopWorkerCommand())
	return root
}

func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&c.parseOut)
	return fs
}

// usage is every command's UsageFunc: ffcli's, noting which command the flag package is
// parsing (it asks for the usage on --help and on a mistake).
func (c *cli) usage(cmd *ffcli.Command) string {
	c.parsing = cmd.FlagSet.Name()
	return ffcli.DefaultUsageFunc(cmd)
}

// scenario describes one scenario's command line.
type scenario struct {
	name  string
	short string
	long  string // what it measures, and examples
	// groups are the shared flags it takes.
	groups flagGroup
	// path is the command line that names it ("jq-bench chaos pg-restart"); empty:
	// "jq-bench NAME".
	path string
	// ownCluster: the scenario runs a PostgreSQL cluster of its own (chaos); --db-url is
	// not needed.
	ownCluster bool
	// bind sets the scenario's defaults in o, registers its own flags on fs, and returns the
	// runner, which reads the parsed values.
	bind func(o *Options, fs *flag.FlagSet) runner
}

// runner checks a scenario's parsed flags and runs it.
type runner struct {
	check func(o *Options) error
	run   func(ctx context.Context, r *run) (*Report, error)
}

// scenarioCommand turns a scenario into a command.
func (c *cli) scenarioCommand(s scenario) *ffcli.Command {
	if s.path == "" {
		s.path = "jq-bench " + s.name
	}
	fs := c.flagSet(s.path)
	o := defaultOptions()
	rn := s.bind(&o, fs)
	o.register(fs, s.groups)
	return &ffcli.Command{
		Name:       s.name,
		ShortUsage: s.path + " [flags]",
		ShortHelp:  s.short,
		LongHelp:   s.long,
		FlagSet:    fs,
		UsageFunc:  c.usage,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("%s takes no arguments, got %q (see %s --help)", s.name, args, s.path)}
			}
			rep, err := c.runScenario(ctx, s, o, rn)
			if err != nil {
				return err
			}
			return c.deliver(rep, o.JSON)
		},
	}
}

// runScenario checks the options, prepares the run and runs the scenario.
func (c *cli) runScenario(ctx context.Context, s scenario, o Options, rn runner) (*Report, error) {
	errs := []error{o.check(s.groups)}
	if rn.check != nil {
		errs = append(errs, rn.check(&o))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("%s: %w (see %s --help)", s.name, err, s.path)}
	}
	if o.DBURL == "" && !o.remote() && !s.ownCluster {
		u, err := c.findDatabase(ctx)
		if err != nil {
			return nil, err
		}
		o.DBURL = u
	}
	ctx, cancel := context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("--timeout %s reached", o.Timeout))
	defer cancel()
	r, err := newRun(s.name, o, c.stderr)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	meter := startMachineMeter()
	resetPeakRSS()
	rep, err := rn.run(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	rep.Machine = meter.stop()
	return rep, nil
}

// deliver prints a report: the table on stdout, or the JSON document on stdout and the
// table on stderr.
func (c *cli) deliver(rep *Report, asJSON bool) error {
	rep.Command = "jq-bench " + strings.Join(withoutDBURL(c.args), " ")
	if c.onReport != nil {
		return c.onReport(rep)
	}
	if !asJSON {
		return rep.WriteTable(c.stdout)
	}
	if err := rep.WriteTable(c.stderr); err != nil {
		return err
	}
	return rep.WriteJSON(c.stdout)
}

// findDatabase returns the PostgreSQL server to use when --db-url is not given: JQ_DB_URL,
// else what deploy/local-services.sh finds or starts (when jq-bench runs from a checkout),
// else the usual local one.
func (c *cli) findDatabase(ctx context.Context) (string, error) {
	if u, ok := c.lookupEnv("JQ_DB_URL"); ok && u != "" {
		return u, nil
	}
	script := localServicesScript()
	if script == "" {
		return defaultDBURL, nil
	}
	fmt.Fprintf(c.stderr, "jq-bench: no --db-url or JQ_DB_URL; asking %s\n", script)
	cmd := exec.CommandContext(ctx, script, "env")
	cmd.Stderr = c.stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s env: %w (set --db-url or JQ_DB_URL)", script, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export JQ_DB_URL="); ok {
			return strings.Trim(v, `'"`), nil
		}
	}
	return "", fmt.Errorf("%s env printed no JQ_DB_URL (set --db-url or JQ_DB_URL)", script)
}

// localServicesScript finds deploy/local-services.sh from the working directory or from the
// directory of the executable (bin/jq-bench in a checkout); "" when there is none.
func localServicesScript() string {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(filepath.Dir(exe)))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "deploy", "local-services.sh")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// withoutDBURL drops --db-url and its value from a command line: the URL may hold a password.
func withoutDBURL(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--db-url" || a == "-db-url":
			i++
		case strings.HasPrefix(a, "--db-url=") || strings.HasPrefix(a, "-db-url="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// unwrapFF drops ff's "error parsing commandline arguments: " prefix.
func unwrapFF(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}

// scenarios lists every scenario's command line.
func scenarios() []scenario {
	return []scenario{
		{
			name:   "burn",
			short:  "drain pre-inserted no-op jobs through the whole server: jobs/s",
			groups: flagsServer | flagsWorkers | flagsRemote,
			long: `burn inserts --jobs no-op jobs in bulk (jq.submit_many), then starts the server and the
workers and measures how fast they drain the queue: jobs/s from the first claim to the last
completion, by the database's clock. Every job takes the full path: claim, delivery over the
worker's gRPC stream, the no-op Go handler, ReportResult, complete_many, with its job_events
rows. Workers run in-process (--workers) or as processes (--procs: jq-bench noop-worker, the
same no-op handler in its own process). With --server-addr the jobs are submitted through
SubmitJob to the running server first. --max-running N puts the queue under flow control
(docs/flow-control.md) with that limit: set it above the workers' total concurrency to measure
what the limit's path costs when it never binds.

Examples:
  jq-bench burn                                   # 50,000 jobs, 1 in-process worker
  jq-bench burn --procs 1 --max-running 100000    # the same through flow control's claim path
  jq-bench burn --jobs 100k --procs 1             # the target's setup: 1 server + 1 worker process
  jq-bench burn --server-addr jq:50051 --metrics-url http://jq:9090/metrics --procs 4`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				jobs := countFlag(50_000)
				fs.Var(&jobs, "jobs", "no-op jobs to drain (500, 10k, 1M)")
				maxRunning := fs.Int("max-running", 0, "set the queue's max_running (flow control) to N first; 0: no limit")
				return runner{run: func(ctx context.Context, r *run) (*Report, error) {
					if *maxRunning < 0 {
						return nil, fmt.Errorf("--max-running %d is negative", *maxRunning)
					}
					return burnScenario(ctx, r, int(jobs), *maxRunning)
				}}
			},
		},
		{
			name:   "steady",
			short:  "offer R jobs/s through SubmitJob for D: achieved rate, latency percentiles",
			groups: flagsServer | flagsWorkers | flagsRemote,
			long: `steady offers --rate jobs/s through SubmitJob for --duration, from --clients concurrent
callers paced by one token bucket, to no-op workers that record when each job starts. It
reports the offered and achieved rates and exact percentiles (p50, p90, p99, max) of
submit→start (the handler began) and submit→done (the DONE row's completed_at; the handler's
return against a running server), and the scheduler cycle p95 over the run. --notify=false
measures the poll fallback (scheduler.interval, 500 ms).

Examples:
  jq-bench steady --rate 1000 --duration 10s
  jq-bench steady --rate 1000 --duration 10s --notify=false
  jq-bench steady --rate 5000 --duration 30s --workers 4 --clients 64 --json`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				o.Concurrency = 64
				p := steadyParams{rate: 1000, duration: 10 * time.Second, clients: 32, drain: 60 * time.Second}
				fs.Float64Var(&p.rate, "rate", p.rate, "jobs offered per second")
				fs.DurationVar(&p.duration, "duration", p.duration, "how long to offer them")
				fs.IntVar(&p.clients, "clients", p.clients, "concurrent SubmitJob callers")
				fs.DurationVar(&p.drain, "drain-timeout", p.drain, "how long to wait for the last jobs after the offering ends")
				fs.IntVar(&p.queues, "queues", 1, "spread the jobs over this many queues in turn, every worker taking them all")
				return runner{
					check: func(o *Options) error {
						errs := []error{checkQueues(o, p.queues)}
						if p.rate <= 0 {
							errs = append(errs, fmt.Errorf("--rate %v must be positive", p.rate))
						}
						if p.duration <= 0 {
							errs = append(errs, fmt.Errorf("--duration %s must be positive", p.duration))
						}
						if p.rate*p.duration.Seconds() > 50_000_000 {
							errs = append(errs, errors.New("--rate × --duration is over 50M jobs"))
						}
						if p.clients < 1 {
							errs = append(errs, fmt.Errorf("--clients %d: at least one is needed", p.clients))
						}
						return errors.Join(errs...)
					},
					run: func(ctx context.Context, r *run) (*Report, error) { return steadyScenario(ctx, r, p) },
				}
			},
		},
		pressureScenario(pressureIdleInTx, "steady load while a session idles in a transaction: latency before, during, after",
			`idle-in-tx offers --rate jobs/s (steady) for --baseline, then for --pin another session holds
a transaction with an xid open (BEGIN; SELECT txid_current()), pinning the xmin horizon so that
vacuum can remove none of the dead row versions jq leaves, then releases it and goes on for
--after. It reports submit→start percentiles per phase, when the latency came back after the
release, and the dead tuples and index size of the hot tables every 5 s.

Examples:
  jq-bench idle-in-tx                                  # 60 s + 120 s pinned + 60 s at 1,000 jobs/s
  jq-bench idle-in-tx --baseline 10s --pin 20s --after 15s --json`),
		pressureScenario(pressureActiveReaders, "steady load while readers scan jq.jobs in long REPEATABLE READ transactions",
			`active-readers is idle-in-tx with --readers sessions (4) instead of one idle transaction: each
opens a REPEATABLE READ transaction and scans jq.jobs again and again for the whole --pin
window, so that the horizon is pinned and the table is read while jq writes it.

Examples:
  jq-bench active-readers
  jq-bench active-readers --readers 8 --baseline 10s --pin 20s --after 15s
  jq-bench active-readers --reader-pause 1s           # each reader scans once a second`),
		{
			name:   "many-queues",
			short:  "drain jobs spread over many queues vs the same jobs in one queue: jobs/s ratio",
			groups: flagsServer | flagsWorkers,
			long: `many-queues spreads --queues × --jobs-per-queue no-op jobs over that many queues, every worker
subscribed to all of them, and drains them as burn does; then it drains the same number of
jobs in one queue, each on its own database and server. It reports both throughputs, their
ratio and the scheduler cycle p95: the cost of the claim's merge of many queues.

Examples:
  jq-bench many-queues                                  # 1,000 queues × 1,000 jobs
  jq-bench many-queues --queues 200 --jobs-per-queue 100 --procs 1`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				queues := fs.Int("queues", 1000, "queues to spread the jobs over (2-10000)")
				perQueue := countFlag(1000)
				fs.Var(&perQueue, "jobs-per-queue", "jobs in each queue")
				return runner{
					check: func(*Options) error {
						if *queues < 2 || *queues > 10000 {
							return fmt.Errorf("--queues %d is outside 2-10000", *queues)
						}
						if perQueue < 1 {
							return fmt.Errorf("--jobs-per-queue %d must be positive", perQueue)
						}
						return nil
					},
					run: func(ctx context.Context, r *run) (*Report, error) {
						return manyQueuesScenario(ctx, r, *queues, int(perQueue))
					},
				}
			},
		},
		{
			name:   "fleet",
			short:  "drain the same jobs with 1, 2, 4 servers on one database, Redis off and on: the curve",
			groups: flagsServer | flagsWorkers,
			long: `fleet drains --jobs pre-inserted no-op jobs with each count of --servers server instances on
one database (a fresh database each time), every server with --procs worker processes of its
own, first with Redis off, then with Redis on (assignment locks and leader lease) when
--redis-addr names one. It reports the aggregate jobs/s of each point and its
ratio to the first count: adding servers must not lower the throughput. The servers run in
the jq-bench process, each with its own pools, LISTEN connection, scheduler and leader
candidacy.

Examples:
  jq-bench fleet                                       # 1, 2, 4 servers × 1 worker process, 50,000 jobs
  jq-bench fleet --servers 1,2 --jobs 20000 --redis-addr 127.0.0.1:6379`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				o.Procs = 1
				jobs := countFlag(50_000)
				fs.Var(&jobs, "jobs", "jobs to drain at each point")
				servers := fs.String("servers", "1,2,4", "server counts to compare, increasing, comma-separated")
				var counts []int
				return runner{
					check: func(o *Options) error {
						if o.remote() {
							return errors.New("fleet starts its own servers: drop --server-addr")
						}
						if o.Procs < 1 {
							return errors.New("fleet needs worker processes: --procs ≥ 1")
						}
						var err error
						counts, err = serverCounts(*servers)
						return err
					},
					run: func(ctx context.Context, r *run) (*Report, error) {
						return fleetScenario(ctx, r, int(jobs), counts)
					},
				}
			},
		},
		{
			name:   "submit",
			short:  "SubmitJob (or SubmitJobs) as fast as it goes from C callers: calls/s, latency",
			groups: flagsServer | flagsRemote,
			long: `submit calls SubmitJob as fast as --clients concurrent callers over --conns gRPC connections
can, for --duration, with no worker running: the throughput and latency of the submit path
alone (validation, the server's batched inserts, the commit). With --batch N each call is a
SubmitJobs of N jobs, all or none in one transaction, and the figure is jobs/s. Exact
percentiles of the call latency, measured by the callers.

Examples:
  jq-bench submit                          # 64 callers over 8 connections for 20 s
  jq-bench submit --batch 1000 --duration 10s
  jq-bench submit --server-addr jq:50051 --clients 128`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				p := submitParams{duration: 20 * time.Second, clients: 64, conns: 8}
				fs.DurationVar(&p.duration, "duration", p.duration, "how long to submit")
				fs.IntVar(&p.clients, "clients", p.clients, "concurrent callers")
				fs.IntVar(&p.conns, "conns", p.conns, "gRPC connections they share")
				fs.IntVar(&p.batch, "batch", p.batch, "jobs per SubmitJobs call (1-10000); 0: SubmitJob, one job per call")
				return runner{
					check: func(*Options) error {
						var errs []error
						if p.duration <= 0 {
							errs = append(errs, fmt.Errorf("--duration %s must be positive", p.duration))
						}
						if p.clients < 1 || p.conns < 1 {
							errs = append(errs, fmt.Errorf("--clients %d and --conns %d must be at least 1", p.clients, p.conns))
						}
						if p.batch < 0 || p.batch > 10000 {
							errs = append(errs, fmt.Errorf("--batch %d is outside 0-10000", p.batch))
						}
						return errors.Join(errs...)
					},
					run: func(ctx context.Context, r *run) (*Report, error) { return submitScenario(ctx, r, p) },
				}
			},
		},
		{
			name:   "subprocess",
			short:  "burn with real subprocess payloads ([\"true\"]) run by jq-worker: the fork/exec bound",
			groups: flagsServer | flagsWorkers | flagsRemote,
			long: `subprocess is burn with real subprocess payloads: every job is {"command": ["true"]}, run
by jq-worker processes (--procs, default 1; --worker-bin) or, with --procs 0, by in-process
workers with the worker.Exec handler. It measures the fork/exec bound of a worker host.

Examples:
  jq-bench subprocess
  jq-bench subprocess --jobs 10k --procs 2 --concurrency 16
  jq-bench subprocess --procs 0 --workers 1       # in-process worker.Exec`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				o.Procs, o.Concurrency = 1, 16
				jobs := countFlag(5000)
				fs.Var(&jobs, "jobs", "subprocess jobs to drain")
				return runner{run: func(ctx context.Context, r *run) (*Report, error) {
					return subprocessScenario(ctx, r, int(jobs))
				}}
			},
		},
		{
			name:   "sql",
			short:  "the SQL lifecycle alone (submit_many → claim → complete_many): the ceiling",
			groups: 0,
			long: `sql measures the SQL API alone, the ceiling of the whole server: --jobs are inserted with
jq.submit_many, then --claimers loops each claim --batch jobs (jq.claim) and complete them in
one jq.complete_many, until none is left. That is the server's path for jobs that finish
within scheduler.start_delay (1 s): jq.complete_many takes them from ASSIGNED to DONE and
writes their STARTED event itself. --start adds the path of longer jobs, a jq.start call
between the two (a third row version per job). Every transition writes its job_events row
either way (4 per job). jobs/s runs from the first claim to the last complete.

Examples:
  jq-bench sql
  jq-bench sql --start                            # claim → start → complete_many
  jq-bench sql --jobs 200k --claimers 8 --batch 1000`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				jobs := countFlag(50_000)
				p := sqlParams{claimers: 4, batch: 500}
				fs.Var(&jobs, "jobs", "jobs to take through the lifecycle")
				fs.IntVar(&p.claimers, "claimers", p.claimers, "concurrent claim → complete loops")
				fs.IntVar(&p.batch, "batch", p.batch, "jobs per claim")
				fs.BoolVar(&p.start, "start", false, "mark each batch RUNNING (jq.start) between claim and completion, as for jobs longer than scheduler.start_delay")
				return runner{
					check: func(*Options) error {
						var errs []error
						if p.claimers < 1 || p.claimers > 64 {
							errs = append(errs, fmt.Errorf("--claimers %d is outside 1-64", p.claimers))
						}
						if p.batch < 1 || p.batch > 10000 {
							errs = append(errs, fmt.Errorf("--batch %d is outside 1-10000", p.batch))
						}
						return errors.Join(errs...)
					},
					run: func(ctx context.Context, r *run) (*Report, error) {
						p.jobs = int(jobs)
						return sqlScenario(ctx, r, p)
					},
				}
			},
		},
		{
			name:   "backlog",
			short:  "burn at backlogs of 10k, 100k and 1M pending jobs: throughput must not fall with depth",
			groups: flagsServer | flagsWorkers,
			long: `backlog measures burn throughput at several depths of pending jobs. For each depth B of
--backlogs, a fresh database receives B + --measure jobs (so at least B stay pending), the
server and the workers start, and the time to drain the first --measure jobs is taken from
the database. It reports jobs/s per depth, the ratio of the deepest to the shallowest, the
scheduler cycle p95 per depth, and this process's RSS (the in-process server) while the
deepest drained.

Examples:
  jq-bench backlog                                # 10k, 100k, 1M; 50 in-process workers
  jq-bench backlog --backlogs 10k,100k --measure 20k
  jq-bench backlog --procs 50 --concurrency 8     # worker processes: the RSS is the server's alone`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				o.Workers, o.Concurrency = 50, 8
				p := backlogParams{backlogs: []int{10_000, 100_000, 1_000_000}}
				measure := countFlag(20_000)
				fs.Var((*intList)(&p.backlogs), "backlogs", "comma-separated depths of pending jobs, ascending (10k,100k,1M)")
				fs.Var(&measure, "measure", "jobs drained (and timed) at each depth")
				return runner{
					check: func(*Options) error { return checkBacklogs(p.backlogs) },
					run: func(ctx context.Context, r *run) (*Report, error) {
						p.measure = int(measure)
						return backlogScenario(ctx, r, p)
					},
				}
			},
		},
		{
			name:   "recovery",
			short:  "kill -9 (or freeze) a worker holding K jobs: time until all K run elsewhere",
			groups: flagsServer,
			long: `recovery measures how long the jobs of a lost worker take to run again elsewhere. jq-worker
A (concurrency K) takes K jobs that sleep 60 s; once all K run on A, jq-worker B connects;
then A is lost and the time until all K run again (attempt 2) on B is taken. Variants:
  broken-stream      kill -9 A: its connection closes; the server retries its jobs after
                     --stream-grace (runnable at once: a lost worker's jobs get no backoff)
  heartbeat-timeout  SIGSTOP A: its connection stays open, its heartbeats stop; the heartbeat
                     monitor (every --reap-interval) retries its jobs after --heartbeat-timeout
Each variant runs on its own database and server.

Examples:
  jq-bench recovery
  jq-bench recovery --jobs 50 --variants broken-stream --stream-grace 5s`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				jobs := countFlag(16)
				defaults := config.Default(config.ServiceServer).Scheduler
				p := recoveryParams{
					heartbeatTimeout: 5 * time.Second, // the default, 30 s, makes a long run
					reapInterval:     defaults.ReapInterval.Std(), streamGrace: defaults.StreamGrace.Std(),
				}
				variants := variantList{variantBrokenStream, variantHeartbeat}
				fs.Var(&jobs, "jobs", "K: jobs the lost worker holds")
				fs.DurationVar(&p.heartbeatTimeout, "heartbeat-timeout", p.heartbeatTimeout, "the server's scheduler.heartbeat_timeout")
				fs.DurationVar(&p.reapInterval, "reap-interval", p.reapInterval, "the server's scheduler.reap_interval")
				fs.DurationVar(&p.streamGrace, "stream-grace", p.streamGrace, "the server's scheduler.stream_grace")
				fs.Var(&variants, "variants", "comma-separated: broken-stream, heartbeat-timeout")
				fs.StringVar(&o.WorkerBin, "worker-bin", o.WorkerBin, "jq-worker binary (default: next to jq-bench, else on PATH)")
				return runner{
					check: func(*Options) error {
						var errs []error
						if jobs > 1000 {
							errs = append(errs, fmt.Errorf("--jobs %d: at most 1000 sleeping subprocesses", jobs))
						}
						for name, d := range map[string]time.Duration{
							"--heartbeat-timeout": p.heartbeatTimeout, "--reap-interval": p.reapInterval,
							"--stream-grace": p.streamGrace,
						} {
							if d <= 0 {
								errs = append(errs, fmt.Errorf("%s %s must be positive", name, d))
							}
						}
						return errors.Join(append(errs, checkVariants(variants))...)
					},
					run: func(ctx context.Context, r *run) (*Report, error) {
						p.jobs, p.variants = int(jobs), variants
						return recoveryScenario(ctx, r, p)
					},
				}
			},
		},
		{
			name:   "events",
			short:  "burn with the Kafka event relay off, then on (in-process kfake): the relay's cost",
			groups: flagsServer | flagsWorkers,
			long: `events runs burn twice, each on its own database and server: with jq-server's Kafka event
relay off, then on, publishing to an in-process kfake cluster. It reports both throughputs
and their ratio (target: on ÷ off ≥ 0.8), the events published (three per job: SUBMITTED,
STARTED, COMPLETED) and the publish errors, and how long after the last completion the
relay's cursor had passed every event.

Examples:
  jq-bench events
  jq-bench events --jobs 20000 --procs 1`,
			bind: func(o *Options, fs *flag.FlagSet) runner {
				jobs := countFlag(50_000)
				fs.Var(&jobs, "jobs", "no-op jobs drained in each of the two runs (10k, 1M accepted)")
				return runner{run: func(ctx context.Context, r *run) (*Report, error) {
					return eventsScenario(ctx, r, int(jobs))
				}}
			},
		},
	}
}

// variantList is --variants.
type variantList []string

func (v *variantList) String() string { return strings.Join(*v, ",") }

func (v *variantList) Set(s string) error {
	*v = nil
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*v = append(*v, part)
		}
	}
	return nil
}

// pressureScenario is the command line of idle-in-tx and active-readers: steady with a
// pressure window in the middle.
func pressureScenario(kind, short, long string) scenario {
	return scenario{
		name:   kind,
		short:  short,
		groups: flagsServer | flagsWorkers,
		long:   long,
		bind: func(o *Options, fs *flag.FlagSet) runner {
			o.Concurrency = 64
			pp := pressureParams{kind: kind, baseline: 60 * time.Second, pin: 120 * time.Second, after: 60 * time.Second, readers: 4}
			p := steadyParams{rate: 1000, clients: 32, drain: 60 * time.Second, pressure: &pp}
			fs.Float64Var(&p.rate, "rate", p.rate, "jobs offered per second")
			fs.IntVar(&p.clients, "clients", p.clients, "concurrent SubmitJob callers")
			fs.IntVar(&p.queues, "queues", 1, "spread the jobs over this many queues in turn, every worker taking them all")
			fs.DurationVar(&pp.baseline, "baseline", pp.baseline, "load before the pin")
			fs.DurationVar(&pp.pin, "pin", pp.pin, "how long the horizon is pinned")
			fs.DurationVar(&pp.after, "after", pp.after, "load after the release")
			if kind == pressureActiveReaders {
				fs.IntVar(&pp.readers, "readers", pp.readers, "REPEATABLE READ sessions scanning jq.jobs")
				fs.DurationVar(&pp.pause, "reader-pause", pp.pause,
					"how long each reader waits between scans; 0 scans back to back (on a small box the scans then take the CPU jq needs)")
			}
			return runner{
				check: func(o *Options) error {
					errs := []error{checkQueues(o, p.queues)}
					if p.rate <= 0 || p.clients < 1 {
						errs = append(errs, fmt.Errorf("--rate %v and --clients %d must be positive", p.rate, p.clients))
					}
					if pp.baseline < time.Second || pp.pin < time.Second || pp.after < time.Second {
						errs = append(errs, errors.New("--baseline, --pin and --after must be at least 1s"))
					}
					if pp.readers < 1 {
						errs = append(errs, fmt.Errorf("--readers %d: at least one is needed", pp.readers))
					}
					if pp.pause < 0 {
						errs = append(errs, fmt.Errorf("--reader-pause %s must not be negative", pp.pause))
					}
					return errors.Join(errs...)
				},
				run: func(ctx context.Context, r *run) (*Report, error) {
					p.duration = pp.total()
					return steadyScenario(ctx, r, p)
				},
			}
		},
	}
}

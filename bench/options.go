package bench

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Options are the settings the scenarios share; jq-bench's flags set them. Each scenario
// registers the flags that apply to it.
type Options struct {
	// DBURL is the PostgreSQL server each run creates its fresh database on (--db-url, else
	// JQ_DB_URL, else what deploy/local-services.sh finds). The URL's user must be allowed to
	// create databases.
	DBURL string
	// ServerAddr targets a running jq-server instead of starting one (--server-addr).
	ServerAddr string
	// Token is the API key (role admin) for --server-addr (--token, else JQ_TOKEN). An
	// in-process server gets a key of its own.
	Token string
	// MetricsURL is that server's /metrics page, read for the scheduler cycle histogram.
	MetricsURL string
	// KeepDB keeps the run's database instead of dropping it at the end.
	KeepDB bool
	// RedisAddr turns Redis on for the in-process server (assignment locks, leader lease).
	RedisAddr string
	// Notify makes the in-process server wake on LISTEN jq_job_ready (else poll only).
	Notify bool
	// BatchSize is the most jobs one scheduler claim takes (scheduler.batch_size).
	BatchSize int
	// DBConns is the in-process server's connection pool size (db.max_conns).
	DBConns int
	// SchedulerInterval is the in-process server's poll interval (scheduler.interval).
	SchedulerInterval time.Duration
	// Workers is how many in-process workers run (when Procs is 0).
	Workers int
	// Concurrency is each worker's concurrency.
	Concurrency int
	// Procs runs that many worker processes instead of in-process workers.
	Procs int
	// WorkerBin is the jq-worker binary, for subprocess payloads (empty: next to jq-bench,
	// else on PATH).
	WorkerBin string
	// BenchBin is the jq-bench binary, run as `jq-bench noop-worker` for no-op worker
	// processes (empty: this executable).
	BenchBin string
	// LogLevel is the level of the server's and the workers' logs, written to stderr.
	LogLevel string
	// JSON prints one JSON document on stdout instead of the table.
	JSON bool
	// Timeout bounds the whole run.
	Timeout time.Duration
	// CPUProfile, when set, receives a pprof CPU profile of this process over the scenario.
	CPUProfile string
}

// defaultOptions are the settings a scenario starts from before its own defaults and flags.
func defaultOptions() Options {
	return Options{
		Notify:            true,
		BatchSize:         500,
		DBConns:           10,
		SchedulerInterval: 500 * time.Millisecond,
		Workers:           1,
		Concurrency:       256,
		LogLevel:          "error",
		Timeout:           10 * time.Minute,
	}
}

// flagGroup selects the flags a scenario registers.
type flagGroup int

const (
	flagsServer  flagGroup = 1 << iota // a jq-server: in-process, or --server-addr
	flagsWorkers                       // workers: in-process or processes
	flagsRemote                        // may target a running deployment
)

// register adds the shared flags of the groups to fs.
func (o *Options) register(fs *flag.FlagSet, groups flagGroup) {
	fs.StringVar(&o.DBURL, "db-url", o.DBURL, "PostgreSQL server to create the run's fresh database on (env JQ_DB_URL; default: what deploy/local-services.sh finds)")
	fs.BoolVar(&o.KeepDB, "keep-db", o.KeepDB, "keep the run's database (jq_bench_<id>) instead of dropping it")
	fs.BoolVar(&o.JSON, "json", o.JSON, "print one JSON document on stdout (the table goes to stderr)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "give up after this long")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "level of the server's and workers' logs on stderr: debug, info, warn or error")
	fs.StringVar(&o.CPUProfile, "cpu-profile", o.CPUProfile, "write a pprof CPU profile of jq-bench (in-process server and workers) to this file")
	if groups&flagsServer != 0 {
		fs.BoolVar(&o.Notify, "notify", o.Notify, "wake the scheduler on LISTEN jq_job_ready; --notify=false measures the poll fallback")
		fs.IntVar(&o.BatchSize, "batch-size", o.BatchSize, "most jobs one scheduler claim takes (scheduler.batch_size)")
		fs.IntVar(&o.DBConns, "db-conns", o.DBConns, "the server's connection pool size (db.max_conns)")
		fs.DurationVar(&o.SchedulerInterval, "scheduler-interval", o.SchedulerInterval, "the server's poll interval (scheduler.interval)")
		fs.StringVar(&o.RedisAddr, "redis-addr", o.RedisAddr, "Redis for the server's assignment locks and leader lease (default: off)")
	}
	if groups&flagsRemote != 0 {
		fs.StringVar(&o.ServerAddr, "server-addr", o.ServerAddr, "target a running jq-server (host:port) instead of starting one")
		fs.StringVar(&o.MetricsURL, "metrics-url", o.MetricsURL, "with --server-addr: its /metrics URL, for the scheduler cycle p95")
		fs.StringVar(&o.Token, "token", os.Getenv("JQ_TOKEN"), "with --server-addr: an API key with role admin (default $JQ_TOKEN)")
	}
	if groups&flagsWorkers != 0 {
		fs.IntVar(&o.Workers, "workers", o.Workers, "in-process workers (the worker package over real gRPC)")
		fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "jobs each worker runs at once")
		fs.IntVar(&o.Procs, "procs", o.Procs, "run this many worker processes instead of in-process workers")
		fs.StringVar(&o.WorkerBin, "worker-bin", o.WorkerBin, "jq-worker binary for subprocess payloads (default: next to jq-bench, else on PATH)")
		fs.StringVar(&o.BenchBin, "bench-bin", o.BenchBin, "jq-bench binary to run as noop-worker for no-op worker processes (default: this one)")
	}
}

// check validates the shared settings, naming every problem.
func (o *Options) check(groups flagGroup) error {
	var errs []error
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s must be positive", o.Timeout))
	}
	if groups&flagsServer != 0 {
		if o.BatchSize < 1 || o.BatchSize > 10000 {
			errs = append(errs, fmt.Errorf("--batch-size %d is outside 1-10000", o.BatchSize))
		}
		if o.DBConns < 2 {
			errs = append(errs, fmt.Errorf("--db-conns %d: the server needs at least 2", o.DBConns))
		}
		if o.SchedulerInterval <= 0 {
			errs = append(errs, fmt.Errorf("--scheduler-interval %s must be positive", o.SchedulerInterval))
		}
	}
	if groups&flagsWorkers != 0 {
		if o.Procs < 0 {
			errs = append(errs, fmt.Errorf("--procs %d is negative", o.Procs))
		}
		if o.Procs == 0 && o.Workers < 1 {
			errs = append(errs, fmt.Errorf("--workers %d: at least one worker is needed", o.Workers))
		}
		if o.Concurrency < 1 || o.Concurrency > 4096 {
			errs = append(errs, fmt.Errorf("--concurrency %d is outside 1-4096", o.Concurrency))
		}
	}
	if o.MetricsURL != "" && o.ServerAddr == "" {
		errs = append(errs, errors.New("--metrics-url needs --server-addr"))
	}
	return errors.Join(errs...)
}

// remote reports whether the run targets a running deployment.
func (o *Options) remote() bool { return o.ServerAddr != "" }

// parameters returns the shared settings that shape a scenario's figures, for its report.
func (o *Options) parameters(groups flagGroup) map[string]any {
	p := map[string]any{}
	if groups&flagsServer != 0 {
		if o.remote() {
			p["server"] = o.ServerAddr
		} else {
			p["server"] = "in-process"
			p["notify"] = o.Notify
			p["batch_size"] = o.BatchSize
			p["db_conns"] = o.DBConns
			p["scheduler_interval_ms"] = o.SchedulerInterval.Milliseconds()
			p["redis"] = o.RedisAddr != ""
		}
	}
	if groups&flagsWorkers != 0 {
		if o.Procs > 0 {
			p["worker_processes"] = o.Procs
		} else {
			p["workers_in_process"] = o.Workers
		}
		p["concurrency"] = o.Concurrency
	}
	return p
}

// intList is a flag holding comma-separated counts; "10k" and "1M" are accepted.
type intList []int

func (l *intList) String() string {
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(s string) error {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := parseCount(strings.TrimSpace(part))
		if err != nil {
			return err
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// countFlag is an int flag that accepts "10k" and "1M".
type countFlag int

func (c *countFlag) String() string { return strconv.Itoa(int(*c)) }

func (c *countFlag) Set(s string) error {
	n, err := parseCount(s)
	*c = countFlag(n)
	return err
}

// parseCount reads a positive count: digits with an optional k (thousand) or M (million).
func parseCount(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1_000_000, s[:len(s)-1]
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive count (e.g. 500, 10k, 1M)", s)
	}
	return n * mult, nil
}

package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	grpclib "google.golang.org/grpc"

	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/buildinfo"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/server"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// cycleMetric is the scheduler cycle histogram the reports summarise.
const cycleMetric = "jq_scheduler_cycle_duration_seconds"

// run holds one scenario run's resources: its database, its server (or the connection to a
// running one), its clients. close releases them in reverse order of creation.
type run struct {
	o        Options
	scenario string
	id       string // random; names the database, the queue and the workers
	stderr   io.Writer
	logLevel slog.Level
	logger   *slog.Logger // the in-process server's logs
	wlogger  *slog.Logger // the in-process workers' logs

	db     *database
	pool   *pgxpool.Pool // on db, for the harness's own queries
	server *localServer
	addr   string // gRPC address of the server
	token  string // API key of every client of the run (role admin)
	conn   *grpclib.ClientConn
	jobs   jqv1.JobServiceClient
	admin  jqv1.AdminServiceClient
	queue  string

	closers []func()
}

// newRun prepares a run; nothing is started yet.
func newRun(scenario string, o Options, stderr io.Writer) (*run, error) {
	level, err := config.ParseLevel(o.LogLevel)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--log-level %w", err)}
	}
	stderr = &lockedWriter{w: stderr}
	return &run{
		o: o, scenario: scenario, id: randomID(), stderr: stderr, logLevel: level,
		logger:  logging.New(stderr, "jq-server", logging.Options{Level: level}),
		wlogger: logging.New(stderr, "jq-worker", logging.Options{Level: level}),
		queue:   "default",
	}, nil
}

// progress tells the operator what the run is doing, on stderr.
func (r *run) progress(format string, args ...any) {
	fmt.Fprintf(r.stderr, "jq-bench %s: %s\n", r.scenario, fmt.Sprintf(format, args...))
}

// onClose registers f to run at close (last registered, first run).
func (r *run) onClose(f func()) { r.closers = append(r.closers, f) }

// close releases everything the run created.
func (r *run) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// createDatabase creates and migrates the run's fresh database and opens the harness's pool.
func (r *run) createDatabase(ctx context.Context, poolSize int) error {
	d, err := createDatabase(ctx, r.o.DBURL)
	if err != nil {
		return err
	}
	r.db = d
	r.onClose(func() {
		if r.o.KeepDB {
			r.progress("kept database %s", d.name)
			return
		}
		if err := d.drop(context.Background()); err != nil {
			r.progress("warning: %v", err)
		}
	})
	pool, err := d.pool(ctx, poolSize)
	if err != nil {
		return err
	}
	r.pool = pool
	r.onClose(pool.Close)
	return nil
}

// localServer is a jq-server running in this process.
type localServer struct {
	srv  *server.Server
	reg  *prometheus.Registry
	cfg  *config.Config
	once sync.Once
}

// stop shuts the server down gracefully (once).
func (s *localServer) stop() { s.once.Do(s.srv.Shutdown) }

// serverConfig is the in-process server's configuration: production defaults, loopback
// listeners on free ports, metrics read in-process (no listener), and the run's settings.
func (r *run) serverConfig() *config.Config {
	cfg := config.Default(config.ServiceServer)
	cfg.DB.URL = r.db.url
	cfg.DB.MigrateOnStart = false // createDatabase migrated it
	cfg.DB.MaxConns = r.o.DBConns
	cfg.GRPC.Host, cfg.GRPC.Port = "127.0.0.1", 0
	cfg.Health.Host, cfg.Health.Port = "127.0.0.1", 0
	cfg.Metrics.Enabled = false
	cfg.GRPC.ShutdownGrace = config.Duration(5 * time.Second)
	cfg.Redis.Addr = r.o.RedisAddr
	cfg.Redis.KeyPrefix = "jq-bench-" + r.id + ":"
	cfg.Scheduler.Notify = r.o.Notify
	cfg.Scheduler.BatchSize = r.o.BatchSize
	cfg.Scheduler.Interval = config.Duration(r.o.SchedulerInterval)
	return cfg
}

// startServer starts the in-process server on the run's database (cfg from serverConfig,
// possibly tweaked) and connects the clients to it.
func (r *run) startServer(ctx context.Context, cfg *config.Config) error {
	reg := metrics.NewRegistry()
	srv, err := server.New(ctx, cfg, r.logger, reg)
	if err != nil {
		return fmt.Errorf("start jq-server: %w", err)
	}
	if err := srv.Start(ctx); err != nil {
		srv.Shutdown()
		return fmt.Errorf("start jq-server: %w", err)
	}
	r.server = &localServer{srv: srv, reg: reg, cfg: cfg}
	r.onClose(r.server.stop)
	key := apikey.Generate()
	if _, err := srv.Store().CreateAPIKey(ctx, queue.CreateAPIKeyParams{
		Name: "jq-bench-" + r.id, Role: apikey.RoleAdmin, Hash: apikey.Hash(key), Prefix: apikey.Display(key), Actor: "jq-bench",
	}); err != nil {
		return fmt.Errorf("create the run's API key: %w", err)
	}
	r.token = key
	return r.dial(srv.GRPCAddr().String())
}

// prepareServer readies the server a submitting scenario talks to: the running one of
// --server-addr, or a fresh database and an in-process server with the run's settings.
func (r *run) prepareServer(ctx context.Context) error {
	if r.o.remote() {
		return r.connectRemote(ctx)
	}
	if err := r.createDatabase(ctx, 4); err != nil {
		return err
	}
	return r.startServer(ctx, r.serverConfig())
}

// startMoreServers starts n-1 more in-process server instances on the run's database (each
// with its own pools, listener, scheduler and leader candidacy, sharing Redis when the run
// uses it) beside the run's server, and returns every server's address, the run's first. With
// n ≤ 1 it starts nothing and returns nil: workers use the run's server.
func (r *run) startMoreServers(ctx context.Context, n int, tweak func(*config.Config)) ([]serverAddr, error) {
	if n <= 1 {
		return nil, nil
	}
	addrs := []serverAddr{{addr: r.addr, admin: r.admin}}
	for range n - 1 {
		cfg := r.serverConfig()
		if tweak != nil {
			tweak(cfg)
		}
		srv, err := server.New(ctx, cfg, r.logger, metrics.NewRegistry())
		if err != nil {
			return nil, fmt.Errorf("start jq-server: %w", err)
		}
		if err := srv.Start(ctx); err != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("start jq-server: %w", err)
		}
		r.onClose(srv.Shutdown)
		addr := srv.GRPCAddr().String()
		conn, err := client.Dial(addr, client.Options{Token: r.token})
		if err != nil {
			return nil, err
		}
		r.onClose(func() { _ = conn.Close() })
		addrs = append(addrs, serverAddr{addr: addr, admin: jqv1.NewAdminServiceClient(conn)})
	}
	return addrs, nil
}

// connectRemote connects the clients to the running server of --server-addr and creates the
// run's own queue there, deleted at the end (when it holds no unfinished jobs).
func (r *run) connectRemote(ctx context.Context) error {
	r.token = r.o.Token
	if err := r.dial(r.o.ServerAddr); err != nil {
		return err
	}
	r.queue = "jq-bench-" + r.id
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.admin.CreateQueue(cctx, &jqv1.CreateQueueRequest{Name: r.queue}); err != nil {
		return fmt.Errorf("create queue %s on %s: %w", r.queue, r.o.ServerAddr, err)
	}
	r.onClose(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := r.admin.DeleteQueue(dctx, &jqv1.DeleteQueueRequest{Name: r.queue}); err != nil {
			r.progress("warning: queue %s left on the server: %v", r.queue, err)
		}
	})
	return nil
}

func (r *run) dial(addr string) error {
	conn, err := client.Dial(addr, client.Options{Token: r.token})
	if err != nil {
		return err
	}
	r.addr = addr
	r.conn = conn
	r.jobs = jqv1.NewJobServiceClient(conn)
	r.admin = jqv1.NewAdminServiceClient(conn)
	r.onClose(func() { _ = conn.Close() })
	return nil
}

// cycles returns the scheduler cycle histogram now: from the in-process registry, or from
// --metrics-url. ok is false when neither is available.
func (r *run) cycles(ctx context.Context) (h histogram, ok bool, err error) {
	switch {
	case r.server != nil:
		h, err = gatherHistogram(r.server.reg, cycleMetric)
		return h, err == nil, err
	case r.o.MetricsURL != "":
		h, err = scrapeHistogram(ctx, r.o.MetricsURL, cycleMetric)
		return h, err == nil, err
	}
	return histogram{}, false, nil
}

// cycleP95 is the p95 of the scheduler cycles since before, in milliseconds (nil when there
// were none or the metrics are out of reach).
func (r *run) cycleP95(ctx context.Context, before histogram) *float64 {
	after, ok, err := r.cycles(ctx)
	if err != nil {
		r.progress("warning: scheduler cycle histogram: %v", err)
	}
	if !ok {
		return nil
	}
	q, ok := after.sub(before).quantile(0.95)
	if !ok {
		return nil
	}
	return ptr(round(q*1000, 3))
}

func scrapeHistogram(ctx context.Context, url, name string) (histogram, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return histogram{}, fmt.Errorf("metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return histogram{}, fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return histogram{}, fmt.Errorf("metrics: %s answered %s", url, resp.Status)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return histogram{}, fmt.Errorf("metrics: %w", err)
	}
	return parseHistogram(page, name)
}

// peakRSS reports the peak RSS of the in-process server (this process) and of the fleet's
// worker processes. Call it after the fleet stopped.
func (r *run) peakRSS(f *fleet) PeakRSS {
	p := PeakRSS{Workers: f.peakRSSMB()}
	inprocWorkers := f != nil && len(f.inproc) > 0
	switch {
	case r.server != nil && inprocWorkers:
		p.Server = ptr(selfPeakRSSMB())
		p.Scope = "server: the jq-bench process (in-process server, harness and in-process workers)"
	case r.server != nil:
		p.Server = ptr(selfPeakRSSMB())
		p.Scope = "server: the jq-bench process (in-process server and harness); workers: largest worker process"
	case inprocWorkers:
		p.Workers = ptr(selfPeakRSSMB())
		p.Scope = "workers: the jq-bench process (harness and in-process workers); the remote server is not measured"
	default:
		p.Scope = "workers: largest worker process; the remote server is not measured"
	}
	return p
}

// environment describes this machine and the PostgreSQL server the run uses.
func (r *run) environment(ctx context.Context) Environment {
	host, _ := os.Hostname()
	e := Environment{GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Hostname: host, JQVersion: buildinfo.Version}
	switch {
	case r.o.DBURL != "":
		_ = postgresInfo(ctx, r.o.DBURL, &e) // the report says "unknown" for what it could not read
	case r.admin != nil:
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if st, err := r.admin.GetSystemStatus(sctx, &jqv1.GetSystemStatusRequest{}); err == nil {
			for _, c := range st.GetComponents() {
				if c.GetName() == "postgresql" {
					e.PostgreSQLVersion = c.GetVersion()
				}
			}
		}
	}
	return e
}

// report starts a report of the run with its environment and parameters.
func (r *run) report(ctx context.Context, started time.Time, params map[string]any) *Report {
	return &Report{
		Scenario:    r.scenario,
		Parameters:  params,
		Environment: r.environment(ctx),
		StartedAt:   started,
		Duration:    time.Since(started),
	}
}

// waitJobsDone waits until n jobs of the run's queue are DONE, failing fast when any is
// dead-lettered. Locally it asks the database; against a running server, GetQueueStats.
func (r *run) waitJobsDone(ctx context.Context, n int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done, dead, err := r.doneCounts(ctx)
		if err != nil {
			return err
		}
		if dead > 0 {
			return fmt.Errorf("%d jobs were dead-lettered (%d done): see the server's logs (--log-level warn)", dead, done)
		}
		if done >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs done: %w", done, n, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// waitAllDone waits until n jobs of the run's database, whatever their queue, are DONE.
func (r *run) waitAllDone(ctx context.Context, n int) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var done, dead int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'DONE'), count(*) FILTER (WHERE status = 'DEAD_LETTERED')
			FROM jq.jobs`).Scan(&done, &dead); err != nil {
			return fmt.Errorf("count done jobs: %w", err)
		}
		switch {
		case dead > 0:
			return fmt.Errorf("%d jobs were dead-lettered (%d done): see the server's logs (--log-level warn)", dead, done)
		case done >= n:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs done: %w", done, n, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// deadLettered fails when any job of the run was dead-lettered.
func (r *run) deadLettered(ctx context.Context) error {
	done, dead, err := r.doneCounts(ctx)
	if err != nil {
		return err
	}
	if dead > 0 {
		return fmt.Errorf("%d jobs were dead-lettered (%d done): see the server's logs (--log-level warn)", dead, done)
	}
	return nil
}

func (r *run) doneCounts(ctx context.Context) (done, dead int, err error) {
	if r.pool != nil {
		// Two index scans (jobs_queue_status_idx): a filtered count over the queue would read
		// every pending job, a load on the database that grows with the backlog.
		err = r.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM jq.jobs WHERE queue_name = $1 AND status = 'DONE'),
			(SELECT count(*) FROM jq.jobs WHERE queue_name = $1 AND status = 'DEAD_LETTERED')`, r.queue).Scan(&done, &dead)
		if err != nil {
			return 0, 0, fmt.Errorf("count done jobs: %w", err)
		}
		return done, dead, nil
	}
	resp, err := r.admin.GetQueueStats(ctx, &jqv1.GetQueueStatsRequest{QueueName: r.queue})
	if err != nil {
		return 0, 0, fmt.Errorf("queue stats: %w", err)
	}
	for _, s := range resp.GetStats() {
		done += int(s.GetDone())
		dead += int(s.GetDeadLettered())
	}
	return done, dead, nil
}

// lockedWriter serialises writes from the run's goroutines and processes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Package server assembles the jq-server process: the database pool and store, the optional
// Redis client, the scheduler and its wake-ups, the maintenance leader, the gRPC transport, and
// the metrics and health listeners. cmd/jq-server is a thin main around it; tests run several
// servers in one process with it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"

	"github.com/jqhq/jq/db"
	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/events"
	"github.com/jqhq/jq/internal/health"
	"github.com/jqhq/jq/internal/httpserve"
	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/pgnet"
	"github.com/jqhq/jq/internal/pgxuuid"
	jqredis "github.com/jqhq/jq/internal/redis"
	"github.com/jqhq/jq/queue"
)

// Server is one jq-server instance.
type Server struct {
	cfg        *config.Config
	logger     *slog.Logger
	instanceID string

	pool  *pgxpool.Pool
	store *queue.Store
	redis *jqredis.Client // nil when Redis is off
	kafka *kafka.Producer // nil when events are off

	relay       *queue.Relay // nil when events are off
	registry    *queue.Registry
	claimPool   *pgxpool.Pool // synchronous_commit off, for claims (scheduler.async_claim_commit)
	scheduler   *queue.Scheduler
	lost        *queue.LostWorkers
	leader      *queue.Leader
	background  []startstop.Service // notifier, leader, maintenance, depth reporter, scheduler
	grpc        *jqgrpc.Server
	auth        *jqgrpc.Authenticator
	health      *health.Health
	httpMetrics *httpserve.Server
	httpHealth  *httpserve.Server
	console     *httpserve.Server // nil when ui.enabled is off

	cancel context.CancelFunc
}

// New connects to PostgreSQL (and Redis when configured), applies pending migrations when
// db.migrate_on_start is set, and assembles the server. It serves nothing until Start.
// reg receives the server's metrics; /metrics serves it.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	m := metrics.New(reg)
	s := &Server{cfg: cfg, logger: logger, instanceID: instanceID()}

	if cfg.DB.MigrateOnStart {
		mig, err := db.NewMigrator(cfg.DB.ConnString(), nil)
		if err != nil {
			return nil, err
		}
		if err := mig.Up(ctx); err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
	}
	pool, err := newPool(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	s.pool = pool
	if cfg.Scheduler.AsyncClaimCommit {
		if s.claimPool, err = asyncCommitPool(ctx, pool); err != nil {
			s.close()
			return nil, err
		}
	}
	s.store = queue.NewStore(pool, queue.WithQueryDuration(m.DBQueryDuration), queue.WithClaimPool(s.claimPool),
		queue.WithStatementTimeout(cfg.DB.StatementTimeout.Std()))

	if cfg.Redis.Addr != "" {
		s.redis = newRedis(cfg.Redis, logger, m)
	}
	if len(cfg.Kafka.Brokers) > 0 {
		s.kafka, err = kafka.NewProducer(kafkaOptions(cfg.Kafka, logger, m))
		if err != nil {
			s.close()
			return nil, err
		}
	}

	sc := cfg.Scheduler
	retry := queue.RetryPolicy{BaseDelay: sc.RetryBaseDelay.Std(), MaxDelay: sc.RetryMaxDelay.Std()}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.lost = queue.NewLostWorkers(runCtx, s.store, sc.StreamGrace.Std(), queue.LostWorkerRetry, logger,
		func(id uuid.UUID) bool { return s.registry.Connected(id) })

	var wake func()
	s.registry = queue.NewRegistry(func() { wake() }, s.lost.StreamBroke)
	var locker queue.JobLocker
	if s.redis != nil {
		locker = s.redis
	}
	s.scheduler = queue.NewScheduler(s.store, s.registry, locker, logger, queue.SchedulerConfig{
		Interval:          sc.Interval.Std(),
		BatchSize:         sc.BatchSize,
		AssignmentTimeout: sc.AssignmentTimeout.Std(),
		StartDelay:        sc.StartDelay.Std(),
		InstanceID:        s.instanceID,
	}, queue.SchedulerMetrics{
		CycleDuration: m.SchedulerCycleDuration,
		JobsAssigned:  m.SchedulerJobsAssigned,
		WaitDuration:  m.JobWaitDuration,
		JobTotal:      m.JobTotal,
	})
	wake = s.scheduler.Wake

	var lease queue.Lease
	if s.redis != nil {
		lease = s.redis.NewLease("jq:leader", s.instanceID, sc.LeaderLease.Std())
	}
	// Every PostgreSQL connection outside the pool dials as the pool does (keepalives, a
	// bounded connect); each of their calls has a deadline of its own.
	tune := func(c *pgx.ConnConfig) { pgnet.Configure(&c.Config, cfg.DB.ConnectTimeout.Std()) }
	s.leader = queue.NewLeader(lease, cfg.DB.ConnString(), sc.LeaderLease.Std(), logger, func(leading bool) {
		if leading {
			m.LeaderStatus.Set(1)
		} else {
			m.LeaderStatus.Set(0)
		}
	}).TuneConn(tune)
	maintenance := queue.NewMaintenance(s.store, s.leader.LeadingFor, queue.MaintenanceConfig{
		ReapInterval:      sc.ReapInterval.Std(),
		HeartbeatTimeout:  sc.HeartbeatTimeout.Std(),
		ExpireInterval:    sc.ExpireInterval.Std(),
		AssignmentTimeout: sc.AssignmentTimeout.Std(),
		PruneInterval:     sc.PruneInterval.Std(),
		Retention:         sc.Retention.Std(),
		WorkerRetention:   sc.WorkerRetention.Std(),
		LostWorkerRetry:   queue.LostWorkerRetry,
	}, logger, m.MaintenanceRows, s.scheduler.Wake)
	depth := queue.NewDepthReporter(s.store.QueueDepths, m.JobQueueDepth, sc.DepthRefreshInterval.Std(), logger).
		WithFlow(s.store.FlowStats, m.QueuePaused, m.QueueLimitHeld)
	schedules, err := scheduleParams(cfg.Schedules)
	if err != nil {
		s.close()
		return nil, err
	}
	cron := queue.NewCron(s.store, s.leader.LeadingFor, queue.CronConfig{Grace: sc.ScheduleGrace.Std(), Schedules: schedules},
		logger, m.ScheduleFires)
	s.background = []startstop.Service{s.leader, maintenance, depth, s.scheduler, cron}
	var heartbeats jqgrpc.HeartbeatSink
	if s.kafka != nil {
		s.relay = queue.NewRelay(s.store, events.NewSink(s.kafka), s.leader.Leading, queue.RelayConfig{BatchSize: cfg.Kafka.RelayBatch},
			logger, queue.RelayMetrics{LagEvents: m.RelayLagEvents, LagSeconds: m.RelayLagSeconds})
		s.background = append(s.background, s.relay)
		heartbeats = events.NewHeartbeats(s.kafka, 30*time.Second)
	}
	if sc.Notify {
		notifier := queue.NewNotifier(cfg.DB.ConnString(), s.scheduler.Wake, logger).OnCancel(s.cancelRunning).
			TuneConn(tune).Probe(s.store.NotifyChannel, 0)
		s.background = append(s.background, notifier)
	}

	// Transport.
	creds, err := jqgrpc.ServerCredentials(cfg.GRPC)
	if err != nil {
		s.close()
		return nil, err
	}
	auth, err := newAuthenticator(cfg, creds != nil, s.store, logger)
	if err != nil {
		s.close()
		return nil, err
	}
	s.auth = auth
	announcer := queue.NewAnnouncer(s.store.Notify, logger)
	inserter := queue.NewInserter(s.store, 100, 4)
	s.background = append(s.background, announcer, inserter)
	jobs := jqgrpc.NewJobService(s.store, logger, jqgrpc.JobServiceConfig{
		MaxPayloadBytes: cfg.GRPC.MaxPayloadBytes,
		MaxPageSize:     cfg.GRPC.MaxPageSize,
		Submit:          inserter.Submit,
		JobTotal:        m.JobTotal,
		Announce: func(q string) {
			announcer.Announce(q)
			if sc.Notify {
				s.scheduler.Wake() // this server's scheduler need not wait for the NOTIFY to come back
			}
		},
	})
	completer := queue.NewCompleter(s.store, 500)
	progress := queue.NewProgressCoalescer(s.store, time.Second, logger, m.JobProgressReports)
	s.background = append(s.background, completer, progress)
	workers := jqgrpc.NewWorkerService(s.store, s.registry, logger, jqgrpc.WorkerServiceConfig{
		HeartbeatInterval:  max(sc.HeartbeatTimeout.Std()/3, time.Second),
		Retry:              retry,
		Completer:          completer,
		Heartbeats:         heartbeats,
		MaxWorkersPerOwner: cfg.Auth.MaxWorkersPerKey,
		ReconcileGrace:     sc.ReconcileGrace.Std(),
		OwnerCacheTTL:      cfg.Auth.KeyCacheTTL.Std(),
		MaxResultBytes:     cfg.GRPC.MaxResultBytes,
		Progress:           progress,
	}, jqgrpc.WorkerMetrics{JobTotal: m.JobTotal, ProcessingDuration: m.JobProcessingDuration, ActiveWorkers: m.WorkerActiveCount})
	comps := components(cfg, connections{store: s.store, redis: s.redis, kafka: s.kafka, relay: s.relay})
	admin := jqgrpc.NewAdminService(s.store, s.registry, logger, jqgrpc.AdminServiceConfig{
		Components: comps, Leading: s.leader.Leading, MaxPageSize: cfg.GRPC.MaxPageSize, ScheduleChanged: cron.Wake,
	})
	if s.console, err = s.newConsole(jobs, admin); err != nil {
		s.close()
		return nil, err
	}
	s.grpc, err = jqgrpc.NewServer(jqgrpc.ServerConfig{
		Addr:  config.Address(cfg.GRPC.Host, cfg.GRPC.Port),
		Creds: creds,
		// A submit's payload plus the rest of the request, and at least gRPC's default 4 MiB:
		// a worker's report carries up to 1 MiB of output and 1 MiB of error text by default.
		MaxRecvMsgBytes:      max(cfg.GRPC.MaxPayloadBytes+64<<10, 2*cfg.GRPC.MaxResultBytes+64<<10, 4<<20),
		MaxConcurrentStreams: uint32(cfg.GRPC.MaxStreams),
		Keepalive: jqgrpc.Keepalive{
			Time: cfg.GRPC.KeepaliveTime.Std(), Timeout: cfg.GRPC.KeepaliveTimeout.Std(), MinTime: cfg.GRPC.KeepaliveMin.Std(),
		},
		Auth: auth,
	}, logger, m.GRPCRequestDuration, jobs, workers, admin)
	if err != nil {
		s.close()
		return nil, err
	}
	s.addObservability(ctx, m, reg)

	s.health = health.New(logger)
	for _, c := range comps {
		s.health.AddComponent(c)
	}
	s.httpHealth = httpserve.New(config.Address(cfg.Health.Host, cfg.Health.Port), s.health.Handler(), logger)
	if cfg.Metrics.Enabled {
		s.httpMetrics = httpserve.New(config.Address(cfg.Metrics.Host, cfg.Metrics.Port), metrics.Handler(reg), logger)
	}
	return s, nil
}

// scheduleParams turns the configured schedules into what the leader writes.
func scheduleParams(list []config.ScheduleConfig) ([]queue.ScheduleParams, error) {
	out := make([]queue.ScheduleParams, 0, len(list))
	for _, c := range list {
		payload, err := c.JSONPayload()
		if err != nil {
			return nil, fmt.Errorf("schedules[%s].payload: %w", c.Name, err)
		}
		out = append(out, queue.ScheduleParams{
			Name: c.Name, Cron: c.Cron, TimeZone: c.TimeZone, Queue: c.QueueName(), Payload: payload, Priority: c.Priority,
			MaxRetries: c.MaxRetries, Overlap: c.Overlap, CatchUp: c.CatchUp,
		})
	}
	return out, nil
}

// OpenStore connects to PostgreSQL as the server does, for the commands that talk to the
// database directly (jq-server auth ...); close releases the pool.
func OpenStore(ctx context.Context, c config.DBConfig) (store *queue.Store, close func(), err error) {
	pool, err := newPool(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return queue.NewStore(pool), pool.Close, nil
}

// asyncCommitPool is a small pool like base whose transactions commit without waiting for the
// WAL flush (synchronous_commit off), for the scheduler's claims: the claim loop is serial, so
// a flush per claim bounds the whole server's throughput.
func asyncCommitPool(ctx context.Context, base *pgxpool.Pool) (*pgxpool.Pool, error) {
	pc := base.Config()
	pc.MaxConns = 2
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("db (claims): %w", err)
	}
	return pool, nil
}

// newPool opens the pool and checks that PostgreSQL answers.
func newPool(ctx context.Context, c config.DBConfig) (*pgxpool.Pool, error) {
	pool, err := openPool(ctx, c)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout.Std()+time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgresql %s: %w", config.Redacted(c.ConnString()), err)
	}
	return pool, nil
}

// openPool makes the pool without connecting: the first query does.
func openPool(ctx context.Context, c config.DBConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(c.ConnString())
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	pc.MaxConns = int32(c.MaxConns)
	pgnet.Configure(&pc.ConnConfig.Config, c.ConnectTimeout.Std())
	pc.AfterConnect = pgxuuid.Register
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return pool, nil
}

func newRedis(c config.RedisConfig, logger *slog.Logger, m *metrics.Metrics) *jqredis.Client {
	return jqredis.New(jqredis.Options{
		Addr: c.Addr, Password: c.Password, DB: c.DB, TLS: c.TLS, Timeout: c.Timeout.Std(), KeyPrefix: c.KeyPrefix,
	}, logger, m.RedisOperationDuration)
}

// Start serves gRPC, /metrics and /healthz+/readyz, and starts the scheduler, the NOTIFY
// listener and the maintenance loops.
func (s *Server) Start(ctx context.Context) error {
	if err := s.grpc.Listen(); err != nil {
		return err
	}
	listeners := []*httpserve.Server{s.httpHealth}
	if s.httpMetrics != nil {
		listeners = append(listeners, s.httpMetrics)
	}
	if s.console != nil {
		listeners = append(listeners, s.console)
	}
	for _, l := range listeners {
		if err := l.Start(ctx); err != nil {
			s.grpc.Stop(ctx)
			return err
		}
	}
	if err := startstop.StartAll(ctx, s.background...); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "jq-server started",
		"grpc", s.GRPCAddr().String(), "health", s.httpHealth.Addr().String(), "metrics", s.MetricsAddr(), "console", s.ConsoleURL(),
		"instance", s.instanceID, "redis", s.redis != nil, "notify", s.cfg.Scheduler.Notify,
		"db", config.Redacted(s.cfg.DB.ConnString()))
	return nil
}

// Shutdown stops the server gracefully: /readyz and the gRPC health service report not
// serving, no new RPCs are taken, the scheduler stops, worker streams end (the workers keep
// their jobs and reconnect), RPCs in flight get grpc.shutdown_grace to finish, then the
// background services and connections close.
func (s *Server) Shutdown() {
	s.health.SetShuttingDown()
	s.grpc.SetNotServing()
	// Before the streams end: a server going away must not fail its workers' jobs.
	s.lost.Stop()
	s.scheduler.Stop()
	s.grpc.Shutdown(s.cfg.GRPC.ShutdownGrace.Std())
	startstop.StopAllParallel(s.background...)
	if s.kafka != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.kafka.Flush(ctx); err != nil {
			s.logger.Warn("kafka: records not delivered before shutdown", "error", err)
		}
		cancel()
	}
	s.httpHealth.Stop()
	if s.httpMetrics != nil {
		s.httpMetrics.Stop()
	}
	if s.console != nil {
		s.console.Stop()
	}
	s.close()
	s.logger.Info("jq-server stopped")
}

func (s *Server) close() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	if s.claimPool != nil {
		s.claimPool.Close()
	}
	s.pool.Close()
}

// GRPCAddr is the bound gRPC address, after Start.
func (s *Server) GRPCAddr() net.Addr { return s.grpc.Addr() }

// HealthAddr is the bound /healthz address, after Start.
func (s *Server) HealthAddr() net.Addr { return s.httpHealth.Addr() }

// MetricsAddr is the bound /metrics address after Start, or "" when metrics are off.
func (s *Server) MetricsAddr() string {
	if s.httpMetrics == nil {
		return ""
	}
	return s.httpMetrics.Addr().String()
}

// Store exposes the store, for tests and tools in the same process.
func (s *Server) Store() *queue.Store { return s.store }

// Leading reports whether this instance runs the maintenance loops.
func (s *Server) Leading() bool { return s.leader.Leading() }

func instanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "jq-server"
	}
	return host + "-" + uuid.NewString()[:8]
}

func kafkaOptions(c config.KafkaConfig, logger *slog.Logger, m *metrics.Metrics) kafka.Options {
	return kafka.Options{
		Brokers: c.Brokers, ClientID: c.ClientID, TLS: c.TLS,
		SASLMechanism: c.SASLMechanism, SASLUsername: c.SASLUsername, SASLPassword: c.SASLPassword,
		Logger: logger, PublishErrors: m.KafkaPublishErrors, Published: m.KafkaEventsPublished,
	}
}

// cancelRunning tells the worker of a job an operator cancelled to stop it, when the worker's
// stream is on this server (every server hears the notification; one holds the stream). A
// worker that misses it learns from its next heartbeat's answer.
func (s *Server) cancelRunning(ctx context.Context, jobID, workerID uuid.UUID, attempt int) {
	err := s.registry.Cancel(ctx, workerID, jobID, attempt)
	switch {
	case err == nil:
		s.logger.InfoContext(ctx, "told the worker to stop a cancelled job", "job_id", jobID, "worker_id", workerID, "attempt", attempt)
	case !errors.Is(err, queue.ErrNotConnected):
		s.logger.WarnContext(ctx, "could not tell the worker to stop a cancelled job; its next heartbeat will", "job_id", jobID, "worker_id", workerID, "error", err)
	}
}

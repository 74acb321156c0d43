package metrics

import (
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The name of every metric, kept in one block so that New and Names cannot drift apart.
const (
	nameJobQueueDepth               = "jq_job_queue_depth"
	nameQueuePaused                 = "jq_queue_paused"
	nameQueueLimitHeld              = "jq_queue_limit_held_total"
	nameJobTotal                    = "jq_job_total"
	nameJobProcessingDuration       = "jq_job_processing_duration_seconds"
	nameJobWaitDuration             = "jq_job_wait_duration_seconds"
	nameSchedulerCycleDuration      = "jq_scheduler_cycle_duration_seconds"
	nameSchedulerJobsAssigned       = "jq_scheduler_jobs_assigned_total"
	nameWorkerActiveCount           = "jq_worker_active_count"
	nameWorkerJobConcurrency        = "jq_worker_job_concurrency"
	nameWorkerConfiguredConcurrency = "jq_worker_configured_concurrency"
	nameGRPCRequestDuration         = "jq_grpc_request_duration_seconds"
	nameDBQueryDuration             = "jq_db_query_duration_seconds"
	nameRedisOperationDuration      = "jq_redis_operation_duration_seconds"
	nameKafkaPublishErrors          = "jq_kafka_publish_errors_total"
	nameKafkaEventsPublished        = "jq_kafka_events_published_total"
	nameRelayLagEvents              = "jq_relay_lag_events"
	nameRelayLagSeconds             = "jq_relay_lag_seconds"
	nameLeaderStatus                = "jq_leader"
	nameMaintenanceRows             = "jq_maintenance_rows_total"
	nameScheduleFires               = "jq_schedule_fires_total"
	nameJobProgressReports          = "jq_job_progress_reports_total"
	nameWorkerJobsRun               = "jq_worker_jobs_total"
	nameWorkerExecutionDuration     = "jq_worker_job_execution_seconds"
	namePGUp                        = "jq_pg_up"
	namePGTableDeadTuples           = "jq_pg_table_dead_tuples"
	namePGTableLiveTuples           = "jq_pg_table_live_tuples"
	namePGTableLastVacuum           = "jq_pg_table_last_vacuum_timestamp_seconds"
	namePGTableLastAutovacuum       = "jq_pg_table_last_autovacuum_timestamp_seconds"
	namePGOldestXminAgeSeconds      = "jq_pg_oldest_xmin_age_seconds"
	namePGOldestXminAgeXIDs         = "jq_pg_oldest_xmin_age_transactions"
	namePGDatabaseXIDAge            = "jq_pg_database_xid_age_transactions"
)

// Bucket boundaries, in seconds. Each range is chosen for what it measures: jobs run for
// anything from milliseconds to an hour, a scheduler cycle must stay under 200 ms at p95 (so the
// buckets are dense around that line and 0.2 is a boundary), and database and Redis calls are
// usually sub-millisecond.
var (
	jobBuckets       = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	waitBuckets      = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600}
	schedulerBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5}
	grpcBuckets      = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	dbBuckets        = []float64{0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	redisBuckets     = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

// Metrics holds every jq metric. Server-side components update the job, scheduler, gRPC,
// database, Redis, Kafka, relay and maintenance metrics; the worker binary updates the
// worker-side ones (WorkerJobsRun, WorkerExecutionDuration).
type Metrics struct {
	// JobQueueDepth is jq_job_queue_depth{queue,status}: how many jobs each queue holds in
	// each status, as last counted.
	JobQueueDepth *prometheus.GaugeVec

	// QueuePaused is jq_queue_paused{queue}: 1 while the queue is paused (nothing of it is
	// claimed), else 0. Read with JobQueueDepth.
	QueuePaused *prometheus.GaugeVec

	// QueueLimitHeld is jq_queue_limit_held_total{queue,limit}: runnable jobs a claim left
	// PENDING because of the queue's flow control, by the limit that held them (paused,
	// max_running, rate, per_key), summed over claims. The database counts them for the whole
	// cluster; each instance adds what it saw grow since it started (aggregate with max).
	QueueLimitHeld *prometheus.CounterVec

	// JobTotal is jq_job_total{queue,status,reason}: job transitions, counted by the status
	// they reach and the reason they happened.
	JobTotal *prometheus.CounterVec

	// JobProcessingDuration is jq_job_processing_duration_seconds{queue}: how long a job ran,
	// from start to finish.
	JobProcessingDuration *prometheus.HistogramVec

	// JobWaitDuration is jq_job_wait_duration_seconds{queue}: how long a job waited to start,
	// from submission (or from its not_before time, when later) to start.
	JobWaitDuration *prometheus.HistogramVec

	// SchedulerCycleDuration is jq_scheduler_cycle_duration_seconds: how long one scheduler
	// cycle took. The target is p95 ≤ 200 ms.
	SchedulerCycleDuration prometheus.Histogram

	// SchedulerJobsAssigned is jq_scheduler_jobs_assigned_total{queue}: jobs the scheduler
	// assigned to a worker.
	SchedulerJobsAssigned *prometheus.CounterVec

	// WorkerActiveCount is jq_worker_active_count: workers connected to this server.
	WorkerActiveCount prometheus.Gauge

	// WorkerJobConcurrency is jq_worker_job_concurrency{worker_id}: jobs running on a worker.
	WorkerJobConcurrency *prometheus.GaugeVec

	// WorkerConfiguredConcurrency is jq_worker_configured_concurrency{worker_id}: how many jobs
	// a worker said it can run at once.
	WorkerConfiguredConcurrency *prometheus.GaugeVec

	// GRPCRequestDuration is jq_grpc_request_duration_seconds{method,code}: how long a gRPC
	// call took, by full method name and status code.
	GRPCRequestDuration *prometheus.HistogramVec

	// DBQueryDuration is jq_db_query_duration_seconds{query}: how long a PostgreSQL query took,
	// by query name.
	DBQueryDuration *prometheus.HistogramVec

	// RedisOperationDuration is jq_redis_operation_duration_seconds{operation}: how long a
	// Redis operation took.
	RedisOperationDuration *prometheus.HistogramVec

	// KafkaPublishErrors is jq_kafka_publish_errors_total{topic}: events that failed to publish.
	KafkaPublishErrors *prometheus.CounterVec

	// KafkaEventsPublished is jq_kafka_events_published_total{topic}: events published.
	KafkaEventsPublished *prometheus.CounterVec

	// RelayLagEvents is jq_relay_lag_events: outbox events not yet published to Kafka.
	RelayLagEvents prometheus.Gauge

	// RelayLagSeconds is jq_relay_lag_seconds: age of the oldest outbox event not yet
	// published to Kafka, 0 when none waits.
	RelayLagSeconds prometheus.Gauge

	// LeaderStatus is jq_leader: 1 when this instance runs the maintenance loops, else 0.
	LeaderStatus prometheus.Gauge

	// MaintenanceRows is jq_maintenance_rows_total{task}: rows changed by each maintenance task
	// (queue.MaintenanceTasks).
	MaintenanceRows *prometheus.CounterVec

	// ScheduleFires is jq_schedule_fires_total{outcome}: times of periodic schedules the
	// leader handled, by outcome (queue.FireOutcomes: submitted, skipped by the overlap
	// policy, failed, duplicate because another instance fired it, missed while no server ran).
	ScheduleFires *prometheus.CounterVec

	// JobProgressReports is jq_job_progress_reports_total{outcome}: progress reports of running
	// jobs, written, coalesced (kept to be written once the job's second is over, or replaced by
	// a later one) or refused (the attempt was over).
	JobProgressReports *prometheus.CounterVec

	// WorkerJobsRun is jq_worker_jobs_total{worker_id,outcome}: jobs a worker ran, by outcome
	// (worker.OutcomeSucceeded, ...). Worker-side.
	WorkerJobsRun *prometheus.CounterVec

	// WorkerExecutionDuration is jq_worker_job_execution_seconds{worker_id}: how long a job's
	// process ran on a worker. Worker-side.
	WorkerExecutionDuration *prometheus.HistogramVec

	// The PostgreSQL health gauges below are read from the statistics views every
	// scheduler.depth_refresh_interval by each server instance (queue.PGHealthReporter), so
	// every instance reports the same numbers: dashboards and rules take max() across them.
	// They are what keeps a PostgreSQL queue fast: a queue table churns through dead rows, and
	// only vacuum reclaims them, which it cannot do past the oldest snapshot still open.

	// PGUp is jq_pg_up: 1 when this instance's last read of the PostgreSQL statistics
	// succeeded, 0 when it failed (the other jq_pg_* series then keep their last values).
	PGUp prometheus.Gauge

	// PGTableDeadTuples is jq_pg_table_dead_tuples{table}: dead row versions in each table of
	// the jq schema (pg_stat_user_tables.n_dead_tup), waiting for vacuum.
	PGTableDeadTuples *prometheus.GaugeVec

	// PGTableLiveTuples is jq_pg_table_live_tuples{table}: live rows in each table of the jq
	// schema (n_live_tup), the denominator of the dead-tuple ratio.
	PGTableLiveTuples *prometheus.GaugeVec

	// PGTableLastVacuum is jq_pg_table_last_vacuum_timestamp_seconds{table}: Unix time of the
	// last manual VACUUM of each table, 0 when never.
	PGTableLastVacuum *prometheus.GaugeVec

	// PGTableLastAutovacuum is jq_pg_table_last_autovacuum_timestamp_seconds{table}: Unix time
	// of the last autovacuum of each table, 0 when never.
	PGTableLastAutovacuum *prometheus.GaugeVec

	// PGOldestXminAgeSeconds is jq_pg_oldest_xmin_age_seconds{holder}: how long the oldest
	// transaction that holds back vacuum's horizon has been open, by what holds it: "backend"
	// (a session of this database, pg_stat_activity) or "prepared_xact" (pg_prepared_xacts).
	// 0 when none holds it. Replication slots have no start time; see PGOldestXminAgeXIDs.
	// Seeing another role's transaction start needs pg_read_all_stats (or pg_monitor).
	PGOldestXminAgeSeconds *prometheus.GaugeVec

	// PGOldestXminAgeXIDs is jq_pg_oldest_xmin_age_transactions{holder}: age, in transaction
	// ids, of the oldest xmin or xid holding back vacuum, by holder ("backend",
	// "prepared_xact", "replication_slot"); 0 when none holds it.
	PGOldestXminAgeXIDs *prometheus.GaugeVec

	// PGDatabaseXIDAge is jq_pg_database_xid_age_transactions: age(datfrozenxid) of the jq
	// database, how far it is from transaction id wraparound (PostgreSQL stops taking writes
	// near 2^31; autovacuum starts forcing freezes at autovacuum_freeze_max_age, 200 million by
	// default). A queue burns several transaction ids per job.
	PGDatabaseXIDAge prometheus.Gauge
}

// New creates every jq metric and registers it on reg. A nil reg leaves them unregistered,
// which suits tests that only need somewhere to write. Calls on distinct registries never
// conflict; New panics if reg already holds jq metrics, a programming error.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JobQueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: nameJobQueueDepth,
			Help: "Jobs in each queue and status, as last counted.",
		}, []string{"queue", "status"}),
		QueuePaused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: nameQueuePaused,
			Help: "1 while the queue is paused, else 0.",
		}, []string{"queue"}),
		QueueLimitHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameQueueLimitHeld,
			Help: "Runnable jobs claims left pending because of the queue's flow control, by limit, summed over claims (cluster-wide).",
		}, []string{"queue", "limit"}),
		JobTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameJobTotal,
			Help: "Job transitions, by the status reached and the reason.",
		}, []string{"queue", "status", "reason"}),
		JobProcessingDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    nameJobProcessingDuration,
			Help:    "Time from a job's start to its finish.",
			Buckets: jobBuckets,
		}, []string{"queue"}),
		JobWaitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    nameJobWaitDuration,
			Help:    "Time from a job's submission, or its not_before time when later, to its start.",
			Buckets: waitBuckets,
		}, []string{"queue"}),
		SchedulerCycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    nameSchedulerCycleDuration,
			Help:    "Duration of one scheduler cycle (target: p95 <= 200 ms).",
			Buckets: schedulerBuckets,
		}),
		SchedulerJobsAssigned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameSchedulerJobsAssigned,
			Help: "Jobs the scheduler assigned to a worker.",
		}, []string{"queue"}),
		WorkerActiveCount: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: nameWorkerActiveCount,
			Help: "Workers connected to this server.",
		}),
		WorkerJobConcurrency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: nameWorkerJobConcurrency,
			Help: "Jobs running on a worker.",
		}, []string{"worker_id"}),
		WorkerConfiguredConcurrency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: nameWorkerConfiguredConcurrency,
			Help: "Jobs a worker can run at once, as it declared.",
		}, []string{"worker_id"}),
		GRPCRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    nameGRPCRequestDuration,
			Help:    "Duration of gRPC calls, by full method name and status code.",
			Buckets: grpcBuckets,
		}, []string{"method", "code"}),
		DBQueryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    nameDBQueryDuration,
			Help:    "Duration of PostgreSQL queries, by query name.",
			Buckets: dbBuckets,
		}, []string{"query"}),
		RedisOperationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    nameRedisOperationDuration,
			Help:    "Duration of Redis operations.",
			Buckets: redisBuckets,
		}, []string{"operation"}),
		KafkaPublishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameKafkaPublishErrors,
			Help: "Events that failed to publish to Kafka.",
		}, []string{"topic"}),
		KafkaEventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameKafkaEventsPublished,
			Help: "Events published to Kafka.",
		}, []string{"topic"}),
		RelayLagEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: nameRelayLagEvents,
			Help: "Outbox events not yet published to Kafka.",
		}),
		RelayLagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: nameRelayLagSeconds,
			Help: "Age of the oldest outbox event not yet published to Kafka.",
		}),
		LeaderStatus: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: nameLeaderStatus,
			Help: "1 when this instance runs the maintenance loops, else 0.",
		}),
		MaintenanceRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameMaintenanceRows,
			Help: "Rows changed by each maintenance task.",
		}, []string{"task"}),
		ScheduleFires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameScheduleFires,
			Help: "Times of periodic schedules the leader handled, by outcome.",
		}, []string{"outcome"}),
		JobProgressReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameJobProgressReports,
			Help: "Progress reports of running jobs, by outcome (written, coalesced, refused).",
		}, []string{"outcome"}),
		WorkerJobsRun: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: nameWorkerJobsRun,
			Help: "Jobs a worker ran, by outcome.",
		}, []string{"worker_id", "outcome"}),
		WorkerExecutionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    nameWorkerExecutionDuration,
			Help:    "Time a job's process ran on a worker.",
			Buckets: jobBuckets,
		}, []string{"worker_id"}),
		PGUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: namePGUp,
			Help: "1 when the last read of the PostgreSQL statistics succeeded, else 0.",
		}),
		PGTableDeadTuples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namePGTableDeadTuples,
			Help: "Dead row versions in each table of the jq schema, waiting for vacuum.",
		}, []string{"table"}),
		PGTableLiveTuples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namePGTableLiveTuples,
			Help: "Live rows in each table of the jq schema, as PostgreSQL estimates them.",
		}, []string{"table"}),
		PGTableLastVacuum: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namePGTableLastVacuum,
			Help: "Unix time of the last manual VACUUM of each table of the jq schema, 0 when never.",
		}, []string{"table"}),
		PGTableLastAutovacuum: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namePGTableLastAutovacuum,
			Help: "Unix time of the last autovacuum of each table of the jq schema, 0 when never.",
		}, []string{"table"}),
		PGOldestXminAgeSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namePGOldestXminAgeSeconds,
			Help: "How long the oldest transaction holding back vacuum has been open, by holder; 0 when none.",
		}, []string{"holder"}),
		PGOldestXminAgeXIDs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namePGOldestXminAgeXIDs,
			Help: "Age in transaction ids of the oldest xmin holding back vacuum, by holder; 0 when none.",
		}, []string{"holder"}),
		PGDatabaseXIDAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: namePGDatabaseXIDAge,
			Help: "age(datfrozenxid) of the jq database: transaction ids consumed since its last full freeze.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.collectors()...)
	}
	return m
}

// collectors lists every metric of m, in the order of its fields.
func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.JobQueueDepth,
		m.QueuePaused,
		m.QueueLimitHeld,
		m.JobTotal,
		m.JobProcessingDuration,
		m.JobWaitDuration,
		m.SchedulerCycleDuration,
		m.SchedulerJobsAssigned,
		m.WorkerActiveCount,
		m.WorkerJobConcurrency,
		m.WorkerConfiguredConcurrency,
		m.GRPCRequestDuration,
		m.DBQueryDuration,
		m.RedisOperationDuration,
		m.KafkaPublishErrors,
		m.KafkaEventsPublished,
		m.RelayLagEvents,
		m.RelayLagSeconds,
		m.LeaderStatus,
		m.MaintenanceRows,
		m.ScheduleFires,
		m.JobProgressReports,
		m.WorkerJobsRun,
		m.WorkerExecutionDuration,
		m.PGUp,
		m.PGTableDeadTuples,
		m.PGTableLiveTuples,
		m.PGTableLastVacuum,
		m.PGTableLastAutovacuum,
		m.PGOldestXminAgeSeconds,
		m.PGOldestXminAgeXIDs,
		m.PGDatabaseXIDAge,
	}
}

// Names returns the name of every metric New defines, sorted. Histograms are listed by their
// base name; Prometheus exposes them as <name>_bucket, <name>_sum and <name>_count.
func Names() []string {
	names := []string{
		nameJobQueueDepth,
		nameQueuePaused,
		nameQueueLimitHeld,
		nameJobTotal,
		nameJobProcessingDuration,
		nameJobWaitDuration,
		nameSchedulerCycleDuration,
		nameSchedulerJobsAssigned,
		nameWorkerActiveCount,
		nameWorkerJobConcurrency,
		nameWorkerConfiguredConcurrency,
		nameGRPCRequestDuration,
		nameDBQueryDuration,
		nameRedisOperationDuration,
		nameKafkaPublishErrors,
		nameKafkaEventsPublished,
		nameRelayLagEvents,
		nameRelayLagSeconds,
		nameLeaderStatus,
		nameMaintenanceRows,
		nameScheduleFires,
		nameJobProgressReports,
		nameWorkerJobsRun,
		nameWorkerExecutionDuration,
		namePGUp,
		namePGTableDeadTuples,
		namePGTableLiveTuples,
		namePGTableLastVacuum,
		namePGTableLastAutovacuum,
		namePGOldestXminAgeSeconds,
		namePGOldestXminAgeXIDs,
		namePGDatabaseXIDAge,
	}
	slices.Sort(names)
	return names
}

// NewRegistry returns a fresh registry holding the Go runtime and process collectors, ready
// for New.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the metrics g gathers in the Prometheus exposition format. A collector that
// fails does not hide the others: the handler serves what it could gather.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// Thresholds shared with rules/job-queue.yml: the dashboards draw the line an alert fires at.
const (
	pendingCritical     = 10000 // JobQueueDepthCritical
	processingP99Limit  = 2     // JobProcessingLatencyHigh, seconds
	schedulerP95Limit   = 0.2   // SchedulerCycleSlow, seconds
	xminAgeLimitSeconds = 900   // PostgresVacuumHeldBack
	xidAgeWarning       = 1e9   // PostgresXIDWraparoundRisk
)

// Overview is the job queue overview: is work flowing, how fast, where it piles up, and
// whether PostgreSQL can keep up.
//
//nolint:staticcheck // the v1 schema on purpose: Grafana 11 (docker-compose.yml pins 11.3) cannot load v2 dashboards
func Overview() (dashboard.Dashboard, error) {
	return newDashboard("jq-overview", "jq / Job queue overview",
		"Is work flowing, how fast, where does it pile up, and can PostgreSQL keep up? Start here.").
		WithRow(row("Now")).
		WithPanel(newStat("Pending jobs", "Jobs waiting for a worker, in the selected queues (jq_job_queue_depth, status PENDING). Red at the JobQueueDepthCritical threshold.", "short",
			instant("A", `sum(namespace_queue_status:jq_job_queue_depth:max{`+nsQueue+`, status="PENDING"})`, "pending"),
			thresholds(colorOK, 1000, colorWarning, pendingCritical, colorError))).
		WithPanel(newStat("Running jobs", "Jobs delivered to a worker and not finished (status RUNNING).", "short",
			instant("A", `sum(namespace_queue_status:jq_job_queue_depth:max{`+nsQueue+`, status="RUNNING"})`, "running"),
			thresholds(colorOK))).
		WithPanel(newStat("Active workers", "Workers holding a job stream to a jq-server (jq_worker_active_count summed over the servers). Red at 0: nothing runs.", "short",
			instant("A", `sum(jq_worker_active_count{`+ns+`})`, "workers"),
			thresholds(colorError, 1, colorOK))).
		WithPanel(newStat("Dead-lettered (last 1 h)", "Jobs that reached DEAD_LETTERED after their last attempt failed or failed permanently, in the last hour.", "short",
			instant("A", `sum(increase(jq_job_total{`+nsQueue+`, status="DEAD_LETTERED"}[1h]))`, "dead-lettered"),
			thresholds(colorOK, 1, colorWarning, 100, colorError))).
		WithRow(row("Throughput and latency")).
		WithPanel(newTimeseries("Outcomes per second, by status",
			"Attempts finished per second, by the status they reached: DONE (green), FAILED (red; retried or dead-lettered next), DEAD_LETTERED. A status added later appears here by itself.", "ops",
			query(`sum by (status) (namespace_queue_status_reason:jq_job_total:rate5m{`+nsQueue+`, status!~"PENDING|ASSIGNED|RUNNING|WAITING"})`, "{{status}}")).
			OverrideByName(fixedColor("DONE", colorOK)).
			OverrideByName(fixedColor("FAILED", colorError)).
			OverrideByName(fixedColor("DEAD_LETTERED", colorDead))).
		WithPanel(newTimeseries("Pending jobs per queue",
			"Jobs waiting for a worker, per queue. A line that only climbs is a queue its workers cannot keep up with (or that no worker serves).", "short",
			query(`sum by (queue) (namespace_queue_status:jq_job_queue_depth:max{`+nsQueue+`, status="PENDING"})`, "{{queue}}"))).
		WithPanel(withLimit(newTimeseries("Processing time p50 / p95 / p99",
			"Time from a job's start to its finish (jq_job_processing_duration_seconds), over the selected queues. The dashed line is the JobProcessingLatencyHigh limit on p99.", "s",
			query(`histogram_quantile(0.5, sum by (le) (namespace_queue_le:jq_job_processing_duration_seconds_bucket:rate5m{`+nsQueue+`}))`, "p50"),
			query(`histogram_quantile(0.95, sum by (le) (namespace_queue_le:jq_job_processing_duration_seconds_bucket:rate5m{`+nsQueue+`}))`, "p95"),
			query(`histogram_quantile(0.99, sum by (le) (namespace_queue_le:jq_job_processing_duration_seconds_bucket:rate5m{`+nsQueue+`}))`, "p99")),
			thresholds(colorOK, processingP99Limit, colorError))).
		WithPanel(newTimeseries("Wait time p95 per queue (submit → start)",
			"Time a job waited to start, from its submission or not_before, per queue: the queue's own latency, which jq controls.", "s",
			query(`histogram_quantile(0.95, sum by (queue, le) (namespace_queue_le:jq_job_wait_duration_seconds_bucket:rate5m{`+nsQueue+`}))`, "{{queue}}"))).
		WithPanel(withLimit(newTimeseries("Scheduler cycle p95",
			"Duration of one scheduler cycle per jq-server instance. The target, and the SchedulerCycleSlow limit, is 200 ms.", "s",
			query(`histogram_quantile(0.95, sum by (instance, le) (namespace_instance_le:jq_scheduler_cycle_duration_seconds_bucket:rate5m{`+ns+`}))`, "{{instance}}")),
			thresholds(colorOK, schedulerP95Limit, colorError))).
		WithPanel(bargauge.NewPanelBuilder().
			Title("Jobs assigned per queue (last 5 min)").
			Description("Jobs the schedulers handed to workers in the last five minutes, per queue.").
			Datasource(ds()).
			WithTarget(instant("A", `sum by (queue) (increase(jq_scheduler_jobs_assigned_total{`+nsQueue+`}[5m]))`, "{{queue}}")).
			Unit("short").
			Min(0).
			Thresholds(thresholds(colorOK)).
			ColorScheme(byThresholds()).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			Orientation(common.VizOrientationHorizontal).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
			Height(8).
			Span(12)).
		WithPanel(newTimeseries("Retries and dead-letters per second, by reason",
			"Failed attempts going back to PENDING (RETRY) or to DEAD_LETTERED (RETRIES_EXHAUSTED, PERMANENT_FAILURE). Behind HighRetryRate and HighDeadLetterRate.", "ops",
			query(`sum by (status, reason) (namespace_queue_status_reason:jq_job_total:rate5m{`+nsQueue+`, status=~"PENDING|DEAD_LETTERED"})`, "{{status}} {{reason}}"))).
		WithRow(row("Per queue")).
		WithPanel(queueTable()).
		WithRow(row("Flow control")).
		WithPanel(newStat("Paused queues", "Queues paused now (jq_queue_paused): they take submits, but none of their jobs is claimed until jq-ctl queue resume. QueuePausedLong fires after an hour with jobs waiting.", "short",
			instant("A", `count(max by (queue) (jq_queue_paused{`+nsQueue+`}) == 1) or vector(0)`, "paused"),
			thresholds(colorOK, 1, colorWarning))).
		WithPanel(newTimeseries("Jobs held back by flow control, by queue and limit",
			"Runnable jobs the claims left PENDING because of a queue's limit: paused, max_running, rate or per_key (jq_queue_limit_held_total; counted by the database for the whole cluster, so the servers' series agree and max is taken). A steady line is a limit doing its work; one that only climbs while the queue's depth grows is a limit set too low.", "ops",
			query(`max by (queue, limit) (rate(jq_queue_limit_held_total{`+nsQueue+`}[$__rate_interval]))`, "{{queue}} {{limit}}"))).
		WithRow(row("Events (Kafka)")).
		WithPanel(newTimeseries("Kafka publish errors per second",
			"Events that failed to publish, by topic. They stay in the outbox (job_events) and go again: nothing is lost, but consumers see them late.", "ops",
			query(`sum by (topic) (rate(jq_kafka_publish_errors_total{`+ns+`}[$__rate_interval]))`, "{{topic}}")).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor(colorError))).
		WithPanel(newTimeseries("Event relay lag",
			"Age of the oldest job event not yet published to Kafka, as the leading jq-server (the one that relays) sees it.", "s",
			query(`max(jq_relay_lag_seconds{`+ns+`} and on (instance) (jq_leader{`+ns+`} == 1))`, "oldest unpublished event"))).
		WithRow(row("PostgreSQL health")).
		WithPanel(pgUpStat()).
		WithPanel(newStat("Transaction id age", "age(datfrozenxid) of the jq database: transaction ids since its last full freeze. PostgreSQL stops taking writes near 2.1 billion; PostgresXIDWraparoundRisk fires at 1 billion.", "short",
			instant("A", `max(jq_pg_database_xid_age_transactions{`+ns+`})`, "xid age"),
			thresholds(colorOK, 5e8, colorWarning, xidAgeWarning, colorError))).
		WithPanel(newStat("Oldest open transaction", "How long the oldest transaction holding back vacuum has been open (sessions and prepared transactions). Vacuum cannot remove any row version it might still see.", "s",
			instant("A", `max(jq_pg_oldest_xmin_age_seconds{`+ns+`})`, "oldest"),
			thresholds(colorOK, 300, colorWarning, xminAgeLimitSeconds, colorError))).
		WithPanel(newStat("Dead tuples (jobs + job_events)", "Dead row versions in jq.jobs and jq.job_events, waiting for vacuum.", "short",
			instant("A", `sum(namespace_table:jq_pg_table_dead_tuples:max{`+ns+`, table=~"jobs|job_events"})`, "dead"),
			thresholds(colorOK, 100000, colorWarning, 1000000, colorError))).
		WithPanel(newTimeseries("Dead tuples per table",
			"Dead row versions per table of the jq schema. A sawtooth is autovacuum at work; a line that only climbs is vacuum not running or held back (see the oldest xmin age).", "short",
			query(`namespace_table:jq_pg_table_dead_tuples:max{`+ns+`}`, "{{table}}"))).
		WithPanel(withLimit(newTimeseries("Oldest xmin age, by holder",
			"Age of the oldest snapshot or transaction that vacuum must respect: a session (backend), a prepared transaction or, in transaction ids only, a replication slot. The dashed line is the PostgresVacuumHeldBack limit.", "s",
			query(`max by (holder) (jq_pg_oldest_xmin_age_seconds{`+ns+`})`, "{{holder}}")),
			thresholds(colorOK, xminAgeLimitSeconds, colorError))).
		WithPanel(pgTablesTable()).
		Build()
}

// queueTable is the per-queue breakdown: depth, throughput, error rate, latency.
func queueTable() *table.PanelBuilder {
	organize := map[string]any{
		"excludeByName": map[string]any{"Time": true, "Time 1": true, "Time 2": true, "Time 3": true, "Time 4": true, "Time 5": true, "Time 6": true},
		"renameByName": map[string]any{
			"queue": "Queue", "Value #A": "Pending", "Value #B": "Running", "Value #C": "Done / s",
			"Value #D": "Error rate", "Value #E": "Avg processing time", "Value #F": "Wait p95",
		},
		"indexByName": map[string]any{"queue": 0, "Value #A": 1, "Value #B": 2, "Value #C": 3, "Value #D": 4, "Value #E": 5, "Value #F": 6},
	}
	depth := `namespace_queue_status:jq_job_queue_depth:max{` + nsQueue
	rate := `namespace_queue_status_reason:jq_job_total:rate5m{` + nsQueue
	return newTable("Queues", "One row per queue: jobs waiting and running now, and over the last 5 minutes the completions per second, the share of finished attempts that failed, the mean processing time and the p95 wait.", organize,
		tableQuery("A", `sum by (queue) (`+depth+`, status="PENDING"})`),
		tableQuery("B", `sum by (queue) (`+depth+`, status="RUNNING"})`),
		tableQuery("C", `sum by (queue) (`+rate+`, status="DONE"})`),
		tableQuery("D", `sum by (queue) (`+rate+`, status="FAILED"}) / (sum by (queue) (`+rate+`, status=~"DONE|FAILED"}) > 0)`),
		tableQuery("E", `sum by (queue) (namespace_queue:jq_job_processing_duration_seconds_sum:rate5m{`+nsQueue+`}) / (sum by (queue) (namespace_queue:jq_job_processing_duration_seconds_count:rate5m{`+nsQueue+`}) > 0)`),
		tableQuery("F", `histogram_quantile(0.95, sum by (queue, le) (namespace_queue_le:jq_job_wait_duration_seconds_bucket:rate5m{`+nsQueue+`}))`),
	).
		OverrideByName(columnUnit("Pending", "short", thresholds(colorOK, 1000, colorWarning, pendingCritical, colorError))).
		OverrideByName(columnUnit("Done / s", "ops", thresholds(colorOK))).
		OverrideByName(columnUnit("Error rate", "percentunit", thresholds(colorOK, 0.01, colorWarning, 0.05, colorError))).
		OverrideByName(columnUnit("Avg processing time", "s", nil)).
		OverrideByName(columnUnit("Wait p95", "s", thresholds(colorOK, 5, colorWarning, 60, colorError)))
}

// pgUpStat says whether the servers can read PostgreSQL's statistics: UP or DOWN.
func pgUpStat() *stat.PanelBuilder {
	return newStat("PostgreSQL", "Whether every jq-server could read PostgreSQL's statistics at its last refresh (jq_pg_up).", "none",
		instant("A", `min(jq_pg_up{`+ns+`})`, "postgresql"),
		thresholds(colorError, 1, colorOK)).
		Mappings(valueMapping([3]string{"1", "UP", colorOK}, [3]string{"0", "DOWN", colorError})).
		NoValue("no data").
		GraphMode(common.BigValueGraphModeNone)
}

// pgTablesTable shows each table of the jq schema: its dead and live rows and when vacuum last
// cleaned it.
func pgTablesTable() *table.PanelBuilder {
	organize := map[string]any{
		"excludeByName": map[string]any{"Time": true, "Time 1": true, "Time 2": true, "Time 3": true, "Time 4": true, "Time 5": true},
		"renameByName": map[string]any{
			"table": "Table", "Value #A": "Dead tuples", "Value #B": "Live tuples", "Value #C": "Dead %",
			"Value #D": "Since last autovacuum", "Value #E": "Since last manual vacuum",
		},
		"indexByName": map[string]any{"table": 0, "Value #A": 1, "Value #B": 2, "Value #C": 3, "Value #D": 4, "Value #E": 5},
	}
	return newTable("Tables of the jq schema", "Per table: dead and live rows, the dead share (autovacuum starts near 20% by default), and how long ago vacuum last ran (empty: never since the statistics were reset).", organize,
		tableQuery("A", `namespace_table:jq_pg_table_dead_tuples:max{`+ns+`}`),
		tableQuery("B", `namespace_table:jq_pg_table_live_tuples:max{`+ns+`}`),
		tableQuery("C", `namespace_table:jq_pg_table_dead_tuples:max{`+ns+`} / ((namespace_table:jq_pg_table_dead_tuples:max{`+ns+`} + namespace_table:jq_pg_table_live_tuples:max{`+ns+`}) > 0)`),
		tableQuery("D", `time() - (max by (table) (jq_pg_table_last_autovacuum_timestamp_seconds{`+ns+`}) > 0)`),
		tableQuery("E", `time() - (max by (table) (jq_pg_table_last_vacuum_timestamp_seconds{`+ns+`}) > 0)`),
	).
		OverrideByName(columnUnit("Dead tuples", "short", thresholds(colorOK, 100000, colorWarning, 1000000, colorError))).
		OverrideByName(columnUnit("Live tuples", "short", nil)).
		OverrideByName(columnUnit("Dead %", "percentunit", thresholds(colorOK, 0.2, colorWarning, 0.5, colorError))).
		OverrideByName(columnUnit("Since last autovacuum", "s", thresholds(colorOK, 86400, colorWarning))).
		OverrideByName(columnUnit("Since last manual vacuum", "s", nil))
}

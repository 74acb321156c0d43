package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// Thresholds shared with rules/job-queue.yml.
const (
	workerUtilisationHigh = 0.9 // WorkerConcurrencyHigh
	dbQueryP95Limit       = 0.1 // DBQuerySlow, seconds
)

// The jq-worker scrape job. The rules name it too: Prometheus (or the ServiceMonitor) must
// call the jobs jq-server and jq-worker.
const workerJob = `job="jq-worker"`

// WorkerHealth is the worker dashboard: how many workers, how busy each one is, what their
// jobs end in, and how jq-server's API, database and Redis answer them.
//
//nolint:staticcheck // the v1 schema on purpose: Grafana 11 (docker-compose.yml pins 11.3) cannot load v2 dashboards
func WorkerHealth() (dashboard.Dashboard, error) {
	return newDashboard("jq-workers", "jq / Worker health",
		"How many workers are there, how busy is each, and how fast do the server's API, PostgreSQL and Redis answer them?").
		WithRow(row("Fleet")).
		WithPanel(newStat("Registered workers", "Workers holding a job stream to a jq-server (jq_worker_active_count summed over the servers). Red at 0: nothing runs.", "short",
			instant("A", `sum(jq_worker_active_count{`+ns+`})`, "workers"),
			thresholds(colorError, 1, colorOK))).
		WithPanel(newStat("Worker pods scraped", "jq-worker processes Prometheus reaches. Fewer than registered workers is fine (several per pod are possible); workers registered but pods down is WorkerDown.", "short",
			instant("A", `sum(up{`+workerJob+`, `+ns+`})`, "up"),
			thresholds(colorError, 1, colorOK))).
		WithPanel(newStat("Worker pods down", "jq-worker processes Prometheus cannot scrape (WorkerDown).", "short",
			instant("A", `count(up{`+workerJob+`, `+ns+`} == 0) or vector(0)`, "down"),
			thresholds(colorOK, 1, colorError))).
		WithPanel(newStat("Fleet utilisation", "Jobs running on all workers over the jobs they can run at once. Yellow from 70%, red from 90% (WorkerConcurrencyHigh): the queue will start to wait.", "percentunit",
			instant("A", `sum(jq_worker_job_concurrency{`+ns+`}) / sum(jq_worker_configured_concurrency{`+ns+`})`, "utilisation"),
			thresholds(colorOK, 0.7, colorWarning, workerUtilisationHigh, colorError))).
		WithPanel(workerTable()).
		WithPanel(withLimit(newTimeseries("Utilisation per worker",
			"Running jobs over configured concurrency, per worker. The dashed line is the WorkerConcurrencyHigh limit.", "percentunit",
			query(`max by (worker_id) (jq_worker_job_concurrency{`+ns+`}) / max by (worker_id) (jq_worker_configured_concurrency{`+ns+`})`, "{{worker_id}}")),
			thresholds(colorOK, workerUtilisationHigh, colorError)).Max(1)).
		WithPanel(newTimeseries("Job outcomes on the workers per second",
			"How the jobs' processes ended, over every worker: succeeded (green), failed (red), timed_out (yellow), killed by a shutdown (dark red).", "ops",
			query(`sum by (outcome) (rate(jq_worker_jobs_total{`+ns+`}[$__rate_interval]))`, "{{outcome}}")).
			OverrideByName(fixedColor("succeeded", colorOK)).
			OverrideByName(fixedColor("failed", colorError)).
			OverrideByName(fixedColor("timed_out", colorWarning)).
			OverrideByName(fixedColor("killed", colorDead))).
		WithRow(row("jq-server API")).
		WithPanel(newTimeseries("gRPC requests per second, by method",
			"Calls to jq-server per method, over every instance. StreamJobs counts streams that ended, not messages.", "reqps",
			query(`sum by (method) (namespace_method_code:jq_grpc_request_duration_seconds_count:rate5m{`+ns+`})`, "{{method}}"))).
		WithPanel(newTimeseries("gRPC errors per second, by code",
			"Calls that did not end OK. Unavailable means PostgreSQL was unreachable; Internal is a bug or an unexpected failure (see the server's ERROR logs); the rest are the callers' mistakes.", "reqps",
			query(`sum by (code) (namespace_method_code:jq_grpc_request_duration_seconds_count:rate5m{`+ns+`, code!="OK"})`, "{{code}}")).
			OverrideByName(fixedColor("Internal", colorError)).
			OverrideByName(fixedColor("Unavailable", colorDead))).
		WithPanel(grpcHeatmap()).
		WithRow(row("Dependencies")).
		WithPanel(withLimit(newTimeseries("PostgreSQL query p95, by query",
			"95th percentile of each named query's duration, over every jq-server. The dashed line is the DBQuerySlow limit.", "s",
			query(`histogram_quantile(0.95, sum by (query, le) (namespace_query_le:jq_db_query_duration_seconds_bucket:rate5m{`+ns+`}))`, "{{query}}")),
			thresholds(colorOK, dbQueryP95Limit, colorError))).
		WithPanel(newTimeseries("Redis operation p95, by operation",
			"95th percentile of each Redis operation's duration (locks, leader lease). Redis is a fast path only: jq keeps working without it.", "s",
			query(`histogram_quantile(0.95, sum by (operation, le) (namespace_operation_le:jq_redis_operation_duration_seconds_bucket:rate5m{`+ns+`}))`, "{{operation}}"))).
		Build()
}

// workerTable lists every worker seen in the last hour: its jobs now, its concurrency, its
// utilisation and whether Prometheus still reaches its process.
func workerTable() *table.PanelBuilder {
	organize := map[string]any{
		"excludeByName": map[string]any{"Time": true, "Time 1": true, "Time 2": true, "Time 3": true, "Time 4": true},
		"renameByName": map[string]any{
			"worker_id": "Worker", "instance": "Instance", "Value #A": "Active jobs", "Value #B": "Concurrency",
			"Value #C": "Utilisation", "Value #D": "Status",
		},
		"indexByName": map[string]any{"worker_id": 0, "instance": 1, "Value #D": 2, "Value #A": 3, "Value #B": 4, "Value #C": 5},
	}
	// A worker whose process is gone stops reporting its own series, so they are looked up
	// over the last hour and the status comes from the scrape of its process (up).
	seen := `last_over_time(jq_worker_configured_concurrency{` + ns + `}[1h])`
	return newTable("Workers", "One row per worker seen in the last hour, from the worker's own /metrics. Status is UP while Prometheus reaches its process, DOWN when it no longer does.", organize,
		tableQuery("A", `max by (worker_id, instance) (jq_worker_job_concurrency{`+ns+`})`),
		tableQuery("B", `max by (worker_id, instance) (jq_worker_configured_concurrency{`+ns+`})`),
		tableQuery("C", `max by (worker_id, instance) (jq_worker_job_concurrency{`+ns+`}) / max by (worker_id, instance) (jq_worker_configured_concurrency{`+ns+`})`),
		tableQuery("D", `max by (worker_id, instance) (`+seen+` * 0 + on (namespace, instance) group_left () up{`+workerJob+`, `+ns+`})`),
	).
		OverrideByName(columnUnit("Utilisation", "percentunit", thresholds(colorOK, 0.7, colorWarning, workerUtilisationHigh, colorError))).
		OverrideByName("Status", []dashboard.DynamicConfigValue{
			{Id: "mappings", Value: valueMapping([3]string{"1", "UP", colorOK}, [3]string{"0", "DOWN", colorError})},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-background"}},
		}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Utilisation").Desc(true)})
}

// grpcHeatmap shows how the latency of every call is spread, from Prometheus's buckets.
func grpcHeatmap() *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().
		Title("gRPC latency distribution").
		Description("How long jq-server's calls take, all methods but the long-lived StreamJobs, as a heatmap of the histogram buckets.").
		Datasource(ds()).
		WithTarget(prometheus.NewDataqueryBuilder().Datasource(ds()).
			Expr(`sum by (le) (rate(jq_grpc_request_duration_seconds_bucket{` + ns + `, method!="WorkerService/StreamJobs"}[$__rate_interval]))`).
			LegendFormat("{{le}}").
			Format(prometheus.PromQueryFormatHeatmap).
			Range()).
		Calculate(false).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Oranges").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Steps(64)).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit("s")).
		CellGap(1).
		Height(8).
		Span(24)
}

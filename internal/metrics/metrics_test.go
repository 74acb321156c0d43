package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/metrics"
)

// touch gives every vector one child, so that the registry gathers every metric.
func touch(m *metrics.Metrics) {
	m.JobQueueDepth.WithLabelValues("default", "queued").Set(3)
	m.JobTotal.WithLabelValues("default", "succeeded", "completed").Inc()
	m.QueuePaused.WithLabelValues("default").Set(1)
	m.QueueLimitHeld.WithLabelValues("default", "rate").Add(4)
	m.JobProcessingDuration.WithLabelValues("default").Observe(1.5)
	m.JobWaitDuration.WithLabelValues("default").Observe(0.02)
	m.SchedulerCycleDuration.Observe(0.004)
	m.SchedulerJobsAssigned.WithLabelValues("default").Inc()
	m.WorkerActiveCount.Set(2)
	m.WorkerJobConcurrency.WithLabelValues("w1").Set(1)
	m.WorkerConfiguredConcurrency.WithLabelValues("w1").Set(4)
	m.GRPCRequestDuration.WithLabelValues("/jq.v1.JobService/Submit", "OK").Observe(0.001)
	m.DBQueryDuration.WithLabelValues("submit_job").Observe(0.0004)
	m.RedisOperationDuration.WithLabelValues("get").Observe(0.0002)
	m.KafkaPublishErrors.WithLabelValues("jq.job-events").Inc()
	m.KafkaEventsPublished.WithLabelValues("jq.job-events").Inc()
	m.RelayLagEvents.Set(5)
	m.RelayLagSeconds.Set(1.2)
	m.LeaderStatus.Set(1)
	m.MaintenanceRows.WithLabelValues("expire_ttl").Add(7)
	m.ScheduleFires.WithLabelValues("submitted").Inc()
	m.JobProgressReports.WithLabelValues("written").Inc()
	m.WorkerJobsRun.WithLabelValues("w1", "succeeded").Inc()
	m.WorkerExecutionDuration.WithLabelValues("w1").Observe(2)
	m.PGUp.Set(1)
	m.PGTableDeadTuples.WithLabelValues("jobs").Set(10)
	m.PGTableLiveTuples.WithLabelValues("jobs").Set(100)
	m.PGTableLastVacuum.WithLabelValues("jobs").Set(0)
	m.PGTableLastAutovacuum.WithLabelValues("jobs").Set(1.7e9)
	m.PGOldestXminAgeSeconds.WithLabelValues("backend").Set(3)
	m.PGOldestXminAgeXIDs.WithLabelValues("backend").Set(12)
	m.PGDatabaseXIDAge.Set(1000)
}

// gatheredJQ returns the label names of every jq_ metric reg gathers, by metric name.
func gatheredJQ(t *testing.T, reg prometheus.Gatherer) map[string][]string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := make(map[string][]string)
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		got[name] = labels
	}
	return got
}

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("EveryFieldSet", func(t *testing.T) {
		t.Parallel()
		m := metrics.New(prometheus.NewRegistry())
		v := reflect.ValueOf(m).Elem()
		for i := range v.NumField() {
			require.Falsef(t, v.Field(i).IsNil(), "field %s is nil", v.Type().Field(i).Name)
		}
		require.Equalf(t, len(metrics.Names()), v.NumField(),
			"got %d fields, want one per name in Names()", v.NumField())
	})

	t.Run("RegistersEveryMetricWithItsLabels", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		touch(metrics.New(reg))

		want := map[string][]string{
			"jq_job_queue_depth":                  {"queue", "status"},
			"jq_job_total":                        {"queue", "reason", "status"},
			"jq_queue_paused":                     {"queue"},
			"jq_queue_limit_held_total":           {"limit", "queue"},
			"jq_job_processing_duration_seconds":  {"queue"},
			"jq_job_wait_duration_seconds":        {"queue"},
			"jq_scheduler_cycle_duration_seconds": nil,
			"jq_scheduler_jobs_assigned_total":    {"queue"},
			"jq_worker_active_count":              nil,
			"jq_worker_job_concurrency":           {"worker_id"},
			"jq_worker_configured_concurrency":    {"worker_id"},
			"jq_grpc_request_duration_seconds":    {"code", "method"},
			"jq_db_query_duration_seconds":        {"query"},
			"jq_redis_operation_duration_seconds": {"operation"},
			"jq_kafka_publish_errors_total":       {"topic"},
			"jq_kafka_events_published_total":     {"topic"},
			"jq_relay_lag_events":                 nil,
			"jq_relay_lag_seconds":                nil,
			"jq_leader":                           nil,
			"jq_maintenance_rows_total":           {"task"},
			"jq_schedule_fires_total":             {"outcome"},
			"jq_job_progress_reports_total":       {"outcome"},
			"jq_worker_jobs_total":                {"outcome", "worker_id"},
			"jq_worker_job_execution_seconds":     {"worker_id"},

			"jq_pg_up":                                      nil,
			"jq_pg_table_dead_tuples":                       {"table"},
			"jq_pg_table_live_tuples":                       {"table"},
			"jq_pg_table_last_vacuum_timestamp_seconds":     {"table"},
			"jq_pg_table_last_autovacuum_timestamp_seconds": {"table"},
			"jq_pg_oldest_xmin_age_seconds":                 {"holder"},
			"jq_pg_oldest_xmin_age_transactions":            {"holder"},
			"jq_pg_database_xid_age_transactions":           nil,
		}
		// Gathered label pairs come sorted by name.
		require.Equal(t, want, gatheredJQ(t, reg))
	})

	t.Run("TwoRegistriesDoNotConflict", func(t *testing.T) {
		t.Parallel()
		regA, regB := metrics.NewRegistry(), metrics.NewRegistry()
		a, b := metrics.New(regA), metrics.New(regB)

		a.WorkerActiveCount.Set(3)
		b.WorkerActiveCount.Set(5)
		if got := testutil.ToFloat64(a.WorkerActiveCount); got != 3 {
			t.Fatalf("got jq_worker_active_count %v on registry A, want 3", got)
		}
		if got := testutil.ToFloat64(b.WorkerActiveCount); got != 5 {
			t.Fatalf("got jq_worker_active_count %v on registry B, want 5", got)
		}
	})

	t.Run("NilRegistererLeavesUnregistered", func(t *testing.T) {
		t.Parallel()
		m := metrics.New(nil)
		m.LeaderStatus.Set(1)
		require.InDelta(t, 1.0, testutil.ToFloat64(m.LeaderStatus), 0)
		// The same metrics can still be registered somewhere afterwards.
		require.NoError(t, prometheus.NewRegistry().Register(m.LeaderStatus))
	})

	t.Run("SameRegistryTwicePanics", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		metrics.New(reg)
		require.Panics(t, func() { metrics.New(reg) })
	})

	t.Run("PassesLint", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		touch(metrics.New(reg))

		problems, err := testutil.GatherAndLint(reg)
		require.NoError(t, err)
		for _, p := range problems {
			// The name jq_worker_active_count is fixed by the spec; promlint reserves the
			// _count suffix for histograms and summaries but Prometheus accepts it.
			if p.Metric == "jq_worker_active_count" && strings.Contains(p.Text, `"_count" suffix`) {
				continue
			}
			t.Errorf("got lint problem %s: %s, want none", p.Metric, p.Text)
		}
	})
}

func TestNames(t *testing.T) {
	t.Parallel()

	t.Run("AllStartWithJQ", func(t *testing.T) {
		t.Parallel()
		for _, name := range metrics.Names() {
			require.Truef(t, strings.HasPrefix(name, "jq_"), "got name %q, want prefix jq_", name)
		}
	})

	t.Run("SortedAndUnique", func(t *testing.T) {
		t.Parallel()
		names := metrics.Names()
		require.Truef(t, slices.IsSorted(names), "got %v, want sorted", names)
		require.Equalf(t, len(names), len(slices.Compact(slices.Clone(names))), "got duplicates in %v", names)
	})

	t.Run("MatchesRegistry", func(t *testing.T) {
		t.Parallel()
		reg := metrics.NewRegistry()
		touch(metrics.New(reg))

		var gathered []string
		for name := range gatheredJQ(t, reg) {
			gathered = append(gathered, name)
		}
		slices.Sort(gathered)
		require.Equal(t, metrics.Names(), gathered)
	})

	t.Run("CallerCannotCorruptList", func(t *testing.T) {
		t.Parallel()
		names := metrics.Names()
		names[0] = "changed"
		require.NotEqual(t, "changed", metrics.Names()[0])
	})
}

func TestNewRegistry(t *testing.T) {
	t.Parallel()

	mfs, err := metrics.NewRegistry().Gather()
	require.NoError(t, err)
	var sawGo, sawProcess bool
	for _, mf := range mfs {
		sawGo = sawGo || strings.HasPrefix(mf.GetName(), "go_")
		sawProcess = sawProcess || strings.HasPrefix(mf.GetName(), "process_")
	}
	require.True(t, sawGo, "got no go_ metrics, want the Go collector")
	require.True(t, sawProcess, "got no process_ metrics, want the process collector")
}

func TestHandler(t *testing.T) {
	t.Parallel()

	t.Run("ServesText", func(t *testing.T) {
		t.Parallel()
		reg := metrics.NewRegistry()
		metrics.New(reg).SchedulerCycleDuration.Observe(0.01)

		srv := httptest.NewServer(metrics.Handler(reg))
		t.Cleanup(srv.Close)

		resp, err := srv.Client().Get(srv.URL + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)

		require.Equalf(t, http.StatusOK, resp.StatusCode, "got status %d, want 200", resp.StatusCode)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
		require.Contains(t, string(body), `jq_scheduler_cycle_duration_seconds_bucket{le="0.2"}`)
		require.Contains(t, string(body), "jq_scheduler_cycle_duration_seconds_count 1")
		require.Contains(t, string(body), "go_goroutines")
	})

	t.Run("ContinuesPastFailingCollector", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		metrics.New(reg).LeaderStatus.Set(1)
		reg.MustRegister(failingCollector{})

		rec := httptest.NewRecorder()
		metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))

		require.Equalf(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
		require.Contains(t, rec.Body.String(), "jq_leader 1")
	})
}

// failingCollector always fails to collect, to show the handler serves the rest anyway.
type failingCollector struct{}

var failingDesc = prometheus.NewDesc("broken_metric", "Always fails.", nil, nil)

func (failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- failingDesc }

func (failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(failingDesc, io.ErrUnexpectedEOF)
}

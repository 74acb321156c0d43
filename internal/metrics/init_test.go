package metrics_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/metrics"
)

// seriesCount counts the children of the named metric family.
func seriesCount(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestMetrics_InitServer(t *testing.T) {
	t.Parallel()

	series := metrics.ServerSeries{
		GRPCMethods:      []string{"JobService/SubmitJob", "WorkerService/StreamJobs"},
		Queues:           []string{"default", "emails"},
		JobTransitions:   []metrics.JobTransition{{Status: "DONE", Reason: "COMPLETED"}, {Status: "PENDING", Reason: "RETRY"}},
		KafkaTopics:      []string{"job.submitted"},
		MaintenanceTasks: []string{"prune", "reap_workers"},
	}

	t.Run("CreatesEverySeriesAtZero", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		m := metrics.New(reg)
		m.InitServer(series)

		want := map[string]int{
			"jq_grpc_request_duration_seconds":   2 * len(metrics.GRPCInitCodes),
			"jq_job_total":                       2 * 2,
			"jq_job_processing_duration_seconds": 2,
			"jq_job_wait_duration_seconds":       2,
			"jq_scheduler_jobs_assigned_total":   2,
			"jq_maintenance_rows_total":          2,
			"jq_kafka_publish_errors_total":      1,
			"jq_kafka_events_published_total":    1,
		}
		for name, n := range want {
			require.Equalf(t, n, seriesCount(t, reg, name), "series of %s", name)
		}
		require.InDelta(t, 0, testutil.ToFloat64(m.JobTotal.WithLabelValues("emails", "PENDING", "RETRY")), 0)
		require.Equal(t, 2*len(metrics.GRPCInitCodes), testutil.CollectAndCount(m.GRPCRequestDuration))
	})

	t.Run("GRPCCodesIncludeOKAndServerFaults", func(t *testing.T) {
		t.Parallel()
		var names []string
		for _, c := range metrics.GRPCInitCodes {
			names = append(names, c.String())
		}
		require.Equal(t, []string{"OK", "Unavailable", "Internal"}, names)
	})

	t.Run("TwiceIsHarmless", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		m := metrics.New(reg)
		m.InitServer(series)
		m.JobTotal.WithLabelValues("default", "DONE", "COMPLETED").Inc()
		m.InitServer(series)
		require.InDelta(t, 1, testutil.ToFloat64(m.JobTotal.WithLabelValues("default", "DONE", "COMPLETED")), 0)
		require.Equal(t, 4, seriesCount(t, reg, "jq_job_total"))
	})

	t.Run("NothingKnownCreatesNothing", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		metrics.New(reg).InitServer(metrics.ServerSeries{})
		require.Zero(t, seriesCount(t, reg, "jq_maintenance_rows_total"))
		require.Equal(t, 0, seriesCount(t, reg, "jq_job_total"))
	})
}

func TestNewWorker(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.NewWorker(reg)
	m.WorkerJobConcurrency.WithLabelValues("w1").Set(1)
	m.WorkerConfiguredConcurrency.WithLabelValues("w1").Set(4)
	m.WorkerJobsRun.WithLabelValues("w1", "failed").Inc()
	m.WorkerExecutionDuration.WithLabelValues("w1").Observe(1)
	// Server-side families are not registered: setting them shows nothing.
	m.JobTotal.WithLabelValues("default", "DONE", "COMPLETED").Inc()

	got := gatheredJQ(t, reg)
	var names []string
	for name := range got {
		names = append(names, name)
	}
	require.ElementsMatch(t, []string{
		"jq_worker_job_concurrency", "jq_worker_configured_concurrency", "jq_worker_jobs_total", "jq_worker_job_execution_seconds",
	}, names)
}

func TestSeriesNames(t *testing.T) {
	t.Parallel()
	m := metrics.New(nil)
	names := metrics.SeriesNames(m.SchedulerCycleDuration, m.JobTotal, m.PGUp, metrics.NewPoolCollector(nil))
	require.Subset(t, names, []string{
		"jq_scheduler_cycle_duration_seconds_bucket", "jq_scheduler_cycle_duration_seconds_sum",
		"jq_scheduler_cycle_duration_seconds_count", "jq_job_total", "jq_pg_up", "jq_db_pool_max_connections",
	})
	require.NotContains(t, names, "jq_scheduler_cycle_duration_seconds", "a histogram exports no series under its bare name")
	require.NotContains(t, names, "jq_job_total_count")
	summary := prometheus.NewSummary(prometheus.SummaryOpts{Name: "s_seconds", Help: "h"})
	require.Equal(t, []string{"s_seconds", "s_seconds_count", "s_seconds_sum"}, metrics.SeriesNames(summary),
		"a summary is told from a histogram by what it collects")

	all := metrics.SeriesNames(m.Collectors()...)
	for _, n := range metrics.Names() {
		require.Truef(t, slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, n) }), "got no series for %s", n)
	}
	require.Len(t, metrics.SeriesNames(m.WorkerCollectors()...), 1+1+1+3)
}

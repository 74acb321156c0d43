package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	grpclib "google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/internal/testbin"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// scrape reads a server's /metrics: the raw body and every sample, keyed by its series as
// written ("name{label="value",...}").
func scrape(t *testing.T, addr string) ([]byte, map[string]float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "line %q", line)
		samples[line[:i]] = v
	}
	return body, samples
}

// jqServices are the descriptions of the jq gRPC services, as generated from the protos.
var jqServices = []grpclib.ServiceDesc{jqv1.JobService_ServiceDesc, jqv1.WorkerService_ServiceDesc, jqv1.AdminService_ServiceDesc}

// TestServer_MetricsFromTheStart: a fresh server's /metrics holds, before any call, the series
// a dashboard reads (at zero) and the PostgreSQL health gauges (with values).
func TestServer_MetricsFromTheStart(t *testing.T) {
	t.Parallel()
	b := setup(t)

	var samples map[string]float64
	require.Eventually(t, func() bool {
		_, samples = scrape(t, b.srv.MetricsAddr())
		return samples["jq_pg_up"] == 1
	}, 10*time.Second, 50*time.Millisecond, "jq_pg_up never reached 1")
	// Once more: a scrape gathers the families one by one, and the one that saw jq_pg_up
	// become 1 may have gathered the table gauges just before the first refresh set them
	// (it sets them before jq_pg_up; CI of fe59ebe saw such a scrape).
	_, samples = scrape(t, b.srv.MetricsAddr())

	t.Run("GRPCMethodsAtZero", func(t *testing.T) {
		var methods int
		for _, sd := range jqServices {
			service := strings.TrimPrefix(sd.ServiceName, "jq.v1.")
			var names []string
			for _, m := range sd.Methods {
				names = append(names, m.MethodName)
			}
			for _, s := range sd.Streams {
				names = append(names, s.StreamName)
			}
			for _, name := range names {
				for _, code := range metrics.GRPCInitCodes {
					series := fmt.Sprintf(`jq_grpc_request_duration_seconds_count{code="%s",method="%s/%s"}`, code, service, name)
					v, ok := samples[series]
					require.Truef(t, ok, "missing before the first call: %s", series)
					require.Zerof(t, v, "%s before any call", series)
				}
				methods++
			}
		}
		require.Greater(t, methods, 15, "the jq services have about twenty methods")
	})

	t.Run("JobTransitionsAtZero", func(t *testing.T) {
		for _, tr := range queue.MeteredTransitions {
			series := fmt.Sprintf(`jq_job_total{queue="default",reason="%s",status="%s"}`, tr.Reason, tr.To)
			v, ok := samples[series]
			require.Truef(t, ok, "missing: %s", series)
			require.Zero(t, v, series)
		}
		for _, series := range []string{
			`jq_job_processing_duration_seconds_count{queue="default"}`,
			`jq_job_wait_duration_seconds_count{queue="default"}`,
			`jq_scheduler_jobs_assigned_total{queue="default"}`,
		} {
			require.Containsf(t, samples, series, "missing: %s", series)
		}
		for _, task := range queue.MaintenanceTasks {
			require.Containsf(t, samples, fmt.Sprintf(`jq_maintenance_rows_total{task="%s"}`, task), "task %s", task)
		}
	})

	t.Run("PostgreSQLHealth", func(t *testing.T) {
		for _, table := range []string{"jobs", "job_events"} {
			for _, name := range []string{"jq_pg_table_dead_tuples", "jq_pg_table_live_tuples", "jq_pg_table_last_vacuum_timestamp_seconds", "jq_pg_table_last_autovacuum_timestamp_seconds"} {
				require.Containsf(t, samples, fmt.Sprintf(`%s{table="%s"}`, name, table), "%s of %s", name, table)
			}
		}
		for _, holder := range []string{"backend", "prepared_xact", "replication_slot"} {
			require.Containsf(t, samples, fmt.Sprintf(`jq_pg_oldest_xmin_age_transactions{holder="%s"}`, holder), "holder %s", holder)
		}
		require.Contains(t, samples, `jq_pg_oldest_xmin_age_seconds{holder="backend"}`)
		require.Positive(t, samples["jq_pg_database_xid_age_transactions"])
		require.InDelta(t, float64(b.cfg.DB.MaxConns), samples["jq_db_pool_max_connections"], 0)
		require.GreaterOrEqual(t, samples["jq_db_pool_total_connections"], 1.0)
		require.Positive(t, samples["jq_db_pool_acquires_total"])
	})

	t.Run("EveryJQNameIsKnown", func(t *testing.T) {
		// Everything the server exports is in what its collectors describe, the set the
		// dashboards and rules are checked against: a collector registered elsewhere and
		// missing from that set would let a dashboard name a metric nobody checks.
		known := metrics.SeriesNames(append(metrics.New(nil).Collectors(), metrics.NewPoolCollector(nil))...)
		for series := range samples {
			name, _, _ := strings.Cut(series, "{")
			if strings.HasPrefix(name, "jq_") {
				require.Truef(t, slices.Contains(known, name), "%s is exported but not described by metrics.New or metrics.NewPoolCollector", name)
			}
		}
	})
}

// TestServer_MetricsAfterJobs runs jobs down every counted path and checks that /metrics then
// passes promtool's lint and that no jq_job_total series appeared that was not there at
// start-up (queue.MeteredTransitions must name every pair the code counts).
func TestServer_MetricsAfterJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newTestWorker(t, b.conn, 1)

	b.submit(t, &jqv1.SubmitJobRequest{}) // DONE
	w.mustReport(w.next(5*time.Second), true)
	b.submit(t, &jqv1.SubmitJobRequest{MaxRetries: proto.Int32(1)}) // FAILED, RETRY, then RETRIES_EXHAUSTED
	w.mustReport(w.next(5*time.Second), false)
	w.mustReport(w.next(5*time.Second), false)
	id := b.submit(t, &jqv1.SubmitJobRequest{}) // PERMANENT_FAILURE
	a := w.next(5 * time.Second)
	_, err := w.client.ReportResult(b.ctx, &jqv1.ReportResultRequest{
		WorkerId: w.id.String(), JobId: id, Attempt: a.GetAttempt(), ErrorMessage: "bad payload", Permanent: true,
	})
	require.NoError(t, err)

	var body []byte
	var samples map[string]float64
	require.Eventually(t, func() bool {
		body, samples = scrape(t, b.srv.MetricsAddr())
		return samples[`jq_job_total{queue="default",reason="PERMANENT_FAILURE",status="DEAD_LETTERED"}`] == 1
	}, 10*time.Second, 50*time.Millisecond, "the permanent failure is not counted")

	t.Run("CountsEveryPath", func(t *testing.T) {
		for series, want := range map[string]float64{
			`jq_job_total{queue="default",reason="COMPLETED",status="DONE"}`:                        1,
			`jq_job_total{queue="default",reason="FAILED",status="FAILED"}`:                         3,
			`jq_job_total{queue="default",reason="RETRY",status="PENDING"}`:                         1,
			`jq_job_total{queue="default",reason="RETRIES_EXHAUSTED",status="DEAD_LETTERED"}`:       1,
			`jq_job_total{queue="default",reason="STARTED",status="RUNNING"}`:                       4,
			`jq_grpc_request_duration_seconds_count{code="OK",method="JobService/SubmitJob"}`:       3,
			`jq_grpc_request_duration_seconds_count{code="OK",method="WorkerService/ReportResult"}`: 4,
		} {
			require.InDeltaf(t, want, samples[series], 0, "%s", series)
		}
	})

	t.Run("NoUnlistedTransition", func(t *testing.T) {
		listed := map[string]bool{}
		for _, tr := range queue.MeteredTransitions {
			listed[fmt.Sprintf(`jq_job_total{queue="default",reason="%s",status="%s"}`, tr.Reason, tr.To)] = true
		}
		for series := range samples {
			if strings.HasPrefix(series, "jq_job_total{") {
				require.Truef(t, listed[series], "%s is counted but not in queue.MeteredTransitions, so it is not created at start-up", series)
			}
		}
	})

	t.Run("PassesPromtoolCheckMetrics", func(t *testing.T) {
		promtool := testbin.Tool(t, "promtool")
		require.Empty(t, testbin.LintProblems(t, promtool, body), "promtool check metrics")
	})
}

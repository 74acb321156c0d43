package cmd_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testbin"
)

// getMetrics reads the /metrics of a process from the address its "started" line logged.
func getMetrics(t *testing.T, p *process) string {
	t.Helper()
	addr, _ := p.started["metrics"].(string)
	require.NotEmpty(t, addr, "the started line logs no metrics address: %v", p.started)
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// TestE2E_Metrics: the real jq-server and jq-worker binaries serve /metrics; the worker's has
// its own series from the start (and no empty server-side families), both count the jobs
// run, and both pass promtool's lint.
func TestE2E_Metrics(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	w := c.worker(2)

	before := getMetrics(t, w)
	for _, outcome := range []string{"succeeded", "failed", "timed_out", "killed"} {
		series := regexp.MustCompile(`(?m)^jq_worker_jobs_total\{outcome="` + outcome + `",worker_id="[^"]+"\} 0$`)
		require.Truef(t, series.MatchString(before), "jq_worker_jobs_total{outcome=%q} missing before the first job", outcome)
	}
	require.True(t, strings.Contains(before, "jq_worker_configured_concurrency{"), "configured concurrency")
	require.True(t, strings.Contains(before, "go_goroutines"), "Go runtime metrics")
	require.False(t, strings.Contains(before, "jq_job_total"), "the worker exports only its own families")

	ok := c.submit("--", "true")
	failed := c.submit("--max-retries", "0", "--", "false")
	c.waitStatus(ok, "DONE", 30*time.Second)
	c.waitStatus(failed, "DEAD_LETTERED", 30*time.Second)

	worker := getMetrics(t, w)
	for _, outcome := range []string{"succeeded", "failed"} {
		series := regexp.MustCompile(`(?m)^jq_worker_jobs_total\{outcome="` + outcome + `",worker_id="[^"]+"\} 1$`)
		require.Truef(t, series.MatchString(worker), "jq_worker_jobs_total{outcome=%q} is not 1 after one such job", outcome)
	}
	server := getMetrics(t, c.server.process)
	for _, want := range []string{`jq_job_total{queue="default",reason="COMPLETED",status="DONE"} 1`, "jq_pg_up 1", "jq_db_pool_max_connections "} {
		require.Truef(t, strings.Contains(server, want), "jq-server /metrics lacks %s", want)
	}

	promtool := testbin.Tool(t, "promtool")
	require.Empty(t, testbin.LintProblems(t, promtool, []byte(worker)), "jq-worker /metrics")
	require.Empty(t, testbin.LintProblems(t, promtool, []byte(server)), "jq-server /metrics")
}

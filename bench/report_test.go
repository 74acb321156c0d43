package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleReport() *Report {
	return &Report{
		Scenario:          "burn",
		Command:           "jq-bench burn --jobs 500",
		Parameters:        map[string]any{"jobs": 500, "notify": true},
		Environment:       Environment{GoVersion: "go1.26.8", CPUs: 2, PostgreSQLVersion: "15.20", SynchronousCommit: "on", JQVersion: "dev"},
		StartedAt:         time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Duration:          2500 * time.Millisecond,
		JobsPerSec:        ptr(10532.04),
		SubmitToStart:     &Percentiles{Count: 3, P50: 1, P90: 2, P99: 3, Max: 4},
		SchedulerCycleP95: ptr(12.5),
		PeakRSS:           PeakRSS{Server: ptr(41.5)},
		Extra:             map[string]any{"zeta": 1, "drain_s": 4.75},
		Rows:              []Row{{"drain time", "4.75 s"}},
		Targets:           []Target{atLeast("burn jobs/s", 10532.04, 10000, "jobs/s"), atMost("cycle p95", 250, 200, "ms")},
		Notes:             []string{"a note"},
	}
}

func TestReport_JSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, sampleReport().WriteJSON(&buf))
	out := buf.String()
	require.True(t, json.Valid(buf.Bytes()), out)

	// The common fields come first, in a fixed order, then the scenario's figures sorted.
	keys := []string{`"scenario"`, `"command"`, `"parameters"`, `"environment"`, `"started_at"`, `"duration_s"`, `"jobs_per_sec"`,
		`"submit_to_start_ms"`, `"scheduler_cycle_p95_ms"`, `"peak_rss_mb"`, `"drain_s"`, `"zeta"`, `"targets"`, `"notes"`}
	last := -1
	for _, k := range keys {
		i := strings.Index(out, k)
		require.Greater(t, i, last, "%s out of order in %s", k, out)
		last = i
	}
	require.NotContains(t, out, "submit_to_done_ms", "absent latencies are left out")

	var doc struct {
		JobsPerSec float64 `json:"jobs_per_sec"`
		Peak       PeakRSS `json:"peak_rss_mb"`
		Targets    []Target
		Env        Environment `json:"environment"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	require.Equal(t, 10532.0, doc.JobsPerSec)
	require.Nil(t, doc.Peak.Workers)
	require.Equal(t, 2, doc.Env.CPUs)
	require.True(t, doc.Targets[0].Met)
	require.False(t, doc.Targets[1].Met)
}

func TestReport_Table(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, sampleReport().WriteTable(&buf))
	out := buf.String()
	for _, want := range []string{
		"jq-bench burn", "PostgreSQL 15.20, synchronous_commit=on", "jobs=500 notify=true",
		"10,532 jobs/s", "1.00 / 2.00 / 3.00 / 4.00 ms", "drain time", "12.5 ms", "41.5 / n/a MB",
		"≥ 10,000 jobs/s", "met", "MISSED", "note: a note",
	} {
		require.Contains(t, out, want)
	}
}

func TestFormatNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{
		0: "0.00", 1.234: "1.23", 12.34: "12.3", 123.4: "123", 1234.5: "1,235", 1234567: "1,234,567", -2500: "-2,500",
	} {
		require.Equal(t, want, formatNumber(in), "%v", in)
	}
}

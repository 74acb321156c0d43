package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testbin"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testredis"
	"github.com/jqhq/jq/internal/testserver"
)

// reportDoc is a report's JSON document, as a consumer reads it.
type reportDoc struct {
	Scenario          string         `json:"scenario"`
	Command           string         `json:"command"`
	Parameters        map[string]any `json:"parameters"`
	Environment       Environment    `json:"environment"`
	DurationS         float64        `json:"duration_s"`
	JobsPerSec        *float64       `json:"jobs_per_sec"`
	SubmitToStart     *Percentiles   `json:"submit_to_start_ms"`
	SubmitToDone      *Percentiles   `json:"submit_to_done_ms"`
	SchedulerCycleP95 *float64       `json:"scheduler_cycle_p95_ms"`
	PeakRSS           PeakRSS        `json:"peak_rss_mb"`
	Targets           []Target       `json:"targets"`

	Jobs            int               `json:"jobs"`
	JobEventsPerJob float64           `json:"job_events_per_job"`
	Submitted       int               `json:"submitted"`
	SubmitErrors    int               `json:"submit_errors"`
	AchievedRate    float64           `json:"achieved_submit_rate"`
	Levels          []backlogLevel    `json:"levels"`
	Ratio           float64           `json:"ratio_deepest_to_least"`
	Variants        []recoveryVariant `json:"variants"`
	LifecycleS      float64           `json:"lifecycle_s"`
	SQLCalls        int               `json:"sql_calls"`

	JobsPerSecRelayOff float64 `json:"jobs_per_sec_relay_off"`
	JobsPerSecRelayOn  float64 `json:"jobs_per_sec_relay_on"`
	EventsPublished    int     `json:"events_published"`
	EventsExpected     int     `json:"events_expected"`
	PublishErrors      int     `json:"publish_errors"`
	RelayCaughtUpS     float64 `json:"relay_caught_up_s"`

	Notes       []string                `json:"notes"`
	ByPhase     map[string]*Percentiles `json:"submit_to_start_by_phase_ms"`
	MVCC        []map[string]float64    `json:"mvcc_samples"`
	Calls       int                     `json:"calls"`
	CallsPerSec float64                 `json:"calls_per_sec"`
	FailedCalls int                     `json:"failed_calls"`
	CallMS      *Percentiles            `json:"call_ms"`
	Points      []fleetPoint            `json:"points"`
}

// bench runs jq-bench with args; it returns stdout, stderr and the error.
func bench(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut, lookupEnv: func(string) (string, bool) { return "", false }}
	err = c.run(context.Background(), args)
	return out.String(), errOut.String(), err
}

// benchJSON runs a scenario with --json against the test PostgreSQL server and decodes its
// report, checking what every report holds.
func benchJSON(t *testing.T, args ...string) reportDoc {
	t.Helper()
	args = append(args, "--json", "--db-url", testdb.AdminURL())
	stdout, stderr, err := bench(t, args...)
	require.NoError(t, err, "stderr:\n%s", stderr)
	require.True(t, json.Valid([]byte(stdout)), "stdout must hold only the JSON document:\n%s", stdout)
	var doc reportDoc
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.Equal(t, args[0], doc.Scenario)
	require.NotContains(t, doc.Command, "--db-url", "the URL may hold a password")
	require.NotEmpty(t, doc.Environment.GoVersion)
	require.Positive(t, doc.Environment.CPUs)
	require.NotEmpty(t, doc.Environment.PostgreSQLVersion)
	require.Positive(t, doc.DurationS)
	require.Contains(t, stderr, "jq-bench "+args[0]+" —", "the table goes to stderr with --json")
	return doc
}

func requireOrdered(t *testing.T, p *Percentiles, count int) {
	t.Helper()
	require.NotNil(t, p)
	require.Equal(t, count, p.Count)
	require.Positive(t, p.P50)
	require.LessOrEqual(t, p.P50, p.P90)
	require.LessOrEqual(t, p.P90, p.P99)
	require.LessOrEqual(t, p.P99, p.Max)
}

func TestBurn(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "burn", "--jobs", "500", "--concurrency", "64")
	require.Positive(t, *doc.JobsPerSec)
	require.Equal(t, 500, doc.Jobs)
	require.Equal(t, 4.0, doc.JobEventsPerJob, "SUBMITTED, CLAIMED, STARTED, COMPLETED for every job")
	require.NotNil(t, doc.SchedulerCycleP95)
	require.Positive(t, *doc.PeakRSS.Server)
	require.Nil(t, doc.PeakRSS.Workers, "in-process workers are in the server's figure")
	require.Equal(t, "in-process", doc.Parameters["server"])
	require.Equal(t, 500.0, doc.Parameters["jobs"])
	require.NotEmpty(t, doc.Targets)
}

// TestSubmit: SubmitJob and SubmitJobs runs count what the database holds: every call counted
// was acknowledged, none failed.
func TestSubmit(t *testing.T) {
	t.Parallel()
	for _, batch := range []string{"0", "50"} {
		t.Run("Batch"+batch, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := bench(t, "submit", "--duration", "1s", "--clients", "8", "--conns", "2", "--batch", batch, "--json")
			require.NoError(t, err, "stderr:\n%s", stderr)
			var doc reportDoc
			require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
			require.Positive(t, doc.Calls)
			require.Zero(t, doc.FailedCalls)
			requireOrdered(t, doc.CallMS, doc.Calls)
			perCall := max(int(doc.Parameters["batch"].(float64)), 1)
			// calls/s are rounded to 0.1 and jobs/s to 1 at most: a relative bound failed when a
			// loaded machine made few calls (45.1 calls/s × 50 against 2,253 jobs/s).
			require.InDelta(t, doc.CallsPerSec*float64(perCall), *doc.JobsPerSec, 0.05*float64(perCall)+0.5, "calls/s are rounded to 0.1")
			require.Len(t, doc.Targets, map[string]int{"0": 2, "50": 1}[batch])
			for _, n := range doc.Notes {
				require.NotContains(t, n, "the database holds", "the database holds every acknowledged job, no more")
			}
		})
	}
}

// TestPressure: the pressure scenarios run their three phases, sample the hot tables, and
// hold the horizon while pinned (the oldest transaction's age shows in the samples).
func TestPressure(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"idle-in-tx", "active-readers"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			doc := benchJSON(t, kind, "--rate", "100", "--baseline", "1s", "--pin", "6s", "--after", "1s", "--concurrency", "16")
			for _, phase := range []string{"baseline", "pinned", "after"} {
				require.NotNil(t, doc.ByPhase[phase], "phase %s", phase)
				require.Positive(t, doc.ByPhase[phase].Count)
			}
			require.NotEmpty(t, doc.MVCC)
			pinned := false
			for _, s := range doc.MVCC {
				pinned = pinned || s["oldest_xmin_age_s"] >= 2
			}
			require.True(t, pinned, "a sample saw the pinning transaction open for seconds: %v", doc.MVCC)
			require.Equal(t, kind, doc.Parameters["pressure"])
		})
	}
}

func TestBurn_WorkerProcess(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "burn", "--jobs", "500", "--procs", "1", "--concurrency", "64",
		"--bench-bin", testbin.Path(t, "jq-bench"))
	require.Positive(t, *doc.JobsPerSec)
	require.Equal(t, 4.0, doc.JobEventsPerJob)
	require.Positive(t, *doc.PeakRSS.Workers, "the worker process's peak RSS")
	require.Equal(t, "burn jobs/s (1 server + 1 worker process)", doc.Targets[0].Name)
}

func TestBurn_RunningServer(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	stdout, stderr, err := bench(t, "burn", "--jobs", "300", "--concurrency", "32", "--json",
		"--server-addr", srv.GRPCAddr().String(), "--token", srv.AdminKey, "--metrics-url", "http://"+srv.MetricsAddr()+"/metrics")
	require.NoError(t, err, "stderr:\n%s", stderr)
	var doc reportDoc
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.Positive(t, *doc.JobsPerSec)
	require.Equal(t, srv.GRPCAddr().String(), doc.Parameters["server"])
	require.NotNil(t, doc.SchedulerCycleP95, "read from --metrics-url")
	require.Nil(t, doc.PeakRSS.Server, "a running server is not measured")
	require.NotEmpty(t, doc.Environment.PostgreSQLVersion, "from GetSystemStatus")
	// The run's own queue is gone again.
	queues, err := srv.Store().ListQueues(context.Background())
	require.NoError(t, err)
	for _, q := range queues {
		require.NotContains(t, q.Name, "jq-bench-")
	}
}

// TestSteady runs alone, with the package's other sequential tests: it checks that the
// offered count is exactly rate × duration + 1, which a submitter starved of CPU by the
// parallel scenarios beside it misses (191 of 201 at load 19, once the chaos tests had built
// the test binaries and every parallel test started at once).
func TestSteady(t *testing.T) {
	doc := benchJSON(t, "steady", "--rate", "100", "--duration", "2s", "--clients", "8", "--concurrency", "16")
	require.InDelta(t, 201, doc.Submitted, 1)
	require.Zero(t, doc.SubmitErrors)
	require.Positive(t, doc.AchievedRate)
	require.Positive(t, *doc.JobsPerSec)
	requireOrdered(t, doc.SubmitToStart, doc.Submitted)
	requireOrdered(t, doc.SubmitToDone, doc.Submitted)
	require.GreaterOrEqual(t, doc.SubmitToDone.P50, doc.SubmitToStart.P50, "a job is done after it started")
	require.NotNil(t, doc.SchedulerCycleP95)
}

// TestSteady_SeveralQueues: the jobs go to the queues in turn and every one of them starts
// (the run would time out on a queue no worker takes).
func TestSteady_SeveralQueues(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "steady", "--rate", "60", "--duration", "1s", "--queues", "3", "--concurrency", "16",
		"--drain-timeout", "20s")
	require.Equal(t, 3.0, doc.Parameters["queues"])
	require.Zero(t, doc.SubmitErrors)
	requireOrdered(t, doc.SubmitToStart, doc.Submitted)
}

func TestSteady_PollOnly(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "steady", "--rate", "50", "--duration", "1s", "--notify=false", "--scheduler-interval", "200ms",
		"--procs", "1", "--concurrency", "16", "--bench-bin", testbin.Path(t, "jq-bench"))
	requireOrdered(t, doc.SubmitToStart, doc.Submitted)
	require.Equal(t, false, doc.Parameters["notify"])
	require.Positive(t, *doc.PeakRSS.Workers)
}

func TestSubprocess(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "subprocess", "--jobs", "100", "--concurrency", "8", "--worker-bin", testbin.Path(t, "jq-worker"))
	require.Positive(t, *doc.JobsPerSec)
	require.Equal(t, 100, doc.Jobs)
	require.Positive(t, *doc.PeakRSS.Workers)
	require.Equal(t, `{"command": ["true"]}`, doc.Parameters["payload"])
}

func TestSQL(t *testing.T) {
	t.Parallel()
	// 3,000 jobs in batches of 200: 15 batches, 2 or 3 calls each (the claimers' last, empty
	// claims are not counted). The trail is the same with and without the separate start.
	for _, tc := range []struct {
		flags []string
		calls int
	}{
		{nil, 15 * 2},
		{[]string{"--start"}, 15 * 3},
	} {
		doc := benchJSON(t, append([]string{"sql", "--jobs", "3000", "--claimers", "2", "--batch", "200"}, tc.flags...)...)
		require.Positive(t, *doc.JobsPerSec)
		require.Positive(t, doc.LifecycleS)
		require.Equal(t, 4.0, doc.JobEventsPerJob, "SUBMITTED, CLAIMED, STARTED, COMPLETED for every job (%v)", tc.flags)
		require.Equal(t, tc.calls, doc.SQLCalls, tc.flags)
		require.Equal(t, "sql lifecycle jobs/s", doc.Targets[0].Name)
	}
}

func TestBacklog(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "backlog", "--backlogs", "1k,5k", "--measure", "500", "--workers", "2", "--concurrency", "32")
	require.Len(t, doc.Levels, 2)
	for i, l := range doc.Levels {
		require.Equal(t, []int{1000, 5000}[i], l.Backlog)
		require.Positive(t, l.JobsPerSec)
		require.Positive(t, l.ServerRSSMB)
	}
	require.InDelta(t, doc.Levels[1].JobsPerSec/doc.Levels[0].JobsPerSec, doc.Ratio, 0.01)
	require.Equal(t, doc.Levels[1].JobsPerSec, *doc.JobsPerSec)
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "recovery", "--jobs", "2", "--heartbeat-timeout", "2s", "--reap-interval", "200ms",
		"--stream-grace", "300ms", "--worker-bin", testbin.Path(t, "jq-worker"))
	require.Len(t, doc.Variants, 2)
	for _, v := range doc.Variants {
		require.Positive(t, v.ReleasedS, v.Variant)
		require.Greater(t, v.RecoveredS, v.ReleasedS, "%s: released before running again", v.Variant)
		require.Less(t, v.RecoveredS, 15.0, v.Variant)
	}
	require.Equal(t, variantBrokenStream, doc.Variants[0].Variant)
	require.GreaterOrEqual(t, doc.Variants[0].ReleasedS, 0.3, "not before stream_grace")
	require.Equal(t, variantHeartbeat, doc.Variants[1].Variant)
	require.Greater(t, doc.Variants[1].ReleasedS, 0.5, "only once the heartbeats are overdue")
	require.Positive(t, *doc.PeakRSS.Workers)
	require.Len(t, doc.Targets, 2)
}

// TestEvents: both runs drain every job, and the relay publishes each job's three published
// transitions exactly once.
func TestEvents(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "events", "--jobs", "500", "--concurrency", "64")
	require.Positive(t, *doc.JobsPerSec)
	require.Positive(t, doc.JobsPerSecRelayOff)
	require.Equal(t, *doc.JobsPerSec, doc.JobsPerSecRelayOn)
	require.Equal(t, 1500, doc.EventsPublished, "SUBMITTED, STARTED and COMPLETED of 500 jobs, once each")
	require.Equal(t, 1500, doc.EventsExpected)
	require.Zero(t, doc.PublishErrors)
	require.GreaterOrEqual(t, doc.RelayCaughtUpS, 0.0)
	require.Equal(t, "burn with the relay on ÷ off", doc.Targets[0].Name)
}

func TestSuite(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "results", "latest.json")
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, lookupEnv: func(string) (string, bool) { return "", false },
		set: [][]string{{"sql", "--jobs", "1000", "--claimers", "1"}, {"sql", "--claimers", "0"}}}
	err := c.run(context.Background(), []string{"suite", "--out", out, "--db-url", testdb.AdminURL()})
	require.ErrorContains(t, err, "1 of 2 runs failed")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var docs []map[string]any
	require.NoError(t, json.Unmarshal(data, &docs))
	require.Len(t, docs, 2)
	require.Equal(t, "sql", docs[0]["scenario"])
	require.Equal(t, "jq-bench sql --jobs 1000 --claimers 1", docs[0]["command"])
	require.Positive(t, docs[0]["jobs_per_sec"])
	require.Equal(t, "sql", docs[1]["scenario"])
	require.Contains(t, docs[1]["error"], "--claimers 0 is outside 1-64")
	require.Contains(t, stdout.String(), "sql lifecycle jobs/s")
}

func TestCLI(t *testing.T) {
	t.Parallel()
	t.Run("NoScenario", func(t *testing.T) {
		t.Parallel()
		_, _, err := bench(t)
		var usage *UsageError
		require.ErrorAs(t, err, &usage)
		require.ErrorContains(t, err, "name a scenario")
	})
	t.Run("UnknownScenario", func(t *testing.T) {
		t.Parallel()
		_, _, err := bench(t, "nope")
		var usage *UsageError
		require.ErrorAs(t, err, &usage)
	})
	t.Run("BadFlag", func(t *testing.T) {
		t.Parallel()
		_, _, err := bench(t, "burn", "--jobs", "x")
		var usage *UsageError
		require.ErrorAs(t, err, &usage)
		require.ErrorContains(t, err, "see jq-bench burn --help")
	})
	t.Run("NotRemote", func(t *testing.T) {
		t.Parallel()
		_, _, err := bench(t, "backlog", "--server-addr", "localhost:1")
		var usage *UsageError
		require.ErrorAs(t, err, &usage)
	})
	t.Run("BadValues", func(t *testing.T) {
		t.Parallel()
		_, _, err := bench(t, "steady", "--rate", "0", "--clients", "0", "--queues", "0")
		var usage *UsageError
		require.ErrorAs(t, err, &usage)
		require.ErrorContains(t, err, "--rate")
		require.ErrorContains(t, err, "--clients")
		require.ErrorContains(t, err, "--queues")
	})
	t.Run("Help", func(t *testing.T) {
		t.Parallel()
		for _, s := range append(scenarios(), scenario{name: "suite"}, scenario{name: "noop-worker"}) {
			stdout, _, err := bench(t, s.name, "--help")
			require.ErrorIs(t, err, ErrHelp, s.name)
			require.Contains(t, stdout, "jq-bench "+s.name+" [flags]", s.name)
			require.Contains(t, stdout, "Example", s.name)
		}
		stdout, _, err := bench(t, "--help")
		require.ErrorIs(t, err, ErrHelp)
		for _, s := range scenarios() {
			require.Contains(t, stdout, s.name)
		}
	})
	t.Run("Version", func(t *testing.T) {
		t.Parallel()
		stdout, _, err := bench(t, "--version")
		require.ErrorIs(t, err, ErrHelp)
		require.Contains(t, stdout, "jq-bench ")
	})
}

// TestFleet: each point drains every job through its own servers, with Redis off and on, and
// the report holds the curve.
func TestFleet(t *testing.T) {
	t.Parallel()
	doc := benchJSON(t, "fleet", "--servers", "1,2", "--jobs", "400", "--concurrency", "32",
		"--redis-addr", testredis.Addr(), "--bench-bin", testbin.Path(t, "jq-bench"))
	require.Equal(t, 400, doc.Jobs)
	require.Len(t, doc.Points, 4, "1 and 2 servers, Redis off and on")
	for i, p := range doc.Points {
		require.Equal(t, []int{1, 2}[i%2], p.Servers)
		require.Equal(t, i >= 2, p.Redis)
		require.Positive(t, p.JobsPerSec)
	}
	require.Equal(t, 1.0, doc.Points[0].Ratio)
	require.Len(t, doc.Targets, 2)
	_, _, err := bench(t, "fleet", "--servers", "2,1")
	require.ErrorContains(t, err, "increasing order")
}

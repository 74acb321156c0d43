package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testbin"
)

// chaosDoc is a chaos report's JSON document, as a consumer reads it.
type chaosDoc struct {
	Scenario   string         `json:"scenario"`
	Parameters map[string]any `json:"parameters"`
	Chaos      chaosFigures   `json:"chaos"`
	Targets    []Target       `json:"targets"`
	Notes      []string       `json:"notes"`
}

// The chaos tests do not run in parallel: each one runs a PostgreSQL cluster, one or two
// servers and two worker processes, and the timing tests of the package (steady, pressure)
// must not share the two cores with them. Go runs them before the parallel tests.

// runChaosShort runs a short chaos scenario against a PostgreSQL cluster of its own, skipping
// the test when the machine has no PostgreSQL server binaries.
func runChaosShort(t *testing.T, name string, args ...string) chaosDoc {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos scenarios start PostgreSQL clusters and processes")
	}
	if _, err := pgBinDir(""); errors.Is(err, ErrNoPostgres) {
		t.Skipf("chaos %s: %v", name, err)
	}
	args = append([]string{"chaos", name, "--json", "--rate", "100", "--before", "3s", "--after", "8s",
		"--server-bin", testbin.Path(t, "jq-server"), "--bench-bin", testbin.Path(t, "jq-bench"), "--timeout", "3m"}, args...)
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut, lookupEnv: func(string) (string, bool) { return "", false }}
	start := time.Now()
	err := c.run(context.Background(), args)
	require.NoError(t, err, "stderr:\n%s", errOut.String())
	t.Logf("chaos %s took %s", name, time.Since(start).Round(100*time.Millisecond))
	var doc chaosDoc
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc), "stdout:\n%s", out.String())
	require.Equal(t, name, doc.Scenario)
	f := doc.Chaos
	t.Logf("%s: %+v", name, f)
	require.Positive(t, f.Accepted, "the load was accepted")
	require.Positive(t, f.BaselineJobsPerS)
	require.Equal(t, f.Accepted+f.NotAccepted, f.Offered)
	require.GreaterOrEqual(t, f.Executions, f.Done, "every DONE job is in the ledger")
	require.Zero(t, f.Lost, "lost jobs: %v", f.LostDetail)
	require.Equal(t, f.Doubled, f.DoubledCutOff, "only attempts cut off by the fault run twice")
	require.Zero(t, f.UnexpectedExits, "no process exits because of the fault: %+v", f.Processes)
	require.Zero(t, f.TornLedgerLines)
	for _, tg := range doc.Targets {
		require.True(t, tg.Met, "target %s: %v (goal %s); notes: %v", tg.Name, tg.Value, tg.Goal, doc.Notes)
	}
	return doc
}

// TestChaos_PGBackendKill: the server's connections are killed 2×/s for 3 s; nothing is lost.
func TestChaos_PGBackendKill(t *testing.T) {
	doc := runChaosShort(t, "pg-backend-kill", "--fault", "3s")
	require.NotNil(t, doc.Chaos.ServedAgainS)
}

// TestChaos_PGRestart: PostgreSQL is shut down for 2 s and started again; the server reports
// not ready meanwhile, serves within 2 s of its return, and nothing is lost.
func TestChaos_PGRestart(t *testing.T) {
	doc := runChaosShort(t, "pg-restart", "--fault", "2s")
	require.NotNil(t, doc.Chaos.NotReadySeen)
	require.True(t, *doc.Chaos.NotReadySeen, "the server said it was not ready while PostgreSQL was down")
	require.Less(t, doc.Chaos.DuringOverBefore, 0.5, "no job can finish while PostgreSQL is down")
}

// TestChaos_ServerKill: one of two servers is SIGKILLed and started again 2 s later.
func TestChaos_ServerKill(t *testing.T) {
	doc := runChaosShort(t, "server-kill", "--fault", "2s")
	var server1 *procSummary
	for i, p := range doc.Chaos.Processes {
		if p.Name == "jq-server-1" {
			server1 = &doc.Chaos.Processes[i]
		}
	}
	require.NotNil(t, server1)
	require.Equal(t, 2, server1.Lives, "killed and started again")
	require.True(t, server1.Exits[0].Expected)
	require.Contains(t, server1.Exits[0].Status, "killed")
}

// TestLedger: lines are read back whole; a line cut by a crash is counted, not parsed.
func TestLedger(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger")
	require.NoError(t, os.WriteFile(path, []byte("a 1 1 10 20\nb 2 1 11 21\nb 2 2 30 40\nc 3 1 4"), 0o644))
	execs, torn, err := readLedger(path)
	require.NoError(t, err)
	require.Equal(t, 1, torn)
	require.Equal(t, []execution{{"a", 1, 1, 10, 20}, {"b", 2, 1, 11, 21}, {"b", 2, 2, 30, 40}}, execs)
}

// TestChaosCLI: chaos names its scenarios and refuses what it does not know.
func TestChaosCLI(t *testing.T) {
	t.Parallel()
	_, _, err := bench(t, "chaos")
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	require.ErrorContains(t, err, "pg-restart")
	_, _, err = bench(t, "chaos", "nope")
	require.ErrorAs(t, err, &usage)
	_, _, err = bench(t, "chaos", "all", "--only", "nope")
	require.ErrorAs(t, err, &usage)
	_, _, err = bench(t, "chaos", "worker-partition", "--procs", "1")
	require.ErrorAs(t, err, &usage)
	require.ErrorContains(t, err, "--procs must be at least 2")
	for _, name := range append(chaosNames(), "all") {
		stdout, _, err := bench(t, "chaos", name, "--help")
		require.ErrorIs(t, err, ErrHelp, name)
		require.Contains(t, stdout, "jq-bench chaos "+name+" [flags]", name)
		require.Contains(t, stdout, "Example", name)
	}
}

package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/jqhq/jq/internal/testdb"
)

// The end-to-end tests run the three real binaries as processes against a real PostgreSQL.

// e2eServerEnv makes jq-server quick to retry and to notice lost workers.
func e2eServerEnv(dbURL string) []string {
	return []string{
		"JQ_DB_URL=" + dbURL,
		"JQ_REDIS_ADDR=",
		"JQ_SCHEDULER_INTERVAL=200ms",
		"JQ_SCHEDULER_RETRY_BASE_DELAY=200ms",
		"JQ_SCHEDULER_RETRY_MAX_DELAY=1s",
		"JQ_SCHEDULER_STREAM_GRACE=1s",
		"JQ_SCHEDULER_HEARTBEAT_TIMEOUT=5s",
		"JQ_SCHEDULER_REAP_INTERVAL=1s",
		"JQ_GRPC_SHUTDOWN_GRACE=5s",
	}
}

type cluster struct {
	t         *testing.T
	dbURL     string
	server    *serverProcess
	workers   int
	adminKey  string // jq-ctl's
	workerKey string // the workers'
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dbURL: testdb.New(t)}
	c.server = startServerProcess(t, e2eServerEnv(c.dbURL)...)
	c.adminKey, c.workerKey = createKey(t, c.dbURL, "admin"), createKey(t, c.dbURL, "worker")
	return c
}

// worker starts a jq-worker process.
func (c *cluster) worker(concurrency int, env ...string) *process {
	c.t.Helper()
	c.workers++
	return startProcess(c.t, "jq-worker", append([]string{
		"JQ_SERVER_ADDR=" + c.server.grpcAddr,
		"JQ_TOKEN=" + c.workerKey,
		fmt.Sprintf("JQ_WORKER_ID=e2e-worker-%d", c.workers), // two processes on one host need distinct ids
		"JQ_WORKER_HEARTBEAT_INTERVAL=500ms",
		"JQ_WORKER_SHUTDOWN_GRACE=20s",
		"JQ_HEALTH_HOST=127.0.0.1", "JQ_METRICS_HOST=127.0.0.1",
	}, env...), "--concurrency", fmt.Sprint(concurrency), "--health-port", "0", "--metrics-port", "0")
}

// ctl runs jq-ctl against the cluster's server.
func (c *cluster) ctl(args ...string) result {
	c.t.Helper()
	return run(c.t, "jq-ctl", []string{"JQ_SERVER_ADDR=" + c.server.grpcAddr, "JQ_TOKEN=" + c.adminKey}, args...)
}

func (c *cluster) submit(args ...string) string {
	c.t.Helper()
	r := c.ctl(append([]string{"job", "submit"}, args...)...)
	require.Equal(c.t, 0, r.code, "stderr: %s", r.stderr)
	return strings.TrimSpace(r.stdout)
}

type jobJSON struct {
	JobID        string `json:"job_id"`
	Status       string `json:"status"`
	Result       string `json:"result"`
	ErrorMessage string `json:"error_message"`
	Attempt      int    `json:"attempt"`
	RetryCount   int    `json:"retry_count"`
	WorkerID     string `json:"worker_id"`
}

func (c *cluster) job(id string) jobJSON {
	c.t.Helper()
	r := c.ctl("job", "status", id, "-o", "json")
	require.Equal(c.t, 0, r.code, "stderr: %s", r.stderr)
	var j jobJSON
	require.NoError(c.t, json.Unmarshal([]byte(r.stdout), &j), "stdout: %s", r.stdout)
	return j
}

func (c *cluster) waitStatus(id, status string, within time.Duration) jobJSON {
	c.t.Helper()
	var j jobJSON
	require.Eventually(c.t, func() bool { j = c.job(id); return j.Status == status }, within, 100*time.Millisecond,
		"job %s: want %s, last %+v", id, status, &j)
	return j
}

func (c *cluster) reasons(id string) []string {
	c.t.Helper()
	r := c.ctl("job", "logs", id, "-o", "json")
	require.Equal(c.t, 0, r.code, "stderr: %s", r.stderr)
	var events []struct {
		Reason string `json:"reason"`
	}
	require.NoError(c.t, json.Unmarshal([]byte(r.stdout), &events))
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Reason
	}
	return out
}

func (c *cluster) db() *pgx.Conn {
	c.t.Helper()
	conn, err := pgx.Connect(context.Background(), c.dbURL)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestE2E_JobLifecycle(t *testing.T) {
	t.Parallel()
	c := newCluster(t)

	// Submitted before any worker runs: it waits, PENDING.
	hello := c.submit("-q", "default", "--", "echo", "hello", "world")
	require.Equal(t, "PENDING", c.job(hello).Status)

	w := c.worker(4)
	c.worker(4)
	j := c.waitStatus(hello, "DONE", 30*time.Second)
	// The worker is ready once registered and streaming.
	health, _ := w.started["health"].(string)
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "jq-worker /readyz")
	require.Equal(t, "hello world\n", j.Result)
	require.Equal(t, []string{"SUBMITTED", "CLAIMED", "STARTED", "COMPLETED"}, c.reasons(hello))

	// --wait prints the command's stdout and exits 0.
	r := c.ctl("job", "submit", "--wait", "--wait-timeout", "30s", "--", "sh", "-c", "printf 'a\\nb'")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, "a\nb", r.stdout)

	// A failing command is retried with backoff, then dead-lettered; the log shows it all.
	failing := c.submit("--max-retries", "2", "--", "sh", "-c", "echo broken >&2; exit 3")
	j = c.waitStatus(failing, "DEAD_LETTERED", 30*time.Second)
	require.Equal(t, "exit status 3: broken", j.ErrorMessage)
	require.Equal(t, 3, j.Attempt)
	require.Equal(t, []string{
		"SUBMITTED", "CLAIMED", "STARTED", "FAILED", "RETRY",
		"CLAIMED", "STARTED", "FAILED", "RETRY",
		"CLAIMED", "STARTED", "FAILED", "RETRIES_EXHAUSTED",
	}, c.reasons(failing))
	r = c.ctl("job", "submit", "--wait", "--max-retries", "0", "--", "false")
	require.Equal(t, 7, r.code, "--wait on a dead-lettered job")

	// Cancel a delayed job, then retry it: it runs.
	delayed := c.submit("--delay", "1h", "--", "echo", "later")
	r = c.ctl("job", "cancel", delayed)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, "CANCELLED", c.job(delayed).Status)
	r = c.ctl("job", "cancel", delayed)
	require.Equal(t, 6, r.code, "cancelling twice is a wrong-state error")
	r = c.ctl("job", "retry", delayed)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, "later\n", c.waitStatus(delayed, "DONE", 30*time.Second).Result)

	// A job's own timeout kills it.
	slow := c.submit("--max-retries", "0", "--timeout-seconds", "1", "--", "sleep", "60")
	j = c.waitStatus(slow, "DEAD_LETTERED", 30*time.Second)
	require.Contains(t, j.ErrorMessage, "killed after 1s (timeout)")

	// Output formats parse.
	r = c.ctl("job", "status", hello, "-o", "yaml")
	require.Equal(t, 0, r.code)
	var y map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(r.stdout), &y))
	require.Equal(t, "DONE", y["status"])
	for _, args := range [][]string{{"job", "list"}, {"queue", "list"}, {"queue", "stats"}, {"worker", "list"}, {"system", "status"}} {
		r = c.ctl(append(args, "-o", "json")...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		require.True(t, json.Valid([]byte(r.stdout)), "%v: %s", args, r.stdout)
		r = c.ctl(append(args, "-o", "yaml")...)
		require.Equal(t, 0, r.code)
		var v any
		require.NoError(t, yaml.Unmarshal([]byte(r.stdout), &v), "%v", args)
	}
}

func TestE2E_ThousandSubprocessJobs(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.worker(16)
	c.worker(16)
	conn := c.db()
	_, err := conn.Exec(context.Background(),
		`SELECT jq.submit_many('default', array(SELECT '{"command": ["true"]}'::jsonb FROM generate_series(1, 1000)))`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var done int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM jq.jobs WHERE status = 'DONE'`).Scan(&done))
		return done == 1000
	}, 120*time.Second, 200*time.Millisecond)
	var extra int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM jq.jobs WHERE attempt <> 1`).Scan(&extra))
	require.Zero(t, extra, "every job ran once")
}

func TestE2E_WorkerDrainFinishesTheRunningJob(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	w := c.worker(2)
	// Long enough to be seen RUNNING (from the start flush, 1-1.5 s after delivery) by a poll that
	// spawns jq-ctl: with sleep 2, a loaded CI machine saw it only once DONE.
	id := c.submit("--", "sh", "-c", "sleep 6; echo drained-ok")
	j := c.waitStatus(id, "RUNNING", 30*time.Second)

	r := c.ctl("worker", "drain", j.WorkerID)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	select {
	case <-w.exited:
		require.NoError(t, w.exitErr, "the drained worker exits 0")
	case <-time.After(30 * time.Second):
		t.Fatal("the drained worker did not exit")
	}
	require.Equal(t, "drained-ok\n", c.waitStatus(id, "DONE", 5*time.Second).Result, "it finished its job first")
	r = c.ctl("worker", "list", "-o", "json")
	require.Contains(t, r.stdout, `"OFFLINE"`)
}

func TestE2E_KilledWorkerJobRunsElsewhere(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	// Both workers first, then the job: starting the second one while the job ran took
	// longer than the job on a loaded machine, and the job finished before the kill.
	workers := []*process{c.worker(1), c.worker(1)}
	id := c.submit("--", "sh", "-c", "sleep 8; echo survived")
	running := c.waitStatus(id, "RUNNING", 30*time.Second)
	i := slices.IndexFunc(workers, func(w *process) bool { return w.started["worker_id"] == running.WorkerID })
	require.GreaterOrEqual(t, i, 0, "the job runs on one of the two workers")

	require.NoError(t, workers[i].cmd.Process.Signal(syscall.SIGKILL))
	j := c.waitStatus(id, "DONE", 30*time.Second)
	require.Equal(t, "survived\n", j.Result)
	require.Equal(t, 2, j.Attempt)
	require.NotEqual(t, running.WorkerID, j.WorkerID, "completed by the other worker")
	require.Contains(t, c.reasons(id), "WORKER_LOST")
}

func TestE2E_ServerRestartLosesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.worker(8)
	c.worker(8)
	conn := c.db()
	// Each job appends its number to a ledger when it runs: what ran twice is read there, not
	// inferred from attempts (a job sent on a stream the restart cut never ran, yet is claimed
	// again with attempt 2).
	ledger := filepath.Join(t.TempDir(), "ledger")
	_, err := conn.Exec(context.Background(),
		`SELECT jq.submit_many('default', array(SELECT jsonb_build_object('command',
			jsonb_build_array('sh', '-c', format('echo %s >> "$1"; sleep 0.3', i), 'job', $1::text))
			FROM generate_series(1, 60) AS i))`, ledger)
	require.NoError(t, err)
	// Restart while some jobs run and others wait (a fixed sleep could restart before any ran
	// under load, or after all had).
	require.Eventually(t, func() bool {
		var running, pending int // running: delivered (ASSIGNED until marked RUNNING, start_delay later)
		err := conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status IN ('ASSIGNED', 'RUNNING')),
			count(*) FILTER (WHERE status = 'PENDING') FROM jq.jobs`).Scan(&running, &pending)
		return err == nil && running > 0 && pending > 0
	}, 30*time.Second, 20*time.Millisecond, "some jobs running, some pending")

	require.NoError(t, c.server.stop(t), "jq-server exits 0 on SIGTERM")
	port := strings.TrimPrefix(c.server.grpcAddr[strings.LastIndex(c.server.grpcAddr, ":"):], ":")
	c.server = startServerProcess(t, append(e2eServerEnv(c.dbURL), "JQ_GRPC_PORT="+port)...)

	if !assert.Eventually(t, func() bool {
		var done int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM jq.jobs WHERE status = 'DONE'`).Scan(&done))
		return done == 60
	}, 90*time.Second, 200*time.Millisecond) {
		logTrails(t, conn, `status <> 'DONE'`)
		t.FailNow()
	}
	var completed int
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT count(*) FROM jq.job_events WHERE reason = 'COMPLETED'`).Scan(&completed))
	require.Equal(t, 60, completed)
	data, err := os.ReadFile(ledger)
	require.NoError(t, err)
	runs := map[string]int{}
	for _, n := range strings.Fields(string(data)) {
		runs[n]++
	}
	require.Len(t, runs, 60, "every job ran")
	for n, times := range runs {
		if times != 1 {
			logTrails(t, conn, `attempt <> 1`)
		}
		require.Equal(t, 1, times, "job %s ran %d times", n, times)
	}
	var retried int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM jq.jobs WHERE attempt <> 1`).Scan(&retried))
	t.Logf("jobs claimed again after the restart (their first delivery was cut): %d", retried)
}

// logTrails logs the events of the jobs matching where (SQL on jq.jobs), to explain a failure.
func logTrails(t *testing.T, conn *pgx.Conn, where string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT e.job_id::text, coalesce(e.from_status::text, '-'), e.to_status::text,
		e.reason, e.attempt, coalesce(e.worker_id::text, '-'), e.occurred_at::text
		FROM jq.job_events e WHERE e.job_id IN (SELECT job_id FROM jq.jobs WHERE `+where+`) ORDER BY e.id`)
	if err != nil {
		t.Logf("events: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var job, from, to, reason, worker, at string
		var attempt int
		if err := rows.Scan(&job, &from, &to, &reason, &attempt, &worker, &at); err != nil {
			t.Logf("events: %v", err)
			return
		}
		t.Logf("job %s %s>%s %s attempt %d worker %s at %s", job, from, to, reason, attempt, worker, at)
	}
}

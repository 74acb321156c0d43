package server_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testserver"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/worker"
)

// cluster runs n servers on one database.
func cluster(t *testing.T, n int, tweak ...func(*config.Config)) []*bundle {
	t.Helper()
	dbURL := testdb.New(t)
	out := make([]*bundle, 0, n)
	for range n {
		cfg := testConfig(dbURL)
		for _, f := range tweak {
			f(cfg)
		}
		srv, stop := startServer(t, cfg)
		conn := dial(t, srv)
		out = append(out, &bundle{ctx: context.Background(), cfg: cfg, srv: srv, stop: stop, conn: conn,
			jobs: jqv1.NewJobServiceClient(conn), admin: jqv1.NewAdminServiceClient(conn), worker: jqv1.NewWorkerServiceClient(conn)})
	}
	return out
}

// runWorker runs a real jq worker (the worker package jq-worker is made of) against addr until
// the test ends.
func runWorker(t *testing.T, srv *testserver.Server, addr string, concurrency int, queues []string, h worker.Handler) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Config{
		ServerAddr: addr, Token: srv.Key(t, apikey.RoleWorker), Concurrency: concurrency, Queues: queues,
		HeartbeatInterval: 200 * time.Millisecond, ShutdownGrace: 2 * time.Second,
	}, h)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
	return w
}

// sleepy is a handler that takes 10-40 ms per job.
var sleepy = worker.HandlerFunc(func(ctx context.Context, _ worker.Job) ([]byte, error) {
	select {
	case <-time.After(time.Duration(10+rand.IntN(30)) * time.Millisecond):
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
})

func (b *bundle) createQueue(t *testing.T, name string) {
	t.Helper()
	_, err := b.admin.CreateQueue(b.ctx, &jqv1.CreateQueueRequest{Name: name})
	require.NoError(t, err)
}

func (b *bundle) limit(t *testing.T, req *jqv1.UpdateQueueRequest) {
	t.Helper()
	_, err := b.admin.UpdateQueue(b.ctx, req)
	require.NoError(t, err)
}

// submitMany submits n jobs to queue with a concurrency key, in one statement.
func (b *bundle) submitMany(t *testing.T, queueName, key string, n int) {
	t.Helper()
	// The payload refers to g, so that jq.enqueue runs once per row, not once for all.
	require.Equal(t, n, b.count(t, `SELECT count(*) FROM generate_series(1, $3) AS g,
		LATERAL jq.enqueue($1, jsonb_build_object('n', g), concurrency_key => nullif($2, ''))`, queueName, key, n))
	require.Equal(t, n, b.count(t, `SELECT count(*) FROM jq.jobs WHERE queue_name = $1 AND concurrency_key IS NOT DISTINCT FROM nullif($2, '')`,
		queueName, key))
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.srv.Store().Pool().QueryRow(b.ctx, sql, args...).Scan(&n))
	return n
}

func (b *bundle) waitDone(t *testing.T, queueName string, n int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM jq.jobs WHERE queue_name = $1 AND status = 'DONE'`, queueName) == n
	}, within, 50*time.Millisecond, "all %d jobs of %s done", n, queueName)
}

func ptr[T any](v T) *T { return &v }

// TestFlow_MaxRunningHoldsAcrossServers: two servers and eight workers race for a queue with
// max_running 3; sampled every 10 ms, never more than 3 of its jobs are ASSIGNED or RUNNING.
func TestFlow_MaxRunningHoldsAcrossServers(t *testing.T) {
	t.Parallel()
	const jobs = 150
	servers := cluster(t, 2)
	b := servers[0]
	b.createQueue(t, "capped")
	b.limit(t, &jqv1.UpdateQueueRequest{Name: "capped", MaxRunning: ptr[int32](3)})
	for i := range 8 {
		s := servers[i%2]
		runWorker(t, s.srv, s.srv.GRPCAddr().String(), 2, []string{"capped"}, sleepy)
	}
	b.submitMany(t, "capped", "", jobs)

	var peak, samples int
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		running := b.count(t, `SELECT count(*) FROM jq.jobs WHERE queue_name = 'capped' AND status IN ('ASSIGNED', 'RUNNING')`)
		peak, samples = max(peak, running), samples+1
		require.LessOrEqual(t, running, 3, "sample %d", samples)
		if b.count(t, `SELECT count(*) FROM jq.jobs WHERE queue_name = 'capped' AND status = 'DONE'`) == jobs {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.waitDone(t, "capped", jobs, time.Second)
	require.Equal(t, 3, peak, "the limit was reached, so it was what held")
	require.Positive(t, b.count(t, `SELECT held_max_running::int FROM jq.queues WHERE name = 'capped'`), "claims held back are counted")
	t.Logf("%d samples, peak %d running", samples, peak)
}

// TestFlow_RateLimitHoldsAcrossServers: with a rate of 20 per second, no rolling second holds
// more than 20 claims of the queue, over 5 s and two servers.
func TestFlow_RateLimitHoldsAcrossServers(t *testing.T) {
	t.Parallel()
	servers := cluster(t, 2)
	b := servers[0]
	b.createQueue(t, "rated")
	b.limit(t, &jqv1.UpdateQueueRequest{Name: "rated", RateLimit: ptr[int32](20), RatePeriod: durationpb.New(time.Second)})
	b.submitMany(t, "rated", "", 1000)
	for i := range 8 {
		s := servers[i%2]
		runWorker(t, s.srv, s.srv.GRPCAddr().String(), 4, []string{"rated"}, sleepy)
	}
	time.Sleep(5 * time.Second)

	rows, err := b.srv.Store().Pool().Query(b.ctx, `SELECT occurred_at FROM jq.job_events
		WHERE queue_name = 'rated' AND reason = 'CLAIMED' ORDER BY occurred_at`)
	require.NoError(t, err)
	var claims []time.Time
	for rows.Next() {
		var at time.Time
		require.NoError(t, rows.Scan(&at))
		claims = append(claims, at)
	}
	require.NoError(t, rows.Err())
	worst := 0
	for i, start := range claims {
		end, _ := slices.BinarySearchFunc(claims, start.Add(time.Second), func(a, b time.Time) int { return a.Compare(b) })
		worst = max(worst, end-i)
	}
	require.LessOrEqual(t, worst, 20, "claims in the busiest rolling second")
	require.GreaterOrEqual(t, len(claims), 80, "about 20 a second for 5 s: the limit, not something else, set the pace")
	t.Logf("%d claims in 5 s, at most %d in a rolling second", len(claims), worst)
}

// TestFlow_FairnessByKey: key A has 10,000 jobs and key B 10, submitted after them; one worker
// with 4 slots gets all of B's within its first 50 claims.
func TestFlow_FairnessByKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "tenants")
	b.limit(t, &jqv1.UpdateQueueRequest{Name: "tenants", MaxRunningPerKey: ptr[int32](4)})
	b.submitMany(t, "tenants", "A", 10000)
	b.submitMany(t, "tenants", "B", 10)

	runWorker(t, b.srv, b.srv.GRPCAddr().String(), 4, []string{"tenants"}, sleepy)
	require.Eventually(t, func() bool {
		return b.count(t, `SELECT count(*) FROM jq.jobs WHERE queue_name = 'tenants' AND concurrency_key = 'B' AND status = 'DONE'`) == 10
	}, 30*time.Second, 50*time.Millisecond)
	first := b.count(t, `SELECT count(*) FROM (
		SELECT j.concurrency_key FROM jq.job_events e JOIN jq.jobs j USING (job_id)
		WHERE e.queue_name = 'tenants' AND e.reason = 'CLAIMED' ORDER BY e.id LIMIT 50) AS c
		WHERE c.concurrency_key = 'B'`)
	require.Equal(t, 10, first, "B's 10 jobs are among the first 50 claims")
}

// TestFlow_PauseAndResume: a paused queue's pending jobs are not claimed; resume has them
// claimed at once (NOTIFY: the poll is 10 s here), and the pause holds across a running
// server's claims of other queues.
func TestFlow_PauseAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Scheduler.Interval = config.Duration(10 * time.Second) })
	b.createQueue(t, "held")
	_, err := b.admin.PauseQueues(b.ctx, &jqv1.PauseQueuesRequest{Names: []string{"held"}})
	require.NoError(t, err)
	runWorker(t, b.srv, b.srv.GRPCAddr().String(), 2, []string{"held", "default"}, sleepy)
	b.submitMany(t, "held", "", 5)
	other := b.submit(t, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`)})

	time.Sleep(2 * time.Second)
	require.Zero(t, b.count(t, `SELECT count(*) FROM jq.job_events WHERE queue_name = 'held' AND reason = 'CLAIMED'`),
		"nothing of a paused queue is claimed")
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, b.job(t, other).GetStatus(), "a paused queue holds back no other queue")

	resumed, err := b.admin.ResumeQueues(b.ctx, &jqv1.ResumeQueuesRequest{Names: []string{"held"}})
	require.NoError(t, err)
	at := time.Now()
	require.Equal(t, []string{"held"}, resumed.GetResumed())
	b.waitDone(t, "held", 5, 10*time.Second)
	var first time.Time
	require.NoError(t, b.srv.Store().Pool().QueryRow(b.ctx, `SELECT min(occurred_at) FROM jq.job_events
		WHERE queue_name = 'held' AND reason = 'CLAIMED'`).Scan(&first))
	require.Less(t, first.Sub(at), 100*time.Millisecond, "claimed within 100 ms of the resume")
	t.Logf("resume to first claim: %v", first.Sub(at))
}

// pidOf waits for the pid a job's command wrote to path.
func pidOf(t *testing.T, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the job started")
	return pid
}

// gone reports whether no process has pid (the worker reaps its children).
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// cancelCommand runs a sleep 60 that writes its pid first; with ignoreTerm it ignores SIGTERM
// (only the SIGKILL after the grace stops it).
func cancelCommand(t *testing.T, ignoreTerm bool) (payload []byte, pidFile string) {
	pidFile = filepath.Join(t.TempDir(), "pid")
	trap := ""
	if ignoreTerm {
		trap = `trap "" TERM; `
	}
	script := fmt.Sprintf(`echo $$ > %s.tmp && mv %s.tmp %s; %sexec sleep 60`, pidFile, pidFile, pidFile, trap)
	return []byte(fmt.Sprintf(`{"command": ["sh", "-c", %q]}`, script)), pidFile
}

// TestFlow_CancelRunningJob: cancelling a running subprocess job stops the process within the
// grace (SIGTERM, or SIGKILL when it ignores SIGTERM), ends the job CANCELLED, frees the
// worker's slot, and nothing is retried.
func TestFlow_CancelRunningJob(t *testing.T) {
	t.Parallel()
	const grace = time.Second
	for _, tc := range []struct {
		name       string
		ignoreTerm bool
	}{{"StopsOnSIGTERM", false}, {"KilledAfterTheGrace", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			runWorker(t, b.srv, b.srv.GRPCAddr().String(), 1, []string{"default"}, worker.Exec{CancelGrace: grace})
			payload, pidFile := cancelCommand(t, tc.ignoreTerm)
			id := b.submit(t, &jqv1.SubmitJobRequest{QueueName: "default", Payload: payload})
			pid := pidOf(t, pidFile)
			require.Eventually(t, func() bool { return b.job(t, id).GetStatus() == jqv1.JobStatus_JOB_STATUS_RUNNING },
				5*time.Second, 10*time.Millisecond)

			cancelled := time.Now()
			resp, err := b.jobs.CancelJob(b.ctx, &jqv1.CancelJobRequest{JobId: id})
			require.NoError(t, err)
			require.Equal(t, jqv1.JobStatus_JOB_STATUS_CANCELLED, resp.GetJob().GetStatus())
			require.Eventually(t, func() bool { return gone(pid) }, grace+2*time.Second, 10*time.Millisecond,
				"the process is gone within the grace")
			stopped := time.Since(cancelled)
			if !tc.ignoreTerm {
				require.Less(t, stopped, grace, "SIGTERM stopped it before the grace")
			}
			t.Logf("cancel to process gone: %v", stopped)

			next := b.submit(t, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"command": ["true"]}`)})
			require.Eventually(t, func() bool { return b.job(t, next).GetStatus() == jqv1.JobStatus_JOB_STATUS_DONE },
				10*time.Second, 20*time.Millisecond, "the worker's only slot is free again")
			j := b.job(t, id)
			require.Equal(t, jqv1.JobStatus_JOB_STATUS_CANCELLED, j.GetStatus())
			require.Equal(t, int32(0), j.GetRetryCount(), "not retried")
			require.Equal(t, int32(1), j.GetAttempt(), "never claimed again")
			require.Equal(t, 1, b.count(t, `SELECT count(*) FROM jq.job_events WHERE job_id = $1 AND to_status = 'CANCELLED'`, id))
		})
	}
}

// TestFlow_CancelWithTheStreamCut: the worker's server goes away, the job is cancelled through
// another server (the cancel reaches no worker, and the attempt ends all the same); when the
// worker is back, it learns of the cancel from its heartbeat and stops the process. The job
// stays CANCELLED: the worker's late report is refused, nothing is retried.
func TestFlow_CancelWithTheStreamCut(t *testing.T) {
	t.Parallel()
	servers := cluster(t, 2)
	a, b := servers[0], servers[1]
	addr := a.srv.GRPCAddr().String()
	runWorker(t, a.srv, addr, 1, []string{"default"}, worker.Exec{CancelGrace: time.Second})
	payload, pidFile := cancelCommand(t, false)
	id := b.submit(t, &jqv1.SubmitJobRequest{QueueName: "default", Payload: payload})
	pid := pidOf(t, pidFile)

	a.stop() // the worker's stream ends; its job keeps running
	_, err := b.jobs.CancelJob(b.ctx, &jqv1.CancelJobRequest{JobId: id})
	require.NoError(t, err)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_CANCELLED, b.job(t, id).GetStatus(), "the attempt is over at once")
	time.Sleep(300 * time.Millisecond)
	require.False(t, gone(pid), "no server could tell the worker")

	cfg := *a.cfg
	cfg.GRPC.Port = a.srv.GRPCAddr().(*net.TCPAddr).Port // where the worker reconnects
	startServer(t, &cfg)
	require.Eventually(t, func() bool { return gone(pid) }, 15*time.Second, 20*time.Millisecond,
		"back on a server, the worker hears of the cancel and stops the process")

	next := b.submit(t, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"command": ["true"]}`)})
	require.Eventually(t, func() bool { return b.job(t, next).GetStatus() == jqv1.JobStatus_JOB_STATUS_DONE },
		15*time.Second, 20*time.Millisecond, "the worker's slot is free again")
	j := b.job(t, id)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_CANCELLED, j.GetStatus())
	require.Equal(t, int32(0), j.GetRetryCount())
	require.Equal(t, int32(1), j.GetAttempt())
}

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/jqhq/jq/bench/faultproxy"
	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/worker"
)

// A worker whose path to the server goes silent (no FIN, no RST; its heartbeats would take
// the heartbeat timeout, an hour here) is found by the server's keepalive pings within
// keepalive_time + keepalive_timeout; after the stream grace its job runs elsewhere, and its
// own late report of the old attempt is refused (fenced). When the path heals, the worker's
// stream ends (the server had closed it) and it can register again.
func TestFaults_SilentWorkerFoundByKeepalive(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.GRPC.KeepaliveTime = config.Duration(500 * time.Millisecond)
		c.GRPC.KeepaliveTimeout = config.Duration(500 * time.Millisecond)
		c.GRPC.KeepaliveMin = config.Duration(100 * time.Millisecond)
		c.Scheduler.HeartbeatTimeout = config.Duration(time.Hour)
	})
	proxy, err := faultproxy.Listen(b.srv.GRPCAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	far, err := client.Dial(proxy.Addr(), client.Options{Token: b.srv.AdminKey})
	require.NoError(t, err)
	t.Cleanup(func() { _ = far.Close() })

	id := b.submit(t, &jqv1.SubmitJobRequest{})
	silent := newTestWorker(t, far, 1)
	a := silent.next(5 * time.Second)
	require.Equal(t, id, a.GetJob().GetJobId())
	other := newTestWorker(t, b.conn, 1)

	start := time.Now()
	proxy.Blackhole()
	again := other.next(10 * time.Second)
	took := time.Since(start)
	require.Equal(t, id, again.GetJob().GetJobId())
	require.Equal(t, int32(2), again.GetAttempt())
	bound := b.cfg.GRPC.KeepaliveTime.Std() + b.cfg.GRPC.KeepaliveTimeout.Std() + b.cfg.Scheduler.StreamGrace.Std()
	t.Logf("silent worker -> its job running elsewhere in %s (keepalive %s + %s, stream grace %s)", took.Round(time.Millisecond),
		b.cfg.GRPC.KeepaliveTime, b.cfg.GRPC.KeepaliveTimeout, b.cfg.Scheduler.StreamGrace)
	require.Less(t, took, bound+2*time.Second)

	healed := time.Now()
	proxy.Restore()
	select {
	case err := <-silent.ended:
		t.Logf("path healed -> the silent worker's stream ended after %s: %v", time.Since(healed).Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatal("the silent worker's stream did not end after the path healed")
	}
	_, err = silent.report(a, true, "")
	requireCode(t, err, codes.FailedPrecondition) // fenced: its attempt was handed on
	other.mustReport(again, true)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, b.job(t, id).GetStatus())
}

// With PostgreSQL gone, jq-server stays up: /readyz says not ready, worker streams stay open,
// submits fail cleanly; when PostgreSQL is back it serves again within 2 s and no accepted job
// is lost.
func TestFaults_ServerOutlivesPostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	pg, viaProxy := testdb.NewProxy(t, dbURL)
	cfg := testConfig(viaProxy)
	cfg.DB.ConnectTimeout = config.Duration(time.Second)
	cfg.DB.StatementTimeout = config.Duration(2 * time.Second)
	srv, _ := startServer(t, cfg)
	conn := dial(t, srv)
	jobs := jqv1.NewJobServiceClient(conn)
	ctx := context.Background()
	readyz := "http://" + srv.HealthAddr().String() + "/readyz"
	ready := func() bool {
		resp, err := http.Get(readyz)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	require.True(t, ready())

	w := newTestWorker(t, conn, 4)
	var done atomic.Int64
	w.autoWork(&done)

	var mu sync.Mutex
	var accepted []string
	submit := func() error {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		resp, err := jobs.SubmitJob(sctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"command": ["true"]}`)})
		if err == nil {
			mu.Lock()
			accepted = append(accepted, resp.GetJobId())
			mu.Unlock()
		}
		return err
	}
	for range 20 {
		require.NoError(t, submit())
	}
	require.Eventually(t, func() bool { return done.Load() == 20 }, 10*time.Second, 10*time.Millisecond)

	cut := time.Now()
	pg.Cut()
	require.Eventually(t, func() bool { return !ready() }, 10*time.Second, 50*time.Millisecond, "/readyz must say not ready")
	t.Logf("PostgreSQL gone -> /readyz not ready after %s", time.Since(cut).Round(time.Millisecond))
	require.Error(t, submit(), "a submit cannot succeed without PostgreSQL")
	time.Sleep(2 * time.Second) // the server keeps retrying meanwhile
	select {
	case err := <-w.ended:
		t.Fatalf("the worker's stream ended while PostgreSQL was gone: %v", err)
	default:
	}

	back := time.Now()
	pg.Restore()
	require.Eventually(t, func() bool { return submit() == nil }, 10*time.Second, 20*time.Millisecond)
	served := time.Since(back)
	before := done.Load()
	require.Eventually(t, func() bool { return done.Load() > before }, 10*time.Second, 10*time.Millisecond,
		"the job submitted after the return must run")
	ran := time.Since(back)
	t.Logf("PostgreSQL back -> submit accepted after %s, a job ran after %s", served.Round(time.Millisecond), ran.Round(time.Millisecond))
	require.Less(t, ran, 2*time.Second+500*time.Millisecond, "serves again within about 2 s")
	require.Eventually(t, ready, 10*time.Second, 50*time.Millisecond)

	for range 20 {
		require.NoError(t, submit())
	}
	mu.Lock()
	ids := append([]string(nil), accepted...)
	mu.Unlock()
	require.Eventually(t, func() bool {
		for _, id := range ids {
			j, err := jobs.GetJobStatus(ctx, &jqv1.GetJobStatusRequest{JobId: id})
			if err != nil || j.GetJob().GetStatus() != jqv1.JobStatus_JOB_STATUS_DONE {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "every accepted job ends DONE")
	t.Logf("%d accepted jobs, all DONE, %d runs", len(ids), done.Load())
}

// PostgreSQL terminates every jq session 4 times a second for 3 s while jobs are submitted and
// run by a real worker: the server stays up and ready afterwards, and every accepted job ends
// DONE, having run.
func TestFaults_BackendKillsWhileJobsFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ledger := map[string]int{}
	var mu sync.Mutex
	runWorker(t, b.srv, b.srv.GRPCAddr().String(), 8, []string{"default"},
		worker.HandlerFunc(func(ctx context.Context, j worker.Job) ([]byte, error) {
			mu.Lock()
			ledger[j.ID]++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			return nil, nil
		}))

	killer, err := pgx.Connect(b.ctx, b.cfg.DB.URL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = killer.Close(context.Background()) })

	var ids []string
	var submitErrs int
	stopKilling := make(chan struct{})
	killed := make(chan int, 1)
	go func() {
		total := 0
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopKilling:
				killed <- total
				return
			case <-tick.C:
			}
			var n int
			if err := killer.QueryRow(b.ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err == nil {
				total += n
			}
		}
	}()
	// Submit for 3 s, each job under an idempotency key retried until accepted: a retried
	// submit cannot make a second job.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("kill-%d", i)
		for {
			sctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			resp, err := b.jobs.SubmitJob(sctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{}`), IdempotencyKey: key})
			cancel()
			if err == nil {
				ids = append(ids, resp.GetJobId())
				break
			}
			submitErrs++
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stopKilling)
	sessions := <-killed
	end := time.Now()

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if ledger[id] == 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "every accepted job must run")
	ran := time.Since(end)
	require.Eventually(t, func() bool {
		list, err := b.jobs.ListJobs(b.ctx, &jqv1.ListJobsRequest{QueueName: "default", Status: jqv1.JobStatus_JOB_STATUS_DONE, Limit: 1000})
		return err == nil && len(list.GetJobs()) == len(ids)
	}, 30*time.Second, 50*time.Millisecond, "every accepted job must end DONE")
	mu.Lock()
	doubled := 0
	for _, id := range ids {
		if ledger[id] > 1 {
			doubled++
		}
	}
	extra := len(ledger) - len(ids)
	mu.Unlock()
	t.Logf("%d sessions terminated in 3 s; %d jobs accepted (%d submit errors retried), lost 0, doubled %d, unknown %d; all ran %s after the kills ended",
		sessions, len(ids), submitErrs, doubled, extra, ran.Round(time.Millisecond))
	require.Zero(t, extra, "no job ran that was not accepted")
	require.NotEmpty(t, ids)
	require.Positive(t, sessions)

	resp, err := http.Get("http://" + b.srv.HealthAddr().String() + "/readyz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// A job claimed for a worker by a server that died before delivering it is ASSIGNED to a
// worker that never got it. The first heartbeat on the worker's new stream finds it (it is
// not among the jobs the worker holds) with a short grace, instead of waiting for
// scheduler.reconcile_grace (30 s) or the assignment timeout.
func TestFaults_UndeliveredClaimRetriedOnReconnect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, 30*time.Second, b.cfg.Scheduler.ReconcileGrace.Std())
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	jid, err := uuid.Parse(id)
	require.NoError(t, err)

	// The worker registers; the dead server had claimed the job for it 20 s ago and never sent it.
	w := &testWorker{t: t, id: uuid.New(), client: b.worker,
		assigns: make(chan *jqv1.JobAssignment, 10), drains: make(chan *jqv1.DrainNotice, 1), ended: make(chan error, 1)}
	_, err = b.worker.RegisterWorker(b.ctx, &jqv1.RegisterWorkerRequest{WorkerId: w.id.String(), Hostname: "test", Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	claimed, err := b.srv.Store().ClaimFor(b.ctx, []string{"default"}, []queue.Slot{{WorkerID: w.id, Max: 1}})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	_, err = b.srv.Store().Pool().Exec(b.ctx, `UPDATE jq.jobs SET assigned_at = now() - interval '20 seconds' WHERE job_id = $1`, jid)
	require.NoError(t, err)

	// It opens its stream (holding nothing) and heartbeats.
	w.open(1, []string{"default"})
	t.Cleanup(w.close)
	start := time.Now()
	_, err = b.worker.Heartbeat(b.ctx, &jqv1.HeartbeatRequest{WorkerId: w.id.String(), ReportsHeldJobs: true})
	require.NoError(t, err)
	a := w.next(5 * time.Second)
	require.Equal(t, id, a.GetJob().GetJobId())
	require.Equal(t, int32(2), a.GetAttempt(), "the undelivered attempt was retried")
	t.Logf("undelivered claim retried and delivered %s after the first heartbeat on the new stream", time.Since(start).Round(time.Millisecond))
	w.mustReport(a, true)
	require.Equal(t, jqv1.JobStatus_JOB_STATUS_DONE, b.job(t, id).GetStatus())
}

package server_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/jqhq/jq/bench/faultproxy"
	"github.com/jqhq/jq/client"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
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

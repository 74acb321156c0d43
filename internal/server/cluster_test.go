package server_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testredis"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
)

// autoWork makes a test worker complete every job it receives until the test ends, counting them.
func (w *testWorker) autoWork(done *atomic.Int64) {
	stopped := make(chan struct{})
	w.t.Cleanup(func() { close(stopped) })
	go func() {
		for {
			select {
			case <-stopped:
				return
			case a := <-w.assigns:
				// Reports go out concurrently, as jq-worker's do (the server batches them).
				go func() {
					if _, err := w.report(a, true, ""); err != nil {
						w.t.Errorf("worker %s: report %s: %v", w.id, a.GetJob().GetJobId(), err)
						return
					}
					done.Add(1)
				}()
			}
		}
	}()
}

// TestCluster_TwoServersRunEveryJobExactlyOnce runs two server instances on one database with
// four workers (two per server) and 5,000 jobs: every job must complete, be claimed once and
// completed once, with Redis answering and with Redis configured but down.
func TestCluster_TwoServersRunEveryJobExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		redis func(t *testing.T, c *config.Config)
	}{
		{"RedisUp", func(t *testing.T, c *config.Config) {
			_, prefix := testredis.Client(t)
			c.Redis.Addr, c.Redis.KeyPrefix = testredis.Addr(), prefix
		}},
		{"RedisDown", func(_ *testing.T, c *config.Config) {
			c.Redis.Addr = "127.0.0.1:1" // configured, nothing listens
			c.Redis.Timeout = config.Duration(50 * time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const jobs = 5000
			ctx := context.Background()
			dbURL := testdb.New(t)
			var servers []*bundle
			for range 2 {
				cfg := testConfig(dbURL)
				cfg.Scheduler.HeartbeatTimeout = config.Duration(time.Hour) // the test workers do not heartbeat
				tc.redis(t, cfg)
				srv, stop := startServer(t, cfg)
				conn := dial(t, srv)
				servers = append(servers, &bundle{ctx: ctx, cfg: cfg, srv: srv, stop: stop, conn: conn,
					jobs: jqv1.NewJobServiceClient(conn), admin: jqv1.NewAdminServiceClient(conn)})
			}
			var done atomic.Int64
			for i := range 4 {
				newTestWorker(t, servers[i%2].conn, 8).autoWork(&done)
			}

			// Submit through both servers at once, in bulk through the SQL API too.
			var wg sync.WaitGroup
			for i, s := range servers {
				wg.Go(func() {
					for n := range jobs / 4 {
						_, err := s.jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: "default", Payload: []byte(`{"n":1}`), Priority: int32(n % 10)})
						if err != nil {
							t.Errorf("server %d submit: %v", i, err)
							return
						}
					}
				})
			}
			payloads := make([]json.RawMessage, jobs/2)
			for i := range payloads {
				payloads[i] = json.RawMessage(`{}`)
			}
			_, err := servers[0].srv.Store().SubmitMany(ctx, "default", payloads, 0)
			require.NoError(t, err)
			wg.Wait()

			require.Eventually(t, func() bool { return done.Load() >= jobs }, 60*time.Second, 50*time.Millisecond,
				"completed %d of %d", done.Load(), jobs)
			time.Sleep(200 * time.Millisecond) // would a job run twice, its report arrives now
			require.Equal(t, int64(jobs), done.Load(), "reports received")

			conn, err := pgx.Connect(ctx, dbURL)
			require.NoError(t, err)
			defer conn.Close(ctx)
			var total, doneJobs, attempts1 int
			require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'DONE'),
				count(*) FILTER (WHERE attempt = 1) FROM jq.jobs`).Scan(&total, &doneJobs, &attempts1))
			require.Equal(t, jobs, total)
			require.Equal(t, jobs, doneJobs)
			require.Equal(t, jobs, attempts1, "every job ran in its first attempt")
			var claimed, completed, maxPerJob int
			require.NoError(t, conn.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE reason = 'CLAIMED'), count(*) FILTER (WHERE reason = 'COMPLETED'),
				(SELECT max(n) FROM (SELECT count(*) n FROM jq.job_events WHERE reason = 'COMPLETED' GROUP BY job_id) s)
				FROM jq.job_events`).Scan(&claimed, &completed, &maxPerJob))
			require.Equal(t, jobs, claimed, "claimed once each")
			require.Equal(t, jobs, completed, "completed once each")
			require.Equal(t, 1, maxPerJob)
			var servedBy int
			require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT worker_id) FROM jq.jobs`).Scan(&servedBy))
			require.Equal(t, 4, servedBy, "every worker got work")
		})
	}
}

func TestCluster_LeaderHandover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"Redis", true}, {"AdvisoryLock", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dbURL := testdb.New(t)
			_, prefix := testredis.Client(t)
			var srvs []*bundle
			for range 2 {
				cfg := testConfig(dbURL)
				cfg.Scheduler.HeartbeatTimeout = config.Duration(time.Second) // a new leader reaps after this long
				if tc.redis {
					cfg.Redis.Addr, cfg.Redis.KeyPrefix = testredis.Addr(), prefix
				}
				srv, stop := startServer(t, cfg)
				srvs = append(srvs, &bundle{srv: srv, stop: stop, cfg: cfg})
			}
			leaders := func() (n int, who int) {
				for i, s := range srvs {
					if s.srv.Leading() {
						n, who = n+1, i
					}
				}
				return n, who
			}
			require.Eventually(t, func() bool { n, _ := leaders(); return n == 1 }, 5*time.Second, 20*time.Millisecond, "one leader")
			// It stays one while both run.
			for range 20 {
				n, _ := leaders()
				require.LessOrEqual(t, n, 1)
				time.Sleep(25 * time.Millisecond)
			}
			_, who := leaders()
			srvs[who].stop()
			other := srvs[1-who]
			require.Eventually(t, other.srv.Leading, 5*time.Second, 20*time.Millisecond, "the survivor takes over")

			// The new leader maintains: a lost worker's job is retried.
			store := other.srv.Store()
			ctx := context.Background()
			w, err := store.RegisterWorker(ctx, queue.RegisterWorkerParams{ID: [16]byte{1}, Hostname: "gone", Concurrency: 1, Queues: []string{"default"}})
			require.NoError(t, err)
			_, err = store.Submit(ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)})
			require.NoError(t, err)
			claimed, err := store.Claim(ctx, []string{"default"}, 1, w.ID)
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			conn, err := pgx.Connect(ctx, dbURL)
			require.NoError(t, err)
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, `UPDATE jq.workers SET last_heartbeat = now() - interval '1 hour' WHERE worker_id = $1`, w.ID)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				j, err := store.GetJob(ctx, claimed[0].ID)
				return err == nil && j.Status == queue.StatusPending && j.RetryCount == 1
			}, 5*time.Second, 50*time.Millisecond, "the heartbeat monitor runs on the new leader")
		})
	}
}

// TestCluster_SubmitWakesTheOtherServersScheduler: a job submitted through one server reaches
// a worker connected to another within a fraction of the (10 s) poll interval: the submitting
// server's announcer NOTIFYs every scheduler after the commit.
func TestCluster_SubmitWakesTheOtherServersScheduler(t *testing.T) {
	t.Parallel()
	dbURL := testdb.New(t)
	var servers []*bundle
	for range 2 {
		cfg := testConfig(dbURL)
		cfg.Scheduler.Interval = config.Duration(10 * time.Second)
		srv, stop := startServer(t, cfg)
		conn := dial(t, srv)
		servers = append(servers, &bundle{ctx: context.Background(), cfg: cfg, srv: srv, stop: stop, conn: conn,
			jobs: jqv1.NewJobServiceClient(conn)})
	}
	w := newTestWorker(t, servers[1].conn, 1)
	waitSchedulerIdle(t, servers[1].srv) // the cycle the attach triggered has passed

	for range 3 {
		start := time.Now()
		id := servers[0].submit(t, &jqv1.SubmitJobRequest{})
		a := w.next(2 * time.Second)
		require.Equal(t, id, a.GetJob().GetJobId())
		require.Less(t, time.Since(start), time.Second, "with a 10 s poll, only the NOTIFY can deliver this fast")
		w.mustReport(a, true)
	}
}

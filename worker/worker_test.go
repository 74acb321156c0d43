package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testserver"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/worker"
)

type bundle struct {
	ctx   context.Context
	srv   *testserver.Server
	store *queue.Store
	key   string // role worker
}

func setup(t *testing.T, tweak ...func(*config.Config)) *bundle {
	t.Helper()
	srv := testserver.Start(t, tweak...)
	return &bundle{ctx: context.Background(), srv: srv, store: srv.Store(), key: srv.Key(t, apikey.RoleWorker)}
}

// run starts a worker on the bundle's server; stop cancels its context (SIGTERM) and waits
// for Run to return.
func (b *bundle) run(t *testing.T, h worker.Handler, tweak func(*worker.Config)) (w *worker.Worker, stop func() error) {
	t.Helper()
	cfg := worker.Config{
		ServerAddr: b.srv.GRPCAddr().String(), Token: b.key, ID: uuid.NewString(), Concurrency: 2,
		HeartbeatInterval: 200 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		ReconnectMax: 200 * time.Millisecond, Logger: testserver.Logger().With("service", "jq-worker"),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	w, err := worker.New(cfg, h)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return within 30 s")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	require.Eventually(t, w.Ready, 10*time.Second, 10*time.Millisecond, "the worker connects")
	return w, stop
}

func (b *bundle) submit(t *testing.T, payload string, tweak ...func(*queue.SubmitParams)) uuid.UUID {
	t.Helper()
	p := queue.SubmitParams{Queue: "default", Payload: []byte(payload)}
	for _, f := range tweak {
		f(&p)
	}
	res, err := b.store.Submit(b.ctx, p)
	require.NoError(t, err)
	return res.ID
}

func (b *bundle) waitStatus(t *testing.T, id uuid.UUID, want queue.JobStatus, within time.Duration) *queue.Job {
	t.Helper()
	var j *queue.Job
	require.Eventually(t, func() bool {
		var err error
		j, err = b.store.GetJob(b.ctx, id)
		return err == nil && j.Status == want
	}, within, 20*time.Millisecond, "job %s: want %s, last %+v", id, want, j)
	return j
}

func TestWorker_GoHandlers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := worker.NewMux()
	mux.Register("upper", func(_ context.Context, j worker.Job) ([]byte, error) { return []byte("UPPER:" + j.ID), nil })
	mux.Register("fail", func(context.Context, worker.Job) ([]byte, error) { return nil, errors.New("nope") })
	mux.Register("panic", func(context.Context, worker.Job) ([]byte, error) { panic("kaboom") })
	b.run(t, mux, nil)

	ok := b.submit(t, `{"kind": "upper"}`)
	j := b.waitStatus(t, ok, queue.StatusDone, 10*time.Second)
	require.Equal(t, "UPPER:"+ok.String(), string(j.Result))

	zero := 0
	failed := b.submit(t, `{"kind": "fail"}`, func(p *queue.SubmitParams) { p.MaxRetries = &zero })
	j = b.waitStatus(t, failed, queue.StatusDeadLettered, 10*time.Second)
	require.Equal(t, "nope", j.ErrorMessage)

	panicked := b.submit(t, `{"kind": "panic"}`, func(p *queue.SubmitParams) { p.MaxRetries = &zero })
	j = b.waitStatus(t, panicked, queue.StatusDeadLettered, 10*time.Second)
	require.Contains(t, j.ErrorMessage, "handler panicked: kaboom")

	unknown := b.submit(t, `{"kind": "mystery"}`)
	j = b.waitStatus(t, unknown, queue.StatusDeadLettered, 10*time.Second)
	require.Equal(t, 0, j.RetryCount, "a permanent failure is not retried")
}

func TestWorker_SubprocessJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.run(t, worker.Exec{}, nil)

	echo := b.submit(t, `{"command": ["echo", "hi"]}`)
	require.Equal(t, "hi\n", string(b.waitStatus(t, echo, queue.StatusDone, 10*time.Second).Result))

	malformed := b.submit(t, `{"command": "echo hi"}`)
	j := b.waitStatus(t, malformed, queue.StatusDeadLettered, 10*time.Second)
	require.Contains(t, j.ErrorMessage, `payload field "command"`)
	require.Equal(t, 0, j.RetryCount)

	slow := b.submit(t, `{"command": ["sleep", "30"], "timeout_seconds": 1}`, func(p *queue.SubmitParams) { zero := 0; p.MaxRetries = &zero })
	j = b.waitStatus(t, slow, queue.StatusDeadLettered, 15*time.Second)
	require.Contains(t, j.ErrorMessage, "killed after 1s (timeout)")
}

func TestWorker_QueueTTLIsTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "short", MaxRetries: 0, TTL: time.Second})
	require.NoError(t, err)
	b.run(t, worker.Exec{}, func(c *worker.Config) { c.Queues = []string{"short"}; c.DefaultTimeout = time.Hour })
	id := b.submit(t, `{"command": ["sleep", "30"]}`, func(p *queue.SubmitParams) { p.Queue = "short" })
	j := b.waitStatus(t, id, queue.StatusDeadLettered, 15*time.Second)
	require.Contains(t, j.ErrorMessage, "killed after 1s (timeout)")
}

func TestWorker_NeverRunsMoreThanItsConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var now, peak atomic.Int64
	h := worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		now.Add(-1)
		return nil, nil
	})
	b.run(t, h, func(c *worker.Config) { c.Concurrency = 3 })
	var ids []uuid.UUID
	for range 30 {
		ids = append(ids, b.submit(t, `{}`))
	}
	for _, id := range ids {
		b.waitStatus(t, id, queue.StatusDone, 20*time.Second)
	}
	require.Equal(t, int64(3), peak.Load(), "ran up to, and never more than, 3 at once")
}

func TestWorker_SIGTERMFinishesRunningJobsAndDeregisters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	h := worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) {
		started <- struct{}{}
		<-release
		return []byte("finished"), nil
	})
	w, stop := b.run(t, h, nil)
	running := b.submit(t, `{}`)
	<-started

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Draining: the server sends nothing new.
	require.Eventually(t, func() bool {
		wk, err := b.store.GetWorker(b.ctx, w.ID())
		return err == nil && wk.Status == queue.WorkerDraining
	}, 5*time.Second, 10*time.Millisecond)
	queued := b.submit(t, `{}`)
	time.Sleep(300 * time.Millisecond) // deliberate: scheduler cycles pass, and none may send the job
	require.Len(t, started, 0, "a draining worker takes no new job")

	close(release)
	require.NoError(t, <-stopped)
	require.Equal(t, "finished", string(b.waitStatus(t, running, queue.StatusDone, 5*time.Second).Result))
	wk, err := b.store.GetWorker(b.ctx, w.ID())
	require.NoError(t, err)
	require.Equal(t, queue.WorkerOffline, wk.Status, "deregistered")
	require.Equal(t, queue.StatusPending, b.waitStatus(t, queued, queue.StatusPending, time.Second).Status)
}

func TestWorker_GraceExpiredJobsAreKilledAndRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, stop := b.run(t, worker.Exec{}, func(c *worker.Config) { c.ShutdownGrace = 500 * time.Millisecond })
	id := b.submit(t, `{"command": ["sleep", "30"]}`)
	b.waitStatus(t, id, queue.StatusRunning, 10*time.Second)
	start := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(start), 10*time.Second)
	j := b.waitStatus(t, id, queue.StatusPending, 5*time.Second)
	require.Equal(t, 1, j.RetryCount, "failed, to be retried elsewhere")
	require.Contains(t, j.ErrorMessage, "killed: the worker shut down")
	wk, err := b.store.GetWorker(b.ctx, w.ID())
	require.NoError(t, err)
	require.Equal(t, queue.WorkerOffline, wk.Status)
}

func TestWorker_DrainFromTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, stop := b.run(t, worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) { return nil, nil }), nil)
	_, err := b.store.ShutdownWorker(b.ctx, w.ID(), "test") // as AdminService.ShutdownWorker through any server
	require.NoError(t, err)
	// The worker learns from its heartbeat (or in-band), drains and stops by itself.
	require.Eventually(t, func() bool {
		wk, err := b.store.GetWorker(b.ctx, w.ID())
		return err == nil && wk.Status == queue.WorkerOffline
	}, 10*time.Second, 20*time.Millisecond, "the worker deregistered")
	require.NoError(t, stop())
}

// TestWorker_ServerRestart: the server goes away while a job runs and comes back on the same
// address; the worker reconnects, reports the job that finished meanwhile (its attempt is
// still current) and takes new jobs. Nothing is lost or run twice.
func TestWorker_ServerRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	var runs atomic.Int64
	h := worker.HandlerFunc(func(_ context.Context, j worker.Job) ([]byte, error) {
		runs.Add(1)
		if string(j.Payload) == `{"wait": true}` {
			<-release
		}
		return []byte("done"), nil
	})
	w, _ := b.run(t, h, nil)
	long := b.submit(t, `{"wait": true}`)
	b.waitStatus(t, long, queue.StatusRunning, 10*time.Second)

	addr := b.srv.GRPCAddr().String()
	b.srv.Stop()
	require.Eventually(t, func() bool { return !w.Ready() }, 5*time.Second, 10*time.Millisecond)
	close(release) // the job finishes while the server is down

	cfg := *b.srv.Config
	_, port, _ := splitPort(addr)
	cfg.GRPC.Port = port
	srv2 := testserver.StartWith(t, &cfg)
	require.Eventually(t, w.Ready, 15*time.Second, 20*time.Millisecond, "the worker reconnects")
	store := srv2.Store()
	require.Eventually(t, func() bool {
		j, err := store.GetJob(b.ctx, long)
		return err == nil && j.Status == queue.StatusDone && j.Attempt == 1
	}, 10*time.Second, 20*time.Millisecond, "the result reported after the reconnect is accepted")

	next, err := store.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		j, err := store.GetJob(b.ctx, next.ID)
		return err == nil && j.Status == queue.StatusDone
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(2), runs.Load(), "each job ran once")
}

func TestWorker_StaleResultRefusedCleanly(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.Scheduler.HeartbeatTimeout = config.Duration(time.Hour) })
	release := make(chan struct{})
	var runs atomic.Int64
	h := worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) {
		if runs.Add(1) == 1 {
			<-release
		}
		return []byte("ok"), nil
	})
	w, _ := b.run(t, h, nil)
	id := b.submit(t, `{}`)
	b.waitStatus(t, id, queue.StatusRunning, 10*time.Second)
	// An operator's repair while the worker is still running the job: its attempt goes stale.
	_, err := b.store.Pool().Exec(b.ctx, `SELECT jq.release_worker($1, $2, '0s', '0s')`, w.ID(), queue.ReasonWorkerLost)
	require.NoError(t, err)
	close(release)
	// The worker's report is refused; the job is retried (by this worker, once it re-registers).
	j := b.waitStatus(t, id, queue.StatusDone, 15*time.Second)
	require.Equal(t, 2, j.Attempt)
	require.Equal(t, int64(2), runs.Load())
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}

func TestWorker_SecondProcessWithTheSameIDSupersedesTheFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := uuid.NewString()
	release := make(chan struct{})
	first, err := worker.New(worker.Config{ServerAddr: b.srv.GRPCAddr().String(), Token: b.key, ID: id, Concurrency: 1, ReconnectMax: 100 * time.Millisecond},
		worker.HandlerFunc(func(ctx context.Context, _ worker.Job) ([]byte, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		}))
	require.NoError(t, err)
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(context.Background()) }()
	require.Eventually(t, first.Ready, 10*time.Second, 10*time.Millisecond)
	held := b.submit(t, `{}`)
	b.waitStatus(t, held, queue.StatusRunning, 10*time.Second)

	// The same id again: a restarted pod, or a second process by mistake.
	second, _ := b.run(t, worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) { return []byte("second"), nil }),
		func(c *worker.Config) { c.ID = id })
	select {
	case err := <-firstDone:
		require.ErrorContains(t, err, "in use by another process")
	case <-time.After(10 * time.Second):
		t.Fatal("the superseded process did not stop")
	}
	close(release)
	require.Equal(t, first.ID(), second.ID())
	// The first process's job was retried at once, by the process that now holds the id.
	j := b.waitStatus(t, held, queue.StatusDone, 15*time.Second)
	require.Equal(t, "second", string(j.Result))
	require.Equal(t, 2, j.Attempt)
}

// TestWorker_StopWhileTheServerStillDelivers stops workers while their queue is busy, so that
// assignments keep arriving during and after the drain. Run must return cleanly (no send on a
// closed channel), and every job must end DONE or back in PENDING: none is lost or left held
// by the stopped worker.
func TestWorker_StopWhileTheServerStillDelivers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const jobs = 3000
	payloads := make([]json.RawMessage, jobs)
	for i := range payloads {
		payloads[i] = json.RawMessage(`{}`)
	}
	_, err := b.store.SubmitMany(b.ctx, "default", payloads, 0)
	require.NoError(t, err)

	noop := worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) { return nil, nil })
	for round := range 5 {
		var handled atomic.Int64
		h := worker.HandlerFunc(func(ctx context.Context, j worker.Job) ([]byte, error) {
			handled.Add(1)
			return noop(ctx, j)
		})
		ws := make([]func() error, 2)
		for i := range ws {
			_, ws[i] = b.run(t, h, func(c *worker.Config) { c.Concurrency = 16 })
		}
		require.Eventually(t, func() bool { return handled.Load() >= 100 }, 10*time.Second, time.Millisecond, "round %d: jobs run", round)
		for _, stop := range ws {
			require.NoError(t, stop(), "round %d", round)
		}
	}

	stats, err := b.store.QueueStats(b.ctx, "default")
	require.NoError(t, err)
	require.Len(t, stats, 1)
	c := stats[0].Counts
	require.Zero(t, c[queue.StatusAssigned]+c[queue.StatusRunning], "no job is held by a stopped worker: %v", c)
	require.Zero(t, c[queue.StatusDeadLettered], "%v", c)
	require.Equal(t, int64(jobs), c[queue.StatusPending]+c[queue.StatusDone], "every job is done or pending again: %v", c)
}

// TestWorker_Snooze: a Go handler returning worker.Snooze, and a command exiting 75 with a
// delay on its last line of stdout, run again after the delay without using up a retry.
func TestWorker_Snooze(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runs atomic.Int64
	mux := worker.NewMux()
	mux.Register("later", func(context.Context, worker.Job) ([]byte, error) {
		if runs.Add(1) == 1 {
			return nil, worker.Snooze(300 * time.Millisecond)
		}
		return []byte("now"), nil
	})
	mux.Fallback(worker.Exec{})
	b.run(t, mux, nil)

	zero := 0
	noRetries := func(p *queue.SubmitParams) { p.MaxRetries = &zero }
	start := time.Now()
	id := b.submit(t, `{"kind": "later"}`, noRetries)
	j := b.waitStatus(t, id, queue.StatusDone, 10*time.Second)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "not before the delay")
	require.Equal(t, "now", string(j.Result))
	require.Equal(t, 0, j.RetryCount, "a snooze is not a retry, with max_retries 0 too")
	require.Equal(t, 2, j.Attempt)
	events, err := b.store.JobEvents(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, queue.ReasonSnoozed, events[3].Reason)

	// The command snoozes once (75, "1s"), then succeeds: a marker file tells the runs apart.
	marker := t.TempDir() + "/ran"
	script := `if [ -e ` + marker + ` ]; then echo done; else touch ` + marker + `; echo working; echo 1s; exit 75; fi`
	cmd := b.submit(t, `{"command": ["sh", "-c", `+strconv.Quote(script)+`]}`, noRetries)
	j = b.waitStatus(t, cmd, queue.StatusDone, 15*time.Second)
	require.Equal(t, "done\n", string(j.Result))
	require.Equal(t, 0, j.RetryCount)
	events, err = b.store.JobEvents(b.ctx, cmd)
	require.NoError(t, err)
	require.Equal(t, queue.ReasonSnoozed, events[3].Reason)
	require.GreaterOrEqual(t, events[4].OccurredAt.Sub(events[3].OccurredAt), time.Second, "claimed again after the 1 s it asked for")
}

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/worker"
)

// The recovery variants.
const (
	// variantBrokenStream kills the worker with SIGKILL: its connection closes, the server
	// sees the stream break, waits stream_grace for a reconnect, then retries its jobs.
	variantBrokenStream = "broken-stream"
	// variantHeartbeat freezes the worker with SIGSTOP: its connection stays open and only
	// the missing heartbeats tell; the heartbeat monitor retries its jobs.
	variantHeartbeat = "heartbeat-timeout"
)

// recoveryBrokenStreamTarget is the broken-stream recovery target, seconds; the heartbeat
// variant's is the heartbeat timeout plus recoveryHeartbeatSlack.
const (
	recoveryBrokenStreamTarget = 3.0
	recoveryHeartbeatSlack     = 2.0
)

// recoveryParams describe a recovery run.
type recoveryParams struct {
	jobs             int // K: jobs the lost worker holds
	heartbeatTimeout time.Duration
	reapInterval     time.Duration
	streamGrace      time.Duration
	variants         []string
}

// recoveryVariant is the outcome of one variant.
type recoveryVariant struct {
	Variant string `json:"variant"`
	// RecoveredS runs from the signal to the moment all K jobs run on the other worker
	// (delivered to it: ASSIGNED or RUNNING, see waitRunning).
	RecoveredS float64 `json:"recovered_s"`
	// ReleasedS runs from the signal to the server's retry of the jobs (their WORKER_LOST
	// event); the rest is the retry backoff and the scheduling.
	ReleasedS float64 `json:"released_s"`
	// workerRSS is the larger peak RSS of the two jq-worker processes.
	workerRSS float64
}

// recoveryScenario measures how long the jobs of a lost worker take to run elsewhere. For each
// variant, on a fresh database and server: jq-worker A (concurrency K) takes K jobs that sleep
// 60 s; once all K run on A, jq-worker B connects; then A is killed (broken-stream) or frozen
// (heartbeat-timeout), and the time until all K run again (attempt 2) on B is taken, polling
// the database every 10 ms.
func recoveryScenario(ctx context.Context, r *run, p recoveryParams) (*Report, error) {
	started := time.Now()
	var results []recoveryVariant
	for _, v := range p.variants {
		res, err := r.recoverOnce(ctx, p, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v, err)
		}
		r.progress("%s: all %d jobs running again on the other worker after %.2f s", v, p.jobs, res.RecoveredS)
		results = append(results, res)
	}

	rep := r.report(ctx, started, map[string]any{
		"jobs": p.jobs, "variants": strings.Join(p.variants, ","),
		"heartbeat_timeout_s": p.heartbeatTimeout.Seconds(), "reap_interval_s": p.reapInterval.Seconds(),
		"stream_grace_s":        p.streamGrace.Seconds(),
		"scheduler_interval_ms": r.o.SchedulerInterval.Milliseconds(),
	})
	workerRSS := 0.0
	for _, res := range results {
		workerRSS = max(workerRSS, res.workerRSS)
	}
	rep.PeakRSS = PeakRSS{Server: ptr(selfPeakRSSMB()), Workers: &workerRSS, Scope: "server: the jq-bench process (in-process server and harness); workers: largest jq-worker process"}
	rep.Extra = map[string]any{"variants": results}
	for _, res := range results {
		switch res.Variant {
		case variantBrokenStream:
			rep.Extra["recovery_broken_stream_s"] = res.RecoveredS
			rep.Rows = append(rep.Rows, Row{"broken stream (kill -9)", fmt.Sprintf(
				"%.2f s: released after %.2f s (stream_grace %s), then scheduled at once",
				res.RecoveredS, res.ReleasedS, p.streamGrace)})
			rep.Targets = append(rep.Targets, atMost("recovery, broken stream", res.RecoveredS, recoveryBrokenStreamTarget, "s"))
		case variantHeartbeat:
			rep.Extra["recovery_heartbeat_timeout_s"] = res.RecoveredS
			rep.Rows = append(rep.Rows, Row{"heartbeat timeout (SIGSTOP)", fmt.Sprintf(
				"%.2f s: released after %.2f s (heartbeat_timeout %s, reap every %s), then scheduled at once",
				res.RecoveredS, res.ReleasedS, p.heartbeatTimeout, p.reapInterval)})
			rep.Targets = append(rep.Targets, atMost("recovery, heartbeat timeout", res.RecoveredS,
				p.heartbeatTimeout.Seconds()+recoveryHeartbeatSlack, "s"))
		}
	}
	rep.Notes = append(rep.Notes, "the heartbeat variant freezes the worker once the server has led for a heartbeat timeout: a new leader waits that long before it reaps")
	rep.Notes = append(rep.Notes, "a lost worker's jobs are runnable again at once (no retry backoff) and the release wakes the scheduler (NOTIFY)")
	rep.Duration = time.Since(started)
	return rep, nil
}

// recoverOnce runs one variant on its own database and server.
func (r *run) recoverOnce(ctx context.Context, p recoveryParams, variant string) (recoveryVariant, error) {
	res := recoveryVariant{Variant: variant}
	lr, err := newRun(r.scenario, r.o, r.stderr)
	if err != nil {
		return res, err
	}
	defer lr.close()
	if err := lr.createDatabase(ctx, 4); err != nil {
		return res, err
	}
	cfg := lr.serverConfig()
	cfg.Scheduler.HeartbeatTimeout = config.Duration(p.heartbeatTimeout)
	cfg.Scheduler.ReapInterval = config.Duration(p.reapInterval)
	cfg.Scheduler.StreamGrace = config.Duration(p.streamGrace)
	if err := lr.startServer(ctx, cfg); err != nil {
		return res, err
	}
	leading, err := waitLeading(ctx, lr.server)
	if err != nil {
		return res, err
	}

	spec := fleetSpec{kind: commandJobs, procs: 1, concurrency: p.jobs, queue: lr.queue,
		env: []string{"JQ_WORKER_SHUTDOWN_GRACE=1s"}}
	spec.name = "jq-bench-" + lr.id + "-a"
	a, err := lr.startFleet(ctx, spec)
	if err != nil {
		return res, err
	}
	defer a.stop(5 * time.Second)
	aID := a.ids[0]

	payload, _ := json.Marshal(worker.ExecPayload{Command: []string{"sleep", "60"}})
	payloads := make([]json.RawMessage, p.jobs)
	for i := range payloads {
		payloads[i] = payload
	}
	if _, err := queue.NewStore(lr.pool).SubmitMany(ctx, lr.queue, payloads, 0); err != nil {
		return res, fmt.Errorf("submit: %w", err)
	}
	if err := waitRunning(ctx, lr.pool, aID, 1, p.jobs, 30*time.Second); err != nil {
		return res, fmt.Errorf("worker A: %w", err)
	}

	spec.name = "jq-bench-" + lr.id + "-b"
	b, err := lr.startFleet(ctx, spec)
	if err != nil {
		return res, err
	}
	defer b.stop(5 * time.Second)
	bID := b.ids[0]

	proc := a.procs[0]
	orphans := proc.children() // A's `sleep 60` jobs outlive it; they are killed below
	defer killPIDs(orphans)
	t0 := time.Now()
	switch variant {
	case variantBrokenStream:
		proc.kill()
	case variantHeartbeat:
		// A new leader waits a heartbeat timeout before it reaps (workers reconnecting after
		// a server restart need that long to prove they live). A long-running leader is what
		// is measured, so A is frozen only once this one has led that long.
		// Then a random part of a heartbeat interval, so that the freeze falls anywhere
		// between two heartbeats of A, as a real failure does.
		phase := rand.N(max(p.heartbeatTimeout/3, time.Second))
		if wait := time.Until(leading.Add(p.heartbeatTimeout + phase)); wait > 0 {
			lr.progress("%s: waiting %s until the server has led for a heartbeat timeout", variant, wait.Round(100*time.Millisecond))
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return res, context.Cause(ctx)
			}
			t0 = time.Now()
		}
		if err := proc.signal(syscall.SIGSTOP); err != nil {
			return res, err
		}
		defer proc.kill()
	}
	limit := 3*p.heartbeatTimeout + p.streamGrace + 30*time.Second
	if err := waitRunning(ctx, lr.pool, bID, 2, p.jobs, limit); err != nil {
		return res, fmt.Errorf("worker B: %w", err)
	}
	res.RecoveredS = round(time.Since(t0).Seconds(), 3)

	var released time.Time
	if err := lr.pool.QueryRow(ctx, `SELECT min(occurred_at) FROM jq.job_events WHERE reason = $1`, queue.ReasonWorkerLost).Scan(&released); err != nil {
		return res, fmt.Errorf("read the release: %w", err)
	}
	res.ReleasedS = round(released.Sub(t0).Seconds(), 3)

	a.stop(5 * time.Second)
	b.stop(5 * time.Second)
	res.workerRSS = max(proc.peakRSSMB(), b.procs[0].peakRSSMB())
	return res, nil
}

// waitLeading waits until the server leads the maintenance loops and returns when it began.
func waitLeading(ctx context.Context, s *localServer) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !s.srv.Leading() {
		select {
		case <-ctx.Done():
			return time.Time{}, errors.New("the server did not become the maintenance leader within 30 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Now(), nil
}

// waitRunning waits until want jobs (of attempt minAttempt or later) run on a worker, polling
// the database every 10 ms. A job runs once delivered: it is ASSIGNED to the worker until the
// server marks it RUNNING, in batches, scheduler.start_delay after its delivery (a claim is
// delivered within the same cycle, milliseconds later).
func waitRunning(ctx context.Context, pool *pgxpool.Pool, workerID uuid.UUID, minAttempt, want int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs WHERE status IN ('ASSIGNED', 'RUNNING') AND worker_id = $1 AND attempt >= $2`,
			workerID, minAttempt).Scan(&n)
		if err == nil && n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs running (attempt ≥ %d) within %s: %w", n, want, minAttempt, limit, errors.Join(context.Cause(ctx), err))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkVariants validates --variants.
func checkVariants(vs []string) error {
	if len(vs) == 0 {
		return fmt.Errorf("--variants: name at least one of %s, %s", variantBrokenStream, variantHeartbeat)
	}
	for _, v := range vs {
		if v != variantBrokenStream && v != variantHeartbeat {
			return fmt.Errorf("--variants: %q is not one of %s, %s", v, variantBrokenStream, variantHeartbeat)
		}
	}
	return nil
}

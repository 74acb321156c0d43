package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jqhq/jq/internal/config"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Payloads of the drain scenarios.
var (
	noopPayload    = []byte(`{}`)
	truePayload    = []byte(`{"command": ["true"]}`)
	burnTarget     = 10_000.0 // jobs/s, 1 server + 1 worker process
	cycleP95Target = 200.0    // ms, under load
)

// drainParams describe a drain scenario: burn (no-op jobs) or subprocess (["true"]).
type drainParams struct {
	jobs    int
	kind    payloadKind
	payload []byte
	tweak   func(*config.Config) // changes the in-process server's configuration, when set
	// maxRunning, when positive, sets the queue's max_running (flow control) before the drain.
	maxRunning int
	// queues > 1 spreads the jobs over that many queues (<queue>-0001, …), every worker taking
	// them all; local runs only.
	queues int
	// servers > 1 runs that many server instances on the run's database, the workers spread
	// over them in turn; local runs only.
	servers int
}

// queueNames are the queues of a drain: the run's queue, or queues of its name numbered.
func (r *run) queueNames(p drainParams) []string {
	if p.queues <= 1 {
		return []string{r.queue}
	}
	names := make([]string, p.queues)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%04d", r.queue, i+1)
	}
	return names
}

// runDrain fills the queue with jobs, then starts the workers and measures how fast they
// drain it. Locally the jobs are inserted in bulk before the server starts; against a running
// server they are submitted through SubmitJob before the workers start.
func runDrain(ctx context.Context, r *run, p drainParams) (*Report, error) {
	started := time.Now()
	if r.o.remote() {
		if err := r.connectRemote(ctx); err != nil {
			return nil, err
		}
		r.progress("submitting %d jobs to %s through SubmitJob", p.jobs, r.o.ServerAddr)
		if err := r.submitMany(ctx, p.jobs, p.payload); err != nil {
			return nil, err
		}
	} else {
		if err := r.createDatabase(ctx, 4); err != nil {
			return nil, err
		}
		names := r.queueNames(p)
		r.progress("inserting %d jobs into %d queue(s) of %s", p.jobs, len(names), r.db.name)
		for i, q := range names {
			if q != r.queue {
				if _, err := r.pool.Exec(ctx, `SELECT jq.create_queue($1)`, q); err != nil {
					return nil, fmt.Errorf("create queue %s: %w", q, err)
				}
			}
			// An even share, the first queues taking the remainder.
			n := p.jobs / len(names)
			if i < p.jobs%len(names) {
				n++
			}
			if n > 0 {
				if err := insertJobs(ctx, r.pool, q, n, p.payload, 2); err != nil {
					return nil, err
				}
			}
		}
		if err := vacuumJobs(ctx, r.pool); err != nil {
			return nil, err
		}
	}
	insertTime := time.Since(started)
	if p.maxRunning > 0 {
		var err error
		if n := int32(p.maxRunning); r.o.remote() {
			_, err = r.admin.UpdateQueue(ctx, &jqv1.UpdateQueueRequest{Name: r.queue, MaxRunning: &n})
		} else {
			_, err = r.pool.Exec(ctx, `SELECT jq.set_queue_limits($1, max_running => $2)`, r.queue, p.maxRunning)
		}
		if err != nil {
			return nil, fmt.Errorf("set max_running %d on queue %s: %w", p.maxRunning, r.queue, err)
		}
	}
	if !r.o.remote() {
		cfg := r.serverConfig()
		if p.tweak != nil {
			p.tweak(cfg)
		}
		if err := r.startServer(ctx, cfg); err != nil {
			return nil, err
		}
	}
	servers, err := r.startMoreServers(ctx, p.servers, p.tweak)
	if err != nil {
		return nil, err
	}
	before, _, _ := r.cycles(ctx)
	var queriesBefore map[string]queryTime
	if r.server != nil {
		queriesBefore, _ = gatherQueryTimes(r.server.reg)
	}

	var rec *recorder
	if p.kind == noopJobs || r.o.Procs == 0 {
		rec = newRecorder(0)
	}
	r.progress("draining with %s", describeWorkers(r.o, p.kind))
	t0 := time.Now()
	f, err := r.startFleet(ctx, fleetSpec{
		kind: p.kind, name: "jq-bench-" + r.id, inProcess: r.o.Workers * max(1, p.servers), procs: r.o.Procs * max(1, p.servers),
		concurrency: r.o.Concurrency, queue: strings.Join(r.queueNames(p), ","), rec: rec, servers: servers,
	})
	if err != nil {
		return nil, err
	}
	defer r.stopFleet(f)
	if rec != nil {
		if err := rec.waitDone(ctx, p.jobs, func() error { return r.deadLettered(ctx) }); err != nil {
			return nil, err
		}
	}
	if p.queues > 1 {
		if err := r.waitAllDone(ctx, p.jobs); err != nil {
			return nil, err
		}
	} else if err := r.waitJobsDone(ctx, p.jobs); err != nil {
		return nil, err
	}
	allDone := time.Now()
	wall := allDone.Sub(t0)
	cycleP95 := r.cycleP95(ctx, before)
	var queries []queryTime
	if queriesBefore != nil {
		if after, err := gatherQueryTimes(r.server.reg); err == nil {
			queries = topQueries(queriesBefore, after, 8)
		}
	}
	r.stopFleet(f)

	window, source := wall, "wall clock: workers started → all DONE seen"
	rep := r.report(ctx, started, nil)
	if r.pool != nil {
		if window, err = drainWindow(ctx, r.pool, 0); err != nil {
			return nil, err
		}
		source = "database: first claim → last completion"
		var events int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM jq.job_events`).Scan(&events); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		rep.Extra = map[string]any{"job_events_per_job": round(float64(events)/float64(p.jobs), 2)}
		rep.Rows = append(rep.Rows, Row{"job_events rows per job", formatNumber(float64(events) / float64(p.jobs))})
	} else if rec != nil {
		window = time.Duration(allDone.UnixNano() - rec.first.Load())
		source = "wall clock: first job started → all DONE seen"
	}
	if rep.Extra == nil {
		rep.Extra = map[string]any{}
	}
	jps := float64(p.jobs) / window.Seconds()
	rep.JobsPerSec = &jps
	rep.SchedulerCycleP95 = cycleP95
	rep.PeakRSS = r.peakRSS(f)
	rep.Extra["jobs"] = p.jobs
	rep.Extra["drain_s"] = round(window.Seconds(), 3)
	rep.Extra["drain_measured_by"] = source
	rep.Extra["wall_s"] = round(wall.Seconds(), 3)
	rep.Extra["fill_s"] = round(insertTime.Seconds(), 3)
	if len(queries) > 0 {
		// Where the server's database time went: the claim, the starts, the completions.
		rep.Extra["server_queries"] = queries
		var b strings.Builder
		for i, q := range queries[:min(len(queries), 4)] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s × %.2f ms", q.Query, formatNumber(float64(q.Count)), q.AvgMS)
		}
		rep.Rows = append(rep.Rows, Row{"server queries (most time)", b.String()})
	}
	rep.Rows = append([]Row{
		{"jobs", formatNumber(float64(p.jobs))},
		{"drain time", fmt.Sprintf("%.3f s (%s)", window.Seconds(), source)},
		{"wall time", fmt.Sprintf("%.3f s (workers started → all DONE seen)", wall.Seconds())},
		{"queue filled in", fmt.Sprintf("%.2f s", insertTime.Seconds())},
	}, rep.Rows...)
	rep.Parameters = r.o.parameters(flagsServer | flagsWorkers)
	rep.Parameters["jobs"] = p.jobs
	if cycleP95 != nil {
		rep.Targets = append(rep.Targets, atMost("scheduler cycle p95 under load", *cycleP95, cycleP95Target, "ms"))
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

// describeWorkers says which workers a run uses, for progress lines.
func describeWorkers(o Options, kind payloadKind) string {
	switch {
	case o.Procs > 0 && kind == noopJobs:
		return fmt.Sprintf("%d no-op worker process(es) (jq-bench noop-worker) × concurrency %d", o.Procs, o.Concurrency)
	case o.Procs > 0:
		return fmt.Sprintf("%d jq-worker process(es) × concurrency %d", o.Procs, o.Concurrency)
	case kind == noopJobs:
		return fmt.Sprintf("%d in-process worker(s) × concurrency %d (no-op Go handler over gRPC)", o.Workers, o.Concurrency)
	default:
		return fmt.Sprintf("%d in-process worker(s) × concurrency %d (worker.Exec subprocesses)", o.Workers, o.Concurrency)
	}
}

// submitMany submits n jobs through SubmitJob from 32 concurrent callers.
func (r *run) submitMany(ctx context.Context, n int, payload []byte) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := r.jobs.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: r.queue, Payload: payload}); err != nil {
					errs <- fmt.Errorf("submit: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// burnScenario: pre-inserted no-op jobs drained through the whole server; maxRunning > 0 puts
// the queue under flow control, to measure its cost.
func burnScenario(ctx context.Context, r *run, jobs, maxRunning int) (*Report, error) {
	rep, err := runDrain(ctx, r, drainParams{jobs: jobs, kind: noopJobs, payload: noopPayload, maxRunning: maxRunning})
	if err != nil {
		return nil, err
	}
	if maxRunning > 0 {
		rep.Parameters["max_running"] = maxRunning
		rep.Notes = append(rep.Notes, fmt.Sprintf("the queue is under flow control: max_running %d", maxRunning))
	}
	name := "burn jobs/s"
	if r.o.Procs == 1 {
		name = "burn jobs/s (1 server + 1 worker process)"
	} else {
		rep.Notes = append(rep.Notes, "the burn target is defined for 1 server + 1 worker process (--procs 1)")
	}
	rep.Targets = append([]Target{atLeast(name, *rep.JobsPerSec, burnTarget, "jobs/s")}, rep.Targets...)
	return rep, nil
}

// subprocessScenario: burn with real subprocess payloads, the fork/exec bound.
func subprocessScenario(ctx context.Context, r *run, jobs int) (*Report, error) {
	rep, err := runDrain(ctx, r, drainParams{jobs: jobs, kind: commandJobs, payload: truePayload})
	if err != nil {
		return nil, err
	}
	rep.Parameters["payload"] = string(truePayload)
	rep.Notes = append(rep.Notes, "each job forks and execs `true`: this is the fork/exec bound of a worker, not the server's")
	return rep, nil
}

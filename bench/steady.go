package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	grpclib "google.golang.org/grpc"

	"github.com/jqhq/jq/client"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Targets of the steady scenario.
const (
	steadyStartP50Target   = 5.0   // ms, submit→start at 1,000 jobs/s, notifications on
	steadyStartP99Target   = 25.0  // ms
	steadyPollP99Target    = 600.0 // ms, notifications off (poll only, 500 ms)
	steadySubmitConnection = 4     // gRPC connections the submitters share
)

// steadyParams describe a steady run.
type steadyParams struct {
	rate     float64
	duration time.Duration
	clients  int
	drain    time.Duration // how long to wait for the last jobs after the offering ends
	// pressure, when set, pins the xmin horizon in the middle of the run (idle-in-tx,
	// active-readers); duration is then the sum of its phases.
	pressure *pressureParams
	// queues > 1 spreads the jobs over that many queues in turn (<queue>-0001, …), every
	// worker taking them all: the claim over several queues.
	queues int
}

// checkQueues is the check of a scenario's --queues.
func checkQueues(o *Options, queues int) error {
	switch {
	case queues < 1 || queues > 10000:
		return fmt.Errorf("--queues %d is outside 1-10000", queues)
	case queues > 1 && o.remote():
		return errors.New("--queues over 1 needs the in-process server (it creates the queues in the run's database)")
	}
	return nil
}

// steadyScenario offers rate jobs/s through SubmitJob for duration, from clients concurrent
// callers paced by one token bucket, to no-op workers that record when each job started and
// ended. Jobs are numbered in their payload ({"seq": n}); the submit time is taken just
// before the call. Latencies are exact percentiles over every job.
func steadyScenario(ctx context.Context, r *run, p steadyParams) (*Report, error) {
	started := time.Now()
	if err := r.prepareServer(ctx); err != nil {
		return nil, err
	}
	names := r.queueNames(drainParams{queues: p.queues})
	for _, q := range names {
		if q == r.queue {
			continue
		}
		if _, err := r.pool.Exec(ctx, `SELECT jq.create_queue($1)`, q); err != nil {
			return nil, fmt.Errorf("create queue %s: %w", q, err)
		}
	}
	n := int(p.rate*p.duration.Seconds()) + 1
	rec := newRecorder(n)
	f, err := r.startFleet(ctx, fleetSpec{
		kind: noopJobs, name: "jq-bench-" + r.id, inProcess: r.o.Workers, procs: r.o.Procs,
		concurrency: r.o.Concurrency, queue: strings.Join(names, ","), rec: rec,
	})
	if err != nil {
		return nil, err
	}
	defer r.stopFleet(f)

	clients := make([]jqv1.JobServiceClient, steadySubmitConnection)
	for i := range clients {
		conn, err := client.Dial(r.addr, client.Options{Token: r.token})
		if err != nil {
			return nil, err
		}
		r.onClose(func() { _ = conn.Close() })
		clients[i] = jqv1.NewJobServiceClient(conn)
		warmUp(ctx, conn)
	}

	before, _, _ := r.cycles(ctx)
	r.progress("offering %s jobs/s for %s from %d clients to %s", formatNumber(p.rate), p.duration, p.clients, describeWorkers(r.o, noopJobs))
	var pressure *pressureRun
	pctx, stopPressure := context.WithCancel(ctx)
	pressureDone := make(chan struct{})
	if p.pressure != nil {
		start := time.Now()
		go func() { defer close(pressureDone); pressure = r.applyPressure(pctx, *p.pressure, start) }()
	} else {
		close(pressureDone)
	}
	offer := r.offer(ctx, clients, rec, p, names, n)
	stopPressure()
	<-pressureDone
	if offer.submitted == 0 {
		return nil, fmt.Errorf("no job could be submitted: %w", offer.firstErr)
	}

	dctx, cancel := context.WithTimeout(ctx, p.drain)
	defer cancel()
	if err := rec.waitDone(dctx, offer.submitted, func() error { return r.deadLettered(ctx) }); err != nil {
		return nil, fmt.Errorf("after the offering: %w", err)
	}
	wait := r.waitJobsDone
	if len(names) > 1 {
		wait = r.waitAllDone
	}
	if err := wait(dctx, offer.submitted); err != nil {
		return nil, fmt.Errorf("after the offering: %w", err)
	}
	cycleP95 := r.cycleP95(ctx, before)
	r.stopFleet(f)

	// submit→done: the DONE row's completed_at where the database is at hand (same host, one
	// clock), else the handler's return.
	doneAt := make([]int64, offer.issued)
	doneSource := "handler returned"
	if r.pool != nil {
		doneSource = "the job's completed_at in the database"
		rows, err := r.pool.Query(ctx, `SELECT (payload->>'seq')::int, completed_at FROM jq.jobs WHERE status = 'DONE'`)
		if err != nil {
			return nil, fmt.Errorf("read completions: %w", err)
		}
		for rows.Next() {
			var seq int
			var at time.Time
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read completions: %w", err)
			}
			if seq >= 0 && seq < len(doneAt) {
				doneAt[seq] = at.UnixNano()
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read completions: %w", err)
		}
	} else {
		for i := range doneAt {
			doneAt[i] = rec.end[i].Load()
		}
	}
	var toStart, toDone, rpc []time.Duration
	var firstSubmit, lastDone int64
	for i := range offer.issued {
		sub, st := rec.submit[i].Load(), rec.start[i].Load()
		if sub == 0 || st == 0 {
			continue
		}
		if firstSubmit == 0 || sub < firstSubmit {
			firstSubmit = sub
		}
		toStart = append(toStart, time.Duration(st-sub))
		rpc = append(rpc, time.Duration(rec.answer[i].Load()-sub))
		if d := doneAt[i]; d != 0 {
			toDone = append(toDone, time.Duration(d-sub))
			lastDone = max(lastDone, d)
		}
	}

	rep := r.report(ctx, started, r.o.parameters(flagsServer|flagsWorkers))
	rep.Parameters["rate"] = p.rate
	rep.Parameters["duration_s"] = p.duration.Seconds()
	rep.Parameters["clients"] = p.clients
	rep.Parameters["queues"] = len(names)
	achieved := float64(offer.submitted) / offer.elapsed.Seconds()
	jps := float64(len(toDone)) / time.Duration(lastDone-firstSubmit).Seconds()
	rep.JobsPerSec = &jps
	rep.SubmitToStart = percentiles(toStart)
	rep.SubmitToDone = percentiles(toDone)
	rep.SchedulerCycleP95 = cycleP95
	rep.PeakRSS = r.peakRSS(f)
	submitRPC := percentiles(rpc)
	rep.Extra = map[string]any{
		"submit_rpc_ms":        submitRPC,
		"offered_rate":         p.rate,
		"achieved_submit_rate": round(achieved, 1),
		"submitted":            offer.submitted,
		"submit_errors":        offer.errors,
		"done_measured_at":     doneSource,
	}
	rep.Rows = []Row{
		{"offered / achieved submit rate", fmt.Sprintf("%s / %s jobs/s (%d submitted, %d errors)", formatNumber(p.rate), formatNumber(achieved), offer.submitted, offer.errors)},
		{"done measured at", doneSource},
	}
	if submitRPC != nil {
		rep.Rows = append(rep.Rows, Row{"SubmitJob call p50 / p90 / p99 / max", fmt.Sprintf("%s / %s / %s / %s ms",
			formatNumber(submitRPC.P50), formatNumber(submitRPC.P90), formatNumber(submitRPC.P99), formatNumber(submitRPC.Max))})
	}
	if achieved < 0.98*p.rate {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the offered rate was not met (%.0f of %.0f jobs/s): the submitters or the server could not keep up; raise --clients", achieved, p.rate))
	}
	if offer.firstErr != nil {
		rep.Notes = append(rep.Notes, "first submit error: "+offer.firstErr.Error())
	}
	if st := rep.SubmitToStart; st != nil && !r.o.remote() {
		switch {
		case r.o.Notify && p.rate == 1000:
			rep.Targets = append(rep.Targets,
				atMost("submit→start p50 at 1,000 jobs/s", st.P50, steadyStartP50Target, "ms"),
				atMost("submit→start p99 at 1,000 jobs/s", st.P99, steadyStartP99Target, "ms"))
		case r.o.Notify:
			rep.Notes = append(rep.Notes, "the submit→start targets are defined at --rate 1000")
		case r.o.SchedulerInterval == 500*time.Millisecond:
			rep.Targets = append(rep.Targets, atMost("submit→start p99, poll only (500 ms)", st.P99, steadyPollP99Target, "ms"))
		}
	}
	if cycleP95 != nil {
		rep.Targets = append(rep.Targets, atMost("scheduler cycle p95 under load", *cycleP95, cycleP95Target, "ms"))
	}
	if pressure != nil {
		reportPressure(rep, rec, offer.issued, pressure, *p.pressure, achieved/p.rate)
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

// reportPressure adds a pressure window's figures: latency by phase, recovery, the hot tables
// over time.
func reportPressure(rep *Report, rec *recorder, issued int, pr *pressureRun, p pressureParams, rateHeld float64) {
	phases, recovered, ok := pressurePhases(rec, issued, pr)
	rep.Parameters["pressure"] = p.kind
	rep.Parameters["baseline_s"], rep.Parameters["pin_s"], rep.Parameters["after_s"] = p.baseline.Seconds(), p.pin.Seconds(), p.after.Seconds()
	if p.kind == pressureActiveReaders {
		rep.Parameters["readers"] = p.readers
		rep.Parameters["reader_pause_s"] = p.pause.Seconds()
	}
	rep.Extra["submit_to_start_by_phase_ms"] = phases
	rep.Extra["mvcc_samples"] = pr.samples
	for _, name := range []string{"baseline", "pinned", "after"} {
		if ph := phases[name]; ph != nil {
			rep.Rows = append(rep.Rows, Row{"submit→start " + name, fmt.Sprintf("p50 %s ms, p99 %s ms, max %s ms (%d jobs)",
				formatNumber(ph.P50), formatNumber(ph.P99), formatNumber(ph.Max), ph.Count)})
		}
	}
	if n := len(pr.samples); n > 0 {
		first, peak := pr.samples[0], pr.samples[0]
		for _, s := range pr.samples {
			if s.JobsDead+s.EventsDead > peak.JobsDead+peak.EventsDead {
				peak = s
			}
		}
		last := pr.samples[n-1]
		rep.Rows = append(rep.Rows,
			Row{"dead tuples jobs + job_events", fmt.Sprintf("%s at start, %s at peak (%.0f s), %s at the end",
				formatNumber(float64(first.JobsDead+first.EventsDead)), formatNumber(float64(peak.JobsDead+peak.EventsDead)), peak.At,
				formatNumber(float64(last.JobsDead+last.EventsDead)))},
			Row{"jq.jobs indexes", fmt.Sprintf("%.1f MB at start, %.1f MB at the end", first.JobsIndexesMB, last.JobsIndexesMB)})
	}
	if pr.err != nil {
		rep.Notes = append(rep.Notes, "the pressure sessions failed: "+pr.err.Error())
	}
	if base, pinned := phases["baseline"], phases["pinned"]; base != nil && pinned != nil {
		rep.Targets = append(rep.Targets, atMost("submit→start p99 pinned ÷ baseline", pinned.P99/base.P99, pressureP99Ratio, "×"))
	}
	rep.Targets = append(rep.Targets, atLeast("offered rate held", rateHeld, 0.98, "×"))
	if ok {
		rep.Extra["recovered_after_release_s"] = recovered.Seconds()
		rep.Targets = append(rep.Targets, atMost("back to baseline after the release", recovered.Seconds(), pressureRecoverLimit.Seconds(), "s"))
	} else {
		rep.Targets = append(rep.Targets, Target{Name: "back to baseline after the release", Goal: "≤ 30 s", Met: false})
		rep.Notes = append(rep.Notes, "the latency did not come back to the baseline before the run ended")
	}
	if rep.Environment.Autovacuum == "off" {
		rep.Notes = append(rep.Notes, "autovacuum is off on this PostgreSQL server: nothing removes the dead row versions after "+
			"the release, so the latency cannot come back to the baseline; measure on a server with autovacuum on")
	}
}

// offerResult is what the submitters achieved.
type offerResult struct {
	issued    int // tokens handed out (jobs numbered 0..issued-1)
	submitted int
	errors    int
	firstErr  error
	elapsed   time.Duration // first token to last submit answered
}

// offer paces submissions with a token bucket: token i is due at start + i/rate, and each
// token is one SubmitJob by whichever of the clients is free. A late token is handed out at
// once, so a stall is caught up rather than skipped; the achieved rate says whether the
// offered one was met.
func (r *run) offer(ctx context.Context, clients []jqv1.JobServiceClient, rec *recorder, p steadyParams, queues []string, n int) offerResult {
	tokens := make(chan int, p.clients)
	var submitted, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var lastAnswer atomic.Int64
	var wg sync.WaitGroup
	for c := range p.clients {
		client := clients[c%len(clients)]
		wg.Go(func() {
			for seq := range tokens {
				rec.submit[seq].Store(time.Now().UnixNano())
				_, err := client.SubmitJob(ctx, &jqv1.SubmitJobRequest{QueueName: queues[seq%len(queues)], Payload: seqPayload(seq)})
				now := time.Now().UnixNano()
				rec.answer[seq].Store(now)
				if err != nil {
					rec.submit[seq].Store(0)
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				submitted.Add(1)
				for {
					l := lastAnswer.Load()
					if now <= l || lastAnswer.CompareAndSwap(l, now) {
						break
					}
				}
			}
		})
	}

	start := time.Now()
	issued := 0
	ticker := time.NewTicker(time.Millisecond)
loop:
	for issued < n {
		due := min(int(time.Since(start).Seconds()*p.rate)+1, n)
		for issued < due {
			select {
			case tokens <- issued:
				issued++
			case <-ctx.Done():
				break loop
			}
		}
		if time.Since(start) >= p.duration {
			break
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			break loop
		}
	}
	ticker.Stop()
	close(tokens)
	wg.Wait()
	res := offerResult{issued: issued, submitted: int(submitted.Load()), errors: int(failed.Load())}
	if e := firstErr.Load(); e != nil {
		res.firstErr = *e
	}
	if l := lastAnswer.Load(); l > 0 {
		res.elapsed = time.Duration(l - start.UnixNano())
	}
	return res
}

// warmUp opens a connection before the measurement, so the first submits do not pay for it.
func warmUp(ctx context.Context, conn *grpclib.ClientConn) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = jqv1.NewJobServiceClient(conn).GetJobStatus(wctx, &jqv1.GetJobStatusRequest{JobId: uuid.NewString()})
}

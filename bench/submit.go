package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jqhq/jq/client"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// Targets of the submit scenario (issue 17): one job per SubmitJob call, and SubmitJobs.
const (
	submitCallsTarget = 15000.0 // calls/s
	submitP99Target   = 25.0    // ms
	submitBatchTarget = 50000.0 // jobs/s through SubmitJobs
)

// submitParams describe a submit run.
type submitParams struct {
	duration time.Duration
	clients  int
	conns    int
	batch    int // jobs per SubmitJobs call; 0: SubmitJob, one job per call
}

// submitScenario submits no-op jobs as fast as clients concurrent callers over conns gRPC
// connections can, for duration, with no worker running: the throughput and latency of the
// submit path alone (validation, the inserter's batches, the commit).
func submitScenario(ctx context.Context, r *run, p submitParams) (*Report, error) {
	started := time.Now()
	if err := r.prepareServer(ctx); err != nil {
		return nil, err
	}
	clients := make([]jqv1.JobServiceClient, p.conns)
	for i := range clients {
		conn, err := client.Dial(r.addr, client.Options{Token: r.token})
		if err != nil {
			return nil, err
		}
		r.onClose(func() { _ = conn.Close() })
		clients[i] = jqv1.NewJobServiceClient(conn)
		warmUp(ctx, conn)
	}
	what := "SubmitJob, 1 job per call"
	if p.batch > 0 {
		what = fmt.Sprintf("SubmitJobs, %d jobs per call", p.batch)
	}
	r.progress("submitting for %s from %d callers over %d connections (%s)", p.duration, p.clients, p.conns, what)

	one := &jqv1.SubmitJobRequest{QueueName: r.queue, Payload: noopPayload}
	batch := &jqv1.SubmitJobsRequest{}
	for range p.batch {
		batch.Jobs = append(batch.Jobs, one)
	}
	// Callers start calls until the deadline and let the last ones finish: a call is never cut,
	// so each one counted is acknowledged, and the window ends with the last answer.
	var mu sync.Mutex
	var latencies []time.Duration
	var failures int
	var firstErr error
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(p.duration)
	for i := range p.clients {
		jobs := clients[i%len(clients)]
		wg.Go(func() {
			var mine []time.Duration
			var failed int
			var ferr error
			for ctx.Err() == nil && time.Now().Before(deadline) {
				begin := time.Now()
				var err error
				if p.batch > 0 {
					_, err = jobs.SubmitJobs(ctx, batch)
				} else {
					_, err = jobs.SubmitJob(ctx, one)
				}
				if err != nil {
					failed++
					if ferr == nil {
						ferr = err
					}
					continue
				}
				mine = append(mine, time.Since(begin))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += failed
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	window := time.Since(t0)
	if len(latencies) == 0 {
		return nil, fmt.Errorf("no submit succeeded: %w", firstErr)
	}

	calls := len(latencies)
	jobsPerCall := max(p.batch, 1)
	callsPerSec := float64(calls) / window.Seconds()
	jps := callsPerSec * float64(jobsPerCall)
	lat := percentiles(latencies)
	rep := r.report(ctx, started, nil)
	rep.JobsPerSec = &jps
	rep.Parameters = r.o.parameters(flagsServer)
	rep.Parameters["duration_s"] = p.duration.Seconds()
	rep.Parameters["clients"] = p.clients
	rep.Parameters["connections"] = p.conns
	rep.Parameters["batch"] = p.batch
	rep.Extra = map[string]any{
		"calls": calls, "calls_per_sec": round(callsPerSec, 1), "jobs": calls * jobsPerCall,
		"failed_calls": failures, "call_ms": lat,
	}
	rep.Rows = []Row{
		{"calls", fmt.Sprintf("%s in %.1f s (%s)", formatNumber(float64(calls)), window.Seconds(), what)},
		{"calls/s", formatNumber(callsPerSec)},
		{"call latency", fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms", lat.P50, lat.P90, lat.P99, lat.Max)},
		{"failed calls", formatNumber(float64(failures))},
	}
	if failures > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d calls failed; the first: %v", failures, firstErr))
	}
	if p.batch > 0 {
		rep.Targets = append(rep.Targets, atLeast("SubmitJobs jobs/s", jps, submitBatchTarget, "jobs/s"))
	} else {
		rep.Targets = append(rep.Targets,
			atLeast("SubmitJob calls/s", callsPerSec, submitCallsTarget, "calls/s"),
			atMost("SubmitJob p99", lat.P99, submitP99Target, "ms"))
	}
	if r.pool != nil {
		var n int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs`).Scan(&n); err == nil && n != calls*jobsPerCall {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the database holds %d jobs for %d acknowledged", n, calls*jobsPerCall))
		}
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

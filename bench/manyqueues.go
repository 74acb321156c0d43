package bench

import (
	"context"
	"fmt"
	"time"
)

// Targets of the many-queues scenario (issue 17).
const (
	manyQueuesRatioTarget = 0.8 // throughput over many queues ÷ the same jobs in one queue
)

// manyQueuesScenario drains jobs spread over many queues, every worker taking them all, then
// the same number of jobs in one queue, each on its own database and server: the cost of the
// claim's merge of many queues.
func manyQueuesScenario(ctx context.Context, r *run, queues, perQueue int) (*Report, error) {
	started := time.Now()
	jobs := queues * perQueue
	many, err := r.subRun(func(lr *run) (*Report, error) {
		lr.progress("%d queues × %s jobs", queues, formatNumber(float64(perQueue)))
		return runDrain(ctx, lr, drainParams{jobs: jobs, kind: noopJobs, payload: noopPayload, queues: queues})
	})
	if err != nil {
		return nil, fmt.Errorf("%d queues: %w", queues, err)
	}
	one, err := r.subRun(func(lr *run) (*Report, error) {
		lr.progress("the same %s jobs in one queue", formatNumber(float64(jobs)))
		return runDrain(ctx, lr, drainParams{jobs: jobs, kind: noopJobs, payload: noopPayload})
	})
	if err != nil {
		return nil, fmt.Errorf("one queue: %w", err)
	}

	rep := r.report(ctx, started, r.o.parameters(flagsServer|flagsWorkers))
	rep.Parameters["queues"], rep.Parameters["jobs_per_queue"] = queues, perQueue
	rep.JobsPerSec = many.JobsPerSec
	rep.SchedulerCycleP95 = many.SchedulerCycleP95
	rep.PeakRSS = many.PeakRSS
	ratio := *many.JobsPerSec / *one.JobsPerSec
	rep.Extra = map[string]any{
		"jobs":                          jobs,
		"jobs_per_sec_one_queue":        round(*one.JobsPerSec, 1),
		"ratio_many_to_one":             round(ratio, 3),
		"scheduler_cycle_p95_one_queue": one.SchedulerCycleP95,
	}
	rep.Rows = []Row{
		{"jobs", fmt.Sprintf("%s in %d queues of %s", formatNumber(float64(jobs)), queues, formatNumber(float64(perQueue)))},
		{"jobs/s, many queues / one queue", fmt.Sprintf("%s / %s (%.2f×)", formatNumber(*many.JobsPerSec), formatNumber(*one.JobsPerSec), ratio)},
	}
	rep.Targets = append(rep.Targets, atLeast("many queues ÷ one queue, jobs/s", ratio, manyQueuesRatioTarget, "×"))
	if many.SchedulerCycleP95 != nil {
		rep.Targets = append(rep.Targets, atMost("scheduler cycle p95 over many queues", *many.SchedulerCycleP95, cycleP95Target, "ms"))
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

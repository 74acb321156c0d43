package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Targets of the backlog scenario.
const (
	backlogRatioTarget = 0.8   // throughput at the deepest backlog / at the shallowest
	backlogRSSTarget   = 150.0 // MB, server at 1M pending with 50 connected workers
)

// backlogParams describe a backlog run.
type backlogParams struct {
	backlogs []int
	measure  int
}

// backlogLevel is the outcome at one depth.
type backlogLevel struct {
	Backlog    int      `json:"backlog"`
	JobsPerSec float64  `json:"jobs_per_sec"`
	DrainS     float64  `json:"drain_s"`
	FillS      float64  `json:"fill_s"`
	CycleP95MS *float64 `json:"scheduler_cycle_p95_ms"`
	// ServerRSSMB is the largest RSS of this process sampled while the level drained.
	ServerRSSMB float64 `json:"server_rss_mb"`
	// workerRSS is the largest peak RSS of the worker processes, if any.
	workerRSS float64
}

// backlogScenario measures burn throughput at several depths of pending jobs. For each depth B
// a fresh database receives B + measure jobs (so at least B stay pending throughout), the
// server and workers start, and the time to drain the first measure jobs is taken from the
// database (first claim → measure-th completion). Throughput must not fall with depth.
func backlogScenario(ctx context.Context, r *run, p backlogParams) (*Report, error) {
	started := time.Now()
	var levels []backlogLevel
	for _, b := range p.backlogs {
		lvl, err := r.measureBacklog(ctx, b, p.measure)
		if err != nil {
			return nil, fmt.Errorf("backlog %d: %w", b, err)
		}
		r.progress("backlog %s: %s jobs/s", formatNumber(float64(b)), formatNumber(lvl.JobsPerSec))
		levels = append(levels, lvl)
	}

	rep := r.report(ctx, started, r.o.parameters(flagsServer|flagsWorkers))
	rep.Parameters["backlogs"] = (*intList)(&p.backlogs).String()
	rep.Parameters["measure"] = p.measure
	shallow, deep := levels[0], levels[len(levels)-1]
	ratio := deep.JobsPerSec / shallow.JobsPerSec
	rep.JobsPerSec = ptr(deep.JobsPerSec)
	rep.SchedulerCycleP95 = deep.CycleP95MS
	rep.PeakRSS = PeakRSS{Server: ptr(selfPeakRSSMB()), Scope: "server: the jq-bench process (in-process server and harness, and in-process workers if any); workers: largest worker process"}
	if r.o.Procs > 0 {
		peak := 0.0
		for _, l := range levels {
			peak = max(peak, l.workerRSS)
		}
		rep.PeakRSS.Workers = &peak
	}
	rep.Extra = map[string]any{
		"levels":                   levels,
		"ratio_deepest_to_least":   round(ratio, 3),
		"server_rss_at_deepest_mb": deep.ServerRSSMB,
	}
	for _, l := range levels {
		cycle := "n/a"
		if l.CycleP95MS != nil {
			cycle = formatNumber(*l.CycleP95MS) + " ms"
		}
		rep.Rows = append(rep.Rows, Row{
			"backlog " + formatNumber(float64(l.Backlog)),
			fmt.Sprintf("%s jobs/s (%s jobs in %.2f s; cycle p95 %s; RSS %s MB; filled in %.1f s)",
				formatNumber(l.JobsPerSec), formatNumber(float64(p.measure)), l.DrainS, cycle, formatNumber(l.ServerRSSMB), l.FillS),
		})
	}
	rep.Rows = append(rep.Rows, Row{"deepest / shallowest", fmt.Sprintf("%.3f", ratio)})
	rep.Targets = append(rep.Targets, atLeast(fmt.Sprintf("throughput at backlog %s / at %s", shortCount(deep.Backlog), shortCount(shallow.Backlog)), ratio, backlogRatioTarget, "×"))
	workers := r.o.Workers
	if r.o.Procs > 0 {
		workers = r.o.Procs
	}
	name := fmt.Sprintf("server RSS at %s pending, %d workers", shortCount(deep.Backlog), workers)
	rep.Targets = append(rep.Targets, atMost(name, deep.ServerRSSMB, backlogRSSTarget, "MB"))
	if deep.Backlog < 1_000_000 || workers != 50 {
		rep.Notes = append(rep.Notes, "the RSS target is defined at 1M pending jobs with 50 connected workers")
	}
	if r.o.Procs == 0 {
		rep.Notes = append(rep.Notes, "in-process workers: the server RSS includes them; --procs 50 measures the server alone")
	}
	for _, l := range levels {
		if l.CycleP95MS != nil {
			rep.Targets = append(rep.Targets, atMost("scheduler cycle p95 at backlog "+shortCount(l.Backlog), *l.CycleP95MS, cycleP95Target, "ms"))
		}
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

// measureBacklog measures one depth on its own database and server.
func (r *run) measureBacklog(ctx context.Context, backlog, measure int) (backlogLevel, error) {
	lr, err := newRun(r.scenario, r.o, r.stderr)
	if err != nil {
		return backlogLevel{}, err
	}
	defer lr.close()
	if err := lr.createDatabase(ctx, 4); err != nil {
		return backlogLevel{}, err
	}
	total := backlog + measure
	lr.progress("backlog %s: inserting %s jobs into %s", formatNumber(float64(backlog)), formatNumber(float64(total)), lr.db.name)
	fillStart := time.Now()
	if err := insertJobs(ctx, lr.pool, lr.queue, total, noopPayload, 2); err != nil {
		return backlogLevel{}, err
	}
	if err := vacuumJobs(ctx, lr.pool); err != nil {
		return backlogLevel{}, err
	}
	fill := time.Since(fillStart)
	if err := lr.startServer(ctx, lr.serverConfig()); err != nil {
		return backlogLevel{}, err
	}
	before, _, _ := lr.cycles(ctx)
	rec := newRecorder(0)
	f, err := lr.startFleet(ctx, fleetSpec{
		kind: noopJobs, name: "jq-bench-" + lr.id, inProcess: r.o.Workers, procs: r.o.Procs,
		concurrency: r.o.Concurrency, queue: lr.queue, rec: rec,
	})
	if err != nil {
		return backlogLevel{}, err
	}
	defer lr.stopFleet(f)

	rss := 0.0
	sampled := make(chan struct{})
	sctx, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := procStatusMB(0, "VmRSS"); ok {
				rss = max(rss, v)
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	err = rec.waitDone(ctx, measure, func() error { return lr.deadLettered(ctx) })
	stopSampling()
	<-sampled
	if err != nil {
		return backlogLevel{}, err
	}
	cycleP95 := lr.cycleP95(ctx, before)
	lr.stopFleet(f)
	workerRSS := 0.0
	if wr := f.peakRSSMB(); wr != nil {
		workerRSS = *wr
	}
	lr.server.stop()
	window, err := drainWindow(ctx, lr.pool, measure)
	if err != nil {
		return backlogLevel{}, err
	}
	return backlogLevel{
		Backlog: backlog, JobsPerSec: round(float64(measure)/window.Seconds(), 1), DrainS: round(window.Seconds(), 3),
		FillS: round(fill.Seconds(), 2), CycleP95MS: cycleP95, ServerRSSMB: rss, workerRSS: workerRSS,
	}, nil
}

// shortCount prints 10000 as 10k and 1000000 as 1M.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// checkBacklogs validates the depths: positive and ascending.
func checkBacklogs(b []int) error {
	if len(b) == 0 {
		return fmt.Errorf("--backlogs: at least one depth is needed")
	}
	if !slices.IsSorted(b) {
		return fmt.Errorf("--backlogs %v: list the depths in ascending order", b)
	}
	return nil
}

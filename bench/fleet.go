package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// fleetRatioTarget: aggregate throughput with more servers ÷ with one (issue 17: it must not
// fall as servers are added). 0.9, not 1.0: back-to-back runs of the same drain on the 2-core
// box differ by up to ±10 %, and the figure compares separate runs.
const fleetRatioTarget = 0.9

// fleetPoint is one drain of the fleet scenario.
type fleetPoint struct {
	Servers    int     `json:"servers"`
	Redis      bool    `json:"redis"`
	JobsPerSec float64 `json:"jobs_per_sec"`
	// Ratio is JobsPerSec ÷ the one-server figure of the same Redis setting.
	Ratio    float64  `json:"ratio_to_one_server"`
	CycleP95 *float64 `json:"scheduler_cycle_p95_ms,omitempty"`
}

// fleetScenario drains the same pre-inserted no-op jobs with 1, 2, 4… server instances on one
// database, each with --procs worker processes of its own, with Redis locks off and then on:
// whether the servers' claims get in each other's way.
func fleetScenario(ctx context.Context, r *run, jobs int, counts []int) (*Report, error) {
	started := time.Now()
	redisModes := []string{""}
	if r.o.RedisAddr != "" {
		redisModes = append(redisModes, r.o.RedisAddr)
	}
	var points []fleetPoint
	for _, addr := range redisModes {
		var one float64
		for _, n := range counts {
			o := r.o
			o.RedisAddr = addr
			lr, err := newRun(r.scenario, o, r.stderr)
			if err != nil {
				return nil, err
			}
			lr.progress("%d server(s), Redis %s: %s jobs", n, onOff(addr != ""), formatNumber(float64(jobs)))
			sub, err := runDrain(ctx, lr, drainParams{jobs: jobs, kind: noopJobs, payload: noopPayload, servers: n})
			lr.close()
			if err != nil {
				return nil, fmt.Errorf("%d server(s), Redis %s: %w", n, onOff(addr != ""), err)
			}
			if n == counts[0] {
				one = *sub.JobsPerSec
			}
			points = append(points, fleetPoint{
				Servers: n, Redis: addr != "", JobsPerSec: round(*sub.JobsPerSec, 1),
				Ratio: round(*sub.JobsPerSec/one, 3), CycleP95: sub.SchedulerCycleP95,
			})
		}
	}

	rep := r.report(ctx, started, r.o.parameters(flagsServer|flagsWorkers))
	rep.Extra = map[string]any{"jobs": jobs, "points": points}
	rep.Parameters["jobs"] = jobs
	rep.Parameters["servers"] = counts
	var curve [2][]string
	lowest := [2]float64{-1, -1}
	for _, p := range points {
		k := 0
		if p.Redis {
			k = 1
		}
		curve[k] = append(curve[k], fmt.Sprintf("%d: %s (%.2f×)", p.Servers, formatNumber(p.JobsPerSec), p.Ratio))
		if p.Servers != counts[0] && (lowest[k] < 0 || p.Ratio < lowest[k]) {
			lowest[k] = p.Ratio
		}
	}
	rep.Rows = append(rep.Rows, Row{"jobs/s by servers, Redis off", strings.Join(curve[0], ", ")})
	if len(redisModes) > 1 {
		rep.Rows = append(rep.Rows, Row{"jobs/s by servers, Redis on", strings.Join(curve[1], ", ")})
	} else {
		rep.Notes = append(rep.Notes, "Redis on was not measured: give --redis-addr")
	}
	for k, mode := range []string{"off", "on"} {
		if lowest[k] >= 0 {
			rep.Targets = append(rep.Targets, atLeast(
				fmt.Sprintf("lowest jobs/s with more servers ÷ with %d, Redis %s", counts[0], mode), lowest[k], fleetRatioTarget, "×"))
		}
	}
	rep.Notes = append(rep.Notes,
		"the servers are instances in the jq-bench process (each with its own pools, LISTEN connection, scheduler and leader candidacy); every one has its own worker processes",
		"each point drains a fresh database; the target allows the ±10 % that separate runs of the same drain differ by on this box")
	rep.Duration = time.Since(started)
	return rep, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// serverCounts parses --servers: a comma-separated increasing list of server counts, 1-16.
func serverCounts(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 16 {
			return nil, fmt.Errorf("--servers %q: each count must be a whole number from 1 to 16", s)
		}
		if len(counts) > 0 && n <= counts[len(counts)-1] {
			return nil, fmt.Errorf("--servers %q: list the counts in increasing order", s)
		}
		counts = append(counts, n)
	}
	if len(counts) < 2 {
		return nil, fmt.Errorf("--servers %q: give at least two counts to compare, e.g. 1,2,4", s)
	}
	return counts, nil
}

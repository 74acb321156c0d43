package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jqhq/jq/queue"
)

// Overload: the offered load is 1.5× the measured capacity for the fault's duration, half the
// capacity before and after.
const (
	overloadFactor = 1.5
	overloadBase   = 0.5
	// overloadProbeJobs are drained before the load to measure the capacity.
	overloadProbeJobs = 3000
	// overloadRSSTarget bounds each jq-server's peak RSS through the overload, MB.
	overloadRSSTarget = 512.0
)

// measureCapacity measures what the system sustains end to end: first the drain rate of
// overloadProbeJobs pre-inserted jobs ({"probe": n}), c0, an upper bound; then it offers c0
// through SubmitJob for 8 s, as the scenario's load will, and takes the jobs finished per
// second over the last 5 s. The submit path shares the machine with the rest, so the second
// figure is the lower one on a small box. Every probe job is drained before it returns.
func (e *chaosEnv) measureCapacity(ctx context.Context) (float64, error) {
	payloads := make([]json.RawMessage, overloadProbeJobs)
	for i := range payloads {
		payloads[i] = json.RawMessage(fmt.Sprintf(`{"probe":%d}`, -1-i))
	}
	start := time.Now()
	if _, err := queue.NewStore(e.pool).SubmitMany(ctx, "default", payloads, 0); err != nil {
		return 0, fmt.Errorf("capacity probe: %w", err)
	}
	if err := e.waitSettled(ctx, 2*time.Minute); err != nil {
		return 0, fmt.Errorf("capacity probe: %w", err)
	}
	c0 := float64(overloadProbeJobs) / time.Since(start).Seconds()

	probe := &submitter{retryFor: 10 * time.Second, probe: true}
	for _, c := range e.conns {
		probe.clients = append(probe.clients, jobClient(c))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe.run(ctx, c0)
	}()
	probe.stop(time.Now().Add(8 * time.Second))
	countDone := func() (int, error) {
		var n int
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs WHERE status = 'DONE'`).Scan(&n)
		return n, err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return 0, err
	}
	n0, err := countDone()
	t0 := time.Now()
	if err != nil {
		return 0, fmt.Errorf("capacity probe: %w", err)
	}
	<-done
	n1, err := countDone()
	if err != nil {
		return 0, fmt.Errorf("capacity probe: %w", err)
	}
	c := float64(n1-n0) / time.Since(t0).Seconds()
	if err := e.waitSettled(ctx, 2*time.Minute); err != nil {
		return 0, fmt.Errorf("capacity probe: %w", err)
	}
	e.note("capacity: %.0f jobs/s draining %d pre-inserted jobs; %.0f jobs/s finished while %.0f jobs/s were offered through SubmitJob (the capacity used)",
		c0, overloadProbeJobs, c, c0)
	return c, nil
}

// overloadScenario is the overload entry of chaosScenarios.
func overloadScenario() chaosScenario {
	return chaosScenario{
		name: "overload", fault: "offered load 1.5× the measured capacity for --fault, half of it before and after", servers: 1,
		defaults: func(p *chaosParams) {
			p.fault, p.after = 60*time.Second, 90*time.Second
			p.drain = 2 * time.Minute
		},
		prepare: func(ctx context.Context, e *chaosEnv) (float64, error) {
			c, err := e.measureCapacity(ctx)
			if err != nil {
				return 0, err
			}
			e.setExtra("capacity_jobs_per_s", round(c, 1))
			e.note("offered %.0f, then %.0f, then %.0f jobs/s", overloadBase*c, overloadFactor*c, overloadBase*c)
			return overloadBase * c, nil
		},
		inject: func(ctx context.Context, e *chaosEnv) error {
			c := e.extra["capacity_jobs_per_s"].(float64)
			e.markStart()
			e.sub.setRate(overloadFactor * c)
			if err := sleep(ctx, e.p.fault); err != nil {
				return err
			}
			e.sub.setRate(overloadBase * c)
			e.markEnd()
			return nil
		},
		finish: func(_ context.Context, e *chaosEnv, rep *Report) error {
			f := rep.Extra["chaos"].(chaosFigures)
			rep.Targets = append(rep.Targets,
				atMost("submits not accepted (timed out or refused)", float64(f.NotAccepted), 0, "jobs"),
				atMost("jq-server peak RSS", f.ServerPeakRSSMB, overloadRSSTarget, "MB"))
			drained := e.backlogDrainedS()
			rep.Extra["backlog_drained_s"] = drained
			value := drained
			if value < 0 {
				value = e.p.after.Seconds() + 1
				rep.Rows = append(rep.Rows, Row{"backlog drained after the overload", "not within the load"})
			} else {
				rep.Rows = append(rep.Rows, Row{"backlog drained after the overload", fmt.Sprintf("%.1f s", drained)})
			}
			rep.Targets = append(rep.Targets, atMost("backlog drained while the load goes on", value, e.p.after.Seconds(), "s"))
			return nil
		},
	}
}

// backlogDrainedS is the time from the fault's end until the last job submitted before it
// started; -1 when one never did.
func (e *chaosEnv) backlogDrainedS() float64 {
	execs, _, err := readLedger(e.ledger)
	if err != nil {
		return -1
	}
	first := map[string]int64{}
	for _, x := range execs {
		if s, ok := first[x.jobID]; !ok || x.start < s {
			first[x.jobID] = x.start
		}
	}
	e.sub.mu.Lock()
	defer e.sub.mu.Unlock()
	var last int64
	for _, rec := range e.sub.recs {
		if rec.jobID == "" || !rec.at.Before(e.faultEnd) {
			continue
		}
		s, ok := first[rec.jobID]
		if !ok {
			return -1
		}
		last = max(last, s)
	}
	return round(max(0, time.Unix(0, last).Sub(e.faultEnd).Seconds()), 3)
}

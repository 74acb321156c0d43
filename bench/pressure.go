package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// MVCC pressure: another session of the database pins the xmin horizon while jq runs at a
// steady rate, so that vacuum can remove none of the dead row versions jq leaves behind. The
// scenarios (idle-in-tx, active-readers) are steady with a pressure window in the middle.

// Pressure kinds.
const (
	pressureIdleInTx      = "idle-in-tx"
	pressureActiveReaders = "active-readers"
)

// Targets of the pressure scenarios (issue 17).
const (
	pressureP99Ratio     = 2.0              // p99 during the pin ≤ 2 × baseline p99
	pressureRecoverLimit = 30 * time.Second // back to baseline within this of the release
	pressureSampleEvery  = 5 * time.Second
)

// pressureParams describe the pressure window of a steady run: baseline, then pin, then after.
type pressureParams struct {
	kind     string
	baseline time.Duration
	pin      time.Duration
	after    time.Duration
	readers  int
	// pause is how long each reader waits between its scans (0: back to back).
	pause time.Duration
}

func (p pressureParams) total() time.Duration { return p.baseline + p.pin + p.after }

// pressureRun is a pressure window as it happened.
type pressureRun struct {
	pinAt, releaseAt time.Time
	samples          []mvccSample
	err              error
}

// mvccSample is the state of the hot tables at one moment.
type mvccSample struct {
	At              float64 `json:"at_s"` // since the offering began
	JobsDead        int64   `json:"jobs_dead_tuples"`
	EventsDead      int64   `json:"job_events_dead_tuples"`
	JobsIndexesMB   float64 `json:"jobs_indexes_mb"`
	JobsTableMB     float64 `json:"jobs_table_mb"`
	OldestXminAgeS  float64 `json:"oldest_xmin_age_s"`
	pressureApplied bool
}

// applyPressure runs the pressure window of p from start on the run's database, sampling the
// hot tables every pressureSampleEvery until ctx ends. It returns when ctx ends.
func (r *run) applyPressure(ctx context.Context, p pressureParams, start time.Time) *pressureRun {
	out := &pressureRun{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(pressureSampleEvery)
		defer t.Stop()
		for {
			s, err := r.sampleMVCC(ctx, start)
			if err == nil {
				mu.Lock()
				s.pressureApplied = !out.pinAt.IsZero() && out.releaseAt.IsZero()
				out.samples = append(out.samples, s)
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(d))):
			return true
		}
	}
	if wait(p.baseline) {
		pctx, release := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.pin(pctx, p) }()
		mu.Lock()
		out.pinAt = time.Now()
		mu.Unlock()
		r.progress("%s: pinning the xmin horizon for %s", p.kind, p.pin)
		wait(p.baseline + p.pin)
		release()
		err := <-done
		mu.Lock()
		out.releaseAt, out.err = time.Now(), err
		mu.Unlock()
		r.progress("%s: released", p.kind)
	}
	wg.Wait()
	return out
}

// pin holds the pressure until ctx ends: one session idle in a transaction that has an xid,
// or readers scanning jq.jobs in REPEATABLE READ transactions held open.
func (r *run) pin(ctx context.Context, p pressureParams) error {
	sessions := 1
	if p.kind == pressureActiveReaders {
		sessions = p.readers
	}
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() { errs <- r.pinSession(ctx, p.kind, p.pause) })
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func (r *run) pinSession(ctx context.Context, kind string, pause time.Duration) error {
	conn, err := pgx.Connect(context.WithoutCancel(ctx), r.db.url)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", kind, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	bg := context.WithoutCancel(ctx)
	switch kind {
	case pressureIdleInTx:
		if _, err := conn.Exec(bg, `BEGIN; SELECT txid_current()`); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		<-ctx.Done()
	default:
		if _, err := conn.Exec(bg, `BEGIN ISOLATION LEVEL REPEATABLE READ`); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		for ctx.Err() == nil {
			var n, size int64
			if err := conn.QueryRow(bg, `SELECT count(*), coalesce(sum(length(payload::text)), 0) FROM jq.jobs`).Scan(&n, &size); err != nil {
				return fmt.Errorf("%s: scan: %w", kind, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
	_, err = conn.Exec(bg, `ROLLBACK`)
	return err
}

// sampleMVCC reads the dead tuples and sizes of the hot tables and the oldest xmin's age.
func (r *run) sampleMVCC(ctx context.Context, start time.Time) (mvccSample, error) {
	s := mvccSample{At: round(time.Since(start).Seconds(), 1)}
	var jobsIdx, jobsTable int64
	err := r.pool.QueryRow(ctx, `SELECT
			coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = 'jq' AND relname = 'jobs'), 0),
			coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = 'jq' AND relname = 'job_events'), 0),
			pg_indexes_size('jq.jobs'), pg_relation_size('jq.jobs'),
			coalesce((SELECT extract(epoch FROM now() - min(xact_start)) FROM pg_stat_activity
			          WHERE backend_xmin IS NOT NULL OR backend_xid IS NOT NULL), 0)`).
		Scan(&s.JobsDead, &s.EventsDead, &jobsIdx, &jobsTable, &s.OldestXminAgeS)
	s.JobsIndexesMB, s.JobsTableMB = round(float64(jobsIdx)/(1<<20), 2), round(float64(jobsTable)/(1<<20), 2)
	s.OldestXminAgeS = round(s.OldestXminAgeS, 1)
	return s, err
}

// pressurePhases splits the submit→start latencies of a steady run by the phase each job was
// submitted in, and finds when the latency came back after the release: the first
// pressureSampleEvery window after it whose p99 is within 1.5 × the baseline's (or 5 ms of it).
func pressurePhases(rec *recorder, issued int, pr *pressureRun) (phases map[string]*Percentiles, recovered time.Duration, ok bool) {
	var base, during, after []time.Duration
	windows := map[int][]time.Duration{} // index of the window after the release
	for i := range issued {
		sub, st := rec.submit[i].Load(), rec.start[i].Load()
		if sub == 0 || st == 0 {
			continue
		}
		at, lat := time.Unix(0, sub), time.Duration(st-sub)
		switch {
		case pr.pinAt.IsZero() || at.Before(pr.pinAt):
			base = append(base, lat)
		case pr.releaseAt.IsZero() || at.Before(pr.releaseAt):
			during = append(during, lat)
		default:
			after = append(after, lat)
			w := int(at.Sub(pr.releaseAt) / pressureSampleEvery)
			windows[w] = append(windows[w], lat)
		}
	}
	phases = map[string]*Percentiles{"baseline": percentiles(base), "pinned": percentiles(during), "after": percentiles(after)}
	if phases["baseline"] == nil {
		return phases, 0, false
	}
	limit := max(phases["baseline"].P99*1.5, phases["baseline"].P99+5)
	last := -1
	for w := range windows {
		last = max(last, w)
	}
	// The first window from which every later one is within the limit.
	first := -1
	for w := last; w >= 0; w-- {
		p := percentiles(windows[w])
		if p != nil && p.P99 > limit {
			break
		}
		first = w
	}
	if first < 0 {
		return phases, 0, false
	}
	return phases, time.Duration(first) * pressureSampleEvery, true
}

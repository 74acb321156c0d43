package queue

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"
)

// ProgressStore is what the ProgressCoalescer needs from the database.
type ProgressStore interface {
	ReportProgress(ctx context.Context, r Report, percent float64, message string) (*Job, error)
}

// The outcomes of a progress report (the outcome label of jq_job_progress_reports_total).
const (
	ProgressWritten   = "written"
	ProgressCoalesced = "coalesced"
	ProgressRefused   = "refused"
)

// ProgressCoalescer bounds the writes of job progress: at most one per job per interval. A
// report that comes sooner is kept, replacing any kept before it (the latest wins), and
// written when the interval has passed; a running job that reports in a tight loop thus
// costs the database one write a second. A kept report whose attempt ends first is dropped
// (its write is refused as stale).
type ProgressCoalescer struct {
	startstop.BaseStartStop

	store    ProgressStore
	interval time.Duration
	logger   *slog.Logger
	reports  *prometheus.CounterVec // {outcome}; may be nil
	now      func() time.Time

	mu   sync.Mutex
	jobs map[uuid.UUID]*progressEntry
}

type progressEntry struct {
	lastWrite time.Time
	pending   *progressUpdate
}

type progressUpdate struct {
	report  Report
	percent float64
	message string
}

// NewProgressCoalescer writes each job's progress at most once per interval (≤ 0: 1 s).
// reports (may be nil) counts the reports by outcome.
func NewProgressCoalescer(store ProgressStore, interval time.Duration, logger *slog.Logger, reports *prometheus.CounterVec) *ProgressCoalescer {
	if interval <= 0 {
		interval = time.Second
	}
	return &ProgressCoalescer{store: store, interval: interval, logger: logger, reports: reports, now: time.Now,
		jobs: map[uuid.UUID]*progressEntry{}}
}

// Report writes a job's progress now when its last write is an interval old (and returns the
// write's error: ErrStaleAttempt for an attempt that is over), or keeps it for later and
// returns coalesced true.
func (p *ProgressCoalescer) Report(ctx context.Context, r Report, percent float64, message string) (coalesced bool, err error) {
	u := &progressUpdate{report: r, percent: percent, message: message}
	now := p.now()
	p.mu.Lock()
	e := p.jobs[r.JobID]
	if e != nil && (e.pending != nil || now.Sub(e.lastWrite) < p.interval) {
		e.pending = u // the latest wins
		p.mu.Unlock()
		p.count(ProgressCoalesced)
		return true, nil
	}
	if e == nil {
		e = &progressEntry{}
		p.jobs[r.JobID] = e
	}
	e.lastWrite = now
	p.mu.Unlock()
	return false, p.write(ctx, u)
}

func (p *ProgressCoalescer) write(ctx context.Context, u *progressUpdate) error {
	_, err := p.store.ReportProgress(ctx, u.report, u.percent, u.message)
	if err != nil {
		p.count(ProgressRefused)
		return err
	}
	p.count(ProgressWritten)
	return nil
}

func (p *ProgressCoalescer) count(outcome string) {
	if p.reports != nil {
		p.reports.WithLabelValues(outcome).Inc()
	}
}

// Flush writes the kept reports whose interval has passed, and forgets the jobs that have been
// quiet for two intervals. The loop calls it; tests call it directly.
func (p *ProgressCoalescer) Flush(ctx context.Context) {
	now := p.now()
	var due []*progressUpdate
	p.mu.Lock()
	for id, e := range p.jobs {
		switch {
		case e.pending != nil && now.Sub(e.lastWrite) >= p.interval:
			due = append(due, e.pending)
			e.pending, e.lastWrite = nil, now
		case e.pending == nil && now.Sub(e.lastWrite) >= 2*p.interval:
			delete(p.jobs, id)
		}
	}
	p.mu.Unlock()
	for _, u := range due {
		if err := p.write(ctx, u); err != nil && ctx.Err() == nil {
			p.logger.DebugContext(ctx, "a job's progress was not written", "job_id", u.report.JobID, "error", err)
		}
	}
}

// Start flushes kept reports every quarter interval until ctx ends or Stop is called; a stop
// writes what is kept.
func (p *ProgressCoalescer) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := p.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		ticker := time.NewTicker(p.interval / 4)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				p.flushAll()
				return
			case <-ticker.C:
				p.Flush(ctx)
			}
		}
	}()
	return nil
}

// flushAll writes every kept report, within a few seconds, when the coalescer stops.
func (p *ProgressCoalescer) flushAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var due []*progressUpdate
	p.mu.Lock()
	for id, e := range p.jobs {
		if e.pending != nil {
			due = append(due, e.pending)
		}
		delete(p.jobs, id)
	}
	p.mu.Unlock()
	for _, u := range due {
		_ = p.write(ctx, u)
	}
}

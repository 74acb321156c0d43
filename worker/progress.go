package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jqhq/jq/internal/safetext"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
)

// MaxProgressMessage is the most of a progress message sent, in bytes; the rest is cut.
const MaxProgressMessage = 1024

// progressInterval is the least time between two progress reports of one job: jq-server
// writes a job's progress at most once a second, so more would only be coalesced there.
const progressInterval = time.Second

// ErrNoProgress is returned by Progress for a context that is not a job's.
var ErrNoProgress = errors.New("worker: this context is not a job's: progress goes nowhere")

type progressKey struct{}

// progressFunc receives a job's progress.
type progressFunc func(percent float64, message string)

// Progress reports how far the job running with ctx (its handler's context) has got: percent,
// from 0 to 100, and a message of which the first MaxProgressMessage bytes are kept. Call it as
// often as you like: the worker sends at most one report a second per job, the latest winning,
// and one still waiting when the job ends is dropped (its outcome says more). jq-ctl job status
// shows the last one written. The error is for a percent outside 0-100 or a context that is
// not a job's; a report the server cannot take is only logged.
func Progress(ctx context.Context, percent float64, message string) error {
	if math.IsNaN(percent) || percent < 0 || percent > 100 {
		return fmt.Errorf("worker: progress %v is not a percentage from 0 to 100", percent)
	}
	f, ok := ctx.Value(progressKey{}).(progressFunc)
	if !ok {
		return ErrNoProgress
	}
	f(percent, safetext.Clean(message, MaxProgressMessage))
	return nil
}

// WithProgress returns a context whose Progress calls go to f: for a handler run outside a
// Worker, by its tests say.
func WithProgress(ctx context.Context, f func(percent float64, message string)) context.Context {
	return context.WithValue(ctx, progressKey{}, progressFunc(f))
}

// progressReporter sends one attempt's progress to jq-server, at most once per interval: a
// report that comes sooner waits for the interval's end, replaced by any later one.
type progressReporter struct {
	w       *Worker
	jobID   string
	attempt int

	mu      sync.Mutex
	last    time.Time
	pending *jqv1.ReportProgressRequest
	timer   *time.Timer
	closed  bool
}

func (w *Worker) newProgressReporter(job Job) *progressReporter {
	return &progressReporter{w: w, jobID: job.ID, attempt: job.Attempt}
}

func (p *progressReporter) report(percent float64, message string) {
	req := &jqv1.ReportProgressRequest{WorkerId: p.w.id.String(), JobId: p.jobID, Attempt: int32(p.attempt),
		Progress: percent, Message: message}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	if p.pending == nil && now.Sub(p.last) >= progressInterval {
		p.last = now
		p.w.sendProgress(req)
		return
	}
	p.pending = req
	if p.timer == nil {
		p.timer = time.AfterFunc(p.last.Add(progressInterval).Sub(now), p.flush)
	}
}

func (p *progressReporter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	req := p.pending
	p.pending, p.timer = nil, nil
	if p.closed || req == nil {
		return
	}
	p.last = time.Now()
	p.w.sendProgress(req)
}

// close drops a report still waiting: the attempt is over.
func (p *progressReporter) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.pending = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// sendProgress sends a progress report in the background; Run waits for those in flight.
func (w *Worker) sendProgress(req *jqv1.ReportProgressRequest) {
	w.progressWG.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := w.client.ReportProgress(ctx, req); err != nil {
			w.logger.Debug("progress report not taken", "job_id", req.GetJobId(), "attempt", req.GetAttempt(), "error", err)
		}
	})
}

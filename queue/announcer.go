package queue

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/riverqueue/river/rivershared/startstop"
)

// Announcer tells every jq-server's scheduler that queues received runnable jobs: one
// NOTIFY jq_job_ready per queue per flush, from its own short transaction, for all the
// submits that committed meanwhile. A submitting transaction that sends NOTIFY itself holds
// PostgreSQL's notify lock from its commit record until its WAL flush ends, so concurrent
// submits queue behind each other's flushes: at 1,000 submits/s that queue was the p99 of
// the submit→start latency. One loop flushes whatever was announced while the previous flush
// ran, so announcements batch themselves under load and go out at once when idle.
//
// If jq-server dies between a submit's commit and the flush, the schedulers find the job at
// their next poll (scheduler.interval).
type Announcer struct {
	startstop.BaseStartStop

	notify func(ctx context.Context, queues []string) error
	logger *slog.Logger

	mu      sync.Mutex
	pending map[string]struct{}
	signal  chan struct{}
}

// NewAnnouncer returns an Announcer that sends its NOTIFYs with notify (Store.Notify).
func NewAnnouncer(notify func(ctx context.Context, queues []string) error, logger *slog.Logger) *Announcer {
	return &Announcer{notify: notify, logger: logger, pending: map[string]struct{}{}, signal: make(chan struct{}, 1)}
}

// Announce queues a NOTIFY for queue; it never blocks.
func (a *Announcer) Announce(queue string) {
	a.mu.Lock()
	a.pending[queue] = struct{}{}
	a.mu.Unlock()
	select {
	case a.signal <- struct{}{}:
	default:
	}
}

// Start runs the flush loop until ctx ends or Stop is called; what is pending then is flushed.
func (a *Announcer) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := a.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		for {
			select {
			case <-ctx.Done():
				a.flush(context.WithoutCancel(ctx))
				return
			case <-a.signal:
				a.flush(ctx)
			}
		}
	}()
	return nil
}

func (a *Announcer) flush(ctx context.Context) {
	a.mu.Lock()
	if len(a.pending) == 0 {
		a.mu.Unlock()
		return
	}
	queues := make([]string, 0, len(a.pending))
	for q := range a.pending {
		queues = append(queues, q)
	}
	clear(a.pending)
	a.mu.Unlock()
	slices.Sort(queues)
	if err := a.notify(ctx, queues); err != nil {
		a.logger.WarnContext(ctx, "could not notify the schedulers; they find the new jobs at their next poll",
			"queues", queues, "error", err)
	}
}

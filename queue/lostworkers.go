package queue

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// LostWorkerStore is what LostWorkers needs from the database.
type LostWorkerStore interface {
	ReleaseSilentWorker(ctx context.Context, workerID uuid.UUID, silentSince time.Time, policy RetryPolicy) (int, error)
}

// LostWorkers fails the jobs of a worker whose stream broke and that did not come back within
// a grace period, without waiting for the heartbeat timeout. A worker that heartbeats or
// registers again meanwhile (on this server or another), or whose new stream is open on this
// server when the grace ends, is left alone, so a reconnect keeps its jobs.
type LostWorkers struct {
	store  LostWorkerStore
	grace  time.Duration
	policy RetryPolicy
	logger *slog.Logger
	now    func() time.Time
	// connected says whether the worker has a stream open on this server (nil: unknown). It
	// covers a reconnect whose registration this server handled before it noticed the old
	// stream break, which the database cannot tell from silence.
	connected func(uuid.UUID) bool

	mu      sync.Mutex
	ctx     context.Context
	timers  map[uuid.UUID]*time.Timer
	wg      sync.WaitGroup
	stopped bool
}

// NewLostWorkers returns a LostWorkers that acts grace after a stream breaks. Its work is
// bound to ctx: when ctx ends (the server stops), pending checks are dropped, so a server
// shutting down never fails the jobs of workers that will reconnect elsewhere. connected
// (may be nil) says whether a worker has a stream open on this server (Registry.Connected).
func NewLostWorkers(ctx context.Context, store LostWorkerStore, grace time.Duration, policy RetryPolicy, logger *slog.Logger, connected func(uuid.UUID) bool) *LostWorkers {
	return &LostWorkers{store: store, grace: grace, policy: policy, logger: logger, now: time.Now, connected: connected,
		ctx: ctx, timers: map[uuid.UUID]*time.Timer{}}
}

// StreamBroke schedules the check of a worker whose stream ended without a goodbye. It is the
// Registry's detached callback.
func (l *LostWorkers) StreamBroke(workerID uuid.UUID) {
	brokeAt := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	if t, ok := l.timers[workerID]; ok && t.Stop() {
		l.wg.Done()
	}
	l.wg.Add(1)
	l.timers[workerID] = time.AfterFunc(l.grace, func() {
		defer l.wg.Done()
		l.mu.Lock()
		delete(l.timers, workerID)
		ctx := l.ctx
		l.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if l.connected != nil && l.connected(workerID) {
			l.logger.DebugContext(ctx, "stream grace ended: the worker is connected again; its jobs stay", "worker_id", workerID)
			return
		}
		n, err := l.store.ReleaseSilentWorker(ctx, workerID, brokeAt, l.policy)
		switch {
		case err != nil:
			l.logger.WarnContext(ctx, "could not release a lost worker's jobs; the heartbeat monitor will", "worker_id", workerID, "error", err)
		case n > 0:
			l.logger.WarnContext(ctx, "worker lost: its stream broke and it did not come back; jobs retried",
				"worker_id", workerID, "jobs", n, "grace", l.grace.String())
		default:
			l.logger.DebugContext(ctx, "stream grace ended: nothing to retry (the worker came back elsewhere, or held no jobs)", "worker_id", workerID)
		}
	})
}

// Stop cancels the pending checks and waits for running ones.
func (l *LostWorkers) Stop() {
	l.mu.Lock()
	l.stopped = true
	for id, t := range l.timers {
		if t.Stop() {
			l.wg.Done()
		}
		delete(l.timers, id)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

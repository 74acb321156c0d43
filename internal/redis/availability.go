package redis

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// breakerPause is how long calls fail fast after Redis failed to answer: one call per pause
// probes it, the others return ErrUnavailable at once, so an outage costs a scheduler cycle
// nothing rather than a timeout per call.
const breakerPause = time.Second

// availability tracks whether Redis answers, to log an outage once per warnEvery rather than on
// every failed call, and its end once; and it fails calls fast during an outage.
type availability struct {
	logger    *slog.Logger
	warnEvery time.Duration

	down      atomic.Bool  // read without mu on every success; written under mu
	nextProbe atomic.Int64 // while down, calls before this time (unix ns) fail fast

	mu         sync.Mutex
	downSince  time.Time // first failure of the current outage
	lastWarn   time.Time // last WARN line, across outages
	suppressed int       // failures not logged since lastWarn
	warned     bool      // a WARN line was logged during the current outage
}

// failed records that op could not reach Redis, and logs it unless a WARN line was logged less
// than warnEvery ago.
func (a *availability) failed(ctx context.Context, op operation, err error) {
	now := time.Now()
	a.nextProbe.Store(now.Add(breakerPause).UnixNano())
	a.mu.Lock()
	if !a.down.Load() {
		a.down.Store(true)
		a.downSince = now
	}
	if !a.lastWarn.IsZero() && now.Sub(a.lastWarn) < a.warnEvery {
		a.suppressed++
		a.mu.Unlock()
		return
	}
	suppressed := a.suppressed
	a.lastWarn, a.suppressed, a.warned = now, 0, true
	a.mu.Unlock()

	a.logger.LogAttrs(ctx, slog.LevelWarn, "redis unavailable; carrying on without it",
		slog.String("operation", string(op)),
		slog.Any("error", err),
		slog.Int("suppressed", suppressed), // failed calls not logged since the last such line
		slog.String("log_every", a.warnEvery.String()),
	)
}

// allow reports whether a call may go to Redis now: always while it answers; during an
// outage, one call per breakerPause (the probe).
func (a *availability) allow() bool {
	if !a.down.Load() {
		return true
	}
	next := a.nextProbe.Load()
	now := time.Now().UnixNano()
	return now >= next && a.nextProbe.CompareAndSwap(next, now+int64(breakerPause))
}

// succeeded records that Redis answered, and logs the end of an outage that was logged.
func (a *availability) succeeded(ctx context.Context) {
	if !a.down.Load() {
		return
	}
	now := time.Now()
	a.mu.Lock()
	if !a.down.Load() {
		a.mu.Unlock()
		return
	}
	a.down.Store(false)
	downFor, warned := now.Sub(a.downSince), a.warned
	a.downSince, a.warned = time.Time{}, false
	a.mu.Unlock()

	if warned {
		a.logger.LogAttrs(ctx, slog.LevelInfo, "redis reachable again",
			slog.String("down_for", downFor.Round(time.Millisecond).String()))
	}
}

package queue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"
	"github.com/riverqueue/river/rivershared/util/serviceutil"
)

// EventSink publishes outbox events (to Kafka). Publish returns only once every event is
// acknowledged, or an error: the relay then publishes the same events again
// (at-least-once).
type EventSink interface {
	Publish(ctx context.Context, events []OutboxEvent) error
}

// RelayStore is what the Relay needs from the database.
type RelayStore interface {
	RelayCursor(ctx context.Context, name string) (OutboxPosition, error)
	OutboxBatch(ctx context.Context, after OutboxPosition, limit int) ([]OutboxEvent, error)
	AdvanceRelayCursor(ctx context.Context, name string, from, to OutboxPosition) (bool, error)
	OutboxLag(ctx context.Context, after OutboxPosition) (int64, time.Time, error)
}

var _ RelayStore = (*Store)(nil)

// DefaultRelayName is the cursor of jq-server's Kafka relay in jq.relay_cursors.
const DefaultRelayName = "kafka"

// RelayConfig tunes a Relay.
type RelayConfig struct {
	// Name identifies the cursor in jq.relay_cursors (default DefaultRelayName).
	Name string
	// BatchSize caps the events published at once (default 5,000: at 1,000 the relay, which
	// waits for each batch's acknowledgement, fell behind a 12,000 jobs/s burn).
	BatchSize int
	// Interval is how often an idle relay looks for new events (default 200 ms).
	Interval time.Duration
	// MaxBackoff caps the full-jitter wait after a failed publish (default 10 s).
	MaxBackoff time.Duration
}

// RelayMetrics are the relay's gauges; nil fields are skipped.
type RelayMetrics struct {
	LagEvents  prometheus.Gauge
	LagSeconds prometheus.Gauge
}

// Relay publishes jq.job_events to an EventSink in (transaction id, id) order, while this
// instance leads, and records how far it got in jq.relay_cursors only after the sink
// acknowledged each batch. An outage of the sink or of the server delays events; none is lost
// or skipped. A batch whose acknowledgement was lost is published again (duplicates, never
// gaps).
type Relay struct {
	startstop.BaseStartStop

	store   RelayStore
	sink    EventSink
	leading func() bool
	cfg     RelayConfig
	logger  *slog.Logger
	metrics RelayMetrics
	failing atomic.Bool // the last publish failed
}

// NewRelay returns a relay that works while leading() is true.
func NewRelay(store RelayStore, sink EventSink, leading func() bool, cfg RelayConfig, logger *slog.Logger, m RelayMetrics) *Relay {
	if cfg.Name == "" {
		cfg.Name = DefaultRelayName
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	return &Relay{store: store, sink: sink, leading: leading, cfg: cfg, logger: logger, metrics: m}
}

// Failing reports whether the last attempt to publish failed (events are delayed).
func (r *Relay) Failing() bool { return r.failing.Load() }

// Start relays until ctx ends or Stop is called.
func (r *Relay) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := r.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		failures := 0
		lastLag := time.Time{}
		for ctx.Err() == nil {
			if !r.leading() {
				serviceutil.CancellableSleep(ctx, r.cfg.Interval)
				continue
			}
			n, err := r.RunOnce(ctx)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				failures++
				delay := time.Duration(rand.Int64N(int64(min(r.cfg.MaxBackoff, 100*time.Millisecond<<min(failures, 20)))) + 1)
				r.logger.WarnContext(ctx, "event relay: publishing failed; retrying the batch", "error", err,
					"failures", failures, "in", delay.Round(time.Millisecond).String())
				serviceutil.CancellableSleep(ctx, delay)
			case n == 0:
				failures = 0
				serviceutil.CancellableSleep(ctx, r.cfg.Interval)
			default:
				failures = 0
			}
			if time.Since(lastLag) > time.Second {
				r.updateLag(ctx)
				lastLag = time.Now()
			}
		}
	}()
	return nil
}

// RunOnce publishes the next batch of events and advances the cursor past it. It returns
// how many events it published. Exported for tests and tools.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	from, err := r.store.RelayCursor(ctx, r.cfg.Name)
	if err != nil {
		return 0, err
	}
	events, err := r.store.OutboxBatch(ctx, from, r.cfg.BatchSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	if err := r.sink.Publish(ctx, events); err != nil {
		r.failing.Store(true)
		return 0, err // the cursor stays: these events go again
	}
	if r.failing.Swap(false) {
		r.logger.InfoContext(ctx, "event relay: publishing again")
	}
	last := events[len(events)-1]
	moved, err := r.store.AdvanceRelayCursor(context.WithoutCancel(ctx), r.cfg.Name, from, OutboxPosition{XID: last.XID, ID: last.ID})
	if err != nil {
		return 0, err
	}
	if !moved {
		r.logger.WarnContext(ctx, "event relay: another relay moved the cursor; its events were published twice")
	}
	return len(events), nil
}

func (r *Relay) updateLag(ctx context.Context) {
	if r.metrics.LagEvents == nil && r.metrics.LagSeconds == nil {
		return
	}
	pos, err := r.store.RelayCursor(ctx, r.cfg.Name)
	if err != nil {
		return
	}
	n, oldest, err := r.store.OutboxLag(ctx, pos)
	if err != nil {
		return
	}
	if r.metrics.LagEvents != nil {
		r.metrics.LagEvents.Set(float64(n))
	}
	if r.metrics.LagSeconds != nil {
		lag := 0.0
		if !oldest.IsZero() {
			lag = time.Since(oldest).Seconds()
		}
		r.metrics.LagSeconds.Set(lag)
	}
}

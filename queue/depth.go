package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"
)

// DepthReporter refreshes the jq_job_queue_depth{queue,status} gauge from the database on an
// interval. Every server instance reports the same numbers; dashboards take max() across them.
type DepthReporter struct {
	startstop.BaseStartStop

	depths   func(ctx context.Context) ([]Depth, error)
	gauge    *prometheus.GaugeVec
	interval time.Duration
	logger   *slog.Logger
	seen     map[[2]string]bool

	flow       func(ctx context.Context) ([]FlowStats, error)
	paused     *prometheus.GaugeVec
	held       *prometheus.CounterVec
	heldSeen   map[[2]string]int64 // the database's count at the last refresh
	pausedSeen map[string]bool
	flowRead   bool // the flow stats were read once: the baseline is set
}

// Limits of jq_queue_limit_held_total{limit}.
const (
	LimitPaused     = "paused"
	LimitMaxRunning = "max_running"
	LimitRate       = "rate"
	LimitPerKey     = "per_key"
)

// NewDepthReporter returns a reporter that sets gauge from depths every interval.
func NewDepthReporter(depths func(ctx context.Context) ([]Depth, error), gauge *prometheus.GaugeVec, interval time.Duration, logger *slog.Logger) *DepthReporter {
	return &DepthReporter{depths: depths, gauge: gauge, interval: interval, logger: logger, seen: map[[2]string]bool{}}
}

// WithFlow makes the reporter also set paused (jq_queue_paused{queue}) and held
// (jq_queue_limit_held_total{queue,limit}) from flow. The database's held counters count for
// the whole cluster since each queue was created; the counter adds what they grew since the
// previous refresh, starting from the first (so a restart reads as a counter reset, not as a
// burst).
func (d *DepthReporter) WithFlow(flow func(ctx context.Context) ([]FlowStats, error), paused *prometheus.GaugeVec, held *prometheus.CounterVec) *DepthReporter {
	d.flow, d.paused, d.held = flow, paused, held
	d.heldSeen, d.pausedSeen = map[[2]string]int64{}, map[string]bool{}
	return d
}

// Start refreshes until ctx ends or Stop is called.
func (d *DepthReporter) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := d.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		ticker := time.NewTicker(d.interval)
		defer ticker.Stop()
		for {
			d.Refresh(ctx)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return nil
}

// Refresh sets the gauge once. A queue/status that emptied reads 0 rather than keeping its
// last value. Not safe for concurrent use; the reporter's loop is its only caller.
func (d *DepthReporter) Refresh(ctx context.Context) {
	depths, err := d.depths(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.logger.WarnContext(ctx, "queue depth refresh failed", "error", err)
		}
		return
	}
	now := make(map[[2]string]bool, len(depths))
	for _, dp := range depths {
		key := [2]string{dp.Queue, string(dp.Status)}
		now[key] = true
		d.gauge.WithLabelValues(key[0], key[1]).Set(float64(dp.Count))
	}
	for key := range d.seen {
		if !now[key] {
			d.gauge.WithLabelValues(key[0], key[1]).Set(0)
		}
		now[key] = true
	}
	d.seen = now
	if d.flow != nil {
		d.refreshFlow(ctx)
	}
}

func (d *DepthReporter) refreshFlow(ctx context.Context) {
	stats, err := d.flow(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.logger.WarnContext(ctx, "flow control metrics refresh failed", "error", err)
		}
		return
	}
	queues := make(map[string]bool, len(stats))
	for _, st := range stats {
		queues[st.Queue] = true
		paused := 0.0
		if st.Paused {
			paused = 1
		}
		d.paused.WithLabelValues(st.Queue).Set(paused)
		for limit, n := range map[string]int64{
			LimitPaused: st.HeldPaused, LimitMaxRunning: st.HeldMaxRunning, LimitRate: st.HeldRate, LimitPerKey: st.HeldKey,
		} {
			key := [2]string{st.Queue, limit}
			c := d.held.WithLabelValues(st.Queue, limit)
			last, ok := d.heldSeen[key]
			switch {
			case ok && n > last:
				c.Add(float64(n - last))
			case !ok && d.flowRead: // a queue made since the last refresh
				c.Add(float64(n))
			}
			d.heldSeen[key] = n // lower: the queue was deleted and made again
		}
	}
	for q := range d.pausedSeen {
		if !queues[q] { // deleted
			d.paused.DeleteLabelValues(q)
			for _, limit := range []string{LimitPaused, LimitMaxRunning, LimitRate, LimitPerKey} {
				d.held.DeleteLabelValues(q, limit)
				delete(d.heldSeen, [2]string{q, limit})
			}
		}
	}
	d.pausedSeen, d.flowRead = queues, true
}

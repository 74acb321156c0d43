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
}

// NewDepthReporter returns a reporter that sets gauge from depths every interval.
func NewDepthReporter(depths func(ctx context.Context) ([]Depth, error), gauge *prometheus.GaugeVec, interval time.Duration, logger *slog.Logger) *DepthReporter {
	return &DepthReporter{depths: depths, gauge: gauge, interval: interval, logger: logger, seen: map[[2]string]bool{}}
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
}

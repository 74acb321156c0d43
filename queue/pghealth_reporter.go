package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivershared/startstop"
)

// PGHealthMetrics are the gauges PGHealthReporter sets (see internal/metrics for their
// names); nil fields are skipped.
type PGHealthMetrics struct {
	Up                  prometheus.Gauge     // 1 when the last read succeeded
	TableDeadTuples     *prometheus.GaugeVec // {table}
	TableLiveTuples     *prometheus.GaugeVec // {table}
	TableLastVacuum     *prometheus.GaugeVec // {table}
	TableLastAutovacuum *prometheus.GaugeVec // {table}
	XminAgeSeconds      *prometheus.GaugeVec // {holder}
	XminAgeXIDs         *prometheus.GaugeVec // {holder}
	DatabaseXIDAge      prometheus.Gauge
}

// PGHealthReporter refreshes the PostgreSQL health gauges on an interval, like DepthReporter:
// a scrape of /metrics never waits on PostgreSQL, and each read has a deadline, so a stuck
// database costs one goroutine waiting, not a pile of scrapes. When a read fails, Up drops to 0
// and the other gauges keep their last values: a short blip then does not restart the "for"
// clock of an alert on them, and a long outage is what the alert on jq_pg_up is for.
type PGHealthReporter struct {
	startstop.BaseStartStop

	read     func(ctx context.Context) (*PGHealth, error)
	metrics  PGHealthMetrics
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger
	failing  bool
	tables   map[string]bool // the table label values set by the last refresh
}

// NewPGHealthReporter returns a reporter that sets m from read every interval. Each read gets
// at most the interval, and never more than 5 s.
func NewPGHealthReporter(read func(ctx context.Context) (*PGHealth, error), m PGHealthMetrics, interval time.Duration, logger *slog.Logger) *PGHealthReporter {
	return &PGHealthReporter{read: read, metrics: m, interval: interval, timeout: min(interval, 5*time.Second), logger: logger}
}

// Start refreshes until ctx ends or Stop is called.
func (r *PGHealthReporter) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := r.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		ticker := time.NewTicker(r.interval)
		defer ticker.Stop()
		for {
			r.Refresh(ctx)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return nil
}

// Refresh reads the statistics once and sets the gauges. Not safe for concurrent use; the
// reporter's loop is its only caller.
func (r *PGHealthReporter) Refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	h, err := r.read(rctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the last values stand
		}
		if !r.failing {
			r.logger.WarnContext(ctx, "postgresql health refresh failed; jq_pg_up is 0 until it works again", "error", err)
		}
		r.failing = true
		setGauge(r.metrics.Up, 0)
		return
	}
	if r.failing {
		r.logger.InfoContext(ctx, "postgresql health refresh works again")
	}
	r.failing = false
	r.set(h)
}

// set writes h to the gauges. A table gone since the last refresh (dropped, or a partition
// detached) loses its series rather than keeping its last numbers.
func (r *PGHealthReporter) set(h *PGHealth) {
	m := r.metrics
	tables := make(map[string]bool, len(h.Tables))
	for _, t := range h.Tables {
		tables[t.Table] = true
		setVec(m.TableDeadTuples, t.Table, float64(t.DeadTuples))
		setVec(m.TableLiveTuples, t.Table, float64(t.LiveTuples))
		setVec(m.TableLastVacuum, t.Table, t.LastVacuum)
		setVec(m.TableLastAutovacuum, t.Table, t.LastAutovacuum)
	}
	for table := range r.tables {
		if tables[table] {
			continue
		}
		for _, v := range []*prometheus.GaugeVec{m.TableDeadTuples, m.TableLiveTuples, m.TableLastVacuum, m.TableLastAutovacuum} {
			if v != nil {
				v.DeleteLabelValues(table)
			}
		}
	}
	r.tables = tables
	for _, hh := range h.Horizon {
		setVec(m.XminAgeXIDs, hh.Holder, float64(hh.XIDAge))
		if hh.HasSeconds {
			setVec(m.XminAgeSeconds, hh.Holder, hh.Seconds)
		}
	}
	setGauge(m.DatabaseXIDAge, float64(h.DatabaseXIDAge))
	setGauge(m.Up, 1)
}

func setVec(v *prometheus.GaugeVec, label string, value float64) {
	if v != nil {
		v.WithLabelValues(label).Set(value)
	}
}

func setGauge(g prometheus.Gauge, value float64) {
	if g != nil {
		g.Set(value)
	}
}

package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports the use of a pgx connection pool as jq_db_pool_* metrics. It reads
// pgxpool's counters on each scrape, which costs no database round trip, so it can neither
// slow /metrics down nor fail when PostgreSQL is down.
//
// Gauges: jq_db_pool_acquired_connections (in use by a query or transaction),
// jq_db_pool_idle_connections, jq_db_pool_constructing_connections (being opened),
// jq_db_pool_total_connections (the three together) and jq_db_pool_max_connections (db.max_conns).
// Counters: jq_db_pool_acquires_total, jq_db_pool_acquire_seconds_total (time spent in
// successful acquires), jq_db_pool_empty_acquires_total (acquires that found no idle
// connection and had to wait for one to be opened or released),
// jq_db_pool_empty_acquire_wait_seconds_total (time spent in those waits),
// jq_db_pool_canceled_acquires_total (acquires whose context ended first) and
// jq_db_pool_new_connections_total. A pool that runs out shows as a rising
// rate(jq_db_pool_empty_acquire_wait_seconds_total) while acquired stays at max.
type PoolCollector struct {
	stat func() *pgxpool.Stat
}

var _ prometheus.Collector = (*PoolCollector)(nil)

// NewPoolCollector returns a collector of the pool whose statistics stat returns, normally
// (*pgxpool.Pool).Stat. With a nil stat it collects nothing but still describes its metrics,
// which is all SeriesNames needs.
func NewPoolCollector(stat func() *pgxpool.Stat) *PoolCollector {
	return &PoolCollector{stat: stat}
}

// poolMetric is one jq_db_pool_* series and how to read it from a pgxpool.Stat.
type poolMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*pgxpool.Stat) float64
}

func newPoolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, nil, nil)
}

// poolMetrics lists every series PoolCollector exports. The descriptors are shared by every
// collector: they carry no state.
var poolMetrics = []poolMetric{
	{newPoolDesc("jq_db_pool_acquired_connections", "Pool connections in use by a query or transaction."),
		prometheus.GaugeValue, func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }},
	{newPoolDesc("jq_db_pool_idle_connections", "Pool connections open and idle."),
		prometheus.GaugeValue, func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }},
	{newPoolDesc("jq_db_pool_constructing_connections", "Pool connections being opened."),
		prometheus.GaugeValue, func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }},
	{newPoolDesc("jq_db_pool_total_connections", "Pool connections: acquired, idle and being opened."),
		prometheus.GaugeValue, func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }},
	{newPoolDesc("jq_db_pool_max_connections", "Most connections the pool may open (db.max_conns)."),
		prometheus.GaugeValue, func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }},
	{newPoolDesc("jq_db_pool_acquires_total", "Successful connection acquires from the pool."),
		prometheus.CounterValue, func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }},
	{newPoolDesc("jq_db_pool_acquire_seconds_total", "Time spent in successful connection acquires."),
		prometheus.CounterValue, func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }},
	{newPoolDesc("jq_db_pool_empty_acquires_total", "Acquires that found no idle connection and had to wait."),
		prometheus.CounterValue, func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }},
	{newPoolDesc("jq_db_pool_empty_acquire_wait_seconds_total", "Time acquires spent waiting for a connection."),
		prometheus.CounterValue, func(s *pgxpool.Stat) float64 { return s.EmptyAcquireWaitTime().Seconds() }},
	{newPoolDesc("jq_db_pool_canceled_acquires_total", "Acquires abandoned because their context ended."),
		prometheus.CounterValue, func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }},
	{newPoolDesc("jq_db_pool_new_connections_total", "Connections the pool opened."),
		prometheus.CounterValue, func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }},
}

// Describe sends the descriptor of every jq_db_pool_* metric.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range poolMetrics {
		ch <- m.desc
	}
}

// Collect reads the pool's statistics once and sends every jq_db_pool_* metric.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stat == nil {
		return
	}
	s := c.stat()
	for _, m := range poolMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}

// Package metrics defines every Prometheus metric jq exports, in one place.
//
// New creates the metrics and registers them on the registerer it is given, so
// that each server (and each test) owns its registry: the registry is the only
// state shared across a process, and it is passed in, never global. NewWorker
// registers only the families jq-worker updates. Names lists every metric name
// New defines, and SeriesNames the series any set of collectors exports, so
// that tests elsewhere can check that the Grafana dashboards and Prometheus
// alert rules only name metrics that exist.
//
// Series exist from the start. A labelled series that does not exist yet reads
// as "No data" on a dashboard and is invisible to rate() until its second
// sample, so jq-server creates at zero, at start-up, every series whose labels
// it knows then (InitServer): gRPC methods by GRPCInitCodes, each queue's job
// transitions, histograms and assignments, the maintenance Tasks and the Kafka
// topics. jq-worker does the same for its outcomes.
//
// Besides what jq's components count, two groups describe the PostgreSQL a
// queue lives in (docs/observability.md lists them all):
//
//   - jq_pg_*: dead and live tuples and the last (auto)vacuum of each table of
//     the jq schema, the age of the oldest transaction holding back vacuum (in
//     seconds and in transaction ids, by holder), the database's transaction id
//     age, and jq_pg_up. Read from the statistics views in the background by
//     queue.PGHealthReporter, never during a scrape.
//   - jq_db_pool_*: the pgx pool's connections and waits, read from
//     pgxpool.Stat on each scrape by PoolCollector (no database round trip).
package metrics

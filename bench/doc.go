// Package bench is jq's load-test suite, the code behind cmd/jq-bench. Each scenario starts
// what it measures itself — a fresh database on the PostgreSQL server it is given, an
// in-process jq-server with production-like timings, and workers (in-process over real gRPC,
// or separate processes) — or targets a running deployment with --server-addr, measures, and
// returns a Report: a readable table, or one JSON document.
//
// Scenarios:
//
//	burn        pre-inserted no-op jobs drained by W workers: jobs/s through the whole server
//	steady      R jobs/s offered through SubmitJob for D: achieved rate, latency percentiles
//	subprocess  burn with real subprocess payloads (["true"]) run by jq-worker: the fork/exec bound
//	sql         the SQL lifecycle alone (submit_many, claim, start, complete_many): the ceiling
//	backlog     burn at growing depths of pending jobs: throughput must not fall with depth
//	recovery    a worker killed (or frozen) while holding K jobs: time until they run elsewhere
//	events      burn with the Kafka relay off, then on (kfake)
//
// bench/README.md explains how each is measured, how to read the figures, and the targets.
package bench

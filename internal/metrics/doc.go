// Package metrics defines every Prometheus metric jq exports, in one place.
//
// New creates the metrics and registers them on the registerer it is given, so
// that each server (and each test) owns its registry: the registry is the only
// state shared across a process, and it is passed in, never global. Names lists
// every metric name defined here, so that tests elsewhere can check that the
// Grafana dashboards and Prometheus alert rules only name metrics that exist.
package metrics

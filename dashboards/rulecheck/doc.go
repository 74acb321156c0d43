// Package rulecheck holds the tests of ../rules: promtool check and unit tests, the alerts'
// annotations and runbook sections, the metric names of every expression, Alertmanager's
// configuration (amtool), the local Prometheus configuration, Grafana's provisioning, and the
// metric list of docs/observability.md. It has no code of its own.
package rulecheck

// Package dashboards generates jq's Grafana dashboards with the Grafana Foundation SDK: the
// job queue overview, worker health and infrastructure. cmd/gendashboards writes them to
// json/ (run `make dashboards`), which is committed and provisioned into Grafana; the tests
// fail when the committed JSON is not what the code generates, when a PromQL expression does
// not parse, or when an expression names a jq_* metric that neither jq-server nor jq-worker
// exports.
package dashboards

// Package rulegen turns the Prometheus rule files of rules/ into the PrometheusRule object that
// the Kubernetes manifests apply, so the alerts have one source of truth.
package rulegen

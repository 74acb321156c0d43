package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// The series of the Kubernetes containers of jq. cAdvisor also reports a pod-level total
// (container="") and the pause container (container="POD"); both would count twice.
const containers = `namespace="$namespace", container!="", container!="POD"`

// The Kafka topics jq publishes to (internal/kafka.Topics): job.* and worker.heartbeat.
const jqTopics = `topic=~"job\\..+|worker\\..+"`

// Infrastructure is the infrastructure dashboard: what jq runs on and with. Besides jq's own
// jq_db_pool_* series it reads kube-state-metrics and cAdvisor (kubelet), which
// kube-prometheus-stack provides, and redis_exporter and kafka-exporter, which
// deploy/k8s/base/exporters runs next to jq in the cluster (not under docker compose).
//
//nolint:staticcheck // the v1 schema on purpose: Grafana 11 (docker-compose.yml pins 11.3) cannot load v2 dashboards
func Infrastructure() (dashboard.Dashboard, error) {
	return newDashboard("jq-infrastructure", "jq / Infrastructure",
		"What jq runs on: PostgreSQL connections, Redis, Kafka consumers, pods, the worker autoscaler, and the alerts firing now.").
		WithRow(row("Dependencies")).
		WithPanel(newStat("DB pool in use", "Connections in use over the most the jq-server pools may open (jq_db_pool_*), over every instance. At 100% queries wait for a connection.", "percentunit",
			instant("A", `sum(jq_db_pool_acquired_connections{`+ns+`}) / sum(jq_db_pool_max_connections{`+ns+`})`, "in use"),
			thresholds(colorOK, 0.7, colorWarning, 0.9, colorError))).
		WithPanel(newStat("Redis memory", "Memory Redis uses (redis_exporter), over its maxmemory when one is set.", "bytes",
			instant("A", `max(redis_memory_used_bytes{`+ns+`})`, "used"),
			thresholds(colorOK))).
		WithPanel(newStat("Kafka consumer lag", "Messages of jq's topics (job.*, worker.heartbeat) that their consumer groups have not read yet (kafka-exporter). jq only produces: a lag here is a downstream consumer falling behind.", "short",
			instant("A", `sum(kafka_consumergroup_lag{`+ns+`, `+jqTopics+`})`, "lag"),
			thresholds(colorOK, 10000, colorWarning, 100000, colorError))).
		WithPanel(newStat("Pod restarts (last 1 h)", "Container restarts in the namespace in the last hour (kube-state-metrics).", "short",
			instant("A", `sum(increase(kube_pod_container_status_restarts_total{`+ns+`}[1h]))`, "restarts"),
			thresholds(colorOK, 1, colorWarning, 5, colorError))).
		WithPanel(newTimeseries("DB pool per jq-server",
			"Connections per instance: in use, idle and the maximum. A pool that runs out shows as in use pinned to max and time spent waiting for a connection.", "short",
			query(`sum by (instance) (jq_db_pool_acquired_connections{`+ns+`})`, "{{instance}} in use"),
			query(`sum by (instance) (jq_db_pool_idle_connections{`+ns+`})`, "{{instance}} idle"),
			query(`max by (instance) (jq_db_pool_max_connections{`+ns+`})`, "{{instance}} max"))).
		WithPanel(newTimeseries("Time waiting for a DB connection",
			"Seconds per second that queries spent waiting for a free pool connection, per instance. Anything above 0 for long means db.max_conns is too low for the load, or queries hold connections too long.", "s",
			query(`sum by (instance) (rate(jq_db_pool_empty_acquire_wait_seconds_total{`+ns+`}[$__rate_interval]))`, "{{instance}}")).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdFixed).FixedColor(colorWarning))).
		WithPanel(newTimeseries("Redis memory",
			"Used memory and, when set, maxmemory (redis_exporter).", "bytes",
			query(`max(redis_memory_used_bytes{`+ns+`})`, "used"),
			query(`max(redis_memory_max_bytes{`+ns+`} > 0)`, "maxmemory"))).
		WithPanel(newTimeseries("Kafka consumer lag by group",
			"Unread messages of jq's topics, per consumer group (kafka-exporter).", "short",
			query(`sum by (consumergroup, topic) (kafka_consumergroup_lag{`+ns+`, `+jqTopics+`})`, "{{consumergroup}} {{topic}}"))).
		WithRow(row("Pods")).
		WithPanel(newTimeseries("CPU per pod",
			"CPU cores used by each pod's containers (cAdvisor).", "short",
			query(`sum by (pod) (rate(container_cpu_usage_seconds_total{`+containers+`}[$__rate_interval]))`, "{{pod}}"))).
		WithPanel(newTimeseries("Memory per pod",
			"Working-set memory of each pod's containers (cAdvisor), what the OOM killer compares with the limit.", "bytes",
			query(`sum by (pod) (container_memory_working_set_bytes{`+containers+`})`, "{{pod}}"))).
		WithPanel(newTimeseries("jq-worker replicas (HPA)",
			"The worker autoscaler's current and desired replicas and its bounds (kube-state-metrics). Current pinned at max while the queue grows is HPAMaxedOut.", "short",
			query(`max(kube_horizontalpodautoscaler_status_current_replicas{`+ns+`, horizontalpodautoscaler=~".*jq-worker.*"})`, "current"),
			query(`max(kube_horizontalpodautoscaler_status_desired_replicas{`+ns+`, horizontalpodautoscaler=~".*jq-worker.*"})`, "desired"),
			query(`max(kube_horizontalpodautoscaler_spec_max_replicas{`+ns+`, horizontalpodautoscaler=~".*jq-worker.*"})`, "max"),
			query(`max(kube_horizontalpodautoscaler_spec_min_replicas{`+ns+`, horizontalpodautoscaler=~".*jq-worker.*"})`, "min")).
			OverrideByName(fixedColor("current", colorOK)).
			OverrideByName(fixedColor("max", colorError))).
		WithPanel(newTimeseries("Container restarts per pod",
			"Restarts in the last 15 minutes, per pod (kube-state-metrics). Behind PodCrashLooping.", "short",
			query(`sum by (pod) (increase(kube_pod_container_status_restarts_total{`+ns+`}[15m]))`, "{{pod}}"))).
		WithRow(row("Alerts")).
		WithPanel(alertsTable()).
		Build()
}

// alertsTable lists the alerts firing now, for this namespace (and those with no namespace,
// such as ServerDown when no jq-server is left to carry one).
func alertsTable() *table.PanelBuilder {
	organize := map[string]any{
		"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true, "alertstate": true},
		"indexByName":   map[string]any{"alertname": 0, "severity": 1, "namespace": 2},
	}
	return newTable("Firing alerts", "Every alert firing now (Prometheus's ALERTS series), critical first. Each alert's runbook is in docs/runbooks.md.", organize,
		tableQuery("A", `ALERTS{alertstate="firing", namespace=~"$namespace|"}`),
	).
		OverrideByName("severity", []dashboard.DynamicConfigValue{
			{Id: "mappings", Value: valueMapping([3]string{"critical", "critical", colorError}, [3]string{"warning", "warning", colorWarning})},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-background"}},
		})
}

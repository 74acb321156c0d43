package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewWorker creates every jq metric like New but registers on reg only the ones jq-worker
// updates (jq_worker_job_concurrency, jq_worker_configured_concurrency, jq_worker_jobs_total,
// jq_worker_job_execution_seconds), so that a worker's /metrics does not carry empty
// server-side families. A nil reg leaves them unregistered.
func NewWorker(reg prometheus.Registerer) *Metrics {
	m := New(nil)
	if reg != nil {
		reg.MustRegister(m.workerCollectors()...)
	}
	return m
}

// workerCollectors lists the metrics jq-worker updates.
func (m *Metrics) workerCollectors() []prometheus.Collector {
	return []prometheus.Collector{m.WorkerJobConcurrency, m.WorkerConfiguredConcurrency, m.WorkerJobsRun, m.WorkerExecutionDuration}
}

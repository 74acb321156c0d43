package metrics

import (
	"google.golang.org/grpc/codes"
)

// GRPCInitCodes are the status codes whose jq_grpc_request_duration_seconds series exist for
// every method from start-up, at zero.
//
// go-grpc-middleware's Prometheus provider creates all 17 codes for every method, but on a
// counter; our histogram is labelled by code, and each child costs 17 series (15 buckets
// counting +Inf, _sum and _count), so all codes on ~25 methods would add ~7,000 series to
// every scrape for values that mostly never occur. We create the codes that the
// queries divide by or compare: OK (the success rate, and the denominator of every error
// ratio) and the two that mean the server failed rather than the client — Unavailable
// (grpc.toStatus maps a PostgreSQL outage to it) and Internal (everything unexpected, panics
// included). The client-side codes (InvalidArgument, NotFound, FailedPrecondition,
// AlreadyExists, Unauthenticated, PermissionDenied, Canceled, DeadlineExceeded, …) appear on
// their first occurrence: the dashboards only sum them by code, which needs no zero.
var GRPCInitCodes = []codes.Code{codes.OK, codes.Unavailable, codes.Internal}

// JobTransition is one (status, reason) pair of jq_job_total.
type JobTransition struct {
	Status string
	Reason string
}

// ServerSeries lists the label values a jq-server knows at start-up, for InitServer.
type ServerSeries struct {
	// GRPCMethods are the method label values of every registered gRPC method.
	GRPCMethods []string
	// Queues are the queues that exist.
	Queues []string
	// JobTransitions are the (status, reason) pairs jq_job_total counts.
	JobTransitions []JobTransition
	// KafkaTopics are the topics events go to; empty when events are off.
	KafkaTopics []string
	// MaintenanceTasks are the maintenance loops (queue.MaintenanceTasks).
	MaintenanceTasks []string
	// FireOutcomes are the outcomes of schedule fires (queue.FireOutcomes).
	FireOutcomes []string
	// ProgressOutcomes are the outcomes of progress reports.
	ProgressOutcomes []string
}

// InitServer creates, at zero, every server-side series whose labels s names, so that a
// fresh server's /metrics already holds them: a dashboard then shows 0 instead of "No data",
// and rate(), increase() and absent()-free alerts see the first event as an increase from 0
// instead of a series appearing out of nowhere (which rate() ignores). Series for queues,
// methods or topics that appear later are created on their first use, as before. Calling it
// twice is harmless.
//
// jq_job_queue_depth needs nothing here: the depth reporter writes a zero for every queue and
// unfinished status on its first refresh. jq_redis_operation_duration_seconds is resolved
// for every operation when the Redis client is created.
func (m *Metrics) InitServer(s ServerSeries) {
	for _, method := range s.GRPCMethods {
		for _, code := range GRPCInitCodes {
			m.GRPCRequestDuration.WithLabelValues(method, code.String())
		}
	}
	for _, q := range s.Queues {
		for _, t := range s.JobTransitions {
			m.JobTotal.WithLabelValues(q, t.Status, t.Reason)
		}
		m.JobProcessingDuration.WithLabelValues(q)
		m.JobWaitDuration.WithLabelValues(q)
		m.SchedulerJobsAssigned.WithLabelValues(q)
	}
	for _, task := range s.MaintenanceTasks {
		m.MaintenanceRows.WithLabelValues(task)
	}
	for _, o := range s.FireOutcomes {
		m.ScheduleFires.WithLabelValues(o)
	}
	for _, o := range s.ProgressOutcomes {
		m.JobProgressReports.WithLabelValues(o)
	}
	for _, topic := range s.KafkaTopics {
		m.KafkaPublishErrors.WithLabelValues(topic)
		m.KafkaEventsPublished.WithLabelValues(topic)
	}
}

package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/internal/metrics"
	"github.com/jqhq/jq/queue"
)

// addObservability adds what jq-server exports beyond the instruments its components update:
// the PostgreSQL health gauges (refreshed in the background with the queue depths), the
// connection pool's use, and every series whose labels are known at start-up, at zero. It
// runs once the gRPC services are registered, so that it can list their methods.
func (s *Server) addObservability(ctx context.Context, m *metrics.Metrics, reg *prometheus.Registry) {
	if reg != nil {
		reg.MustRegister(metrics.NewPoolCollector(s.pool.Stat))
	}
	s.background = append(s.background, queue.NewPGHealthReporter(s.store.PGHealth, queue.PGHealthMetrics{
		Up:                  m.PGUp,
		TableDeadTuples:     m.PGTableDeadTuples,
		TableLiveTuples:     m.PGTableLiveTuples,
		TableLastVacuum:     m.PGTableLastVacuum,
		TableLastAutovacuum: m.PGTableLastAutovacuum,
		XminAgeSeconds:      m.PGOldestXminAgeSeconds,
		XminAgeXIDs:         m.PGOldestXminAgeXIDs,
		DatabaseXIDAge:      m.PGDatabaseXIDAge,
	}, s.cfg.Scheduler.DepthRefreshInterval.Std(), s.logger))

	series := metrics.ServerSeries{GRPCMethods: s.grpc.Methods(), MaintenanceTasks: queue.MaintenanceTasks,
		FireOutcomes: queue.FireOutcomes, ProgressOutcomes: []string{queue.ProgressWritten, queue.ProgressCoalesced, queue.ProgressRefused}}
	for _, t := range queue.MeteredTransitions {
		series.JobTransitions = append(series.JobTransitions, metrics.JobTransition{Status: string(t.To), Reason: t.Reason})
	}
	if s.kafka != nil {
		series.KafkaTopics = kafka.Topics
	}
	// Queues created later get their series on first use; a failure here only costs the zeros.
	if queues, err := s.store.ListQueues(ctx); err != nil {
		s.logger.WarnContext(ctx, "metrics: cannot list the queues to create their series at zero", "error", err)
	} else {
		for _, q := range queues {
			series.Queues = append(series.Queues, q.Name)
		}
	}
	m.InitServer(series)
}

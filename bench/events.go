package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/queue"
)

// Metrics of the relay the events scenario reads from the server's registry.
const (
	publishedMetric     = "jq_kafka_events_published_total"
	publishErrorsMetric = "jq_kafka_publish_errors_total"
)

// eventsScenario runs burn twice, each on its own database and server: with the Kafka event
// relay off, then on (publishing to an in-process kfake cluster). It reports both
// throughputs, their ratio, and how long after the last completion the relay had published
// every event.
func eventsScenario(ctx context.Context, r *run, jobs int) (*Report, error) {
	started := time.Now()
	off, err := r.subRun(func(lr *run) (*Report, error) {
		lr.progress("relay off: burn of %s jobs", formatNumber(float64(jobs)))
		return runDrain(ctx, lr, drainParams{jobs: jobs, kind: noopJobs, payload: noopPayload})
	})
	if err != nil {
		return nil, fmt.Errorf("relay off: %w", err)
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(8))
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	defer cluster.Close()
	var relay relayFigures
	on, err := r.subRun(func(lr *run) (*Report, error) {
		lr.progress("relay on (kfake at %v): burn of %s jobs", cluster.ListenAddrs(), formatNumber(float64(jobs)))
		rep, err := runDrain(ctx, lr, drainParams{
			jobs: jobs, kind: noopJobs, payload: noopPayload,
			tweak: func(c *config.Config) { c.Kafka.Brokers = cluster.ListenAddrs() },
		})
		if err != nil {
			return nil, err
		}
		relay, err = lr.waitRelayed(ctx)
		return rep, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay on: %w", err)
	}

	rep := r.report(ctx, started, r.o.parameters(flagsServer|flagsWorkers))
	rep.Parameters["jobs"] = jobs
	rep.JobsPerSec = on.JobsPerSec
	rep.SchedulerCycleP95 = on.SchedulerCycleP95
	rep.PeakRSS = on.PeakRSS
	ratio := *on.JobsPerSec / *off.JobsPerSec
	// The relay published every event between the server's start and catching up: the burn
	// (jobs at the on-rate) and the catch-up after the last completion.
	relaySecs := float64(jobs) / *on.JobsPerSec + relay.caughtUp.Seconds()
	eventsPerSec := float64(relay.published) / relaySecs
	// Three of the four transitions of a job have a topic: SUBMITTED, STARTED, COMPLETED.
	want := 3 * jobs
	rep.Extra = map[string]any{
		"jobs": jobs, "jobs_per_sec_relay_off": round(*off.JobsPerSec, 1), "jobs_per_sec_relay_on": round(*on.JobsPerSec, 1),
		"ratio_on_to_off": round(ratio, 3), "events_published": relay.published, "events_expected": want,
		"publish_errors": relay.errors, "relay_caught_up_s": round(relay.caughtUp.Seconds(), 3),
		"relay_events_per_sec": round(eventsPerSec, 1),
	}
	rep.Rows = []Row{
		{"jobs", formatNumber(float64(jobs))},
		{"relay off", fmt.Sprintf("%s jobs/s", formatNumber(*off.JobsPerSec))},
		{"relay on (kfake)", fmt.Sprintf("%s jobs/s", formatNumber(*on.JobsPerSec))},
		{"on ÷ off", fmt.Sprintf("%.2f", ratio)},
		{"events published", fmt.Sprintf("%s of %s (SUBMITTED, STARTED, COMPLETED per job)", formatNumber(float64(relay.published)), formatNumber(float64(want)))},
		{"publish errors", fmt.Sprintf("%d (job topics)", relay.errors)},
		{"relay caught up", fmt.Sprintf("%.3f s after the last completion", relay.caughtUp.Seconds())},
		{"relay throughput", fmt.Sprintf("%s events/s (published ÷ time from the server's start until the relay caught up)", formatNumber(eventsPerSec))},
	}
	if relay.published != want {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d events published where %d were expected: each transition must be published exactly once", relay.published, want))
	}
	rep.Notes = append(rep.Notes,
		"kfake is an in-process Kafka: it costs this process CPU a real broker would not, and no network; the ratio is a bound on the relay's cost, not a forecast for a real cluster",
		"the jobs are inserted before the server starts, so the relay begins with a backlog of SUBMITTED events while the workers drain")
	rep.Targets = append(rep.Targets, atLeast("burn with the relay on ÷ off", ratio, 0.8, "ratio"))
	if on.SchedulerCycleP95 != nil {
		rep.Targets = append(rep.Targets, atMost("scheduler cycle p95 under load", *on.SchedulerCycleP95, cycleP95Target, "ms"))
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

// subRun runs f on a run of its own (its own database and server), closed when f returns.
func (r *run) subRun(f func(lr *run) (*Report, error)) (*Report, error) {
	lr, err := newRun(r.scenario, r.o, r.stderr)
	if err != nil {
		return nil, err
	}
	defer lr.close()
	return f(lr)
}

// relayFigures is what the relay did during an events run.
type relayFigures struct {
	published, errors int
	caughtUp          time.Duration // from the last completion to the cursor past the last event
}

// waitRelayed waits until the relay's cursor has passed every event in the run's database and
// reads the relay's counters.
func (r *run) waitRelayed(ctx context.Context) (relayFigures, error) {
	store := queue.NewStore(r.pool)
	var lastDone time.Time
	if err := r.pool.QueryRow(ctx, `SELECT max(completed_at) FROM jq.jobs`).Scan(&lastDone); err != nil {
		return relayFigures{}, fmt.Errorf("last completion: %w", err)
	}
	r.progress("waiting for the relay to publish every event")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		pos, err := store.RelayCursor(ctx, queue.DefaultRelayName)
		if err != nil {
			return relayFigures{}, fmt.Errorf("relay cursor: %w", err)
		}
		n, _, err := store.OutboxLag(ctx, pos)
		if err != nil {
			return relayFigures{}, fmt.Errorf("relay lag: %w", err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return relayFigures{}, fmt.Errorf("%d events not relayed yet: %w", n, context.Cause(ctx))
		case <-tick.C:
		}
	}
	f := relayFigures{caughtUp: max(0, time.Since(lastDone))}
	var err error
	if f.published, err = gatherSum(r.server.reg, publishedMetric, isJobTopic); err != nil {
		return f, err
	}
	f.errors, err = gatherSum(r.server.reg, publishErrorsMetric, isJobTopic)
	return f, err
}

// isJobTopic selects the series of job topics (not the workers' heartbeats).
func isJobTopic(labels map[string]string) bool { return labels["topic"] != kafka.TopicWorkerHeartbeat }

// gatherSum adds up the series of the counter or gauge called name in g that keep selects.
func gatherSum(g prometheus.Gatherer, name string, keep func(labels map[string]string) bool) (int, error) {
	families, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather metrics: %w", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if keep(labels) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return int(sum), nil
}

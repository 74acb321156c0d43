package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jqhq/jq/internal/events"
	"github.com/jqhq/jq/internal/events/eventjson"
	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/queue"
)

type relayBundle struct {
	*testBundle
	brokers  []string
	cluster  *kfake.Cluster
	producer *kafka.Producer
	errs     *prometheus.CounterVec
}

func setupRelay(t *testing.T) *relayBundle {
	t.Helper()
	b := &relayBundle{testBundle: setup(t)}
	b.startCluster(t, 0)
	b.errs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "errs"}, []string{"topic"})
	p, err := kafka.NewProducer(kafka.Options{Brokers: b.brokers, DeliveryTimeout: time.Second, PublishErrors: b.errs})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	b.producer = p
	return b
}

// startCluster starts a kfake cluster, on port (0: any free one).
func (b *relayBundle) startCluster(t *testing.T, port int) {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	b.cluster, b.brokers = c, c.ListenAddrs()
}

func (b *relayBundle) relay(sink queue.EventSink) *queue.Relay {
	return queue.NewRelay(b.store, sink, func() bool { return true }, queue.RelayConfig{BatchSize: 100}, logging.Discard(), queue.RelayMetrics{})
}

// owed counts the events after pos that the relay owes: committed, and older than every
// transaction of this database still running (a held transaction keeps back what comes after
// it). The relay's own horizon can lag behind this for a moment, by design: it also counts a
// transaction of another database that it cannot place (one that ended between its snapshot
// and its read of pg_stat_activity), and parallel tests' databases provide such transactions.
// So a run may see nothing of what a test has just committed; attempt and drain wait for it.
func (b *relayBundle) owed(t *testing.T, pos queue.OutboxPosition) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM jq.job_events
		WHERE (xid, id) > ($1::bigint::text::xid8, $2)
		  AND xid < coalesce(
			(SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
			 WHERE x::xid IN (SELECT a.backend_xid FROM pg_stat_activity a WHERE a.datname = current_database())),
			pg_snapshot_xmax(pg_current_snapshot()))`, int64(pos.XID), pos.ID).Scan(&n))
	return n
}

// attempt runs the relay until a run has had events to publish, and returns that run's
// result: the events published, or the error publishing them.
func (b *relayBundle) attempt(t *testing.T, r *queue.Relay) (n int, err error) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err = r.RunOnce(b.ctx)
		return n > 0 || err != nil
	}, 10*time.Second, 10*time.Millisecond, "the relay found nothing to publish")
	return n, err
}

// drain runs the relay until it owes nothing, and returns how many events it published.
func (b *relayBundle) drain(t *testing.T, r *queue.Relay) int {
	t.Helper()
	total := 0
	require.Eventually(t, func() bool {
		n, err := r.RunOnce(b.ctx)
		require.NoError(t, err)
		total += n
		if n > 0 {
			return false
		}
		pos, err := b.store.RelayCursor(b.ctx, queue.DefaultRelayName)
		require.NoError(t, err)
		return b.owed(t, pos) == 0
	}, 10*time.Second, time.Millisecond, "the relay still owes events")
	return total
}

// consume reads every record of the job topics from the start of b's current cluster.
func (b *relayBundle) consume(t *testing.T, want int) []kafka.Message {
	t.Helper()
	c, err := kafka.NewConsumer(kafka.Options{Brokers: b.brokers}, "", kafka.Topics, true)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var all []kafka.Message
	for len(all) < want && ctx.Err() == nil {
		msgs, err := c.Poll(ctx)
		if ctx.Err() == nil {
			require.NoError(t, err)
		}
		all = append(all, msgs...)
	}
	// Nothing more than expected arrives.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	more, _ := c.Poll(short)
	return append(all, more...)
}

func decode(t *testing.T, m kafka.Message) eventjson.JobEvent {
	t.Helper()
	var e eventjson.JobEvent
	require.NoError(t, json.Unmarshal(m.Value, &e))
	require.Equal(t, e.JobID, string(m.Key), "keyed by job id")
	return e
}

// publishedTransitions counts the transitions that have a topic, per topic, in the database.
func (b *relayBundle) publishedTransitions(t *testing.T) map[string]int {
	t.Helper()
	want := b.owed(t, queue.OutboxPosition{})
	var evs []queue.OutboxEvent
	require.Eventually(t, func() bool {
		var err error
		evs, err = b.store.OutboxBatch(b.ctx, queue.OutboxPosition{}, 1_000_000)
		require.NoError(t, err)
		return len(evs) == want
	}, 10*time.Second, 10*time.Millisecond, "the outbox returns every committed event")
	counts := map[string]int{}
	for _, e := range evs {
		if topic, ok := events.Topic(e.Event); ok {
			counts[topic]++
		}
	}
	return counts
}

func TestRelay_EveryTransitionOnceInOrderPerJob(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	zero := 0
	for i := range 30 {
		j := b.running(t, queue.SubmitParams{MaxRetries: &zero})
		switch i % 3 {
		case 0:
			_, err := b.store.Complete(b.ctx, report(j), []byte("ok"))
			require.NoError(t, err)
		case 1:
			_, err := b.store.Fail(b.ctx, report(j), "boom", false, queue.DefaultRetryPolicy)
			require.NoError(t, err)
		}
	}
	n := b.drain(t, b.relay(events.NewSink(b.producer)))
	require.Positive(t, n)

	want := b.publishedTransitions(t)
	total := 0
	for _, c := range want {
		total += c
	}
	msgs := b.consume(t, total)
	require.Len(t, msgs, total, "each transition once")
	got := map[string]int{}
	perJob := map[string][]int64{} // by topic and job: Kafka orders a key's records per topic
	for _, m := range msgs {
		got[m.Topic]++
		e := decode(t, m)
		perJob[m.Topic+"/"+e.JobID] = append(perJob[m.Topic+"/"+e.JobID], e.EventID)
	}
	require.Equal(t, want, got)
	require.Equal(t, 30, want[kafka.TopicJobSubmitted])
	require.Equal(t, 10, want[kafka.TopicJobCompleted])
	require.Equal(t, 10, want[kafka.TopicJobFailed])
	require.Equal(t, 10, want[kafka.TopicJobDeadLettered])
	require.Equal(t, 30, want[kafka.TopicJobStarted])
	for job, ids := range perJob {
		require.IsIncreasing(t, ids, "job %s: events out of order", job)
	}
	require.Zero(t, b.drain(t, b.relay(events.NewSink(b.producer))), "the cursor is at the end")
}

// TestRelay_DoesNotSkipALateCommit holds a transaction open while later ones commit: its
// event has a lower id than theirs but commits last, and must be published all the same.
func TestRelay_DoesNotSkipALateCommit(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	sink := &recordingSink{}
	r := b.relay(sink)

	held, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer held.Rollback(b.ctx)
	var heldJob uuid.UUID
	require.NoError(t, held.QueryRow(b.ctx, `SELECT jq.submit('default', '{"held": true}')`).Scan(&heldJob))

	var later []uuid.UUID
	for range 5 {
		later = append(later, b.submit(t, queue.SubmitParams{}))
	}
	// The held transaction is still running: nothing after it may go out yet, or the relay
	// would have to skip back for it.
	b.drain(t, r)
	for _, e := range sink.all() {
		require.NotContains(t, later, e.JobID, "an event after a running transaction was published")
	}
	require.NoError(t, held.Commit(b.ctx))

	b.drain(t, r)
	var order []uuid.UUID
	for _, e := range sink.all() {
		if e.Reason == queue.ReasonSubmitted {
			order = append(order, e.JobID)
		}
	}
	require.Equal(t, append([]uuid.UUID{heldJob}, later...), order[len(order)-6:],
		"the late commit is published, in transaction order, before the later ones")
}

func TestRelay_CursorMovesOnlyAfterAcknowledgement(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	for range 3 {
		b.submit(t, queue.SubmitParams{})
	}
	failing := &recordingSink{err: errors.New("kafka down")}
	r := b.relay(failing)
	for range 3 {
		_, err := b.attempt(t, r)
		require.ErrorContains(t, err, "kafka down")
	}
	require.True(t, r.Failing())
	pos, err := b.store.RelayCursor(b.ctx, "kafka")
	require.NoError(t, err)
	require.Equal(t, queue.OutboxPosition{}, pos, "the cursor never passes an unacknowledged event")

	failing.setErr(nil)
	n, err := b.attempt(t, r)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.False(t, r.Failing())
	pos, err = b.store.RelayCursor(b.ctx, "kafka")
	require.NoError(t, err)
	require.NotZero(t, pos.ID)
}

// TestRelay_KafkaStoppedThenRestarted: Kafka goes away mid-stream and comes back on the same
// address; every event arrives, the failed publishes are counted, and only a batch whose
// acknowledgement was lost may arrive twice.
func TestRelay_KafkaStoppedThenRestarted(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	r := b.relay(events.NewSink(b.producer))
	for range 10 {
		b.submit(t, queue.SubmitParams{})
	}
	b.drain(t, r)
	before := b.consume(t, 10)
	require.Len(t, before, 10)

	_, portStr, _ := net.SplitHostPort(b.brokers[0])
	port, _ := strconv.Atoi(portStr)
	b.cluster.Close()
	for range 10 {
		b.submit(t, queue.SubmitParams{})
	}
	_, err := b.attempt(t, r)
	require.Error(t, err, "Kafka is down")
	require.Positive(t, testutil.ToFloat64(b.errs.WithLabelValues(kafka.TopicJobSubmitted)), "failed deliveries are counted")
	pos, err := b.store.RelayCursor(b.ctx, "kafka")
	require.NoError(t, err)

	b.startCluster(t, port) // Kafka is back, empty, on the same address
	require.Eventually(t, func() bool {
		_, err := r.RunOnce(b.ctx)
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
	b.drain(t, r)
	after := b.consume(t, 10)
	seen := map[string]int{}
	for _, m := range append(before, after...) {
		seen[decode(t, m).JobID]++
	}
	require.Len(t, seen, 20, "every event arrived")
	newPos, err := b.store.RelayCursor(b.ctx, "kafka")
	require.NoError(t, err)
	require.True(t, pos.Less(newPos))
}

func TestRelay_HandoverResumesFromTheCursor(t *testing.T) {
	t.Parallel()
	b := setupRelay(t)
	first := &recordingSink{}
	for range 5 {
		b.submit(t, queue.SubmitParams{})
	}
	b.drain(t, b.relay(first)) // the old leader
	for range 5 {
		b.submit(t, queue.SubmitParams{})
	}
	second := &recordingSink{}
	b.drain(t, b.relay(second)) // the new leader, a fresh Relay on the same cursor
	require.Len(t, first.all(), 5)
	require.Len(t, second.all(), 5, "the new leader resumes where the old one stopped")
	for _, e := range second.all() {
		for _, f := range first.all() {
			require.NotEqual(t, f.ID, e.ID)
		}
	}
}

// recordingSink keeps what it is given, or fails with err.
type recordingSink struct {
	mu     sync.Mutex
	err    error
	events []queue.OutboxEvent
}

func (s *recordingSink) Publish(_ context.Context, evs []queue.OutboxEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, evs...)
	return nil
}

func (s *recordingSink) setErr(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *recordingSink) all() []queue.OutboxEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]queue.OutboxEvent(nil), s.events...)
}

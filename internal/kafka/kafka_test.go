package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jqhq/jq/internal/kafka"
	"github.com/jqhq/jq/internal/testleak"
)

func TestMain(m *testing.M) { testleak.VerifyTestMain(m) }

func cluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestProducer_PublishSyncAndConsume(t *testing.T) {
	t.Parallel()
	brokers := cluster(t)
	ctx := context.Background()
	published := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "p"}, []string{"topic"})
	p, err := kafka.NewProducer(kafka.Options{Brokers: brokers, Published: published})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Ping(ctx))

	var recs []kafka.Record
	for i := range 20 {
		recs = append(recs, kafka.Record{Topic: kafka.TopicJobCompleted, Key: fmt.Appendf(nil, "job-%d", i%4), Value: fmt.Appendf(nil, "%d", i)})
	}
	require.NoError(t, p.PublishSync(ctx, recs))
	require.Equal(t, 20.0, testutil.ToFloat64(published.WithLabelValues(kafka.TopicJobCompleted)))

	c, err := kafka.NewConsumer(kafka.Options{Brokers: brokers}, "test-group", []string{kafka.TopicJobCompleted}, true)
	require.NoError(t, err)
	defer c.Close()
	perKey := map[string][]string{}
	var all []kafka.Message
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(all) < 20 {
		msgs, err := c.Poll(pctx)
		require.NoError(t, err)
		all = append(all, msgs...)
	}
	for _, m := range all {
		perKey[string(m.Key)] = append(perKey[string(m.Key)], string(m.Value))
	}
	require.Equal(t, []string{"0", "4", "8", "12", "16"}, perKey["job-0"], "one key keeps its order (one partition)")
	require.NoError(t, c.Commit(ctx, all...))

	// A second consumer in the same group starts after the committed offsets.
	c2, err := kafka.NewConsumer(kafka.Options{Brokers: brokers}, "test-group", []string{kafka.TopicJobCompleted}, true)
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, p.PublishSync(ctx, []kafka.Record{{Topic: kafka.TopicJobCompleted, Key: []byte("k"), Value: []byte("new")}}))
	msgs, err := c2.Poll(pctx)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, "new", string(msgs[0].Value))
}

func TestProducer_AsyncFailureIsLoggedAndCounted(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	require.NoError(t, err)
	brokers := c.ListenAddrs()
	c.Close() // Kafka is gone

	logs := &syncBuffer{}
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "e"}, []string{"topic"})
	p, err := kafka.NewProducer(kafka.Options{
		Brokers: brokers, DeliveryTimeout: time.Second, PublishErrors: errs,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	require.NoError(t, err)
	defer p.Close()
	p.Publish(context.Background(), kafka.TopicWorkerHeartbeat, []byte("w1"), []byte(`{}`))
	require.Eventually(t, func() bool { return testutil.ToFloat64(errs.WithLabelValues(kafka.TopicWorkerHeartbeat)) == 1 },
		10*time.Second, 20*time.Millisecond)
	out := logs.String()
	require.Contains(t, out, `"level":"ERROR"`)
	require.Contains(t, out, `"topic":"worker.heartbeat"`)
	require.Contains(t, out, `"key":"w1"`)

	err = p.PublishSync(context.Background(), []kafka.Record{{Topic: kafka.TopicJobFailed, Value: []byte("x")}})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "job.failed"))
	require.Error(t, p.Ping(context.Background()))
}

func TestOptions_Validation(t *testing.T) {
	t.Parallel()
	_, err := kafka.NewProducer(kafka.Options{})
	require.ErrorContains(t, err, "no brokers")
	_, err = kafka.NewProducer(kafka.Options{Brokers: []string{"127.0.0.1:1"}, SASLMechanism: "MD5"})
	require.ErrorContains(t, err, `unknown SASL mechanism "MD5"`)
	p, err := kafka.NewProducer(kafka.Options{Brokers: []string{"127.0.0.1:1"}, SASLMechanism: "SCRAM-SHA-512", SASLUsername: "u", SASLPassword: "p", TLS: true})
	require.NoError(t, err)
	p.Close()
}

// A broker that comes back without its metadata (or a topic deleted and created again) gives
// the topics new ids; the producer must not keep publishing with the ids it cached.
func TestProducer_RecoversFromRecreatedTopics(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.Ports(0))
	require.NoError(t, err)
	addrs := c.ListenAddrs()
	p, err := kafka.NewProducer(kafka.Options{Brokers: addrs, DeliveryTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer p.Close()
	ctx := context.Background()
	rec := []kafka.Record{{Topic: kafka.TopicJobStarted, Key: []byte("k"), Value: []byte("v")}}
	require.NoError(t, p.PublishSync(ctx, rec))

	var port int
	_, err = fmt.Sscanf(addrs[0][strings.LastIndex(addrs[0], ":")+1:], "%d", &port)
	require.NoError(t, err)
	c.Close()
	// The relay keeps retrying while the broker is away.
	down := time.Now()
	for time.Since(down) < 3*time.Second {
		require.Error(t, p.PublishSync(ctx, rec))
	}
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.Ports(port))
	require.NoError(t, err)
	defer c2.Close()

	start := time.Now()
	var errs []string
	require.Eventually(t, func() bool {
		err := p.PublishSync(ctx, rec)
		if err != nil {
			errs = append(errs, err.Error())
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "the producer never published to the recreated topic")
	t.Logf("published again %s after the broker came back with new topic ids (%d failed batches first: %v)",
		time.Since(start).Round(time.Millisecond), len(errs), errs)
}

package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/events"
	"github.com/jqhq/jq/internal/events/eventjson"
	"github.com/jqhq/jq/internal/kafka"
	jqv1 "github.com/jqhq/jq/proto/jq/v1"
	"github.com/jqhq/jq/queue"
	"github.com/jqhq/jq/worker"
)

func kafkaCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(8))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestEvents_Soak runs 20,000 jobs through a server with the Kafka relay on: the records per
// topic equal the transitions in the database, each exactly once.
func TestEvents_Soak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	t.Parallel()
	const jobs = 20_000
	cluster := kafkaCluster(t)
	b := setup(t, func(c *config.Config) {
		c.Kafka.Brokers = cluster.ListenAddrs()
		c.Scheduler.BatchSize = 500
	})
	ctx := context.Background()
	store := b.srv.Store()
	payloads := make([]json.RawMessage, 1000)
	for i := range payloads {
		payloads[i] = json.RawMessage(`{}`)
	}
	for range jobs / len(payloads) {
		_, err := store.SubmitMany(ctx, "default", payloads, 0)
		require.NoError(t, err)
	}
	w, err := worker.New(worker.Config{ServerAddr: b.srv.GRPCAddr().String(), Token: b.srv.AdminKey, Concurrency: 128},
		worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) { return nil, nil }))
	require.NoError(t, err)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	require.Eventually(t, func() bool {
		var left int
		require.NoError(t, store.Pool().QueryRow(ctx, `SELECT count(*) FROM jq.jobs WHERE status <> 'DONE'`).Scan(&left))
		return left == 0
	}, 120*time.Second, 100*time.Millisecond)

	// Every transition that has a topic, as the database has them. The outbox's horizon may
	// lag a moment behind the last commit (a transaction of a parallel test's database that
	// it cannot place holds it back), so read until every job's events are in.
	var want map[string]int
	require.Eventually(t, func() bool {
		all, err := store.OutboxBatch(ctx, queue.OutboxPosition{}, 10*jobs)
		require.NoError(t, err)
		want = map[string]int{}
		for _, e := range all {
			if topic, ok := events.Topic(e.Event); ok {
				want[topic]++
			}
		}
		return want[kafka.TopicJobSubmitted] == jobs && want[kafka.TopicJobCompleted] == jobs
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, jobs, want[kafka.TopicJobSubmitted])
	require.Equal(t, jobs, want[kafka.TopicJobCompleted])
	total := 0
	for _, n := range want {
		total += n
	}

	consumer, err := kafka.NewConsumer(kafka.Options{Brokers: cluster.ListenAddrs()}, "", kafka.Topics[:5], true)
	require.NoError(t, err)
	defer consumer.Close()
	got := map[string]int{}
	seen := map[int64]bool{}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	received := 0
	for received < total && pctx.Err() == nil {
		msgs, err := consumer.Poll(pctx)
		if pctx.Err() == nil {
			require.NoError(t, err)
		}
		for _, m := range msgs {
			var e eventjson.JobEvent
			require.NoError(t, json.Unmarshal(m.Value, &e))
			require.False(t, seen[e.EventID], "event %d published twice", e.EventID)
			seen[e.EventID] = true
			got[m.Topic]++
			received++
		}
	}
	require.Equal(t, want, got)
}

func TestEvents_KafkaDownDegradesButTheQueueWorks(t *testing.T) {
	t.Parallel()
	cluster := kafkaCluster(t)
	b := setup(t, func(c *config.Config) { c.Kafka.Brokers = cluster.ListenAddrs() })
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + b.srv.HealthAddr().String() + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := readyz()
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"kafka":"ok"`)

	cluster.Close()
	require.Eventually(t, func() bool {
		code, body := readyz()
		return code == http.StatusOK && strings.Contains(body, `"status":"degraded"`) && strings.Contains(body, `"kafka":"degraded: `)
	}, 15*time.Second, 100*time.Millisecond, "readyz says degraded and stays 200")

	// Jobs still run.
	id := b.submit(t, &jqv1.SubmitJobRequest{})
	w := newTestWorker(t, b.conn, 1)
	a := w.next(5 * time.Second)
	require.Equal(t, id, a.GetJob().GetJobId())
	w.mustReport(a, true)
}

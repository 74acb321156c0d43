package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/jqhq/jq/internal/config"
)

func TestEventsTail(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	brokers := strings.Join(cluster.ListenAddrs(), ",")
	b := setup(t, func(c *config.Config) { c.Kafka.Brokers = cluster.ListenAddrs() })

	id := b.submit(t, "--", "echo", "hi")
	other := b.submit(t, "--", "echo", "other")

	r := b.ctl(t, "events", "tail", "--kafka-brokers", brokers, "--from-start", "--job", id, "--count", "1", "-o", "json")
	r.requireCode(t, exitOK)
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e), "stdout: %s", r.stdout)
	require.Equal(t, "job.submitted", e["topic"])
	require.Equal(t, id, e["job_id"])
	require.Equal(t, "SUBMITTED", e["reason"])

	r = b.ctl(t, "events", "tail", "--kafka-brokers", brokers, "--from-start", "--topic", "job.submitted", "--count", "2")
	r.requireCode(t, exitOK)
	require.Contains(t, r.stdout, "job "+id+"  - -> PENDING  SUBMITTED  attempt 0")
	require.Contains(t, r.stdout, other)

	r = b.ctl(t, "events", "tail", "--kafka-brokers", brokers, "--topic", "nope")
	r.requireCode(t, exitInvalid)
	r = b.ctl(t, "events", "tail", "--kafka-brokers", "")
	r.requireCode(t, exitUsage)
	r = b.ctl(t, "events", "tail", "--kafka-brokers", brokers, "--job", "bad")
	r.requireCode(t, exitInvalid)
}

package grpc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// TestQueueTTLs_NoLockAcrossTheQuery: while one caller refreshes (the query hangs), the others
// answer from the cache at once; an unknown queue does not query on every call.
func TestQueueTTLs_NoLockAcrossTheQuery(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	release := make(chan struct{})
	c := &queueTTLs{maxAge: time.Hour, list: func(ctx context.Context) ([]*queue.Queue, error) {
		if calls.Add(1) == 2 {
			<-release // the second refresh hangs, as on a dead connection
		}
		return []*queue.Queue{{Name: "default", TTL: time.Minute}}, nil
	}}
	require.Equal(t, time.Minute, c.get(context.Background(), "default"))
	require.EqualValues(t, 1, calls.Load())

	for range 100 {
		require.Zero(t, c.get(context.Background(), "no-such-queue"))
	}
	require.EqualValues(t, 1, calls.Load(), "an unknown queue does not query on every call")

	c.mu.Lock()
	c.fetched = time.Now().Add(-2 * time.Hour) // stale: the next call refreshes
	c.mu.Unlock()
	hung := make(chan time.Duration)
	go func() { hung <- c.get(context.Background(), "default") }()
	require.Eventually(t, func() bool { return calls.Load() == 2 }, 5*time.Second, time.Millisecond)
	done := make(chan time.Duration)
	go func() { done <- c.get(context.Background(), "default") }()
	select {
	case ttl := <-done:
		require.Equal(t, time.Minute, ttl, "answered from the cache while the refresh hangs")
	case <-time.After(5 * time.Second):
		t.Fatal("a caller waited for another's query")
	}
	close(release)
	require.Equal(t, time.Minute, <-hung)
}

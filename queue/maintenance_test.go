package queue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/queue"
)

// countingStore counts maintenance calls.
type countingStore struct{ reaps, expires atomic.Int64 }

func (c *countingStore) ReapWorkers(context.Context, time.Duration, queue.RetryPolicy) (int, error) {
	c.reaps.Add(1)
	return 0, nil
}

func (c *countingStore) ExpireTTL(context.Context, int) (int, error) {
	c.expires.Add(1)
	return 0, nil
}

func (c *countingStore) RequeueUnstarted(context.Context, time.Duration, int) (int, error) {
	return 0, nil
}
func (c *countingStore) Prune(context.Context, time.Duration, int) (int, error) { return 0, nil }
func (c *countingStore) ReapOrphans(context.Context, int) (int, error)          { return 0, nil }
func (c *countingStore) PruneWorkers(context.Context, time.Duration, int) (int, error) {
	return 0, nil
}
func (c *countingStore) PruneScheduleFires(context.Context, time.Duration, int) (int, error) {
	return 0, nil
}

func TestMaintenance_NewLeaderWaitsAHeartbeatTimeoutBeforeReaping(t *testing.T) {
	t.Parallel()
	store := &countingStore{}
	var ledFor atomic.Int64
	m := queue.NewMaintenance(store, func() time.Duration { return time.Duration(ledFor.Load()) }, queue.MaintenanceConfig{
		ReapInterval: 10 * time.Millisecond, ExpireInterval: 10 * time.Millisecond, PruneInterval: time.Hour,
		HeartbeatTimeout: 30 * time.Second,
	}, logging.Discard(), nil, nil)
	require.NoError(t, m.Start(context.Background()))
	defer m.Stop()

	time.Sleep(100 * time.Millisecond) // deliberate: ten reap and expire intervals pass, and nothing may run
	require.Zero(t, store.reaps.Load()+store.expires.Load(), "not leading: nothing runs")

	ledFor.Store(int64(time.Second)) // just elected
	require.Eventually(t, func() bool { return store.expires.Load() > 0 }, 2*time.Second, 5*time.Millisecond)
	require.Zero(t, store.reaps.Load(), "no reaping before the workers had a heartbeat timeout to come back")

	ledFor.Store(int64(31 * time.Second))
	require.Eventually(t, func() bool { return store.reaps.Load() > 0 }, 2*time.Second, 5*time.Millisecond)
}

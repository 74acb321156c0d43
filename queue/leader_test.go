package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

// TestLeader_FollowerKeepsOneSession: without Redis, a follower campaigns for the advisory
// lock on one session it keeps, instead of connecting anew every ttl/3.
func TestLeader_FollowerKeepsOneSession(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	pool := testdb.PoolFor(t, url)
	start := func() *queue.Leader {
		l := queue.NewLeader(nil, url, 300*time.Millisecond, logging.Discard(), nil)
		require.NoError(t, l.Start(context.Background()))
		t.Cleanup(l.Stop)
		return l
	}
	first := start()
	require.Eventually(t, first.Leading, 5*time.Second, 10*time.Millisecond)
	second := start()

	sessions := func() []int {
		var pids []int
		rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 ORDER BY pid`, queue.LeaderApplicationName)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var pid int
			require.NoError(t, rows.Scan(&pid))
			pids = append(pids, pid)
		}
		return pids
	}
	var before []int
	require.Eventually(t, func() bool { before = sessions(); return len(before) == 2 }, 5*time.Second, 20*time.Millisecond,
		"the leader's and the follower's sessions")
	time.Sleep(500 * time.Millisecond) // deliberate: several campaigns (every 100 ms) pass, and no session may change
	require.Equal(t, before, sessions(), "the same two sessions: the follower did not reconnect")
	require.True(t, first.Leading())
	require.False(t, second.Leading())

	first.Stop()
	require.Eventually(t, second.Leading, 5*time.Second, 10*time.Millisecond, "the follower takes over on its session")
}

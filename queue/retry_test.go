package queue_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, maxDelay := time.Second, 5*time.Minute
	for _, tc := range []struct {
		retry  int
		jitter float64
		want   time.Duration
	}{
		{0, 0, time.Second},
		{1, 0, 2 * time.Second},
		{3, 0, 8 * time.Second},
		{3, 1, 8800 * time.Millisecond},
		{8, 0, 256 * time.Second},
		{9, 0, 5 * time.Minute}, // 512 s capped
		{9, 1, 330 * time.Second},
		{1000, 0.5, 315 * time.Second},
		{-1, 0, time.Second},
		{2, 7, 4400 * time.Millisecond}, // jitter clamped to 1
	} {
		require.Equal(t, tc.want, queue.Backoff(tc.retry, base, maxDelay, tc.jitter), "retry %d jitter %v", tc.retry, tc.jitter)
	}
}

func TestBackoff_GrowsAndIsBounded(t *testing.T) {
	t.Parallel()
	base, maxDelay := 500*time.Millisecond, time.Minute
	prev := time.Duration(0)
	for retry := range 30 {
		d := queue.Backoff(retry, base, maxDelay, 0)
		require.GreaterOrEqual(t, d, prev, "retry %d", retry)
		prev = d
		for range 100 {
			j := queue.Backoff(retry, base, maxDelay, rand.Float64())
			require.GreaterOrEqual(t, j, d)
			require.LessOrEqual(t, j, maxDelay+maxDelay/10)
		}
	}
}

// TestBackoff_SQLAgreesWithGo proves jq.backoff and queue.Backoff are one formula, and that the
// SQL one, with its own random jitter, stays within bounds over many draws.
func TestBackoff_SQLAgreesWithGo(t *testing.T) {
	t.Parallel()
	pool := testdb.Pool(t)
	ctx := context.Background()
	for _, base := range []time.Duration{time.Second, 250 * time.Millisecond, 3 * time.Second} {
		for _, maxDelay := range []time.Duration{time.Minute, 5 * time.Minute} {
			for retry := range 14 {
				for _, jitter := range []float64{0, 0.25, 0.999} {
					var micros int64
					require.NoError(t, pool.QueryRow(ctx,
						`SELECT (extract(epoch FROM jq.backoff($1, $2, $3, $4)) * 1e6)::bigint`,
						retry, base, maxDelay, jitter).Scan(&micros))
					want := queue.Backoff(retry, base, maxDelay, jitter)
					require.InDelta(t, want.Microseconds(), micros, 1, "retry %d base %v max %v jitter %v", retry, base, maxDelay, jitter)
				}
			}
		}
	}

	rows, err := pool.Query(ctx, `SELECT r, extract(epoch FROM jq.backoff(r, '1 second', '1 minute'))
		FROM generate_series(0, 9) r, generate_series(1, 200)`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var retry int
		var secs float64
		require.NoError(t, rows.Scan(&retry, &secs))
		floor := queue.Backoff(retry, time.Second, time.Minute, 0).Seconds()
		require.GreaterOrEqual(t, secs, floor, "retry %d", retry)
		require.LessOrEqual(t, secs, floor*1.1+1e-6, "retry %d", retry)
	}
	require.NoError(t, rows.Err())
}

package queue_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testdb"
)

// backoff asks jq.backoff for the delay before retry number retry+1, to the microsecond.
func backoff(t *testing.T, pool *pgxpool.Pool, retry int, base, maxDelay time.Duration, jitter float64) time.Duration {
	t.Helper()
	var micros int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT (extract(epoch FROM jq.backoff($1, $2, $3, $4)) * 1e6)::bigint`,
		retry, base, maxDelay, jitter).Scan(&micros))
	return time.Duration(micros) * time.Microsecond
}

// wantBackoff is the formula docs/sql.md gives for jq.backoff:
//
//	min(base·2^retry, maxDelay) · (1 + 0.1·jitter),  jitter clamped to [0, 1]
func wantBackoff(retry int, base, maxDelay time.Duration, jitter float64) time.Duration {
	d := math.Min(base.Seconds()*math.Pow(2, float64(min(retry, 62))), maxDelay.Seconds())
	return time.Duration(math.Round(d*(1+0.1*math.Min(math.Max(jitter, 0), 1))*1e6)) * time.Microsecond
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	pool := testdb.Pool(t)
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
		{2, 7, 4400 * time.Millisecond}, // jitter clamped to 1
	} {
		require.Equal(t, tc.want, backoff(t, pool, tc.retry, base, maxDelay, tc.jitter), "retry %d jitter %v", tc.retry, tc.jitter)
	}
}

// TestBackoff_Formula: jq.backoff is the documented formula over many bases, caps and jitters,
// and the SQL one, with its own random jitter, stays within bounds over many draws.
func TestBackoff_Formula(t *testing.T) {
	t.Parallel()
	pool := testdb.Pool(t)
	ctx := context.Background()
	for _, base := range []time.Duration{time.Second, 250 * time.Millisecond, 3 * time.Second} {
		for _, maxDelay := range []time.Duration{time.Minute, 5 * time.Minute} {
			prev := time.Duration(0)
			for retry := range 14 {
				for _, jitter := range []float64{0, 0.25, 0.999} {
					got := backoff(t, pool, retry, base, maxDelay, jitter)
					want := wantBackoff(retry, base, maxDelay, jitter)
					require.InDelta(t, want.Microseconds(), got.Microseconds(), 1, "retry %d base %v max %v jitter %v", retry, base, maxDelay, jitter)
				}
				d := backoff(t, pool, retry, base, maxDelay, 0)
				require.GreaterOrEqual(t, d, prev, "grows: retry %d base %v max %v", retry, base, maxDelay)
				prev = d
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
		floor := wantBackoff(retry, time.Second, time.Minute, 0).Seconds()
		require.GreaterOrEqual(t, secs, floor, "retry %d", retry)
		require.LessOrEqual(t, secs, floor*1.1+1e-6, "retry %d", retry)
	}
	require.NoError(t, rows.Err())
}

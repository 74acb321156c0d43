package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/bench"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

// BenchmarkSQLLifecycle measures the SQL API alone, the ceiling of the whole server: b.N jobs
// are inserted with submit_many (1,000 per call), then `claimers` loops each claim a batch and
// complete it with one complete_many (the Start cases mark it RUNNING in between), until none
// is left. Every transition writes its job_events row. Reports jobs/s (from the first claim to
// the last complete).
//
//	go test ./queue -run '^$' -bench SQLLifecycle -benchtime 20000x
func BenchmarkSQLLifecycle(b *testing.B) {
	for _, tc := range []struct {
		name      string
		claimers  int
		batchSize int
		start     bool
	}{
		{"Claimers1/Batch100", 1, 100, false},
		{"Claimers4/Batch100", 4, 100, false},
		{"Claimers1/Batch500", 1, 500, false},
		{"Claimers4/Batch500", 4, 500, false},
		{"Claimers4/Batch500/Start", 4, 500, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			pool := testdb.Pool(b)
			store := queue.NewStore(pool)

			payloads := make([]json.RawMessage, 1000)
			for i := range payloads {
				payloads[i] = json.RawMessage(`{"command": ["true"]}`)
			}
			for left := b.N; left > 0; left -= len(payloads) {
				_, err := store.SubmitMany(ctx, "default", payloads[:min(left, len(payloads))], 0)
				require.NoError(b, err)
			}
			_, err := pool.Exec(ctx, "VACUUM ANALYZE jq.jobs")
			require.NoError(b, err)

			workers := make([]uuid.UUID, tc.claimers)
			for i := range workers {
				w, err := store.RegisterWorker(ctx, queue.RegisterWorkerParams{ID: uuid.New(), Hostname: "bench", Concurrency: 1000, Queues: []string{"default"}})
				require.NoError(b, err)
				workers[i] = w.ID
			}

			b.ResetTimer()
			start := time.Now()
			done, _, err := bench.Lifecycle(ctx, store, "default", workers, tc.batchSize, tc.start)
			elapsed := time.Since(start)
			b.StopTimer()
			require.NoError(b, err)
			require.Equal(b, int64(b.N), done)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
		})
	}
}

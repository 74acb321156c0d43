package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/config"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/internal/testserver"
	"github.com/jqhq/jq/worker"
)

// BenchmarkBurn measures the whole server path in one process: b.N no-op jobs are inserted in
// bulk, then one worker (the worker package, no-op Go handler, over real gRPC on loopback)
// drains them through one server. Reports jobs/s.
//
//	go test ./internal/server -run '^$' -bench Burn -benchtime 20000x
func BenchmarkBurn(b *testing.B) {
	for _, concurrency := range []int{64, 256} {
		b.Run("Concurrency"+itoa(concurrency), func(b *testing.B) {
			ctx := context.Background()
			cfg := testserver.Config(testdb.New(b))
			cfg.DB.MaxConns = 8
			cfg.Scheduler.BatchSize = 500
			cfg.Scheduler.Interval = config.Duration(500 * time.Millisecond)
			srv := testserver.StartWith(b, cfg)
			payloads := make([]json.RawMessage, 1000)
			for i := range payloads {
				payloads[i] = json.RawMessage(`{}`)
			}
			for left := b.N; left > 0; left -= len(payloads) {
				_, err := srv.Store().SubmitMany(ctx, "default", payloads[:min(left, len(payloads))], 0)
				require.NoError(b, err)
			}
			_, err := srv.Store().Pool().Exec(ctx, "VACUUM ANALYZE jq.jobs")
			require.NoError(b, err)

			b.ResetTimer()
			start := time.Now()
			w, err := worker.New(worker.Config{ServerAddr: srv.GRPCAddr().String(), Token: srv.AdminKey, Concurrency: concurrency},
				worker.HandlerFunc(func(context.Context, worker.Job) ([]byte, error) { return nil, nil }))
			require.NoError(b, err)
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(wctx) }()
			for {
				var pending int
				require.NoError(b, srv.Store().Pool().QueryRow(ctx,
					`SELECT count(*) FROM jq.jobs WHERE status <> 'DONE'`).Scan(&pending))
				if pending == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			require.NoError(b, <-done)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Package worker runs jq jobs: it registers with jq-server, holds the job stream, runs up to
// its concurrency of jobs at once, heartbeats, reports every outcome (echoing the attempt it
// was given), reconnects with full-jitter backoff when the server goes away, and drains
// gracefully. cmd/jq-worker runs it with the subprocess handler (Exec); Go programs embed it
// with their own handlers:
//
//	mux := worker.NewMux()
//	mux.Register("resize", func(ctx context.Context, job worker.Job) ([]byte, error) { ... })
//	w, err := worker.New(worker.Config{ServerAddr: "jq-server:50051", Queues: []string{"images"}}, mux)
//	err = w.Run(ctx) // returns after a graceful drain once ctx ends
package worker

package queue

import (
	"context"

	"github.com/google/uuid"
)

// CompleterStore is what the Completer needs from the database.
type CompleterStore interface {
	CompleteMany(ctx context.Context, reports []Report, results [][]byte) ([]*Job, error)
	Complete(ctx context.Context, r Report, result []byte) (*Job, error)
}

// Completer turns concurrent successful reports into batched jq.complete_many calls (see
// batchLoop): each batch is one statement. (Lingering 2 ms for more, or two batches in flight
// at once, made smaller batches and cost throughput.) A report the batch skipped (its attempt
// was not current) is retried alone through jq.complete, which says precisely why it is
// refused.
type Completer struct {
	batchLoop[*completion]

	store CompleterStore
}

type completion struct {
	ctx    context.Context
	report Report
	result []byte
	done   chan completed
}

type completed struct {
	job *Job
	err error
}

// NewCompleter returns a Completer; maxBatch ≤ 0 means 500. Start it before serving.
func NewCompleter(store CompleterStore, maxBatch int) *Completer {
	if maxBatch <= 0 {
		maxBatch = 500
	}
	c := &Completer{store: store}
	c.batchLoop = newBatchLoop(maxBatch, 1, c.flush)
	return c
}

// Complete records a successful attempt, batched with others arriving at the same time. It
// returns what Store.Complete would.
func (c *Completer) Complete(ctx context.Context, r Report, result []byte) (*Job, error) {
	req := &completion{ctx: ctx, report: r, result: result, done: make(chan completed, 1)}
	if err := c.enqueue(ctx, req); err != nil {
		return nil, err
	}
	select {
	case res := <-req.done:
		return res.job, res.err
	case <-ctx.Done():
		// The batch may still complete it; the worker retries and learns the outcome.
		return nil, ctx.Err()
	}
}

func (c *Completer) flush(ctx context.Context, batch []*completion) {
	reports := make([]Report, len(batch))
	results := make([][]byte, len(batch))
	for i, req := range batch {
		reports[i], results[i] = req.report, req.result
	}
	jobs, err := c.store.CompleteMany(ctx, reports, results)
	if err != nil {
		for _, req := range batch {
			req.done <- completed{err: err}
		}
		return
	}
	byID := make(map[uuid.UUID]*Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	for _, req := range batch {
		if j, ok := byID[req.report.JobID]; ok {
			req.done <- completed{job: j}
			continue
		}
		// Skipped: stale, unknown or already finished. jq.complete tells which.
		j, err := c.store.Complete(req.ctx, req.report, req.result)
		req.done <- completed{job: j, err: err}
	}
}

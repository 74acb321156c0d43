package queue

import (
	"context"

	"github.com/google/uuid"
	"github.com/riverqueue/river/rivershared/startstop"
)

// CompleterStore is what the Completer needs from the database.
type CompleterStore interface {
	CompleteMany(ctx context.Context, reports []Report, results [][]byte) ([]*Job, error)
	Complete(ctx context.Context, r Report, result []byte) (*Job, error)
}

// Completer turns concurrent successful reports into batched jq.complete_many calls. One loop
// takes every report queued when it is free (up to maxBatch) and completes them in one
// statement, so batches grow with the load on their own: a lone report goes out at once, and
// reports arriving during a flush form the next batch. (Lingering 2 ms for more, or two
// batches in flight at once, made smaller batches and cost throughput.) A report the batch
// skipped (its attempt was not current) is retried alone through jq.complete, which says
// precisely why it is refused.
type Completer struct {
	startstop.BaseStartStop

	store    CompleterStore
	maxBatch int
	in       chan *completion
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

// NewCompleter returns a Completer; maxBatch ≤ 0 means 500.
func NewCompleter(store CompleterStore, maxBatch int) *Completer {
	if maxBatch <= 0 {
		maxBatch = 500
	}
	return &Completer{store: store, maxBatch: maxBatch, in: make(chan *completion, 4*maxBatch)}
}

// Complete records a successful attempt, batched with others arriving at the same time. It
// returns what Store.Complete would. Reports wait for the loop: Start it before serving.
func (c *Completer) Complete(ctx context.Context, r Report, result []byte) (*Job, error) {
	req := &completion{ctx: ctx, report: r, result: result, done: make(chan completed, 1)}
	select {
	case c.in <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.job, res.err
	case <-ctx.Done():
		// The batch may still complete it; the worker retries and learns the outcome.
		return nil, ctx.Err()
	}
}

// Start runs the batching loop until ctx ends or Stop is called; queued reports are flushed
// first.
func (c *Completer) Start(ctx context.Context) error {
	ctx, shouldStart, started, stopped := c.StartInit(ctx)
	if !shouldStart {
		return nil
	}
	go func() {
		started()
		defer stopped()
		for {
			var first *completion
			select {
			case <-ctx.Done():
				// What is still queued is completed before the loop ends.
				drainEach(c.in, func(req *completion) { c.flush(context.Background(), []*completion{req}) })
				return
			case first = <-c.in:
			}
			c.flush(context.WithoutCancel(ctx), takeQueued(first, c.in, c.maxBatch))
		}
	}()
	return nil
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

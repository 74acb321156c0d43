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
	done   chan completed // shared by the reports of one CompleteAll
	index  int            // in that call
}

type completed struct {
	index int
	job   *Job
	err   error
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
	jobs, errs := c.CompleteAll(ctx, []Report{r}, [][]byte{result})
	return jobs[0], errs[0]
}

// CompleteAll is Complete for several reports (results[i] is reports[i]'s) with one wait for
// them all: jobs[i] and errs[i] answer reports[i].
func (c *Completer) CompleteAll(ctx context.Context, reports []Report, results [][]byte) (jobs []*Job, errs []error) {
	jobs, errs = make([]*Job, len(reports)), make([]error, len(reports))
	done := make(chan completed, len(reports))
	queued := 0
	for i, r := range reports {
		if err := c.enqueue(ctx, &completion{ctx: ctx, report: r, result: results[i], done: done, index: i}); err != nil {
			for k := i; k < len(reports); k++ {
				errs[k] = err
			}
			break
		}
		queued++
	}
	answered := make([]bool, queued)
	for range queued {
		select {
		case res := <-done:
			jobs[res.index], errs[res.index], answered[res.index] = res.job, res.err, true
		case <-ctx.Done():
			// The batch may still complete them; the worker retries and learns the outcome.
			for i, ok := range answered {
				if !ok {
					errs[i] = ctx.Err()
				}
			}
			return jobs, errs
		}
	}
	return jobs, errs
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
			req.done <- completed{index: req.index, err: err}
		}
		return
	}
	byID := make(map[uuid.UUID]*Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	for _, req := range batch {
		if j, ok := byID[req.report.JobID]; ok {
			req.done <- completed{index: req.index, job: j}
			continue
		}
		// Skipped: stale, unknown or already finished. jq.complete tells which.
		j, err := c.store.Complete(req.ctx, req.report, req.result)
		req.done <- completed{index: req.index, job: j, err: err}
	}
}

package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river/rivershared/util/serviceutil"
)

// InserterStore is what the Inserter needs from the database.
type InserterStore interface {
	Submit(ctx context.Context, p SubmitParams) (SubmitResult, error)
	SubmitAll(ctx context.Context, ps []SubmitParams) ([]SubmitResult, error)
	ExistingJobs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
}

// Inserter turns concurrent submits into batched inserts (see batchLoop): each batch goes in
// one round trip and one commit (Store.SubmitAll). A batch fails as a whole (e.g. one job
// names an unknown queue); its submits are then retried one by one, so that each gets its own
// answer. The Inserter gives each job its id before the insert, so that a batch whose commit
// went through but whose answer was lost (the connection broke at that moment) is found again
// rather than inserted twice. Submits whose caller gave up while they waited are not inserted.
type Inserter struct {
	batchLoop[*insertion]

	store InserterStore
}

type insertion struct {
	ctx    context.Context
	params SubmitParams
	done   chan inserted
}

type inserted struct {
	res SubmitResult
	err error
}

// NewInserter returns an Inserter with up to parallel batches in flight at once (≤ 0 means
// 1); maxBatch ≤ 0 means 100. Start it before serving. With several in flight, a submit that
// finds one free goes out at once, alone, and only when all are busy do submits wait and then
// go together: at 1,000 submits/s, 4 in flight cut SubmitJob's median from 3.3 to 2.5 ms
// (jq-bench steady) at the same tail.
func NewInserter(store InserterStore, maxBatch, parallel int) *Inserter {
	if maxBatch <= 0 {
		maxBatch = 100
	}
	ins := &Inserter{store: store}
	ins.batchLoop = newBatchLoop(maxBatch, parallel, ins.flush)
	return ins
}

// Submit inserts a job, batched with others submitted at the same time. It returns what
// Store.Submit would.
func (i *Inserter) Submit(ctx context.Context, p SubmitParams) (SubmitResult, error) {
	req := &insertion{ctx: ctx, params: p, done: make(chan inserted, 1)}
	if err := i.enqueue(ctx, req); err != nil {
		return SubmitResult{}, err
	}
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-ctx.Done():
		// The batch may still insert it: the caller cannot tell (an idempotency key can).
		return SubmitResult{}, ctx.Err()
	}
}

func (i *Inserter) flush(ctx context.Context, batch []*insertion) {
	live := batch[:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- inserted{err: err}
			continue
		}
		live = append(live, req)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		res, err := i.submitOne(live[0].ctx, live[0].params)
		live[0].done <- inserted{res: res, err: err}
		return
	}
	ps := make([]SubmitParams, len(live))
	ids := make([]uuid.UUID, len(live))
	for n, req := range live {
		if req.params.ID == uuid.Nil {
			req.params.ID = uuid.Must(uuid.NewV7())
		}
		ps[n], ids[n] = req.params, req.params.ID
	}
	results, err := i.store.SubmitAll(ctx, ps)
	if err == nil {
		for n, req := range live {
			req.done <- inserted{res: results[n]}
		}
		return
	}
	// The batch failed, or its commit's answer was lost: which of its jobs exist?
	existing, lerr := i.existing(ctx, ids)
	for _, req := range live {
		switch {
		case lerr != nil:
			// Whether the batch committed is unknown: answer with the failure rather than risk
			// inserting a job twice (a client retry with an idempotency key is safe).
			req.done <- inserted{err: fmt.Errorf("%w (and checking what it inserted: %w)", err, lerr)}
		case existing[req.params.ID]:
			req.done <- inserted{res: SubmitResult{ID: req.params.ID, Inserted: true}}
		default:
			res, err := i.submitOne(req.ctx, req.params)
			req.done <- inserted{res: res, err: err}
		}
	}
}

// submitOne inserts one job under an id given here. When the connection broke under the
// insert (PostgreSQL terminated the session, the network failed, the statement timeout
// passed), whether it committed is unknown: the job is looked for by its id, and inserted
// again, once, only when it is not there. The id makes that safe: should the first insert
// still commit after all, one of the two fails on the job's primary key, and a job is never
// inserted twice.
func (i *Inserter) submitOne(ctx context.Context, p SubmitParams) (SubmitResult, error) {
	if p.ID == uuid.Nil {
		p.ID = uuid.Must(uuid.NewV7())
	}
	res, err := i.store.Submit(ctx, p)
	if err == nil || !outcomeUnknown(ctx, err) {
		return res, err
	}
	existing, lerr := i.existing(ctx, []uuid.UUID{p.ID})
	switch {
	case lerr != nil:
		return res, err // still unknown: the caller's retry with an idempotency key is safe
	case existing[p.ID]:
		return SubmitResult{ID: p.ID, Inserted: true}, nil
	}
	res, rerr := i.store.Submit(ctx, p)
	if rerr != nil && ctx.Err() == nil {
		// The first insert may have committed meanwhile (the primary key then refused this
		// one), or this one's answer was lost too.
		if existing, lerr := i.existing(ctx, []uuid.UUID{p.ID}); lerr == nil && existing[p.ID] {
			return SubmitResult{ID: p.ID, Inserted: true}, nil
		}
	}
	return res, rerr
}

// existing looks the ids up, trying three times: right after PostgreSQL terminated sessions,
// the pool may hand out another dead connection first.
func (i *Inserter) existing(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	var err error
	for attempt := range 3 {
		var found map[uuid.UUID]bool
		if found, err = i.store.ExistingJobs(ctx, ids); err == nil {
			return found, nil
		}
		if ctx.Err() != nil || !outcomeUnknown(ctx, err) {
			return nil, err
		}
		serviceutil.CancellableSleep(ctx, time.Duration(attempt+1)*50*time.Millisecond)
	}
	return nil, err
}

// outcomeUnknown reports whether err means the call may or may not have taken effect: the
// connection failed under it or its statement timeout passed (not the caller's deadline).
func outcomeUnknown(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

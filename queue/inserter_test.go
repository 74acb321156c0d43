package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// heldStore holds the first Submit until released, so that the submits behind it queue up
// and form one batch; it counts the batches.
type heldStore struct {
	*queue.Store
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	held    bool
	batches []int
}

// releaseFirst lets the held Submit go (once).
func (h *heldStore) releaseFirst() { h.once.Do(func() { close(h.release) }) }

// waitHeld waits until the first Submit is held.
func (h *heldStore) waitHeld(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.held }, 5*time.Second, time.Millisecond)
}

// waitQueued waits until n more submits wait behind the held one: the loop holds one of them
// while it waits for the busy flush, the others are queued.
func waitQueued(t *testing.T, ins *queue.Inserter, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return ins.Queued() == n-1 }, 5*time.Second, time.Millisecond, "%d submits queued", n)
}

func (h *heldStore) Submit(ctx context.Context, p queue.SubmitParams) (queue.SubmitResult, error) {
	h.mu.Lock()
	first := !h.held
	h.held = true
	h.mu.Unlock()
	if first {
		<-h.release
	}
	return h.Store.Submit(ctx, p)
}

func (h *heldStore) SubmitAll(ctx context.Context, ps []queue.SubmitParams) ([]queue.SubmitResult, error) {
	h.mu.Lock()
	h.batches = append(h.batches, len(ps))
	h.mu.Unlock()
	return h.Store.SubmitAll(ctx, ps)
}

func startInserter(t *testing.T, store queue.InserterStore, parallel int) *queue.Inserter {
	t.Helper()
	ins := queue.NewInserter(store, 100, parallel)
	require.NoError(t, ins.Start(context.Background()))
	t.Cleanup(ins.Stop)
	return ins
}

// holdFirst starts an inserter on h whose held first Submit is released, at the latest, when
// the test ends (before the inserter stops, which waits for it).
func holdFirst(t *testing.T, h *heldStore, store queue.InserterStore) *queue.Inserter {
	t.Helper()
	ins := startInserter(t, store, 1)
	t.Cleanup(h.releaseFirst)
	return ins
}

// TestInserter_BatchesConcurrentSubmits: submits that queue while a flush runs go out as one
// batch, each with its own answer: new jobs, a repeated idempotency key (same job, not
// inserted twice), and an unknown queue (its own error, the others still inserted).
func TestInserter_BatchesConcurrentSubmits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := &heldStore{Store: b.store, release: make(chan struct{})}
	ins := holdFirst(t, h, h)

	type answer struct {
		res queue.SubmitResult
		err error
	}
	submit := func(p queue.SubmitParams) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			if p.Queue == "" {
				p.Queue = "default"
			}
			p.Payload = []byte(`{}`)
			res, err := ins.Submit(b.ctx, p)
			out <- answer{res, err}
		}()
		return out
	}
	first := submit(queue.SubmitParams{}) // held in Submit: the others queue behind it
	h.waitHeld(t)
	plain := []<-chan answer{submit(queue.SubmitParams{}), submit(queue.SubmitParams{Priority: 5})}
	keyed := []<-chan answer{submit(queue.SubmitParams{IdempotencyKey: "k"}), submit(queue.SubmitParams{IdempotencyKey: "k"})}
	unknown := submit(queue.SubmitParams{Queue: "nope"})
	waitQueued(t, ins, 5)
	h.releaseFirst()

	require.NoError(t, (<-first).err)
	for _, c := range plain {
		a := <-c
		require.NoError(t, a.err)
		require.True(t, a.res.Inserted)
		require.Equal(t, queue.StatusPending, b.job(t, a.res.ID).Status)
	}
	k1, k2 := <-keyed[0], <-keyed[1]
	require.NoError(t, k1.err)
	require.NoError(t, k2.err)
	require.Equal(t, k1.res.ID, k2.res.ID, "one job per idempotency key")
	require.NotEqual(t, k1.res.Inserted, k2.res.Inserted, "inserted once")
	require.ErrorIs(t, (<-unknown).err, queue.ErrNotFound)

	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs`).Scan(&n))
	require.Equal(t, 4, n)
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, []int{5}, h.batches, "the five queued submits went out as one batch (it failed on the unknown queue; they were retried alone)")
}

// TestInserter_GivenUpIsNotInserted: a submit whose caller gave up while it waited is not
// inserted.
func TestInserter_GivenUpIsNotInserted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := &heldStore{Store: b.store, release: make(chan struct{})}
	ins := holdFirst(t, h, h)
	go func() { _, _ = ins.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)}) }()
	h.waitHeld(t)
	ctx, cancel := context.WithCancel(b.ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := ins.Submit(ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{"gave":"up"}`)})
		gaveUp <- err
	}()
	waitQueued(t, ins, 1)
	cancel()
	require.ErrorIs(t, <-gaveUp, context.Canceled)
	h.releaseFirst()
	// The given-up submit is flushed (and dropped) by the next flush: one more submit after it
	// is answered only once that flush is done.
	_, err := ins.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{"after":"it"}`)})
	require.NoError(t, err)
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs WHERE payload @> '{"gave":"up"}'`).Scan(&n))
	require.Zero(t, n)
}

// TestInserter_FlushesInParallel: with two batches allowed in flight, a submit does not wait
// for a slow one; with all in flight busy, the submits behind them form one batch.
func TestInserter_FlushesInParallel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := &heldStore{Store: b.store, release: make(chan struct{})}
	ins := startInserter(t, h, 2)
	t.Cleanup(h.releaseFirst) // runs before the inserter's Stop, which waits for the held flush
	submit := func() <-chan error {
		out := make(chan error, 1)
		go func() {
			_, err := ins.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)})
			out <- err
		}()
		return out
	}
	held := submit() // held in its flush
	h.waitHeld(t)
	select {
	case err := <-submit():
		require.NoError(t, err, "went out in the second flush, past the held one")
	case <-time.After(5 * time.Second):
		t.Fatal("the second submit waited for the first flush")
	}
	h.releaseFirst()
	require.NoError(t, <-held)
}

// lostAnswerStore commits every batch and then reports a broken connection, as when the
// connection dies between PostgreSQL's commit and its answer.
type lostAnswerStore struct{ *heldStore }

func (l lostAnswerStore) SubmitAll(ctx context.Context, ps []queue.SubmitParams) ([]queue.SubmitResult, error) {
	if _, err := l.heldStore.SubmitAll(ctx, ps); err != nil {
		return nil, err
	}
	return nil, &queue.Error{Kind: queue.ErrUnavailable, Message: "database unavailable: unexpected EOF"}
}

// TestInserter_LostCommitAnswerInsertsNothingTwice: a batch that committed but whose answer
// was lost is not inserted again by the one-by-one fallback.
func TestInserter_LostCommitAnswerInsertsNothingTwice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := &heldStore{Store: b.store, release: make(chan struct{})}
	ins := holdFirst(t, h, lostAnswerStore{h})
	const n = 20
	var wg sync.WaitGroup
	res := make([]queue.SubmitResult, n)
	errs := make([]error, n)
	submit := func(i int) {
		wg.Go(func() {
			res[i], errs[i] = ins.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)})
		})
	}
	submit(0) // held in Submit: the others queue behind it
	h.waitHeld(t)
	for i := 1; i < n; i++ {
		submit(i)
	}
	waitQueued(t, ins, n-1)
	h.releaseFirst()
	wg.Wait()
	seen := map[uuid.UUID]bool{}
	for i := range res {
		require.NoError(t, errs[i])
		require.True(t, res[i].Inserted)
		require.False(t, seen[res[i].ID], "two submits answered with one job")
		seen[res[i].ID] = true
	}
	var jobs int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs`).Scan(&jobs))
	require.Equal(t, n, jobs, "each submit inserted exactly one job")
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, []int{n - 1}, h.batches, "the queued submits went out as one batch, whose answer was lost")
}

package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// heldStore holds the first Submit until released, so that the submits behind it queue up
// and form one batch; it counts the batches.
type heldStore struct {
	*queue.Store
	release chan struct{}
	mu      sync.Mutex
	held    bool
	batches []int
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

// TestInserter_BatchesConcurrentSubmits: submits that queue while a flush runs go out as one
// batch, each with its own answer: new jobs, a repeated idempotency key (same job, not
// inserted twice), and an unknown queue (its own error, the others still inserted).
func TestInserter_BatchesConcurrentSubmits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := &heldStore{Store: b.store, release: make(chan struct{})}
	ins := startInserter(t, h, 1)

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
	time.Sleep(50 * time.Millisecond)
	plain := []<-chan answer{submit(queue.SubmitParams{}), submit(queue.SubmitParams{Priority: 5})}
	keyed := []<-chan answer{submit(queue.SubmitParams{IdempotencyKey: "k"}), submit(queue.SubmitParams{IdempotencyKey: "k"})}
	unknown := submit(queue.SubmitParams{Queue: "nope"})
	time.Sleep(50 * time.Millisecond) // let them all queue
	close(h.release)

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
	ins := startInserter(t, h, 1)
	go func() { _, _ = ins.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)}) }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(b.ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := ins.Submit(ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{"gave":"up"}`)})
		gaveUp <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-gaveUp, context.Canceled)
	close(h.release)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs`).Scan(&n))
		return n == 1
	}, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
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
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(h.release) }) }
	t.Cleanup(release) // runs before the inserter's Stop, which waits for the held flush
	submit := func() <-chan error {
		out := make(chan error, 1)
		go func() {
			_, err := ins.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: []byte(`{}`)})
			out <- err
		}()
		return out
	}
	held := submit() // held in its flush
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-submit():
		require.NoError(t, err, "went out in the second flush, past the held one")
	case <-time.After(5 * time.Second):
		t.Fatal("the second submit waited for the first flush")
	}
	release()
	require.NoError(t, <-held)
}

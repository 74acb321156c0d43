package queue_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// TestRegistry_RunningAttemptsHoldSlotsUntilReported: a worker that reconnects while it runs
// jobs gets its slots back as it reports them, though this server never delivered them.
func TestRegistry_RunningAttemptsHoldSlotsUntilReported(t *testing.T) {
	t.Parallel()
	r := queue.NewRegistry(nil, nil)
	w, a, b := uuid.New(), uuid.New(), uuid.New()
	r.Attach(w, "i", []string{"default"}, 1, map[uuid.UUID]int{a: 2, b: 1}, &fakeStream{failAfter: -1})
	require.Equal(t, []queue.Candidate{{WorkerID: w, Queues: []string{"default"}, Free: 1, Inflight: 2, Capacity: 3}}, r.Candidates())

	require.False(t, r.Done(w, a, 1), "an older attempt frees nothing")
	require.True(t, r.Done(w, a, 2))
	require.True(t, r.Done(w, b, 1))
	require.Equal(t, 3, r.Candidates()[0].Free, "every slot is free once both are reported")
}

// TestRegistry_ReconcileFreesWhatTheWorkerNoLongerHolds: a slot counted for a job the worker's
// heartbeat no longer lists is freed once the grace has passed; listed or recent ones stay.
func TestRegistry_ReconcileFreesWhatTheWorkerNoLongerHolds(t *testing.T) {
	t.Parallel()
	woken := 0
	r := queue.NewRegistry(func() { woken++ }, nil)
	w, kept, lost := uuid.New(), uuid.New(), uuid.New()
	r.Attach(w, "i", []string{"default"}, 0, map[uuid.UUID]int{kept: 1, lost: 1}, &fakeStream{failAfter: -1})
	require.Empty(t, r.Candidates(), "both slots held")

	require.Zero(t, r.Reconcile(w, []uuid.UUID{kept}, time.Hour), "within the grace nothing is freed")
	require.Zero(t, r.Reconcile(uuid.New(), nil, 0), "a worker not connected here")
	before := woken
	require.Equal(t, 1, r.Reconcile(w, []uuid.UUID{kept}, 0))
	require.Greater(t, woken, before, "the scheduler is woken: a slot is free")
	require.Equal(t, 1, r.Candidates()[0].Free)
	require.False(t, r.Done(w, lost, 1), "already freed")
	require.True(t, r.Done(w, kept, 1))
}

// TestRegistry_ReconnectCountsEachJobOnce: when a worker's stream is replaced on the same
// server, a job both delivered on the old stream and listed as running takes one slot.
func TestRegistry_ReconnectCountsEachJobOnce(t *testing.T) {
	t.Parallel()
	worker := uuid.New()
	registry := queue.NewRegistry(nil, nil)
	registry.Attach(worker, "i1", []string{"default"}, 2, nil, &fakeStream{failAfter: -1})
	job := &queue.Job{ID: uuid.New(), Attempt: 1}
	delivered, failed := registry.Deliver(t.Context(), worker, []*queue.Job{job})
	require.Len(t, delivered, 1)
	require.Empty(t, failed)

	registry.Attach(worker, "i1", []string{"default"}, 1, map[uuid.UUID]int{job.ID: 1}, &fakeStream{failAfter: -1})
	require.Equal(t, []queue.Candidate{{WorkerID: worker, Queues: []string{"default"}, Free: 1, Inflight: 1, Capacity: 2}},
		registry.Candidates())
	require.True(t, registry.Done(worker, job.ID, 1))
	require.Equal(t, 2, registry.Candidates()[0].Free)
	require.False(t, registry.Done(worker, job.ID, 1), "a duplicate report frees nothing")
}

// TestRegistry_OutstandingDropsWhatWasReported: of 3,000 delivered jobs (more than one chunk
// of the lock), those reported, or reported for another attempt, are dropped, in order; a job
// of a worker not connected here is kept.
func TestRegistry_OutstandingDropsWhatWasReported(t *testing.T) {
	t.Parallel()
	r := queue.NewRegistry(nil, nil)
	w := uuid.New()
	r.Attach(w, "i", []string{"default"}, 3000, nil, &fakeStream{failAfter: -1})
	jobs := make([]*queue.Job, 3000)
	for i := range jobs {
		jobs[i] = &queue.Job{ID: uuid.New(), WorkerID: w, Attempt: 1}
	}
	delivered, failed := r.Deliver(t.Context(), w, jobs)
	require.Len(t, delivered, 3000)
	require.Empty(t, failed)
	var want []*queue.Job
	for i, j := range jobs {
		if i%3 == 0 {
			require.True(t, r.Done(w, j.ID, 1))
			continue
		}
		want = append(want, j)
	}
	elsewhere := &queue.Job{ID: uuid.New(), WorkerID: uuid.New(), Attempt: 1}
	retried := &queue.Job{ID: jobs[1].ID, WorkerID: w, Attempt: 2} // the worker holds attempt 1
	got := r.Outstanding(append(append([]*queue.Job{}, jobs...), elsewhere, retried))
	require.Equal(t, append(want, elsewhere), got)
}

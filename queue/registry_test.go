package queue_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// TestRegistry_HeldJobsTakeSlotsUntilReported: the jobs a worker runs when its stream opens
// here (delivered by a server that went away) take slots, and their reports free them; a
// report of another attempt frees nothing.
func TestRegistry_HeldJobsTakeSlotsUntilReported(t *testing.T) {
	t.Parallel()
	worker := uuid.New()
	held := []queue.Attempt{{JobID: uuid.New(), Attempt: 1}, {JobID: uuid.New(), Attempt: 3}}
	registry := queue.NewRegistry(nil, nil)
	registry.Attach(worker, "", []string{"default"}, 0, held, &fakeStream{failAfter: -1})
	require.Empty(t, registry.Candidates(), "every slot is busy")

	require.False(t, registry.Done(worker, held[1].JobID, 2), "another attempt's report frees nothing")
	require.Empty(t, registry.Candidates())
	require.True(t, registry.Done(worker, held[1].JobID, 3))
	require.Equal(t, []queue.Candidate{{WorkerID: worker, Queues: []string{"default"}, Free: 1, Inflight: 1, Capacity: 2}},
		registry.Candidates())
	require.True(t, registry.Done(worker, held[0].JobID, 1))
	require.Equal(t, 2, registry.Candidates()[0].Free)
	require.False(t, registry.Done(worker, held[0].JobID, 1), "a duplicate report frees nothing")
	require.Equal(t, 2, registry.Candidates()[0].Free)
}

// TestRegistry_ReconnectCountsEachJobOnce: when a worker's stream is replaced on the same
// server, a job both delivered on the old stream and held in the database takes one slot.
func TestRegistry_ReconnectCountsEachJobOnce(t *testing.T) {
	t.Parallel()
	worker := uuid.New()
	registry := queue.NewRegistry(nil, nil)
	registry.Attach(worker, "i1", []string{"default"}, 2, nil, &fakeStream{failAfter: -1})
	job := &queue.Job{ID: uuid.New(), Attempt: 1}
	delivered, failed := registry.Deliver(t.Context(), worker, []*queue.Job{job})
	require.Len(t, delivered, 1)
	require.Empty(t, failed)

	registry.Attach(worker, "i1", []string{"default"}, 1, []queue.Attempt{{JobID: job.ID, Attempt: 1}}, &fakeStream{failAfter: -1})
	require.Equal(t, []queue.Candidate{{WorkerID: worker, Queues: []string{"default"}, Free: 1, Inflight: 1, Capacity: 2}},
		registry.Candidates())
	require.True(t, registry.Done(worker, job.ID, 1))
	require.Equal(t, 2, registry.Candidates()[0].Free)
}

package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/queue"
)

func (b *testBundle) createdAt(t *testing.T, id uuid.UUID) time.Time {
	t.Helper()
	var at time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT created_at FROM jq.jobs WHERE job_id = $1`, id).Scan(&at))
	return at
}

// TestStore_ClaimAbove: a claim from floors skips what lies below each priority's floor,
// takes the highest priority first, and the check finds the runnable jobs below the floors.
func TestStore_ClaimAbove(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []uuid.UUID
	for range 5 { // each its own transaction: created_at differ
		ids = append(ids, b.submit(t, queue.SubmitParams{}))
	}
	urgent := b.submit(t, queue.SubmitParams{Priority: 5})
	one := []queue.Slot{{WorkerID: b.worker, Max: 2}}

	var floors queue.ClaimFloors
	floors[0] = b.createdAt(t, ids[2])
	floors[5] = b.createdAt(t, urgent).Add(time.Second) // past the urgent job
	jobs, err := b.store.ClaimAbove(b.ctx, []string{"default"}, one, floors)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{ids[2], ids[3]}, idsOf(jobs), "from the floor of priority 0, none of priority 5")

	found, err := b.store.ClaimFloorCheck(b.ctx, []string{"default"}, floors)
	require.NoError(t, err)
	want := queue.ClaimFloors{}
	want[0] = b.createdAt(t, ids[0])
	want[5] = b.createdAt(t, urgent)
	for p := range want {
		require.True(t, want[p].Equal(found[p]), "priority %d: want %v, found %v", p, want[p], found[p])
	}

	jobs, err = b.store.ClaimAbove(b.ctx, []string{"default"}, one, queue.ClaimFloors{})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{urgent, ids[0]}, idsOf(jobs), "zero floors: from the head, highest priority first")

	found, err = b.store.ClaimFloorCheck(b.ctx, []string{"default"}, queue.ClaimFloors{})
	require.NoError(t, err)
	require.Equal(t, queue.ClaimFloors{}, found, "no floor, nothing below it")
}

// TestStore_ClaimAboveOverSeveralQueues: over several queues the floors apply to the head of
// the whole table: a claim skips what lies below each priority's floor in every queue of the
// set, not the other queues' jobs, and the check of the set finds the oldest job below a
// floor in any of its queues.
func TestStore_ClaimAboveOverSeveralQueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, q := range []string{"emails", "reports", "other"} {
		_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: q})
		require.NoError(t, err)
	}
	set := []string{"emails", "reports"}
	worker := b.registerWorker(t, set...)
	old := b.submit(t, queue.SubmitParams{Queue: "emails"})
	b.submit(t, queue.SubmitParams{Queue: "other"})
	mid := b.submit(t, queue.SubmitParams{Queue: "reports"})
	next := b.submit(t, queue.SubmitParams{Queue: "emails"})
	urgent := b.submit(t, queue.SubmitParams{Queue: "reports", Priority: 7})

	var floors queue.ClaimFloors
	floors[0] = b.createdAt(t, mid)
	floors[7] = b.createdAt(t, urgent).Add(time.Second)
	jobs, err := b.store.ClaimAbove(b.ctx, set, []queue.Slot{{WorkerID: worker, Max: 5}}, floors)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{mid, next}, idsOf(jobs), "from the floors: not the old job, not the urgent one, nothing of other")

	found, err := b.store.ClaimFloorCheck(b.ctx, []string{"reports", "emails"}, floors)
	require.NoError(t, err)
	want := queue.ClaimFloors{}
	want[0] = b.createdAt(t, old)
	want[7] = b.createdAt(t, urgent)
	for p := range want {
		require.True(t, want[p].Equal(found[p]), "priority %d: want %v, found %v", p, want[p], found[p])
	}

	jobs, err = b.store.ClaimAbove(b.ctx, set, []queue.Slot{{WorkerID: worker, Max: 5}}, queue.ClaimFloors{})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{urgent, old}, idsOf(jobs), "zero floors: from the head")
	_, err = b.store.ClaimFloorCheck(b.ctx, nil, floors)
	require.ErrorIs(t, err, queue.ErrInvalid)
}

// TestScheduler_FloorsWhileTheHorizonIsHeld: while a transaction holds vacuum's horizon, the
// scheduler claims from floors, for a worker of one queue as for one of several; a job put
// back to PENDING below them is not claimed until the check lowers them, and then it is; once
// the horizon moves, claims start from the head again.
func TestScheduler_FloorsWhileTheHorizonIsHeld(t *testing.T) {
	t.Parallel()
	for name, queues := range map[string][]string{"OneQueue": {"default"}, "SeveralQueues": {"emails", "default"}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			schedulerFloors(t, queues)
		})
	}
}

func schedulerFloors(t *testing.T, queues []string) {
	b := setup(t)
	for _, q := range queues {
		if q != "default" {
			_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: q})
			require.NoError(t, err)
		}
	}
	pin, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = pin.Rollback(b.ctx) }()
	_, err = pin.Exec(b.ctx, `SELECT txid_current()`)
	require.NoError(t, err)

	var ids []uuid.UUID
	for range 6 {
		ids = append(ids, b.submit(t, queue.SubmitParams{}))
	}
	// Another path holds the oldest job, and will put it back.
	other := b.registerWorker(t, "default")
	taken, err := b.store.ClaimFor(b.ctx, []string{"default"}, []queue.Slot{{WorkerID: other, Max: 1}})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{ids[0]}, idsOf(taken))

	registry := queue.NewRegistry(nil, nil)
	stream := &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", queues, 100, nil, stream)
	claims := &aboveCounter{callCounter: callCounter{Store: b.store}}
	sched := queue.NewScheduler(claims, registry, nil, logging.Discard(), queue.SchedulerConfig{
		BatchSize: 10, AssignmentTimeout: time.Minute, InstanceID: "test-instance",
		FloorsAfterXIDs: 2, FloorMargin: time.Millisecond,
	}, queue.SchedulerMetrics{})
	defer sched.FlushStarts(b.ctx)

	require.NoError(t, sched.CheckFloors(b.ctx))
	res, err := sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 5, res.Delivered)
	require.Equal(t, 1, claims.above, "the horizon is held: a claim from floors")
	require.Zero(t, claims.claims)
	time.Sleep(5 * time.Millisecond) // past the margin

	n, err := b.store.Release(b.ctx, []uuid.UUID{ids[0]}, other, queue.ReasonDeliveryFailed)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	res, err = sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Zero(t, res.Claimed, "below the floor: not seen until the check")

	require.NoError(t, sched.CheckFloors(b.ctx))
	res, err = sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Delivered, "the check lowered the floor to it")
	require.Equal(t, ids[0], stream.sent[len(stream.sent)-1].ID)

	// Once the horizon moves on and a check reads fast, the floors are dropped. (A check
	// that is slow, as on a loaded machine, keeps them one more round.)
	require.NoError(t, pin.Rollback(b.ctx))
	b.submit(t, queue.SubmitParams{})
	require.Eventually(t, func() bool {
		require.NoError(t, sched.CheckFloors(b.ctx))
		before := claims.above
		_, err := sched.RunCycle(b.ctx)
		require.NoError(t, err)
		return claims.above == before
	}, 10*time.Second, 10*time.Millisecond)
	require.Len(t, stream.sent, 7, "the last job, claimed from the head")
	require.Positive(t, claims.claims)
}

// aboveCounter counts claims from floors besides the plain ones.
type aboveCounter struct {
	callCounter
	above int
}

func (c *aboveCounter) ClaimAbove(ctx context.Context, queues []string, slots []queue.Slot, floors queue.ClaimFloors) ([]*queue.Job, error) {
	c.above++
	return c.Store.ClaimAbove(ctx, queues, slots, floors)
}

func idsOf(jobs []*queue.Job) []uuid.UUID {
	out := make([]uuid.UUID, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

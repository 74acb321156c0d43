package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/logging"
	"github.com/jqhq/jq/internal/testredis"
	"github.com/jqhq/jq/queue"

	jqredis "github.com/jqhq/jq/internal/redis"
)

// fakeStream records deliveries; it fails every Send after failAfter successful ones
// (failAfter < 0: never).
type fakeStream struct {
	mu        sync.Mutex
	sent      []*queue.Job
	drains    int
	ended     int
	cancelled []uuid.UUID
	failAfter int
}

func (f *fakeStream) Send(_ context.Context, jobs []*queue.Job) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, j := range jobs {
		if f.failAfter >= 0 && len(f.sent) >= f.failAfter {
			return i, errors.New("stream broke")
		}
		f.sent = append(f.sent, j)
	}
	return len(jobs), nil
}

func (f *fakeStream) End(queue.EndReason, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended++
}

func (f *fakeStream) Cancel(_ context.Context, jobID uuid.UUID, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, jobID)
	return nil
}

func (f *fakeStream) Drain(context.Context, string, bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drains++
	return nil
}

func newScheduler(b *testBundle, registry *queue.Registry, locker queue.JobLocker) *queue.Scheduler {
	return queue.NewScheduler(b.store, registry, locker, logging.Discard(), queue.SchedulerConfig{
		BatchSize: 10, AssignmentTimeout: time.Minute, InstanceID: "test-instance",
	}, queue.SchedulerMetrics{})
}

func TestScheduler_ClaimsOnlyFreeSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 5 {
		b.submit(t, queue.SubmitParams{})
	}
	registry := queue.NewRegistry(nil, nil)
	stream := &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", []string{"default"}, 3, nil, stream)
	sched := newScheduler(b, registry, nil)

	res, err := sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, queue.CycleResult{Claimed: 3, Delivered: 3}, res)
	res, err = sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Zero(t, res.Claimed, "no free slot, no claim")

	require.False(t, registry.Done(b.worker, stream.sent[0].ID, stream.sent[0].Attempt+1), "another attempt frees nothing")
	require.True(t, registry.Done(b.worker, stream.sent[0].ID, stream.sent[0].Attempt))
	res, err = sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Delivered)
	for _, j := range stream.sent {
		require.Equal(t, queue.StatusAssigned, b.job(t, j.ID).Status, "marked RUNNING in batches, later")
	}
	sched.FlushStarts(b.ctx)
	require.Equal(t, queue.StatusAssigned, b.job(t, stream.sent[0].ID).Status, "reported: its completion records the start")
	for _, j := range stream.sent[1:] {
		require.Equal(t, queue.StatusRunning, b.job(t, j.ID).Status)
	}
}

// TestScheduler_StartsOnlyJobsStillRunning: the starts skip the jobs their workers have
// reported, without asking the database; a job of a worker no longer connected here is
// started (the registry cannot tell whether it runs).
func TestScheduler_StartsOnlyJobsStillRunning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 3 {
		b.submit(t, queue.SubmitParams{})
	}
	gone := b.registerWorker(t, "default")
	registry := queue.NewRegistry(nil, nil)
	stream, goneStream := &fakeStream{failAfter: -1}, &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", []string{"default"}, 2, nil, stream)
	detach := registry.Attach(gone, "", []string{"default"}, 1, nil, goneStream)
	calls := &callCounter{Store: b.store}
	sched := queue.NewScheduler(calls, registry, nil, logging.Discard(), queue.SchedulerConfig{
		BatchSize: 10, AssignmentTimeout: time.Minute, InstanceID: "test-instance",
	}, queue.SchedulerMetrics{})
	res, err := sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 3, res.Delivered)
	reported, running, away := stream.sent[0], stream.sent[1], goneStream.sent[0]
	require.True(t, registry.Done(b.worker, reported.ID, reported.Attempt))
	detach(false)

	sched.FlushStarts(b.ctx)
	require.ElementsMatch(t, []uuid.UUID{running.ID, away.ID}, calls.started)
	require.Equal(t, queue.StatusAssigned, b.job(t, reported.ID).Status)
	require.Equal(t, queue.StatusRunning, b.job(t, running.ID).Status)
	require.Equal(t, queue.StatusRunning, b.job(t, away.ID).Status)
}

func TestScheduler_FailedDeliveryGoesBackAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := []uuid.UUID{b.submit(t, queue.SubmitParams{}), b.submit(t, queue.SubmitParams{}), b.submit(t, queue.SubmitParams{})}
	registry := queue.NewRegistry(nil, nil)
	stream := &fakeStream{failAfter: 1}
	registry.Attach(b.worker, "", []string{"default"}, 3, nil, stream)

	sched := newScheduler(b, registry, nil)
	res, err := sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, queue.CycleResult{Claimed: 3, Delivered: 1, Released: 2}, res)
	sched.FlushStarts(b.ctx)
	require.Equal(t, queue.StatusRunning, b.job(t, ids[0]).Status)
	for _, id := range ids[1:] {
		j := b.job(t, id)
		require.Equal(t, queue.StatusPending, j.Status, "undelivered jobs are PENDING again, not after a timeout")
		require.Equal(t, 0, j.RetryCount)
		require.Equal(t, "ASSIGNED>PENDING:DELIVERY_FAILED", b.trail(t, id)[2])
	}
	c := registry.Candidates()
	require.Len(t, c, 1)
	require.Equal(t, 2, c[0].Free, "the failed sends do not hold slots")
}

func TestScheduler_DrainedWorkerIsToldAndSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, queue.SubmitParams{})
	registry := queue.NewRegistry(nil, nil)
	stream := &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", []string{"default"}, 1, nil, stream)
	_, err := b.store.ShutdownWorker(b.ctx, b.worker, "test") // e.g. by an operator through another server
	require.NoError(t, err)

	res, err := newScheduler(b, registry, nil).RunCycle(b.ctx)
	require.NoError(t, err)
	require.Zero(t, res.Claimed)
	require.Equal(t, 1, stream.drains)
	require.Empty(t, registry.Candidates(), "a draining worker gets nothing")
}

func TestScheduler_LocksSkipJobsAnotherInstanceDelivers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	raw, prefix := testredis.Client(t)
	locker := jqredis.NewFromClient(raw, prefix, logging.Discard(), nil)
	held := b.submit(t, queue.SubmitParams{Priority: 9})
	free := b.submit(t, queue.SubmitParams{})
	require.NoError(t, raw.Set(b.ctx, prefix+"lock:job:"+held.String(), "other-instance", time.Minute).Err())

	registry := queue.NewRegistry(nil, nil)
	stream := &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", []string{"default"}, 5, nil, stream)
	sched := newScheduler(b, registry, locker)
	res, err := sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Claimed)
	sched.FlushStarts(b.ctx)
	require.Len(t, stream.sent, 1)
	require.Equal(t, free, stream.sent[0].ID)
	require.Equal(t, queue.StatusAssigned, b.job(t, held).Status, "left for assignment-timeout recovery")

	// Our own locks are gone once the job started.
	n, err := raw.Exists(b.ctx, prefix+"lock:job:"+free.String()).Result()
	require.NoError(t, err)
	require.Zero(t, n)
	v, err := raw.Get(b.ctx, prefix+"lock:job:"+held.String()).Result()
	require.NoError(t, err)
	require.Equal(t, "other-instance", v, "another instance's lock is never taken over")
}

func TestScheduler_LostWorkerStreamIsEnded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, queue.SubmitParams{})
	registry := queue.NewRegistry(nil, nil)
	stream := &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", []string{"default"}, 1, nil, stream)
	b.releaseWorker(t, b.worker, queue.ReasonWorkerLost, queue.DefaultRetryPolicy) // reaped

	res, err := newScheduler(b, registry, nil).RunCycle(b.ctx)
	require.NoError(t, err)
	require.Zero(t, res.Claimed)
	require.Equal(t, 1, stream.ended, "the stream is ended so the worker registers again")
	require.Zero(t, stream.drains, "a lost worker is not told to drain (it would exit)")
}

// TestScheduler_OneClaimServesManyWorkers: workers taking the same queues share a claim; the
// jobs are dealt out in turn, least loaded first, never over a worker's free slots, and one
// jq.start_for marks them all RUNNING.
func TestScheduler_OneClaimServesManyWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 7 {
		b.submit(t, queue.SubmitParams{})
	}
	other := b.registerWorker(t, "default", "emails")
	registry := queue.NewRegistry(nil, nil)
	streams := map[uuid.UUID]*fakeStream{b.worker: {failAfter: -1}, other: {failAfter: -1}}
	registry.Attach(b.worker, "", []string{"default", "emails"}, 2, nil, streams[b.worker])
	registry.Attach(other, "", []string{"emails", "default"}, 10, nil, streams[other]) // same set, other order
	claims := &callCounter{Store: b.store}
	sched := queue.NewScheduler(claims, registry, nil, logging.Discard(), queue.SchedulerConfig{
		BatchSize: 12, AssignmentTimeout: time.Minute, InstanceID: "test-instance",
	}, queue.SchedulerMetrics{})

	res, err := sched.RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, queue.CycleResult{Claimed: 7, Delivered: 7}, res)
	require.Equal(t, 1, claims.claims, "one claim for both workers")
	require.Len(t, streams[b.worker].sent, 2, "never over its free slots")
	require.Len(t, streams[other].sent, 5)
	for id, s := range streams {
		for _, j := range s.sent {
			require.Equal(t, id, j.WorkerID)
			require.Equal(t, id, b.job(t, j.ID).WorkerID)
		}
	}
	sched.FlushStarts(b.ctx)
	require.Equal(t, 1, claims.starts, "one start for both workers")
	for _, s := range streams {
		for _, j := range s.sent {
			require.Equal(t, queue.StatusRunning, b.job(t, j.ID).Status)
		}
	}
}

// TestScheduler_DrainedWorkerInAGroup: when one worker of a shared claim was drained
// elsewhere, the others still get their jobs and the drained one is told.
func TestScheduler_DrainedWorkerInAGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 4 {
		b.submit(t, queue.SubmitParams{})
	}
	drained := b.registerWorker(t, "default")
	registry := queue.NewRegistry(nil, nil)
	ok, gone := &fakeStream{failAfter: -1}, &fakeStream{failAfter: -1}
	registry.Attach(b.worker, "", []string{"default"}, 4, nil, ok)
	registry.Attach(drained, "", []string{"default"}, 4, nil, gone)
	_, err := b.store.DrainWorker(b.ctx, drained, "test")
	require.NoError(t, err)

	res, err := newScheduler(b, registry, nil).RunCycle(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 4, res.Delivered)
	require.Len(t, ok.sent, 4)
	require.Empty(t, gone.sent)
	require.Equal(t, 1, gone.drains)
}

// callCounter counts the scheduler's claims and starts.
type callCounter struct {
	*queue.Store
	claims, starts int
	started        []uuid.UUID // the jobs given to StartFor
}

func (c *callCounter) ClaimFor(ctx context.Context, queues []string, slots []queue.Slot) ([]*queue.Job, error) {
	c.claims++
	return c.Store.ClaimFor(ctx, queues, slots)
}

func (c *callCounter) StartFor(ctx context.Context, jobIDs, workerIDs []uuid.UUID) ([]*queue.Job, error) {
	c.starts++
	c.started = append(c.started, jobIDs...)
	return c.Store.StartFor(ctx, jobIDs, workerIDs)
}

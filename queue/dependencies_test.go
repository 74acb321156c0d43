package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// claimOne claims the one job id for the bundle's worker, and starts it.
func (b *testBundle) claimOne(t *testing.T, id uuid.UUID) *queue.Job {
	t.Helper()
	jobs, err := b.store.Claim(b.ctx, []string{"default"}, 100, b.worker)
	require.NoError(t, err)
	var got *queue.Job
	for _, j := range jobs {
		if j.ID == id {
			got = j
			continue
		}
		// Not the one wanted: back to PENDING, as a failed delivery would.
		_, err := b.store.Release(b.ctx, []uuid.UUID{j.ID}, b.worker, queue.ReasonDeliveryFailed)
		require.NoError(t, err)
	}
	require.NotNil(t, got, "job %s was not claimable", id)
	return got
}

func (b *testBundle) status(t *testing.T, id uuid.UUID) queue.JobStatus {
	t.Helper()
	return b.job(t, id).Status
}

// diamond submits A, then B and C depending on A, then D depending on B and C.
func (b *testBundle) diamond(t *testing.T, policy string) (a, bb, c, d uuid.UUID) {
	t.Helper()
	a = b.submit(t, queue.SubmitParams{})
	bb = b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{a}})
	c = b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{a}})
	d = b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{bb, c}, OnDependencyFailure: policy})
	return a, bb, c, d
}

// completeMany completes jobs through the batch path, the server's hot path.
func (b *testBundle) completeMany(t *testing.T, jobs ...*queue.Job) {
	t.Helper()
	reports := make([]queue.Report, len(jobs))
	results := make([][]byte, len(jobs))
	for i, j := range jobs {
		reports[i] = report(j)
	}
	done, err := b.store.CompleteMany(b.ctx, reports, results)
	require.NoError(t, err)
	require.Len(t, done, len(jobs))
}

func TestDependencies(t *testing.T) {
	t.Parallel()

	t.Run("DiamondRunsInOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a, bb, c, d := b.diamond(t, "")
		require.Equal(t, queue.StatusPending, b.status(t, a))
		for _, id := range []uuid.UUID{bb, c, d} {
			require.Equal(t, queue.StatusWaiting, b.status(t, id))
		}
		require.True(t, b.job(t, a).HasDependents)
		deps, err := b.store.JobDependencies(b.ctx, d)
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{bb, c}, deps)

		// Claims see only A: the waiting jobs are not in the claim index.
		jobs, err := b.store.Claim(b.ctx, []string{"default"}, 10, b.worker)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		require.Equal(t, a, jobs[0].ID)
		b.completeMany(t, jobs[0])
		require.Equal(t, queue.StatusPending, b.status(t, bb))
		require.Equal(t, queue.StatusPending, b.status(t, c))
		require.Equal(t, queue.StatusWaiting, b.status(t, d))

		jb := b.claimOne(t, bb)
		b.completeMany(t, jb)
		require.Equal(t, queue.StatusWaiting, b.status(t, d), "C is not done yet")
		jc := b.claimOne(t, c)
		_, err = b.store.Complete(b.ctx, report(jc), nil) // the single path
		require.NoError(t, err)
		require.Equal(t, queue.StatusPending, b.status(t, d))
		require.Equal(t, []string{">WAITING:SUBMITTED", "WAITING>PENDING:DEPENDENCIES_MET"}, b.trail(t, d))
		var scratch int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.finished_parents`).Scan(&scratch))
		require.Zero(t, scratch, "the batch's notes do not outlive it")
	})

	t.Run("DeadLetteredParentCancelsDependentsAndTheirs", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a, bb, c, d := b.diamond(t, "")
		e := b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{d}})
		b.completeMany(t, b.claimOne(t, a))
		jb := b.claimOne(t, bb)
		_, err := b.store.Fail(b.ctx, report(jb), "boom", true, queue.DefaultRetryPolicy)
		require.NoError(t, err)
		require.Equal(t, queue.StatusDeadLettered, b.status(t, bb))
		jd := b.job(t, d)
		require.Equal(t, queue.StatusCancelled, jd.Status)
		require.Contains(t, jd.ErrorMessage, bb.String(), "the error names the parent")
		require.Contains(t, jd.ErrorMessage, "DEAD_LETTERED")
		require.Equal(t, []string{">WAITING:SUBMITTED", "WAITING>CANCELLED:DEPENDENCY_FAILED"}, b.trail(t, d))
		je := b.job(t, e)
		require.Equal(t, queue.StatusCancelled, je.Status, "cancelled in turn")
		require.Contains(t, je.ErrorMessage, d.String())
		require.Equal(t, queue.StatusPending, b.status(t, c), "C did not depend on B")
	})

	t.Run("RunPolicyRunsOnceEveryParentFinished", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a, bb, c, d := b.diamond(t, queue.DependencyRun)
		b.completeMany(t, b.claimOne(t, a))
		_, err := b.store.Fail(b.ctx, report(b.claimOne(t, bb)), "boom", true, queue.DefaultRetryPolicy)
		require.NoError(t, err)
		require.Equal(t, queue.StatusWaiting, b.status(t, d), "C is still unfinished")
		_, err = b.store.Cancel(b.ctx, c, "test")
		require.NoError(t, err)
		require.Equal(t, queue.StatusPending, b.status(t, d), "every parent finished, however")
	})

	t.Run("CancelAndTTLReleaseDependents", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		parent := b.submit(t, queue.SubmitParams{})
		child := b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{parent}})
		_, err := b.store.Cancel(b.ctx, parent, "test")
		require.NoError(t, err)
		require.Equal(t, queue.StatusCancelled, b.status(t, child))
		require.Contains(t, b.job(t, child).ErrorMessage, "ended CANCELLED")

		_, err = b.pool.Exec(b.ctx, `SELECT jq.create_queue('short', ttl_seconds => 1)`)
		require.NoError(t, err)
		old := b.submit(t, queue.SubmitParams{Queue: "short"})
		waiting := b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{old}})
		b.exec(t, `UPDATE jq.jobs SET created_at = now() - interval '1 hour' WHERE job_id = $1`, old)
		n, err := b.store.ExpireTTL(b.ctx, 100)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, queue.StatusCancelled, b.status(t, waiting))
		require.Contains(t, b.job(t, waiting).ErrorMessage, old.String())
	})

	t.Run("LostWorkerDeadLetterReleases", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		parent := b.submit(t, queue.SubmitParams{MaxRetries: new(int)})
		child := b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{parent}})
		b.claimOne(t, parent)
		b.releaseWorker(t, b.worker, queue.ReasonWorkerLost, queue.LostWorkerRetry)
		require.Equal(t, queue.StatusDeadLettered, b.status(t, parent), "no retries left")
		require.Equal(t, queue.StatusCancelled, b.status(t, child))
	})

	t.Run("RefusesUnknownAndFailedParents", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.store.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), DependsOn: []uuid.UUID{uuid.New()}})
		require.ErrorIs(t, err, queue.ErrNotFound)
		gone := b.submit(t, queue.SubmitParams{})
		_, err = b.store.Cancel(b.ctx, gone, "test")
		require.NoError(t, err)
		_, err = b.store.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), DependsOn: []uuid.UUID{gone}})
		require.ErrorIs(t, err, queue.ErrWrongState)
		require.ErrorContains(t, err, gone.String())
		res, err := b.store.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), DependsOn: []uuid.UUID{gone},
			OnDependencyFailure: queue.DependencyRun})
		require.NoError(t, err)
		require.Equal(t, queue.StatusPending, b.status(t, res.ID), "its only parent has finished")
	})

	t.Run("PruneForgetsTheEdges", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		parent := b.submit(t, queue.SubmitParams{})
		child := b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{parent}})
		b.completeMany(t, b.claimOne(t, parent))
		b.completeMany(t, b.claimOne(t, child))
		n, err := b.store.Prune(b.ctx, 0, 100)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		var edges int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.job_dependencies`).Scan(&edges))
		require.Zero(t, edges)
	})
}

// TestDependencies_ParentsFinishingAtOnce: B and C, the two parents of D, complete in two
// transactions at the same moment, again and again: D becomes PENDING every time (neither
// completion may leave it waiting for the other).
func TestDependencies_ParentsFinishingAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const rounds = 25
	conns := make([]*pgx.Conn, 2)
	for i := range conns {
		conn, err := pgx.Connect(b.ctx, b.pool.Config().ConnConfig.ConnString())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		conns[i] = conn
	}
	for range rounds {
		bb := b.submit(t, queue.SubmitParams{})
		c := b.submit(t, queue.SubmitParams{})
		d := b.submit(t, queue.SubmitParams{DependsOn: []uuid.UUID{bb, c}})
		jb, jc := b.claimOne(t, bb), b.claimOne(t, c)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 2)
		for i, j := range []*queue.Job{jb, jc} {
			wg.Go(func() {
				<-start
				for attempt := 0; ; attempt++ {
					_, err := conns[i].Exec(b.ctx, `SELECT * FROM jq.complete_many($1, $2, $3, $4)`,
						[]uuid.UUID{j.ID}, []uuid.UUID{j.WorkerID}, []int32{int32(j.Attempt)}, [][]byte{nil})
					if err == nil || attempt == 5 || !retryableErr(err) {
						errs <- err
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, queue.StatusPending, b.status(t, d))
		_, err := b.store.Cancel(b.ctx, d, "test") // out of the next rounds' claims
		require.NoError(t, err)
	}
}

func retryableErr(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && (pgErr.SQLState() == "40001" || pgErr.SQLState() == "40P01")
}

func TestWorkflow_SubmitAndGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one := 1
	id, refs, err := b.store.SubmitWorkflow(b.ctx, "etl", []queue.WorkflowNode{
		{Name: "load", Payload: json.RawMessage(`{"step": 3}`), DependsOn: []string{"transform"}},
		{Name: "extract", Payload: json.RawMessage(`{"step": 1}`), MaxRetries: &one, Priority: 5},
		{Name: "transform", Payload: json.RawMessage(`{"step": 2}`), DependsOn: []string{"extract"}, OnDependencyFailure: queue.DependencyRun},
	}, "tester")
	require.NoError(t, err)
	require.Len(t, refs, 3)
	require.Equal(t, []string{"load", "extract", "transform"}, []string{refs[0].Node, refs[1].Node, refs[2].Node}, "in the order given")

	w, err := b.store.GetWorkflow(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "etl", w.Name)
	require.Equal(t, "tester", w.CreatedBy)
	require.Len(t, w.Jobs, 3)
	require.Equal(t, "extract", w.Jobs[0].Node, "submitted parents first")
	require.Equal(t, queue.StatusPending, w.Jobs[0].Job.Status)
	require.Equal(t, 5, w.Jobs[0].Job.Priority)
	require.Equal(t, 1, w.Jobs[0].Job.MaxRetries)
	require.Equal(t, "transform", w.Jobs[1].Node)
	require.Equal(t, []string{"extract"}, w.Jobs[1].DependsOn)
	require.Equal(t, queue.StatusWaiting, w.Jobs[2].Job.Status)

	_, _, err = b.store.SubmitWorkflow(b.ctx, "loop", []queue.WorkflowNode{
		{Name: "a", Payload: json.RawMessage(`{}`), DependsOn: []string{"c"}},
		{Name: "b", Payload: json.RawMessage(`{}`), DependsOn: []string{"a"}},
		{Name: "c", Payload: json.RawMessage(`{}`), DependsOn: []string{"b"}},
		{Name: "d", Payload: json.RawMessage(`{}`)},
	}, "")
	require.ErrorIs(t, err, queue.ErrInvalid)
	require.ErrorContains(t, err, "cycle: a → c → b → a")

	_, err = b.store.GetWorkflow(b.ctx, uuid.New())
	require.ErrorIs(t, err, queue.ErrNotFound)
}

func TestProgress_FencedAndClearedOnRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.running(t, queue.SubmitParams{})
	got, err := b.store.ReportProgress(b.ctx, report(j), 42.5, "copying files")
	require.NoError(t, err)
	require.NotNil(t, got.Progress)
	require.InDelta(t, 42.5, got.Progress.Percent, 0)
	require.Equal(t, "copying files", got.Progress.Message)
	require.WithinDuration(t, time.Now(), got.Progress.ReportedAt, time.Minute)
	require.Len(t, b.trail(t, j.ID), 3, "progress is not a transition")

	stale := report(j)
	stale.Attempt++
	_, err = b.store.ReportProgress(b.ctx, stale, 50, "")
	require.ErrorIs(t, err, queue.ErrStaleAttempt)

	_, err = b.store.Fail(b.ctx, report(j), "again", false, queue.RetryPolicy{})
	require.NoError(t, err)
	require.Nil(t, b.job(t, j.ID).Progress, "the next attempt starts afresh")
}

func TestUnique_ConcurrentSubmitsInsertOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const submitters = 16
	ids := make([]queue.SubmitResult, submitters)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range submitters {
		wg.Go(func() {
			<-start
			res, err := b.store.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), UniqueKey: "report-42"})
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
			}
			ids[i] = res
		})
	}
	close(start)
	wg.Wait()
	inserted := 0
	for _, r := range ids {
		require.Equal(t, ids[0].ID, r.ID, "every answer names the one job")
		if r.Inserted {
			inserted++
		}
	}
	require.Equal(t, 1, inserted)
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs WHERE unique_key = 'report-42'`).Scan(&n))
	require.Equal(t, 1, n)
}

func TestUnique_WindowAndStatuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	submit := func(p queue.SubmitParams) queue.SubmitResult {
		t.Helper()
		p.Queue, p.Payload = "default", json.RawMessage(`{}`)
		res, err := b.store.Submit(b.ctx, p)
		require.NoError(t, err)
		return res
	}
	first := submit(queue.SubmitParams{UniqueKey: "k", UniqueStatuses: []queue.JobStatus{queue.StatusPending, queue.StatusRunning}})
	require.True(t, first.Inserted)
	again := submit(queue.SubmitParams{UniqueKey: "k", UniqueStatuses: []queue.JobStatus{queue.StatusPending, queue.StatusRunning}})
	require.Equal(t, SubmitResultOf(first.ID, false), again, "a PENDING job with the key exists")
	_, err := b.store.Cancel(b.ctx, first.ID, "test")
	require.NoError(t, err)
	third := submit(queue.SubmitParams{UniqueKey: "k", UniqueStatuses: []queue.JobStatus{queue.StatusPending, queue.StatusRunning}})
	require.True(t, third.Inserted, "the one with the key is CANCELLED, not among the statuses")

	hourly := submit(queue.SubmitParams{UniqueKey: "h", UniqueWindow: time.Hour})
	require.True(t, hourly.Inserted)
	require.False(t, submit(queue.SubmitParams{UniqueKey: "h", UniqueWindow: time.Hour}).Inserted)
	b.exec(t, `UPDATE jq.jobs SET created_at = now() - interval '2 hours' WHERE job_id = $1`, hourly.ID)
	require.True(t, submit(queue.SubmitParams{UniqueKey: "h", UniqueWindow: time.Hour}).Inserted, "the window has passed")

	// The idempotency key still works alone, and with a unique key.
	idem := submit(queue.SubmitParams{IdempotencyKey: "i", UniqueKey: "u"})
	require.True(t, idem.Inserted)
	require.Equal(t, SubmitResultOf(idem.ID, false), submit(queue.SubmitParams{IdempotencyKey: "i"}))
}

// SubmitResultOf builds a SubmitResult, for comparisons.
func SubmitResultOf(id uuid.UUID, inserted bool) queue.SubmitResult {
	return queue.SubmitResult{ID: id, Inserted: inserted}
}

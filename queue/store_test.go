package queue_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

type testBundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	store  *queue.Store
	worker uuid.UUID
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := testdb.Pool(t)
	b := &testBundle{ctx: context.Background(), pool: pool, store: queue.NewStore(pool)}
	b.worker = b.registerWorker(t, "default")
	return b
}

func (b *testBundle) registerWorker(t *testing.T, queues ...string) uuid.UUID {
	t.Helper()
	w, err := b.store.RegisterWorker(b.ctx, queue.RegisterWorkerParams{
		ID: uuid.New(), Hostname: "test-host", Concurrency: 4, Queues: queues,
	})
	require.NoError(t, err)
	return w.ID
}

func (b *testBundle) submit(t *testing.T, p queue.SubmitParams) uuid.UUID {
	t.Helper()
	if p.Queue == "" {
		p.Queue = "default"
	}
	if p.Payload == nil {
		p.Payload = json.RawMessage(`{"command": ["true"]}`)
	}
	res, err := b.store.Submit(b.ctx, p)
	require.NoError(t, err)
	require.True(t, res.Inserted)
	return res.ID
}

// assignedTo submits a job and claims it for worker (the only job PENDING in the queue then).
func (b *testBundle) assignedTo(t *testing.T, worker uuid.UUID, p queue.SubmitParams) uuid.UUID {
	t.Helper()
	id := b.submit(t, p)
	jobs, err := b.store.Claim(b.ctx, []string{"default"}, 1, worker)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, id, jobs[0].ID)
	return id
}

// running submits a job, claims and starts it for the bundle's worker.
func (b *testBundle) running(t *testing.T, p queue.SubmitParams) *queue.Job {
	t.Helper()
	id := b.assignedTo(t, b.worker, p)
	started, err := b.store.Start(b.ctx, []uuid.UUID{id}, b.worker)
	require.NoError(t, err)
	require.Len(t, started, 1)
	return b.job(t, id)
}

func (b *testBundle) job(t *testing.T, id uuid.UUID) *queue.Job {
	t.Helper()
	j, err := b.store.GetJob(b.ctx, id)
	require.NoError(t, err)
	return j
}

// trail renders a job's events as "FROM>TO:REASON".
func (b *testBundle) trail(t *testing.T, id uuid.UUID) []string {
	t.Helper()
	events, err := b.store.JobEvents(b.ctx, id)
	require.NoError(t, err)
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, fmt.Sprintf("%s>%s:%s", e.From, e.To, e.Reason))
	}
	return out
}

// exec runs SQL that a test needs to arrange (back-dating rows); never a transition.
func (b *testBundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, sql, args...)
	require.NoError(t, err)
}

// releaseWorker fails the jobs of worker through the retry rule with reason, as an operator's
// repair or the heartbeat reaper would (jq.release_worker), and returns how many it failed.
func (b *testBundle) releaseWorker(t *testing.T, worker uuid.UUID, reason string, policy queue.RetryPolicy) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT jq.release_worker($1, $2, $3, $4)`,
		worker, reason, policy.BaseDelay, policy.MaxDelay).Scan(&n))
	return n
}

func report(j *queue.Job) queue.Report {
	return queue.Report{JobID: j.ID, WorkerID: j.WorkerID, Attempt: j.Attempt}
}

func TestStore_Submit(t *testing.T) {
	t.Parallel()

	t.Run("InsertsPendingWithQueueDefaults", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id := b.submit(t, queue.SubmitParams{Payload: json.RawMessage(`{"a": 1}`), Priority: 7})
		j := b.job(t, id)
		require.Equal(t, queue.StatusPending, j.Status)
		require.Equal(t, "default", j.Queue)
		require.Equal(t, 7, j.Priority)
		require.Equal(t, 3, j.MaxRetries, "max_retries comes from the queue")
		require.Equal(t, 0, j.Attempt)
		require.JSONEq(t, `{"a": 1}`, string(j.Payload))
		require.Equal(t, []string{">PENDING:SUBMITTED"}, b.trail(t, id))
		require.Equal(t, byte(7), id[6]>>4, "job ids are UUIDv7")
	})

	t.Run("ExplicitMaxRetriesAndNotBefore", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		zero := 0
		at := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		j := b.job(t, b.submit(t, queue.SubmitParams{MaxRetries: &zero, NotBefore: at}))
		require.Equal(t, 0, j.MaxRetries)
		require.True(t, at.Equal(j.NotBefore), "got %v, want %v", j.NotBefore, at)
	})

	t.Run("IdempotencyKeyReturnsExistingJob", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		first := b.submit(t, queue.SubmitParams{IdempotencyKey: "order-42"})
		again, err := b.store.Submit(b.ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), IdempotencyKey: "order-42"})
		require.NoError(t, err)
		require.False(t, again.Inserted)
		require.Equal(t, first, again.ID)

		_, err = b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "other", MaxRetries: 1})
		require.NoError(t, err)
		other := b.submit(t, queue.SubmitParams{Queue: "other", IdempotencyKey: "order-42"})
		require.NotEqual(t, first, other, "keys are unique per queue")

		var count int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs WHERE idempotency_key = 'order-42'`).Scan(&count))
		require.Equal(t, 2, count)
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		big := 5000
		for name, tc := range map[string]struct {
			p       queue.SubmitParams
			kind    error
			message string
		}{
			"EmptyQueue":      {queue.SubmitParams{Payload: json.RawMessage(`{}`)}, queue.ErrInvalid, "queue name must not be empty"},
			"UnknownQueue":    {queue.SubmitParams{Queue: "nope", Payload: json.RawMessage(`{}`)}, queue.ErrNotFound, "queue nope does not exist"},
			"PriorityTooHigh": {queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), Priority: 10}, queue.ErrInvalid, "priority 10 is outside 0-9"},
			"PriorityNeg":     {queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), Priority: -1}, queue.ErrInvalid, "priority -1 is outside 0-9"},
			"MaxRetries":      {queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`), MaxRetries: &big}, queue.ErrInvalid, "max_retries 5000"},
			"NotJSON":         {queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{nope`)}, queue.ErrInvalid, "json"},
			"NullPayload":     {queue.SubmitParams{Queue: "default"}, queue.ErrInvalid, "payload must not be null"},
		} {
			_, err := b.store.Submit(b.ctx, tc.p)
			require.ErrorIs(t, err, tc.kind, name)
			require.ErrorContains(t, err, tc.message, name)
		}
		var jobs int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs`).Scan(&jobs))
		require.Zero(t, jobs, "a refused submit inserts nothing")
	})
}

func TestStore_SubmitMany(t *testing.T) {
	t.Parallel()
	b := setup(t)
	payloads := make([]json.RawMessage, 50)
	for i := range payloads {
		payloads[i] = json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))
	}
	ids, err := b.store.SubmitMany(b.ctx, "default", payloads, 2)
	require.NoError(t, err)
	require.Len(t, ids, 50)
	for i, id := range ids {
		j := b.job(t, id)
		require.JSONEq(t, string(payloads[i]), string(j.Payload), "ids come back in payload order")
		require.Equal(t, 2, j.Priority)
		require.Equal(t, []string{">PENDING:SUBMITTED"}, b.trail(t, id))
	}

	// Claimed in submission order.
	jobs, err := b.store.Claim(b.ctx, []string{"default"}, 50, b.worker)
	require.NoError(t, err)
	for i, j := range jobs {
		require.Equal(t, ids[i], j.ID, "claim order %d", i)
	}

	none, err := b.store.SubmitMany(b.ctx, "default", nil, 0)
	require.NoError(t, err)
	require.Empty(t, none)

	_, err = b.store.SubmitMany(b.ctx, "missing", payloads, 0)
	require.ErrorIs(t, err, queue.ErrNotFound)
	_, err = b.store.SubmitMany(b.ctx, "default", payloads, 11)
	require.ErrorIs(t, err, queue.ErrInvalid)
}

func TestStore_Claim(t *testing.T) {
	t.Parallel()

	t.Run("PriorityThenAge", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		low1 := b.submit(t, queue.SubmitParams{Priority: 1})
		high := b.submit(t, queue.SubmitParams{Priority: 9})
		low2 := b.submit(t, queue.SubmitParams{Priority: 1})
		mid := b.submit(t, queue.SubmitParams{Priority: 5})

		jobs, err := b.store.Claim(b.ctx, []string{"default"}, 3, b.worker)
		require.NoError(t, err)
		require.Len(t, jobs, 3)
		require.Equal(t, []uuid.UUID{high, mid, low1}, []uuid.UUID{jobs[0].ID, jobs[1].ID, jobs[2].ID})
		for _, j := range jobs {
			require.Equal(t, queue.StatusAssigned, j.Status)
			require.Equal(t, b.worker, j.WorkerID)
			require.Equal(t, 1, j.Attempt)
			require.False(t, j.AssignedAt.IsZero())
			require.Equal(t, []string{">PENDING:SUBMITTED", "PENDING>ASSIGNED:CLAIMED"}, b.trail(t, j.ID))
		}
		rest, err := b.store.Claim(b.ctx, []string{"default"}, 10, b.worker)
		require.NoError(t, err)
		require.Len(t, rest, 1)
		require.Equal(t, low2, rest[0].ID)
	})

	t.Run("HonoursNotBefore", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.submit(t, queue.SubmitParams{NotBefore: time.Now().Add(time.Hour)})
		due := b.submit(t, queue.SubmitParams{NotBefore: time.Now().Add(-time.Second)})
		jobs, err := b.store.Claim(b.ctx, []string{"default"}, 10, b.worker)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		require.Equal(t, due, jobs[0].ID)
	})

	t.Run("SeveralQueuesMergedByPriority", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "emails", MaxRetries: 3})
		require.NoError(t, err)
		w := b.registerWorker(t, "default", "emails")
		d := b.submit(t, queue.SubmitParams{Priority: 3})
		e := b.submit(t, queue.SubmitParams{Queue: "emails", Priority: 8})
		jobs, err := b.store.Claim(b.ctx, []string{"default", "emails", "emails"}, 5, w)
		require.NoError(t, err)
		require.Len(t, jobs, 2, "a repeated queue does not claim twice")
		require.Equal(t, e, jobs[0].ID)
		require.Equal(t, d, jobs[1].ID)
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.submit(t, queue.SubmitParams{})
		_, err := b.store.Claim(b.ctx, []string{"default"}, 1, uuid.New())
		require.ErrorIs(t, err, queue.ErrNotFound)
		require.ErrorContains(t, err, "is not registered")
		_, err = b.store.Claim(b.ctx, []string{"default"}, 0, b.worker)
		require.ErrorIs(t, err, queue.ErrInvalid)
		_, err = b.store.DrainWorker(b.ctx, b.worker, "test")
		require.NoError(t, err)
		_, err = b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
		require.ErrorIs(t, err, queue.ErrWrongState)
		require.ErrorContains(t, err, "DRAINING")
		require.Equal(t, queue.StatusPending, b.mustOnlyJob(t).Status)
	})
}

func TestStore_ClaimFor(t *testing.T) {
	t.Parallel()

	t.Run("DealsInTurnUpToEachMax", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var ids []uuid.UUID
		for p := range 6 {
			ids = append(ids, b.submit(t, queue.SubmitParams{Priority: 9 - p}))
		}
		w2, w3 := b.registerWorker(t, "default"), b.registerWorker(t, "default")
		jobs, err := b.store.ClaimFor(b.ctx, []string{"default"}, []queue.Slot{
			{WorkerID: b.worker, Max: 1}, {WorkerID: w2, Max: 3}, {WorkerID: w3, Max: 10},
		})
		require.NoError(t, err)
		require.Len(t, jobs, 6)
		got := map[uuid.UUID]uuid.UUID{}
		for i, j := range jobs {
			require.Equal(t, ids[i], j.ID, "priority order")
			require.Equal(t, queue.StatusAssigned, j.Status)
			require.Equal(t, 1, j.Attempt)
			got[j.ID] = j.WorkerID
		}
		// Deal: slot 1 of each worker, then slot 2 of those with one, and so on.
		want := []uuid.UUID{b.worker, w2, w3, w2, w3, w2}
		for i, id := range ids {
			require.Equal(t, want[i], got[id], "job %d", i)
			require.Equal(t, want[i], b.job(t, id).WorkerID)
		}
		var events int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.job_events e JOIN jq.jobs j USING (job_id)
			WHERE e.reason = 'CLAIMED' AND e.worker_id = j.worker_id AND e.attempt = 1`).Scan(&events))
		require.Equal(t, 6, events, "one CLAIMED event per job, naming its worker")

		started, err := b.store.StartFor(b.ctx, []uuid.UUID{ids[0], ids[1], ids[2]}, []uuid.UUID{b.worker, w3, w3})
		require.NoError(t, err)
		require.Len(t, started, 2, "ids[1] was not delivered to w3")
		require.Equal(t, queue.StatusAssigned, b.job(t, ids[1]).Status)
		require.Equal(t, queue.StatusRunning, b.job(t, ids[2]).Status)
		_, err = b.store.StartFor(b.ctx, []uuid.UUID{ids[3]}, nil)
		require.ErrorIs(t, err, queue.ErrInvalid)
	})

	t.Run("OneWorkerNotOnlineClaimsNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.submit(t, queue.SubmitParams{})
		drained := b.registerWorker(t, "default")
		_, err := b.store.DrainWorker(b.ctx, drained, "test")
		require.NoError(t, err)
		_, err = b.store.ClaimFor(b.ctx, []string{"default"}, []queue.Slot{{WorkerID: b.worker, Max: 1}, {WorkerID: drained, Max: 1}})
		require.ErrorIs(t, err, queue.ErrWrongState)
		require.ErrorContains(t, err, drained.String())
		unknown := uuid.New()
		_, err = b.store.ClaimFor(b.ctx, []string{"default"}, []queue.Slot{{WorkerID: b.worker, Max: 1}, {WorkerID: unknown, Max: 1}})
		require.ErrorIs(t, err, queue.ErrNotFound)
		require.ErrorContains(t, err, unknown.String())
		require.Equal(t, queue.StatusPending, b.mustOnlyJob(t).Status)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for name, slots := range map[string][]queue.Slot{
			"no workers": nil,
			"zero":       {{WorkerID: b.worker, Max: 0}},
			"over 10000": {{WorkerID: b.worker, Max: 6000}, {WorkerID: uuid.New(), Max: 6000}},
			"twice":      {{WorkerID: b.worker, Max: 1}, {WorkerID: b.worker, Max: 1}},
			"nil worker": {{WorkerID: uuid.Nil, Max: 1}}, // not NULL: an unknown worker
		} {
			_, err := b.store.ClaimFor(b.ctx, []string{"default"}, slots)
			if name == "nil worker" {
				require.ErrorIs(t, err, queue.ErrNotFound, name)
				continue
			}
			require.ErrorIs(t, err, queue.ErrInvalid, name)
		}
		_, err := b.pool.Exec(b.ctx, `SELECT jq.claim_for('{default}', '{}', '{}')`)
		require.ErrorContains(t, err, "non-empty arrays of the same length")
		_, err = b.pool.Exec(b.ctx, `SELECT jq.claim_for('{default}', ARRAY[$1::uuid], '{1,2}')`, b.worker)
		require.ErrorContains(t, err, "same length")
		_, err = b.pool.Exec(b.ctx, `SELECT jq.claim_for('{default}', ARRAY[NULL::uuid], '{1}')`)
		require.ErrorContains(t, err, "not NULL")
	})
}

func (b *testBundle) mustOnlyJob(t *testing.T) *queue.Job {
	t.Helper()
	jobs, err := b.store.ListJobs(b.ctx, queue.ListJobsParams{Limit: 2})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	return jobs[0]
}

func TestStore_Start(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.submit(t, queue.SubmitParams{})
	c := b.submit(t, queue.SubmitParams{})
	other := b.registerWorker(t, "default")
	claimed, err := b.store.Claim(b.ctx, []string{"default"}, 2, b.worker)
	require.NoError(t, err)
	require.Len(t, claimed, 2)

	none, err := b.store.Start(b.ctx, []uuid.UUID{a, c}, other)
	require.NoError(t, err)
	require.Empty(t, none, "another worker cannot start them")

	started, err := b.store.Start(b.ctx, []uuid.UUID{a, c, uuid.New()}, b.worker)
	require.NoError(t, err)
	require.Len(t, started, 2)
	for _, j := range started {
		require.Equal(t, queue.StatusRunning, j.Status)
		require.Equal(t, "default", j.Queue)
		require.False(t, j.StartedAt.IsZero())
	}
	again, err := b.store.Start(b.ctx, []uuid.UUID{a}, b.worker)
	require.NoError(t, err)
	require.Empty(t, again, "starting twice is a no-op")
	require.Equal(t, []string{">PENDING:SUBMITTED", "PENDING>ASSIGNED:CLAIMED", "ASSIGNED>RUNNING:STARTED"}, b.trail(t, a))
}

func TestStore_Release(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.submit(t, queue.SubmitParams{})
	_, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
	require.NoError(t, err)
	n, err := b.store.Release(b.ctx, []uuid.UUID{id}, b.worker, queue.ReasonDeliveryFailed)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	j := b.job(t, id)
	require.Equal(t, queue.StatusPending, j.Status)
	require.Equal(t, 0, j.RetryCount, "a job that never ran keeps its retries")
	require.Equal(t, "ASSIGNED>PENDING:DELIVERY_FAILED", b.trail(t, id)[2])

	again, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, 2, again[0].Attempt)
}

func TestStore_Complete(t *testing.T) {
	t.Parallel()

	t.Run("RunningToDone", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.running(t, queue.SubmitParams{})
		done, err := b.store.Complete(b.ctx, report(j), []byte("hello\n"))
		require.NoError(t, err)
		require.Equal(t, queue.StatusDone, done.Status)
		require.Equal(t, []byte("hello\n"), done.Result)
		require.False(t, done.CompletedAt.IsZero())
		require.Equal(t, "RUNNING>DONE:COMPLETED", b.trail(t, j.ID)[3])
	})

	t.Run("FromAssignedRecordsTheStart", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.submit(t, queue.SubmitParams{})
		jobs, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
		require.NoError(t, err)
		done, err := b.store.Complete(b.ctx, report(jobs[0]), nil)
		require.NoError(t, err)
		require.Equal(t, queue.StatusDone, done.Status)
		require.False(t, done.StartedAt.IsZero())
		require.Equal(t, []string{">PENDING:SUBMITTED", "PENDING>ASSIGNED:CLAIMED", "ASSIGNED>RUNNING:STARTED", "RUNNING>DONE:COMPLETED"},
			b.trail(t, done.ID))
		started, err := b.store.Start(b.ctx, []uuid.UUID{done.ID}, b.worker)
		require.NoError(t, err)
		require.Empty(t, started, "a late batched start leaves the finished job alone")
	})

	t.Run("StaleAndWrongReportsChangeNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.running(t, queue.SubmitParams{})

		stale := report(j)
		stale.Attempt = j.Attempt + 1
		_, err := b.store.Complete(b.ctx, stale, nil)
		require.ErrorIs(t, err, queue.ErrStaleAttempt)
		require.ErrorContains(t, err, j.ID.String())
		_, err = b.store.Complete(b.ctx, queue.Report{JobID: j.ID, WorkerID: j.WorkerID, Attempt: 0}, nil)
		require.ErrorIs(t, err, queue.ErrInvalid, "attempts start at 1")

		wrongWorker := report(j)
		wrongWorker.WorkerID = uuid.New()
		_, err = b.store.Complete(b.ctx, wrongWorker, nil)
		require.ErrorIs(t, err, queue.ErrStaleAttempt)

		_, err = b.store.Complete(b.ctx, queue.Report{JobID: uuid.New(), WorkerID: b.worker, Attempt: 1}, nil)
		require.ErrorIs(t, err, queue.ErrNotFound)

		require.Equal(t, queue.StatusRunning, b.job(t, j.ID).Status)
		require.Len(t, b.trail(t, j.ID), 3, "no event for a refused report")

		_, err = b.store.Complete(b.ctx, report(j), nil)
		require.NoError(t, err)
		_, err = b.store.Complete(b.ctx, report(j), nil)
		require.ErrorIs(t, err, queue.ErrWrongState, "a duplicate report")
	})

	t.Run("LateReportAfterReassignmentIsStale", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.running(t, queue.SubmitParams{})
		b.releaseWorker(t, b.worker, queue.ReasonWorkerLost, queue.RetryPolicy{BaseDelay: 0, MaxDelay: 0})
		_, err := b.store.Complete(b.ctx, report(j), nil)
		require.ErrorIs(t, err, queue.ErrStaleAttempt, "the job is PENDING again")

		w2 := b.registerWorker(t, "default")
		jobs, err := b.store.Claim(b.ctx, []string{"default"}, 1, w2)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		_, err = b.store.Complete(b.ctx, report(j), nil)
		require.ErrorIs(t, err, queue.ErrStaleAttempt, "the old attempt cannot finish the new one")
		done, err := b.store.Complete(b.ctx, report(jobs[0]), nil)
		require.NoError(t, err)
		require.Equal(t, queue.StatusDone, done.Status)
	})
}

func TestStore_Fail(t *testing.T) {
	t.Parallel()
	policy := queue.RetryPolicy{BaseDelay: 2 * time.Second, MaxDelay: time.Minute}

	t.Run("RetriesWithBackoff", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.running(t, queue.SubmitParams{})
		before := time.Now()
		failed, err := b.store.Fail(b.ctx, report(j), "exit status 3", false, policy)
		after := time.Now()
		require.NoError(t, err)
		require.Equal(t, queue.StatusPending, failed.Status)
		require.Equal(t, 1, failed.RetryCount)
		require.Equal(t, "exit status 3", failed.ErrorMessage)
		// First retry: base·2^0 = 2 s plus up to 10 % jitter.
		require.False(t, failed.NotBefore.Before(before.Add(2*time.Second).Add(-time.Millisecond)), "not_before %v", failed.NotBefore)
		require.False(t, failed.NotBefore.After(after.Add(2200*time.Millisecond)), "not_before %v", failed.NotBefore)
		require.Equal(t, []string{"RUNNING>FAILED:FAILED", "FAILED>PENDING:RETRY"}, b.trail(t, j.ID)[3:])
		events, err := b.store.JobEvents(b.ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, "exit status 3", events[3].ErrorMessage)

		jobs, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
		require.NoError(t, err)
		require.Empty(t, jobs, "not claimable during its backoff")
	})

	t.Run("DeadLettersWhenRetriesAreSpent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		one := 1
		id := b.submit(t, queue.SubmitParams{MaxRetries: &one})
		for attempt := 1; attempt <= 2; attempt++ {
			b.exec(t, `UPDATE jq.jobs SET not_before = NULL WHERE job_id = $1`, id) // skip the backoff
			jobs, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
			require.NoError(t, err)
			require.Len(t, jobs, 1)
			require.Equal(t, attempt, jobs[0].Attempt)
			failed, err := b.store.Fail(b.ctx, report(jobs[0]), fmt.Sprintf("boom %d", attempt), false, policy)
			require.NoError(t, err)
			if attempt == 1 {
				require.Equal(t, queue.StatusPending, failed.Status)
			} else {
				require.Equal(t, queue.StatusDeadLettered, failed.Status)
				require.Equal(t, "boom 2", failed.ErrorMessage)
				require.False(t, failed.CompletedAt.IsZero())
			}
		}
		trail := b.trail(t, id)
		require.Equal(t, "FAILED>DEAD_LETTERED:RETRIES_EXHAUSTED", trail[len(trail)-1])
	})

	t.Run("PermanentDeadLettersAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.running(t, queue.SubmitParams{})
		failed, err := b.store.Fail(b.ctx, report(j), "payload: command must be a non-empty array", true, policy)
		require.NoError(t, err)
		require.Equal(t, queue.StatusDeadLettered, failed.Status)
		require.Equal(t, 0, failed.RetryCount)
		require.Equal(t, "FAILED>DEAD_LETTERED:PERMANENT_FAILURE", b.trail(t, j.ID)[4])
	})

	t.Run("StaleRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.running(t, queue.SubmitParams{})
		r := report(j)
		r.Attempt++
		_, err := b.store.Fail(b.ctx, r, "late", false, policy)
		require.ErrorIs(t, err, queue.ErrStaleAttempt)
		require.Equal(t, queue.StatusRunning, b.job(t, j.ID).Status)

		_, err = b.store.Fail(b.ctx, report(j), "x", false, queue.RetryPolicy{BaseDelay: time.Hour, MaxDelay: time.Second})
		require.ErrorIs(t, err, queue.ErrInvalid)
	})
}

func TestStore_CancelAndRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)

	pending := b.submit(t, queue.SubmitParams{})
	c, err := b.store.Cancel(b.ctx, pending, "test")
	require.NoError(t, err)
	require.Equal(t, queue.StatusCancelled, c.Status)
	require.Equal(t, "PENDING>CANCELLED:CANCELLED", b.trail(t, pending)[1])

	_, err = b.store.Cancel(b.ctx, pending, "test")
	require.ErrorIs(t, err, queue.ErrWrongState)

	// A running job is cancelled, its worker told on jq_job_cancel, and its report refused.
	listen, err := pgx.Connect(b.ctx, b.pool.Config().ConnConfig.ConnString())
	require.NoError(t, err)
	defer func() { _ = listen.Close(context.Background()) }()
	_, err = listen.Exec(b.ctx, "LISTEN "+queue.CancelChannel)
	require.NoError(t, err)
	running := b.running(t, queue.SubmitParams{})
	c, err = b.store.Cancel(b.ctx, running.ID, "test")
	require.NoError(t, err)
	require.Equal(t, queue.StatusCancelled, c.Status)
	require.Equal(t, "RUNNING>CANCELLED:CANCELLED", b.trail(t, running.ID)[3])
	wctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	n, err := listen.WaitForNotification(wctx)
	require.NoError(t, err)
	jobID, workerID, attempt, err := queue.ParseCancelNotice(n.Payload)
	require.NoError(t, err)
	require.Equal(t, [3]any{running.ID, b.worker, running.Attempt}, [3]any{jobID, workerID, attempt})
	_, err = b.store.Complete(b.ctx, queue.Report{JobID: running.ID, WorkerID: b.worker, Attempt: running.Attempt}, nil)
	require.Error(t, err, "the cancelled attempt's report is refused")
	require.Equal(t, queue.StatusCancelled, b.job(t, running.ID).Status)
	_, err = b.store.Cancel(b.ctx, uuid.New(), "test")
	require.ErrorIs(t, err, queue.ErrNotFound)

	assigned := b.submit(t, queue.SubmitParams{})
	_, err = b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
	require.NoError(t, err)
	c, err = b.store.Cancel(b.ctx, assigned, "test")
	require.NoError(t, err)
	require.Equal(t, queue.StatusCancelled, c.Status)

	stillRunning := b.running(t, queue.SubmitParams{})
	// Manual retry of the cancelled job.
	r, err := b.store.Retry(b.ctx, pending, "test")
	require.NoError(t, err)
	require.Equal(t, queue.StatusPending, r.Status)
	require.Equal(t, 0, r.RetryCount)
	require.True(t, r.NotBefore.IsZero())
	require.Equal(t, "CANCELLED>PENDING:MANUAL_RETRY", b.trail(t, pending)[2])

	_, err = b.store.Retry(b.ctx, pending, "test")
	require.ErrorIs(t, err, queue.ErrWrongState, "a PENDING job cannot be retried")
	_, err = b.store.Retry(b.ctx, stillRunning.ID, "test")
	require.ErrorIs(t, err, queue.ErrWrongState)
	_, err = b.store.Retry(b.ctx, uuid.New(), "test")
	require.ErrorIs(t, err, queue.ErrNotFound)
}

func TestStore_ExpireTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "short", MaxRetries: 3, TTL: 10 * time.Second})
	require.NoError(t, err)
	old := b.submit(t, queue.SubmitParams{Queue: "short"})
	fresh := b.submit(t, queue.SubmitParams{Queue: "short"})
	noTTL := b.submit(t, queue.SubmitParams{})
	b.exec(t, `UPDATE jq.jobs SET created_at = now() - interval '1 hour' WHERE job_id = ANY($1)`, []uuid.UUID{old, noTTL})

	n, err := b.store.ExpireTTL(b.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, queue.StatusDeadLettered, b.job(t, old).Status)
	require.Equal(t, "PENDING>DEAD_LETTERED:TTL_EXPIRED", b.trail(t, old)[1])
	require.Equal(t, queue.StatusPending, b.job(t, fresh).Status)
	require.Equal(t, queue.StatusPending, b.job(t, noTTL).Status, "the default queue has no TTL")

	n, err = b.store.ExpireTTL(b.ctx, 100)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestStore_ReapWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	policy := queue.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute}
	running := b.running(t, queue.SubmitParams{})
	assignedID := b.submit(t, queue.SubmitParams{})
	_, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
	require.NoError(t, err)
	alive := b.registerWorker(t, "default")
	b.exec(t, `UPDATE jq.workers SET last_heartbeat = now() - interval '1 minute' WHERE worker_id = $1`, b.worker)

	n, err := b.store.ReapWorkers(b.ctx, 30*time.Second, policy)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	w, err := b.store.GetWorker(b.ctx, b.worker)
	require.NoError(t, err)
	require.Equal(t, queue.WorkerOffline, w.Status)
	w, err = b.store.GetWorker(b.ctx, alive)
	require.NoError(t, err)
	require.Equal(t, queue.WorkerOnline, w.Status)

	for _, id := range []uuid.UUID{running.ID, assignedID} {
		j := b.job(t, id)
		require.Equal(t, queue.StatusPending, j.Status)
		require.Equal(t, 1, j.RetryCount, "a lost attempt counts as a failure")
		require.False(t, j.NotBefore.IsZero())
		trail := b.trail(t, id)
		require.Contains(t, trail[len(trail)-2], ">FAILED:WORKER_LOST")
		require.Equal(t, "FAILED>PENDING:RETRY", trail[len(trail)-1])
	}

	_, err = b.store.Heartbeat(b.ctx, b.worker, 0, "")
	require.ErrorIs(t, err, queue.ErrWrongState, "a reaped worker must register again")
	_, err = b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
	require.ErrorIs(t, err, queue.ErrWrongState)

	n, err = b.store.ReapWorkers(b.ctx, 30*time.Second, policy)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestStore_RequeueUnstarted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stuck := b.submit(t, queue.SubmitParams{})
	_, err := b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
	require.NoError(t, err)
	running := b.running(t, queue.SubmitParams{})
	b.exec(t, `UPDATE jq.jobs SET assigned_at = now() - interval '1 minute'`)

	n, err := b.store.RequeueUnstarted(b.ctx, 30*time.Second, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	j := b.job(t, stuck)
	require.Equal(t, queue.StatusPending, j.Status)
	require.Equal(t, 0, j.RetryCount)
	require.Equal(t, "ASSIGNED>PENDING:ASSIGNMENT_TIMEOUT", b.trail(t, stuck)[2])
	require.Equal(t, queue.StatusRunning, b.job(t, running.ID).Status, "running jobs are left alone")
}

func TestStore_Prune(t *testing.T) {
	t.Parallel()
	b := setup(t)
	old := b.running(t, queue.SubmitParams{})
	_, err := b.store.Complete(b.ctx, report(old), nil)
	require.NoError(t, err)
	recent := b.running(t, queue.SubmitParams{})
	_, err = b.store.Complete(b.ctx, report(recent), nil)
	require.NoError(t, err)
	pending := b.submit(t, queue.SubmitParams{})
	b.exec(t, `UPDATE jq.jobs SET completed_at = now() - interval '8 days' WHERE job_id = $1`, old.ID)
	b.exec(t, `UPDATE jq.jobs SET created_at = now() - interval '8 days' WHERE job_id = $1`, pending)

	n, err := b.store.Prune(b.ctx, 7*24*time.Hour, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.store.GetJob(b.ctx, old.ID)
	require.ErrorIs(t, err, queue.ErrNotFound)
	var events int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.job_events WHERE job_id = $1`, old.ID).Scan(&events))
	require.Zero(t, events)
	b.job(t, recent.ID)
	b.job(t, pending)
}

func TestStore_Workers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := uuid.New()
	w, err := b.store.RegisterWorker(b.ctx, queue.RegisterWorkerParams{ID: id, Hostname: "h1", Concurrency: 2, Queues: []string{"default"}})
	require.NoError(t, err)
	require.Equal(t, queue.WorkerOnline, w.Status)
	first := w.RegisteredAt

	w, err = b.store.RegisterWorker(b.ctx, queue.RegisterWorkerParams{ID: id, Hostname: "h2", Concurrency: 8, Queues: []string{"a", "b"}})
	require.NoError(t, err)
	require.Equal(t, "h2", w.Hostname)
	require.Equal(t, 8, w.Concurrency)
	require.Equal(t, []string{"a", "b"}, w.Queues)
	require.True(t, first.Equal(w.RegisteredAt), "re-registering keeps registered_at")

	hb, err := b.store.Heartbeat(b.ctx, id, 3, "")
	require.NoError(t, err)
	require.Equal(t, 3, hb.ActiveJobCount)
	require.False(t, hb.LastHeartbeat.Before(w.LastHeartbeat))

	_, err = b.store.Heartbeat(b.ctx, uuid.New(), 0, "")
	require.ErrorIs(t, err, queue.ErrNotFound)

	for name, p := range map[string]queue.RegisterWorkerParams{
		"NoQueues":    {ID: uuid.New(), Concurrency: 1},
		"Concurrency": {ID: uuid.New(), Concurrency: 0, Queues: []string{"default"}},
	} {
		_, err := b.store.RegisterWorker(b.ctx, p)
		require.ErrorIs(t, err, queue.ErrInvalid, name)
	}

	d, err := b.store.DrainWorker(b.ctx, id, "test")
	require.NoError(t, err)
	require.Equal(t, queue.WorkerDraining, d.Status)

	// Deregistering retries what the worker still holds.
	j := b.running(t, queue.SubmitParams{})
	n, err := b.store.DeregisterWorker(b.ctx, b.worker, "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, queue.StatusPending, b.job(t, j.ID).Status)
	trail := b.trail(t, j.ID)
	require.Equal(t, "RUNNING>FAILED:DEREGISTERED", trail[3])

	all, err := b.store.ListWorkers(b.ctx, queue.ListWorkersParams{Limit: 10})
	require.NoError(t, err)
	require.Len(t, all, 2)
	offline, err := b.store.ListWorkers(b.ctx, queue.ListWorkersParams{Status: queue.WorkerOffline, Limit: 10})
	require.NoError(t, err)
	require.Len(t, offline, 1)
	require.Equal(t, b.worker, offline[0].ID)

	page1, err := b.store.ListWorkers(b.ctx, queue.ListWorkersParams{Limit: 1})
	require.NoError(t, err)
	require.Len(t, page1, 1)
	rest, err := b.store.ListWorkers(b.ctx, queue.ListWorkersParams{Limit: 10,
		After: &queue.WorkerCursor{RegisteredAt: page1[0].RegisteredAt, ID: page1[0].ID}})
	require.NoError(t, err)
	require.Len(t, rest, 1, "the next page holds the other worker")
	require.NotEqual(t, page1[0].ID, rest[0].ID)

	counts, err := b.store.SystemCounts(b.ctx)
	require.NoError(t, err)
	require.Zero(t, counts.OnlineWorkers, "one is DRAINING, the other OFFLINE")
}

func TestStore_Queues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "reports", MaxRetries: 5, TTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, 5, q.MaxRetries)
	require.Equal(t, time.Hour, q.TTL)

	_, err = b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "reports"})
	require.ErrorIs(t, err, queue.ErrExists)
	for _, bad := range []string{"", "has space", "-leading", strings.Repeat("a", 129), "nul\x00byte", "\xff"} {
		_, err = b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: bad})
		require.ErrorIs(t, err, queue.ErrInvalid, "name %q", bad)
	}
	_, err = b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "x", MaxRetries: -1})
	require.ErrorIs(t, err, queue.ErrInvalid)

	queues, err := b.store.ListQueues(b.ctx)
	require.NoError(t, err)
	require.Len(t, queues, 2)
	require.Equal(t, "default", queues[0].Name)

	// Stats.
	w := b.registerWorker(t, "reports")
	for range 3 {
		b.submit(t, queue.SubmitParams{Queue: "reports"})
	}
	jobs, err := b.store.Claim(b.ctx, []string{"reports"}, 1, w)
	require.NoError(t, err)
	_, err = b.store.Complete(b.ctx, report(jobs[0]), nil)
	require.NoError(t, err)
	stats, err := b.store.QueueStats(b.ctx, "reports")
	require.NoError(t, err)
	require.Len(t, stats, 1)
	require.Equal(t, int64(2), stats[0].Counts[queue.StatusPending])
	require.Equal(t, int64(1), stats[0].Counts[queue.StatusDone])
	require.Equal(t, int64(1), stats[0].CompletedLastMinute)
	require.WithinDuration(t, time.Now(), stats[0].OldestPendingAt, time.Minute)
	all, err := b.store.QueueStats(b.ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 2)
	_, err = b.store.QueueStats(b.ctx, "nope")
	require.ErrorIs(t, err, queue.ErrNotFound)

	// Delete: refused while unfinished jobs remain, then allowed.
	_, err = b.store.DeleteQueue(b.ctx, "reports", "test")
	require.ErrorIs(t, err, queue.ErrWrongState)
	require.ErrorContains(t, err, "2 unfinished jobs")
	b.exec(t, `UPDATE jq.jobs SET status = 'DONE' WHERE queue_name = 'reports'`) // arrange: finish them
	n, err := b.store.DeleteQueue(b.ctx, "reports", "test")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	queues, err = b.store.ListQueues(b.ctx)
	require.NoError(t, err)
	require.False(t, slices.ContainsFunc(queues, func(q *queue.Queue) bool { return q.Name == "reports" }), "queue reports is gone")
	_, err = b.store.DeleteQueue(b.ctx, "default", "test")
	require.ErrorIs(t, err, queue.ErrInvalid)
	_, err = b.store.DeleteQueue(b.ctx, "reports", "test")
	require.ErrorIs(t, err, queue.ErrNotFound)
}

func TestStore_ListJobsPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var want []uuid.UUID
	for range 7 {
		want = append([]uuid.UUID{b.submit(t, queue.SubmitParams{})}, want...) // newest first
	}
	var got []uuid.UUID
	var after *queue.JobCursor
	for {
		page, err := b.store.ListJobs(b.ctx, queue.ListJobsParams{Limit: 3, After: after})
		require.NoError(t, err)
		for _, j := range page {
			got = append(got, j.ID)
		}
		if len(page) < 3 {
			break
		}
		last := page[len(page)-1]
		after = &queue.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	require.Equal(t, want, got)

	done, err := b.store.ListJobs(b.ctx, queue.ListJobsParams{Limit: 10, Status: queue.StatusDone})
	require.NoError(t, err)
	require.Empty(t, done)
	other, err := b.store.ListJobs(b.ctx, queue.ListJobsParams{Limit: 10, Queue: "other"})
	require.NoError(t, err)
	require.Empty(t, other)

	_, err = b.store.JobEvents(b.ctx, uuid.New())
	require.ErrorIs(t, err, queue.ErrNotFound)
}

func TestStore_CompleteMany(t *testing.T) {
	t.Parallel()
	b := setup(t)
	running := b.running(t, queue.SubmitParams{})
	b.submit(t, queue.SubmitParams{})
	b.submit(t, queue.SubmitParams{})
	assigned, err := b.store.Claim(b.ctx, []string{"default"}, 2, b.worker)
	require.NoError(t, err)
	require.Len(t, assigned, 2)
	stale := report(assigned[1])
	stale.Attempt = 99

	done, err := b.store.CompleteMany(b.ctx,
		[]queue.Report{report(running), report(assigned[0]), stale},
		[][]byte{[]byte("a"), []byte("b"), []byte("c")})
	require.NoError(t, err)
	require.Len(t, done, 2, "the stale report is skipped")
	results := map[uuid.UUID]string{}
	for _, j := range done {
		require.Equal(t, queue.StatusDone, j.Status)
		require.Equal(t, "default", j.Queue)
		require.False(t, j.StartedAt.IsZero(), "the summary holds what the processing-time metric needs")
		results[j.ID] = string(b.job(t, j.ID).Result)
	}
	require.Equal(t, map[uuid.UUID]string{running.ID: "a", assigned[0].ID: "b"}, results)
	require.Equal(t, []string{">PENDING:SUBMITTED", "PENDING>ASSIGNED:CLAIMED", "ASSIGNED>RUNNING:STARTED", "RUNNING>DONE:COMPLETED"},
		b.trail(t, assigned[0].ID), "completing an ASSIGNED job records its start")
	require.Len(t, b.trail(t, running.ID), 4)
	require.Equal(t, queue.StatusAssigned, b.job(t, assigned[1].ID).Status)

	again, err := b.store.CompleteMany(b.ctx, []queue.Report{report(running)}, [][]byte{nil})
	require.NoError(t, err)
	require.Empty(t, again, "a duplicate report completes nothing")
	_, err = b.store.CompleteMany(b.ctx, []queue.Report{report(running)}, nil)
	require.ErrorIs(t, err, queue.ErrInvalid)
}

func TestStore_RecordsQueryDuration(t *testing.T) {
	t.Parallel()
	pool := testdb.Pool(t)
	reg := prometheus.NewPedanticRegistry()
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jq_db_query_duration_seconds", Help: "h"}, []string{"query"})
	reg.MustRegister(hist)
	store := queue.NewStore(pool, queue.WithQueryDuration(hist))
	ctx := context.Background()

	_, err := store.Submit(ctx, queue.SubmitParams{Queue: "default", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	_, err = store.Submit(ctx, queue.SubmitParams{Queue: "missing", Payload: json.RawMessage(`{}`)})
	require.Error(t, err)
	_, err = store.ListQueues(ctx)
	require.NoError(t, err)

	require.Equal(t, 2, testutil.CollectAndCount(hist), "one series per query name")
	families, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, m := range families[0].GetMetric() {
		counts[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
	}
	require.Equal(t, map[string]uint64{"submit": 2, "list_queues": 1}, counts, "failed queries are timed too")
}

func TestStore_ShutdownAndSilentRelease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	policy := queue.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute}

	j := b.running(t, queue.SubmitParams{})
	brokeAt := time.Now().Add(-time.Minute)
	n, err := b.store.ReleaseSilentWorker(b.ctx, b.worker, brokeAt, policy)
	require.NoError(t, err)
	require.Zero(t, n, "the worker registered after the stream broke: it is alive")
	require.Equal(t, queue.StatusRunning, b.job(t, j.ID).Status)

	n, err = b.store.ReleaseSilentWorker(b.ctx, b.worker, time.Now().Add(time.Second), policy)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, queue.StatusPending, b.job(t, j.ID).Status)

	w := b.registerWorker(t, "default")
	s, err := b.store.ShutdownWorker(b.ctx, w, "test")
	require.NoError(t, err)
	require.Equal(t, queue.WorkerDraining, s.Status)
	require.True(t, s.ShutdownRequested)
	hb, err := b.store.Heartbeat(b.ctx, w, 0, "")
	require.NoError(t, err)
	require.True(t, hb.ShutdownRequested, "the heartbeat tells the worker")
	again, err := b.store.RegisterWorker(b.ctx, queue.RegisterWorkerParams{ID: w, Hostname: "h", Concurrency: 1, Queues: []string{"default"}})
	require.NoError(t, err)
	require.False(t, again.ShutdownRequested, "a fresh registration clears it")
	require.Equal(t, queue.WorkerOnline, again.Status)
}

func TestStore_NewIncarnationRetriesThePreviousProcessJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := uuid.New()
	register := func(incarnation string) {
		_, err := b.store.RegisterWorker(b.ctx, queue.RegisterWorkerParams{
			ID: id, Hostname: "pod-7", Concurrency: 2, Queues: []string{"default"}, Incarnation: incarnation,
		})
		require.NoError(t, err)
	}
	register("process-1")
	job := b.submit(t, queue.SubmitParams{})
	claimed, err := b.store.Claim(b.ctx, []string{"default"}, 1, id)
	require.NoError(t, err)
	require.Len(t, claimed, 1)

	register("process-1") // a reconnect of the same process keeps its jobs
	require.Equal(t, queue.StatusAssigned, b.job(t, job).Status)

	register("process-2") // the pod restarted: process-1's job is lost
	j := b.job(t, job)
	require.Equal(t, queue.StatusPending, j.Status)
	require.Equal(t, 1, j.RetryCount)
	trail := b.trail(t, job)
	require.Equal(t, []string{"ASSIGNED>FAILED:WORKER_RESTARTED", "FAILED>PENDING:RETRY"}, trail[len(trail)-2:])
	w, err := b.store.GetWorker(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "process-2", w.Incarnation)
}

// TestStore_EventOrderGuard: a transaction that took its id before another one changed a job
// must not write that job's next event (the relay publishes in transaction-id order). It is
// refused with 40001, and the store retries it.
func TestStore_EventOrderGuard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.running(t, queue.SubmitParams{})
	second := b.running(t, queue.SubmitParams{})

	// An old transaction: its id is taken now (it writes something unrelated)...
	old, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer old.Rollback(b.ctx)
	_, err = old.Exec(b.ctx, `UPDATE jq.queues SET updated_at = now() WHERE name = 'default'`)
	require.NoError(t, err)
	// ...then a newer one changes the job and commits.
	_, err = b.store.Complete(b.ctx, report(first), nil)
	require.NoError(t, err)
	// The old transaction may not write the job's next event.
	_, err = old.Exec(b.ctx, `SELECT jq.retry($1)`, first.ID)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "40001", pgErr.Code)
	require.NoError(t, old.Rollback(b.ctx))

	// Through the store, calls are their own transactions: they succeed.
	_, err = b.store.Complete(b.ctx, report(second), nil)
	require.NoError(t, err)
	require.Equal(t, queue.StatusDone, b.job(t, first.ID).Status, "the refused call changed nothing")
}

// TestStore_DeleteQueueWaitsForSubmitsInFlight: a delete waits for a submit that has not
// committed and then sees its job; a submit waits for a delete in progress and then finds no
// queue. Either way no job lands in a deleted queue.
func TestStore_DeleteQueueWaitsForSubmitsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	create := func() {
		_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "reports", MaxRetries: 1})
		require.NoError(t, err)
	}
	create()

	submit, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = submit.Rollback(b.ctx) }()
	_, err = submit.Exec(b.ctx, `SELECT jq.submit('reports', '{}')`)
	require.NoError(t, err)
	deleted := make(chan error, 1)
	go func() { _, err := b.store.DeleteQueue(b.ctx, "reports", "test"); deleted <- err }()
	select {
	case err := <-deleted:
		t.Fatalf("the delete did not wait for the submit: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, submit.Commit(b.ctx))
	require.ErrorIs(t, <-deleted, queue.ErrWrongState, "the committed job is unfinished")

	b.exec(t, `UPDATE jq.jobs SET status = 'DONE' WHERE queue_name = 'reports'`) // arrange: finish it
	del, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = del.Rollback(b.ctx) }()
	_, err = del.Exec(b.ctx, `SELECT jq.delete_queue('reports')`)
	require.NoError(t, err)
	submitted := make(chan error, 1)
	go func() {
		_, err := b.store.Submit(b.ctx, queue.SubmitParams{Queue: "reports", Payload: []byte(`{}`)})
		submitted <- err
	}()
	select {
	case err := <-submitted:
		t.Fatalf("the submit did not wait for the delete: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, del.Commit(b.ctx))
	require.ErrorIs(t, <-submitted, queue.ErrNotFound, "the queue is gone")
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs WHERE queue_name = 'reports'`).Scan(&n))
	require.Zero(t, n)
}

// TestStore_SubmitAll: a batch answers each job in its own position (a repeated idempotency
// key gives the same job, inserted once) and fails as a whole, inserting nothing, when one
// job cannot be inserted.
func TestStore_SubmitAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := func(key string, prio int) queue.SubmitParams {
		return queue.SubmitParams{Queue: "default", Payload: []byte(`{}`), Priority: prio, IdempotencyKey: key}
	}
	res, err := b.store.SubmitAll(b.ctx, []queue.SubmitParams{p("", 1), p("b", 2), p("a", 3), p("b", 4)})
	require.NoError(t, err)
	require.Len(t, res, 4)
	require.True(t, res[0].Inserted)
	require.Equal(t, 1, b.job(t, res[0].ID).Priority, "answers in the order asked")
	require.Equal(t, 3, b.job(t, res[2].ID).Priority)
	require.Equal(t, res[1].ID, res[3].ID)
	require.True(t, res[1].Inserted)
	require.False(t, res[3].Inserted, "the second submit with key b is the first's job")
	require.Equal(t, 2, b.job(t, res[1].ID).Priority)

	again, err := b.store.SubmitAll(b.ctx, []queue.SubmitParams{p("a", 5), p("", 6)})
	require.NoError(t, err)
	require.Equal(t, queue.SubmitResult{ID: res[2].ID}, again[0], "a key from an earlier batch gives its job")
	require.True(t, again[1].Inserted)
	require.Less(t, b.job(t, res[0].ID).CreatedAt, b.job(t, res[1].ID).CreatedAt, "a batch keeps its order")

	_, err = b.store.SubmitAll(b.ctx, []queue.SubmitParams{p("", 0), {Queue: "nope", Payload: []byte(`{}`)}})
	require.ErrorIs(t, err, queue.ErrNotFound)
	_, err = b.store.SubmitAll(b.ctx, []queue.SubmitParams{p("", 0), p("", 0), p("", 12)})
	require.ErrorIs(t, err, queue.ErrInvalid)
	require.ErrorContains(t, err, "job 3: priority 12 is outside 0-9")
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs`).Scan(&n))
	require.Equal(t, 4, n, "the failed batches inserted nothing")

	// Concurrent batches with the same keys in other orders neither deadlock nor duplicate.
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6"}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			batch := make([]queue.SubmitParams, len(keys))
			for j := range keys {
				batch[j] = p(keys[(i+j)%len(keys)], 0)
			}
			_, err := b.store.SubmitAll(b.ctx, batch)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.jobs WHERE idempotency_key LIKE 'k%'`).Scan(&n))
	require.Equal(t, len(keys), n)
}

// TestStore_ReapOrphans: a job ASSIGNED or RUNNING whose worker is OFFLINE or not registered
// at all, or that names no worker (set by hand, or by an older version), is retried; the jobs
// of a live worker are not.
func TestStore_ReapOrphans(t *testing.T) {
	t.Parallel()
	b := setup(t)
	orphan := b.running(t, queue.SubmitParams{})
	other := b.registerWorker(t, "default")
	b.exec(t, `UPDATE jq.workers SET status = 'OFFLINE' WHERE worker_id = $1`, b.worker)
	alive := b.assignedTo(t, other, queue.SubmitParams{})
	pruned := b.registerWorker(t, "default")
	unregistered := b.assignedTo(t, pruned, queue.SubmitParams{})
	b.exec(t, `DELETE FROM jq.workers WHERE worker_id = $1`, pruned)
	nobody := b.assignedTo(t, other, queue.SubmitParams{})
	b.exec(t, `UPDATE jq.jobs SET worker_id = NULL WHERE job_id = $1`, nobody)

	n, err := b.store.ReapOrphans(b.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for _, id := range []uuid.UUID{orphan.ID, unregistered, nobody} {
		j := b.job(t, id)
		require.Equal(t, queue.StatusPending, j.Status, "job %s", id)
		require.Equal(t, 1, j.RetryCount, "job %s", id)
	}
	require.Equal(t, queue.StatusAssigned, b.job(t, alive).Status, "a live worker's job is left alone")
	n, err = b.store.ReapOrphans(b.ctx, 100)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestStore_PruneWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gone := b.registerWorker(t, "default")
	_, err := b.store.DeregisterWorker(b.ctx, gone, "")
	require.NoError(t, err)
	n, err := b.store.PruneWorkers(b.ctx, time.Hour, 100)
	require.NoError(t, err)
	require.Zero(t, n, "OFFLINE for less than the retention")
	_, err = b.pool.Exec(b.ctx, `UPDATE jq.workers SET updated_at = now() - interval '2 hours' WHERE worker_id = $1`, gone)
	require.NoError(t, err)
	n, err = b.store.PruneWorkers(b.ctx, time.Hour, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.store.GetWorker(b.ctx, gone)
	require.ErrorIs(t, err, queue.ErrNotFound)
	_, err = b.store.GetWorker(b.ctx, b.worker)
	require.NoError(t, err, "an ONLINE worker stays")
}

// TestStore_DeleteQueueKeepsUnrelayedEvents: while the Kafka relay has not published a queue's
// events, the queue cannot be deleted (its events are the outbox); once it has, it can.
func TestStore_DeleteQueueKeepsUnrelayedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: "relayed", MaxRetries: 3})
	require.NoError(t, err)
	res, err := b.store.Submit(b.ctx, queue.SubmitParams{Queue: "relayed", Payload: []byte(`{}`)})
	require.NoError(t, err)
	_, err = b.store.Cancel(b.ctx, res.ID, "test")
	require.NoError(t, err)
	// A relay whose cursor is before the queue's events.
	_, err = b.pool.Exec(b.ctx, `INSERT INTO jq.relay_cursors (name, xid, id) VALUES ('kafka', '1', 0)`)
	require.NoError(t, err)

	_, err = b.store.DeleteQueue(b.ctx, "relayed", "test")
	require.ErrorIs(t, err, queue.ErrWrongState)
	require.ErrorContains(t, err, "not published yet")
	var events int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jq.job_events WHERE queue_name = 'relayed'`).Scan(&events))
	require.Equal(t, 2, events, "no event was lost")

	// This transaction's id is past every committed event (the snapshot's xmin would not be:
	// it is held back by any transaction open in the cluster, other tests' included).
	_, err = b.pool.Exec(b.ctx, `UPDATE jq.relay_cursors SET xid = pg_current_xact_id()`)
	require.NoError(t, err)
	_, err = b.store.DeleteQueue(b.ctx, "relayed", "test")
	require.NoError(t, err, "once the relay has passed them")
}

// TestStore_ClaimAcrossQueuesBehindAnotherQueuesBacklog: a claim over several queues first
// reads the head of the whole table (jobs_pending_idx); when another queue's jobs fill that
// head, it must still find the claimed queues' jobs behind them (the merge of their heads), in
// order. Without that fallback this claim would return nothing.
func TestStore_ClaimAcrossQueuesBehindAnotherQueuesBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, name := range []string{"behind-other", "behind-a", "behind-b"} {
		_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: name, MaxRetries: 3})
		require.NoError(t, err)
	}
	// More than 4 × the claim's size ahead of everything, in a queue the worker does not take.
	for range 20 {
		b.submit(t, queue.SubmitParams{Queue: "behind-other", Priority: 9})
	}
	var want []uuid.UUID
	for i := range 6 {
		want = append(want, b.submit(t, queue.SubmitParams{Queue: []string{"behind-a", "behind-b"}[i%2], Priority: 8 - i%2*8}))
	}
	// Priority 8 first (behind-a's, oldest first), then priority 0 (behind-b's).
	want = []uuid.UUID{want[0], want[2], want[4], want[1], want[3], want[5]}
	worker := b.registerWorker(t, "behind-a", "behind-b")

	var got []uuid.UUID
	for range 3 {
		jobs, err := b.store.Claim(b.ctx, []string{"behind-a", "behind-b"}, 2, worker)
		require.NoError(t, err)
		require.Len(t, jobs, 2)
		for _, j := range jobs {
			got = append(got, j.ID)
		}
	}
	require.Equal(t, want, got)
	var left int
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT count(*) FROM jq.jobs WHERE queue_name = 'behind-other' AND status = 'PENDING'`).Scan(&left))
	require.Equal(t, 20, left, "the other queue's jobs are not touched")
}

// TestStore_ConcurrentClaimsOverSeveralQueuesTakeTheNextJobs: while one claim over several
// queues holds the first jobs (its transaction still open, as another server's would be), a
// second claim takes the next ones instead of coming back empty-handed.
func TestStore_ConcurrentClaimsOverSeveralQueuesTakeTheNextJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	queues := []string{"together-1", "together-2", "together-3"}
	for _, name := range queues {
		_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: name, MaxRetries: 3})
		require.NoError(t, err)
	}
	var ids []uuid.UUID
	for i := range 12 {
		ids = append(ids, b.submit(t, queue.SubmitParams{Queue: queues[i%3]}))
	}
	first, second := b.registerWorker(t, queues...), b.registerWorker(t, queues...)
	claim := func(q interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}, worker uuid.UUID) []uuid.UUID {
		rows, err := q.Query(b.ctx, `SELECT job_id FROM jq.claim($1, 4, $2)`, queues, worker)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		require.NoError(t, err)
		return got
	}

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	require.Equal(t, ids[:4], claim(tx, first))
	require.Equal(t, ids[4:8], claim(b.pool, second), "the next four, past the rows the open claim holds")
	require.NoError(t, tx.Commit(b.ctx))
	require.Equal(t, ids[8:], claim(b.pool, first))
}

// TestStore_ClaimAcrossManyQueuesKeepsTheGlobalOrder: a claim over many queues (the k-way merge
// of their heads) takes exactly the jobs one ordered list of them all would: highest priority
// first, oldest first within a priority, whatever queue they are in and however unevenly the
// queues are filled.
func TestStore_ClaimAcrossManyQueuesKeepsTheGlobalOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var names []string
	type pending struct {
		id       uuid.UUID
		priority int
		created  time.Time
	}
	var all []pending
	for q := range 40 {
		name := fmt.Sprintf("many-%02d", q)
		_, err := b.store.CreateQueue(b.ctx, queue.CreateQueueParams{Name: name, MaxRetries: 3})
		require.NoError(t, err)
		names = append(names, name)
		// Uneven: most queues a few jobs, some many, priorities skewed so that a few queues
		// hold most of the top.
		n := rng.IntN(8)
		if q%7 == 0 {
			n = 60 + rng.IntN(60)
		}
		for range n {
			prio := rng.IntN(3)
			if q%5 == 0 {
				prio += 5
			}
			b.submit(t, queue.SubmitParams{Queue: name, Priority: prio})
		}
	}
	rows, err := b.pool.Query(b.ctx, `SELECT job_id, priority, created_at FROM jq.jobs WHERE queue_name LIKE 'many-%'`)
	require.NoError(t, err)
	for rows.Next() {
		var p pending
		require.NoError(t, rows.Scan(&p.id, &p.priority, &p.created))
		all = append(all, p)
	}
	require.NoError(t, rows.Err())
	slices.SortFunc(all, func(a, b pending) int {
		return cmp.Or(cmp.Compare(b.priority, a.priority), a.created.Compare(b.created))
	})
	worker := b.registerWorker(t, names...)
	_, err = b.pool.Exec(b.ctx, `UPDATE jq.workers SET concurrency = 4096 WHERE worker_id = $1`, worker)
	require.NoError(t, err)

	for taken := 0; taken < len(all); {
		size := min(1+rng.IntN(50), len(all)-taken)
		jobs, err := b.store.Claim(b.ctx, names, size, worker)
		require.NoError(t, err)
		require.Len(t, jobs, size)
		want := make([]uuid.UUID, size)
		for i := range want {
			want[i] = all[taken+i].id
		}
		got := make([]uuid.UUID, size)
		for i, j := range jobs {
			got[i] = j.ID
		}
		require.Equal(t, want, got, "claim of %d after %d taken", size, taken)
		taken += size
	}
	jobs, err := b.store.Claim(b.ctx, names, 10, worker)
	require.NoError(t, err)
	require.Empty(t, jobs)
}

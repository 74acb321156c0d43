package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/queue"
)

// listen opens a second connection that LISTENs on jq_job_ready.
func (b *testBundle) listen(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(b.ctx, b.pool.Config().ConnConfig.ConnString())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, "LISTEN jq_job_ready")
	require.NoError(t, err)
	return conn
}

func waitNotification(t *testing.T, conn *pgx.Conn, within time.Duration) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		return "", false
	}
	return n.Payload, true
}

func TestNotify(t *testing.T) {
	t.Parallel()

	t.Run("SubmitWakesListeners", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		conn := b.listen(t)
		b.submit(t, queue.SubmitParams{})
		payload, ok := waitNotification(t, conn, 5*time.Second)
		require.True(t, ok, "no notification after submit")
		require.Equal(t, "default", payload)
	})

	t.Run("DelayedSubmitDoesNot", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		conn := b.listen(t)
		b.submit(t, queue.SubmitParams{NotBefore: time.Now().Add(time.Hour)})
		_, ok := waitNotification(t, conn, 300*time.Millisecond)
		require.False(t, ok, "a job that is not runnable yet should not wake the scheduler")
	})

	t.Run("SubmitManySendsOne", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		conn := b.listen(t)
		_, err := b.store.SubmitMany(b.ctx, "default", []json.RawMessage{[]byte(`{}`), []byte(`{}`), []byte(`{}`)}, 0)
		require.NoError(t, err)
		_, ok := waitNotification(t, conn, 5*time.Second)
		require.True(t, ok)
		_, ok = waitNotification(t, conn, 200*time.Millisecond)
		require.False(t, ok, "one NOTIFY per submit_many")
	})

	t.Run("NotDeliveredBeforeCommit", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		conn := b.listen(t)
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer tx.Rollback(b.ctx)
		_, err = tx.Exec(b.ctx, `SELECT jq.submit(queue => 'default', payload => '{}')`)
		require.NoError(t, err)
		_, ok := waitNotification(t, conn, 200*time.Millisecond)
		require.False(t, ok, "the job is not visible before its transaction commits")
		require.NoError(t, tx.Commit(b.ctx))
		_, ok = waitNotification(t, conn, 5*time.Second)
		require.True(t, ok)
	})

	t.Run("LostWorkerJobsAreRunnableAtOnceAndWake", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		running := b.running(t, queue.SubmitParams{})
		conn := b.listen(t)
		require.Equal(t, 1, b.releaseWorker(t, b.worker, queue.ReasonWorkerLost, queue.LostWorkerRetry))
		payload, ok := waitNotification(t, conn, 5*time.Second)
		require.True(t, ok, "the retried job is runnable now: the schedulers must hear of it")
		require.Equal(t, "default", payload)
		j := b.job(t, running.ID)
		require.Equal(t, queue.StatusPending, j.Status)
		require.Equal(t, 1, j.RetryCount)
		other := b.registerWorker(t, "default")
		claimed, err := b.store.Claim(b.ctx, []string{"default"}, 1, other)
		require.NoError(t, err)
		require.Len(t, claimed, 1, "claimable at once, no backoff")
	})

	t.Run("RetryWithBackoffDoesNot", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.running(t, queue.SubmitParams{})
		conn := b.listen(t)
		b.releaseWorker(t, b.worker, queue.ReasonWorkerLost, queue.DefaultRetryPolicy)
		_, ok := waitNotification(t, conn, 300*time.Millisecond)
		require.False(t, ok, "not runnable before its backoff ends; the poll finds it")
	})

	t.Run("SkipNotifyDoesNot", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		conn := b.listen(t)
		b.submit(t, queue.SubmitParams{SkipNotify: true})
		_, ok := waitNotification(t, conn, 300*time.Millisecond)
		require.False(t, ok, "the caller announces the job itself")
	})

	t.Run("ManualRetryAndReleaseWake", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id := b.submit(t, queue.SubmitParams{})
		_, err := b.store.Cancel(b.ctx, id, "test")
		require.NoError(t, err)
		conn := b.listen(t)
		_, err = b.store.Retry(b.ctx, id, "test")
		require.NoError(t, err)
		_, ok := waitNotification(t, conn, 5*time.Second)
		require.True(t, ok, "manual retry")

		_, err = b.store.Claim(b.ctx, []string{"default"}, 1, b.worker)
		require.NoError(t, err)
		_, err = b.store.Release(b.ctx, []uuid.UUID{id}, b.worker, queue.ReasonDeliveryFailed)
		require.NoError(t, err)
		_, ok = waitNotification(t, conn, 5*time.Second)
		require.True(t, ok, "release")
	})
}

package queue_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestClaim_ConcurrentClaimersTakeEachJobOnce has 8 connections claim 10,000 jobs in batches
// at once: every job must be claimed exactly once, none left behind, and the event log must
// hold exactly one PENDING->ASSIGNED per job.
func TestClaim_ConcurrentClaimersTakeEachJobOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	const jobs, claimers, batch = 10_000, 8, 50
	ctx := context.Background()
	b := setup(t)

	payloads := make([]json.RawMessage, 1000)
	for i := range payloads {
		payloads[i] = json.RawMessage(`{}`)
	}
	for range jobs / len(payloads) {
		_, err := b.store.SubmitMany(ctx, "default", payloads, 0)
		require.NoError(t, err)
	}

	// One connection per claimer, so the claims really run in parallel sessions.
	var (
		mu      sync.Mutex
		claimed = map[uuid.UUID]uuid.UUID{} // job -> worker
		dupes   []uuid.UUID
		wg      sync.WaitGroup
		errs    = make(chan error, claimers)
	)
	start := make(chan struct{})
	for range claimers {
		worker := b.registerWorker(t, "default")
		conn, err := pgx.Connect(ctx, b.pool.Config().ConnConfig.ConnString())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(ctx) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				rows, err := conn.Query(ctx, `SELECT job_id FROM jq.claim('{default}', $1, $2)`, batch, worker)
				if err != nil {
					errs <- err
					return
				}
				ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
				if err != nil {
					errs <- err
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					if _, ok := claimed[id]; ok {
						dupes = append(dupes, id)
					}
					claimed[id] = worker
				}
				mu.Unlock()
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d claimers took %d jobs in %v", claimers, len(claimed), time.Since(began))

	require.Empty(t, dupes, "jobs claimed twice")
	require.Len(t, claimed, jobs)

	var pending, assigned, events, perJobMax int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status = 'PENDING'),
			count(*) FILTER (WHERE status = 'ASSIGNED' AND attempt = 1)
		FROM jq.jobs`).Scan(&pending, &assigned))
	require.Zero(t, pending)
	require.Equal(t, jobs, assigned)
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(n), 0) FROM (
			SELECT job_id, count(*) AS n FROM jq.job_events
			WHERE from_status = 'PENDING' AND to_status = 'ASSIGNED' GROUP BY job_id) s`).Scan(&events, &perJobMax))
	require.Equal(t, jobs, events, "one claim event per job")
	require.Equal(t, 1, perJobMax)

	// The event names the worker that holds the job.
	var mismatched int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM jq.jobs j JOIN jq.job_events e
		ON e.job_id = j.job_id AND e.reason = 'CLAIMED' WHERE e.worker_id <> j.worker_id OR e.attempt <> j.attempt`).Scan(&mismatched))
	require.Zero(t, mismatched)
	var wrongHolder int
	for id, worker := range claimed {
		var holder uuid.UUID
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT worker_id FROM jq.jobs WHERE job_id = $1`, id).Scan(&holder))
		if holder != worker {
			wrongHolder++
		}
	}
	require.Zero(t, wrongHolder, "a job is held by another worker than the one that claimed it")
}

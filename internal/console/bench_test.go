package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	jqgrpc "github.com/jqhq/jq/grpc"
	"github.com/jqhq/jq/internal/apikey"
	"github.com/jqhq/jq/internal/pgxuuid"
	"github.com/jqhq/jq/internal/testdb"
	"github.com/jqhq/jq/queue"
)

// benchJobs is how many jobs the benchmark's table holds.
const benchJobs = 1_000_000

// seedSQL fills jq.jobs and jq.job_events directly (the SQL functions would take an hour for a
// million jobs): ten queues, one job every 0.5 s over the last ~5.8 days, with ids made as
// jq.uuid_v7 makes them from the submission time. Statuses: 90 % DONE, 5 % DEAD_LETTERED,
// 4 % PENDING, 1 % RUNNING; an event per transition a finished job went through.
const seedSQL = `
SELECT jq.create_queue('q' || i, 3, NULL, 'bench') FROM generate_series(1, 9) AS i;

INSERT INTO jq.workers (worker_id, hostname, status, concurrency, active_job_count, queues, incarnation, owner)
SELECT gen_random_uuid(), 'bench-' || i, 'ONLINE', 600, 500, ARRAY['default'], 'bench', 'bench' FROM generate_series(1, 20) AS i;

CREATE TEMP TABLE seed AS
SELECT i,
       now() - (%[1]d - i) * interval '500 milliseconds' AS created,
       CASE WHEN i %% 100 < 90 THEN 'DONE' WHEN i %% 100 < 95 THEN 'DEAD_LETTERED'
            WHEN i %% 100 < 99 THEN 'PENDING' ELSE 'RUNNING' END::jq.job_status AS status,
       CASE WHEN i %% 10 < 5 THEN 'default' ELSE 'q' || (i %% 10) END AS queue
FROM generate_series(1, %[1]d) AS i;

INSERT INTO jq.jobs (job_id, queue_name, payload, status, priority, max_retries, retry_count, attempt, worker_id,
                     result, error_message, created_at, assigned_at, started_at, completed_at, updated_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send((extract(epoch FROM s.created) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
       s.queue,
       jsonb_build_object('kind', 'report', 'n', s.i, 'customer', 'c' || (s.i %% 5000), 'command', jsonb_build_array('report', '--day', s.i %% 30)),
       s.status, (s.i %% 10)::smallint, 3, CASE WHEN s.status = 'DEAD_LETTERED' THEN 3 ELSE 0 END,
       CASE WHEN s.status = 'PENDING' THEN 0 ELSE 1 END,
       CASE WHEN s.status = 'PENDING' THEN NULL ELSE (SELECT worker_id FROM jq.workers ORDER BY worker_id LIMIT 1) END,
       CASE WHEN s.status = 'DONE' THEN convert_to('ok ' || s.i, 'UTF8') END,
       CASE WHEN s.status = 'DEAD_LETTERED' THEN 'exit status 1: report ' || s.i || ' failed' END,
       s.created,
       CASE WHEN s.status <> 'PENDING' THEN s.created + interval '20 milliseconds' END,
       CASE WHEN s.status <> 'PENDING' THEN s.created + interval '30 milliseconds' END,
       CASE WHEN s.status IN ('DONE', 'DEAD_LETTERED') THEN s.created + (100 + s.i %% 900) * interval '1 millisecond' END,
       s.created
FROM seed s;

-- A stuck queue: 20,000 PENDING jobs submitted 4 to 5 days ago, nothing since. Its jobs are
-- far from the newest end of the primary key, where the list starts.
SELECT jq.create_queue('stuck', 3, NULL, 'bench');
INSERT INTO jq.jobs (job_id, queue_name, payload, status, priority, max_retries, created_at, updated_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send((extract(epoch FROM t) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
       'stuck', jsonb_build_object('kind', 'export', 'n', i), 'PENDING', 0, 3, t, t
FROM generate_series(1, 20000) AS i, LATERAL (SELECT now() - interval '5 days' + i * interval '4 seconds' AS t) AS x;

INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason, error_message, occurred_at)
SELECT job_id, queue_name, NULL::jq.job_status, 'PENDING'::jq.job_status, NULL::uuid, 0, 'SUBMITTED', NULL, created_at FROM jq.jobs
UNION ALL
SELECT job_id, queue_name, 'RUNNING', 'DONE', worker_id, 1, 'COMPLETED', NULL, completed_at FROM jq.jobs WHERE status = 'DONE'
UNION ALL
SELECT job_id, queue_name, 'RUNNING', 'FAILED', worker_id, 1, 'FAILED', error_message, completed_at FROM jq.jobs WHERE status = 'DEAD_LETTERED'
UNION ALL
SELECT job_id, queue_name, 'FAILED', 'DEAD_LETTERED', worker_id, 1, 'RETRIES_EXHAUSTED', NULL, completed_at FROM jq.jobs WHERE status = 'DEAD_LETTERED';
`

// BenchmarkConsole measures the server time of the console's pages on a table of a million
// jobs (and 2.1 million events). The seeding takes a minute or two; it runs only here, never
// in go test's default run.
//
//	go test ./internal/console -run '^$' -bench Console -benchtime 20x
//
// "Cold" runs recompute the counts and charts at every request (the first view after the 5 s
// cache expired); "Warm" ones find them cached.
func BenchmarkConsole(b *testing.B) {
	ctx := context.Background()
	pool := benchPool(b)
	start := time.Now()
	for stmt := range strings.SplitSeq(fmt.Sprintf(seedSQL, benchJobs), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		_, err := pool.Exec(ctx, stmt)
		require.NoError(b, err, "seed: %s", stmt)
	}
	_, err := pool.Exec(ctx, "VACUUM ANALYZE jq.jobs, jq.job_events")
	require.NoError(b, err)
	b.Logf("seeded %d jobs in %s", benchJobs, time.Since(start).Round(time.Second))

	store := queue.NewStore(pool)
	key := apikey.Generate()
	_, err = store.CreateAPIKey(ctx, queue.CreateAPIKeyParams{Name: "bench", Role: apikey.RoleAdmin, Hash: apikey.Hash(key), Prefix: apikey.Display(key), Actor: "bench"})
	require.NoError(b, err)
	logger := slog.New(slog.DiscardHandler)
	auth, err := jqgrpc.NewAuthenticator(jqgrpc.AuthConfig{Mode: jqgrpc.AuthToken}, store, logger)
	require.NoError(b, err)
	c, err := New(Config{}, Deps{
		DB: pool, Auth: auth, Logger: logger,
		Jobs:  jqgrpc.NewJobService(store, logger, jqgrpc.JobServiceConfig{}),
		Admin: jqgrpc.NewAdminService(store, queue.NewRegistry(nil, nil), logger, jqgrpc.AdminServiceConfig{}),
	})
	require.NoError(b, err)

	var someJob, deadJob uuid.UUID
	require.NoError(b, pool.QueryRow(ctx, `SELECT job_id FROM jq.jobs ORDER BY job_id DESC OFFSET 5000 LIMIT 1`).Scan(&someJob))
	require.NoError(b, pool.QueryRow(ctx, `SELECT job_id FROM jq.jobs WHERE status = 'DEAD_LETTERED' ORDER BY job_id DESC LIMIT 1`).Scan(&deadJob))
	threeDaysAgo := time.Now().UTC().Add(-72 * time.Hour)
	created := fmt.Sprintf("from=%s&to=%s", threeDaysAgo.Format("2006-01-02T15:04"), threeDaysAgo.Add(time.Hour).Format("2006-01-02T15:04"))

	get := func(b *testing.B, path string) {
		b.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	cold := func() {
		c.counts.cache = newCache[*counts](cacheTTL, c.cfg.Now)
		c.charts = newCache[*chartData](cacheTTL, c.cfg.Now)
		c.activity = newCache[map[string]*queueActivity](cacheTTL, c.cfg.Now)
	}
	for _, bc := range []struct {
		name, path string
		cold       bool
	}{
		{"Overview/Cold", "/", true},
		{"Overview/Warm", "/", false},
		{"Jobs/Newest", "/jobs", false},
		{"Jobs/Oldest", "/jobs?sort=old", false},
		{"Jobs/Page", "/jobs?after=" + someJob.String(), false},
		{"Jobs/DeadLettered", "/jobs?status=DEAD_LETTERED", false},
		{"Jobs/QueuePending", "/jobs?queue=q7&status=PENDING", false},
		{"Jobs/Priority", "/jobs?priority=9", false},
		{"Jobs/CreatedHour", "/jobs?" + created, false},
		{"Jobs/StuckQueue", "/jobs?queue=stuck", false},
		{"Jobs/StuckPending", "/jobs?queue=stuck&status=PENDING", false},
		{"Jobs/NoneFailed", "/jobs?status=FAILED", false},
		{"Jobs/SearchJSON", "/jobs?q=" + `%7B%22customer%22%3A%22c42%22%7D`, false},
		{"Jobs/SearchText", "/jobs?q=c4242", false},
		{"Jobs/SortPriority", "/jobs?sort=priority", false},
		{"Jobs/SortStatus", "/jobs?sort=status", false},
		{"Jobs/QueueSortStatus", "/jobs?queue=q7&sort=status-desc", false},
		{"Jobs/QueueSortPriority", "/jobs?queue=q7&sort=priority", false},
		{"Job", "/jobs/" + deadJob.String(), false},
		{"Schedules", "/schedules", false},
		{"Workflows", "/workflows", false},
		{"Queues/Cold", "/queues", true},
		{"Workers", "/workers", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			get(b, bc.path) // the key's lookup, the statement cache
			for b.Loop() {
				if bc.cold {
					b.StopTimer()
					cold()
					b.StartTimer()
				}
				get(b, bc.path)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
		})
	}

	// What the planner does at this size, for docs/console.md and the lead.
	since := time.Now().Add(-time.Hour)
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"capped counts":        {cappedCountsSQL, []any{countCap}},
		"sampled counts (3%)":  {sampledCountsSQL, []any{3.0}},
		"finished by minute":   {finishedByMinuteSQL + " GROUP BY 1", []any{since}},
		"failed by minute":     {failedByMinuteSQL + " GROUP BY 1", []any{since}},
		"throughput per queue": {throughputSQL, nil},
		"oldest runnable":      {oldestRunnableSQL, nil},
	} {
		b.Logf("%s\n%s", name, explainAnalyze(b, c.db, q.sql, q.args))
	}
	known, err := c.db.statuses(ctx)
	require.NoError(b, err)
	for _, q := range []string{"", "sort=old", "status=DEAD_LETTERED", "queue=q7&status=PENDING", "priority=9", created, "q=c4242",
		"queue=stuck", "queue=stuck&status=PENDING", "status=FAILED"} {
		f, err := parseJobFilter(mustQuery(q), known)
		require.NoError(b, err)
		sql, args := listQuery(f, nil, 51)
		b.Logf("jobs?%s\n%s", q, explainAnalyze(b, c.db, sql, args))
	}
}

// explainAnalyze runs sql under EXPLAIN ANALYZE as the console runs it (read, without JIT).
func explainAnalyze(b *testing.B, r *reader, sql string, args []any) string {
	b.Helper()
	var plan []string
	err := r.read(context.Background(), func(q querier) error {
		rows, err := q.Query(context.Background(), "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) "+sql, args...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	require.NoError(b, err)
	return strings.Join(plan, "\n")
}

func mustQuery(q string) map[string][]string {
	v := map[string][]string{}
	for kv := range strings.SplitSeq(q, "&") {
		if k, val, ok := strings.Cut(kv, "="); ok {
			v[k] = append(v[k], val)
		}
	}
	return v
}

func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(testdb.New(b))
	require.NoError(b, err)
	cfg.AfterConnect = pgxuuid.Register
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	return pool
}

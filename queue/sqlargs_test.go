package queue_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/jqhq/jq/sqlfuncs"
)

// badCalls are calls of the SQL API with bad arguments, each refused with a JQ SQLSTATE and a
// message naming the argument. Every public function of sqlfuncs/ has at least one: a new
// function without one fails TestSQL_BadArgumentsNameTheArgument.
var badCalls = []struct {
	fn, sql, code, names string
}{
	{"jq.backoff", `SELECT jq.backoff(NULL)`, "JQ005", "retry_count"},
	{"jq.backoff", `SELECT jq.backoff(-1)`, "JQ005", "retry_count"},
	{"jq.backoff", `SELECT jq.backoff(1, '-1s')`, "JQ005", "base_delay"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', 10)`, "JQ005", "priority"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', NULL)`, "JQ005", "payload"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', 0, 1001)`, "JQ005", "max_retries"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', 0, NULL, NULL, repeat('k', 256))`, "JQ005", "idempotency_key"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('nope', '{}')`, "JQ001", "queue"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', concurrency_key => repeat('k', 256))`, "JQ005", "concurrency_key"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', unique_key => repeat('u', 256))`, "JQ005", "unique_key"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', unique_window => '1h')`, "JQ005", "unique_key"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', unique_key => 'u', unique_window => '-1s')`, "JQ005", "unique_window"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', unique_key => 'u', unique_statuses => '{}')`, "JQ005", "unique_statuses"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', depends_on => ARRAY[NULL]::uuid[])`, "JQ005", "depends_on"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', depends_on => ARRAY[gen_random_uuid()])`, "JQ002", "depends_on"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', on_dependency_failure => 'ignore')`, "JQ005", "on_dependency_failure"},
	{"jq.enqueue", `SELECT * FROM jq.enqueue('default', '{}', new_job_id => '0191e3a0-0000-7000-8000-000000000009',
		depends_on => ARRAY['0191e3a0-0000-7000-8000-000000000009']::uuid[])`, "JQ005", "depends_on"},
	{"jq.submit", `SELECT jq.submit(NULL, '{}')`, "JQ005", "queue"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY[]::text[], ARRAY[]::jsonb[])`, "JQ005", "queues"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY['default'], ARRAY['{}', '{}']::jsonb[])`, "JQ005", "payloads"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY['default', 'default'], ARRAY['{}', NULL]::jsonb[])`, "JQ005", "job 2: payload"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY['default'], ARRAY['{}']::jsonb[], ARRAY[10])`, "JQ005", "priority"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY['default'], ARRAY['{}']::jsonb[], max_retries => ARRAY[-1])`, "JQ005", "max_retries"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY[''], ARRAY['{}']::jsonb[])`, "JQ005", "queue"},
	{"jq.enqueue_many", `SELECT * FROM jq.enqueue_many(ARRAY['nope'], ARRAY['{}']::jsonb[])`, "JQ001", "nope"},
	{"jq.submit", `SELECT jq.submit('default', '{}', unique_statuses => ARRAY['PENDING']::jq.job_status[])`, "JQ005", "unique_key"},
	{"jq.submit_workflow", `SELECT * FROM jq.submit_workflow(NULL, '[]')`, "JQ005", "name"},
	{"jq.submit_workflow", `SELECT * FROM jq.submit_workflow('w', '{}')`, "JQ005", "nodes"},
	{"jq.submit_workflow", `SELECT * FROM jq.submit_workflow('w', '[{"name": "a", "payload": {}, "depends_on": ["a"]}]')`, "JQ005", "nodes"},
	{"jq.submit_workflow", `SELECT * FROM jq.submit_workflow('w', '[{"name": "a b", "payload": {}}]')`, "JQ005", "nodes[0].name"},
	{"jq.submit_workflow", `SELECT * FROM jq.submit_workflow('w', '[{"name": "a", "payload": {}, "depends_on": ["b"]},
		{"name": "b", "payload": {}, "depends_on": ["a"]}]')`, "JQ005", "cycle: a → b → a"},
	{"jq.report_progress", `SELECT * FROM jq.report_progress(gen_random_uuid(), gen_random_uuid(), 1, 101)`, "JQ005", "progress"},
	{"jq.report_progress", `SELECT * FROM jq.report_progress(gen_random_uuid(), gen_random_uuid(), 1, 'NaN')`, "JQ005", "progress"},
	{"jq.report_progress", `SELECT * FROM jq.report_progress(gen_random_uuid(), gen_random_uuid(), 0, 5)`, "JQ005", "attempt"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '* * *', 'default', '{}')`, "JQ005", "cron"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('bad name', '@hourly', 'default', '{}')`, "JQ005", "name"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '@hourly', 'default', '{}', time_zone => 'Nowhere/Atlantis')`, "JQ005", "time_zone"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '@hourly', 'default', '{}', overlap => 'queue')`, "JQ005", "overlap"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '@hourly', 'default', '{}', catch_up => 'all')`, "JQ005", "catch_up"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '@hourly', 'default', '{}', priority => 10)`, "JQ005", "priority"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '@hourly', 'default', NULL)`, "JQ005", "payload"},
	{"jq.create_schedule", `SELECT * FROM jq.create_schedule('s', '@hourly', 'nope', '{}')`, "JQ001", "nope"},
	{"jq.delete_schedule", `SELECT * FROM jq.delete_schedule(NULL)`, "JQ005", "name"},
	{"jq.delete_schedule", `SELECT * FROM jq.delete_schedule('nope')`, "JQ012", "nope"},
	{"jq.pause_schedule", `SELECT * FROM jq.pause_schedule('nope')`, "JQ012", "nope"},
	{"jq.resume_schedule", `SELECT * FROM jq.resume_schedule(NULL)`, "JQ005", "name"},
	{"jq.trigger_schedule", `SELECT jq.trigger_schedule('nope')`, "JQ012", "nope"},
	{"jq.fire_schedule", `SELECT * FROM jq.fire_schedule('s', NULL, now(), now() + interval '1s')`, "JQ005", "version"},
	{"jq.fire_schedule", `SELECT * FROM jq.fire_schedule('s', now(), now(), now())`, "JQ005", "next_fire_at"},
	{"jq.fire_schedule", `SELECT * FROM jq.fire_schedule('nope', now(), now(), now() + interval '1s')`, "JQ012", "nope"},
	{"jq.advance_schedule", `SELECT jq.advance_schedule('s', now(), NULL)`, "JQ005", "next_fire_at"},
	{"jq.advance_schedule", `SELECT jq.advance_schedule('s', now(), now(), -1)`, "JQ005", "missed"},
	{"jq.schedule_failed", `SELECT jq.schedule_failed('s', now(), NULL)`, "JQ005", "error"},
	{"jq.prune_schedule_fires", `SELECT jq.prune_schedule_fires(NULL)`, "JQ005", "older_than"},
	{"jq.prune_schedule_fires", `SELECT jq.prune_schedule_fires('1h', 0)`, "JQ005", "max_rows"},
	{"jq.submit_many", `SELECT jq.submit_many('default', ARRAY['{}'::jsonb, NULL])`, "JQ005", "payload"},
	{"jq.submit_many", `SELECT jq.submit_many('default', ARRAY['{}'::jsonb], 11)`, "JQ005", "priority"},
	{"jq.claim_for", `SELECT * FROM jq.claim_for(ARRAY['default'], ARRAY[gen_random_uuid()], ARRAY[1, 2])`, "JQ005", "max_jobs"},
	{"jq.claim_for", `SELECT * FROM jq.claim_for(ARRAY['default'], ARRAY[gen_random_uuid()], ARRAY[-1])`, "JQ005", "max_jobs"},
	{"jq.claim_for", `SELECT * FROM jq.claim_for(NULL, ARRAY[gen_random_uuid()], ARRAY[1])`, "JQ005", "queues"},
	{"jq.claim_for", `SELECT * FROM jq.claim_for(ARRAY['default'], ARRAY[gen_random_uuid()], ARRAY[1], ARRAY[now()])`, "JQ005", "floors"},
	{"jq.claim_floor_check", `SELECT jq.claim_floor_check('default', ARRAY[now()])`, "JQ005", "floors"},
	{"jq.claim_floor_check", `SELECT jq.claim_floor_check(NULL, array_fill(now(), ARRAY[10]))`, "JQ005", "queue"},
	{"jq.claim", `SELECT * FROM jq.claim(ARRAY['default'], 1, NULL)`, "JQ005", "worker"},
	{"jq.start_for", `SELECT * FROM jq.start_for(ARRAY[gen_random_uuid()], ARRAY[]::uuid[])`, "JQ005", "worker_ids"},
	{"jq.start", `SELECT * FROM jq.start(ARRAY[NULL]::uuid[], gen_random_uuid())`, "JQ005", "job_ids"},
	{"jq.release", `SELECT jq.release(ARRAY[gen_random_uuid()], NULL)`, "JQ005", "worker_id"},
	{"jq.complete", `SELECT * FROM jq.complete(gen_random_uuid(), gen_random_uuid(), 0, NULL)`, "JQ005", "attempt"},
	{"jq.fail", `SELECT * FROM jq.fail(gen_random_uuid(), gen_random_uuid(), 1, 'x', '-1s')`, "JQ005", "base_delay"},
	{"jq.fail", `SELECT * FROM jq.fail(gen_random_uuid(), gen_random_uuid(), NULL, 'x')`, "JQ005", "attempt"},
	{"jq.complete_many", `SELECT * FROM jq.complete_many(ARRAY[gen_random_uuid()], ARRAY[]::uuid[], ARRAY[1], ARRAY[NULL]::bytea[])`, "JQ005", "worker_ids"},
	{"jq.complete_many", `SELECT * FROM jq.complete_many(ARRAY['0191e3a0-0000-7000-8000-000000000001', '0191e3a0-0000-7000-8000-000000000001']::uuid[],
		ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY[1, 1], ARRAY[NULL, NULL]::bytea[])`, "JQ005", "job_ids"},
	{"jq.complete_many", `SELECT * FROM jq.complete_many(ARRAY[NULL]::uuid[], ARRAY[gen_random_uuid()], ARRAY[1], ARRAY[NULL]::bytea[])`, "JQ005", "job_ids"},
	{"jq.cancel", `SELECT * FROM jq.cancel(NULL)`, "JQ005", "job_id"},
	{"jq.cancel_many", `SELECT * FROM jq.cancel_many('default', 'DONE')`, "JQ005", "status"},
	{"jq.cancel_many", `SELECT * FROM jq.cancel_many('default', NULL, NULL, 0)`, "JQ005", "max_rows"},
	{"jq.cancel_many", `SELECT * FROM jq.cancel_many('nope')`, "JQ001", "queue"},
	{"jq.snooze", `SELECT * FROM jq.snooze(gen_random_uuid(), gen_random_uuid(), 1, '-1s')`, "JQ005", "delay"},
	{"jq.snooze", `SELECT * FROM jq.snooze(gen_random_uuid(), gen_random_uuid(), 1, '31 days')`, "JQ005", "delay"},
	{"jq.snooze", `SELECT * FROM jq.snooze(gen_random_uuid(), gen_random_uuid(), NULL, '1s')`, "JQ005", "attempt"},
	{"jq.pause_queues", `SELECT * FROM jq.pause_queues(ARRAY['default', NULL])`, "JQ005", "names"},
	{"jq.pause_queues", `SELECT * FROM jq.pause_queues(ARRAY['nope'])`, "JQ001", "nope"},
	{"jq.resume_queues", `SELECT * FROM jq.resume_queues(ARRAY[NULL]::text[])`, "JQ005", "names"},
	{"jq.pause_queue", `SELECT jq.pause_queue(NULL)`, "JQ005", "name"},
	{"jq.resume_queue", `SELECT jq.resume_queue('nope')`, "JQ001", "nope"},
	{"jq.set_queue_limits", `SELECT * FROM jq.set_queue_limits(NULL)`, "JQ005", "name"},
	{"jq.set_queue_limits", `SELECT * FROM jq.set_queue_limits('default', -1)`, "JQ005", "max_running"},
	{"jq.set_queue_limits", `SELECT * FROM jq.set_queue_limits('default', NULL, 10)`, "JQ005", "rate_period"},
	{"jq.set_queue_limits", `SELECT * FROM jq.set_queue_limits('default', NULL, 10001, '1s')`, "JQ005", "rate_limit"},
	{"jq.set_queue_limits", `SELECT * FROM jq.set_queue_limits('default', NULL, NULL, NULL, -2)`, "JQ005", "max_running_per_key"},
	{"jq.set_queue_limits", `SELECT * FROM jq.set_queue_limits('nope', 1)`, "JQ001", "nope"},
	{"jq.retry", `SELECT * FROM jq.retry(NULL)`, "JQ005", "job_id"},
	{"jq.register_worker", `SELECT * FROM jq.register_worker(gen_random_uuid(), 'h', 1, ARRAY['default', NULL])`, "JQ005", "queues"},
	{"jq.register_worker", `SELECT * FROM jq.register_worker(gen_random_uuid(), repeat('h', 256), 1, ARRAY['default'])`, "JQ005", "hostname"},
	{"jq.register_worker", `SELECT * FROM jq.register_worker(gen_random_uuid(), 'h', 0, ARRAY['default'])`, "JQ005", "concurrency"},
	{"jq.register_worker", `SELECT * FROM jq.register_worker(gen_random_uuid(), 'h', 1, ARRAY['no such queue!'])`, "JQ005", "queues"},
	{"jq.heartbeat", `SELECT * FROM jq.heartbeat(gen_random_uuid(), -1)`, "JQ005", "active_job_count"},
	{"jq.heartbeat", `SELECT * FROM jq.heartbeat(NULL)`, "JQ005", "worker_id"},
	{"jq.drain_worker", `SELECT * FROM jq.drain_worker(NULL)`, "JQ005", "worker_id"},
	{"jq.shutdown_worker", `SELECT * FROM jq.shutdown_worker(NULL)`, "JQ005", "worker_id"},
	{"jq.release_worker", `SELECT jq.release_worker(NULL)`, "JQ005", "worker_id"},
	{"jq.release_worker", `SELECT jq.release_worker(gen_random_uuid(), NULL)`, "JQ005", "reason"},
	{"jq.deregister_worker", `SELECT jq.deregister_worker(NULL)`, "JQ005", "worker_id"},
	{"jq.reconcile_worker", `SELECT * FROM jq.reconcile_worker(gen_random_uuid(), NULL)`, "JQ005", "held"},
	{"jq.reconcile_worker", `SELECT * FROM jq.reconcile_worker(gen_random_uuid(), ARRAY[]::uuid[], '-1s')`, "JQ005", "grace"},
	{"jq.expire_ttl", `SELECT jq.expire_ttl(NULL)`, "JQ005", "max_rows"},
	{"jq.expire_ttl", `SELECT jq.expire_ttl(0)`, "JQ005", "max_rows"},
	{"jq.reap_workers", `SELECT jq.reap_workers(NULL)`, "JQ005", "heartbeat_timeout"},
	{"jq.reap_workers", `SELECT jq.reap_workers('1s', '-1s')`, "JQ005", "base_delay"},
	{"jq.requeue_unstarted", `SELECT jq.requeue_unstarted('1s', NULL)`, "JQ005", "max_rows"},
	{"jq.requeue_unstarted", `SELECT jq.requeue_unstarted(NULL)`, "JQ005", "assignment_timeout"},
	{"jq.prune", `SELECT jq.prune('1h', NULL)`, "JQ005", "max_rows"},
	{"jq.prune", `SELECT jq.prune(NULL)`, "JQ005", "older_than"},
	{"jq.reap_orphans", `SELECT jq.reap_orphans(NULL)`, "JQ005", "max_rows"},
	{"jq.prune_workers", `SELECT jq.prune_workers('1h', -5)`, "JQ005", "max_rows"},
	{"jq.prune_workers", `SELECT jq.prune_workers(NULL)`, "JQ005", "older_than"},
	{"jq.create_queue", `SELECT * FROM jq.create_queue('bad name')`, "JQ005", "name"},
	{"jq.create_queue", `SELECT * FROM jq.create_queue('q', -1)`, "JQ005", "max_retries"},
	{"jq.create_queue", `SELECT * FROM jq.create_queue('q', 3, 0)`, "JQ005", "ttl_seconds"},
	{"jq.delete_queue", `SELECT jq.delete_queue(NULL)`, "JQ005", "name"},
	{"jq.queue_stats", `SELECT * FROM jq.queue_stats('bad name!')`, "JQ001", "bad name!"},
	{"jq.create_api_key", `SELECT * FROM jq.create_api_key('ok', 'reader', '\x00'::bytea, 'jqk_')`, "JQ005", "key_hash"},
	{"jq.create_api_key", `SELECT * FROM jq.create_api_key('bad name', 'reader', decode(repeat('ab', 32), 'hex'), 'jqk_')`, "JQ005", "name"},
	{"jq.create_api_key", `SELECT * FROM jq.create_api_key('ok', NULL, decode(repeat('ab', 32), 'hex'), 'jqk_')`, "JQ005", "role"},
	{"jq.create_api_key", `SELECT * FROM jq.create_api_key('ok', 'reader', decode(repeat('ab', 32), 'hex'), 'jqk_', ARRAY['bad queue!'])`, "JQ005", "queues"},
	{"jq.create_api_key", `SELECT * FROM jq.create_api_key('ok', 'reader', decode(repeat('ab', 32), 'hex'), 'jqk_', '{}', now() - interval '1s')`, "JQ005", "expires_at"},
	{"jq.revoke_api_key", `SELECT * FROM jq.revoke_api_key('nobody')`, "JQ011", "nobody"},
	{"jq.authenticate", `SELECT * FROM jq.authenticate('\x00'::bytea)`, "JQ005", "key_hash"},
}

// TestSQL_BadArgumentsNameTheArgument calls every public function of the SQL API with bad
// arguments: each is refused with a SQLSTATE of class JQ, naming the argument at fault.
func TestSQL_BadArgumentsNameTheArgument(t *testing.T) {
	t.Parallel()
	b := setup(t)
	covered := map[string]bool{}
	for _, c := range badCalls {
		covered[c.fn] = true
		_, err := b.pool.Exec(b.ctx, c.sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Errorf("%s: want a PostgreSQL error, got %v", c.sql, err)
			continue
		}
		if pgErr.Code != c.code || !strings.Contains(pgErr.Message, c.names) {
			t.Errorf("%s: want %s naming %q, got %s: %s", c.sql, c.code, c.names, pgErr.Code, pgErr.Message)
		}
	}
	for _, fn := range sqlfuncs.Functions() {
		if !strings.HasPrefix(fn, "jq._") && fn != "jq.uuid_v7" {
			require.True(t, covered[fn], "%s has no bad-argument case in badCalls", fn)
		}
	}
}

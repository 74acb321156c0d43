-- Maintenance, run periodically by the leader jq-server (or by hand). Each is safe to run
-- concurrently with claims and with itself: rows are taken with SKIP LOCKED.

-- _check_max_rows refuses a batch size that is not a positive number: NULL would mean no
-- limit, and one call could then lock and rewrite the whole table.
CREATE OR REPLACE FUNCTION jq._check_max_rows(max_rows integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be a positive number, got %', coalesce(max_rows::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
END
$$;

-- expire_ttl dead-letters PENDING jobs older than their queue's ttl_seconds (reason
-- TTL_EXPIRED), at most max_rows per call, and cancels the jobs waiting for them
-- (jq._parents_finished). Returns how many it dead-lettered. (WAITING jobs do not expire: their
-- wait is their dependencies'.)
CREATE OR REPLACE FUNCTION jq.expire_ttl(max_rows integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
    parents uuid[];
BEGIN
    PERFORM jq._check_max_rows(expire_ttl.max_rows);
    WITH expired AS (
        SELECT j.job_id, j.xmin
        FROM jq.queues q
        JOIN jq.jobs j ON j.queue_name = q.name
        WHERE q.ttl_seconds IS NOT NULL
          AND j.status = 'PENDING'
          AND j.created_at < now() - make_interval(secs => q.ttl_seconds)
        LIMIT expire_ttl.max_rows
        FOR UPDATE OF j SKIP LOCKED
    ), updated AS (
        UPDATE jq.jobs j
        SET status = 'DEAD_LETTERED', error_message = 'TTL expired before the job started',
            completed_at = now(), updated_at = now()
        FROM expired e
        WHERE j.job_id = e.job_id AND (age(e.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
        RETURNING j.*
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT u.job_id, u.queue_name, 'PENDING', 'DEAD_LETTERED', u.worker_id, u.attempt, 'TTL_EXPIRED' FROM updated u
    )
    SELECT count(*), array_agg(u.job_id ORDER BY u.job_id) FILTER (WHERE u.has_dependents) INTO n, parents FROM updated u;
    IF parents IS NOT NULL THEN
        PERFORM jq._parents_finished(parents);
    END IF;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.expire_ttl(integer) IS 'Dead-letter PENDING jobs past their queue''s TTL (TTL_EXPIRED); returns how many.';

-- reap_workers declares lost the ONLINE or DRAINING workers whose last heartbeat is older than
-- heartbeat_timeout: each goes OFFLINE and its jobs are failed through the retry rule (reason
-- WORKER_LOST), by default runnable again at once. Returns the number of workers reaped.
CREATE OR REPLACE FUNCTION jq.reap_workers(
    heartbeat_timeout interval,
    base_delay interval DEFAULT '0',
    max_delay interval DEFAULT '0'
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w uuid;
    n integer := 0;
BEGIN
    IF reap_workers.heartbeat_timeout IS NULL OR reap_workers.heartbeat_timeout <= '0' THEN
        RAISE EXCEPTION 'heartbeat_timeout must be positive' USING ERRCODE = 'JQ005';
    END IF;
    IF reap_workers.base_delay IS NULL OR reap_workers.base_delay < '0' OR reap_workers.max_delay IS NULL OR reap_workers.max_delay < '0' THEN
        RAISE EXCEPTION 'base_delay and max_delay must not be negative or NULL' USING ERRCODE = 'JQ005';
    END IF;
    FOR w IN
        SELECT worker_id FROM jq.workers
        WHERE status IN ('ONLINE', 'DRAINING') AND last_heartbeat < now() - reap_workers.heartbeat_timeout
        ORDER BY worker_id
        FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM jq.release_worker(w, 'WORKER_LOST', reap_workers.base_delay, reap_workers.max_delay);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.reap_workers(interval, interval, interval) IS
    'Mark workers silent for heartbeat_timeout OFFLINE and retry their jobs (WORKER_LOST); returns the number of workers.';

-- requeue_unstarted puts jobs ASSIGNED longer than assignment_timeout without starting back
-- to PENDING (reason ASSIGNMENT_TIMEOUT), retry count unchanged: they never ran. Returns how many.
CREATE OR REPLACE FUNCTION jq.requeue_unstarted(
    assignment_timeout interval,
    max_rows integer DEFAULT 10000
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer := 0;
    q text;
BEGIN
    IF requeue_unstarted.assignment_timeout IS NULL OR requeue_unstarted.assignment_timeout <= '0' THEN
        RAISE EXCEPTION 'assignment_timeout must be positive' USING ERRCODE = 'JQ005';
    END IF;
    PERFORM jq._check_max_rows(requeue_unstarted.max_rows);
    FOR q IN
        WITH stuck AS (
            SELECT job_id, xmin FROM jq.jobs
            WHERE status = 'ASSIGNED' AND assigned_at < now() - requeue_unstarted.assignment_timeout
            LIMIT requeue_unstarted.max_rows
            FOR UPDATE SKIP LOCKED
        ), requeued AS (
            UPDATE jq.jobs j
            SET status = 'PENDING', assigned_at = NULL, updated_at = now()
            FROM stuck s
            WHERE j.job_id = s.job_id AND (age(s.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
            RETURNING j.*
        ), events AS (
            INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
            SELECT r.job_id, r.queue_name, 'ASSIGNED', 'PENDING', r.worker_id, r.attempt, 'ASSIGNMENT_TIMEOUT' FROM requeued r
        )
        SELECT r.queue_name FROM requeued r
    LOOP
        n := n + 1;
        PERFORM pg_notify('jq_job_ready', q);
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.requeue_unstarted(interval, integer) IS
    'Put jobs ASSIGNED for longer than assignment_timeout back to PENDING (ASSIGNMENT_TIMEOUT); returns how many.';

-- prune deletes DONE, DEAD_LETTERED and CANCELLED jobs that finished before now() - older_than, with
-- their events, dependencies and places in workflows, at most max_rows per call (call it again
-- while it returns max_rows), and then the workflows left without jobs. While an event relay
-- runs (jq.relay_cursors has a row), jobs with events it has not published yet are kept.
CREATE OR REPLACE FUNCTION jq.prune(
    older_than interval,
    max_rows integer DEFAULT 10000
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
BEGIN
    IF prune.older_than IS NULL OR prune.older_than < '0' THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'JQ005';
    END IF;
    PERFORM jq._check_max_rows(prune.max_rows);
    WITH relayed AS (
        SELECT min(xid) AS upto FROM jq.relay_cursors
    ), victims AS (
        SELECT j.job_id FROM jq.jobs j, relayed r
        WHERE j.status IN ('DONE', 'DEAD_LETTERED', 'CANCELLED') AND j.completed_at < now() - prune.older_than
          AND (r.upto IS NULL OR NOT EXISTS (
                SELECT 1 FROM jq.job_events e WHERE e.job_id = j.job_id AND e.xid >= r.upto))
        ORDER BY j.completed_at
        LIMIT prune.max_rows
        FOR UPDATE OF j SKIP LOCKED
    ), events AS (
        DELETE FROM jq.job_events e USING victims v WHERE e.job_id = v.job_id
    ), waited AS (
        DELETE FROM jq.job_dependencies d USING victims v WHERE d.job_id = v.job_id
    ), awaited AS (
        DELETE FROM jq.job_dependencies d USING victims v WHERE d.depends_on = v.job_id
    ), nodes AS (
        DELETE FROM jq.workflow_jobs w USING victims v WHERE w.job_id = v.job_id
        RETURNING w.workflow_id
    ), emptied AS (
        DELETE FROM jq.workflows f
        WHERE f.workflow_id IN (SELECT n.workflow_id FROM nodes n)
          AND NOT EXISTS (SELECT 1 FROM jq.workflow_jobs w WHERE w.workflow_id = f.workflow_id
                          AND w.job_id NOT IN (SELECT v.job_id FROM victims v))
    )
    DELETE FROM jq.jobs j USING victims v WHERE j.job_id = v.job_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.prune(interval, integer) IS
    'Delete DONE/DEAD_LETTERED/CANCELLED jobs (and their events) finished before now() - older_than; returns how many.';

-- reap_orphans fails through the retry rule (reason WORKER_LOST) the ASSIGNED and RUNNING jobs
-- whose worker is OFFLINE or not registered at all: no live worker will ever report them. The
-- transitions that take a worker OFFLINE fail its jobs in the same transaction, so this only
-- mends what was changed by hand or by an older version. At most max_rows per call; returns
-- how many.
--
-- It runs every scheduler.reap_interval, and a busy system has thousands of jobs in flight but
-- few workers: it reads the workers that hold jobs, one probe of jobs_inflight_idx each (a
-- loose index scan), and then only the jobs of those not live, rather than every job in flight
-- joined to its worker (8,000 jobs in flight over 2 live workers: 0.07 ms a call against 20 ms;
-- bench/README.md).
CREATE OR REPLACE FUNCTION jq.reap_orphans(max_rows integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    n integer := 0;
    gone uuid[];
BEGIN
    PERFORM jq._check_max_rows(reap_orphans.max_rows);
    WITH RECURSIVE holders (worker_id) AS (
        (SELECT x.worker_id FROM jq.jobs x
         WHERE x.status IN ('ASSIGNED', 'RUNNING') AND x.worker_id IS NOT NULL
         ORDER BY x.worker_id LIMIT 1)
        UNION ALL
        SELECT (SELECT x.worker_id FROM jq.jobs x
                WHERE x.status IN ('ASSIGNED', 'RUNNING') AND x.worker_id > h.worker_id
                ORDER BY x.worker_id LIMIT 1)
        FROM holders h WHERE h.worker_id IS NOT NULL
    )
    SELECT coalesce(array_agg(h.worker_id), '{}') INTO gone
    FROM holders h
    WHERE h.worker_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM jq.workers w WHERE w.worker_id = h.worker_id AND w.status <> 'OFFLINE');
    IF cardinality(gone) = 0 AND NOT EXISTS (
            SELECT 1 FROM jq.jobs x WHERE x.status IN ('ASSIGNED', 'RUNNING') AND x.worker_id IS NULL) THEN
        RETURN 0; -- the usual case, in two index probes (the query below would read the whole index)
    END IF;
    FOR j IN
        SELECT x.* FROM jq.jobs x
        WHERE x.status IN ('ASSIGNED', 'RUNNING') AND (x.worker_id = ANY (gone) OR x.worker_id IS NULL)
        ORDER BY x.job_id
        LIMIT reap_orphans.max_rows
        FOR UPDATE OF x SKIP LOCKED
    LOOP
        PERFORM jq._in_order((SELECT y.xmin FROM jq.jobs y WHERE y.job_id = j.job_id));
        PERFORM jq._retry_or_bury(j, 'WORKER_LOST',
            format('worker %s is gone (%s) while it held the job', coalesce(j.worker_id::text, 'none'),
                   CASE WHEN j.worker_id IS NULL THEN 'no worker' ELSE 'OFFLINE or unregistered' END),
            '0', '0', false);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.reap_orphans(integer) IS
    'Retry (WORKER_LOST) the ASSIGNED/RUNNING jobs whose worker is OFFLINE or unregistered; returns how many.';

-- prune_workers deletes the workers OFFLINE since before now() - older_than, at most max_rows
-- per call. A worker that comes back registers again as a new row.
CREATE OR REPLACE FUNCTION jq.prune_workers(older_than interval, max_rows integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
BEGIN
    IF prune_workers.older_than IS NULL OR prune_workers.older_than < '0' THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'JQ005';
    END IF;
    PERFORM jq._check_max_rows(prune_workers.max_rows);
    WITH victims AS (
        SELECT worker_id FROM jq.workers
        WHERE status = 'OFFLINE' AND updated_at < now() - prune_workers.older_than
        ORDER BY updated_at
        LIMIT prune_workers.max_rows
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM jq.workers w USING victims v WHERE w.worker_id = v.worker_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.prune_workers(interval, integer) IS 'Delete workers OFFLINE for longer than older_than; returns how many.';

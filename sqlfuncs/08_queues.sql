-- Queues: creating, deleting and counting.

-- create_queue creates a queue; JQ007 if it exists, JQ005 for a bad name or setting.
CREATE OR REPLACE FUNCTION jq.create_queue(
    name text,
    max_retries integer DEFAULT 3,
    ttl_seconds integer DEFAULT NULL,
    actor text DEFAULT NULL
) RETURNS jq.queues
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q jq.queues;
BEGIN
    IF create_queue.name IS NULL OR create_queue.name = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF create_queue.name !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
        RAISE EXCEPTION 'queue name % is invalid: use letters, digits and . _ : - (at most 128, starting with a letter or digit)',
            quote_literal(create_queue.name) USING ERRCODE = 'JQ005';
    END IF;
    IF create_queue.max_retries IS NULL OR create_queue.max_retries NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'max_retries % is outside 0-1000', coalesce(create_queue.max_retries::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF create_queue.ttl_seconds IS NOT NULL AND create_queue.ttl_seconds <= 0 THEN
        RAISE EXCEPTION 'ttl_seconds % must be positive (NULL for no TTL)', create_queue.ttl_seconds USING ERRCODE = 'JQ005';
    END IF;
    INSERT INTO jq.queues AS q (name, max_retries, ttl_seconds)
    VALUES (create_queue.name, create_queue.max_retries, create_queue.ttl_seconds)
    ON CONFLICT (name) DO NOTHING
    RETURNING * INTO q;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % already exists', create_queue.name USING ERRCODE = 'JQ007';
    END IF;
    PERFORM jq._audit(create_queue.actor, 'queue.create', q.name,
        jsonb_build_object('max_retries', q.max_retries, 'ttl_seconds', q.ttl_seconds));
    RETURN q;
END
$$;

COMMENT ON FUNCTION jq.create_queue(text, integer, integer, text) IS 'Create a queue (JQ007 if it exists); audited with actor.';

-- delete_queue deletes a queue and its finished jobs. It refuses (JQ008) while the queue holds
-- jobs that are not DONE, DEAD_LETTERED or CANCELLED, and refuses to delete the default queue. Returns
-- the number of jobs deleted with it.
CREATE OR REPLACE FUNCTION jq.delete_queue(name text, actor text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    upto xid8;
    unfinished bigint;
    n integer;
BEGIN
    PERFORM jq._not_null(delete_queue.name, 'name');
    IF delete_queue.name = 'default' THEN
        RAISE EXCEPTION 'the default queue cannot be deleted' USING ERRCODE = 'JQ005';
    END IF;
    -- Waits for the submits in flight and keeps new ones out (they take the lock shared), so
    -- no job can slip into the queue while it is being deleted.
    PERFORM pg_advisory_xact_lock(jq._queue_lock(delete_queue.name));
    PERFORM 1 FROM jq.queues WHERE name = delete_queue.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', delete_queue.name USING ERRCODE = 'JQ001';
    END IF;
    SELECT count(*) INTO unfinished FROM jq.jobs
    WHERE queue_name = delete_queue.name AND status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED');
    IF unfinished > 0 THEN
        RAISE EXCEPTION 'queue % still has % unfinished jobs', delete_queue.name, unfinished USING ERRCODE = 'JQ008',
            HINT = 'cancel them or wait for them to finish';
    END IF;
    -- As jq.prune: while an event relay runs, events it has not published yet stay (they are
    -- the outbox), and so does the queue, until the relay has passed them.
    SELECT min(xid) INTO upto FROM jq.relay_cursors;
    IF upto IS NOT NULL AND EXISTS (
        SELECT 1 FROM jq.job_events e WHERE e.xid >= upto AND e.queue_name = delete_queue.name) THEN
        RAISE EXCEPTION 'queue % has job events the Kafka relay has not published yet', delete_queue.name USING ERRCODE = 'JQ008',
            HINT = 'retry once the relay has caught up; if events are off for good, DELETE FROM jq.relay_cursors';
    END IF;
    DELETE FROM jq.job_events WHERE queue_name = delete_queue.name;
    DELETE FROM jq.job_dependencies d USING jq.jobs j WHERE j.queue_name = delete_queue.name AND d.job_id = j.job_id;
    DELETE FROM jq.job_dependencies d USING jq.jobs j WHERE j.queue_name = delete_queue.name AND d.depends_on = j.job_id;
    DELETE FROM jq.workflow_jobs w USING jq.jobs j WHERE j.queue_name = delete_queue.name AND w.job_id = j.job_id;
    DELETE FROM jq.jobs WHERE queue_name = delete_queue.name;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM jq.queues WHERE name = delete_queue.name;
    PERFORM jq._audit(delete_queue.actor, 'queue.delete', delete_queue.name, jsonb_build_object('jobs_deleted', n));
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.delete_queue(text, text) IS 'Delete a queue and its finished jobs; refused (JQ008) while it has unfinished jobs; audited with actor.';

-- queue_stats counts a queue's jobs per status (every queue when queue is NULL), with the
-- age of its oldest runnable pending job and the jobs completed and failed in the last minute.
CREATE OR REPLACE FUNCTION jq.queue_stats(queue text DEFAULT NULL)
RETURNS TABLE (
    queue_name text,
    pending bigint,
    assigned bigint,
    running bigint,
    done bigint,
    failed bigint,
    dead_lettered bigint,
    cancelled bigint,
    waiting bigint,
    oldest_pending_at timestamptz,
    completed_last_minute bigint,
    failed_last_minute bigint
)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    IF queue_stats.queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jq.queues WHERE name = queue_stats.queue) THEN
        RAISE EXCEPTION 'queue % does not exist', queue_stats.queue USING ERRCODE = 'JQ001';
    END IF;
    RETURN QUERY
    SELECT q.name,
           coalesce(c.pending, 0), coalesce(c.assigned, 0), coalesce(c.running, 0),
           coalesce(c.done, 0), coalesce(c.failed, 0), coalesce(c.dead_lettered, 0),
           coalesce(c.cancelled, 0), coalesce(c.waiting, 0),
           (SELECT min(coalesce(j.not_before, j.created_at)) FROM jq.jobs j
             WHERE j.queue_name = q.name AND j.status = 'PENDING'
               AND (j.not_before IS NULL OR j.not_before <= now())),
           (SELECT count(*) FROM jq.jobs j
             WHERE j.status = 'DONE' AND j.completed_at > now() - interval '1 minute' AND j.queue_name = q.name),
           (SELECT count(*) FROM jq.job_events e
             WHERE e.to_status = 'FAILED' AND e.occurred_at > now() - interval '1 minute' AND e.queue_name = q.name)
    FROM jq.queues q
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE j.status = 'PENDING') AS pending,
               count(*) FILTER (WHERE j.status = 'ASSIGNED') AS assigned,
               count(*) FILTER (WHERE j.status = 'RUNNING') AS running,
               count(*) FILTER (WHERE j.status = 'DONE') AS done,
               count(*) FILTER (WHERE j.status = 'FAILED') AS failed,
               count(*) FILTER (WHERE j.status = 'DEAD_LETTERED') AS dead_lettered,
               count(*) FILTER (WHERE j.status = 'CANCELLED') AS cancelled,
               count(*) FILTER (WHERE j.status = 'WAITING') AS waiting
        FROM jq.jobs j WHERE j.queue_name = q.name
    ) AS c ON true
    WHERE queue_stats.queue IS NULL OR q.name = queue_stats.queue
    ORDER BY q.name;
END
$$;

COMMENT ON FUNCTION jq.queue_stats(text) IS 'Per-status job counts, oldest runnable pending job and last-minute throughput per queue.';

-- pause_queues pauses the named queues (every queue when names is NULL or empty): their jobs
-- are still accepted, but none is claimed until they are resumed; running jobs finish. Returns
-- the queues paused. Audited with actor.
CREATE OR REPLACE FUNCTION jq.pause_queues(names text[] DEFAULT NULL, actor text DEFAULT NULL) RETURNS SETOF text
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    missing text;
    q text;
BEGIN
    IF pause_queues.names IS NOT NULL AND array_position(pause_queues.names, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'names must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    SELECT n INTO missing FROM unnest(pause_queues.names) AS n WHERE NOT EXISTS (SELECT 1 FROM jq.queues x WHERE x.name = n) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'queue % does not exist', missing USING ERRCODE = 'JQ001';
    END IF;
    FOR q IN
        UPDATE jq.queues x SET paused = true, updated_at = now()
        WHERE (coalesce(cardinality(pause_queues.names), 0) = 0 OR x.name = ANY (pause_queues.names)) AND NOT x.paused
        RETURNING x.name
    LOOP
        PERFORM jq._audit(pause_queues.actor, 'queue.pause', q);
        RETURN NEXT q;
    END LOOP;
END
$$;

COMMENT ON FUNCTION jq.pause_queues(text[], text) IS 'Pause queues (all when names is NULL): no job of them is claimed until resumed; audited.';

-- resume_queues resumes paused queues (every paused queue when names is NULL or empty) and
-- wakes the schedulers at once (NOTIFY). Returns the queues resumed. Audited with actor.
CREATE OR REPLACE FUNCTION jq.resume_queues(names text[] DEFAULT NULL, actor text DEFAULT NULL) RETURNS SETOF text
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    missing text;
    q text;
BEGIN
    IF resume_queues.names IS NOT NULL AND array_position(resume_queues.names, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'names must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    SELECT n INTO missing FROM unnest(resume_queues.names) AS n WHERE NOT EXISTS (SELECT 1 FROM jq.queues x WHERE x.name = n) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'queue % does not exist', missing USING ERRCODE = 'JQ001';
    END IF;
    FOR q IN
        UPDATE jq.queues x SET paused = false, updated_at = now()
        WHERE (coalesce(cardinality(resume_queues.names), 0) = 0 OR x.name = ANY (resume_queues.names)) AND x.paused
        RETURNING x.name
    LOOP
        PERFORM jq._audit(resume_queues.actor, 'queue.resume', q);
        PERFORM pg_notify('jq_job_ready', q);
        RETURN NEXT q;
    END LOOP;
END
$$;

COMMENT ON FUNCTION jq.resume_queues(text[], text) IS 'Resume paused queues (all when names is NULL) and wake the schedulers; audited.';

-- pause_queue pauses one queue (pause_queues); true if it was not paused already.
CREATE OR REPLACE FUNCTION jq.pause_queue(name text, actor text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jq._not_null(pause_queue.name, 'name');
    RETURN EXISTS (SELECT 1 FROM jq.pause_queues(ARRAY[pause_queue.name], pause_queue.actor));
END
$$;

COMMENT ON FUNCTION jq.pause_queue(text, text) IS 'Pause one queue; true if it was not paused already; audited.';

-- resume_queue resumes one queue (resume_queues); true if it was paused.
CREATE OR REPLACE FUNCTION jq.resume_queue(name text, actor text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jq._not_null(resume_queue.name, 'name');
    RETURN EXISTS (SELECT 1 FROM jq.resume_queues(ARRAY[resume_queue.name], resume_queue.actor));
END
$$;

COMMENT ON FUNCTION jq.resume_queue(text, text) IS 'Resume one paused queue and wake the schedulers; true if it was paused; audited.';

-- set_queue_limits changes a queue's limits. For each: NULL leaves it as it is, 0 removes it.
-- rate_limit starts per rate_period (both set together; rate_limit 0 removes the rate limit).
-- max_running_per_key also makes the queue claim its concurrency keys in turn. Audited.
CREATE OR REPLACE FUNCTION jq.set_queue_limits(
    name text,
    max_running integer DEFAULT NULL,
    rate_limit integer DEFAULT NULL,
    rate_period interval DEFAULT NULL,
    max_running_per_key integer DEFAULT NULL,
    actor text DEFAULT NULL
) RETURNS jq.queues
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q jq.queues;
BEGIN
    PERFORM jq._not_null(set_queue_limits.name, 'name');
    IF set_queue_limits.max_running < 0 THEN
        RAISE EXCEPTION 'max_running % is negative (0 removes the limit)', set_queue_limits.max_running USING ERRCODE = 'JQ005';
    END IF;
    IF set_queue_limits.max_running_per_key < 0 THEN
        RAISE EXCEPTION 'max_running_per_key % is negative (0 removes the limit)', set_queue_limits.max_running_per_key USING ERRCODE = 'JQ005';
    END IF;
    IF set_queue_limits.rate_limit < 0 THEN
        RAISE EXCEPTION 'rate_limit % is negative (0 removes the limit)', set_queue_limits.rate_limit USING ERRCODE = 'JQ005';
    END IF;
    IF set_queue_limits.rate_limit > 0 AND (set_queue_limits.rate_period IS NULL OR set_queue_limits.rate_period <= '0'
                                             OR set_queue_limits.rate_period > '1 day') THEN
        RAISE EXCEPTION 'rate_period must be between 0 and 1 day with a rate_limit, got %', coalesce(set_queue_limits.rate_period::text, 'NULL')
            USING ERRCODE = 'JQ005';
    END IF;
    -- The window keeps one timestamp per start, rewritten by every claim of the queue.
    IF set_queue_limits.rate_limit > 10000 THEN
        RAISE EXCEPTION 'rate_limit % is over 10000 starts per period (for more, shorten rate_period: 1000 per 100ms)',
            set_queue_limits.rate_limit USING ERRCODE = 'JQ005';
    END IF;
    UPDATE jq.queues x SET
        max_running = CASE WHEN set_queue_limits.max_running IS NULL THEN x.max_running ELSE nullif(set_queue_limits.max_running, 0) END,
        rate_limit = CASE WHEN set_queue_limits.rate_limit IS NULL THEN x.rate_limit ELSE nullif(set_queue_limits.rate_limit, 0) END,
        rate_period = CASE WHEN set_queue_limits.rate_limit IS NULL THEN x.rate_period
                           WHEN set_queue_limits.rate_limit = 0 THEN NULL ELSE set_queue_limits.rate_period END,
        rate_window = CASE WHEN set_queue_limits.rate_limit = 0 THEN '{}' ELSE x.rate_window END,
        max_running_per_key = CASE WHEN set_queue_limits.max_running_per_key IS NULL THEN x.max_running_per_key
                                   ELSE nullif(set_queue_limits.max_running_per_key, 0) END,
        updated_at = now()
    WHERE x.name = set_queue_limits.name
    RETURNING x.* INTO q;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', set_queue_limits.name USING ERRCODE = 'JQ001';
    END IF;
    PERFORM jq._audit(set_queue_limits.actor, 'queue.limits', q.name, jsonb_build_object(
        'max_running', q.max_running, 'rate_limit', q.rate_limit, 'rate_period', q.rate_period,
        'max_running_per_key', q.max_running_per_key));
    -- A raised or removed limit may let jobs run now.
    PERFORM pg_notify('jq_job_ready', q.name);
    RETURN q;
END
$$;

COMMENT ON FUNCTION jq.set_queue_limits(text, integer, integer, interval, integer, text) IS
    'Set a queue''s max_running, rate (rate_limit per rate_period) and max_running_per_key; NULL keeps, 0 removes; audited.';

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
-- jobs that are not DONE or DEAD_LETTERED, and refuses to delete the default queue. Returns
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
    WHERE queue_name = delete_queue.name AND status NOT IN ('DONE', 'DEAD_LETTERED');
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
               count(*) FILTER (WHERE j.status = 'DEAD_LETTERED') AS dead_lettered
        FROM jq.jobs j WHERE j.queue_name = q.name
    ) AS c ON true
    WHERE queue_stats.queue IS NULL OR q.name = queue_stats.queue
    ORDER BY q.name;
END
$$;

COMMENT ON FUNCTION jq.queue_stats(text) IS 'Per-status job counts, oldest runnable pending job and last-minute throughput per queue.';

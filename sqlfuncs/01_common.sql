-- Helpers shared by the other files.
--
-- Errors raised by the jq functions use SQLSTATE class JQ, so a client can tell them apart:
--   JQ001 unknown queue        JQ005 invalid argument
--   JQ002 unknown job          JQ006 unknown worker
--   JQ003 wrong state          JQ007 queue already exists
--   JQ004 stale attempt        JQ008 queue still has unfinished jobs
--   JQ009 the worker belongs to another credential (API key or certificate)
--   JQ010 a limit is reached   JQ011 unknown API key
--   JQ012 unknown schedule
-- and 40001 (serialization_failure) when a call must simply be retried (see _in_order).

-- uuid_v7 returns a UUID whose first 48 bits are the Unix time in milliseconds and whose next
-- 12 (after the version) are the fraction of that millisecond (RFC 9562 version 7, method 3).
-- Job ids made this way are inserted at the right edge of the primary-key index instead of at
-- random places, which keeps inserts cache-friendly at millions of rows, and they sort by
-- creation time to a quarter of a microsecond: ListJobs pages newest first by id.
CREATE OR REPLACE FUNCTION jq.uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_byte(set_byte(
            overlay(uuid_send(gen_random_uuid()) PLACING substring(int8send(ms) FROM 3) FROM 1 FOR 6),
            6, 112 | (frac >> 8)), 7, frac & 255),
        'hex')::uuid
    FROM (SELECT floor(t)::bigint AS ms, floor((t - floor(t)) * 4096)::integer AS frac
          FROM (SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t) AS now_ms) AS parts
$$;

COMMENT ON FUNCTION jq.uuid_v7() IS 'A time-ordered UUID (version 7), used for job ids.';

-- backoff is the delay before retry number retry_count + 1:
--   min(base_delay * 2^retry_count, max_delay) * (1 + 0.1 * jitter),  jitter in [0, 1)
-- so it never exceeds 1.1 * max_delay.
CREATE OR REPLACE FUNCTION jq.backoff(
    retry_count integer,
    base_delay interval DEFAULT '1 second',
    max_delay interval DEFAULT '5 minutes',
    jitter double precision DEFAULT random()
) RETURNS interval
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF retry_count IS NULL OR retry_count < 0 THEN
        RAISE EXCEPTION 'retry_count must be 0 or more, got %', coalesce(retry_count::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF base_delay IS NULL OR base_delay < '0' OR max_delay IS NULL OR max_delay < '0' THEN
        RAISE EXCEPTION 'base_delay and max_delay must not be negative or NULL' USING ERRCODE = 'JQ005';
    END IF;
    RETURN make_interval(secs => least(
            extract(epoch FROM base_delay)::double precision * power(2::double precision, least(retry_count, 62)),
            extract(epoch FROM max_delay)::double precision)
        * (1 + 0.1 * least(greatest(coalesce(jitter, 0), 0), 1)));
END
$$;

-- _not_null refuses a NULL argument with JQ005, naming it.
CREATE OR REPLACE FUNCTION jq._not_null(value anyelement, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be null', name USING ERRCODE = 'JQ005';
    END IF;
END
$$;

COMMENT ON FUNCTION jq.backoff(integer, interval, interval, double precision) IS
    'Delay before the next retry: min(base_delay * 2^retry_count, max_delay) plus up to 10 % jitter.';

-- _event appends one transition to jq.job_events.
CREATE OR REPLACE FUNCTION jq._event(
    j jq.jobs,
    from_status jq.job_status,
    to_status jq.job_status,
    reason text,
    error_message text DEFAULT NULL,
    actor text DEFAULT NULL
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason, error_message, actor)
    VALUES (j.job_id, j.queue_name, from_status, to_status, j.worker_id, j.attempt, reason, error_message, actor)
$$;

-- _actor names who asked for an operator action: the actor jq-server passes (an API key's
-- name or a certificate identity), or sql:<role> for a call made from psql.
CREATE OR REPLACE FUNCTION jq._actor(actor text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(actor, ''), 'sql:' || session_user)
$$;

-- _audit records an operator action that is not a job transition in jq.audit_log.
CREATE OR REPLACE FUNCTION jq._audit(actor text, action text, target text, detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE sql AS $$
    INSERT INTO jq.audit_log (actor, action, target, detail) VALUES (jq._actor(actor), action, target, coalesce(detail, '{}'))
$$;

-- _sorted_ids returns the distinct ids of an array in ascending order: the driving input of
-- the batch functions.
CREATE OR REPLACE FUNCTION jq._sorted_ids(ids uuid[]) RETURNS SETOF uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DISTINCT id FROM unnest(ids) AS u (id) ORDER BY id
$$;

-- _in_order guards the order of a job's events in the outbox. The Kafka relay publishes
-- jq.job_events in transaction-id order (the only order PostgreSQL can prove gapless), so the
-- transactions that change one job must have increasing ids. A transaction that took its id
-- before another one changed the job (a batch that locked other rows first, then waited for
-- this one) would break that: it fails with 40001 instead, and the caller retries it with a
-- fresh id. row_xmin is the xmin of the job row it locked (the last transaction to change it).
-- The batch functions inline the test as
--   age(row_xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation()
-- to spare a function call per row.
CREATE OR REPLACE FUNCTION jq._order_violation() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a newer transaction changed a job this one locked; retry'
        USING ERRCODE = '40001', HINT = 'the jq functions are safe to retry: they changed nothing';
END
$$;

CREATE OR REPLACE FUNCTION jq._in_order(row_xmin xid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT age(row_xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation()
$$;

-- _queue_lock is the advisory lock key of a queue: submits hold it shared until they commit,
-- jq.delete_queue exclusively. (A row lock on the queue would do the same, but every submit
-- would then write the queue's row — a MultiXact once two submits overlap — and concurrent
-- submits to one queue would queue on that one page.) Two queues whose names collide in the
-- hash only make a delete wait for the other queue's submits.
CREATE OR REPLACE FUNCTION jq._queue_lock(queue text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('jq.queue:' || queue, 0)
$$;

-- _claim_lock is the advisory lock key that claims of a flow-controlled queue hold until they
-- commit, so that each counts what the previous ones took (see jq.claim_for). An advisory lock
-- rather than the queue's row lock: it writes nothing.
CREATE OR REPLACE FUNCTION jq._claim_lock(queue text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('jq.claim:' || queue, 0)
$$;

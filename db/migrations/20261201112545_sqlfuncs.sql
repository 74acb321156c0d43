-- Code generated from sqlfuncs/*.sql by `make generate`. DO NOT EDIT.
-- Change the functions in sqlfuncs/; once this migration has been released, add a new
-- *_sqlfuncs.sql migration rather than regenerating this one (see db/README.md).

-- migrate:up

-- sqlfuncs/01_common.sql

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

-- sqlfuncs/02_submit.sql

-- Submitting jobs. Callable from any transaction: the job becomes visible (and the scheduler
-- is woken by NOTIFY) when that transaction commits.

-- enqueue is submit that also says whether it inserted (false: the idempotency key or the
-- unique key matched an existing job, whose id is returned). notify => false leaves the NOTIFY
-- to the caller: jq-server sends one per queue for many submits after they commit (see
-- queue.Announcer), because transactions that NOTIFY serialise their commits on PostgreSQL's
-- notify lock. new_job_id, when given, is the new job's id (jq-server makes it before the
-- insert, so that it can tell, after losing a commit's answer, whether the job exists); NULL
-- makes a UUIDv7.
--
-- Unique jobs: with unique_key, the submit inserts nothing when a job of the queue with that
-- key was created within unique_window (NULL: ever) and is in one of unique_statuses (NULL:
-- any status); it returns that job instead. The check runs under an advisory lock of the
-- queue and key held until commit, so concurrent submits of one key insert one job.
--
-- Dependencies: with depends_on, the job waits for those jobs. It is WAITING while one of them
-- is unfinished and becomes PENDING when the last is DONE (jq._parents_finished). One that
-- ends DEAD_LETTERED or CANCELLED cancels it, unless on_dependency_failure is 'run': then it
-- runs once they have all finished. Depending on a job that has already failed is refused
-- (JQ003) unless on_dependency_failure is 'run'.
CREATE OR REPLACE FUNCTION jq.enqueue(
    queue text,
    payload jsonb,
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    not_before timestamptz DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    notify boolean DEFAULT true,
    new_job_id uuid DEFAULT NULL,
    concurrency_key text DEFAULT NULL,
    unique_key text DEFAULT NULL,
    unique_window interval DEFAULT NULL,
    unique_statuses jq.job_status[] DEFAULT NULL,
    depends_on uuid[] DEFAULT NULL,
    on_dependency_failure text DEFAULT 'cancel'
) RETURNS TABLE (job_id uuid, inserted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    queue_max_retries integer;
    new_job jq.jobs;
    existing uuid;
    key text := nullif(enqueue.idempotency_key, '');
    ukey text := nullif(enqueue.unique_key, '');
    parents uuid[];
    deps record;
    first_status jq.job_status := 'PENDING';
BEGIN
    IF enqueue.queue IS NULL OR enqueue.queue = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF enqueue.payload IS NULL THEN
        RAISE EXCEPTION 'payload must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'priority % is outside 0-9', coalesce(enqueue.priority::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF enqueue.max_retries IS NOT NULL AND enqueue.max_retries NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'max_retries % is outside 0-1000', enqueue.max_retries USING ERRCODE = 'JQ005';
    END IF;
    IF length(enqueue.concurrency_key) > 255 THEN
        RAISE EXCEPTION 'concurrency_key is % characters, over the limit of 255', length(enqueue.concurrency_key) USING ERRCODE = 'JQ005';
    END IF;
    IF length(enqueue.idempotency_key) > 255 THEN
        RAISE EXCEPTION 'idempotency_key is % characters, over the limit of 255', length(enqueue.idempotency_key) USING ERRCODE = 'JQ005';
    END IF;
    -- The unique and dependency arguments are checked only when given: the common submit
    -- pays one test for them.
    IF ukey IS NOT NULL OR enqueue.unique_window IS NOT NULL OR enqueue.unique_statuses IS NOT NULL THEN
        IF length(ukey) > 255 THEN
            RAISE EXCEPTION 'unique_key is % characters, over the limit of 255', length(ukey) USING ERRCODE = 'JQ005';
        END IF;
        IF ukey IS NULL THEN
            RAISE EXCEPTION 'unique_window and unique_statuses need a unique_key' USING ERRCODE = 'JQ005';
        END IF;
        IF enqueue.unique_window <= '0' THEN
            RAISE EXCEPTION 'unique_window % must be positive (NULL: no window)', enqueue.unique_window USING ERRCODE = 'JQ005';
        END IF;
        IF array_position(enqueue.unique_statuses, NULL) IS NOT NULL OR cardinality(enqueue.unique_statuses) = 0 THEN
            RAISE EXCEPTION 'unique_statuses must list statuses, without NULL (NULL: any status)' USING ERRCODE = 'JQ005';
        END IF;
    END IF;
    IF enqueue.depends_on IS NOT NULL OR enqueue.on_dependency_failure IS DISTINCT FROM 'cancel' THEN
        IF coalesce(enqueue.on_dependency_failure, '') NOT IN ('cancel', 'run') THEN
            RAISE EXCEPTION 'on_dependency_failure % must be cancel or run', coalesce(quote_literal(enqueue.on_dependency_failure), 'NULL')
                USING ERRCODE = 'JQ005';
        END IF;
        IF array_position(enqueue.depends_on, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'depends_on must not contain NULL' USING ERRCODE = 'JQ005';
        END IF;
        IF cardinality(enqueue.depends_on) > 1000 THEN
            RAISE EXCEPTION 'depends_on lists % jobs, over the limit of 1000', cardinality(enqueue.depends_on) USING ERRCODE = 'JQ005';
        END IF;
        IF enqueue.new_job_id = ANY (enqueue.depends_on) THEN
            RAISE EXCEPTION 'depends_on: job % cannot depend on itself', enqueue.new_job_id USING ERRCODE = 'JQ005';
        END IF;
    END IF;

    -- The queue cannot be deleted until this transaction ends (see jq._queue_lock).
    PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(enqueue.queue));
    SELECT q.max_retries INTO queue_max_retries FROM jq.queues q WHERE q.name = enqueue.queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', enqueue.queue USING ERRCODE = 'JQ001',
            HINT = 'create it with jq.create_queue or jq-ctl queue create';
    END IF;

    IF ukey IS NOT NULL THEN
        -- Held until commit: the next submit of the key waits, then sees this one's job.
        PERFORM pg_advisory_xact_lock(jq._unique_lock(enqueue.queue, ukey));
        SELECT j.job_id INTO existing FROM jq.jobs j
        WHERE j.queue_name = enqueue.queue AND j.unique_key = ukey
          AND (enqueue.unique_window IS NULL OR j.created_at > now() - enqueue.unique_window)
          AND (enqueue.unique_statuses IS NULL OR j.status = ANY (enqueue.unique_statuses))
        ORDER BY j.created_at DESC
        LIMIT 1;
        IF FOUND THEN
            RETURN QUERY SELECT existing, false;
            RETURN;
        END IF;
    END IF;

    IF coalesce(cardinality(enqueue.depends_on), 0) > 0 THEN
        parents := ARRAY(SELECT DISTINCT d FROM unnest(enqueue.depends_on) AS d ORDER BY d);
        -- Locked (in id order, so concurrent submits cannot deadlock) until this transaction
        -- commits: a parent that finishes meanwhile waits, and then finds this job's edge. The
        -- lock returns each parent as its last committed change left it.
        SELECT count(*) AS found,
               array_agg(p.job_id) FILTER (WHERE p.status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')) AS unfinished,
               (array_agg(p.job_id ORDER BY p.job_id) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed,
               (array_agg(p.status ORDER BY p.job_id) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed_status
        INTO deps
        FROM (SELECT x.job_id, x.status FROM jq.jobs x WHERE x.job_id = ANY (parents) ORDER BY x.job_id FOR NO KEY UPDATE) AS p;
        IF deps.found < cardinality(parents) THEN
            RAISE EXCEPTION 'depends_on: job % not found',
                (SELECT d FROM unnest(parents) AS d WHERE NOT EXISTS (SELECT 1 FROM jq.jobs x WHERE x.job_id = d) LIMIT 1)
                USING ERRCODE = 'JQ002';
        END IF;
        IF deps.failed IS NOT NULL AND enqueue.on_dependency_failure = 'cancel' THEN
            RAISE EXCEPTION 'depends_on: job % is %, so this job could never run', deps.failed, deps.failed_status
                USING ERRCODE = 'JQ003', HINT = 'retry that job first, or submit with on_dependency_failure => ''run''';
        END IF;
        IF deps.unfinished IS NOT NULL THEN
            first_status := 'WAITING';
            UPDATE jq.jobs x SET has_dependents = true WHERE x.job_id = ANY (deps.unfinished) AND NOT x.has_dependents;
        END IF;
    END IF;

    -- Two passes at most: if the job holding the key is pruned between the conflict and the
    -- lookup, the second insert succeeds.
    FOR i IN 1..2 LOOP
        INSERT INTO jq.jobs AS j (job_id, queue_name, payload, status, priority, max_retries, not_before, idempotency_key,
                                  concurrency_key, unique_key)
        VALUES (coalesce(enqueue.new_job_id, jq.uuid_v7()), enqueue.queue, enqueue.payload, first_status, enqueue.priority,
                coalesce(enqueue.max_retries, queue_max_retries), enqueue.not_before, key, nullif(enqueue.concurrency_key, ''), ukey)
        ON CONFLICT (queue_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.* INTO new_job;

        IF new_job.job_id IS NOT NULL THEN
            IF parents IS NOT NULL THEN
                INSERT INTO jq.job_dependencies (job_id, depends_on, on_failure)
                SELECT new_job.job_id, d, enqueue.on_dependency_failure FROM unnest(parents) AS d;
            END IF;
            PERFORM jq._event(new_job, NULL, first_status, 'SUBMITTED');
            IF enqueue.notify AND first_status = 'PENDING' AND (new_job.not_before IS NULL OR new_job.not_before <= now()) THEN
                PERFORM pg_notify('jq_job_ready', enqueue.queue);
            END IF;
            RETURN QUERY SELECT new_job.job_id, true;
            RETURN;
        END IF;

        SELECT j.job_id INTO existing FROM jq.jobs j
        WHERE j.queue_name = enqueue.queue AND j.idempotency_key = key;
        IF FOUND THEN
            RETURN QUERY SELECT existing, false;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'could not insert or find the job with idempotency key % in queue %', key, enqueue.queue;
END
$$;

COMMENT ON FUNCTION jq.enqueue(text, jsonb, integer, integer, timestamptz, text, boolean, uuid, text, text, interval, jq.job_status[], uuid[], text) IS
    'Like jq.submit, and also returns whether a job was inserted (false: the idempotency or unique key matched an existing job).';

-- enqueue_many is enqueue for many jobs in one statement (jq-server's batched submits and
-- SubmitJobs): job i is (queues[i], payloads[i], priorities[i], max_retries[i], not_befores[i],
-- idempotency_keys[i], concurrency_keys[i], job_ids[i]); every array has one element per job
-- (NULL elements take the defaults, as in enqueue: priority 0, the queue's max_retries, a new
-- UUIDv7). All are inserted or none (one bad job fails the call, naming it). A job whose
-- idempotency key matches an existing job, or an earlier job of the batch, is not inserted and
-- returns that job's id. Returns one row per job: its position (ord, from 1), its id and
-- whether it was inserted. Jobs are inserted keyed ones first, in (queue, key) order, so that
-- concurrent batches cannot deadlock on each other's keys; each job's created_at is the clock
-- as the batch is read, in its order, so that the batch is claimed in that order. notify sends one NOTIFY per queue that got a
-- runnable job.
CREATE OR REPLACE FUNCTION jq.enqueue_many(
    queues text[],
    payloads jsonb[],
    priorities integer[] DEFAULT NULL,
    max_retries integer[] DEFAULT NULL,
    not_befores timestamptz[] DEFAULT NULL,
    idempotency_keys text[] DEFAULT NULL,
    concurrency_keys text[] DEFAULT NULL,
    job_ids uuid[] DEFAULT NULL,
    notify boolean DEFAULT true
) RETURNS TABLE (ord integer, job_id uuid, inserted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(cardinality(enqueue_many.queues), 0);
    bad record;
    q text;
    ids uuid[];
    fresh boolean[];
BEGIN
    IF n = 0 OR n > 10000 THEN
        RAISE EXCEPTION 'queues must list 1 to 10000 jobs, got %', n USING ERRCODE = 'JQ005';
    END IF;
    IF cardinality(enqueue_many.payloads) IS DISTINCT FROM n
       OR coalesce(cardinality(enqueue_many.priorities), n) <> n OR coalesce(cardinality(enqueue_many.max_retries), n) <> n
       OR coalesce(cardinality(enqueue_many.not_befores), n) <> n OR coalesce(cardinality(enqueue_many.idempotency_keys), n) <> n
       OR coalesce(cardinality(enqueue_many.concurrency_keys), n) <> n OR coalesce(cardinality(enqueue_many.job_ids), n) <> n THEN
        RAISE EXCEPTION 'payloads, priorities, max_retries, not_befores, idempotency_keys, concurrency_keys and job_ids must have one element per queue (%)', n
            USING ERRCODE = 'JQ005';
    END IF;
    SELECT i.ord, i.queue, i.payload, i.priority, i.max_retries, i.idem, i.ckey INTO bad
    FROM unnest(enqueue_many.queues, enqueue_many.payloads, enqueue_many.priorities, enqueue_many.max_retries,
                enqueue_many.idempotency_keys, enqueue_many.concurrency_keys)
         WITH ORDINALITY AS i (queue, payload, priority, max_retries, idem, ckey, ord)
    WHERE coalesce(i.queue, '') = '' OR i.payload IS NULL OR coalesce(i.priority, 0) NOT BETWEEN 0 AND 9
       OR i.max_retries NOT BETWEEN 0 AND 1000 OR length(i.idem) > 255 OR length(i.ckey) > 255
    ORDER BY i.ord LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'job %: %', bad.ord, CASE
            WHEN coalesce(bad.queue, '') = '' THEN 'queue name must not be empty'
            WHEN bad.payload IS NULL THEN 'payload must not be null'
            WHEN coalesce(bad.priority, 0) NOT BETWEEN 0 AND 9 THEN format('priority %s is outside 0-9', bad.priority)
            WHEN bad.max_retries NOT BETWEEN 0 AND 1000 THEN format('max_retries %s is outside 0-1000', bad.max_retries)
            WHEN length(bad.idem) > 255 THEN format('idempotency_key is %s characters, over the limit of 255', length(bad.idem))
            ELSE format('concurrency_key is %s characters, over the limit of 255', length(bad.ckey)) END
            USING ERRCODE = 'JQ005';
    END IF;

    -- The queues cannot be deleted until this transaction ends (see jq._queue_lock); locked in
    -- name order, and each must exist.
    FOR q IN SELECT DISTINCT x FROM unnest(enqueue_many.queues) AS x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(q));
        IF NOT EXISTS (SELECT 1 FROM jq.queues x WHERE x.name = q) THEN
            RAISE EXCEPTION 'queue % does not exist', q USING ERRCODE = 'JQ001',
                HINT = 'create it with jq.create_queue or jq-ctl queue create';
        END IF;
    END LOOP;

    -- One statement inserts the jobs and their events and notifies. A job skipped for its key
    -- takes the id of the batch's job with that key (this statement's own inserts are not
    -- visible to its reads) or, below, of the job that held the key before.
    WITH input AS (
        SELECT i.ord::integer AS ord, i.queue, i.payload, coalesce(i.priority, 0) AS priority,
               coalesce(i.max_retries, qu.max_retries) AS max_retries, i.not_before,
               nullif(i.idem, '') AS idem, nullif(i.ckey, '') AS ckey, i.job_id, i.created_at
        FROM (
            -- Ids and times in the order of the jobs (the join below may reorder rows).
            SELECT i.*, coalesce(i.id, jq.uuid_v7()) AS job_id, clock_timestamp() AS created_at
            FROM unnest(enqueue_many.queues, enqueue_many.payloads, enqueue_many.priorities, enqueue_many.max_retries,
                        enqueue_many.not_befores, enqueue_many.idempotency_keys, enqueue_many.concurrency_keys, enqueue_many.job_ids)
                 WITH ORDINALITY AS i (queue, payload, priority, max_retries, not_before, idem, ckey, id, ord)
            ORDER BY i.ord
        ) AS i
        JOIN jq.queues qu ON qu.name = i.queue
    ), ins AS (
        INSERT INTO jq.jobs AS j (job_id, queue_name, payload, priority, max_retries, not_before, idempotency_key, concurrency_key, created_at)
        SELECT i.job_id, i.queue, i.payload, i.priority, i.max_retries, i.not_before, i.idem, i.ckey, i.created_at
        FROM input i
        ORDER BY i.idem IS NULL, i.queue, i.idem, i.ord
        ON CONFLICT (queue_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.job_id, j.queue_name, j.not_before, j.idempotency_key
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, attempt, reason)
        SELECT s.job_id, s.queue_name, NULL, 'PENDING', 0, 'SUBMITTED' FROM ins s
    ), notified AS (
        SELECT pg_notify('jq_job_ready', r.queue_name)
        FROM (SELECT DISTINCT s.queue_name FROM ins s WHERE s.not_before IS NULL OR s.not_before <= now()) AS r
        WHERE enqueue_many.notify
    )
    SELECT array_agg(coalesce(s.job_id, k.job_id) ORDER BY i.ord), array_agg(s.job_id IS NOT NULL ORDER BY i.ord)
    INTO ids, fresh
    FROM input i
    LEFT JOIN ins s ON s.job_id = i.job_id
    LEFT JOIN LATERAL (
        SELECT k.job_id FROM ins k WHERE s.job_id IS NULL AND k.queue_name = i.queue AND k.idempotency_key = i.idem LIMIT 1
    ) AS k ON true
    WHERE (SELECT count(*) FROM notified) >= 0;

    IF array_position(ids, NULL) IS NOT NULL THEN
        -- Keys held by jobs from before this call (a new snapshot sees those committed since).
        ids := ARRAY(
            SELECT coalesce(u.id, (SELECT x.job_id FROM jq.jobs x WHERE x.queue_name = enqueue_many.queues[u.o]
                                   AND x.idempotency_key = nullif(enqueue_many.idempotency_keys[u.o], '')))
            FROM unnest(ids) WITH ORDINALITY AS u (id, o) ORDER BY u.o);
        IF array_position(ids, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'job %: could not insert or find the job with idempotency key % in queue %', array_position(ids, NULL),
                enqueue_many.idempotency_keys[array_position(ids, NULL)], enqueue_many.queues[array_position(ids, NULL)]
                USING HINT = 'the job holding the key was pruned meanwhile: submit again';
        END IF;
    END IF;
    RETURN QUERY SELECT u.o::integer, u.id, u.f FROM unnest(ids, fresh) WITH ORDINALITY AS u (id, f, o);
END
$$;

COMMENT ON FUNCTION jq.enqueue_many(text[], jsonb[], integer[], integer[], timestamptz[], text[], text[], uuid[], boolean) IS
    'jq.enqueue for many jobs in one statement, all or none; returns (ord, job_id, inserted) per job.';


-- _unique_lock is the advisory lock key of a queue's unique key (see jq.enqueue). Two keys
-- whose hashes collide only make their submits take turns.
CREATE OR REPLACE FUNCTION jq._unique_lock(queue text, unique_key text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('jq.unique:' || length(queue) || ':' || queue || ':' || unique_key, 0)
$$;

-- submit inserts a job and returns its id: PENDING, or WAITING while jobs it depends on are
-- unfinished. max_retries NULL takes the queue's; a repeated idempotency key (per queue)
-- returns the existing job's id and inserts nothing, and so does a unique key that matches
-- (see jq.enqueue).
CREATE OR REPLACE FUNCTION jq.submit(
    queue text,
    payload jsonb,
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    not_before timestamptz DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    concurrency_key text DEFAULT NULL,
    unique_key text DEFAULT NULL,
    unique_window interval DEFAULT NULL,
    unique_statuses jq.job_status[] DEFAULT NULL,
    depends_on uuid[] DEFAULT NULL,
    on_dependency_failure text DEFAULT 'cancel'
) RETURNS uuid
LANGUAGE sql AS $$
    SELECT e.job_id FROM jq.enqueue(queue, payload, priority, max_retries, not_before, idempotency_key,
                                    concurrency_key => concurrency_key, unique_key => unique_key,
                                    unique_window => unique_window, unique_statuses => unique_statuses,
                                    depends_on => depends_on, on_dependency_failure => on_dependency_failure) AS e
$$;

COMMENT ON FUNCTION jq.submit(text, jsonb, integer, integer, timestamptz, text, text, text, interval, jq.job_status[], uuid[], text) IS
    'Submit a job: SELECT jq.submit(queue => ''default'', payload => ''{"command": ["echo", "hi"]}''); see jq.enqueue for unique keys and dependencies.';

-- submit_many inserts one PENDING job per payload, in order, with one NOTIFY, and returns the
-- ids in the order of the payloads.
CREATE OR REPLACE FUNCTION jq.submit_many(
    queue text,
    payloads jsonb[],
    priority integer DEFAULT 0
) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    queue_max_retries integer;
BEGIN
    IF submit_many.queue IS NULL OR submit_many.queue = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF submit_many.priority IS NULL OR submit_many.priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'priority % is outside 0-9', coalesce(submit_many.priority::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(submit_many.payloads, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'payload % is null', array_position(submit_many.payloads, NULL) USING ERRCODE = 'JQ005';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(submit_many.queue));
    SELECT q.max_retries INTO queue_max_retries FROM jq.queues q WHERE q.name = submit_many.queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', submit_many.queue USING ERRCODE = 'JQ001';
    END IF;
    IF coalesce(cardinality(submit_many.payloads), 0) = 0 THEN
        RETURN;
    END IF;

    -- clock_timestamp() per row keeps the batch in order under ORDER BY created_at.
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO jq.jobs (job_id, queue_name, payload, priority, max_retries, created_at)
        SELECT jq.uuid_v7(), submit_many.queue, p.payload, submit_many.priority, queue_max_retries, clock_timestamp()
        FROM unnest(submit_many.payloads) WITH ORDINALITY AS p (payload, ord)
        ORDER BY p.ord
        RETURNING jobs.job_id, jobs.queue_name, jobs.created_at
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, attempt, reason)
        SELECT i.job_id, i.queue_name, NULL, 'PENDING', 0, 'SUBMITTED' FROM inserted i
    )
    SELECT i.job_id FROM inserted i ORDER BY i.created_at, i.job_id;

    PERFORM pg_notify('jq_job_ready', submit_many.queue);
END
$$;

COMMENT ON FUNCTION jq.submit_many(text, jsonb[], integer) IS
    'Submit many jobs at once with one NOTIFY; returns their ids in payload order.';

-- sqlfuncs/03_claim.sql

-- Claiming and delivering jobs: PENDING -> ASSIGNED -> RUNNING, or back to PENDING when the
-- delivery fails.

-- _claim_above locks up to total runnable PENDING jobs of a queue from its floors (see
-- jq.claim_for), in claim order: one index range scan of jobs_claim_idx per priority, highest
-- first, each from its floor; the outer LIMIT stops the scans (and the locking) once total are
-- taken. Sorting is off for the planner here: the floors exist because the indexes are full of
-- dead entries, and once ANALYZE has seen how few jobs are PENDING, the planner would rather
-- read every PENDING entry of jobs_queue_status_idx and sort the few it expects (measured:
-- 100-220 ms a claim, 30 s waits, under a 90 s pin) than range-scan jobs_claim_idx. JIT is off
-- with it: the cost the planner adds to a disabled sort (which the window still needs) would
-- make every claim compile its plan (400-900 ms). ROWS keeps the caller's UPDATE on primary-key
-- probes: at the default estimate (1,000 rows) it read the whole bloated table instead (a
-- sequential scan and a hash join, 100-150 ms a claim under the pin).
CREATE OR REPLACE FUNCTION jq._claim_above(
    queue text,
    total integer,
    floors timestamptz[]
) RETURNS TABLE (job_id uuid, xmin xid, n bigint)
LANGUAGE sql
ROWS 50
SET enable_sort = off
SET jit = off
AS $$
    SELECT c.job_id, c.xmin, row_number() OVER (ORDER BY c.priority DESC, c.created_at) AS n
    FROM (
        SELECT c.job_id, c.priority, c.created_at, c.xmin
        FROM generate_series(9, 0, -1) AS b (p)
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.priority, j.created_at, j.xmin
            FROM jq.jobs j
            WHERE j.queue_name = _claim_above.queue
              AND j.priority = b.p
              AND j.status = 'PENDING'
              AND j.created_at >= coalesce(_claim_above.floors[b.p + 1], '-infinity')
              AND (j.not_before IS NULL OR j.not_before <= now())
            ORDER BY j.created_at
            LIMIT _claim_above.total
            FOR UPDATE SKIP LOCKED
        ) AS c
        LIMIT _claim_above.total
    ) AS c
$$;

-- _pending_head lists the first entries runnable PENDING jobs of the whole table in claim
-- order (jobs_pending_idx: highest priority first, oldest first), whatever their queue. With
-- floors (see jq.claim_for), each priority's entries are read from its floor: one range scan
-- per priority, highest first, until entries are listed; without, one scan from the head.
-- Meant to be inlined into a caller that turns sorting off (jq._claim_head): the index's order
-- is then the only plan, and the rows come in that order.
CREATE OR REPLACE FUNCTION jq._pending_head(
    entries integer,
    floors timestamptz[]
) RETURNS TABLE (job_id uuid, queue_name text)
LANGUAGE sql STABLE AS $$
    (SELECT j.job_id, j.queue_name
     FROM jq.jobs j
     WHERE _pending_head.floors IS NULL
       AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
     ORDER BY -j.priority, j.created_at
     LIMIT _pending_head.entries)
    UNION ALL
    (SELECT h.job_id, h.queue_name
     FROM generate_series(9, 0, -1) AS b (p)
     CROSS JOIN LATERAL (
         SELECT j.job_id, j.queue_name
         FROM jq.jobs j
         WHERE _pending_head.floors IS NOT NULL
           AND j.status = 'PENDING' AND -j.priority = -b.p
           AND j.created_at >= coalesce(_pending_head.floors[b.p + 1], '-infinity')
           AND (j.not_before IS NULL OR j.not_before <= now())
         ORDER BY -j.priority, j.created_at
         LIMIT _pending_head.entries
     ) AS h
     LIMIT _pending_head.entries)
$$;

-- _pending_count counts jq._pending_head's entries, sorting off as in jq._claim_head.
CREATE OR REPLACE FUNCTION jq._pending_count(
    entries integer,
    floors timestamptz[]
) RETURNS bigint
LANGUAGE sql STABLE
SET enable_sort = off
SET jit = off
AS $$
    SELECT count(*) FROM jq._pending_head(_pending_count.entries, _pending_count.floors)
$$;

-- _claim_head reads the head of the whole table in claim order (jq._pending_head, from floors
-- when given): its first 4 * total runnable PENDING entries, whatever their queue. Of those, it
-- locks the jobs of the given queues in that order, skipping rows other claims hold (so that a
-- concurrent claim, such as another server's, takes the next jobs rather than none), until
-- total are; n is each one's place in the head, seen how many entries the head held. One walk
-- of the index serves both (under MVCC pressure every entry claimed since the horizon was
-- pinned is still in it, unless floors skip them). Sorting is off for the planner, so that the
-- index's order is the only plan; JIT is off with it, and ROWS keeps the caller's statements on
-- primary-key probes (see jq._claim_above).
CREATE OR REPLACE FUNCTION jq._claim_head(
    queues text[],
    total integer,
    floors timestamptz[]
) RETURNS TABLE (job_id uuid, xmin xid, n bigint, seen bigint)
LANGUAGE sql
ROWS 50
SET enable_sort = off
SET jit = off
AS $$
    SELECT c.job_id, c.xmin, h.n, h.seen
    FROM (
        SELECT h.job_id, h.queue_name, row_number() OVER () AS n, count(*) OVER () AS seen
        FROM jq._pending_head(4 * _claim_head.total, _claim_head.floors) AS h
    ) AS h
    CROSS JOIN LATERAL (
        SELECT j.job_id, j.xmin FROM jq.jobs j
        WHERE j.job_id = h.job_id AND h.queue_name = ANY (_claim_head.queues) AND j.status = 'PENDING'
        OFFSET 0
        FOR UPDATE SKIP LOCKED
    ) AS c
    LIMIT _claim_head.total
$$;

-- _check_floors refuses claim floors that are not one per priority 0-9 (see jq.claim_for).
CREATE OR REPLACE FUNCTION jq._check_floors(floors timestamptz[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(cardinality(_check_floors.floors), 0) <> 10 THEN
        RAISE EXCEPTION 'floors must hold 10 entries, one per priority 0-9 (got %)',
            coalesce(cardinality(_check_floors.floors), 0) USING ERRCODE = 'JQ005';
    END IF;
END
$$;

-- _assign is how every path of jq.claim_for ends: the jobs it picked and locked (job_ids in
-- claim order, each with the xmin it was read at) are dealt out to the workers in turn, slot
-- k of every worker for k = 1, 2, ... (the first job to the first worker, the second to the
-- second, skipping workers that are full), marked ASSIGNED with their next attempt, and their
-- CLAIMED events written. A job last written by a transaction newer than this one is left
-- PENDING (see jq.claim_for). Returns the jobs assigned, highest priority first, oldest first.
CREATE OR REPLACE FUNCTION jq._assign(
    job_ids uuid[],
    xmins xid[],
    worker_ids uuid[],
    max_jobs integer[]
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH picked AS (
        SELECT p.job_id, p.xmin, p.n FROM unnest(_assign.job_ids, _assign.xmins) WITH ORDINALITY AS p (job_id, xmin, n)
    ), slots AS (
        SELECT w.worker_id, row_number() OVER (ORDER BY k.k, w.ord) AS n
        FROM unnest(_assign.worker_ids, _assign.max_jobs) WITH ORDINALITY AS w (worker_id, max_jobs, ord)
        CROSS JOIN LATERAL generate_series(1, w.max_jobs) AS k (k)
    ), claimed AS (
        UPDATE jq.jobs j
        SET status = 'ASSIGNED', worker_id = s.worker_id, attempt = j.attempt + 1,
            assigned_at = now(), updated_at = now()
        FROM picked p JOIN slots s ON s.n = p.n
        WHERE j.job_id = p.job_id AND age(p.xmin) >= age(pg_current_xact_id()::xid)
        RETURNING j.*
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT c.job_id, c.queue_name, 'PENDING', 'ASSIGNED', c.worker_id, c.attempt, 'CLAIMED' FROM claimed c
    )
    SELECT * FROM claimed c ORDER BY c.priority DESC, c.created_at;
END
$$;

-- claim_for assigns runnable PENDING jobs of the given queues to several workers at once:
-- up to max_jobs[i] to worker_ids[i]. Jobs are taken highest priority first and oldest first
-- within a priority, skipping rows other claimers hold (so any number of servers can claim at
-- once without waiting on each other or taking a job twice), and dealt out in turn: the first
-- job to the first worker, the second to the second, and so on, skipping workers that are
-- full; list the least loaded worker first. One statement (and one commit) serves them all,
-- where a claim per worker would cost a round trip and a WAL flush each. Every claim
-- increments the job's attempt: its fencing token. If one of the workers is not registered or
-- not ONLINE, nothing is claimed. A job last written by a transaction newer than this one (its
-- events would then go out of order, see jq._in_order) is left for the next claim rather than
-- failing this one: the worker check below takes this transaction's id before the jobs are
-- read, so under jq-bench steady (1,000 jobs/s) about ten claims a second used to fail on a
-- job submitted meanwhile, and were retried.
--
-- Flow control (docs/flow-control.md): of a paused queue nothing is claimed; of a queue with
-- max_running, rate_limit or max_running_per_key at most what its limits allow, its keys in
-- turn. Such queues are claimed holding their claim lock (jq._claim_lock) until the claim
-- commits, so that claims of several servers cannot together exceed a limit; a limited queue
-- never holds back the others. Queues without flow control take the plain path, which costs
-- one more index probe of jq.queues and nothing else.
--
-- floors (docs/observability.md, "MVCC pressure: claim floors"): for a claim without flow
-- control, floors[p + 1] is a created_at below which no runnable PENDING job of priority p
-- (of any of the queues) is looked for. While a long transaction holds back vacuum, the index
-- entries of every job claimed since stay in jobs_claim_idx and jobs_pending_idx, and a claim
-- from the head walks them all (and their rows) before it reaches a PENDING job; from the
-- floors it starts past them. Over several queues they apply to the read of the head
-- (jq._claim_head), not to the merge of the queues' heads, which is rare: only when other
-- queues' jobs fill the head. A caller passing floors owns their correctness: a job that becomes PENDING below a
-- floor (a retry, a release, a submit that commits late) is found only once the floor is
-- lowered (see jq.claim_floor_check). NULL (the default), or a NULL entry, looks from the head.
CREATE OR REPLACE FUNCTION jq.claim_for(
    queues text[],
    worker_ids uuid[],
    max_jobs integer[],
    floors timestamptz[] DEFAULT NULL
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
    total integer;
    checks record;
    bad record;
    fq jq.queues;
    free_queues text[];
    capped_names text[] := '{}';
    capped_caps integer[] := '{}';
    fair_ids uuid[] := '{}';
    fair_ranks integer[] := '{}';
    limited jsonb := '{}';
    cap integer;
    available integer;
    binding text;
    running integer;
    used integer;
    pick record;
    picks integer;
    last_key text;
    result jq.jobs[];
    -- The many-queue merge (see below).
    qs text[];
    k integer;
    todo text[];
    pool_ids uuid[] := '{}';
    pool_prios integer[] := '{}';
    pool_created timestamptz[] := '{}';
    pool_queues text[] := '{}';
    head_ids uuid[];
    head_xmins xid[];
    seen bigint;
    controlled boolean;
    -- What a path picked (and locked), in claim order, for jq._assign.
    picked_ids uuid[];
    picked_xmins xid[];
BEGIN
    IF claim_for.queues IS NULL OR array_position(claim_for.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be an array of queue names without NULL' USING ERRCODE = 'JQ005';
    END IF;
    -- Checked in one statement each (the fixed cost of a small claim is in its statements).
    n := coalesce(cardinality(claim_for.worker_ids), 0);
    SELECT count(DISTINCT w) AS workers, count(w) AS named, count(m) FILTER (WHERE m BETWEEN 1 AND 10000) AS valid,
        min(m) FILTER (WHERE m IS NULL OR m NOT BETWEEN 1 AND 10000) AS invalid, sum(m) AS total, count(*) AS slots
    INTO checks
    FROM unnest(claim_for.worker_ids, claim_for.max_jobs) AS t (w, m);
    IF n = 0 OR checks.slots <> n THEN
        RAISE EXCEPTION 'worker_ids and max_jobs must be non-empty arrays of the same length' USING ERRCODE = 'JQ005';
    ELSIF checks.valid <> n THEN
        RAISE EXCEPTION 'max_jobs % is outside 1-10000', coalesce(checks.invalid::text, 'NULL') USING ERRCODE = 'JQ005';
    ELSIF checks.total > 10000 THEN
        RAISE EXCEPTION 'max_jobs add up to %, over 10000', checks.total USING ERRCODE = 'JQ005';
    ELSIF checks.named <> n OR checks.workers <> n THEN
        RAISE EXCEPTION 'worker_ids must be distinct and not NULL' USING ERRCODE = 'JQ005';
    END IF;
    total := checks.total;
    IF claim_for.floors IS NOT NULL THEN
        PERFORM jq._check_floors(claim_for.floors);
    END IF;
    -- FOR SHARE, in id order (so concurrent claims cannot deadlock): a concurrent reap of a
    -- worker waits for the claim (and then fails the jobs it claimed) instead of missing them.
    IF (SELECT count(*) FROM (
            SELECT 1 FROM jq.workers w WHERE w.worker_id = ANY (claim_for.worker_ids) AND w.status = 'ONLINE'
            ORDER BY w.worker_id FOR SHARE
        ) AS online) <> n THEN
        SELECT i.worker_id, w.status INTO bad
        FROM unnest(claim_for.worker_ids) AS i (worker_id)
        LEFT JOIN jq.workers w ON w.worker_id = i.worker_id
        WHERE w.status IS DISTINCT FROM 'ONLINE'
        ORDER BY i.worker_id
        LIMIT 1;
        IF bad.status IS NULL THEN
            RAISE EXCEPTION 'worker % is not registered', bad.worker_id USING ERRCODE = 'JQ006';
        END IF;
        RAISE EXCEPTION 'worker % is %, not ONLINE', bad.worker_id, bad.status USING ERRCODE = 'JQ003';
    END IF;

    -- The queues, and whether any is under flow control (then the last path below serves them
    -- all): one statement, which PL/pgSQL plans again at each call, for every path.
    SELECT ARRAY(SELECT DISTINCT unnest(claim_for.queues)),
           EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = ANY (claim_for.queues) AND q.flow_controlled)
    INTO qs, controlled;
    IF NOT controlled AND cardinality(qs) > 1 THEN
        -- The plain path for several queues. First the head of the whole table, in claim
        -- order (jq._claim_head): when these queues hold most of it (workers taking every
        -- queue, or the busiest ones), their jobs are taken from there, at the cost of what
        -- it takes. The head is 4 * total entries: if it gave fewer than total jobs without
        -- running out of entries, more of these queues' jobs may lie deeper, behind other
        -- queues' jobs, and the merge below finds them.
        SELECT coalesce(array_agg(h.job_id ORDER BY h.n), '{}'), coalesce(array_agg(h.xmin ORDER BY h.n), '{}'), max(h.seen)
        INTO head_ids, head_xmins, seen
        FROM jq._claim_head(qs, total, claim_for.floors) AS h;
        IF seen IS NULL THEN
            -- Nothing was taken: was there anything at all?
            seen := jq._pending_count(4 * total, claim_for.floors);
        END IF;
        IF cardinality(head_ids) < total AND seen >= 4 * total THEN
            -- A k-way merge of the queues' heads, by priority and age. Reading the first
            -- total jobs of each of N queues would read N times what it takes, which for
            -- hundreds of queues is most of the table: each queue gives its first k = total /
            -- N jobs, and only the queues whose k-th job would still be taken (they may hold
            -- more that rank before the cut) are read again, with a k four times larger, until
            -- none is or k reaches total: the first total candidates are exactly the first
            -- total jobs of the queues together. The reads lock nothing; the candidates not
            -- taken from the head are then locked in order, skipping those another claim
            -- holds, until total are in all. They all rank after the head's.
            todo := qs;
            k := greatest(ceil(total::numeric / cardinality(qs))::integer, 1);
        END IF;
        WHILE cardinality(todo) > 0 LOOP
            WITH merged AS (
                SELECT p.job_id, p.priority, p.created_at, p.queue_name, false AS fresh
                FROM unnest(pool_ids, pool_prios, pool_created, pool_queues) AS p (job_id, priority, created_at, queue_name)
                WHERE p.queue_name <> ALL (todo)
                UNION ALL
                SELECT c.job_id, c.priority, c.created_at, c.queue_name, true
                FROM unnest(todo) AS q (name)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.priority, j.created_at, j.queue_name
                    FROM jq.jobs j
                    WHERE j.queue_name = q.name
                      AND j.status = 'PENDING'
                      AND (j.not_before IS NULL OR j.not_before <= now())
                    ORDER BY j.priority DESC, j.created_at
                    LIMIT k
                ) AS c
            ), ranked AS (
                SELECT m.*, row_number() OVER (ORDER BY m.priority DESC, m.created_at, m.job_id) AS pos FROM merged m
            )
            SELECT array_agg(r.job_id ORDER BY r.pos), array_agg(r.priority ORDER BY r.pos),
                   array_agg(r.created_at ORDER BY r.pos), array_agg(r.queue_name ORDER BY r.pos),
                   -- Queues read now that gave k jobs and whose last one is within the first
                   -- total (or all of them fall short of total): they may hold more that rank.
                   ARRAY(SELECT h.queue_name FROM ranked h WHERE h.fresh GROUP BY h.queue_name
                         HAVING count(*) = k AND (max(h.pos) <= total OR (SELECT count(*) FROM ranked) < total))
            INTO pool_ids, pool_prios, pool_created, pool_queues, todo
            FROM ranked r;
            pool_ids := coalesce(pool_ids, '{}');
            pool_prios := coalesce(pool_prios, '{}');
            pool_created := coalesce(pool_created, '{}');
            pool_queues := coalesce(pool_queues, '{}');
            EXIT WHEN k >= total;
            k := least(k * 4, total);
        END LOOP;

        SELECT coalesce(array_agg(l.job_id ORDER BY l.n), '{}'), coalesce(array_agg(l.xmin ORDER BY l.n), '{}')
        INTO picked_ids, picked_xmins
        FROM (
            SELECT h.job_id, h.xmin, h.n FROM unnest(head_ids, head_xmins) WITH ORDINALITY AS h (job_id, xmin, n)
            UNION ALL
            -- The merge's candidates in order, each locked by its primary key (the LIMIT
            -- stops the nested loop: nothing past it is locked).
            SELECT c.job_id, c.xmin, total + c.n FROM (
                SELECT c.job_id, c.xmin, p.n
                FROM unnest(pool_ids) WITH ORDINALITY AS p (job_id, n)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.xmin FROM jq.jobs j
                    WHERE j.job_id = p.job_id AND j.status = 'PENDING'
                    OFFSET 0
                    FOR UPDATE SKIP LOCKED
                ) AS c
                WHERE p.job_id <> ALL (head_ids)
                LIMIT total - cardinality(head_ids)
            ) AS c
        ) AS l;
    ELSIF NOT controlled AND claim_for.floors IS NOT NULL AND cardinality(qs) = 1 THEN
        -- The plain path for one queue from its floors (jq._claim_above).
        SELECT coalesce(array_agg(a.job_id ORDER BY a.n), '{}'), coalesce(array_agg(a.xmin ORDER BY a.n), '{}')
        INTO picked_ids, picked_xmins
        FROM jq._claim_above(qs[1], total, claim_for.floors) AS a;
    ELSIF NOT controlled THEN
        -- The plain path for one queue: one index range scan (jobs_claim_idx).
        SELECT coalesce(array_agg(c.job_id ORDER BY c.priority DESC, c.created_at), '{}'),
               coalesce(array_agg(c.xmin ORDER BY c.priority DESC, c.created_at), '{}')
        INTO picked_ids, picked_xmins
        FROM (
            SELECT c.job_id, c.priority, c.created_at, c.xmin
            FROM (SELECT DISTINCT unnest(claim_for.queues) AS name) AS q
            CROSS JOIN LATERAL (
                SELECT j.job_id, j.priority, j.created_at, j.xmin
                FROM jq.jobs j
                WHERE j.queue_name = q.name
                  AND j.status = 'PENDING'
                  AND (j.not_before IS NULL OR j.not_before <= now())
                ORDER BY j.priority DESC, j.created_at
                LIMIT total
                FOR UPDATE SKIP LOCKED
            ) AS c
            ORDER BY c.priority DESC, c.created_at
            LIMIT total
        ) AS c;
    END IF;
    IF NOT controlled THEN
        -- Whichever plain path picked them.
        RETURN QUERY SELECT * FROM jq._assign(picked_ids, picked_xmins, claim_for.worker_ids, claim_for.max_jobs);
        RETURN;
    END IF;

    -- Flow control: what each controlled queue may give now, its claim lock held (taken in
    -- name order, so concurrent claims cannot deadlock) until this claim commits; the rows are
    -- read after the locks are granted, so they hold the previous claims' bookkeeping.
    free_queues := ARRAY(SELECT DISTINCT unnest(claim_for.queues));
    PERFORM pg_advisory_xact_lock(jq._claim_lock(l.name)) FROM (
        SELECT q.name FROM jq.queues q WHERE q.name = ANY (claim_for.queues) AND q.flow_controlled ORDER BY q.name) AS l;
    FOR fq IN
        SELECT * FROM jq.queues q WHERE q.name = ANY (claim_for.queues) AND q.flow_controlled ORDER BY q.name
    LOOP
        free_queues := array_remove(free_queues, fq.name);
        cap := total;
        binding := NULL;
        available := NULL; -- counted only when a limit binds: only then can jobs be held back
        IF fq.paused THEN
            cap := 0;
            binding := 'paused';
        ELSE
            IF fq.max_running IS NOT NULL THEN
                -- Two index-only probes of jobs_queue_status_idx.
                running := (SELECT count(*) FROM jq.jobs j WHERE j.queue_name = fq.name AND j.status = 'ASSIGNED')
                         + (SELECT count(*) FROM jq.jobs j WHERE j.queue_name = fq.name AND j.status = 'RUNNING');
                IF fq.max_running - running < cap THEN
                    cap := greatest(fq.max_running - running, 0);
                    binding := 'max_running';
                END IF;
            END IF;
            IF fq.rate_limit IS NOT NULL THEN
                SELECT count(*) INTO used FROM unnest(fq.rate_window) AS t WHERE t > now() - fq.rate_period;
                IF fq.rate_limit - used < cap THEN
                    cap := greatest(fq.rate_limit - used, 0);
                    binding := 'rate';
                END IF;
            END IF;
        END IF;
        IF cap < total THEN
            available := jq._runnable(fq.name, total);
        END IF;
        limited := limited || jsonb_build_object(fq.name, jsonb_build_object(
            'held', greatest(coalesce(available, 0) - cap, 0), 'binding', binding, 'rate', fq.rate_limit IS NOT NULL,
            'fair', fq.max_running_per_key IS NOT NULL));
        IF cap <= 0 THEN
            CONTINUE;
        END IF;
        IF fq.max_running_per_key IS NULL THEN
            capped_names := capped_names || fq.name;
            capped_caps := capped_caps || cap;
        ELSE
            picks := 0;
            last_key := NULL;
            FOR pick IN SELECT * FROM jq._fair_pick(fq.name, cap, fq.max_running_per_key, fq.fair_cursor) LOOP
                fair_ids := fair_ids || pick.job_id;
                fair_ranks := fair_ranks || pick.rr;
                picks := picks + 1;
                last_key := coalesce(pick.concurrency_key, last_key);
            END LOOP;
            -- Jobs the per-key limit kept back, of those the queue could give (when it gave
            -- fewer than it could); the next fair claim starts after the last key served.
            IF picks < cap THEN
                available := coalesce(available, jq._runnable(fq.name, total));
                limited := jsonb_set(limited, ARRAY[fq.name, 'held_per_key'], to_jsonb(greatest(least(available, cap) - picks, 0)));
            END IF;
            limited := jsonb_set(limited, ARRAY[fq.name, 'cursor'], coalesce(to_jsonb(last_key), 'null'));
        END IF;
    END LOOP;

    SELECT coalesce(array_agg(c.job_id ORDER BY c.priority DESC, c.rr, c.created_at), '{}'),
           coalesce(array_agg(c.xmin ORDER BY c.priority DESC, c.rr, c.created_at), '{}')
    INTO picked_ids, picked_xmins
    FROM (
        SELECT c.* FROM (
            SELECT c.job_id, c.priority, c.created_at, c.xmin, 1 AS rr
            FROM unnest(free_queues) AS q (name)
            CROSS JOIN LATERAL (
                SELECT j.job_id, j.priority, j.created_at, j.xmin
                FROM jq.jobs j
                WHERE j.queue_name = q.name AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
                ORDER BY j.priority DESC, j.created_at
                LIMIT total
                FOR UPDATE SKIP LOCKED
            ) AS c
            UNION ALL
            SELECT c.job_id, c.priority, c.created_at, c.xmin, 1 AS rr
            FROM unnest(capped_names, capped_caps) AS q (name, cap)
            CROSS JOIN LATERAL (
                SELECT j.job_id, j.priority, j.created_at, j.xmin
                FROM jq.jobs j
                WHERE j.queue_name = q.name AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
                ORDER BY j.priority DESC, j.created_at
                LIMIT least(total, q.cap)
                FOR UPDATE SKIP LOCKED
            ) AS c
            UNION ALL
            SELECT c.job_id, c.priority, c.created_at, c.xmin, f.rr
            FROM unnest(fair_ids, fair_ranks) AS f (job_id, rr)
            CROSS JOIN LATERAL (
                SELECT j.job_id, j.priority, j.created_at, j.xmin
                FROM jq.jobs j
                WHERE j.job_id = f.job_id AND j.status = 'PENDING'
                OFFSET 0
                FOR UPDATE SKIP LOCKED
            ) AS c
        ) AS c
        ORDER BY c.priority DESC, c.rr, c.created_at
        LIMIT total
    ) AS c;
    result := ARRAY(SELECT a FROM jq._assign(picked_ids, picked_xmins, claim_for.worker_ids, claim_for.max_jobs) AS a);

    -- The limits' bookkeeping: starts in the rate window, where the next fair claim starts,
    -- and the jobs each limit held back.
    UPDATE jq.queues q
    SET rate_window = CASE WHEN (l.v->>'rate')::boolean THEN
                ARRAY(SELECT t FROM unnest(q.rate_window) AS t WHERE t > now() - q.rate_period
                      UNION ALL SELECT now() FROM generate_series(1, coalesce(c.n, 0)))
            ELSE q.rate_window END,
        fair_cursor = CASE WHEN (l.v->>'fair')::boolean AND l.v->>'cursor' IS NOT NULL THEN l.v->>'cursor' ELSE q.fair_cursor END,
        held_paused = q.held_paused + CASE WHEN l.v->>'binding' = 'paused' THEN (l.v->>'held')::bigint ELSE 0 END,
        held_max_running = q.held_max_running + CASE WHEN l.v->>'binding' = 'max_running' THEN (l.v->>'held')::bigint ELSE 0 END,
        held_rate = q.held_rate + CASE WHEN l.v->>'binding' = 'rate' THEN (l.v->>'held')::bigint ELSE 0 END,
        held_per_key = q.held_per_key + coalesce((l.v->>'held_per_key')::bigint, 0)
    FROM jsonb_each(limited) AS l (name, v)
    LEFT JOIN (SELECT r.queue_name, count(*) AS n FROM unnest(result) AS r GROUP BY r.queue_name) AS c ON c.queue_name = l.name
    WHERE q.name = l.name
      AND ((l.v->>'rate')::boolean OR (l.v->>'fair')::boolean OR (l.v->>'held')::bigint > 0
           OR coalesce((l.v->>'held_per_key')::bigint, 0) > 0);

    RETURN QUERY SELECT * FROM unnest(result);
END
$$;

COMMENT ON FUNCTION jq.claim_for(text[], uuid[], integer[], timestamptz[]) IS
    'Assign runnable PENDING jobs of the queues to several registered ONLINE workers at once, up to max_jobs[i] to worker_ids[i] (FOR UPDATE SKIP LOCKED), within the queues'' flow control; floors start each priority''s scan at floors[priority + 1].';

-- claim_floor_check finds, for each priority p whose floor is set (floors[p + 1]), the oldest
-- runnable PENDING job of the queue below that floor: a job claim_for from those floors would
-- not see. It returns their created_at (NULL where there is none), the floors to lower to.
-- It locks nothing and reads what a claim from the head would read: run it off the claim
-- path, now and then.
CREATE OR REPLACE FUNCTION jq.claim_floor_check(
    queue text,
    floors timestamptz[]
) RETURNS timestamptz[]
LANGUAGE plpgsql STABLE
SET enable_sort = off -- jobs_claim_idx, not a sort of jobs_queue_status_idx (see jq._claim_above)
SET jit = off
AS $$
BEGIN
    IF claim_floor_check.queue IS NULL THEN
        RAISE EXCEPTION 'queue must not be NULL' USING ERRCODE = 'JQ005';
    END IF;
    PERFORM jq._check_floors(claim_floor_check.floors);
    RETURN ARRAY(
        SELECT (
            SELECT j.created_at
            FROM jq.jobs j
            WHERE j.queue_name = claim_floor_check.queue
              AND j.priority = f.n - 1
              AND j.status = 'PENDING'
              AND j.created_at < f.floor
              AND (j.not_before IS NULL OR j.not_before <= now())
            ORDER BY j.created_at
            LIMIT 1
        )
        FROM unnest(claim_floor_check.floors) WITH ORDINALITY AS f (floor, n)
        ORDER BY f.n);
END
$$;

COMMENT ON FUNCTION jq.claim_floor_check(text, timestamptz[]) IS
    'For claim floors (one per priority 0-9), the created_at of the oldest runnable PENDING job of the queue below each floor, NULL where none is.';

-- claim_floor_check over several queues: floors kept for the claims of a set of queues, checked
-- for the oldest runnable PENDING job of any of them below each floor (one read of
-- jobs_pending_idx per priority that has a floor; one queue is checked as above).
CREATE OR REPLACE FUNCTION jq.claim_floor_check(
    queues text[],
    floors timestamptz[]
) RETURNS timestamptz[]
LANGUAGE plpgsql STABLE
SET enable_sort = off -- jobs_pending_idx in its order (see jq._claim_head)
SET jit = off
AS $$
BEGIN
    IF claim_floor_check.queues IS NULL OR cardinality(claim_floor_check.queues) = 0
       OR array_position(claim_floor_check.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be a non-empty array of queue names without NULL' USING ERRCODE = 'JQ005';
    ELSIF cardinality(claim_floor_check.queues) = 1 THEN
        RETURN jq.claim_floor_check(claim_floor_check.queues[1], claim_floor_check.floors);
    END IF;
    PERFORM jq._check_floors(claim_floor_check.floors);
    RETURN ARRAY(
        SELECT (
            SELECT j.created_at
            FROM jq.jobs j
            WHERE j.status = 'PENDING'
              AND -j.priority = -(f.n - 1)
              AND j.created_at < f.floor
              AND j.queue_name = ANY (claim_floor_check.queues)
              AND (j.not_before IS NULL OR j.not_before <= now())
            ORDER BY -j.priority, j.created_at
            LIMIT 1
        )
        FROM unnest(claim_floor_check.floors) WITH ORDINALITY AS f (floor, n)
        ORDER BY f.n);
END
$$;

COMMENT ON FUNCTION jq.claim_floor_check(text[], timestamptz[]) IS
    'claim_floor_check for the claim floors of a set of queues: the created_at of the oldest runnable PENDING job of any of them below each floor, NULL where none is.';

-- _runnable counts the runnable PENDING jobs of a queue, up to at_most.
CREATE OR REPLACE FUNCTION jq._runnable(queue text, at_most integer) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer FROM (
        SELECT 1 FROM jq.jobs j
        WHERE j.queue_name = _runnable.queue AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
        LIMIT at_most) AS a
$$;

-- _fair_pick chooses up to cap runnable PENDING jobs of a queue, its concurrency keys in turn
-- from the one after cursor (wrapping round), at most key_cap running per key: within a
-- priority, the first job of each key, then the second of each, and so on. Jobs without a key
-- form one more group. rr is the job's turn. It locks nothing: claim_for locks what it takes.
CREATE OR REPLACE FUNCTION jq._fair_pick(queue text, cap integer, key_cap integer, cursor text)
RETURNS TABLE (job_id uuid, rr integer, concurrency_key text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE after_cursor (k, i) AS (
        (SELECT j.concurrency_key, 1 FROM jq.jobs j
         WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
           AND j.concurrency_key > coalesce(cursor, '')
         ORDER BY j.concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT j.concurrency_key FROM jq.jobs j
                WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
                  AND j.concurrency_key > a.k
                ORDER BY j.concurrency_key LIMIT 1), a.i + 1
        FROM after_cursor a WHERE a.k IS NOT NULL AND a.i < cap
    ), from_start (k, i) AS (
        (SELECT j.concurrency_key, 1 FROM jq.jobs j
         WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
           AND cursor IS NOT NULL
         ORDER BY j.concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT j.concurrency_key FROM jq.jobs j
                WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
                  AND j.concurrency_key > f.k
                ORDER BY j.concurrency_key LIMIT 1), f.i + 1
        FROM from_start f WHERE f.k IS NOT NULL AND f.k <= cursor AND f.i < cap
    ), keys (k, ord) AS (
        SELECT a.k, a.i FROM after_cursor a WHERE a.k IS NOT NULL
        UNION ALL
        SELECT f.k, 1000000 + f.i FROM from_start f WHERE f.k IS NOT NULL AND f.k <= cursor
    ), candidates AS (
        SELECT c.job_id, c.priority, c.created_at, c.n AS rr, keys.ord, keys.k
        FROM keys
        CROSS JOIN LATERAL (
            SELECT greatest(coalesce(key_cap, cap) - (
                SELECT count(*) FROM jq.jobs r
                WHERE r.queue_name = queue AND r.concurrency_key = keys.k AND r.status IN ('ASSIGNED', 'RUNNING')), 0) AS room
        ) AS room
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.priority, j.created_at, row_number() OVER (ORDER BY j.priority DESC, j.created_at)::integer AS n
            FROM (SELECT j.job_id, j.priority, j.created_at FROM jq.jobs j
                  WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key = keys.k
                    AND (j.not_before IS NULL OR j.not_before <= now())
                  ORDER BY j.priority DESC, j.created_at
                  LIMIT least(cap, room.room)) AS j
        ) AS c
        UNION ALL
        SELECT j.job_id, j.priority, j.created_at, j.n, 0, NULL
        FROM (SELECT j.job_id, j.priority, j.created_at, row_number() OVER (ORDER BY j.priority DESC, j.created_at)::integer AS n
              FROM jq.jobs j
              WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NULL
                AND (j.not_before IS NULL OR j.not_before <= now())
              ORDER BY j.priority DESC, j.created_at
              LIMIT cap) AS j
    )
    SELECT c.job_id, c.rr, c.k FROM candidates c
    ORDER BY c.priority DESC, c.rr, c.ord
    LIMIT cap
$$;

-- claim assigns up to max_jobs runnable PENDING jobs of the given queues to one worker:
-- claim_for with a single worker.
CREATE OR REPLACE FUNCTION jq.claim(
    queues text[],
    max_jobs integer,
    worker_id uuid
) RETURNS SETOF jq.jobs
LANGUAGE sql AS $$
    SELECT * FROM jq.claim_for(queues, ARRAY[worker_id], ARRAY[max_jobs])
$$;

COMMENT ON FUNCTION jq.claim(text[], integer, uuid) IS
    'Assign up to max_jobs runnable PENDING jobs of the queues to a registered ONLINE worker (FOR UPDATE SKIP LOCKED).';

-- The batch functions below look jobs up one by one through a LATERAL subquery on the primary
-- key alone, driven by the sorted input array, and check status and worker on the locked row.
-- Written as a join, or with those checks inside the lookup, the generic plan PL/pgSQL caches
-- after a few calls does not know the array's length and rescans the array, or the worker's
-- whole in-flight index, for every row: quadratic (measured: 6.5 s for 4,800 jobs). A lookup
-- by job_id only, fenced with OFFSET 0 so the planner cannot push the checks back into it, can
-- be planned only as a primary-key probe. The sorted order also makes
-- concurrent batches lock rows in the same order, so they cannot deadlock.

-- start_for marks delivered jobs RUNNING: job_ids[i] was delivered to worker_ids[i]. Jobs no
-- longer ASSIGNED to that worker (cancelled, requeued, or already completed by a fast worker)
-- are skipped; the started ones are returned. One call serves every worker of a scheduler.
CREATE OR REPLACE FUNCTION jq.start_for(
    job_ids uuid[],
    worker_ids uuid[]
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF cardinality(start_for.job_ids) IS DISTINCT FROM cardinality(start_for.worker_ids) THEN
        RAISE EXCEPTION 'job_ids and worker_ids must have the same length' USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(start_for.job_ids, NULL) IS NOT NULL OR array_position(start_for.worker_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'job_ids and worker_ids must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    RETURN QUERY
    WITH input AS (
        SELECT DISTINCT ON (i.job_id) i.job_id, i.worker_id
        FROM unnest(start_for.job_ids, start_for.worker_ids) AS i (job_id, worker_id)
        ORDER BY i.job_id
    ), picked AS (
        -- Only rows still ASSIGNED to the worker are locked: most fast jobs have finished
        -- before their start is flushed, and locking a finished row would write it for
        -- nothing. The checks are spelled so that no index can serve them (status as text,
        -- IS NOT DISTINCT FROM), which keeps the lookup a primary-key probe; a row updated
        -- meanwhile is checked again after the lock.
        SELECT j.job_id, j.xmin
        FROM input i
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.xmin FROM jq.jobs j
            WHERE j.job_id = i.job_id AND j.status::text = 'ASSIGNED' AND j.worker_id IS NOT DISTINCT FROM i.worker_id
            FOR UPDATE
        ) AS j
    ), started AS (
        UPDATE jq.jobs j
        SET status = 'RUNNING', started_at = now(), updated_at = now()
        FROM picked
        WHERE j.job_id = picked.job_id AND (age(picked.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
        RETURNING j.*
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT s.job_id, s.queue_name, 'ASSIGNED', 'RUNNING', s.worker_id, s.attempt, 'STARTED' FROM started s
    )
    SELECT * FROM started;
END
$$;

COMMENT ON FUNCTION jq.start_for(uuid[], uuid[]) IS
    'Mark delivered ASSIGNED jobs RUNNING, job_ids[i] delivered to worker_ids[i]; returns the jobs it started.';

-- start marks jobs delivered to one worker RUNNING: start_for with a single worker.
CREATE OR REPLACE FUNCTION jq.start(
    job_ids uuid[],
    worker_id uuid
) RETURNS SETOF jq.jobs
LANGUAGE sql AS $$
    SELECT * FROM jq.start_for(job_ids, array_fill(worker_id, ARRAY[coalesce(cardinality(job_ids), 0)]))
$$;

COMMENT ON FUNCTION jq.start(uuid[], uuid) IS
    'Mark delivered ASSIGNED jobs RUNNING; returns the jobs it started.';

-- release puts jobs ASSIGNED to a worker back to PENDING at once, e.g. when their delivery
-- failed. The retry count is unchanged: the job never ran. Returns how many were released.
CREATE OR REPLACE FUNCTION jq.release(
    job_ids uuid[],
    worker_id uuid,
    reason text DEFAULT 'DELIVERY_FAILED'
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer := 0;
    q text;
BEGIN
    PERFORM jq._not_null(release.worker_id, 'worker_id');
    PERFORM jq._not_null(release.reason, 'reason');
    FOR q IN
        WITH picked AS (
            SELECT j.job_id, j.xmin
            FROM jq._sorted_ids(release.job_ids) AS i (job_id)
            CROSS JOIN LATERAL (
                SELECT j.job_id, j.status, j.worker_id, j.xmin FROM jq.jobs j WHERE j.job_id = i.job_id
            OFFSET 0 FOR UPDATE
            ) AS j
            WHERE j.status = 'ASSIGNED' AND j.worker_id = release.worker_id
        ), released AS (
            UPDATE jq.jobs j
            SET status = 'PENDING', assigned_at = NULL, updated_at = now()
            FROM picked
            WHERE j.job_id = picked.job_id AND (age(picked.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
            RETURNING j.*
        ), events AS (
            INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
            SELECT r.job_id, r.queue_name, 'ASSIGNED', 'PENDING', r.worker_id, r.attempt, release.reason FROM released r
        )
        SELECT r.queue_name FROM released r
    LOOP
        n := n + 1;
        -- PostgreSQL folds identical notifications of one transaction into one.
        PERFORM pg_notify('jq_job_ready', q);
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.release(uuid[], uuid, text) IS
    'Put jobs ASSIGNED to the worker back to PENDING at once (failed delivery); returns how many.';

-- sqlfuncs/04_finish.sql

-- Finishing an attempt: RUNNING -> DONE, or RUNNING -> FAILED -> PENDING (retry with backoff)
-- or -> DEAD_LETTERED (retries spent). A report names the worker and the attempt it was given;
-- a report from an attempt that is no longer current changes nothing and raises JQ004.

-- _current_attempt locks a job and checks that worker_id holds its current attempt, which is
-- ASSIGNED or RUNNING. A job still ASSIGNED is accepted: a fast worker may report before the
-- server's batched jq.start reached the row.
CREATE OR REPLACE FUNCTION jq._current_attempt(
    job_id uuid,
    worker_id uuid,
    attempt integer
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    PERFORM jq._not_null(_current_attempt.job_id, 'job_id');
    PERFORM jq._not_null(_current_attempt.worker_id, 'worker_id');
    IF _current_attempt.attempt IS NULL OR _current_attempt.attempt < 1 THEN
        RAISE EXCEPTION 'attempt must be 1 or more (the attempt of the assignment), got %',
            coalesce(_current_attempt.attempt::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    SELECT * INTO j FROM jq.jobs WHERE job_id = _current_attempt.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', _current_attempt.job_id USING ERRCODE = 'JQ002';
    END IF;
    PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
    IF j.attempt IS DISTINCT FROM _current_attempt.attempt
        OR j.worker_id IS DISTINCT FROM _current_attempt.worker_id
        OR j.status = 'PENDING' THEN
        RAISE EXCEPTION 'stale report for job %: attempt % on worker % is not current (job is % at attempt % on worker %)',
            j.job_id, _current_attempt.attempt, _current_attempt.worker_id, j.status, j.attempt, coalesce(j.worker_id::text, 'none')
            USING ERRCODE = 'JQ004';
    END IF;
    IF j.status NOT IN ('ASSIGNED', 'RUNNING') THEN
        RAISE EXCEPTION 'job % is %, not RUNNING', j.job_id, j.status USING ERRCODE = 'JQ003';
    END IF;
    IF j.status = 'ASSIGNED' THEN
        -- The server marks deliveries RUNNING in batches; a fast job can report first. It was
        -- delivered right after its assignment.
        UPDATE jq.jobs SET status = 'RUNNING', started_at = coalesce(assigned_at, now()), updated_at = now()
        WHERE job_id = j.job_id RETURNING * INTO j;
        PERFORM jq._event(j, 'ASSIGNED', 'RUNNING', 'STARTED');
    END IF;
    RETURN j;
END
$$;

-- _retry_or_bury fails the current attempt of a locked ASSIGNED or RUNNING job: it records
-- the failure, then makes the job PENDING again after a backoff while retries remain (its
-- progress cleared for the next attempt), or DEAD_LETTERED when they are spent (or at once
-- when permanent), which cancels the jobs waiting for it (jq._parents_finished).
CREATE OR REPLACE FUNCTION jq._retry_or_bury(
    j jq.jobs,
    fail_reason text,
    error text,
    base_delay interval,
    max_delay interval,
    permanent boolean
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
DECLARE
    res jq.jobs;
BEGIN
    PERFORM jq._event(j, j.status, 'FAILED', fail_reason, error);
    IF permanent OR j.retry_count >= j.max_retries THEN
        UPDATE jq.jobs
        SET status = 'DEAD_LETTERED', error_message = error, completed_at = now(), updated_at = now()
        WHERE job_id = j.job_id RETURNING * INTO res;
        PERFORM jq._event(res, 'FAILED', 'DEAD_LETTERED',
            CASE WHEN permanent THEN 'PERMANENT_FAILURE' ELSE 'RETRIES_EXHAUSTED' END);
        IF res.has_dependents THEN
            PERFORM jq._parents_finished(ARRAY[res.job_id]);
        END IF;
    ELSE
        UPDATE jq.jobs
        SET status = 'PENDING', retry_count = j.retry_count + 1, error_message = error,
            not_before = now() + jq.backoff(j.retry_count, base_delay, max_delay),
            assigned_at = NULL, updated_at = now(), progress = NULL, progress_message = NULL, progress_at = NULL
        WHERE job_id = j.job_id RETURNING * INTO res;
        PERFORM jq._event(res, 'FAILED', 'PENDING', 'RETRY');
        -- A job runnable at once (no backoff: its worker was lost) wakes the schedulers; one
        -- with a backoff is found by the poll once it ends.
        IF res.not_before <= now() THEN
            PERFORM pg_notify('jq_job_ready', res.queue_name);
        END IF;
    END IF;
    RETURN res;
END
$$;

-- complete records a successful attempt: RUNNING -> DONE with its result. The jobs that
-- waited for it alone become PENDING (jq._parents_finished).
CREATE OR REPLACE FUNCTION jq.complete(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    result bytea DEFAULT NULL
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    j := jq._current_attempt(complete.job_id, complete.worker_id, complete.attempt);
    UPDATE jq.jobs
    SET status = 'DONE', result = complete.result, error_message = NULL, completed_at = now(), updated_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, 'RUNNING', 'DONE', 'COMPLETED');
    IF j.has_dependents THEN
        PERFORM jq._parents_finished(ARRAY[j.job_id]);
    END IF;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.complete(uuid, uuid, integer, bytea) IS
    'Record a successful attempt (RUNNING -> DONE). The worker and attempt must be the current ones (JQ004 otherwise).';

-- fail records a failed attempt and retries the job after
-- min(base_delay * 2^retry_count, max_delay) plus jitter, or dead-letters it when its retries
-- are spent or the failure is permanent (a payload that can never run).
CREATE OR REPLACE FUNCTION jq.fail(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    error text,
    base_delay interval DEFAULT '1 second',
    max_delay interval DEFAULT '5 minutes',
    permanent boolean DEFAULT false
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF fail.base_delay IS NULL OR fail.max_delay IS NULL OR fail.base_delay < '0' OR fail.base_delay > fail.max_delay THEN
        RAISE EXCEPTION 'base_delay % must be between 0 and max_delay %', fail.base_delay, fail.max_delay USING ERRCODE = 'JQ005';
    END IF;
    j := jq._current_attempt(fail.job_id, fail.worker_id, fail.attempt);
    RETURN jq._retry_or_bury(j, 'FAILED', fail.error, fail.base_delay, fail.max_delay, coalesce(fail.permanent, false));
END
$$;

COMMENT ON FUNCTION jq.fail(uuid, uuid, integer, text, interval, interval, boolean) IS
    'Record a failed attempt: retry after a backoff (PENDING) or dead-letter when retries are spent or permanent.';

-- complete_many is complete for a batch of reports in one statement: the server's hot path.
-- The arrays are parallel (one entry per report). Reports whose attempt is not current are
-- skipped; the completed jobs are returned, so the caller can find the skipped ones and ask
-- jq.complete for the precise reason.
--
-- Jobs with dependents (has_dependents) are noted in jq.finished_parents by the statement,
-- and their dependents released by the next one: that one must read the dependents and their
-- other parents with a snapshot taken after this statement's locks were granted (a
-- dependent's other parent may have finished in a transaction that committed meanwhile). A
-- batch without such jobs notes nothing and pays one look at an empty table.
CREATE OR REPLACE FUNCTION jq.complete_many(
    job_ids uuid[],
    worker_ids uuid[],
    attempts integer[],
    results bytea[]
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF cardinality(complete_many.job_ids) <> cardinality(complete_many.worker_ids)
        OR cardinality(complete_many.job_ids) <> cardinality(complete_many.attempts)
        OR cardinality(complete_many.job_ids) <> cardinality(complete_many.results) THEN
        RAISE EXCEPTION 'job_ids, worker_ids, attempts and results must have the same length' USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(complete_many.job_ids, NULL) IS NOT NULL OR array_position(complete_many.worker_ids, NULL) IS NOT NULL
       OR array_position(complete_many.attempts, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'job_ids, worker_ids and attempts must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    -- One outcome per job: with a job twice, which of its results won would be left to chance.
    IF (SELECT count(DISTINCT x) FROM unnest(complete_many.job_ids) AS x) <> cardinality(complete_many.job_ids) THEN
        RAISE EXCEPTION 'job_ids holds job % more than once',
            (SELECT x FROM unnest(complete_many.job_ids) AS x GROUP BY x HAVING count(*) > 1 LIMIT 1) USING ERRCODE = 'JQ005';
    END IF;
    -- Key lookups driven by the sorted input, as in the batch functions of 03_claim.sql.
    RETURN QUERY
    WITH input AS (
        SELECT * FROM unnest(complete_many.job_ids, complete_many.worker_ids, complete_many.attempts, complete_many.results)
            AS i (job_id, worker_id, attempt, result)
        ORDER BY i.job_id
    ), current AS (
        SELECT j.job_id, j.status AS old_status, i.result, j.xmin
        FROM input i
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.status, j.worker_id, j.attempt, j.xmin FROM jq.jobs j WHERE j.job_id = i.job_id
            OFFSET 0 FOR UPDATE
        ) AS j
        WHERE j.worker_id = i.worker_id AND j.attempt = i.attempt AND j.status IN ('ASSIGNED', 'RUNNING')
    ), done AS (
        UPDATE jq.jobs j
        SET status = 'DONE', result = c.result, error_message = NULL,
            -- Not started yet: the server marks deliveries RUNNING in batches, and a fast job
            -- can finish first. It was delivered right after its assignment.
            started_at = coalesce(j.started_at, j.assigned_at, now()), completed_at = now(), updated_at = now()
        FROM current c
        WHERE j.job_id = c.job_id AND (age(c.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
        RETURNING j.*, c.old_status
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT d.job_id, d.queue_name, 'ASSIGNED'::jq.job_status, 'RUNNING'::jq.job_status, d.worker_id, d.attempt, 'STARTED'
        FROM done d WHERE d.old_status = 'ASSIGNED'
        UNION ALL
        SELECT d.job_id, d.queue_name, 'RUNNING'::jq.job_status, 'DONE'::jq.job_status, d.worker_id, d.attempt, 'COMPLETED'
        FROM done d
    ), parents AS (
        INSERT INTO jq.finished_parents (xid, job_id)
        SELECT pg_current_xact_id(), d.job_id FROM done d WHERE d.has_dependents
    )
    SELECT d.job_id, d.queue_name, d.payload, d.status, d.priority, d.max_retries, d.retry_count, d.attempt,
           d.worker_id, d.result, d.error_message, d.idempotency_key, d.not_before, d.created_at,
           d.assigned_at, d.started_at, d.completed_at, d.updated_at, d.concurrency_key,
           d.unique_key, d.has_dependents, d.progress, d.progress_message, d.progress_at
    FROM done d;
    IF FOUND THEN
        PERFORM jq._release_finished_parents();
    END IF;
END
$$;

COMMENT ON FUNCTION jq.complete_many(uuid[], uuid[], integer[], bytea[]) IS
    'Complete a batch of current attempts in one statement; returns the jobs completed (stale reports are skipped).';

-- snooze ends the current attempt without using a retry: the job is PENDING again, runnable
-- after delay (reason SNOOZED), its retry count unchanged. For a job that asks to run later
-- (a resource not ready yet) rather than failing. The report must be current (JQ004).
CREATE OR REPLACE FUNCTION jq.snooze(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    delay interval
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF snooze.delay IS NULL OR snooze.delay < '0' OR snooze.delay > '30 days' THEN
        RAISE EXCEPTION 'delay must be between 0 and 30 days, got %', coalesce(snooze.delay::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    j := jq._current_attempt(snooze.job_id, snooze.worker_id, snooze.attempt);
    UPDATE jq.jobs
    SET status = 'PENDING', not_before = now() + snooze.delay, assigned_at = NULL, started_at = NULL, updated_at = now(),
        progress = NULL, progress_message = NULL, progress_at = NULL
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, 'RUNNING', 'PENDING', 'SNOOZED', format('snoozed for %s', snooze.delay));
    IF snooze.delay = '0' THEN
        PERFORM pg_notify('jq_job_ready', j.queue_name);
    END IF;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.snooze(uuid, uuid, integer, interval) IS
    'End the current attempt without using a retry: PENDING again after delay (SNOOZED).';

-- report_progress records what the current attempt of a running job says of its progress: a
-- percentage (0 to 100) and a message (its first 1024 characters are kept). The report must
-- be current (JQ004 otherwise), like an outcome's. It is no transition: no event is written.
-- jq-server writes a job's progress at most once a second, the latest report winning
-- (docs/scheduling.md); called from SQL, every call writes.
CREATE OR REPLACE FUNCTION jq.report_progress(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    progress double precision,
    message text DEFAULT NULL
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF report_progress.progress IS NULL OR report_progress.progress = 'NaN' OR report_progress.progress NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'progress must be a percentage from 0 to 100, got %', coalesce(report_progress.progress::text, 'NULL')
            USING ERRCODE = 'JQ005';
    END IF;
    j := jq._current_attempt(report_progress.job_id, report_progress.worker_id, report_progress.attempt);
    UPDATE jq.jobs
    SET progress = report_progress.progress, progress_message = left(report_progress.message, 1024), progress_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.report_progress(uuid, uuid, integer, double precision, text) IS
    'Record the progress (0-100 and a message) of a running job''s current attempt (JQ004 when it is not current).';

-- sqlfuncs/05_operate.sql

-- Operator actions on single jobs.

-- cancel ends a job that has not finished: PENDING, WAITING, ASSIGNED or RUNNING ->
-- CANCELLED (terminal, not retried; reason CANCELLED). The attempt it was in is fenced at once:
-- its worker's late report is refused. A job given to a worker is announced on channel
-- jq_job_cancel ('<job_id>:<worker_id>:<attempt>'), so that the server holding the worker's
-- stream tells it to stop the job (SIGTERM, then SIGKILL after the job's grace). A finished job
-- raises JQ003. actor (see jq._actor) is recorded in the event. The jobs waiting for it are
-- cancelled too (jq._parents_finished), unless they run whatever their dependencies' outcome.
CREATE OR REPLACE FUNCTION jq.cancel(job_id uuid, actor text DEFAULT NULL) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    from_status jq.job_status;
BEGIN
    PERFORM jq._not_null(cancel.job_id, 'job_id');
    SELECT * INTO j FROM jq.jobs WHERE job_id = cancel.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', cancel.job_id USING ERRCODE = 'JQ002';
    END IF;
    PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
    IF j.status NOT IN ('PENDING', 'WAITING', 'ASSIGNED', 'RUNNING') THEN
        RAISE EXCEPTION 'job % is %: only an unfinished job (PENDING, WAITING, ASSIGNED, RUNNING) can be cancelled', j.job_id, j.status
            USING ERRCODE = 'JQ003';
    END IF;
    from_status := j.status;
    UPDATE jq.jobs
    SET status = 'CANCELLED', error_message = 'cancelled', completed_at = now(), updated_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, from_status, 'CANCELLED', 'CANCELLED', NULL, jq._actor(cancel.actor));
    IF from_status IN ('ASSIGNED', 'RUNNING') AND j.worker_id IS NOT NULL THEN
        PERFORM pg_notify('jq_job_cancel', format('%s:%s:%s', j.job_id, j.worker_id, j.attempt));
    END IF;
    IF j.has_dependents THEN
        PERFORM jq._parents_finished(ARRAY[j.job_id]);
    END IF;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.cancel(uuid, text) IS 'Cancel an unfinished job (-> CANCELLED); a running one is fenced and its worker told; actor is recorded in the event.';

-- cancel_many cancels, as jq.cancel each, the unfinished jobs of a queue (every queue when
-- NULL) in one status (every unfinished status when NULL), at most max_rows, oldest first.
-- Returns how many of each queue (queues with none are left out). With dry_run it only
-- counts them.
CREATE OR REPLACE FUNCTION jq.cancel_many(
    queue text DEFAULT NULL,
    status jq.job_status DEFAULT NULL,
    actor text DEFAULT NULL,
    max_rows integer DEFAULT 10000,
    dry_run boolean DEFAULT false
) RETURNS TABLE (queue_name text, cancelled integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j record;
    counts jsonb := '{}';
BEGIN
    PERFORM jq._check_max_rows(cancel_many.max_rows);
    IF cancel_many.status IS NOT NULL AND cancel_many.status NOT IN ('PENDING', 'WAITING', 'ASSIGNED', 'RUNNING') THEN
        RAISE EXCEPTION 'status % is finished: only PENDING, WAITING, ASSIGNED or RUNNING jobs can be cancelled', cancel_many.status
            USING ERRCODE = 'JQ005';
    END IF;
    IF cancel_many.queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = cancel_many.queue) THEN
        RAISE EXCEPTION 'queue % does not exist', cancel_many.queue USING ERRCODE = 'JQ001';
    END IF;
    IF coalesce(cancel_many.dry_run, false) THEN
        RETURN QUERY
        SELECT c.queue_name, count(*)::integer FROM (
            SELECT j.queue_name FROM jq.jobs j
            WHERE (cancel_many.queue IS NULL OR j.queue_name = cancel_many.queue)
              AND j.status = ANY (CASE WHEN cancel_many.status IS NULL THEN '{PENDING,WAITING,ASSIGNED,RUNNING}'::jq.job_status[]
                                      ELSE ARRAY[cancel_many.status] END)
            ORDER BY j.job_id
            LIMIT cancel_many.max_rows) AS c
        GROUP BY c.queue_name ORDER BY c.queue_name;
        RETURN;
    END IF;
    FOR j IN
        SELECT x.job_id, x.queue_name FROM jq.jobs x
        WHERE (cancel_many.queue IS NULL OR x.queue_name = cancel_many.queue)
          AND x.status = ANY (CASE WHEN cancel_many.status IS NULL THEN '{PENDING,WAITING,ASSIGNED,RUNNING}'::jq.job_status[]
                                  ELSE ARRAY[cancel_many.status] END)
        ORDER BY x.job_id
        LIMIT cancel_many.max_rows
    LOOP
        BEGIN
            PERFORM jq.cancel(j.job_id, cancel_many.actor);
            counts := jsonb_set(counts, ARRAY[j.queue_name], to_jsonb(coalesce((counts->>j.queue_name)::integer, 0) + 1));
        EXCEPTION WHEN SQLSTATE 'JQ003' THEN
            NULL; -- it finished meanwhile
        END;
    END LOOP;
    RETURN QUERY SELECT c.key, c.value::integer FROM jsonb_each_text(counts) AS c ORDER BY c.key;
END
$$;

COMMENT ON FUNCTION jq.cancel_many(text, jq.job_status, text, integer, boolean) IS
    'Cancel the unfinished jobs of a queue and status (each as jq.cancel); returns how many of each queue. dry_run counts them.';

-- retry makes a FAILED, DEAD_LETTERED or CANCELLED job PENDING again, runnable at once, with
-- its retry count reset (reason MANUAL_RETRY). actor (see jq._actor) is recorded in the event.
-- Jobs that were cancelled because it failed stay cancelled: retry them too.
CREATE OR REPLACE FUNCTION jq.retry(job_id uuid, actor text DEFAULT NULL) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    from_status jq.job_status;
BEGIN
    PERFORM jq._not_null(retry.job_id, 'job_id');
    SELECT * INTO j FROM jq.jobs WHERE job_id = retry.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', retry.job_id USING ERRCODE = 'JQ002';
    END IF;
    PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
    IF j.status NOT IN ('FAILED', 'DEAD_LETTERED', 'CANCELLED') THEN
        RAISE EXCEPTION 'job % is %: only FAILED, DEAD_LETTERED or CANCELLED jobs can be retried', j.job_id, j.status
            USING ERRCODE = 'JQ003';
    END IF;
    from_status := j.status;
    UPDATE jq.jobs
    SET status = 'PENDING', retry_count = 0, not_before = NULL, result = NULL, error_message = NULL,
        assigned_at = NULL, started_at = NULL, completed_at = NULL, updated_at = now(),
        progress = NULL, progress_message = NULL, progress_at = NULL
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, from_status, 'PENDING', 'MANUAL_RETRY', NULL, jq._actor(retry.actor));
    PERFORM pg_notify('jq_job_ready', j.queue_name);
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.retry(uuid, text) IS 'Retry a FAILED, DEAD_LETTERED or CANCELLED job now, retry count reset (reason MANUAL_RETRY); actor is recorded in the event.';

-- sqlfuncs/06_workers.sql

-- Worker registry: registration, heartbeats, draining and loss.

-- register_worker upserts a worker as ONLINE with a fresh heartbeat. Registering again (after
-- a reconnect) keeps registered_at and replaces the rest. A new incarnation (a new process
-- under the same worker_id, e.g. a restarted pod) means the jobs the previous process held
-- are lost: they fail through the retry rule at once (reason WORKER_RESTARTED).
--
-- owner is the credential registering it (an API key's name or a certificate identity): a
-- worker that is not OFFLINE belongs to the credential that registered it, and another one
-- may not take it over (JQ009). max_per_owner, when set, bounds the workers one owner has
-- registered and not OFFLINE (JQ010).
CREATE OR REPLACE FUNCTION jq.register_worker(
    worker_id uuid,
    hostname text,
    concurrency integer,
    queues text[],
    incarnation text DEFAULT '',
    owner text DEFAULT NULL,
    max_per_owner integer DEFAULT NULL
) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
    previous text;
    j jq.jobs;
BEGIN
    IF register_worker.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF register_worker.concurrency IS NULL OR register_worker.concurrency NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'concurrency % is outside 1-4096', coalesce(register_worker.concurrency::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF coalesce(cardinality(register_worker.queues), 0) = 0 THEN
        RAISE EXCEPTION 'a worker must take jobs from at least one queue' USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(register_worker.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(register_worker.queues) AS q WHERE q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$') THEN
        RAISE EXCEPTION 'queues: % is not a valid queue name',
            (SELECT quote_literal(q) FROM unnest(register_worker.queues) AS q WHERE q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' LIMIT 1)
            USING ERRCODE = 'JQ005';
    END IF;
    IF length(register_worker.hostname) > 255 THEN
        RAISE EXCEPTION 'hostname is % characters, over the limit of 255', length(register_worker.hostname) USING ERRCODE = 'JQ005';
    END IF;
    IF register_worker.max_per_owner IS NOT NULL AND register_worker.max_per_owner < 1 THEN
        RAISE EXCEPTION 'max_per_owner % must be positive (NULL for no limit)', register_worker.max_per_owner USING ERRCODE = 'JQ005';
    END IF;
    SELECT * INTO w FROM jq.workers x WHERE x.worker_id = register_worker.worker_id FOR UPDATE;
    IF FOUND THEN
        previous := w.incarnation;
        IF w.status <> 'OFFLINE' AND w.owner IS DISTINCT FROM register_worker.owner THEN
            RAISE EXCEPTION 'worker % is registered by another credential', register_worker.worker_id USING ERRCODE = 'JQ009',
                HINT = 'give each worker its own id, or wait until the worker is OFFLINE';
        END IF;
    END IF;
    IF register_worker.owner IS NOT NULL AND register_worker.max_per_owner IS NOT NULL
       AND (SELECT count(*) FROM jq.workers x
            WHERE x.owner = register_worker.owner AND x.status <> 'OFFLINE' AND x.worker_id <> register_worker.worker_id)
           >= register_worker.max_per_owner THEN
        RAISE EXCEPTION '% already has % workers registered, the limit (auth.max_workers_per_key)',
            register_worker.owner, register_worker.max_per_owner USING ERRCODE = 'JQ010';
    END IF;
    INSERT INTO jq.workers AS w (worker_id, hostname, status, concurrency, active_job_count, queues, incarnation, last_heartbeat, owner)
    VALUES (register_worker.worker_id, coalesce(register_worker.hostname, ''), 'ONLINE', register_worker.concurrency, 0,
            register_worker.queues, coalesce(register_worker.incarnation, ''), now(), register_worker.owner)
    ON CONFLICT (worker_id) DO UPDATE
    SET hostname = excluded.hostname, status = 'ONLINE', concurrency = excluded.concurrency,
        active_job_count = 0, queues = excluded.queues, incarnation = excluded.incarnation,
        shutdown_requested = false, last_heartbeat = now(), updated_at = now(), owner = excluded.owner
    RETURNING * INTO w;
    IF previous IS NOT NULL AND previous <> '' AND previous IS DISTINCT FROM w.incarnation THEN
        FOR j IN
            SELECT * FROM jq.jobs
            WHERE jobs.worker_id = w.worker_id AND status IN ('ASSIGNED', 'RUNNING')
            ORDER BY job_id
            FOR UPDATE
        LOOP
            PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
            PERFORM jq._retry_or_bury(j, 'WORKER_RESTARTED',
                format('worker %s restarted (a new process took its id)', w.worker_id),
                '0', '0', false);
        END LOOP;
    END IF;
    RETURN w;
END
$$;

COMMENT ON FUNCTION jq.register_worker(uuid, text, integer, text[], text, text, integer) IS
    'Register (upsert) a worker as ONLINE, bound to owner; a new incarnation retries the jobs the previous process held.';

-- heartbeat refreshes a worker's last_heartbeat (and, when given, its running job count).
-- An unknown worker raises JQ006; an OFFLINE one (declared lost) raises JQ003 and must
-- register again. With owner set, a worker registered by another credential raises JQ009.
CREATE OR REPLACE FUNCTION jq.heartbeat(
    worker_id uuid,
    active_job_count integer DEFAULT NULL,
    owner text DEFAULT NULL
) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(heartbeat.worker_id, 'worker_id');
    IF heartbeat.active_job_count < 0 THEN
        RAISE EXCEPTION 'active_job_count % is negative', heartbeat.active_job_count USING ERRCODE = 'JQ005';
    END IF;
    UPDATE jq.workers
    SET last_heartbeat = now(), active_job_count = coalesce(heartbeat.active_job_count, active_job_count), updated_at = now()
    WHERE worker_id = heartbeat.worker_id AND status <> 'OFFLINE'
      AND (heartbeat.owner IS NULL OR owner IS NOT DISTINCT FROM heartbeat.owner)
    RETURNING * INTO w;
    IF FOUND THEN
        RETURN w;
    END IF;
    SELECT * INTO w FROM jq.workers WHERE worker_id = heartbeat.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', heartbeat.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF w.status = 'OFFLINE' THEN
        RAISE EXCEPTION 'worker % is OFFLINE; register it again', heartbeat.worker_id USING ERRCODE = 'JQ003';
    END IF;
    RAISE EXCEPTION 'worker % is registered by another credential', heartbeat.worker_id USING ERRCODE = 'JQ009';
END
$$;

COMMENT ON FUNCTION jq.heartbeat(uuid, integer, text) IS 'Refresh a worker''s last_heartbeat (only for its owner, when owner is given).';

-- drain_worker marks an ONLINE worker DRAINING: it gets no new jobs and finishes its own. The
-- action is audited with actor (see jq._actor).
CREATE OR REPLACE FUNCTION jq.drain_worker(worker_id uuid, actor text DEFAULT NULL) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(drain_worker.worker_id, 'worker_id');
    SELECT * INTO w FROM jq.workers WHERE worker_id = drain_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', drain_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF w.status = 'OFFLINE' THEN
        RAISE EXCEPTION 'worker % is OFFLINE', w.worker_id USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.workers SET status = 'DRAINING', updated_at = now()
    WHERE worker_id = w.worker_id RETURNING * INTO w;
    PERFORM jq._audit(drain_worker.actor, 'worker.drain', w.worker_id::text);
    RETURN w;
END
$$;

COMMENT ON FUNCTION jq.drain_worker(uuid, text) IS 'Mark a worker DRAINING: no new jobs, it finishes its running ones.';

-- shutdown_worker drains a worker and asks it to exit once its running jobs are finished. The
-- action is audited with actor (see jq._actor).
CREATE OR REPLACE FUNCTION jq.shutdown_worker(worker_id uuid, actor text DEFAULT NULL) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(shutdown_worker.worker_id, 'worker_id');
    SELECT * INTO w FROM jq.workers WHERE worker_id = shutdown_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', shutdown_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF w.status = 'OFFLINE' THEN
        RAISE EXCEPTION 'worker % is OFFLINE', w.worker_id USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.workers SET status = 'DRAINING', shutdown_requested = true, updated_at = now()
    WHERE worker_id = w.worker_id RETURNING * INTO w;
    PERFORM jq._audit(shutdown_worker.actor, 'worker.shutdown', w.worker_id::text);
    RETURN w;
END
$$;

COMMENT ON FUNCTION jq.shutdown_worker(uuid, text) IS 'Drain a worker and have it exit once its running jobs are finished.';

-- release_worker marks a worker OFFLINE and fails every job it holds (ASSIGNED or RUNNING)
-- through the retry rule with the given reason. Returns how many jobs it failed. Used when a
-- worker is lost (missed heartbeats, a broken stream that did not come back) or deregisters.
-- The attempt did not fail, its worker did: by default the jobs are runnable again at once
-- (no backoff; the retry count still grows, so a job that takes down every worker it runs on
-- ends dead-lettered), and the schedulers are woken. With silent_since set, it does nothing to a worker whose last heartbeat (or registration)
-- is at or after that time.
CREATE OR REPLACE FUNCTION jq.release_worker(
    worker_id uuid,
    reason text DEFAULT 'WORKER_LOST',
    base_delay interval DEFAULT '0',
    max_delay interval DEFAULT '0',
    silent_since timestamptz DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    w jq.workers;
    n integer := 0;
BEGIN
    PERFORM jq._not_null(release_worker.worker_id, 'worker_id');
    PERFORM jq._not_null(release_worker.reason, 'reason');
    SELECT * INTO w FROM jq.workers WHERE worker_id = release_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', release_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    -- With silent_since, a worker that heartbeated or registered again since then is alive
    -- (e.g. it reconnected to another server): leave it alone.
    IF release_worker.silent_since IS NOT NULL AND w.last_heartbeat >= release_worker.silent_since THEN
        RETURN 0;
    END IF;
    UPDATE jq.workers SET status = 'OFFLINE', active_job_count = 0, updated_at = now()
    WHERE worker_id = w.worker_id;
    FOR j IN
        SELECT * FROM jq.jobs
        WHERE worker_id = release_worker.worker_id AND status IN ('ASSIGNED', 'RUNNING')
        ORDER BY job_id
        FOR UPDATE
    LOOP
        PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
        PERFORM jq._retry_or_bury(j, release_worker.reason,
            format('worker %s lost (%s)', release_worker.worker_id, release_worker.reason),
            release_worker.base_delay, release_worker.max_delay, false);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.release_worker(uuid, text, interval, interval, timestamptz) IS
    'Mark a worker OFFLINE and fail its ASSIGNED/RUNNING jobs through the retry rule; returns the number of jobs. With silent_since, only if it has not heartbeated since.';

-- deregister_worker is a worker's clean goodbye: OFFLINE, and any job it still holds is
-- failed through the retry rule (reason DEREGISTERED) so it runs elsewhere. With owner set, a
-- worker registered by another credential raises JQ009 and is left alone.
CREATE OR REPLACE FUNCTION jq.deregister_worker(worker_id uuid, owner text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(deregister_worker.worker_id, 'worker_id');
    SELECT * INTO w FROM jq.workers WHERE worker_id = deregister_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', deregister_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF deregister_worker.owner IS NOT NULL AND w.owner IS DISTINCT FROM deregister_worker.owner THEN
        RAISE EXCEPTION 'worker % is registered by another credential', w.worker_id USING ERRCODE = 'JQ009';
    END IF;
    RETURN jq.release_worker(w.worker_id, 'DEREGISTERED');
END
$$;

COMMENT ON FUNCTION jq.deregister_worker(uuid, text) IS 'Mark a worker OFFLINE; jobs it still holds are retried elsewhere. With owner, only the worker''s own credential may.';

-- reconcile_worker compares what a live worker says it holds (held: the jobs it runs or has
-- not finished reporting) with the jobs the database gives it, and fails through the retry rule
-- (reason WORKER_LOST) those it does not hold: a delivery lost on the way, a process that took
-- another's id. Jobs assigned within grace are left alone, as their delivery may still be on
-- its way. Returns the attempts it failed.
CREATE OR REPLACE FUNCTION jq.reconcile_worker(
    worker_id uuid,
    held uuid[],
    grace interval DEFAULT '30 seconds'
) RETURNS TABLE (job_id uuid, attempt integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF reconcile_worker.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF reconcile_worker.held IS NULL OR array_position(reconcile_worker.held, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'held must be an array of job ids without NULL (empty: none)' USING ERRCODE = 'JQ005';
    END IF;
    IF reconcile_worker.grace IS NULL OR reconcile_worker.grace < '0' THEN
        RAISE EXCEPTION 'grace must not be negative' USING ERRCODE = 'JQ005';
    END IF;
    FOR j IN
        SELECT x.* FROM jq.jobs x
        WHERE x.worker_id = reconcile_worker.worker_id AND x.status IN ('ASSIGNED', 'RUNNING')
          AND x.assigned_at < now() - reconcile_worker.grace
          AND x.job_id <> ALL (reconcile_worker.held)
        ORDER BY x.job_id
        FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM jq._in_order((SELECT y.xmin FROM jq.jobs y WHERE y.job_id = j.job_id));
        PERFORM jq._retry_or_bury(j, 'WORKER_LOST',
            format('worker %s does not hold the job (its heartbeat lists the jobs it holds)', j.worker_id),
            '0', '0', false);
        job_id := j.job_id;
        attempt := j.attempt;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION jq.reconcile_worker(uuid, uuid[], interval) IS
    'Retry (WORKER_LOST) the jobs the database gives a worker that the worker says it does not hold; returns the attempts it failed.';

-- sqlfuncs/07_maintenance.sql

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

-- sqlfuncs/08_queues.sql

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

-- sqlfuncs/09_auth.sql

-- API keys and the audit trail (docs/security.md). Keys are made by jq-server (`jq-server auth
-- create-key`, or AdminService.CreateAPIKey): these functions only ever see a key's SHA-256.

-- create_api_key records a new key. name identifies it for good (JQ007 if taken, even by a
-- revoked key); queues, when not empty, are the only queues the key may use; expires_at, when
-- set, must be in the future. Audited with actor.
CREATE OR REPLACE FUNCTION jq.create_api_key(
    name text,
    role jq.api_key_role,
    key_hash bytea,
    key_prefix text,
    queues text[] DEFAULT '{}',
    expires_at timestamptz DEFAULT NULL,
    actor text DEFAULT NULL
) RETURNS jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k jq.api_keys;
    q text;
BEGIN
    IF create_api_key.name IS NULL OR create_api_key.name !~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$' THEN
        RAISE EXCEPTION 'name % is invalid: use letters, digits and . _ @ - (at most 128, starting with a letter or digit)',
            coalesce(quote_literal(create_api_key.name), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.role IS NULL THEN
        RAISE EXCEPTION 'role must be admin, submitter, worker or reader' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.key_hash IS NULL OR length(create_api_key.key_hash) <> 32 THEN
        RAISE EXCEPTION 'key_hash must be the 32-byte SHA-256 of the key' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.key_prefix IS NULL OR length(create_api_key.key_prefix) NOT BETWEEN 1 AND 16 THEN
        RAISE EXCEPTION 'key_prefix must be 1 to 16 characters' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.queues IS NULL OR array_position(create_api_key.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be an array of queue names (empty for every queue), without NULL' USING ERRCODE = 'JQ005';
    END IF;
    FOREACH q IN ARRAY create_api_key.queues LOOP
        IF q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
            RAISE EXCEPTION 'queues: % is not a valid queue name', quote_literal(q) USING ERRCODE = 'JQ005';
        END IF;
    END LOOP;
    IF create_api_key.expires_at IS NOT NULL AND create_api_key.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at % is not in the future', create_api_key.expires_at USING ERRCODE = 'JQ005';
    END IF;
    INSERT INTO jq.api_keys AS k (name, role, queues, key_hash, key_prefix, created_by, expires_at)
    VALUES (create_api_key.name, create_api_key.role, create_api_key.queues, create_api_key.key_hash,
            create_api_key.key_prefix, jq._actor(create_api_key.actor), create_api_key.expires_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'an API key named % already exists (names are never reused, even after a revoke)', create_api_key.name
            USING ERRCODE = 'JQ007';
    END IF;
    PERFORM jq._audit(create_api_key.actor, 'key.create', k.name,
        jsonb_build_object('role', k.role, 'queues', k.queues, 'expires_at', k.expires_at));
    RETURN k;
END
$$;

COMMENT ON FUNCTION jq.create_api_key(text, jq.api_key_role, bytea, text, text[], timestamptz, text) IS
    'Record a new API key (its SHA-256 only); audited with actor.';

-- revoke_api_key revokes a key: servers refuse it once their cache of it expires
-- (auth.key_cache_ttl). JQ011 for an unknown name, JQ003 if it is already revoked.
CREATE OR REPLACE FUNCTION jq.revoke_api_key(name text, actor text DEFAULT NULL) RETURNS jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k jq.api_keys;
BEGIN
    SELECT * INTO k FROM jq.api_keys WHERE name = revoke_api_key.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no API key is named %', coalesce(quote_literal(revoke_api_key.name), 'NULL') USING ERRCODE = 'JQ011';
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was already revoked at %', k.name, k.revoked_at USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.api_keys SET revoked_at = now(), revoked_by = jq._actor(revoke_api_key.actor)
    WHERE name = k.name RETURNING * INTO k;
    PERFORM jq._audit(revoke_api_key.actor, 'key.revoke', k.name);
    RETURN k;
END
$$;

COMMENT ON FUNCTION jq.revoke_api_key(text, text) IS 'Revoke an API key; audited with actor.';

-- authenticate returns the key whose SHA-256 is key_hash (revoked or expired ones too: the
-- caller decides, and says why it refuses), or no row. It notes the key's use, at most once a
-- minute, so that every server's cache refresh does not write.
CREATE OR REPLACE FUNCTION jq.authenticate(key_hash bytea) RETURNS SETOF jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF authenticate.key_hash IS NULL OR length(authenticate.key_hash) <> 32 THEN
        RAISE EXCEPTION 'key_hash must be the 32-byte SHA-256 of the key' USING ERRCODE = 'JQ005';
    END IF;
    RETURN QUERY
    UPDATE jq.api_keys SET last_used_at = now()
    WHERE key_hash = authenticate.key_hash AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    RETURNING *;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM jq.api_keys WHERE key_hash = authenticate.key_hash;
    END IF;
END
$$;

COMMENT ON FUNCTION jq.authenticate(bytea) IS 'The API key with this SHA-256 (no row if none); notes its use.';

-- sqlfuncs/10_dependencies.sql

-- Dependencies between jobs and workflows (docs/scheduling.md). A job submitted with
-- depends_on (jq.enqueue) is WAITING while one of its parents is unfinished. Whatever finishes
-- a job with dependents (has_dependents) calls jq._parents_finished in the same transaction:
-- complete, complete_many, a dead-letter through the retry rule (fail, reaping, lost workers),
-- TTL expiry, cancel and cancel_many.

-- _parents_finished looks at the WAITING jobs that depend on parents, which this transaction
-- has just finished. A dependent whose parents are all DONE becomes PENDING (reason
-- DEPENDENCIES_MET); one with a parent DEAD_LETTERED or CANCELLED is cancelled (reason
-- DEPENDENCY_FAILED, its error naming that parent) unless its on_failure is 'run', in which
-- case it becomes PENDING once every parent has finished. Cancelled dependents cancel theirs
-- in turn.
--
-- Two parents of one job may finish at once in two transactions, each seeing the other
-- parent unfinished. So each locks the dependent first, and reads its parents in the next
-- statement, with a new snapshot: the transaction that gets the lock second waits for the
-- first to commit, and then sees both parents finished. Dependents are locked in id order.
CREATE OR REPLACE FUNCTION jq._parents_finished(parents uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    child uuid;
    c jq.jobs;
    st record;
    culprit text;
    cascade uuid[] := '{}';
BEGIN
    FOR child IN
        SELECT DISTINCT e.job_id FROM jq.job_dependencies e WHERE e.depends_on = ANY (parents) ORDER BY e.job_id
    LOOP
        SELECT * INTO c FROM jq.jobs x WHERE x.job_id = child FOR UPDATE;
        CONTINUE WHEN NOT FOUND OR c.status <> 'WAITING';
        PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = child));
        SELECT count(*) FILTER (WHERE p.status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')) AS unfinished,
               (array_agg(e.depends_on ORDER BY e.depends_on) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed,
               (array_agg(p.status ORDER BY e.depends_on) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed_status,
               bool_or(e.on_failure = 'run') AS run_anyway
        INTO st
        FROM jq.job_dependencies e
        LEFT JOIN jq.jobs p ON p.job_id = e.depends_on -- a parent pruned since was finished
        WHERE e.job_id = child;
        IF st.failed IS NOT NULL AND NOT st.run_anyway THEN
            SELECT format('%s (job %s)', w.node, w.job_id) INTO culprit FROM jq.workflow_jobs w WHERE w.job_id = st.failed LIMIT 1;
            UPDATE jq.jobs x
            SET status = 'CANCELLED', error_message = format('dependency %s ended %s', coalesce(culprit, 'job ' || st.failed), st.failed_status),
                completed_at = now(), updated_at = now()
            WHERE x.job_id = child RETURNING * INTO c;
            PERFORM jq._event(c, 'WAITING', 'CANCELLED', 'DEPENDENCY_FAILED', c.error_message);
            IF c.has_dependents THEN
                cascade := cascade || child;
            END IF;
        ELSIF st.unfinished = 0 THEN
            UPDATE jq.jobs x SET status = 'PENDING', updated_at = now() WHERE x.job_id = child RETURNING * INTO c;
            PERFORM jq._event(c, 'WAITING', 'PENDING', 'DEPENDENCIES_MET');
            IF c.not_before IS NULL OR c.not_before <= now() THEN
                PERFORM pg_notify('jq_job_ready', c.queue_name);
            END IF;
        END IF;
    END LOOP;
    IF cardinality(cascade) > 0 THEN
        PERFORM jq._parents_finished(cascade);
    END IF;
END
$$;

-- _release_finished_parents releases the dependents of the jobs this transaction noted in
-- jq.finished_parents (see jq.complete_many), and forgets them.
CREATE OR REPLACE FUNCTION jq._release_finished_parents() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    parents uuid[];
BEGIN
    WITH f AS (
        DELETE FROM jq.finished_parents f WHERE f.xid = pg_current_xact_id() RETURNING f.job_id
    )
    SELECT array_agg(f.job_id ORDER BY f.job_id) INTO parents FROM f;
    IF parents IS NOT NULL THEN
        PERFORM jq._parents_finished(parents);
    END IF;
END
$$;

-- _offsets, for positions 1..n and a list of positions, returns where each position's entries
-- start once the list is sorted (1-based; entry n + 1 is one past the end).
CREATE OR REPLACE FUNCTION jq._offsets(list integer[], n integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(o.first ORDER BY o.g) FROM (
        SELECT g, 1 + coalesce(sum(c.cnt) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::integer AS first
        FROM generate_series(1, n + 1) AS g
        LEFT JOIN (SELECT x, count(*) AS cnt FROM unnest(list) AS x GROUP BY x) AS c ON c.x = g) AS o
$$;

-- submit_workflow submits a DAG of named jobs at once, atomically: nodes is a JSON array of
-- objects {"name", "queue" (default "default"), "payload", "priority", "max_retries",
-- "concurrency_key", "depends_on": [names of other nodes], "on_dependency_failure": "cancel"
-- or "run"}, at most 1000 nodes and 10000 edges. Jobs without dependencies are PENDING, the
-- others WAITING (see jq.enqueue). A cycle is refused (JQ005), naming it. Returns the
-- workflow's id and each node's job, in the order of nodes. actor (see jq._actor) is recorded
-- as the workflow's creator.
CREATE OR REPLACE FUNCTION jq.submit_workflow(name text, nodes jsonb, actor text DEFAULT NULL)
RETURNS TABLE (workflow_id uuid, node text, job_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    wf uuid := jq.uuid_v7();
    n integer;
    spec jsonb;
    nm text;
    dep text;
    bad text;
    names text[] := '{}';
    pos jsonb := '{}';
    edge_child integer[] := '{}';
    edge_parent integer[] := '{}';
    by_parent integer[];  -- children, sorted by parent
    by_child integer[];   -- parents, sorted by child
    first_child integer[];
    first_parent integer[];
    indeg integer[];
    topo integer[] := '{}';
    head integer := 1;
    x integer;
    k integer;
    seen integer[];
    path integer[] := '{}';
    cycle text;
    ids uuid[];
    jid uuid;
    parent_ids uuid[];
BEGIN
    IF submit_workflow.name IS NULL OR length(submit_workflow.name) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'name must be 1 to 255 characters' USING ERRCODE = 'JQ005';
    END IF;
    IF jsonb_typeof(submit_workflow.nodes) IS DISTINCT FROM 'array' OR jsonb_array_length(submit_workflow.nodes) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'nodes must be a JSON array of 1 to 1000 nodes' USING ERRCODE = 'JQ005';
    END IF;
    n := jsonb_array_length(submit_workflow.nodes);
    FOR i IN 1..n LOOP
        spec := submit_workflow.nodes -> (i - 1);
        IF jsonb_typeof(spec) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'nodes[%] must be a JSON object', i - 1 USING ERRCODE = 'JQ005';
        END IF;
        SELECT f INTO bad FROM jsonb_object_keys(spec) AS f
        WHERE f NOT IN ('name', 'queue', 'payload', 'priority', 'max_retries', 'concurrency_key', 'depends_on', 'on_dependency_failure')
        LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'nodes[%] has an unknown key %', i - 1, quote_literal(bad) USING ERRCODE = 'JQ005';
        END IF;
        nm := spec ->> 'name';
        IF jsonb_typeof(spec -> 'name') IS DISTINCT FROM 'string' OR nm !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
            RAISE EXCEPTION 'nodes[%].name % is invalid: use letters, digits and . _ : - (at most 128, starting with a letter or digit)',
                i - 1, coalesce(quote_literal(nm), 'NULL') USING ERRCODE = 'JQ005';
        END IF;
        IF pos ? nm THEN
            RAISE EXCEPTION 'nodes: two nodes are named %', nm USING ERRCODE = 'JQ005';
        END IF;
        IF spec -> 'payload' IS NULL OR jsonb_typeof(spec -> 'payload') = 'null' THEN
            RAISE EXCEPTION 'nodes: node % has no payload', nm USING ERRCODE = 'JQ005';
        END IF;
        SELECT f INTO bad FROM unnest(ARRAY['queue', 'concurrency_key', 'on_dependency_failure']) AS f
        WHERE spec ? f AND jsonb_typeof(spec -> f) <> 'string' LIMIT 1;
        IF bad IS NULL THEN
            SELECT f INTO bad FROM unnest(ARRAY['priority', 'max_retries']) AS f
            WHERE spec ? f AND (jsonb_typeof(spec -> f) <> 'number' OR (spec ->> f)::numeric <> trunc((spec ->> f)::numeric)
                                OR abs((spec ->> f)::numeric) > 100000) LIMIT 1;
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'nodes: node %: % must be a %', nm, bad,
                CASE WHEN bad IN ('priority', 'max_retries') THEN 'whole number' ELSE 'string' END USING ERRCODE = 'JQ005';
        END IF;
        IF spec ? 'depends_on' AND jsonb_typeof(spec -> 'depends_on') <> 'array' THEN
            RAISE EXCEPTION 'nodes: node %: depends_on must be an array of node names', nm USING ERRCODE = 'JQ005';
        END IF;
        names := names || nm;
        pos := pos || jsonb_build_object(nm, i);
    END LOOP;

    -- The edges, child and parent by position.
    FOR i IN 1..n LOOP
        spec := submit_workflow.nodes -> (i - 1);
        FOR dep IN SELECT DISTINCT d FROM jsonb_array_elements_text(coalesce(spec -> 'depends_on', '[]')) AS d LOOP
            IF NOT pos ? dep THEN
                RAISE EXCEPTION 'nodes: node % depends on %, which is not a node of the workflow', names[i], quote_literal(dep)
                    USING ERRCODE = 'JQ005';
            END IF;
            IF dep = names[i] THEN
                RAISE EXCEPTION 'nodes: node % depends on itself', dep USING ERRCODE = 'JQ005';
            END IF;
            edge_child := edge_child || i;
            edge_parent := edge_parent || (pos ->> dep)::integer;
        END LOOP;
    END LOOP;
    IF cardinality(edge_child) > 10000 THEN
        RAISE EXCEPTION 'nodes: % dependencies, over the limit of 10000', cardinality(edge_child) USING ERRCODE = 'JQ005';
    END IF;

    -- A topological order (Kahn): the nodes whose parents are all placed, in turn.
    SELECT coalesce(array_agg(e.c ORDER BY e.p, e.c), '{}'), coalesce(array_agg(e.p ORDER BY e.c, e.p), '{}')
    INTO by_parent, by_child FROM unnest(edge_child, edge_parent) AS e (c, p);
    -- first_child[x]: where x's children start in by_parent (and first_parent[x] in by_child).
    first_child := jq._offsets(edge_parent, n);
    first_parent := jq._offsets(edge_child, n);
    indeg := ARRAY(SELECT first_parent[g + 1] - first_parent[g] FROM generate_series(1, n) AS g);
    FOR i IN 1..n LOOP
        IF indeg[i] = 0 THEN
            topo := topo || i;
        END IF;
    END LOOP;
    WHILE head <= cardinality(topo) LOOP
        x := topo[head];
        head := head + 1;
        FOR k IN first_child[x] .. first_child[x + 1] - 1 LOOP
            indeg[by_parent[k]] := indeg[by_parent[k]] - 1;
            IF indeg[by_parent[k]] = 0 THEN
                topo := topo || by_parent[k];
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(topo) < n THEN
        -- Every node left has a parent left: walking from one to such a parent comes back to a
        -- node already seen, and what lies between is a cycle.
        seen := array_fill(0, ARRAY[n]);
        SELECT min(g) INTO x FROM generate_series(1, n) AS g WHERE indeg[g] > 0;
        WHILE seen[x] = 0 LOOP
            path := path || x;
            seen[x] := cardinality(path);
            SELECT min(p) INTO x FROM unnest(by_child[first_parent[x]:first_parent[x + 1] - 1]) AS p WHERE indeg[p] > 0;
        END LOOP;
        SELECT string_agg(names[p], ' → ' ORDER BY o) || ' → ' || names[x] INTO cycle
        FROM unnest(path[seen[x]:]) WITH ORDINALITY AS c (p, o);
        RAISE EXCEPTION 'nodes: the dependencies form a cycle: % (each depends on the next)', cycle USING ERRCODE = 'JQ005';
    END IF;

    INSERT INTO jq.workflows (workflow_id, name, created_by) VALUES (wf, submit_workflow.name, jq._actor(submit_workflow.actor));
    ids := array_fill(NULL::uuid, ARRAY[n]);
    FOREACH x IN ARRAY topo LOOP
        spec := submit_workflow.nodes -> (x - 1);
        parent_ids := ARRAY(SELECT ids[p] FROM unnest(by_child[first_parent[x]:first_parent[x + 1] - 1]) AS p);
        SELECT e.job_id INTO jid FROM jq.enqueue(
            coalesce(spec ->> 'queue', 'default'), spec -> 'payload',
            coalesce((spec ->> 'priority')::numeric::integer, 0), (spec ->> 'max_retries')::numeric::integer,
            concurrency_key => spec ->> 'concurrency_key',
            depends_on => nullif(parent_ids, '{}'),
            on_dependency_failure => coalesce(spec ->> 'on_dependency_failure', 'cancel')) AS e;
        ids[x] := jid;
        INSERT INTO jq.workflow_jobs (workflow_id, node, job_id) VALUES (wf, names[x], jid);
    END LOOP;
    RETURN QUERY SELECT wf, names[g], ids[g] FROM generate_series(1, n) AS g ORDER BY g;
END
$$;

COMMENT ON FUNCTION jq.submit_workflow(text, jsonb, text) IS
    'Submit a DAG of named jobs atomically (a cycle is refused, naming it); returns the workflow id and each node''s job.';

-- sqlfuncs/11_schedules.sql

-- Periodic schedules (docs/scheduling.md). A schedule submits a job to a queue at the times
-- of a cron expression. The expression is parsed by jq-server, whose maintenance leader fires
-- the schedules: these functions store and check what SQL can, and record each fire time once
-- (jq.schedule_fires' primary key), whichever server fires it.
--
-- Errors: JQ012 for an unknown schedule.

-- _check_schedule refuses a schedule argument that is malformed, naming it. The cron
-- expression is checked for its shape (5 fields, or 6 with seconds first, or a descriptor such
-- as @hourly or @every 30s); jq-server parses it fully, and a schedule it cannot parse says why
-- in last_error.
CREATE OR REPLACE FUNCTION jq._check_schedule(
    name text, cron text, time_zone text, priority integer, max_retries integer, overlap text, catch_up text
) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
        RAISE EXCEPTION 'schedule name % is invalid: use letters, digits and . _ : - (at most 128, starting with a letter or digit)',
            coalesce(quote_literal(name), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF cron IS NULL OR length(cron) > 255
       OR NOT (cron ~ '^\s*@(yearly|annually|monthly|weekly|daily|midnight|hourly)\s*$'
               OR cron ~ '^\s*@every\s+[0-9][0-9a-zµ.]*\s*$'
               OR cron ~ '^\s*[0-9A-Za-z*?,/-]+(\s+[0-9A-Za-z*?,/-]+){4,5}\s*$') THEN
        RAISE EXCEPTION 'cron % is not a cron expression: want 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily, @every 30s, ...',
            coalesce(quote_literal(cron), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF time_zone IS NULL OR time_zone = '' THEN
        RAISE EXCEPTION 'time_zone must not be empty (UTC, Europe/Paris, ...)' USING ERRCODE = 'JQ005';
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE time_zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'time_zone % is not a time zone PostgreSQL knows (UTC, Europe/Paris, ...)', quote_literal(time_zone)
            USING ERRCODE = 'JQ005';
    END;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'priority % is outside 0-9', coalesce(priority::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF max_retries NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'max_retries % is outside 0-1000', max_retries USING ERRCODE = 'JQ005';
    END IF;
    IF overlap IS NULL OR overlap NOT IN ('allow', 'skip') THEN
        RAISE EXCEPTION 'overlap % must be allow or skip', coalesce(quote_literal(overlap), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF catch_up IS NULL OR catch_up NOT IN ('none', 'last') THEN
        RAISE EXCEPTION 'catch_up % must be none or last', coalesce(quote_literal(catch_up), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
END
$$;

-- create_schedule creates a schedule: a job (queue, payload, priority, max_retries NULL for
-- the queue's) submitted at each time of cron in time_zone. overlap 'skip' submits nothing
-- while the schedule's previous job is unfinished; catch_up says what a leader does with the
-- times missed while no server ran ('none': skip them, 'last': fire the latest once). JQ007
-- if it exists, unless replace: then its definition is replaced (and its next time computed
-- again if cron or time_zone changed). from_config marks the schedules jq-server applies from
-- its configuration; only they may redefine one of them (JQ003 otherwise). Audited with actor.
CREATE OR REPLACE FUNCTION jq.create_schedule(
    name text,
    cron text,
    queue text,
    payload jsonb,
    time_zone text DEFAULT 'UTC',
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    overlap text DEFAULT 'allow',
    catch_up text DEFAULT 'none',
    replace boolean DEFAULT false,
    from_config boolean DEFAULT false,
    actor text DEFAULT NULL
) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s jq.schedules;
    old jq.schedules;
BEGIN
    PERFORM jq._check_schedule(create_schedule.name, create_schedule.cron, create_schedule.time_zone, create_schedule.priority,
        create_schedule.max_retries, create_schedule.overlap, create_schedule.catch_up);
    IF create_schedule.queue IS NULL OR create_schedule.queue = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF create_schedule.payload IS NULL THEN
        RAISE EXCEPTION 'payload must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = create_schedule.queue) THEN
        RAISE EXCEPTION 'queue % does not exist', create_schedule.queue USING ERRCODE = 'JQ001';
    END IF;
    INSERT INTO jq.schedules AS s (name, cron, time_zone, queue_name, payload, priority, max_retries, overlap, catch_up,
                                   from_config, created_by)
    VALUES (create_schedule.name, trim(create_schedule.cron), create_schedule.time_zone, create_schedule.queue,
            create_schedule.payload, create_schedule.priority, create_schedule.max_retries, create_schedule.overlap,
            create_schedule.catch_up, coalesce(create_schedule.from_config, false), jq._actor(create_schedule.actor))
    ON CONFLICT (name) DO NOTHING
    RETURNING * INTO s;
    IF FOUND THEN
        PERFORM jq._audit(create_schedule.actor, 'schedule.create', s.name,
            jsonb_build_object('cron', s.cron, 'time_zone', s.time_zone, 'queue', s.queue_name));
        RETURN s;
    END IF;
    IF NOT coalesce(create_schedule.replace, false) THEN
        RAISE EXCEPTION 'schedule % already exists', create_schedule.name USING ERRCODE = 'JQ007',
            HINT = 'delete it first, or replace it';
    END IF;
    SELECT * INTO old FROM jq.schedules x WHERE x.name = create_schedule.name FOR UPDATE;
    IF old.from_config AND NOT coalesce(create_schedule.from_config, false) THEN
        RAISE EXCEPTION 'schedule % is defined in jq-server''s configuration (schedules:); change it there', old.name
            USING ERRCODE = 'JQ003';
    END IF;
    IF (old.cron, old.time_zone, old.queue_name, old.payload, old.priority, old.max_retries, old.overlap, old.catch_up, old.from_config)
       IS NOT DISTINCT FROM (trim(create_schedule.cron), create_schedule.time_zone, create_schedule.queue, create_schedule.payload,
                             create_schedule.priority::smallint, create_schedule.max_retries::smallint, create_schedule.overlap,
                             create_schedule.catch_up, coalesce(create_schedule.from_config, false)) THEN
        RETURN old; -- unchanged: a leader applying its configuration again changes nothing
    END IF;
    UPDATE jq.schedules x
    SET cron = trim(create_schedule.cron), time_zone = create_schedule.time_zone, queue_name = create_schedule.queue,
        payload = create_schedule.payload, priority = create_schedule.priority, max_retries = create_schedule.max_retries,
        overlap = create_schedule.overlap, catch_up = create_schedule.catch_up,
        from_config = coalesce(create_schedule.from_config, false),
        next_fire_at = CASE WHEN (x.cron, x.time_zone) = (trim(create_schedule.cron), create_schedule.time_zone)
                            THEN x.next_fire_at END,
        last_error = NULL, updated_at = now()
    WHERE x.name = create_schedule.name
    RETURNING * INTO s;
    PERFORM jq._audit(create_schedule.actor, 'schedule.update', s.name,
        jsonb_build_object('cron', s.cron, 'time_zone', s.time_zone, 'queue', s.queue_name));
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.create_schedule(text, text, text, jsonb, text, integer, integer, text, text, boolean, boolean, text) IS
    'Create (or with replace, redefine) a periodic schedule that submits a job at each time of a cron expression; audited.';

-- _schedule locks a schedule, or raises JQ012.
CREATE OR REPLACE FUNCTION jq._schedule(name text) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    PERFORM jq._not_null(name, 'name');
    SELECT * INTO s FROM jq.schedules x WHERE x.name = _schedule.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule % does not exist', name USING ERRCODE = 'JQ012';
    END IF;
    RETURN s;
END
$$;

-- delete_schedule deletes a schedule (and its record of fires). A schedule of jq-server's
-- configuration is refused (JQ003: remove it from the configuration), unless force. Audited.
CREATE OR REPLACE FUNCTION jq.delete_schedule(name text, actor text DEFAULT NULL, force boolean DEFAULT false) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    s := jq._schedule(delete_schedule.name);
    IF s.from_config AND NOT coalesce(delete_schedule.force, false) THEN
        RAISE EXCEPTION 'schedule % is defined in jq-server''s configuration (schedules:); remove it there', s.name
            USING ERRCODE = 'JQ003';
    END IF;
    DELETE FROM jq.schedules x WHERE x.name = s.name;
    PERFORM jq._audit(delete_schedule.actor, 'schedule.delete', s.name);
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.delete_schedule(text, text, boolean) IS
    'Delete a schedule (a configured one only with force); audited.';

-- pause_schedule stops a schedule firing until it is resumed. Audited.
CREATE OR REPLACE FUNCTION jq.pause_schedule(name text, actor text DEFAULT NULL) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    s := jq._schedule(pause_schedule.name);
    IF NOT s.paused THEN
        UPDATE jq.schedules x SET paused = true WHERE x.name = s.name RETURNING * INTO s;
        PERFORM jq._audit(pause_schedule.actor, 'schedule.pause', s.name);
    END IF;
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.pause_schedule(text, text) IS 'Pause a schedule: it fires no more until resumed; audited.';

-- resume_schedule resumes a paused schedule from now: the times that passed while it was paused
-- are not caught up. Audited.
CREATE OR REPLACE FUNCTION jq.resume_schedule(name text, actor text DEFAULT NULL) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    s := jq._schedule(resume_schedule.name);
    IF s.paused THEN
        UPDATE jq.schedules x SET paused = false, next_fire_at = NULL, updated_at = now() WHERE x.name = s.name RETURNING * INTO s;
        PERFORM jq._audit(resume_schedule.actor, 'schedule.resume', s.name);
    END IF;
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.resume_schedule(text, text) IS 'Resume a paused schedule from now (paused times are not caught up); audited.';

-- _fire submits a schedule's job for fire_time (the row of jq.schedule_fires is the caller's),
-- honouring its overlap policy, and records the outcome: submitted, skipped (the previous job
-- is unfinished) or failed (the submit was refused, e.g. its queue is gone: the error is kept).
CREATE OR REPLACE FUNCTION jq._fire(s jq.schedules, fire_time timestamptz, kind text, OUT outcome text, OUT job_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    err text;
BEGIN
    outcome := kind;
    IF kind = 'submitted' AND s.overlap = 'skip' AND EXISTS (
        SELECT 1 FROM jq.jobs j WHERE j.job_id = s.last_job_id AND j.status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')) THEN
        outcome := 'skipped';
    ELSE
        BEGIN
            SELECT e.job_id INTO job_id FROM jq.enqueue(s.queue_name, s.payload, s.priority, s.max_retries) AS e;
        EXCEPTION WHEN SQLSTATE 'JQ001' OR SQLSTATE 'JQ005' THEN
            outcome := 'failed';
            err := SQLERRM;
        END;
    END IF;
    UPDATE jq.schedule_fires f SET outcome = _fire.outcome, job_id = _fire.job_id, error = err
    WHERE f.schedule_name = s.name AND f.fire_time = _fire.fire_time;
    UPDATE jq.schedules x SET last_job_id = coalesce(_fire.job_id, x.last_job_id), last_error = err WHERE x.name = s.name;
END
$$;

-- fire_schedule fires a schedule for one time of its cron expression, as jq-server's leader
-- does: it records fire_time, submits the job (see jq._fire) and moves next_fire_at forward to
-- next_fire_at. version is the schedule's updated_at that the caller computed the times from:
-- if the schedule was redefined since, nothing happens (outcome 'changed'). A time recorded
-- already (by another server) is not fired again (outcome 'duplicate'), nor is a paused
-- schedule ('paused'). Returns the outcome and the job submitted, if any.
CREATE OR REPLACE FUNCTION jq.fire_schedule(
    name text,
    version timestamptz,
    fire_time timestamptz,
    next_fire_at timestamptz
) RETURNS TABLE (outcome text, job_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s jq.schedules;
    fired record;
BEGIN
    PERFORM jq._not_null(fire_schedule.version, 'version');
    PERFORM jq._not_null(fire_schedule.fire_time, 'fire_time');
    IF fire_schedule.next_fire_at IS NULL OR fire_schedule.next_fire_at <= fire_schedule.fire_time THEN
        RAISE EXCEPTION 'next_fire_at % must be after fire_time %', coalesce(fire_schedule.next_fire_at::text, 'NULL'),
            fire_schedule.fire_time USING ERRCODE = 'JQ005';
    END IF;
    s := jq._schedule(fire_schedule.name);
    IF s.updated_at <> fire_schedule.version THEN
        RETURN QUERY SELECT 'changed'::text, NULL::uuid;
        RETURN;
    END IF;
    IF s.paused THEN
        RETURN QUERY SELECT 'paused'::text, NULL::uuid;
        RETURN;
    END IF;
    UPDATE jq.schedules x
    SET next_fire_at = fire_schedule.next_fire_at, last_fire_at = greatest(x.last_fire_at, fire_schedule.fire_time)
    WHERE x.name = s.name AND (x.next_fire_at IS NULL OR x.next_fire_at < fire_schedule.next_fire_at);
    INSERT INTO jq.schedule_fires (schedule_name, fire_time, outcome)
    VALUES (s.name, fire_schedule.fire_time, 'submitted')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate'::text, f.job_id FROM jq.schedule_fires f
            WHERE f.schedule_name = s.name AND f.fire_time = fire_schedule.fire_time;
        RETURN;
    END IF;
    fired := jq._fire(s, fire_schedule.fire_time, 'submitted');
    RETURN QUERY SELECT fired.outcome, fired.job_id;
END
$$;

COMMENT ON FUNCTION jq.fire_schedule(text, timestamptz, timestamptz, timestamptz) IS
    'Fire a schedule for one of its times, once whatever the number of servers (jq-server''s leader calls it); returns the outcome and the job.';

-- advance_schedule moves a schedule's next_fire_at forward without firing: to its first time
-- (when next_fire_at is NULL) or past times missed while no server ran, counted in missed. As
-- for fire_schedule, version is the updated_at the caller computed from; returns whether it
-- moved (false: redefined, paused, or already further).
CREATE OR REPLACE FUNCTION jq.advance_schedule(
    name text,
    version timestamptz,
    next_fire_at timestamptz,
    missed integer DEFAULT 0
) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM jq._not_null(advance_schedule.name, 'name');
    PERFORM jq._not_null(advance_schedule.version, 'version');
    PERFORM jq._not_null(advance_schedule.next_fire_at, 'next_fire_at');
    IF advance_schedule.missed IS NULL OR advance_schedule.missed < 0 THEN
        RAISE EXCEPTION 'missed must be 0 or more, got %', coalesce(advance_schedule.missed::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    UPDATE jq.schedules x
    SET next_fire_at = advance_schedule.next_fire_at, missed = x.missed + advance_schedule.missed
    WHERE x.name = advance_schedule.name AND x.updated_at = advance_schedule.version AND NOT x.paused
      AND (x.next_fire_at IS NULL OR x.next_fire_at < advance_schedule.next_fire_at);
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION jq.advance_schedule(text, timestamptz, timestamptz, integer) IS
    'Move a schedule''s next fire time forward without firing (its first time, or past missed ones); returns whether it moved.';

-- trigger_schedule fires a schedule now, out of turn (paused or not, whatever its overlap
-- policy), and returns the job submitted; its next time is unchanged. Audited.
CREATE OR REPLACE FUNCTION jq.trigger_schedule(name text, actor text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
    at timestamptz := clock_timestamp();
    fired record;
BEGIN
    s := jq._schedule(trigger_schedule.name);
    INSERT INTO jq.schedule_fires (schedule_name, fire_time, outcome) VALUES (s.name, at, 'triggered');
    fired := jq._fire(s, at, 'triggered');
    IF fired.outcome = 'failed' THEN
        RAISE EXCEPTION 'schedule %: %', s.name, (SELECT f.error FROM jq.schedule_fires f WHERE f.schedule_name = s.name AND f.fire_time = at)
            USING ERRCODE = 'JQ003';
    END IF;
    PERFORM jq._audit(trigger_schedule.actor, 'schedule.trigger', s.name, jsonb_build_object('job_id', fired.job_id));
    RETURN fired.job_id;
END
$$;

COMMENT ON FUNCTION jq.trigger_schedule(text, text) IS 'Fire a schedule now, out of turn; returns the job; audited.';

-- prune_schedule_fires deletes the record of fires older than older_than, at most max_rows
-- per call. Returns how many.
CREATE OR REPLACE FUNCTION jq.prune_schedule_fires(older_than interval, max_rows integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
BEGIN
    IF prune_schedule_fires.older_than IS NULL OR prune_schedule_fires.older_than < '0' THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'JQ005';
    END IF;
    PERFORM jq._check_max_rows(prune_schedule_fires.max_rows);
    DELETE FROM jq.schedule_fires f WHERE (f.schedule_name, f.fire_time) IN (
        SELECT x.schedule_name, x.fire_time FROM jq.schedule_fires x
        WHERE x.fired_at < now() - prune_schedule_fires.older_than
        ORDER BY x.fired_at
        LIMIT prune_schedule_fires.max_rows
        FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.prune_schedule_fires(interval, integer) IS 'Delete the record of schedule fires older than older_than; returns how many.';

-- schedule_failed records why a schedule cannot fire (its expression does not parse, say) in
-- last_error, unless the schedule was redefined since version (the updated_at the caller read).
CREATE OR REPLACE FUNCTION jq.schedule_failed(name text, version timestamptz, error text) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM jq._not_null(schedule_failed.name, 'name');
    PERFORM jq._not_null(schedule_failed.version, 'version');
    PERFORM jq._not_null(schedule_failed.error, 'error');
    UPDATE jq.schedules x SET last_error = left(schedule_failed.error, 4096)
    WHERE x.name = schedule_failed.name AND x.updated_at = schedule_failed.version;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION jq.schedule_failed(text, timestamptz, text) IS 'Record why a schedule cannot fire (last_error); returns whether it did.';

-- migrate:down

-- Functions this migration added or gave a new header.
DROP FUNCTION IF EXISTS jq._assign(job_ids uuid[], xmins xid[], worker_ids uuid[], max_jobs integer[]);
DROP FUNCTION IF EXISTS jq._check_floors(floors timestamptz[]);

-- The functions as the previous sqlfuncs migration left them.
-- sqlfuncs/01_common.sql

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

-- sqlfuncs/02_submit.sql

-- Submitting jobs. Callable from any transaction: the job becomes visible (and the scheduler
-- is woken by NOTIFY) when that transaction commits.

-- enqueue is submit that also says whether it inserted (false: the idempotency key or the
-- unique key matched an existing job, whose id is returned). notify => false leaves the NOTIFY
-- to the caller: jq-server sends one per queue for many submits after they commit (see
-- queue.Announcer), because transactions that NOTIFY serialise their commits on PostgreSQL's
-- notify lock. new_job_id, when given, is the new job's id (jq-server makes it before the
-- insert, so that it can tell, after losing a commit's answer, whether the job exists); NULL
-- makes a UUIDv7.
--
-- Unique jobs: with unique_key, the submit inserts nothing when a job of the queue with that
-- key was created within unique_window (NULL: ever) and is in one of unique_statuses (NULL:
-- any status); it returns that job instead. The check runs under an advisory lock of the
-- queue and key held until commit, so concurrent submits of one key insert one job.
--
-- Dependencies: with depends_on, the job waits for those jobs. It is WAITING while one of them
-- is unfinished and becomes PENDING when the last is DONE (jq._parents_finished). One that
-- ends DEAD_LETTERED or CANCELLED cancels it, unless on_dependency_failure is 'run': then it
-- runs once they have all finished. Depending on a job that has already failed is refused
-- (JQ003) unless on_dependency_failure is 'run'.
CREATE OR REPLACE FUNCTION jq.enqueue(
    queue text,
    payload jsonb,
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    not_before timestamptz DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    notify boolean DEFAULT true,
    new_job_id uuid DEFAULT NULL,
    concurrency_key text DEFAULT NULL,
    unique_key text DEFAULT NULL,
    unique_window interval DEFAULT NULL,
    unique_statuses jq.job_status[] DEFAULT NULL,
    depends_on uuid[] DEFAULT NULL,
    on_dependency_failure text DEFAULT 'cancel'
) RETURNS TABLE (job_id uuid, inserted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    queue_max_retries integer;
    new_job jq.jobs;
    existing uuid;
    key text := nullif(enqueue.idempotency_key, '');
    ukey text := nullif(enqueue.unique_key, '');
    parents uuid[];
    deps record;
    first_status jq.job_status := 'PENDING';
BEGIN
    IF enqueue.queue IS NULL OR enqueue.queue = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF enqueue.payload IS NULL THEN
        RAISE EXCEPTION 'payload must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'priority % is outside 0-9', coalesce(enqueue.priority::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF enqueue.max_retries IS NOT NULL AND enqueue.max_retries NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'max_retries % is outside 0-1000', enqueue.max_retries USING ERRCODE = 'JQ005';
    END IF;
    IF length(enqueue.concurrency_key) > 255 THEN
        RAISE EXCEPTION 'concurrency_key is % characters, over the limit of 255', length(enqueue.concurrency_key) USING ERRCODE = 'JQ005';
    END IF;
    IF length(enqueue.idempotency_key) > 255 THEN
        RAISE EXCEPTION 'idempotency_key is % characters, over the limit of 255', length(enqueue.idempotency_key) USING ERRCODE = 'JQ005';
    END IF;
    -- The unique and dependency arguments are checked only when given: the common submit
    -- pays one test for them.
    IF ukey IS NOT NULL OR enqueue.unique_window IS NOT NULL OR enqueue.unique_statuses IS NOT NULL THEN
        IF length(ukey) > 255 THEN
            RAISE EXCEPTION 'unique_key is % characters, over the limit of 255', length(ukey) USING ERRCODE = 'JQ005';
        END IF;
        IF ukey IS NULL THEN
            RAISE EXCEPTION 'unique_window and unique_statuses need a unique_key' USING ERRCODE = 'JQ005';
        END IF;
        IF enqueue.unique_window <= '0' THEN
            RAISE EXCEPTION 'unique_window % must be positive (NULL: no window)', enqueue.unique_window USING ERRCODE = 'JQ005';
        END IF;
        IF array_position(enqueue.unique_statuses, NULL) IS NOT NULL OR cardinality(enqueue.unique_statuses) = 0 THEN
            RAISE EXCEPTION 'unique_statuses must list statuses, without NULL (NULL: any status)' USING ERRCODE = 'JQ005';
        END IF;
    END IF;
    IF enqueue.depends_on IS NOT NULL OR enqueue.on_dependency_failure IS DISTINCT FROM 'cancel' THEN
        IF coalesce(enqueue.on_dependency_failure, '') NOT IN ('cancel', 'run') THEN
            RAISE EXCEPTION 'on_dependency_failure % must be cancel or run', coalesce(quote_literal(enqueue.on_dependency_failure), 'NULL')
                USING ERRCODE = 'JQ005';
        END IF;
        IF array_position(enqueue.depends_on, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'depends_on must not contain NULL' USING ERRCODE = 'JQ005';
        END IF;
        IF cardinality(enqueue.depends_on) > 1000 THEN
            RAISE EXCEPTION 'depends_on lists % jobs, over the limit of 1000', cardinality(enqueue.depends_on) USING ERRCODE = 'JQ005';
        END IF;
        IF enqueue.new_job_id = ANY (enqueue.depends_on) THEN
            RAISE EXCEPTION 'depends_on: job % cannot depend on itself', enqueue.new_job_id USING ERRCODE = 'JQ005';
        END IF;
    END IF;

    -- The queue cannot be deleted until this transaction ends (see jq._queue_lock).
    PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(enqueue.queue));
    SELECT q.max_retries INTO queue_max_retries FROM jq.queues q WHERE q.name = enqueue.queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', enqueue.queue USING ERRCODE = 'JQ001',
            HINT = 'create it with jq.create_queue or jq-ctl queue create';
    END IF;

    IF ukey IS NOT NULL THEN
        -- Held until commit: the next submit of the key waits, then sees this one's job.
        PERFORM pg_advisory_xact_lock(jq._unique_lock(enqueue.queue, ukey));
        SELECT j.job_id INTO existing FROM jq.jobs j
        WHERE j.queue_name = enqueue.queue AND j.unique_key = ukey
          AND (enqueue.unique_window IS NULL OR j.created_at > now() - enqueue.unique_window)
          AND (enqueue.unique_statuses IS NULL OR j.status = ANY (enqueue.unique_statuses))
        ORDER BY j.created_at DESC
        LIMIT 1;
        IF FOUND THEN
            RETURN QUERY SELECT existing, false;
            RETURN;
        END IF;
    END IF;

    IF coalesce(cardinality(enqueue.depends_on), 0) > 0 THEN
        parents := ARRAY(SELECT DISTINCT d FROM unnest(enqueue.depends_on) AS d ORDER BY d);
        -- Locked (in id order, so concurrent submits cannot deadlock) until this transaction
        -- commits: a parent that finishes meanwhile waits, and then finds this job's edge. The
        -- lock returns each parent as its last committed change left it.
        SELECT count(*) AS found,
               array_agg(p.job_id) FILTER (WHERE p.status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')) AS unfinished,
               (array_agg(p.job_id ORDER BY p.job_id) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed,
               (array_agg(p.status ORDER BY p.job_id) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed_status
        INTO deps
        FROM (SELECT x.job_id, x.status FROM jq.jobs x WHERE x.job_id = ANY (parents) ORDER BY x.job_id FOR NO KEY UPDATE) AS p;
        IF deps.found < cardinality(parents) THEN
            RAISE EXCEPTION 'depends_on: job % not found',
                (SELECT d FROM unnest(parents) AS d WHERE NOT EXISTS (SELECT 1 FROM jq.jobs x WHERE x.job_id = d) LIMIT 1)
                USING ERRCODE = 'JQ002';
        END IF;
        IF deps.failed IS NOT NULL AND enqueue.on_dependency_failure = 'cancel' THEN
            RAISE EXCEPTION 'depends_on: job % is %, so this job could never run', deps.failed, deps.failed_status
                USING ERRCODE = 'JQ003', HINT = 'retry that job first, or submit with on_dependency_failure => ''run''';
        END IF;
        IF deps.unfinished IS NOT NULL THEN
            first_status := 'WAITING';
            UPDATE jq.jobs x SET has_dependents = true WHERE x.job_id = ANY (deps.unfinished) AND NOT x.has_dependents;
        END IF;
    END IF;

    -- Two passes at most: if the job holding the key is pruned between the conflict and the
    -- lookup, the second insert succeeds.
    FOR i IN 1..2 LOOP
        INSERT INTO jq.jobs AS j (job_id, queue_name, payload, status, priority, max_retries, not_before, idempotency_key,
                                  concurrency_key, unique_key)
        VALUES (coalesce(enqueue.new_job_id, jq.uuid_v7()), enqueue.queue, enqueue.payload, first_status, enqueue.priority,
                coalesce(enqueue.max_retries, queue_max_retries), enqueue.not_before, key, nullif(enqueue.concurrency_key, ''), ukey)
        ON CONFLICT (queue_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.* INTO new_job;

        IF new_job.job_id IS NOT NULL THEN
            IF parents IS NOT NULL THEN
                INSERT INTO jq.job_dependencies (job_id, depends_on, on_failure)
                SELECT new_job.job_id, d, enqueue.on_dependency_failure FROM unnest(parents) AS d;
            END IF;
            PERFORM jq._event(new_job, NULL, first_status, 'SUBMITTED');
            IF enqueue.notify AND first_status = 'PENDING' AND (new_job.not_before IS NULL OR new_job.not_before <= now()) THEN
                PERFORM pg_notify('jq_job_ready', enqueue.queue);
            END IF;
            RETURN QUERY SELECT new_job.job_id, true;
            RETURN;
        END IF;

        SELECT j.job_id INTO existing FROM jq.jobs j
        WHERE j.queue_name = enqueue.queue AND j.idempotency_key = key;
        IF FOUND THEN
            RETURN QUERY SELECT existing, false;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'could not insert or find the job with idempotency key % in queue %', key, enqueue.queue;
END
$$;

COMMENT ON FUNCTION jq.enqueue(text, jsonb, integer, integer, timestamptz, text, boolean, uuid, text, text, interval, jq.job_status[], uuid[], text) IS
    'Like jq.submit, and also returns whether a job was inserted (false: the idempotency or unique key matched an existing job).';

-- enqueue_many is enqueue for many jobs in one statement (jq-server's batched submits and
-- SubmitJobs): job i is (queues[i], payloads[i], priorities[i], max_retries[i], not_befores[i],
-- idempotency_keys[i], concurrency_keys[i], job_ids[i]); every array has one element per job
-- (NULL elements take the defaults, as in enqueue: priority 0, the queue's max_retries, a new
-- UUIDv7). All are inserted or none (one bad job fails the call, naming it). A job whose
-- idempotency key matches an existing job, or an earlier job of the batch, is not inserted and
-- returns that job's id. Returns one row per job: its position (ord, from 1), its id and
-- whether it was inserted. Jobs are inserted keyed ones first, in (queue, key) order, so that
-- concurrent batches cannot deadlock on each other's keys; each job's created_at is the clock
-- as the batch is read, in its order, so that the batch is claimed in that order. notify sends one NOTIFY per queue that got a
-- runnable job.
CREATE OR REPLACE FUNCTION jq.enqueue_many(
    queues text[],
    payloads jsonb[],
    priorities integer[] DEFAULT NULL,
    max_retries integer[] DEFAULT NULL,
    not_befores timestamptz[] DEFAULT NULL,
    idempotency_keys text[] DEFAULT NULL,
    concurrency_keys text[] DEFAULT NULL,
    job_ids uuid[] DEFAULT NULL,
    notify boolean DEFAULT true
) RETURNS TABLE (ord integer, job_id uuid, inserted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(cardinality(enqueue_many.queues), 0);
    bad record;
    q text;
    ids uuid[];
    fresh boolean[];
BEGIN
    IF n = 0 OR n > 10000 THEN
        RAISE EXCEPTION 'queues must list 1 to 10000 jobs, got %', n USING ERRCODE = 'JQ005';
    END IF;
    IF cardinality(enqueue_many.payloads) IS DISTINCT FROM n
       OR coalesce(cardinality(enqueue_many.priorities), n) <> n OR coalesce(cardinality(enqueue_many.max_retries), n) <> n
       OR coalesce(cardinality(enqueue_many.not_befores), n) <> n OR coalesce(cardinality(enqueue_many.idempotency_keys), n) <> n
       OR coalesce(cardinality(enqueue_many.concurrency_keys), n) <> n OR coalesce(cardinality(enqueue_many.job_ids), n) <> n THEN
        RAISE EXCEPTION 'payloads, priorities, max_retries, not_befores, idempotency_keys, concurrency_keys and job_ids must have one element per queue (%)', n
            USING ERRCODE = 'JQ005';
    END IF;
    SELECT i.ord, i.queue, i.payload, i.priority, i.max_retries, i.idem, i.ckey INTO bad
    FROM unnest(enqueue_many.queues, enqueue_many.payloads, enqueue_many.priorities, enqueue_many.max_retries,
                enqueue_many.idempotency_keys, enqueue_many.concurrency_keys)
         WITH ORDINALITY AS i (queue, payload, priority, max_retries, idem, ckey, ord)
    WHERE coalesce(i.queue, '') = '' OR i.payload IS NULL OR coalesce(i.priority, 0) NOT BETWEEN 0 AND 9
       OR i.max_retries NOT BETWEEN 0 AND 1000 OR length(i.idem) > 255 OR length(i.ckey) > 255
    ORDER BY i.ord LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'job %: %', bad.ord, CASE
            WHEN coalesce(bad.queue, '') = '' THEN 'queue name must not be empty'
            WHEN bad.payload IS NULL THEN 'payload must not be null'
            WHEN coalesce(bad.priority, 0) NOT BETWEEN 0 AND 9 THEN format('priority %s is outside 0-9', bad.priority)
            WHEN bad.max_retries NOT BETWEEN 0 AND 1000 THEN format('max_retries %s is outside 0-1000', bad.max_retries)
            WHEN length(bad.idem) > 255 THEN format('idempotency_key is %s characters, over the limit of 255', length(bad.idem))
            ELSE format('concurrency_key is %s characters, over the limit of 255', length(bad.ckey)) END
            USING ERRCODE = 'JQ005';
    END IF;

    -- The queues cannot be deleted until this transaction ends (see jq._queue_lock); locked in
    -- name order, and each must exist.
    FOR q IN SELECT DISTINCT x FROM unnest(enqueue_many.queues) AS x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(q));
        IF NOT EXISTS (SELECT 1 FROM jq.queues x WHERE x.name = q) THEN
            RAISE EXCEPTION 'queue % does not exist', q USING ERRCODE = 'JQ001',
                HINT = 'create it with jq.create_queue or jq-ctl queue create';
        END IF;
    END LOOP;

    -- One statement inserts the jobs and their events and notifies. A job skipped for its key
    -- takes the id of the batch's job with that key (this statement's own inserts are not
    -- visible to its reads) or, below, of the job that held the key before.
    WITH input AS (
        SELECT i.ord::integer AS ord, i.queue, i.payload, coalesce(i.priority, 0) AS priority,
               coalesce(i.max_retries, qu.max_retries) AS max_retries, i.not_before,
               nullif(i.idem, '') AS idem, nullif(i.ckey, '') AS ckey, i.job_id, i.created_at
        FROM (
            -- Ids and times in the order of the jobs (the join below may reorder rows).
            SELECT i.*, coalesce(i.id, jq.uuid_v7()) AS job_id, clock_timestamp() AS created_at
            FROM unnest(enqueue_many.queues, enqueue_many.payloads, enqueue_many.priorities, enqueue_many.max_retries,
                        enqueue_many.not_befores, enqueue_many.idempotency_keys, enqueue_many.concurrency_keys, enqueue_many.job_ids)
                 WITH ORDINALITY AS i (queue, payload, priority, max_retries, not_before, idem, ckey, id, ord)
            ORDER BY i.ord
        ) AS i
        JOIN jq.queues qu ON qu.name = i.queue
    ), ins AS (
        INSERT INTO jq.jobs AS j (job_id, queue_name, payload, priority, max_retries, not_before, idempotency_key, concurrency_key, created_at)
        SELECT i.job_id, i.queue, i.payload, i.priority, i.max_retries, i.not_before, i.idem, i.ckey, i.created_at
        FROM input i
        ORDER BY i.idem IS NULL, i.queue, i.idem, i.ord
        ON CONFLICT (queue_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.job_id, j.queue_name, j.not_before, j.idempotency_key
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, attempt, reason)
        SELECT s.job_id, s.queue_name, NULL, 'PENDING', 0, 'SUBMITTED' FROM ins s
    ), notified AS (
        SELECT pg_notify('jq_job_ready', r.queue_name)
        FROM (SELECT DISTINCT s.queue_name FROM ins s WHERE s.not_before IS NULL OR s.not_before <= now()) AS r
        WHERE enqueue_many.notify
    )
    SELECT array_agg(coalesce(s.job_id, k.job_id) ORDER BY i.ord), array_agg(s.job_id IS NOT NULL ORDER BY i.ord)
    INTO ids, fresh
    FROM input i
    LEFT JOIN ins s ON s.job_id = i.job_id
    LEFT JOIN LATERAL (
        SELECT k.job_id FROM ins k WHERE s.job_id IS NULL AND k.queue_name = i.queue AND k.idempotency_key = i.idem LIMIT 1
    ) AS k ON true
    WHERE (SELECT count(*) FROM notified) >= 0;

    IF array_position(ids, NULL) IS NOT NULL THEN
        -- Keys held by jobs from before this call (a new snapshot sees those committed since).
        ids := ARRAY(
            SELECT coalesce(u.id, (SELECT x.job_id FROM jq.jobs x WHERE x.queue_name = enqueue_many.queues[u.o]
                                   AND x.idempotency_key = nullif(enqueue_many.idempotency_keys[u.o], '')))
            FROM unnest(ids) WITH ORDINALITY AS u (id, o) ORDER BY u.o);
        IF array_position(ids, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'job %: could not insert or find the job with idempotency key % in queue %', array_position(ids, NULL),
                enqueue_many.idempotency_keys[array_position(ids, NULL)], enqueue_many.queues[array_position(ids, NULL)]
                USING HINT = 'the job holding the key was pruned meanwhile: submit again';
        END IF;
    END IF;
    RETURN QUERY SELECT u.o::integer, u.id, u.f FROM unnest(ids, fresh) WITH ORDINALITY AS u (id, f, o);
END
$$;

COMMENT ON FUNCTION jq.enqueue_many(text[], jsonb[], integer[], integer[], timestamptz[], text[], text[], uuid[], boolean) IS
    'jq.enqueue for many jobs in one statement, all or none; returns (ord, job_id, inserted) per job.';


-- _unique_lock is the advisory lock key of a queue's unique key (see jq.enqueue). Two keys
-- whose hashes collide only make their submits take turns.
CREATE OR REPLACE FUNCTION jq._unique_lock(queue text, unique_key text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('jq.unique:' || length(queue) || ':' || queue || ':' || unique_key, 0)
$$;

-- submit inserts a job and returns its id: PENDING, or WAITING while jobs it depends on are
-- unfinished. max_retries NULL takes the queue's; a repeated idempotency key (per queue)
-- returns the existing job's id and inserts nothing, and so does a unique key that matches
-- (see jq.enqueue).
CREATE OR REPLACE FUNCTION jq.submit(
    queue text,
    payload jsonb,
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    not_before timestamptz DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    concurrency_key text DEFAULT NULL,
    unique_key text DEFAULT NULL,
    unique_window interval DEFAULT NULL,
    unique_statuses jq.job_status[] DEFAULT NULL,
    depends_on uuid[] DEFAULT NULL,
    on_dependency_failure text DEFAULT 'cancel'
) RETURNS uuid
LANGUAGE sql AS $$
    SELECT e.job_id FROM jq.enqueue(queue, payload, priority, max_retries, not_before, idempotency_key,
                                    concurrency_key => concurrency_key, unique_key => unique_key,
                                    unique_window => unique_window, unique_statuses => unique_statuses,
                                    depends_on => depends_on, on_dependency_failure => on_dependency_failure) AS e
$$;

COMMENT ON FUNCTION jq.submit(text, jsonb, integer, integer, timestamptz, text, text, text, interval, jq.job_status[], uuid[], text) IS
    'Submit a job: SELECT jq.submit(queue => ''default'', payload => ''{"command": ["echo", "hi"]}''); see jq.enqueue for unique keys and dependencies.';

-- submit_many inserts one PENDING job per payload, in order, with one NOTIFY, and returns the
-- ids in the order of the payloads.
CREATE OR REPLACE FUNCTION jq.submit_many(
    queue text,
    payloads jsonb[],
    priority integer DEFAULT 0
) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    queue_max_retries integer;
BEGIN
    IF submit_many.queue IS NULL OR submit_many.queue = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF submit_many.priority IS NULL OR submit_many.priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'priority % is outside 0-9', coalesce(submit_many.priority::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(submit_many.payloads, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'payload % is null', array_position(submit_many.payloads, NULL) USING ERRCODE = 'JQ005';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(submit_many.queue));
    SELECT q.max_retries INTO queue_max_retries FROM jq.queues q WHERE q.name = submit_many.queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', submit_many.queue USING ERRCODE = 'JQ001';
    END IF;
    IF coalesce(cardinality(submit_many.payloads), 0) = 0 THEN
        RETURN;
    END IF;

    -- clock_timestamp() per row keeps the batch in order under ORDER BY created_at.
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO jq.jobs (job_id, queue_name, payload, priority, max_retries, created_at)
        SELECT jq.uuid_v7(), submit_many.queue, p.payload, submit_many.priority, queue_max_retries, clock_timestamp()
        FROM unnest(submit_many.payloads) WITH ORDINALITY AS p (payload, ord)
        ORDER BY p.ord
        RETURNING jobs.job_id, jobs.queue_name, jobs.created_at
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, attempt, reason)
        SELECT i.job_id, i.queue_name, NULL, 'PENDING', 0, 'SUBMITTED' FROM inserted i
    )
    SELECT i.job_id FROM inserted i ORDER BY i.created_at, i.job_id;

    PERFORM pg_notify('jq_job_ready', submit_many.queue);
END
$$;

COMMENT ON FUNCTION jq.submit_many(text, jsonb[], integer) IS
    'Submit many jobs at once with one NOTIFY; returns their ids in payload order.';

-- sqlfuncs/03_claim.sql

-- Claiming and delivering jobs: PENDING -> ASSIGNED -> RUNNING, or back to PENDING when the
-- delivery fails.

-- _claim_above locks up to total runnable PENDING jobs of a queue from its floors (see
-- jq.claim_for), in claim order: one index range scan of jobs_claim_idx per priority, highest
-- first, each from its floor; the outer LIMIT stops the scans (and the locking) once total are
-- taken. Sorting is off for the planner here: the floors exist because the indexes are full of
-- dead entries, and once ANALYZE has seen how few jobs are PENDING, the planner would rather
-- read every PENDING entry of jobs_queue_status_idx and sort the few it expects (measured:
-- 100-220 ms a claim, 30 s waits, under a 90 s pin) than range-scan jobs_claim_idx. JIT is off
-- with it: the cost the planner adds to a disabled sort (which the window still needs) would
-- make every claim compile its plan (400-900 ms). ROWS keeps the caller's UPDATE on primary-key
-- probes: at the default estimate (1,000 rows) it read the whole bloated table instead (a
-- sequential scan and a hash join, 100-150 ms a claim under the pin).
CREATE OR REPLACE FUNCTION jq._claim_above(
    queue text,
    total integer,
    floors timestamptz[]
) RETURNS TABLE (job_id uuid, xmin xid, n bigint)
LANGUAGE sql
ROWS 50
SET enable_sort = off
SET jit = off
AS $$
    SELECT c.job_id, c.xmin, row_number() OVER (ORDER BY c.priority DESC, c.created_at) AS n
    FROM (
        SELECT c.job_id, c.priority, c.created_at, c.xmin
        FROM generate_series(9, 0, -1) AS b (p)
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.priority, j.created_at, j.xmin
            FROM jq.jobs j
            WHERE j.queue_name = _claim_above.queue
              AND j.priority = b.p
              AND j.status = 'PENDING'
              AND j.created_at >= coalesce(_claim_above.floors[b.p + 1], '-infinity')
              AND (j.not_before IS NULL OR j.not_before <= now())
            ORDER BY j.created_at
            LIMIT _claim_above.total
            FOR UPDATE SKIP LOCKED
        ) AS c
        LIMIT _claim_above.total
    ) AS c
$$;

-- _pending_head lists the first entries runnable PENDING jobs of the whole table in claim
-- order (jobs_pending_idx: highest priority first, oldest first), whatever their queue. With
-- floors (see jq.claim_for), each priority's entries are read from its floor: one range scan
-- per priority, highest first, until entries are listed; without, one scan from the head.
-- Meant to be inlined into a caller that turns sorting off (jq._claim_head): the index's order
-- is then the only plan, and the rows come in that order.
CREATE OR REPLACE FUNCTION jq._pending_head(
    entries integer,
    floors timestamptz[]
) RETURNS TABLE (job_id uuid, queue_name text)
LANGUAGE sql STABLE AS $$
    (SELECT j.job_id, j.queue_name
     FROM jq.jobs j
     WHERE _pending_head.floors IS NULL
       AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
     ORDER BY -j.priority, j.created_at
     LIMIT _pending_head.entries)
    UNION ALL
    (SELECT h.job_id, h.queue_name
     FROM generate_series(9, 0, -1) AS b (p)
     CROSS JOIN LATERAL (
         SELECT j.job_id, j.queue_name
         FROM jq.jobs j
         WHERE _pending_head.floors IS NOT NULL
           AND j.status = 'PENDING' AND -j.priority = -b.p
           AND j.created_at >= coalesce(_pending_head.floors[b.p + 1], '-infinity')
           AND (j.not_before IS NULL OR j.not_before <= now())
         ORDER BY -j.priority, j.created_at
         LIMIT _pending_head.entries
     ) AS h
     LIMIT _pending_head.entries)
$$;

-- _pending_count counts jq._pending_head's entries, sorting off as in jq._claim_head.
CREATE OR REPLACE FUNCTION jq._pending_count(
    entries integer,
    floors timestamptz[]
) RETURNS bigint
LANGUAGE sql STABLE
SET enable_sort = off
SET jit = off
AS $$
    SELECT count(*) FROM jq._pending_head(_pending_count.entries, _pending_count.floors)
$$;

-- _claim_head reads the head of the whole table in claim order (jq._pending_head, from floors
-- when given): its first 4 * total runnable PENDING entries, whatever their queue. Of those, it
-- locks the jobs of the given queues in that order, skipping rows other claims hold (so that a
-- concurrent claim, such as another server's, takes the next jobs rather than none), until
-- total are; n is each one's place in the head, seen how many entries the head held. One walk
-- of the index serves both (under MVCC pressure every entry claimed since the horizon was
-- pinned is still in it, unless floors skip them). Sorting is off for the planner, so that the
-- index's order is the only plan; JIT is off with it, and ROWS keeps the caller's statements on
-- primary-key probes (see jq._claim_above).
CREATE OR REPLACE FUNCTION jq._claim_head(
    queues text[],
    total integer,
    floors timestamptz[]
) RETURNS TABLE (job_id uuid, xmin xid, n bigint, seen bigint)
LANGUAGE sql
ROWS 50
SET enable_sort = off
SET jit = off
AS $$
    SELECT c.job_id, c.xmin, h.n, h.seen
    FROM (
        SELECT h.job_id, h.queue_name, row_number() OVER () AS n, count(*) OVER () AS seen
        FROM jq._pending_head(4 * _claim_head.total, _claim_head.floors) AS h
    ) AS h
    CROSS JOIN LATERAL (
        SELECT j.job_id, j.xmin FROM jq.jobs j
        WHERE j.job_id = h.job_id AND h.queue_name = ANY (_claim_head.queues) AND j.status = 'PENDING'
        OFFSET 0
        FOR UPDATE SKIP LOCKED
    ) AS c
    LIMIT _claim_head.total
$$;

-- claim_for assigns runnable PENDING jobs of the given queues to several workers at once:
-- up to max_jobs[i] to worker_ids[i]. Jobs are taken highest priority first and oldest first
-- within a priority, skipping rows other claimers hold (so any number of servers can claim at
-- once without waiting on each other or taking a job twice), and dealt out in turn: the first
-- job to the first worker, the second to the second, and so on, skipping workers that are
-- full; list the least loaded worker first. One statement (and one commit) serves them all,
-- where a claim per worker would cost a round trip and a WAL flush each. Every claim
-- increments the job's attempt: its fencing token. If one of the workers is not registered or
-- not ONLINE, nothing is claimed. A job last written by a transaction newer than this one (its
-- events would then go out of order, see jq._in_order) is left for the next claim rather than
-- failing this one: the worker check below takes this transaction's id before the jobs are
-- read, so under jq-bench steady (1,000 jobs/s) about ten claims a second used to fail on a
-- job submitted meanwhile, and were retried.
--
-- Flow control (docs/flow-control.md): of a paused queue nothing is claimed; of a queue with
-- max_running, rate_limit or max_running_per_key at most what its limits allow, its keys in
-- turn. Such queues are claimed holding their claim lock (jq._claim_lock) until the claim
-- commits, so that claims of several servers cannot together exceed a limit; a limited queue
-- never holds back the others. Queues without flow control take the plain path, which costs
-- one more index probe of jq.queues and nothing else.
--
-- floors (docs/observability.md, "MVCC pressure: claim floors"): for a claim without flow
-- control, floors[p + 1] is a created_at below which no runnable PENDING job of priority p
-- (of any of the queues) is looked for. While a long transaction holds back vacuum, the index
-- entries of every job claimed since stay in jobs_claim_idx and jobs_pending_idx, and a claim
-- from the head walks them all (and their rows) before it reaches a PENDING job; from the
-- floors it starts past them. Over several queues they apply to the read of the head
-- (jq._claim_head), not to the merge of the queues' heads, which is rare: only when other
-- queues' jobs fill the head. A caller passing floors owns their correctness: a job that becomes PENDING below a
-- floor (a retry, a release, a submit that commits late) is found only once the floor is
-- lowered (see jq.claim_floor_check). NULL (the default), or a NULL entry, looks from the head.
CREATE OR REPLACE FUNCTION jq.claim_for(
    queues text[],
    worker_ids uuid[],
    max_jobs integer[],
    floors timestamptz[] DEFAULT NULL
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
    total integer;
    checks record;
    bad record;
    fq jq.queues;
    free_queues text[];
    capped_names text[] := '{}';
    capped_caps integer[] := '{}';
    fair_ids uuid[] := '{}';
    fair_ranks integer[] := '{}';
    limited jsonb := '{}';
    cap integer;
    available integer;
    binding text;
    running integer;
    used integer;
    pick record;
    picks integer;
    last_key text;
    result jq.jobs[];
    -- The many-queue merge (see below).
    qs text[];
    k integer;
    todo text[];
    pool_ids uuid[] := '{}';
    pool_prios integer[] := '{}';
    pool_created timestamptz[] := '{}';
    pool_queues text[] := '{}';
    head_ids uuid[];
    head_xmins xid[];
    seen bigint;
BEGIN
    IF claim_for.queues IS NULL OR array_position(claim_for.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be an array of queue names without NULL' USING ERRCODE = 'JQ005';
    END IF;
    -- Checked in one statement each (the fixed cost of a small claim is in its statements).
    n := coalesce(cardinality(claim_for.worker_ids), 0);
    SELECT count(DISTINCT w) AS workers, count(w) AS named, count(m) FILTER (WHERE m BETWEEN 1 AND 10000) AS valid,
        min(m) FILTER (WHERE m IS NULL OR m NOT BETWEEN 1 AND 10000) AS invalid, sum(m) AS total, count(*) AS slots
    INTO checks
    FROM unnest(claim_for.worker_ids, claim_for.max_jobs) AS t (w, m);
    IF n = 0 OR checks.slots <> n THEN
        RAISE EXCEPTION 'worker_ids and max_jobs must be non-empty arrays of the same length' USING ERRCODE = 'JQ005';
    ELSIF checks.valid <> n THEN
        RAISE EXCEPTION 'max_jobs % is outside 1-10000', coalesce(checks.invalid::text, 'NULL') USING ERRCODE = 'JQ005';
    ELSIF checks.total > 10000 THEN
        RAISE EXCEPTION 'max_jobs add up to %, over 10000', checks.total USING ERRCODE = 'JQ005';
    ELSIF checks.named <> n OR checks.workers <> n THEN
        RAISE EXCEPTION 'worker_ids must be distinct and not NULL' USING ERRCODE = 'JQ005';
    END IF;
    total := checks.total;
    IF claim_for.floors IS NOT NULL AND cardinality(claim_for.floors) <> 10 THEN
        RAISE EXCEPTION 'floors must hold 10 entries, one per priority 0-9 (got %)', cardinality(claim_for.floors)
            USING ERRCODE = 'JQ005';
    END IF;
    -- FOR SHARE, in id order (so concurrent claims cannot deadlock): a concurrent reap of a
    -- worker waits for the claim (and then fails the jobs it claimed) instead of missing them.
    IF (SELECT count(*) FROM (
            SELECT 1 FROM jq.workers w WHERE w.worker_id = ANY (claim_for.worker_ids) AND w.status = 'ONLINE'
            ORDER BY w.worker_id FOR SHARE
        ) AS online) <> n THEN
        SELECT i.worker_id, w.status INTO bad
        FROM unnest(claim_for.worker_ids) AS i (worker_id)
        LEFT JOIN jq.workers w ON w.worker_id = i.worker_id
        WHERE w.status IS DISTINCT FROM 'ONLINE'
        ORDER BY i.worker_id
        LIMIT 1;
        IF bad.status IS NULL THEN
            RAISE EXCEPTION 'worker % is not registered', bad.worker_id USING ERRCODE = 'JQ006';
        END IF;
        RAISE EXCEPTION 'worker % is %, not ONLINE', bad.worker_id, bad.status USING ERRCODE = 'JQ003';
    END IF;

    qs := ARRAY(SELECT DISTINCT unnest(claim_for.queues));
    IF cardinality(qs) > 1 AND NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = ANY (qs) AND q.flow_controlled) THEN
        -- The plain path for several queues. First the head of the whole table, in claim
        -- order (jq._claim_head): when these queues hold most of it (workers taking every
        -- queue, or the busiest ones), their jobs are taken from there, at the cost of what
        -- it takes. The head is 4 * total entries: if it gave fewer than total jobs without
        -- running out of entries, more of these queues' jobs may lie deeper, behind other
        -- queues' jobs, and the merge below finds them.
        SELECT coalesce(array_agg(h.job_id ORDER BY h.n), '{}'), coalesce(array_agg(h.xmin ORDER BY h.n), '{}'), max(h.seen)
        INTO head_ids, head_xmins, seen
        FROM jq._claim_head(qs, total, claim_for.floors) AS h;
        IF seen IS NULL THEN
            -- Nothing was taken: was there anything at all?
            seen := jq._pending_count(4 * total, claim_for.floors);
        END IF;
        IF cardinality(head_ids) < total AND seen >= 4 * total THEN
            -- A k-way merge of the queues' heads, by priority and age. Reading the first
            -- total jobs of each of N queues would read N times what it takes, which for
            -- hundreds of queues is most of the table: each queue gives its first k = total /
            -- N jobs, and only the queues whose k-th job would still be taken (they may hold
            -- more that rank before the cut) are read again, with a k four times larger, until
            -- none is or k reaches total: the first total candidates are exactly the first
            -- total jobs of the queues together. The reads lock nothing; the candidates not
            -- taken from the head are then locked in order, skipping those another claim
            -- holds, until total are in all. They all rank after the head's.
            todo := qs;
            k := greatest(ceil(total::numeric / cardinality(qs))::integer, 1);
        END IF;
        WHILE cardinality(todo) > 0 LOOP
            WITH merged AS (
                SELECT p.job_id, p.priority, p.created_at, p.queue_name, false AS fresh
                FROM unnest(pool_ids, pool_prios, pool_created, pool_queues) AS p (job_id, priority, created_at, queue_name)
                WHERE p.queue_name <> ALL (todo)
                UNION ALL
                SELECT c.job_id, c.priority, c.created_at, c.queue_name, true
                FROM unnest(todo) AS q (name)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.priority, j.created_at, j.queue_name
                    FROM jq.jobs j
                    WHERE j.queue_name = q.name
                      AND j.status = 'PENDING'
                      AND (j.not_before IS NULL OR j.not_before <= now())
                    ORDER BY j.priority DESC, j.created_at
                    LIMIT k
                ) AS c
            ), ranked AS (
                SELECT m.*, row_number() OVER (ORDER BY m.priority DESC, m.created_at, m.job_id) AS pos FROM merged m
            )
            SELECT array_agg(r.job_id ORDER BY r.pos), array_agg(r.priority ORDER BY r.pos),
                   array_agg(r.created_at ORDER BY r.pos), array_agg(r.queue_name ORDER BY r.pos),
                   -- Queues read now that gave k jobs and whose last one is within the first
                   -- total (or all of them fall short of total): they may hold more that rank.
                   ARRAY(SELECT h.queue_name FROM ranked h WHERE h.fresh GROUP BY h.queue_name
                         HAVING count(*) = k AND (max(h.pos) <= total OR (SELECT count(*) FROM ranked) < total))
            INTO pool_ids, pool_prios, pool_created, pool_queues, todo
            FROM ranked r;
            pool_ids := coalesce(pool_ids, '{}');
            pool_prios := coalesce(pool_prios, '{}');
            pool_created := coalesce(pool_created, '{}');
            pool_queues := coalesce(pool_queues, '{}');
            EXIT WHEN k >= total;
            k := least(k * 4, total);
        END LOOP;

        RETURN QUERY
        WITH locked AS (
            SELECT h.job_id, h.xmin, h.n FROM unnest(head_ids, head_xmins) WITH ORDINALITY AS h (job_id, xmin, n)
            UNION ALL
            -- The merge's candidates in order, each locked by its primary key (the LIMIT
            -- stops the nested loop: nothing past it is locked).
            SELECT c.job_id, c.xmin, total + c.n FROM (
                SELECT c.job_id, c.xmin, p.n
                FROM unnest(pool_ids) WITH ORDINALITY AS p (job_id, n)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.xmin FROM jq.jobs j
                    WHERE j.job_id = p.job_id AND j.status = 'PENDING'
                    OFFSET 0
                    FOR UPDATE SKIP LOCKED
                ) AS c
                WHERE p.job_id <> ALL (head_ids)
                LIMIT total - cardinality(head_ids)
            ) AS c
        ), picked AS (
            SELECT l.job_id, l.xmin, row_number() OVER (ORDER BY l.n) AS n FROM locked l
        ), slots AS (
            SELECT w.worker_id, row_number() OVER (ORDER BY k.k, w.ord) AS n
            FROM unnest(claim_for.worker_ids, claim_for.max_jobs) WITH ORDINALITY AS w (worker_id, max_jobs, ord)
            CROSS JOIN LATERAL generate_series(1, w.max_jobs) AS k (k)
        ), claimed AS (
            UPDATE jq.jobs j
            SET status = 'ASSIGNED', worker_id = s.worker_id, attempt = j.attempt + 1,
                assigned_at = now(), updated_at = now()
            FROM picked p JOIN slots s ON s.n = p.n
            WHERE j.job_id = p.job_id AND age(p.xmin) >= age(pg_current_xact_id()::xid)
            RETURNING j.*
        ), events AS (
            INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
            SELECT c.job_id, c.queue_name, 'PENDING', 'ASSIGNED', c.worker_id, c.attempt, 'CLAIMED' FROM claimed c
        )
        SELECT * FROM claimed c ORDER BY c.priority DESC, c.created_at;
        RETURN;
    END IF;

    IF claim_for.floors IS NOT NULL AND cardinality(qs) = 1
       AND NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = qs[1] AND q.flow_controlled) THEN
        -- The plain path for one queue from its floors (jq._claim_above).
        RETURN QUERY
        WITH picked AS (
            SELECT a.job_id, a.xmin, a.n FROM jq._claim_above(qs[1], total, claim_for.floors) AS a
        ), slots AS (
            SELECT w.worker_id, row_number() OVER (ORDER BY k.k, w.ord) AS n
            FROM unnest(claim_for.worker_ids, claim_for.max_jobs) WITH ORDINALITY AS w (worker_id, max_jobs, ord)
            CROSS JOIN LATERAL generate_series(1, w.max_jobs) AS k (k)
        ), claimed AS (
            UPDATE jq.jobs j
            SET status = 'ASSIGNED', worker_id = s.worker_id, attempt = j.attempt + 1,
                assigned_at = now(), updated_at = now()
            FROM picked p JOIN slots s ON s.n = p.n
            WHERE j.job_id = p.job_id AND age(p.xmin) >= age(pg_current_xact_id()::xid)
            RETURNING j.*
        ), events AS (
            INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
            SELECT c.job_id, c.queue_name, 'PENDING', 'ASSIGNED', c.worker_id, c.attempt, 'CLAIMED' FROM claimed c
        )
        SELECT * FROM claimed c ORDER BY c.priority DESC, c.created_at;
        RETURN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = ANY (claim_for.queues) AND q.flow_controlled) THEN
        -- The plain path for one queue: one index range scan (jobs_claim_idx).
        RETURN QUERY
        WITH picked AS (
            SELECT c.job_id, c.xmin, row_number() OVER (ORDER BY c.priority DESC, c.created_at) AS n
            FROM (
                SELECT c.job_id, c.priority, c.created_at, c.xmin
                FROM (SELECT DISTINCT unnest(claim_for.queues) AS name) AS q
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.priority, j.created_at, j.xmin
                    FROM jq.jobs j
                    WHERE j.queue_name = q.name
                      AND j.status = 'PENDING'
                      AND (j.not_before IS NULL OR j.not_before <= now())
                    ORDER BY j.priority DESC, j.created_at
                    LIMIT total
                    FOR UPDATE SKIP LOCKED
                ) AS c
                ORDER BY c.priority DESC, c.created_at
                LIMIT total
            ) AS c
        ), slots AS (
            -- Slot k of every worker, for k = 1, 2, ...: the deal order.
            SELECT w.worker_id, row_number() OVER (ORDER BY k.k, w.ord) AS n
            FROM unnest(claim_for.worker_ids, claim_for.max_jobs) WITH ORDINALITY AS w (worker_id, max_jobs, ord)
            CROSS JOIN LATERAL generate_series(1, w.max_jobs) AS k (k)
        ), claimed AS (
            UPDATE jq.jobs j
            SET status = 'ASSIGNED', worker_id = s.worker_id, attempt = j.attempt + 1,
                assigned_at = now(), updated_at = now()
            FROM picked p JOIN slots s ON s.n = p.n
            WHERE j.job_id = p.job_id AND age(p.xmin) >= age(pg_current_xact_id()::xid)
            RETURNING j.*
        ), events AS (
            INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
            SELECT c.job_id, c.queue_name, 'PENDING', 'ASSIGNED', c.worker_id, c.attempt, 'CLAIMED' FROM claimed c
        )
        SELECT * FROM claimed c ORDER BY c.priority DESC, c.created_at;
        RETURN;
    END IF;

    -- Flow control: what each controlled queue may give now, its claim lock held (taken in
    -- name order, so concurrent claims cannot deadlock) until this claim commits; the rows are
    -- read after the locks are granted, so they hold the previous claims' bookkeeping.
    free_queues := ARRAY(SELECT DISTINCT unnest(claim_for.queues));
    PERFORM pg_advisory_xact_lock(jq._claim_lock(l.name)) FROM (
        SELECT q.name FROM jq.queues q WHERE q.name = ANY (claim_for.queues) AND q.flow_controlled ORDER BY q.name) AS l;
    FOR fq IN
        SELECT * FROM jq.queues q WHERE q.name = ANY (claim_for.queues) AND q.flow_controlled ORDER BY q.name
    LOOP
        free_queues := array_remove(free_queues, fq.name);
        cap := total;
        binding := NULL;
        available := NULL; -- counted only when a limit binds: only then can jobs be held back
        IF fq.paused THEN
            cap := 0;
            binding := 'paused';
        ELSE
            IF fq.max_running IS NOT NULL THEN
                -- Two index-only probes of jobs_queue_status_idx.
                running := (SELECT count(*) FROM jq.jobs j WHERE j.queue_name = fq.name AND j.status = 'ASSIGNED')
                         + (SELECT count(*) FROM jq.jobs j WHERE j.queue_name = fq.name AND j.status = 'RUNNING');
                IF fq.max_running - running < cap THEN
                    cap := greatest(fq.max_running - running, 0);
                    binding := 'max_running';
                END IF;
            END IF;
            IF fq.rate_limit IS NOT NULL THEN
                SELECT count(*) INTO used FROM unnest(fq.rate_window) AS t WHERE t > now() - fq.rate_period;
                IF fq.rate_limit - used < cap THEN
                    cap := greatest(fq.rate_limit - used, 0);
                    binding := 'rate';
                END IF;
            END IF;
        END IF;
        IF cap < total THEN
            available := jq._runnable(fq.name, total);
        END IF;
        limited := limited || jsonb_build_object(fq.name, jsonb_build_object(
            'held', greatest(coalesce(available, 0) - cap, 0), 'binding', binding, 'rate', fq.rate_limit IS NOT NULL,
            'fair', fq.max_running_per_key IS NOT NULL));
        IF cap <= 0 THEN
            CONTINUE;
        END IF;
        IF fq.max_running_per_key IS NULL THEN
            capped_names := capped_names || fq.name;
            capped_caps := capped_caps || cap;
        ELSE
            picks := 0;
            last_key := NULL;
            FOR pick IN SELECT * FROM jq._fair_pick(fq.name, cap, fq.max_running_per_key, fq.fair_cursor) LOOP
                fair_ids := fair_ids || pick.job_id;
                fair_ranks := fair_ranks || pick.rr;
                picks := picks + 1;
                last_key := coalesce(pick.concurrency_key, last_key);
            END LOOP;
            -- Jobs the per-key limit kept back, of those the queue could give (when it gave
            -- fewer than it could); the next fair claim starts after the last key served.
            IF picks < cap THEN
                available := coalesce(available, jq._runnable(fq.name, total));
                limited := jsonb_set(limited, ARRAY[fq.name, 'held_per_key'], to_jsonb(greatest(least(available, cap) - picks, 0)));
            END IF;
            limited := jsonb_set(limited, ARRAY[fq.name, 'cursor'], coalesce(to_jsonb(last_key), 'null'));
        END IF;
    END LOOP;

    WITH picked AS (
        SELECT c.job_id, c.xmin, row_number() OVER (ORDER BY c.priority DESC, c.rr, c.created_at) AS n
        FROM (
            SELECT c.* FROM (
                SELECT c.job_id, c.priority, c.created_at, c.xmin, 1 AS rr
                FROM unnest(free_queues) AS q (name)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.priority, j.created_at, j.xmin
                    FROM jq.jobs j
                    WHERE j.queue_name = q.name AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
                    ORDER BY j.priority DESC, j.created_at
                    LIMIT total
                    FOR UPDATE SKIP LOCKED
                ) AS c
                UNION ALL
                SELECT c.job_id, c.priority, c.created_at, c.xmin, 1 AS rr
                FROM unnest(capped_names, capped_caps) AS q (name, cap)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.priority, j.created_at, j.xmin
                    FROM jq.jobs j
                    WHERE j.queue_name = q.name AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
                    ORDER BY j.priority DESC, j.created_at
                    LIMIT least(total, q.cap)
                    FOR UPDATE SKIP LOCKED
                ) AS c
                UNION ALL
                SELECT c.job_id, c.priority, c.created_at, c.xmin, f.rr
                FROM unnest(fair_ids, fair_ranks) AS f (job_id, rr)
                CROSS JOIN LATERAL (
                    SELECT j.job_id, j.priority, j.created_at, j.xmin
                    FROM jq.jobs j
                    WHERE j.job_id = f.job_id AND j.status = 'PENDING'
                    OFFSET 0
                    FOR UPDATE SKIP LOCKED
                ) AS c
            ) AS c
            ORDER BY c.priority DESC, c.rr, c.created_at
            LIMIT total
        ) AS c
    ), slots AS (
        SELECT w.worker_id, row_number() OVER (ORDER BY k.k, w.ord) AS n
        FROM unnest(claim_for.worker_ids, claim_for.max_jobs) WITH ORDINALITY AS w (worker_id, max_jobs, ord)
        CROSS JOIN LATERAL generate_series(1, w.max_jobs) AS k (k)
    ), claimed AS (
        UPDATE jq.jobs j
        SET status = 'ASSIGNED', worker_id = s.worker_id, attempt = j.attempt + 1,
            assigned_at = now(), updated_at = now()
        FROM picked p JOIN slots s ON s.n = p.n
        WHERE j.job_id = p.job_id AND age(p.xmin) >= age(pg_current_xact_id()::xid)
        RETURNING j.*
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT c.job_id, c.queue_name, 'PENDING', 'ASSIGNED', c.worker_id, c.attempt, 'CLAIMED' FROM claimed c
    )
    SELECT array_agg(c ORDER BY c.priority DESC, c.created_at) INTO result FROM claimed c;

    -- The limits' bookkeeping: starts in the rate window, where the next fair claim starts,
    -- and the jobs each limit held back.
    UPDATE jq.queues q
    SET rate_window = CASE WHEN (l.v->>'rate')::boolean THEN
                ARRAY(SELECT t FROM unnest(q.rate_window) AS t WHERE t > now() - q.rate_period
                      UNION ALL SELECT now() FROM generate_series(1, coalesce(c.n, 0)))
            ELSE q.rate_window END,
        fair_cursor = CASE WHEN (l.v->>'fair')::boolean AND l.v->>'cursor' IS NOT NULL THEN l.v->>'cursor' ELSE q.fair_cursor END,
        held_paused = q.held_paused + CASE WHEN l.v->>'binding' = 'paused' THEN (l.v->>'held')::bigint ELSE 0 END,
        held_max_running = q.held_max_running + CASE WHEN l.v->>'binding' = 'max_running' THEN (l.v->>'held')::bigint ELSE 0 END,
        held_rate = q.held_rate + CASE WHEN l.v->>'binding' = 'rate' THEN (l.v->>'held')::bigint ELSE 0 END,
        held_per_key = q.held_per_key + coalesce((l.v->>'held_per_key')::bigint, 0)
    FROM jsonb_each(limited) AS l (name, v)
    LEFT JOIN (SELECT r.queue_name, count(*) AS n FROM unnest(result) AS r GROUP BY r.queue_name) AS c ON c.queue_name = l.name
    WHERE q.name = l.name
      AND ((l.v->>'rate')::boolean OR (l.v->>'fair')::boolean OR (l.v->>'held')::bigint > 0
           OR coalesce((l.v->>'held_per_key')::bigint, 0) > 0);

    RETURN QUERY SELECT * FROM unnest(result);
END
$$;

COMMENT ON FUNCTION jq.claim_for(text[], uuid[], integer[], timestamptz[]) IS
    'Assign runnable PENDING jobs of the queues to several registered ONLINE workers at once, up to max_jobs[i] to worker_ids[i] (FOR UPDATE SKIP LOCKED), within the queues'' flow control; floors start each priority''s scan at floors[priority + 1].';

-- claim_floor_check finds, for each priority p whose floor is set (floors[p + 1]), the oldest
-- runnable PENDING job of the queue below that floor: a job claim_for from those floors would
-- not see. It returns their created_at (NULL where there is none), the floors to lower to.
-- It locks nothing and reads what a claim from the head would read: run it off the claim
-- path, now and then.
CREATE OR REPLACE FUNCTION jq.claim_floor_check(
    queue text,
    floors timestamptz[]
) RETURNS timestamptz[]
LANGUAGE plpgsql STABLE
SET enable_sort = off -- jobs_claim_idx, not a sort of jobs_queue_status_idx (see jq._claim_above)
SET jit = off
AS $$
BEGIN
    IF claim_floor_check.queue IS NULL THEN
        RAISE EXCEPTION 'queue must not be NULL' USING ERRCODE = 'JQ005';
    ELSIF coalesce(cardinality(claim_floor_check.floors), 0) <> 10 THEN
        RAISE EXCEPTION 'floors must hold 10 entries, one per priority 0-9 (got %)',
            coalesce(cardinality(claim_floor_check.floors), 0) USING ERRCODE = 'JQ005';
    END IF;
    RETURN ARRAY(
        SELECT (
            SELECT j.created_at
            FROM jq.jobs j
            WHERE j.queue_name = claim_floor_check.queue
              AND j.priority = f.n - 1
              AND j.status = 'PENDING'
              AND j.created_at < f.floor
              AND (j.not_before IS NULL OR j.not_before <= now())
            ORDER BY j.created_at
            LIMIT 1
        )
        FROM unnest(claim_floor_check.floors) WITH ORDINALITY AS f (floor, n)
        ORDER BY f.n);
END
$$;

COMMENT ON FUNCTION jq.claim_floor_check(text, timestamptz[]) IS
    'For claim floors (one per priority 0-9), the created_at of the oldest runnable PENDING job of the queue below each floor, NULL where none is.';

-- claim_floor_check over several queues: floors kept for the claims of a set of queues, checked
-- for the oldest runnable PENDING job of any of them below each floor (one read of
-- jobs_pending_idx per priority that has a floor; one queue is checked as above).
CREATE OR REPLACE FUNCTION jq.claim_floor_check(
    queues text[],
    floors timestamptz[]
) RETURNS timestamptz[]
LANGUAGE plpgsql STABLE
SET enable_sort = off -- jobs_pending_idx in its order (see jq._claim_head)
SET jit = off
AS $$
BEGIN
    IF claim_floor_check.queues IS NULL OR cardinality(claim_floor_check.queues) = 0
       OR array_position(claim_floor_check.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be a non-empty array of queue names without NULL' USING ERRCODE = 'JQ005';
    ELSIF cardinality(claim_floor_check.queues) = 1 THEN
        RETURN jq.claim_floor_check(claim_floor_check.queues[1], claim_floor_check.floors);
    ELSIF coalesce(cardinality(claim_floor_check.floors), 0) <> 10 THEN
        RAISE EXCEPTION 'floors must hold 10 entries, one per priority 0-9 (got %)',
            coalesce(cardinality(claim_floor_check.floors), 0) USING ERRCODE = 'JQ005';
    END IF;
    RETURN ARRAY(
        SELECT (
            SELECT j.created_at
            FROM jq.jobs j
            WHERE j.status = 'PENDING'
              AND -j.priority = -(f.n - 1)
              AND j.created_at < f.floor
              AND j.queue_name = ANY (claim_floor_check.queues)
              AND (j.not_before IS NULL OR j.not_before <= now())
            ORDER BY -j.priority, j.created_at
            LIMIT 1
        )
        FROM unnest(claim_floor_check.floors) WITH ORDINALITY AS f (floor, n)
        ORDER BY f.n);
END
$$;

COMMENT ON FUNCTION jq.claim_floor_check(text[], timestamptz[]) IS
    'claim_floor_check for the claim floors of a set of queues: the created_at of the oldest runnable PENDING job of any of them below each floor, NULL where none is.';

-- _runnable counts the runnable PENDING jobs of a queue, up to at_most.
CREATE OR REPLACE FUNCTION jq._runnable(queue text, at_most integer) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer FROM (
        SELECT 1 FROM jq.jobs j
        WHERE j.queue_name = _runnable.queue AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
        LIMIT at_most) AS a
$$;

-- _fair_pick chooses up to cap runnable PENDING jobs of a queue, its concurrency keys in turn
-- from the one after cursor (wrapping round), at most key_cap running per key: within a
-- priority, the first job of each key, then the second of each, and so on. Jobs without a key
-- form one more group. rr is the job's turn. It locks nothing: claim_for locks what it takes.
CREATE OR REPLACE FUNCTION jq._fair_pick(queue text, cap integer, key_cap integer, cursor text)
RETURNS TABLE (job_id uuid, rr integer, concurrency_key text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE after_cursor (k, i) AS (
        (SELECT j.concurrency_key, 1 FROM jq.jobs j
         WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
           AND j.concurrency_key > coalesce(cursor, '')
         ORDER BY j.concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT j.concurrency_key FROM jq.jobs j
                WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
                  AND j.concurrency_key > a.k
                ORDER BY j.concurrency_key LIMIT 1), a.i + 1
        FROM after_cursor a WHERE a.k IS NOT NULL AND a.i < cap
    ), from_start (k, i) AS (
        (SELECT j.concurrency_key, 1 FROM jq.jobs j
         WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
           AND cursor IS NOT NULL
         ORDER BY j.concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT j.concurrency_key FROM jq.jobs j
                WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NOT NULL
                  AND j.concurrency_key > f.k
                ORDER BY j.concurrency_key LIMIT 1), f.i + 1
        FROM from_start f WHERE f.k IS NOT NULL AND f.k <= cursor AND f.i < cap
    ), keys (k, ord) AS (
        SELECT a.k, a.i FROM after_cursor a WHERE a.k IS NOT NULL
        UNION ALL
        SELECT f.k, 1000000 + f.i FROM from_start f WHERE f.k IS NOT NULL AND f.k <= cursor
    ), candidates AS (
        SELECT c.job_id, c.priority, c.created_at, c.n AS rr, keys.ord, keys.k
        FROM keys
        CROSS JOIN LATERAL (
            SELECT greatest(coalesce(key_cap, cap) - (
                SELECT count(*) FROM jq.jobs r
                WHERE r.queue_name = queue AND r.concurrency_key = keys.k AND r.status IN ('ASSIGNED', 'RUNNING')), 0) AS room
        ) AS room
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.priority, j.created_at, row_number() OVER (ORDER BY j.priority DESC, j.created_at)::integer AS n
            FROM (SELECT j.job_id, j.priority, j.created_at FROM jq.jobs j
                  WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key = keys.k
                    AND (j.not_before IS NULL OR j.not_before <= now())
                  ORDER BY j.priority DESC, j.created_at
                  LIMIT least(cap, room.room)) AS j
        ) AS c
        UNION ALL
        SELECT j.job_id, j.priority, j.created_at, j.n, 0, NULL
        FROM (SELECT j.job_id, j.priority, j.created_at, row_number() OVER (ORDER BY j.priority DESC, j.created_at)::integer AS n
              FROM jq.jobs j
              WHERE j.queue_name = queue AND j.status = 'PENDING' AND j.concurrency_key IS NULL
                AND (j.not_before IS NULL OR j.not_before <= now())
              ORDER BY j.priority DESC, j.created_at
              LIMIT cap) AS j
    )
    SELECT c.job_id, c.rr, c.k FROM candidates c
    ORDER BY c.priority DESC, c.rr, c.ord
    LIMIT cap
$$;

-- claim assigns up to max_jobs runnable PENDING jobs of the given queues to one worker:
-- claim_for with a single worker.
CREATE OR REPLACE FUNCTION jq.claim(
    queues text[],
    max_jobs integer,
    worker_id uuid
) RETURNS SETOF jq.jobs
LANGUAGE sql AS $$
    SELECT * FROM jq.claim_for(queues, ARRAY[worker_id], ARRAY[max_jobs])
$$;

COMMENT ON FUNCTION jq.claim(text[], integer, uuid) IS
    'Assign up to max_jobs runnable PENDING jobs of the queues to a registered ONLINE worker (FOR UPDATE SKIP LOCKED).';

-- The batch functions below look jobs up one by one through a LATERAL subquery on the primary
-- key alone, driven by the sorted input array, and check status and worker on the locked row.
-- Written as a join, or with those checks inside the lookup, the generic plan PL/pgSQL caches
-- after a few calls does not know the array's length and rescans the array, or the worker's
-- whole in-flight index, for every row: quadratic (measured: 6.5 s for 4,800 jobs). A lookup
-- by job_id only, fenced with OFFSET 0 so the planner cannot push the checks back into it, can
-- be planned only as a primary-key probe. The sorted order also makes
-- concurrent batches lock rows in the same order, so they cannot deadlock.

-- start_for marks delivered jobs RUNNING: job_ids[i] was delivered to worker_ids[i]. Jobs no
-- longer ASSIGNED to that worker (cancelled, requeued, or already completed by a fast worker)
-- are skipped; the started ones are returned. One call serves every worker of a scheduler.
CREATE OR REPLACE FUNCTION jq.start_for(
    job_ids uuid[],
    worker_ids uuid[]
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF cardinality(start_for.job_ids) IS DISTINCT FROM cardinality(start_for.worker_ids) THEN
        RAISE EXCEPTION 'job_ids and worker_ids must have the same length' USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(start_for.job_ids, NULL) IS NOT NULL OR array_position(start_for.worker_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'job_ids and worker_ids must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    RETURN QUERY
    WITH input AS (
        SELECT DISTINCT ON (i.job_id) i.job_id, i.worker_id
        FROM unnest(start_for.job_ids, start_for.worker_ids) AS i (job_id, worker_id)
        ORDER BY i.job_id
    ), picked AS (
        -- Only rows still ASSIGNED to the worker are locked: most fast jobs have finished
        -- before their start is flushed, and locking a finished row would write it for
        -- nothing. The checks are spelled so that no index can serve them (status as text,
        -- IS NOT DISTINCT FROM), which keeps the lookup a primary-key probe; a row updated
        -- meanwhile is checked again after the lock.
        SELECT j.job_id, j.xmin
        FROM input i
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.xmin FROM jq.jobs j
            WHERE j.job_id = i.job_id AND j.status::text = 'ASSIGNED' AND j.worker_id IS NOT DISTINCT FROM i.worker_id
            FOR UPDATE
        ) AS j
    ), started AS (
        UPDATE jq.jobs j
        SET status = 'RUNNING', started_at = now(), updated_at = now()
        FROM picked
        WHERE j.job_id = picked.job_id AND (age(picked.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
        RETURNING j.*
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT s.job_id, s.queue_name, 'ASSIGNED', 'RUNNING', s.worker_id, s.attempt, 'STARTED' FROM started s
    )
    SELECT * FROM started;
END
$$;

COMMENT ON FUNCTION jq.start_for(uuid[], uuid[]) IS
    'Mark delivered ASSIGNED jobs RUNNING, job_ids[i] delivered to worker_ids[i]; returns the jobs it started.';

-- start marks jobs delivered to one worker RUNNING: start_for with a single worker.
CREATE OR REPLACE FUNCTION jq.start(
    job_ids uuid[],
    worker_id uuid
) RETURNS SETOF jq.jobs
LANGUAGE sql AS $$
    SELECT * FROM jq.start_for(job_ids, array_fill(worker_id, ARRAY[coalesce(cardinality(job_ids), 0)]))
$$;

COMMENT ON FUNCTION jq.start(uuid[], uuid) IS
    'Mark delivered ASSIGNED jobs RUNNING; returns the jobs it started.';

-- release puts jobs ASSIGNED to a worker back to PENDING at once, e.g. when their delivery
-- failed. The retry count is unchanged: the job never ran. Returns how many were released.
CREATE OR REPLACE FUNCTION jq.release(
    job_ids uuid[],
    worker_id uuid,
    reason text DEFAULT 'DELIVERY_FAILED'
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer := 0;
    q text;
BEGIN
    PERFORM jq._not_null(release.worker_id, 'worker_id');
    PERFORM jq._not_null(release.reason, 'reason');
    FOR q IN
        WITH picked AS (
            SELECT j.job_id, j.xmin
            FROM jq._sorted_ids(release.job_ids) AS i (job_id)
            CROSS JOIN LATERAL (
                SELECT j.job_id, j.status, j.worker_id, j.xmin FROM jq.jobs j WHERE j.job_id = i.job_id
            OFFSET 0 FOR UPDATE
            ) AS j
            WHERE j.status = 'ASSIGNED' AND j.worker_id = release.worker_id
        ), released AS (
            UPDATE jq.jobs j
            SET status = 'PENDING', assigned_at = NULL, updated_at = now()
            FROM picked
            WHERE j.job_id = picked.job_id AND (age(picked.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
            RETURNING j.*
        ), events AS (
            INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
            SELECT r.job_id, r.queue_name, 'ASSIGNED', 'PENDING', r.worker_id, r.attempt, release.reason FROM released r
        )
        SELECT r.queue_name FROM released r
    LOOP
        n := n + 1;
        -- PostgreSQL folds identical notifications of one transaction into one.
        PERFORM pg_notify('jq_job_ready', q);
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.release(uuid[], uuid, text) IS
    'Put jobs ASSIGNED to the worker back to PENDING at once (failed delivery); returns how many.';

-- sqlfuncs/04_finish.sql

-- Finishing an attempt: RUNNING -> DONE, or RUNNING -> FAILED -> PENDING (retry with backoff)
-- or -> DEAD_LETTERED (retries spent). A report names the worker and the attempt it was given;
-- a report from an attempt that is no longer current changes nothing and raises JQ004.

-- _current_attempt locks a job and checks that worker_id holds its current attempt, which is
-- ASSIGNED or RUNNING. A job still ASSIGNED is accepted: a fast worker may report before the
-- server's batched jq.start reached the row.
CREATE OR REPLACE FUNCTION jq._current_attempt(
    job_id uuid,
    worker_id uuid,
    attempt integer
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    PERFORM jq._not_null(_current_attempt.job_id, 'job_id');
    PERFORM jq._not_null(_current_attempt.worker_id, 'worker_id');
    IF _current_attempt.attempt IS NULL OR _current_attempt.attempt < 1 THEN
        RAISE EXCEPTION 'attempt must be 1 or more (the attempt of the assignment), got %',
            coalesce(_current_attempt.attempt::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    SELECT * INTO j FROM jq.jobs WHERE job_id = _current_attempt.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', _current_attempt.job_id USING ERRCODE = 'JQ002';
    END IF;
    PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
    IF j.attempt IS DISTINCT FROM _current_attempt.attempt
        OR j.worker_id IS DISTINCT FROM _current_attempt.worker_id
        OR j.status = 'PENDING' THEN
        RAISE EXCEPTION 'stale report for job %: attempt % on worker % is not current (job is % at attempt % on worker %)',
            j.job_id, _current_attempt.attempt, _current_attempt.worker_id, j.status, j.attempt, coalesce(j.worker_id::text, 'none')
            USING ERRCODE = 'JQ004';
    END IF;
    IF j.status NOT IN ('ASSIGNED', 'RUNNING') THEN
        RAISE EXCEPTION 'job % is %, not RUNNING', j.job_id, j.status USING ERRCODE = 'JQ003';
    END IF;
    IF j.status = 'ASSIGNED' THEN
        -- The server marks deliveries RUNNING in batches; a fast job can report first. It was
        -- delivered right after its assignment.
        UPDATE jq.jobs SET status = 'RUNNING', started_at = coalesce(assigned_at, now()), updated_at = now()
        WHERE job_id = j.job_id RETURNING * INTO j;
        PERFORM jq._event(j, 'ASSIGNED', 'RUNNING', 'STARTED');
    END IF;
    RETURN j;
END
$$;

-- _retry_or_bury fails the current attempt of a locked ASSIGNED or RUNNING job: it records
-- the failure, then makes the job PENDING again after a backoff while retries remain (its
-- progress cleared for the next attempt), or DEAD_LETTERED when they are spent (or at once
-- when permanent), which cancels the jobs waiting for it (jq._parents_finished).
CREATE OR REPLACE FUNCTION jq._retry_or_bury(
    j jq.jobs,
    fail_reason text,
    error text,
    base_delay interval,
    max_delay interval,
    permanent boolean
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
DECLARE
    res jq.jobs;
BEGIN
    PERFORM jq._event(j, j.status, 'FAILED', fail_reason, error);
    IF permanent OR j.retry_count >= j.max_retries THEN
        UPDATE jq.jobs
        SET status = 'DEAD_LETTERED', error_message = error, completed_at = now(), updated_at = now()
        WHERE job_id = j.job_id RETURNING * INTO res;
        PERFORM jq._event(res, 'FAILED', 'DEAD_LETTERED',
            CASE WHEN permanent THEN 'PERMANENT_FAILURE' ELSE 'RETRIES_EXHAUSTED' END);
        IF res.has_dependents THEN
            PERFORM jq._parents_finished(ARRAY[res.job_id]);
        END IF;
    ELSE
        UPDATE jq.jobs
        SET status = 'PENDING', retry_count = j.retry_count + 1, error_message = error,
            not_before = now() + jq.backoff(j.retry_count, base_delay, max_delay),
            assigned_at = NULL, updated_at = now(), progress = NULL, progress_message = NULL, progress_at = NULL
        WHERE job_id = j.job_id RETURNING * INTO res;
        PERFORM jq._event(res, 'FAILED', 'PENDING', 'RETRY');
        -- A job runnable at once (no backoff: its worker was lost) wakes the schedulers; one
        -- with a backoff is found by the poll once it ends.
        IF res.not_before <= now() THEN
            PERFORM pg_notify('jq_job_ready', res.queue_name);
        END IF;
    END IF;
    RETURN res;
END
$$;

-- complete records a successful attempt: RUNNING -> DONE with its result. The jobs that
-- waited for it alone become PENDING (jq._parents_finished).
CREATE OR REPLACE FUNCTION jq.complete(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    result bytea DEFAULT NULL
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    j := jq._current_attempt(complete.job_id, complete.worker_id, complete.attempt);
    UPDATE jq.jobs
    SET status = 'DONE', result = complete.result, error_message = NULL, completed_at = now(), updated_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, 'RUNNING', 'DONE', 'COMPLETED');
    IF j.has_dependents THEN
        PERFORM jq._parents_finished(ARRAY[j.job_id]);
    END IF;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.complete(uuid, uuid, integer, bytea) IS
    'Record a successful attempt (RUNNING -> DONE). The worker and attempt must be the current ones (JQ004 otherwise).';

-- fail records a failed attempt and retries the job after
-- min(base_delay * 2^retry_count, max_delay) plus jitter, or dead-letters it when its retries
-- are spent or the failure is permanent (a payload that can never run).
CREATE OR REPLACE FUNCTION jq.fail(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    error text,
    base_delay interval DEFAULT '1 second',
    max_delay interval DEFAULT '5 minutes',
    permanent boolean DEFAULT false
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF fail.base_delay IS NULL OR fail.max_delay IS NULL OR fail.base_delay < '0' OR fail.base_delay > fail.max_delay THEN
        RAISE EXCEPTION 'base_delay % must be between 0 and max_delay %', fail.base_delay, fail.max_delay USING ERRCODE = 'JQ005';
    END IF;
    j := jq._current_attempt(fail.job_id, fail.worker_id, fail.attempt);
    RETURN jq._retry_or_bury(j, 'FAILED', fail.error, fail.base_delay, fail.max_delay, coalesce(fail.permanent, false));
END
$$;

COMMENT ON FUNCTION jq.fail(uuid, uuid, integer, text, interval, interval, boolean) IS
    'Record a failed attempt: retry after a backoff (PENDING) or dead-letter when retries are spent or permanent.';

-- complete_many is complete for a batch of reports in one statement: the server's hot path.
-- The arrays are parallel (one entry per report). Reports whose attempt is not current are
-- skipped; the completed jobs are returned, so the caller can find the skipped ones and ask
-- jq.complete for the precise reason.
--
-- Jobs with dependents (has_dependents) are noted in jq.finished_parents by the statement,
-- and their dependents released by the next one: that one must read the dependents and their
-- other parents with a snapshot taken after this statement's locks were granted (a
-- dependent's other parent may have finished in a transaction that committed meanwhile). A
-- batch without such jobs notes nothing and pays one look at an empty table.
CREATE OR REPLACE FUNCTION jq.complete_many(
    job_ids uuid[],
    worker_ids uuid[],
    attempts integer[],
    results bytea[]
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF cardinality(complete_many.job_ids) <> cardinality(complete_many.worker_ids)
        OR cardinality(complete_many.job_ids) <> cardinality(complete_many.attempts)
        OR cardinality(complete_many.job_ids) <> cardinality(complete_many.results) THEN
        RAISE EXCEPTION 'job_ids, worker_ids, attempts and results must have the same length' USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(complete_many.job_ids, NULL) IS NOT NULL OR array_position(complete_many.worker_ids, NULL) IS NOT NULL
       OR array_position(complete_many.attempts, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'job_ids, worker_ids and attempts must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    -- One outcome per job: with a job twice, which of its results won would be left to chance.
    IF (SELECT count(DISTINCT x) FROM unnest(complete_many.job_ids) AS x) <> cardinality(complete_many.job_ids) THEN
        RAISE EXCEPTION 'job_ids holds job % more than once',
            (SELECT x FROM unnest(complete_many.job_ids) AS x GROUP BY x HAVING count(*) > 1 LIMIT 1) USING ERRCODE = 'JQ005';
    END IF;
    -- Key lookups driven by the sorted input, as in the batch functions of 03_claim.sql.
    RETURN QUERY
    WITH input AS (
        SELECT * FROM unnest(complete_many.job_ids, complete_many.worker_ids, complete_many.attempts, complete_many.results)
            AS i (job_id, worker_id, attempt, result)
        ORDER BY i.job_id
    ), current AS (
        SELECT j.job_id, j.status AS old_status, i.result, j.xmin
        FROM input i
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.status, j.worker_id, j.attempt, j.xmin FROM jq.jobs j WHERE j.job_id = i.job_id
            OFFSET 0 FOR UPDATE
        ) AS j
        WHERE j.worker_id = i.worker_id AND j.attempt = i.attempt AND j.status IN ('ASSIGNED', 'RUNNING')
    ), done AS (
        UPDATE jq.jobs j
        SET status = 'DONE', result = c.result, error_message = NULL,
            -- Not started yet: the server marks deliveries RUNNING in batches, and a fast job
            -- can finish first. It was delivered right after its assignment.
            started_at = coalesce(j.started_at, j.assigned_at, now()), completed_at = now(), updated_at = now()
        FROM current c
        WHERE j.job_id = c.job_id AND (age(c.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
        RETURNING j.*, c.old_status
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT d.job_id, d.queue_name, 'ASSIGNED'::jq.job_status, 'RUNNING'::jq.job_status, d.worker_id, d.attempt, 'STARTED'
        FROM done d WHERE d.old_status = 'ASSIGNED'
        UNION ALL
        SELECT d.job_id, d.queue_name, 'RUNNING'::jq.job_status, 'DONE'::jq.job_status, d.worker_id, d.attempt, 'COMPLETED'
        FROM done d
    ), parents AS (
        INSERT INTO jq.finished_parents (xid, job_id)
        SELECT pg_current_xact_id(), d.job_id FROM done d WHERE d.has_dependents
    )
    SELECT d.job_id, d.queue_name, d.payload, d.status, d.priority, d.max_retries, d.retry_count, d.attempt,
           d.worker_id, d.result, d.error_message, d.idempotency_key, d.not_before, d.created_at,
           d.assigned_at, d.started_at, d.completed_at, d.updated_at, d.concurrency_key,
           d.unique_key, d.has_dependents, d.progress, d.progress_message, d.progress_at
    FROM done d;
    IF FOUND THEN
        PERFORM jq._release_finished_parents();
    END IF;
END
$$;

COMMENT ON FUNCTION jq.complete_many(uuid[], uuid[], integer[], bytea[]) IS
    'Complete a batch of current attempts in one statement; returns the jobs completed (stale reports are skipped).';

-- snooze ends the current attempt without using a retry: the job is PENDING again, runnable
-- after delay (reason SNOOZED), its retry count unchanged. For a job that asks to run later
-- (a resource not ready yet) rather than failing. The report must be current (JQ004).
CREATE OR REPLACE FUNCTION jq.snooze(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    delay interval
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF snooze.delay IS NULL OR snooze.delay < '0' OR snooze.delay > '30 days' THEN
        RAISE EXCEPTION 'delay must be between 0 and 30 days, got %', coalesce(snooze.delay::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    j := jq._current_attempt(snooze.job_id, snooze.worker_id, snooze.attempt);
    UPDATE jq.jobs
    SET status = 'PENDING', not_before = now() + snooze.delay, assigned_at = NULL, started_at = NULL, updated_at = now(),
        progress = NULL, progress_message = NULL, progress_at = NULL
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, 'RUNNING', 'PENDING', 'SNOOZED', format('snoozed for %s', snooze.delay));
    IF snooze.delay = '0' THEN
        PERFORM pg_notify('jq_job_ready', j.queue_name);
    END IF;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.snooze(uuid, uuid, integer, interval) IS
    'End the current attempt without using a retry: PENDING again after delay (SNOOZED).';

-- report_progress records what the current attempt of a running job says of its progress: a
-- percentage (0 to 100) and a message (its first 1024 characters are kept). The report must
-- be current (JQ004 otherwise), like an outcome's. It is no transition: no event is written.
-- jq-server writes a job's progress at most once a second, the latest report winning
-- (docs/scheduling.md); called from SQL, every call writes.
CREATE OR REPLACE FUNCTION jq.report_progress(
    job_id uuid,
    worker_id uuid,
    attempt integer,
    progress double precision,
    message text DEFAULT NULL
) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF report_progress.progress IS NULL OR report_progress.progress = 'NaN' OR report_progress.progress NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'progress must be a percentage from 0 to 100, got %', coalesce(report_progress.progress::text, 'NULL')
            USING ERRCODE = 'JQ005';
    END IF;
    j := jq._current_attempt(report_progress.job_id, report_progress.worker_id, report_progress.attempt);
    UPDATE jq.jobs
    SET progress = report_progress.progress, progress_message = left(report_progress.message, 1024), progress_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.report_progress(uuid, uuid, integer, double precision, text) IS
    'Record the progress (0-100 and a message) of a running job''s current attempt (JQ004 when it is not current).';

-- sqlfuncs/05_operate.sql

-- Operator actions on single jobs.

-- cancel ends a job that has not finished: PENDING, WAITING, ASSIGNED or RUNNING ->
-- CANCELLED (terminal, not retried; reason CANCELLED). The attempt it was in is fenced at once:
-- its worker's late report is refused. A job given to a worker is announced on channel
-- jq_job_cancel ('<job_id>:<worker_id>:<attempt>'), so that the server holding the worker's
-- stream tells it to stop the job (SIGTERM, then SIGKILL after the job's grace). A finished job
-- raises JQ003. actor (see jq._actor) is recorded in the event. The jobs waiting for it are
-- cancelled too (jq._parents_finished), unless they run whatever their dependencies' outcome.
CREATE OR REPLACE FUNCTION jq.cancel(job_id uuid, actor text DEFAULT NULL) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    from_status jq.job_status;
BEGIN
    PERFORM jq._not_null(cancel.job_id, 'job_id');
    SELECT * INTO j FROM jq.jobs WHERE job_id = cancel.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', cancel.job_id USING ERRCODE = 'JQ002';
    END IF;
    PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
    IF j.status NOT IN ('PENDING', 'WAITING', 'ASSIGNED', 'RUNNING') THEN
        RAISE EXCEPTION 'job % is %: only an unfinished job (PENDING, WAITING, ASSIGNED, RUNNING) can be cancelled', j.job_id, j.status
            USING ERRCODE = 'JQ003';
    END IF;
    from_status := j.status;
    UPDATE jq.jobs
    SET status = 'CANCELLED', error_message = 'cancelled', completed_at = now(), updated_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, from_status, 'CANCELLED', 'CANCELLED', NULL, jq._actor(cancel.actor));
    IF from_status IN ('ASSIGNED', 'RUNNING') AND j.worker_id IS NOT NULL THEN
        PERFORM pg_notify('jq_job_cancel', format('%s:%s:%s', j.job_id, j.worker_id, j.attempt));
    END IF;
    IF j.has_dependents THEN
        PERFORM jq._parents_finished(ARRAY[j.job_id]);
    END IF;
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.cancel(uuid, text) IS 'Cancel an unfinished job (-> CANCELLED); a running one is fenced and its worker told; actor is recorded in the event.';

-- cancel_many cancels, as jq.cancel each, the unfinished jobs of a queue (every queue when
-- NULL) in one status (every unfinished status when NULL), at most max_rows, oldest first.
-- Returns how many of each queue (queues with none are left out). With dry_run it only
-- counts them.
CREATE OR REPLACE FUNCTION jq.cancel_many(
    queue text DEFAULT NULL,
    status jq.job_status DEFAULT NULL,
    actor text DEFAULT NULL,
    max_rows integer DEFAULT 10000,
    dry_run boolean DEFAULT false
) RETURNS TABLE (queue_name text, cancelled integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j record;
    counts jsonb := '{}';
BEGIN
    PERFORM jq._check_max_rows(cancel_many.max_rows);
    IF cancel_many.status IS NOT NULL AND cancel_many.status NOT IN ('PENDING', 'WAITING', 'ASSIGNED', 'RUNNING') THEN
        RAISE EXCEPTION 'status % is finished: only PENDING, WAITING, ASSIGNED or RUNNING jobs can be cancelled', cancel_many.status
            USING ERRCODE = 'JQ005';
    END IF;
    IF cancel_many.queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = cancel_many.queue) THEN
        RAISE EXCEPTION 'queue % does not exist', cancel_many.queue USING ERRCODE = 'JQ001';
    END IF;
    IF coalesce(cancel_many.dry_run, false) THEN
        RETURN QUERY
        SELECT c.queue_name, count(*)::integer FROM (
            SELECT j.queue_name FROM jq.jobs j
            WHERE (cancel_many.queue IS NULL OR j.queue_name = cancel_many.queue)
              AND j.status = ANY (CASE WHEN cancel_many.status IS NULL THEN '{PENDING,WAITING,ASSIGNED,RUNNING}'::jq.job_status[]
                                      ELSE ARRAY[cancel_many.status] END)
            ORDER BY j.job_id
            LIMIT cancel_many.max_rows) AS c
        GROUP BY c.queue_name ORDER BY c.queue_name;
        RETURN;
    END IF;
    FOR j IN
        SELECT x.job_id, x.queue_name FROM jq.jobs x
        WHERE (cancel_many.queue IS NULL OR x.queue_name = cancel_many.queue)
          AND x.status = ANY (CASE WHEN cancel_many.status IS NULL THEN '{PENDING,WAITING,ASSIGNED,RUNNING}'::jq.job_status[]
                                  ELSE ARRAY[cancel_many.status] END)
        ORDER BY x.job_id
        LIMIT cancel_many.max_rows
    LOOP
        BEGIN
            PERFORM jq.cancel(j.job_id, cancel_many.actor);
            counts := jsonb_set(counts, ARRAY[j.queue_name], to_jsonb(coalesce((counts->>j.queue_name)::integer, 0) + 1));
        EXCEPTION WHEN SQLSTATE 'JQ003' THEN
            NULL; -- it finished meanwhile
        END;
    END LOOP;
    RETURN QUERY SELECT c.key, c.value::integer FROM jsonb_each_text(counts) AS c ORDER BY c.key;
END
$$;

COMMENT ON FUNCTION jq.cancel_many(text, jq.job_status, text, integer, boolean) IS
    'Cancel the unfinished jobs of a queue and status (each as jq.cancel); returns how many of each queue. dry_run counts them.';

-- retry makes a FAILED, DEAD_LETTERED or CANCELLED job PENDING again, runnable at once, with
-- its retry count reset (reason MANUAL_RETRY). actor (see jq._actor) is recorded in the event.
-- Jobs that were cancelled because it failed stay cancelled: retry them too.
CREATE OR REPLACE FUNCTION jq.retry(job_id uuid, actor text DEFAULT NULL) RETURNS jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    from_status jq.job_status;
BEGIN
    PERFORM jq._not_null(retry.job_id, 'job_id');
    SELECT * INTO j FROM jq.jobs WHERE job_id = retry.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', retry.job_id USING ERRCODE = 'JQ002';
    END IF;
    PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
    IF j.status NOT IN ('FAILED', 'DEAD_LETTERED', 'CANCELLED') THEN
        RAISE EXCEPTION 'job % is %: only FAILED, DEAD_LETTERED or CANCELLED jobs can be retried', j.job_id, j.status
            USING ERRCODE = 'JQ003';
    END IF;
    from_status := j.status;
    UPDATE jq.jobs
    SET status = 'PENDING', retry_count = 0, not_before = NULL, result = NULL, error_message = NULL,
        assigned_at = NULL, started_at = NULL, completed_at = NULL, updated_at = now(),
        progress = NULL, progress_message = NULL, progress_at = NULL
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, from_status, 'PENDING', 'MANUAL_RETRY', NULL, jq._actor(retry.actor));
    PERFORM pg_notify('jq_job_ready', j.queue_name);
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.retry(uuid, text) IS 'Retry a FAILED, DEAD_LETTERED or CANCELLED job now, retry count reset (reason MANUAL_RETRY); actor is recorded in the event.';

-- sqlfuncs/06_workers.sql

-- Worker registry: registration, heartbeats, draining and loss.

-- register_worker upserts a worker as ONLINE with a fresh heartbeat. Registering again (after
-- a reconnect) keeps registered_at and replaces the rest. A new incarnation (a new process
-- under the same worker_id, e.g. a restarted pod) means the jobs the previous process held
-- are lost: they fail through the retry rule at once (reason WORKER_RESTARTED).
--
-- owner is the credential registering it (an API key's name or a certificate identity): a
-- worker that is not OFFLINE belongs to the credential that registered it, and another one
-- may not take it over (JQ009). max_per_owner, when set, bounds the workers one owner has
-- registered and not OFFLINE (JQ010).
CREATE OR REPLACE FUNCTION jq.register_worker(
    worker_id uuid,
    hostname text,
    concurrency integer,
    queues text[],
    incarnation text DEFAULT '',
    owner text DEFAULT NULL,
    max_per_owner integer DEFAULT NULL
) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
    previous text;
    j jq.jobs;
BEGIN
    IF register_worker.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF register_worker.concurrency IS NULL OR register_worker.concurrency NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'concurrency % is outside 1-4096', coalesce(register_worker.concurrency::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF coalesce(cardinality(register_worker.queues), 0) = 0 THEN
        RAISE EXCEPTION 'a worker must take jobs from at least one queue' USING ERRCODE = 'JQ005';
    END IF;
    IF array_position(register_worker.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must not contain NULL' USING ERRCODE = 'JQ005';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(register_worker.queues) AS q WHERE q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$') THEN
        RAISE EXCEPTION 'queues: % is not a valid queue name',
            (SELECT quote_literal(q) FROM unnest(register_worker.queues) AS q WHERE q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' LIMIT 1)
            USING ERRCODE = 'JQ005';
    END IF;
    IF length(register_worker.hostname) > 255 THEN
        RAISE EXCEPTION 'hostname is % characters, over the limit of 255', length(register_worker.hostname) USING ERRCODE = 'JQ005';
    END IF;
    IF register_worker.max_per_owner IS NOT NULL AND register_worker.max_per_owner < 1 THEN
        RAISE EXCEPTION 'max_per_owner % must be positive (NULL for no limit)', register_worker.max_per_owner USING ERRCODE = 'JQ005';
    END IF;
    SELECT * INTO w FROM jq.workers x WHERE x.worker_id = register_worker.worker_id FOR UPDATE;
    IF FOUND THEN
        previous := w.incarnation;
        IF w.status <> 'OFFLINE' AND w.owner IS DISTINCT FROM register_worker.owner THEN
            RAISE EXCEPTION 'worker % is registered by another credential', register_worker.worker_id USING ERRCODE = 'JQ009',
                HINT = 'give each worker its own id, or wait until the worker is OFFLINE';
        END IF;
    END IF;
    IF register_worker.owner IS NOT NULL AND register_worker.max_per_owner IS NOT NULL
       AND (SELECT count(*) FROM jq.workers x
            WHERE x.owner = register_worker.owner AND x.status <> 'OFFLINE' AND x.worker_id <> register_worker.worker_id)
           >= register_worker.max_per_owner THEN
        RAISE EXCEPTION '% already has % workers registered, the limit (auth.max_workers_per_key)',
            register_worker.owner, register_worker.max_per_owner USING ERRCODE = 'JQ010';
    END IF;
    INSERT INTO jq.workers AS w (worker_id, hostname, status, concurrency, active_job_count, queues, incarnation, last_heartbeat, owner)
    VALUES (register_worker.worker_id, coalesce(register_worker.hostname, ''), 'ONLINE', register_worker.concurrency, 0,
            register_worker.queues, coalesce(register_worker.incarnation, ''), now(), register_worker.owner)
    ON CONFLICT (worker_id) DO UPDATE
    SET hostname = excluded.hostname, status = 'ONLINE', concurrency = excluded.concurrency,
        active_job_count = 0, queues = excluded.queues, incarnation = excluded.incarnation,
        shutdown_requested = false, last_heartbeat = now(), updated_at = now(), owner = excluded.owner
    RETURNING * INTO w;
    IF previous IS NOT NULL AND previous <> '' AND previous IS DISTINCT FROM w.incarnation THEN
        FOR j IN
            SELECT * FROM jq.jobs
            WHERE jobs.worker_id = w.worker_id AND status IN ('ASSIGNED', 'RUNNING')
            ORDER BY job_id
            FOR UPDATE
        LOOP
            PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
            PERFORM jq._retry_or_bury(j, 'WORKER_RESTARTED',
                format('worker %s restarted (a new process took its id)', w.worker_id),
                '0', '0', false);
        END LOOP;
    END IF;
    RETURN w;
END
$$;

COMMENT ON FUNCTION jq.register_worker(uuid, text, integer, text[], text, text, integer) IS
    'Register (upsert) a worker as ONLINE, bound to owner; a new incarnation retries the jobs the previous process held.';

-- heartbeat refreshes a worker's last_heartbeat (and, when given, its running job count).
-- An unknown worker raises JQ006; an OFFLINE one (declared lost) raises JQ003 and must
-- register again. With owner set, a worker registered by another credential raises JQ009.
CREATE OR REPLACE FUNCTION jq.heartbeat(
    worker_id uuid,
    active_job_count integer DEFAULT NULL,
    owner text DEFAULT NULL
) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(heartbeat.worker_id, 'worker_id');
    IF heartbeat.active_job_count < 0 THEN
        RAISE EXCEPTION 'active_job_count % is negative', heartbeat.active_job_count USING ERRCODE = 'JQ005';
    END IF;
    UPDATE jq.workers
    SET last_heartbeat = now(), active_job_count = coalesce(heartbeat.active_job_count, active_job_count), updated_at = now()
    WHERE worker_id = heartbeat.worker_id AND status <> 'OFFLINE'
      AND (heartbeat.owner IS NULL OR owner IS NOT DISTINCT FROM heartbeat.owner)
    RETURNING * INTO w;
    IF FOUND THEN
        RETURN w;
    END IF;
    SELECT * INTO w FROM jq.workers WHERE worker_id = heartbeat.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', heartbeat.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF w.status = 'OFFLINE' THEN
        RAISE EXCEPTION 'worker % is OFFLINE; register it again', heartbeat.worker_id USING ERRCODE = 'JQ003';
    END IF;
    RAISE EXCEPTION 'worker % is registered by another credential', heartbeat.worker_id USING ERRCODE = 'JQ009';
END
$$;

COMMENT ON FUNCTION jq.heartbeat(uuid, integer, text) IS 'Refresh a worker''s last_heartbeat (only for its owner, when owner is given).';

-- drain_worker marks an ONLINE worker DRAINING: it gets no new jobs and finishes its own. The
-- action is audited with actor (see jq._actor).
CREATE OR REPLACE FUNCTION jq.drain_worker(worker_id uuid, actor text DEFAULT NULL) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(drain_worker.worker_id, 'worker_id');
    SELECT * INTO w FROM jq.workers WHERE worker_id = drain_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', drain_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF w.status = 'OFFLINE' THEN
        RAISE EXCEPTION 'worker % is OFFLINE', w.worker_id USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.workers SET status = 'DRAINING', updated_at = now()
    WHERE worker_id = w.worker_id RETURNING * INTO w;
    PERFORM jq._audit(drain_worker.actor, 'worker.drain', w.worker_id::text);
    RETURN w;
END
$$;

COMMENT ON FUNCTION jq.drain_worker(uuid, text) IS 'Mark a worker DRAINING: no new jobs, it finishes its running ones.';

-- shutdown_worker drains a worker and asks it to exit once its running jobs are finished. The
-- action is audited with actor (see jq._actor).
CREATE OR REPLACE FUNCTION jq.shutdown_worker(worker_id uuid, actor text DEFAULT NULL) RETURNS jq.workers
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(shutdown_worker.worker_id, 'worker_id');
    SELECT * INTO w FROM jq.workers WHERE worker_id = shutdown_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', shutdown_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF w.status = 'OFFLINE' THEN
        RAISE EXCEPTION 'worker % is OFFLINE', w.worker_id USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.workers SET status = 'DRAINING', shutdown_requested = true, updated_at = now()
    WHERE worker_id = w.worker_id RETURNING * INTO w;
    PERFORM jq._audit(shutdown_worker.actor, 'worker.shutdown', w.worker_id::text);
    RETURN w;
END
$$;

COMMENT ON FUNCTION jq.shutdown_worker(uuid, text) IS 'Drain a worker and have it exit once its running jobs are finished.';

-- release_worker marks a worker OFFLINE and fails every job it holds (ASSIGNED or RUNNING)
-- through the retry rule with the given reason. Returns how many jobs it failed. Used when a
-- worker is lost (missed heartbeats, a broken stream that did not come back) or deregisters.
-- The attempt did not fail, its worker did: by default the jobs are runnable again at once
-- (no backoff; the retry count still grows, so a job that takes down every worker it runs on
-- ends dead-lettered), and the schedulers are woken. With silent_since set, it does nothing to a worker whose last heartbeat (or registration)
-- is at or after that time.
CREATE OR REPLACE FUNCTION jq.release_worker(
    worker_id uuid,
    reason text DEFAULT 'WORKER_LOST',
    base_delay interval DEFAULT '0',
    max_delay interval DEFAULT '0',
    silent_since timestamptz DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    w jq.workers;
    n integer := 0;
BEGIN
    PERFORM jq._not_null(release_worker.worker_id, 'worker_id');
    PERFORM jq._not_null(release_worker.reason, 'reason');
    SELECT * INTO w FROM jq.workers WHERE worker_id = release_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', release_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    -- With silent_since, a worker that heartbeated or registered again since then is alive
    -- (e.g. it reconnected to another server): leave it alone.
    IF release_worker.silent_since IS NOT NULL AND w.last_heartbeat >= release_worker.silent_since THEN
        RETURN 0;
    END IF;
    UPDATE jq.workers SET status = 'OFFLINE', active_job_count = 0, updated_at = now()
    WHERE worker_id = w.worker_id;
    FOR j IN
        SELECT * FROM jq.jobs
        WHERE worker_id = release_worker.worker_id AND status IN ('ASSIGNED', 'RUNNING')
        ORDER BY job_id
        FOR UPDATE
    LOOP
        PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = j.job_id));
        PERFORM jq._retry_or_bury(j, release_worker.reason,
            format('worker %s lost (%s)', release_worker.worker_id, release_worker.reason),
            release_worker.base_delay, release_worker.max_delay, false);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.release_worker(uuid, text, interval, interval, timestamptz) IS
    'Mark a worker OFFLINE and fail its ASSIGNED/RUNNING jobs through the retry rule; returns the number of jobs. With silent_since, only if it has not heartbeated since.';

-- deregister_worker is a worker's clean goodbye: OFFLINE, and any job it still holds is
-- failed through the retry rule (reason DEREGISTERED) so it runs elsewhere. With owner set, a
-- worker registered by another credential raises JQ009 and is left alone.
CREATE OR REPLACE FUNCTION jq.deregister_worker(worker_id uuid, owner text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w jq.workers;
BEGIN
    PERFORM jq._not_null(deregister_worker.worker_id, 'worker_id');
    SELECT * INTO w FROM jq.workers WHERE worker_id = deregister_worker.worker_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', deregister_worker.worker_id USING ERRCODE = 'JQ006';
    END IF;
    IF deregister_worker.owner IS NOT NULL AND w.owner IS DISTINCT FROM deregister_worker.owner THEN
        RAISE EXCEPTION 'worker % is registered by another credential', w.worker_id USING ERRCODE = 'JQ009';
    END IF;
    RETURN jq.release_worker(w.worker_id, 'DEREGISTERED');
END
$$;

COMMENT ON FUNCTION jq.deregister_worker(uuid, text) IS 'Mark a worker OFFLINE; jobs it still holds are retried elsewhere. With owner, only the worker''s own credential may.';

-- reconcile_worker compares what a live worker says it holds (held: the jobs it runs or has
-- not finished reporting) with the jobs the database gives it, and fails through the retry rule
-- (reason WORKER_LOST) those it does not hold: a delivery lost on the way, a process that took
-- another's id. Jobs assigned within grace are left alone, as their delivery may still be on
-- its way. Returns the attempts it failed.
CREATE OR REPLACE FUNCTION jq.reconcile_worker(
    worker_id uuid,
    held uuid[],
    grace interval DEFAULT '30 seconds'
) RETURNS TABLE (job_id uuid, attempt integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
BEGIN
    IF reconcile_worker.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF reconcile_worker.held IS NULL OR array_position(reconcile_worker.held, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'held must be an array of job ids without NULL (empty: none)' USING ERRCODE = 'JQ005';
    END IF;
    IF reconcile_worker.grace IS NULL OR reconcile_worker.grace < '0' THEN
        RAISE EXCEPTION 'grace must not be negative' USING ERRCODE = 'JQ005';
    END IF;
    FOR j IN
        SELECT x.* FROM jq.jobs x
        WHERE x.worker_id = reconcile_worker.worker_id AND x.status IN ('ASSIGNED', 'RUNNING')
          AND x.assigned_at < now() - reconcile_worker.grace
          AND x.job_id <> ALL (reconcile_worker.held)
        ORDER BY x.job_id
        FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM jq._in_order((SELECT y.xmin FROM jq.jobs y WHERE y.job_id = j.job_id));
        PERFORM jq._retry_or_bury(j, 'WORKER_LOST',
            format('worker %s does not hold the job (its heartbeat lists the jobs it holds)', j.worker_id),
            '0', '0', false);
        job_id := j.job_id;
        attempt := j.attempt;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION jq.reconcile_worker(uuid, uuid[], interval) IS
    'Retry (WORKER_LOST) the jobs the database gives a worker that the worker says it does not hold; returns the attempts it failed.';

-- sqlfuncs/07_maintenance.sql

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
CREATE OR REPLACE FUNCTION jq.reap_orphans(max_rows integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    j jq.jobs;
    n integer := 0;
BEGIN
    PERFORM jq._check_max_rows(reap_orphans.max_rows);
    FOR j IN
        SELECT x.* FROM jq.jobs x
        LEFT JOIN jq.workers w ON w.worker_id = x.worker_id
        WHERE x.status IN ('ASSIGNED', 'RUNNING') AND (w.worker_id IS NULL OR w.status = 'OFFLINE')
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

-- sqlfuncs/08_queues.sql

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

-- sqlfuncs/09_auth.sql

-- API keys and the audit trail (docs/security.md). Keys are made by jq-server (`jq-server auth
-- create-key`, or AdminService.CreateAPIKey): these functions only ever see a key's SHA-256.

-- create_api_key records a new key. name identifies it for good (JQ007 if taken, even by a
-- revoked key); queues, when not empty, are the only queues the key may use; expires_at, when
-- set, must be in the future. Audited with actor.
CREATE OR REPLACE FUNCTION jq.create_api_key(
    name text,
    role jq.api_key_role,
    key_hash bytea,
    key_prefix text,
    queues text[] DEFAULT '{}',
    expires_at timestamptz DEFAULT NULL,
    actor text DEFAULT NULL
) RETURNS jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k jq.api_keys;
    q text;
BEGIN
    IF create_api_key.name IS NULL OR create_api_key.name !~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$' THEN
        RAISE EXCEPTION 'name % is invalid: use letters, digits and . _ @ - (at most 128, starting with a letter or digit)',
            coalesce(quote_literal(create_api_key.name), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.role IS NULL THEN
        RAISE EXCEPTION 'role must be admin, submitter, worker or reader' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.key_hash IS NULL OR length(create_api_key.key_hash) <> 32 THEN
        RAISE EXCEPTION 'key_hash must be the 32-byte SHA-256 of the key' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.key_prefix IS NULL OR length(create_api_key.key_prefix) NOT BETWEEN 1 AND 16 THEN
        RAISE EXCEPTION 'key_prefix must be 1 to 16 characters' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.queues IS NULL OR array_position(create_api_key.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be an array of queue names (empty for every queue), without NULL' USING ERRCODE = 'JQ005';
    END IF;
    FOREACH q IN ARRAY create_api_key.queues LOOP
        IF q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
            RAISE EXCEPTION 'queues: % is not a valid queue name', quote_literal(q) USING ERRCODE = 'JQ005';
        END IF;
    END LOOP;
    IF create_api_key.expires_at IS NOT NULL AND create_api_key.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at % is not in the future', create_api_key.expires_at USING ERRCODE = 'JQ005';
    END IF;
    INSERT INTO jq.api_keys AS k (name, role, queues, key_hash, key_prefix, created_by, expires_at)
    VALUES (create_api_key.name, create_api_key.role, create_api_key.queues, create_api_key.key_hash,
            create_api_key.key_prefix, jq._actor(create_api_key.actor), create_api_key.expires_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'an API key named % already exists (names are never reused, even after a revoke)', create_api_key.name
            USING ERRCODE = 'JQ007';
    END IF;
    PERFORM jq._audit(create_api_key.actor, 'key.create', k.name,
        jsonb_build_object('role', k.role, 'queues', k.queues, 'expires_at', k.expires_at));
    RETURN k;
END
$$;

COMMENT ON FUNCTION jq.create_api_key(text, jq.api_key_role, bytea, text, text[], timestamptz, text) IS
    'Record a new API key (its SHA-256 only); audited with actor.';

-- revoke_api_key revokes a key: servers refuse it once their cache of it expires
-- (auth.key_cache_ttl). JQ011 for an unknown name, JQ003 if it is already revoked.
CREATE OR REPLACE FUNCTION jq.revoke_api_key(name text, actor text DEFAULT NULL) RETURNS jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k jq.api_keys;
BEGIN
    SELECT * INTO k FROM jq.api_keys WHERE name = revoke_api_key.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no API key is named %', coalesce(quote_literal(revoke_api_key.name), 'NULL') USING ERRCODE = 'JQ011';
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was already revoked at %', k.name, k.revoked_at USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.api_keys SET revoked_at = now(), revoked_by = jq._actor(revoke_api_key.actor)
    WHERE name = k.name RETURNING * INTO k;
    PERFORM jq._audit(revoke_api_key.actor, 'key.revoke', k.name);
    RETURN k;
END
$$;

COMMENT ON FUNCTION jq.revoke_api_key(text, text) IS 'Revoke an API key; audited with actor.';

-- authenticate returns the key whose SHA-256 is key_hash (revoked or expired ones too: the
-- caller decides, and says why it refuses), or no row. It notes the key's use, at most once a
-- minute, so that every server's cache refresh does not write.
CREATE OR REPLACE FUNCTION jq.authenticate(key_hash bytea) RETURNS SETOF jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF authenticate.key_hash IS NULL OR length(authenticate.key_hash) <> 32 THEN
        RAISE EXCEPTION 'key_hash must be the 32-byte SHA-256 of the key' USING ERRCODE = 'JQ005';
    END IF;
    RETURN QUERY
    UPDATE jq.api_keys SET last_used_at = now()
    WHERE key_hash = authenticate.key_hash AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    RETURNING *;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM jq.api_keys WHERE key_hash = authenticate.key_hash;
    END IF;
END
$$;

COMMENT ON FUNCTION jq.authenticate(bytea) IS 'The API key with this SHA-256 (no row if none); notes its use.';

-- sqlfuncs/10_dependencies.sql

-- Dependencies between jobs and workflows (docs/scheduling.md). A job submitted with
-- depends_on (jq.enqueue) is WAITING while one of its parents is unfinished. Whatever finishes
-- a job with dependents (has_dependents) calls jq._parents_finished in the same transaction:
-- complete, complete_many, a dead-letter through the retry rule (fail, reaping, lost workers),
-- TTL expiry, cancel and cancel_many.

-- _parents_finished looks at the WAITING jobs that depend on parents, which this transaction
-- has just finished. A dependent whose parents are all DONE becomes PENDING (reason
-- DEPENDENCIES_MET); one with a parent DEAD_LETTERED or CANCELLED is cancelled (reason
-- DEPENDENCY_FAILED, its error naming that parent) unless its on_failure is 'run', in which
-- case it becomes PENDING once every parent has finished. Cancelled dependents cancel theirs
-- in turn.
--
-- Two parents of one job may finish at once in two transactions, each seeing the other
-- parent unfinished. So each locks the dependent first, and reads its parents in the next
-- statement, with a new snapshot: the transaction that gets the lock second waits for the
-- first to commit, and then sees both parents finished. Dependents are locked in id order.
CREATE OR REPLACE FUNCTION jq._parents_finished(parents uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    child uuid;
    c jq.jobs;
    st record;
    culprit text;
    cascade uuid[] := '{}';
BEGIN
    FOR child IN
        SELECT DISTINCT e.job_id FROM jq.job_dependencies e WHERE e.depends_on = ANY (parents) ORDER BY e.job_id
    LOOP
        SELECT * INTO c FROM jq.jobs x WHERE x.job_id = child FOR UPDATE;
        CONTINUE WHEN NOT FOUND OR c.status <> 'WAITING';
        PERFORM jq._in_order((SELECT x.xmin FROM jq.jobs x WHERE x.job_id = child));
        SELECT count(*) FILTER (WHERE p.status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')) AS unfinished,
               (array_agg(e.depends_on ORDER BY e.depends_on) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed,
               (array_agg(p.status ORDER BY e.depends_on) FILTER (WHERE p.status IN ('DEAD_LETTERED', 'CANCELLED')))[1] AS failed_status,
               bool_or(e.on_failure = 'run') AS run_anyway
        INTO st
        FROM jq.job_dependencies e
        LEFT JOIN jq.jobs p ON p.job_id = e.depends_on -- a parent pruned since was finished
        WHERE e.job_id = child;
        IF st.failed IS NOT NULL AND NOT st.run_anyway THEN
            SELECT format('%s (job %s)', w.node, w.job_id) INTO culprit FROM jq.workflow_jobs w WHERE w.job_id = st.failed LIMIT 1;
            UPDATE jq.jobs x
            SET status = 'CANCELLED', error_message = format('dependency %s ended %s', coalesce(culprit, 'job ' || st.failed), st.failed_status),
                completed_at = now(), updated_at = now()
            WHERE x.job_id = child RETURNING * INTO c;
            PERFORM jq._event(c, 'WAITING', 'CANCELLED', 'DEPENDENCY_FAILED', c.error_message);
            IF c.has_dependents THEN
                cascade := cascade || child;
            END IF;
        ELSIF st.unfinished = 0 THEN
            UPDATE jq.jobs x SET status = 'PENDING', updated_at = now() WHERE x.job_id = child RETURNING * INTO c;
            PERFORM jq._event(c, 'WAITING', 'PENDING', 'DEPENDENCIES_MET');
            IF c.not_before IS NULL OR c.not_before <= now() THEN
                PERFORM pg_notify('jq_job_ready', c.queue_name);
            END IF;
        END IF;
    END LOOP;
    IF cardinality(cascade) > 0 THEN
        PERFORM jq._parents_finished(cascade);
    END IF;
END
$$;

-- _release_finished_parents releases the dependents of the jobs this transaction noted in
-- jq.finished_parents (see jq.complete_many), and forgets them.
CREATE OR REPLACE FUNCTION jq._release_finished_parents() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    parents uuid[];
BEGIN
    WITH f AS (
        DELETE FROM jq.finished_parents f WHERE f.xid = pg_current_xact_id() RETURNING f.job_id
    )
    SELECT array_agg(f.job_id ORDER BY f.job_id) INTO parents FROM f;
    IF parents IS NOT NULL THEN
        PERFORM jq._parents_finished(parents);
    END IF;
END
$$;

-- _offsets, for positions 1..n and a list of positions, returns where each position's entries
-- start once the list is sorted (1-based; entry n + 1 is one past the end).
CREATE OR REPLACE FUNCTION jq._offsets(list integer[], n integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(o.first ORDER BY o.g) FROM (
        SELECT g, 1 + coalesce(sum(c.cnt) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::integer AS first
        FROM generate_series(1, n + 1) AS g
        LEFT JOIN (SELECT x, count(*) AS cnt FROM unnest(list) AS x GROUP BY x) AS c ON c.x = g) AS o
$$;

-- submit_workflow submits a DAG of named jobs at once, atomically: nodes is a JSON array of
-- objects {"name", "queue" (default "default"), "payload", "priority", "max_retries",
-- "concurrency_key", "depends_on": [names of other nodes], "on_dependency_failure": "cancel"
-- or "run"}, at most 1000 nodes and 10000 edges. Jobs without dependencies are PENDING, the
-- others WAITING (see jq.enqueue). A cycle is refused (JQ005), naming it. Returns the
-- workflow's id and each node's job, in the order of nodes. actor (see jq._actor) is recorded
-- as the workflow's creator.
CREATE OR REPLACE FUNCTION jq.submit_workflow(name text, nodes jsonb, actor text DEFAULT NULL)
RETURNS TABLE (workflow_id uuid, node text, job_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    wf uuid := jq.uuid_v7();
    n integer;
    spec jsonb;
    nm text;
    dep text;
    bad text;
    names text[] := '{}';
    pos jsonb := '{}';
    edge_child integer[] := '{}';
    edge_parent integer[] := '{}';
    by_parent integer[];  -- children, sorted by parent
    by_child integer[];   -- parents, sorted by child
    first_child integer[];
    first_parent integer[];
    indeg integer[];
    topo integer[] := '{}';
    head integer := 1;
    x integer;
    k integer;
    seen integer[];
    path integer[] := '{}';
    cycle text;
    ids uuid[];
    jid uuid;
    parent_ids uuid[];
BEGIN
    IF submit_workflow.name IS NULL OR length(submit_workflow.name) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'name must be 1 to 255 characters' USING ERRCODE = 'JQ005';
    END IF;
    IF jsonb_typeof(submit_workflow.nodes) IS DISTINCT FROM 'array' OR jsonb_array_length(submit_workflow.nodes) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'nodes must be a JSON array of 1 to 1000 nodes' USING ERRCODE = 'JQ005';
    END IF;
    n := jsonb_array_length(submit_workflow.nodes);
    FOR i IN 1..n LOOP
        spec := submit_workflow.nodes -> (i - 1);
        IF jsonb_typeof(spec) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'nodes[%] must be a JSON object', i - 1 USING ERRCODE = 'JQ005';
        END IF;
        SELECT f INTO bad FROM jsonb_object_keys(spec) AS f
        WHERE f NOT IN ('name', 'queue', 'payload', 'priority', 'max_retries', 'concurrency_key', 'depends_on', 'on_dependency_failure')
        LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'nodes[%] has an unknown key %', i - 1, quote_literal(bad) USING ERRCODE = 'JQ005';
        END IF;
        nm := spec ->> 'name';
        IF jsonb_typeof(spec -> 'name') IS DISTINCT FROM 'string' OR nm !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
            RAISE EXCEPTION 'nodes[%].name % is invalid: use letters, digits and . _ : - (at most 128, starting with a letter or digit)',
                i - 1, coalesce(quote_literal(nm), 'NULL') USING ERRCODE = 'JQ005';
        END IF;
        IF pos ? nm THEN
            RAISE EXCEPTION 'nodes: two nodes are named %', nm USING ERRCODE = 'JQ005';
        END IF;
        IF spec -> 'payload' IS NULL OR jsonb_typeof(spec -> 'payload') = 'null' THEN
            RAISE EXCEPTION 'nodes: node % has no payload', nm USING ERRCODE = 'JQ005';
        END IF;
        SELECT f INTO bad FROM unnest(ARRAY['queue', 'concurrency_key', 'on_dependency_failure']) AS f
        WHERE spec ? f AND jsonb_typeof(spec -> f) <> 'string' LIMIT 1;
        IF bad IS NULL THEN
            SELECT f INTO bad FROM unnest(ARRAY['priority', 'max_retries']) AS f
            WHERE spec ? f AND (jsonb_typeof(spec -> f) <> 'number' OR (spec ->> f)::numeric <> trunc((spec ->> f)::numeric)
                                OR abs((spec ->> f)::numeric) > 100000) LIMIT 1;
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'nodes: node %: % must be a %', nm, bad,
                CASE WHEN bad IN ('priority', 'max_retries') THEN 'whole number' ELSE 'string' END USING ERRCODE = 'JQ005';
        END IF;
        IF spec ? 'depends_on' AND jsonb_typeof(spec -> 'depends_on') <> 'array' THEN
            RAISE EXCEPTION 'nodes: node %: depends_on must be an array of node names', nm USING ERRCODE = 'JQ005';
        END IF;
        names := names || nm;
        pos := pos || jsonb_build_object(nm, i);
    END LOOP;

    -- The edges, child and parent by position.
    FOR i IN 1..n LOOP
        spec := submit_workflow.nodes -> (i - 1);
        FOR dep IN SELECT DISTINCT d FROM jsonb_array_elements_text(coalesce(spec -> 'depends_on', '[]')) AS d LOOP
            IF NOT pos ? dep THEN
                RAISE EXCEPTION 'nodes: node % depends on %, which is not a node of the workflow', names[i], quote_literal(dep)
                    USING ERRCODE = 'JQ005';
            END IF;
            IF dep = names[i] THEN
                RAISE EXCEPTION 'nodes: node % depends on itself', dep USING ERRCODE = 'JQ005';
            END IF;
            edge_child := edge_child || i;
            edge_parent := edge_parent || (pos ->> dep)::integer;
        END LOOP;
    END LOOP;
    IF cardinality(edge_child) > 10000 THEN
        RAISE EXCEPTION 'nodes: % dependencies, over the limit of 10000', cardinality(edge_child) USING ERRCODE = 'JQ005';
    END IF;

    -- A topological order (Kahn): the nodes whose parents are all placed, in turn.
    SELECT coalesce(array_agg(e.c ORDER BY e.p, e.c), '{}'), coalesce(array_agg(e.p ORDER BY e.c, e.p), '{}')
    INTO by_parent, by_child FROM unnest(edge_child, edge_parent) AS e (c, p);
    -- first_child[x]: where x's children start in by_parent (and first_parent[x] in by_child).
    first_child := jq._offsets(edge_parent, n);
    first_parent := jq._offsets(edge_child, n);
    indeg := ARRAY(SELECT first_parent[g + 1] - first_parent[g] FROM generate_series(1, n) AS g);
    FOR i IN 1..n LOOP
        IF indeg[i] = 0 THEN
            topo := topo || i;
        END IF;
    END LOOP;
    WHILE head <= cardinality(topo) LOOP
        x := topo[head];
        head := head + 1;
        FOR k IN first_child[x] .. first_child[x + 1] - 1 LOOP
            indeg[by_parent[k]] := indeg[by_parent[k]] - 1;
            IF indeg[by_parent[k]] = 0 THEN
                topo := topo || by_parent[k];
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(topo) < n THEN
        -- Every node left has a parent left: walking from one to such a parent comes back to a
        -- node already seen, and what lies between is a cycle.
        seen := array_fill(0, ARRAY[n]);
        SELECT min(g) INTO x FROM generate_series(1, n) AS g WHERE indeg[g] > 0;
        WHILE seen[x] = 0 LOOP
            path := path || x;
            seen[x] := cardinality(path);
            SELECT min(p) INTO x FROM unnest(by_child[first_parent[x]:first_parent[x + 1] - 1]) AS p WHERE indeg[p] > 0;
        END LOOP;
        SELECT string_agg(names[p], ' → ' ORDER BY o) || ' → ' || names[x] INTO cycle
        FROM unnest(path[seen[x]:]) WITH ORDINALITY AS c (p, o);
        RAISE EXCEPTION 'nodes: the dependencies form a cycle: % (each depends on the next)', cycle USING ERRCODE = 'JQ005';
    END IF;

    INSERT INTO jq.workflows (workflow_id, name, created_by) VALUES (wf, submit_workflow.name, jq._actor(submit_workflow.actor));
    ids := array_fill(NULL::uuid, ARRAY[n]);
    FOREACH x IN ARRAY topo LOOP
        spec := submit_workflow.nodes -> (x - 1);
        parent_ids := ARRAY(SELECT ids[p] FROM unnest(by_child[first_parent[x]:first_parent[x + 1] - 1]) AS p);
        SELECT e.job_id INTO jid FROM jq.enqueue(
            coalesce(spec ->> 'queue', 'default'), spec -> 'payload',
            coalesce((spec ->> 'priority')::numeric::integer, 0), (spec ->> 'max_retries')::numeric::integer,
            concurrency_key => spec ->> 'concurrency_key',
            depends_on => nullif(parent_ids, '{}'),
            on_dependency_failure => coalesce(spec ->> 'on_dependency_failure', 'cancel')) AS e;
        ids[x] := jid;
        INSERT INTO jq.workflow_jobs (workflow_id, node, job_id) VALUES (wf, names[x], jid);
    END LOOP;
    RETURN QUERY SELECT wf, names[g], ids[g] FROM generate_series(1, n) AS g ORDER BY g;
END
$$;

COMMENT ON FUNCTION jq.submit_workflow(text, jsonb, text) IS
    'Submit a DAG of named jobs atomically (a cycle is refused, naming it); returns the workflow id and each node''s job.';

-- sqlfuncs/11_schedules.sql

-- Periodic schedules (docs/scheduling.md). A schedule submits a job to a queue at the times
-- of a cron expression. The expression is parsed by jq-server, whose maintenance leader fires
-- the schedules: these functions store and check what SQL can, and record each fire time once
-- (jq.schedule_fires' primary key), whichever server fires it.
--
-- Errors: JQ012 for an unknown schedule.

-- _check_schedule refuses a schedule argument that is malformed, naming it. The cron
-- expression is checked for its shape (5 fields, or 6 with seconds first, or a descriptor such
-- as @hourly or @every 30s); jq-server parses it fully, and a schedule it cannot parse says why
-- in last_error.
CREATE OR REPLACE FUNCTION jq._check_schedule(
    name text, cron text, time_zone text, priority integer, max_retries integer, overlap text, catch_up text
) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
        RAISE EXCEPTION 'schedule name % is invalid: use letters, digits and . _ : - (at most 128, starting with a letter or digit)',
            coalesce(quote_literal(name), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF cron IS NULL OR length(cron) > 255
       OR NOT (cron ~ '^\s*@(yearly|annually|monthly|weekly|daily|midnight|hourly)\s*$'
               OR cron ~ '^\s*@every\s+[0-9][0-9a-zµ.]*\s*$'
               OR cron ~ '^\s*[0-9A-Za-z*?,/-]+(\s+[0-9A-Za-z*?,/-]+){4,5}\s*$') THEN
        RAISE EXCEPTION 'cron % is not a cron expression: want 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily, @every 30s, ...',
            coalesce(quote_literal(cron), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF time_zone IS NULL OR time_zone = '' THEN
        RAISE EXCEPTION 'time_zone must not be empty (UTC, Europe/Paris, ...)' USING ERRCODE = 'JQ005';
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE time_zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'time_zone % is not a time zone PostgreSQL knows (UTC, Europe/Paris, ...)', quote_literal(time_zone)
            USING ERRCODE = 'JQ005';
    END;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'priority % is outside 0-9', coalesce(priority::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF max_retries NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'max_retries % is outside 0-1000', max_retries USING ERRCODE = 'JQ005';
    END IF;
    IF overlap IS NULL OR overlap NOT IN ('allow', 'skip') THEN
        RAISE EXCEPTION 'overlap % must be allow or skip', coalesce(quote_literal(overlap), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF catch_up IS NULL OR catch_up NOT IN ('none', 'last') THEN
        RAISE EXCEPTION 'catch_up % must be none or last', coalesce(quote_literal(catch_up), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
END
$$;

-- create_schedule creates a schedule: a job (queue, payload, priority, max_retries NULL for
-- the queue's) submitted at each time of cron in time_zone. overlap 'skip' submits nothing
-- while the schedule's previous job is unfinished; catch_up says what a leader does with the
-- times missed while no server ran ('none': skip them, 'last': fire the latest once). JQ007
-- if it exists, unless replace: then its definition is replaced (and its next time computed
-- again if cron or time_zone changed). from_config marks the schedules jq-server applies from
-- its configuration; only they may redefine one of them (JQ003 otherwise). Audited with actor.
CREATE OR REPLACE FUNCTION jq.create_schedule(
    name text,
    cron text,
    queue text,
    payload jsonb,
    time_zone text DEFAULT 'UTC',
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    overlap text DEFAULT 'allow',
    catch_up text DEFAULT 'none',
    replace boolean DEFAULT false,
    from_config boolean DEFAULT false,
    actor text DEFAULT NULL
) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s jq.schedules;
    old jq.schedules;
BEGIN
    PERFORM jq._check_schedule(create_schedule.name, create_schedule.cron, create_schedule.time_zone, create_schedule.priority,
        create_schedule.max_retries, create_schedule.overlap, create_schedule.catch_up);
    IF create_schedule.queue IS NULL OR create_schedule.queue = '' THEN
        RAISE EXCEPTION 'queue name must not be empty' USING ERRCODE = 'JQ005';
    END IF;
    IF create_schedule.payload IS NULL THEN
        RAISE EXCEPTION 'payload must not be null' USING ERRCODE = 'JQ005';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jq.queues q WHERE q.name = create_schedule.queue) THEN
        RAISE EXCEPTION 'queue % does not exist', create_schedule.queue USING ERRCODE = 'JQ001';
    END IF;
    INSERT INTO jq.schedules AS s (name, cron, time_zone, queue_name, payload, priority, max_retries, overlap, catch_up,
                                   from_config, created_by)
    VALUES (create_schedule.name, trim(create_schedule.cron), create_schedule.time_zone, create_schedule.queue,
            create_schedule.payload, create_schedule.priority, create_schedule.max_retries, create_schedule.overlap,
            create_schedule.catch_up, coalesce(create_schedule.from_config, false), jq._actor(create_schedule.actor))
    ON CONFLICT (name) DO NOTHING
    RETURNING * INTO s;
    IF FOUND THEN
        PERFORM jq._audit(create_schedule.actor, 'schedule.create', s.name,
            jsonb_build_object('cron', s.cron, 'time_zone', s.time_zone, 'queue', s.queue_name));
        RETURN s;
    END IF;
    IF NOT coalesce(create_schedule.replace, false) THEN
        RAISE EXCEPTION 'schedule % already exists', create_schedule.name USING ERRCODE = 'JQ007',
            HINT = 'delete it first, or replace it';
    END IF;
    SELECT * INTO old FROM jq.schedules x WHERE x.name = create_schedule.name FOR UPDATE;
    IF old.from_config AND NOT coalesce(create_schedule.from_config, false) THEN
        RAISE EXCEPTION 'schedule % is defined in jq-server''s configuration (schedules:); change it there', old.name
            USING ERRCODE = 'JQ003';
    END IF;
    IF (old.cron, old.time_zone, old.queue_name, old.payload, old.priority, old.max_retries, old.overlap, old.catch_up, old.from_config)
       IS NOT DISTINCT FROM (trim(create_schedule.cron), create_schedule.time_zone, create_schedule.queue, create_schedule.payload,
                             create_schedule.priority::smallint, create_schedule.max_retries::smallint, create_schedule.overlap,
                             create_schedule.catch_up, coalesce(create_schedule.from_config, false)) THEN
        RETURN old; -- unchanged: a leader applying its configuration again changes nothing
    END IF;
    UPDATE jq.schedules x
    SET cron = trim(create_schedule.cron), time_zone = create_schedule.time_zone, queue_name = create_schedule.queue,
        payload = create_schedule.payload, priority = create_schedule.priority, max_retries = create_schedule.max_retries,
        overlap = create_schedule.overlap, catch_up = create_schedule.catch_up,
        from_config = coalesce(create_schedule.from_config, false),
        next_fire_at = CASE WHEN (x.cron, x.time_zone) = (trim(create_schedule.cron), create_schedule.time_zone)
                            THEN x.next_fire_at END,
        last_error = NULL, updated_at = now()
    WHERE x.name = create_schedule.name
    RETURNING * INTO s;
    PERFORM jq._audit(create_schedule.actor, 'schedule.update', s.name,
        jsonb_build_object('cron', s.cron, 'time_zone', s.time_zone, 'queue', s.queue_name));
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.create_schedule(text, text, text, jsonb, text, integer, integer, text, text, boolean, boolean, text) IS
    'Create (or with replace, redefine) a periodic schedule that submits a job at each time of a cron expression; audited.';

-- _schedule locks a schedule, or raises JQ012.
CREATE OR REPLACE FUNCTION jq._schedule(name text) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    PERFORM jq._not_null(name, 'name');
    SELECT * INTO s FROM jq.schedules x WHERE x.name = _schedule.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule % does not exist', name USING ERRCODE = 'JQ012';
    END IF;
    RETURN s;
END
$$;

-- delete_schedule deletes a schedule (and its record of fires). A schedule of jq-server's
-- configuration is refused (JQ003: remove it from the configuration), unless force. Audited.
CREATE OR REPLACE FUNCTION jq.delete_schedule(name text, actor text DEFAULT NULL, force boolean DEFAULT false) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    s := jq._schedule(delete_schedule.name);
    IF s.from_config AND NOT coalesce(delete_schedule.force, false) THEN
        RAISE EXCEPTION 'schedule % is defined in jq-server''s configuration (schedules:); remove it there', s.name
            USING ERRCODE = 'JQ003';
    END IF;
    DELETE FROM jq.schedules x WHERE x.name = s.name;
    PERFORM jq._audit(delete_schedule.actor, 'schedule.delete', s.name);
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.delete_schedule(text, text, boolean) IS
    'Delete a schedule (a configured one only with force); audited.';

-- pause_schedule stops a schedule firing until it is resumed. Audited.
CREATE OR REPLACE FUNCTION jq.pause_schedule(name text, actor text DEFAULT NULL) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    s := jq._schedule(pause_schedule.name);
    IF NOT s.paused THEN
        UPDATE jq.schedules x SET paused = true WHERE x.name = s.name RETURNING * INTO s;
        PERFORM jq._audit(pause_schedule.actor, 'schedule.pause', s.name);
    END IF;
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.pause_schedule(text, text) IS 'Pause a schedule: it fires no more until resumed; audited.';

-- resume_schedule resumes a paused schedule from now: the times that passed while it was paused
-- are not caught up. Audited.
CREATE OR REPLACE FUNCTION jq.resume_schedule(name text, actor text DEFAULT NULL) RETURNS jq.schedules
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
BEGIN
    s := jq._schedule(resume_schedule.name);
    IF s.paused THEN
        UPDATE jq.schedules x SET paused = false, next_fire_at = NULL, updated_at = now() WHERE x.name = s.name RETURNING * INTO s;
        PERFORM jq._audit(resume_schedule.actor, 'schedule.resume', s.name);
    END IF;
    RETURN s;
END
$$;

COMMENT ON FUNCTION jq.resume_schedule(text, text) IS 'Resume a paused schedule from now (paused times are not caught up); audited.';

-- _fire submits a schedule's job for fire_time (the row of jq.schedule_fires is the caller's),
-- honouring its overlap policy, and records the outcome: submitted, skipped (the previous job
-- is unfinished) or failed (the submit was refused, e.g. its queue is gone: the error is kept).
CREATE OR REPLACE FUNCTION jq._fire(s jq.schedules, fire_time timestamptz, kind text, OUT outcome text, OUT job_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    err text;
BEGIN
    outcome := kind;
    IF kind = 'submitted' AND s.overlap = 'skip' AND EXISTS (
        SELECT 1 FROM jq.jobs j WHERE j.job_id = s.last_job_id AND j.status NOT IN ('DONE', 'DEAD_LETTERED', 'CANCELLED')) THEN
        outcome := 'skipped';
    ELSE
        BEGIN
            SELECT e.job_id INTO job_id FROM jq.enqueue(s.queue_name, s.payload, s.priority, s.max_retries) AS e;
        EXCEPTION WHEN SQLSTATE 'JQ001' OR SQLSTATE 'JQ005' THEN
            outcome := 'failed';
            err := SQLERRM;
        END;
    END IF;
    UPDATE jq.schedule_fires f SET outcome = _fire.outcome, job_id = _fire.job_id, error = err
    WHERE f.schedule_name = s.name AND f.fire_time = _fire.fire_time;
    UPDATE jq.schedules x SET last_job_id = coalesce(_fire.job_id, x.last_job_id), last_error = err WHERE x.name = s.name;
END
$$;

-- fire_schedule fires a schedule for one time of its cron expression, as jq-server's leader
-- does: it records fire_time, submits the job (see jq._fire) and moves next_fire_at forward to
-- next_fire_at. version is the schedule's updated_at that the caller computed the times from:
-- if the schedule was redefined since, nothing happens (outcome 'changed'). A time recorded
-- already (by another server) is not fired again (outcome 'duplicate'), nor is a paused
-- schedule ('paused'). Returns the outcome and the job submitted, if any.
CREATE OR REPLACE FUNCTION jq.fire_schedule(
    name text,
    version timestamptz,
    fire_time timestamptz,
    next_fire_at timestamptz
) RETURNS TABLE (outcome text, job_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s jq.schedules;
    fired record;
BEGIN
    PERFORM jq._not_null(fire_schedule.version, 'version');
    PERFORM jq._not_null(fire_schedule.fire_time, 'fire_time');
    IF fire_schedule.next_fire_at IS NULL OR fire_schedule.next_fire_at <= fire_schedule.fire_time THEN
        RAISE EXCEPTION 'next_fire_at % must be after fire_time %', coalesce(fire_schedule.next_fire_at::text, 'NULL'),
            fire_schedule.fire_time USING ERRCODE = 'JQ005';
    END IF;
    s := jq._schedule(fire_schedule.name);
    IF s.updated_at <> fire_schedule.version THEN
        RETURN QUERY SELECT 'changed'::text, NULL::uuid;
        RETURN;
    END IF;
    IF s.paused THEN
        RETURN QUERY SELECT 'paused'::text, NULL::uuid;
        RETURN;
    END IF;
    UPDATE jq.schedules x
    SET next_fire_at = fire_schedule.next_fire_at, last_fire_at = greatest(x.last_fire_at, fire_schedule.fire_time)
    WHERE x.name = s.name AND (x.next_fire_at IS NULL OR x.next_fire_at < fire_schedule.next_fire_at);
    INSERT INTO jq.schedule_fires (schedule_name, fire_time, outcome)
    VALUES (s.name, fire_schedule.fire_time, 'submitted')
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate'::text, f.job_id FROM jq.schedule_fires f
            WHERE f.schedule_name = s.name AND f.fire_time = fire_schedule.fire_time;
        RETURN;
    END IF;
    fired := jq._fire(s, fire_schedule.fire_time, 'submitted');
    RETURN QUERY SELECT fired.outcome, fired.job_id;
END
$$;

COMMENT ON FUNCTION jq.fire_schedule(text, timestamptz, timestamptz, timestamptz) IS
    'Fire a schedule for one of its times, once whatever the number of servers (jq-server''s leader calls it); returns the outcome and the job.';

-- advance_schedule moves a schedule's next_fire_at forward without firing: to its first time
-- (when next_fire_at is NULL) or past times missed while no server ran, counted in missed. As
-- for fire_schedule, version is the updated_at the caller computed from; returns whether it
-- moved (false: redefined, paused, or already further).
CREATE OR REPLACE FUNCTION jq.advance_schedule(
    name text,
    version timestamptz,
    next_fire_at timestamptz,
    missed integer DEFAULT 0
) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM jq._not_null(advance_schedule.name, 'name');
    PERFORM jq._not_null(advance_schedule.version, 'version');
    PERFORM jq._not_null(advance_schedule.next_fire_at, 'next_fire_at');
    IF advance_schedule.missed IS NULL OR advance_schedule.missed < 0 THEN
        RAISE EXCEPTION 'missed must be 0 or more, got %', coalesce(advance_schedule.missed::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    UPDATE jq.schedules x
    SET next_fire_at = advance_schedule.next_fire_at, missed = x.missed + advance_schedule.missed
    WHERE x.name = advance_schedule.name AND x.updated_at = advance_schedule.version AND NOT x.paused
      AND (x.next_fire_at IS NULL OR x.next_fire_at < advance_schedule.next_fire_at);
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION jq.advance_schedule(text, timestamptz, timestamptz, integer) IS
    'Move a schedule''s next fire time forward without firing (its first time, or past missed ones); returns whether it moved.';

-- trigger_schedule fires a schedule now, out of turn (paused or not, whatever its overlap
-- policy), and returns the job submitted; its next time is unchanged. Audited.
CREATE OR REPLACE FUNCTION jq.trigger_schedule(name text, actor text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    s jq.schedules;
    at timestamptz := clock_timestamp();
    fired record;
BEGIN
    s := jq._schedule(trigger_schedule.name);
    INSERT INTO jq.schedule_fires (schedule_name, fire_time, outcome) VALUES (s.name, at, 'triggered');
    fired := jq._fire(s, at, 'triggered');
    IF fired.outcome = 'failed' THEN
        RAISE EXCEPTION 'schedule %: %', s.name, (SELECT f.error FROM jq.schedule_fires f WHERE f.schedule_name = s.name AND f.fire_time = at)
            USING ERRCODE = 'JQ003';
    END IF;
    PERFORM jq._audit(trigger_schedule.actor, 'schedule.trigger', s.name, jsonb_build_object('job_id', fired.job_id));
    RETURN fired.job_id;
END
$$;

COMMENT ON FUNCTION jq.trigger_schedule(text, text) IS 'Fire a schedule now, out of turn; returns the job; audited.';

-- prune_schedule_fires deletes the record of fires older than older_than, at most max_rows
-- per call. Returns how many.
CREATE OR REPLACE FUNCTION jq.prune_schedule_fires(older_than interval, max_rows integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
BEGIN
    IF prune_schedule_fires.older_than IS NULL OR prune_schedule_fires.older_than < '0' THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'JQ005';
    END IF;
    PERFORM jq._check_max_rows(prune_schedule_fires.max_rows);
    DELETE FROM jq.schedule_fires f WHERE (f.schedule_name, f.fire_time) IN (
        SELECT x.schedule_name, x.fire_time FROM jq.schedule_fires x
        WHERE x.fired_at < now() - prune_schedule_fires.older_than
        ORDER BY x.fired_at
        LIMIT prune_schedule_fires.max_rows
        FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION jq.prune_schedule_fires(interval, integer) IS 'Delete the record of schedule fires older than older_than; returns how many.';

-- schedule_failed records why a schedule cannot fire (its expression does not parse, say) in
-- last_error, unless the schedule was redefined since version (the updated_at the caller read).
CREATE OR REPLACE FUNCTION jq.schedule_failed(name text, version timestamptz, error text) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM jq._not_null(schedule_failed.name, 'name');
    PERFORM jq._not_null(schedule_failed.version, 'version');
    PERFORM jq._not_null(schedule_failed.error, 'error');
    UPDATE jq.schedules x SET last_error = left(schedule_failed.error, 4096)
    WHERE x.name = schedule_failed.name AND x.updated_at = schedule_failed.version;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION jq.schedule_failed(text, timestamptz, text) IS 'Record why a schedule cannot fire (last_error); returns whether it did.';


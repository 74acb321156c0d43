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

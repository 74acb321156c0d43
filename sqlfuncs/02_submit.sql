-- Submitting jobs. Callable from any transaction: the job becomes visible (and the scheduler
-- is woken by NOTIFY) when that transaction commits.

-- enqueue is submit that also says whether it inserted (false: the idempotency key matched
-- an existing job, whose id is returned). notify => false leaves the NOTIFY to the caller:
-- jq-server sends one per queue for many submits after they commit (see queue.Announcer),
-- because transactions that NOTIFY serialise their commits on PostgreSQL's notify lock.
-- new_job_id, when given, is the new job's id (jq-server makes it before the insert, so that it can
-- tell, after losing a commit's answer, whether the job exists); NULL makes a UUIDv7.
CREATE OR REPLACE FUNCTION jq.enqueue(
    queue text,
    payload jsonb,
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    not_before timestamptz DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    notify boolean DEFAULT true,
    new_job_id uuid DEFAULT NULL,
    concurrency_key text DEFAULT NULL
) RETURNS TABLE (job_id uuid, inserted boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    queue_max_retries integer;
    new_job jq.jobs;
    existing uuid;
    key text := nullif(enqueue.idempotency_key, '');
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

    -- The queue cannot be deleted until this transaction ends (see jq._queue_lock).
    PERFORM pg_advisory_xact_lock_shared(jq._queue_lock(enqueue.queue));
    SELECT q.max_retries INTO queue_max_retries FROM jq.queues q WHERE q.name = enqueue.queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % does not exist', enqueue.queue USING ERRCODE = 'JQ001',
            HINT = 'create it with jq.create_queue or jq-ctl queue create';
    END IF;

    -- Two passes at most: if the job holding the key is pruned between the conflict and the
    -- lookup, the second insert succeeds.
    FOR i IN 1..2 LOOP
        INSERT INTO jq.jobs AS j (job_id, queue_name, payload, priority, max_retries, not_before, idempotency_key, concurrency_key)
        VALUES (coalesce(enqueue.new_job_id, jq.uuid_v7()), enqueue.queue, enqueue.payload, enqueue.priority,
                coalesce(enqueue.max_retries, queue_max_retries), enqueue.not_before, key, nullif(enqueue.concurrency_key, ''))
        ON CONFLICT (queue_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.* INTO new_job;

        IF new_job.job_id IS NOT NULL THEN
            PERFORM jq._event(new_job, NULL, 'PENDING', 'SUBMITTED');
            IF enqueue.notify AND (new_job.not_before IS NULL OR new_job.not_before <= now()) THEN
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

COMMENT ON FUNCTION jq.enqueue(text, jsonb, integer, integer, timestamptz, text, boolean, uuid, text) IS
    'Like jq.submit, and also returns whether a job was inserted (false: the idempotency key matched an existing job).';

-- submit inserts a PENDING job and returns its id. max_retries NULL takes the queue's; a
-- repeated idempotency key (per queue) returns the existing job's id and inserts nothing.
CREATE OR REPLACE FUNCTION jq.submit(
    queue text,
    payload jsonb,
    priority integer DEFAULT 0,
    max_retries integer DEFAULT NULL,
    not_before timestamptz DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    concurrency_key text DEFAULT NULL
) RETURNS uuid
LANGUAGE sql AS $$
    SELECT e.job_id FROM jq.enqueue(queue, payload, priority, max_retries, not_before, idempotency_key,
                                    concurrency_key => concurrency_key) AS e
$$;

COMMENT ON FUNCTION jq.submit(text, jsonb, integer, integer, timestamptz, text, text) IS
    'Submit a job: SELECT jq.submit(queue => ''default'', payload => ''{"command": ["echo", "hi"]}'').';

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

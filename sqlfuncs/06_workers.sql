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

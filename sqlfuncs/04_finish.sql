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

-- Operator actions on single jobs.

-- cancel dead-letters a job that has not started: PENDING or ASSIGNED -> DEAD_LETTERED
-- (reason CANCELLED). A RUNNING or finished job raises JQ003. actor (see jq._actor) is
-- recorded in the event.
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
    IF j.status NOT IN ('PENDING', 'ASSIGNED') THEN
        RAISE EXCEPTION 'job % is %: only PENDING or ASSIGNED jobs can be cancelled', j.job_id, j.status
            USING ERRCODE = 'JQ003';
    END IF;
    from_status := j.status;
    UPDATE jq.jobs
    SET status = 'DEAD_LETTERED', error_message = 'cancelled', completed_at = now(), updated_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, from_status, 'DEAD_LETTERED', 'CANCELLED', NULL, jq._actor(cancel.actor));
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.cancel(uuid, text) IS 'Cancel a PENDING or ASSIGNED job (-> DEAD_LETTERED, reason CANCELLED); actor is recorded in the event.';

-- retry makes a FAILED or DEAD_LETTERED job PENDING again, runnable at once, with its retry
-- count reset (reason MANUAL_RETRY). actor (see jq._actor) is recorded in the event.
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
    IF j.status NOT IN ('FAILED', 'DEAD_LETTERED') THEN
        RAISE EXCEPTION 'job % is %: only FAILED or DEAD_LETTERED jobs can be retried', j.job_id, j.status
            USING ERRCODE = 'JQ003';
    END IF;
    from_status := j.status;
    UPDATE jq.jobs
    SET status = 'PENDING', retry_count = 0, not_before = NULL, result = NULL, error_message = NULL,
        assigned_at = NULL, started_at = NULL, completed_at = NULL, updated_at = now()
    WHERE job_id = j.job_id RETURNING * INTO j;
    PERFORM jq._event(j, from_status, 'PENDING', 'MANUAL_RETRY', NULL, jq._actor(retry.actor));
    PERFORM pg_notify('jq_job_ready', j.queue_name);
    RETURN j;
END
$$;

COMMENT ON FUNCTION jq.retry(uuid, text) IS 'Retry a FAILED or DEAD_LETTERED job now, retry count reset (reason MANUAL_RETRY); actor is recorded in the event.';

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

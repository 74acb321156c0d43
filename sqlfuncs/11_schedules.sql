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

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: jq; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA jq;


--
-- Name: api_key_role; Type: TYPE; Schema: jq; Owner: -
--

CREATE TYPE jq.api_key_role AS ENUM (
    'admin',
    'submitter',
    'worker',
    'reader'
);


--
-- Name: job_status; Type: TYPE; Schema: jq; Owner: -
--

CREATE TYPE jq.job_status AS ENUM (
    'PENDING',
    'ASSIGNED',
    'RUNNING',
    'DONE',
    'FAILED',
    'DEAD_LETTERED',
    'CANCELLED',
    'WAITING'
);


--
-- Name: worker_status; Type: TYPE; Schema: jq; Owner: -
--

CREATE TYPE jq.worker_status AS ENUM (
    'ONLINE',
    'OFFLINE',
    'DRAINING'
);


--
-- Name: _actor(text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._actor(actor text) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(nullif(actor, ''), 'sql:' || session_user)
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: jobs; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.jobs (
    job_id uuid DEFAULT gen_random_uuid() NOT NULL,
    queue_name text NOT NULL,
    payload jsonb NOT NULL,
    status jq.job_status DEFAULT 'PENDING'::jq.job_status NOT NULL,
    priority smallint DEFAULT 0 NOT NULL,
    max_retries smallint NOT NULL,
    retry_count smallint DEFAULT 0 NOT NULL,
    attempt integer DEFAULT 0 NOT NULL,
    worker_id uuid,
    result bytea,
    error_message text,
    idempotency_key text,
    not_before timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    assigned_at timestamp with time zone,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    concurrency_key text,
    unique_key text,
    has_dependents boolean DEFAULT false NOT NULL,
    progress double precision,
    progress_message text,
    progress_at timestamp with time zone,
    CONSTRAINT jobs_concurrency_key_length CHECK ((length(concurrency_key) <= 255)),
    CONSTRAINT jobs_max_retries_range CHECK (((max_retries >= 0) AND (max_retries <= 1000))),
    CONSTRAINT jobs_priority_range CHECK (((priority >= 0) AND (priority <= 9))),
    CONSTRAINT jobs_progress_message_length CHECK ((length(progress_message) <= 1024)),
    CONSTRAINT jobs_progress_range CHECK (((progress >= (0)::double precision) AND (progress <= (100)::double precision))),
    CONSTRAINT jobs_unique_key_length CHECK ((length(unique_key) <= 255))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_vacuum_insert_scale_factor='0.05', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_limit='2000');


--
-- Name: _assign(uuid[], xid[], uuid[], integer[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._assign(job_ids uuid[], xmins xid[], worker_ids uuid[], max_jobs integer[]) RETURNS SETOF jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _audit(text, text, text, jsonb); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._audit(actor text, action text, target text, detail jsonb DEFAULT '{}'::jsonb) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO jq.audit_log (actor, action, target, detail) VALUES (jq._actor(actor), action, target, coalesce(detail, '{}'))
$$;


--
-- Name: _check_floors(timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._check_floors(floors timestamp with time zone[]) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    IF coalesce(cardinality(_check_floors.floors), 0) <> 10 THEN
        RAISE EXCEPTION 'floors must hold 10 entries, one per priority 0-9 (got %)',
            coalesce(cardinality(_check_floors.floors), 0) USING ERRCODE = 'JQ005';
    END IF;
END
$$;


--
-- Name: _check_max_rows(integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._check_max_rows(max_rows integer) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be a positive number, got %', coalesce(max_rows::text, 'NULL') USING ERRCODE = 'JQ005';
    END IF;
END
$$;


--
-- Name: _check_schedule(text, text, text, integer, integer, text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._check_schedule(name text, cron text, time_zone text, priority integer, max_retries integer, overlap text, catch_up text) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $_$
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
$_$;


--
-- Name: _claim_above(text, integer, timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._claim_above(queue text, total integer, floors timestamp with time zone[]) RETURNS TABLE(job_id uuid, xmin xid, n bigint)
    LANGUAGE sql ROWS 50
    SET enable_sort TO 'off'
    SET jit TO 'off'
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


--
-- Name: _claim_head(text[], integer, timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._claim_head(queues text[], total integer, floors timestamp with time zone[]) RETURNS TABLE(job_id uuid, xmin xid, n bigint, seen bigint)
    LANGUAGE sql ROWS 50
    SET enable_sort TO 'off'
    SET jit TO 'off'
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


--
-- Name: _claim_lock(text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._claim_lock(queue text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT hashtextextended('jq.claim:' || queue, 0)
$$;


--
-- Name: _current_attempt(uuid, uuid, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._current_attempt(job_id uuid, worker_id uuid, attempt integer) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _event(jq.jobs, jq.job_status, jq.job_status, text, text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._event(j jq.jobs, from_status jq.job_status, to_status jq.job_status, reason text, error_message text DEFAULT NULL::text, actor text DEFAULT NULL::text) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason, error_message, actor)
    VALUES (j.job_id, j.queue_name, from_status, to_status, j.worker_id, j.attempt, reason, error_message, actor)
$$;


--
-- Name: _fair_pick(text, integer, integer, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._fair_pick(queue text, cap integer, key_cap integer, cursor text) RETURNS TABLE(job_id uuid, rr integer, concurrency_key text)
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: schedules; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.schedules (
    name text NOT NULL,
    cron text NOT NULL,
    time_zone text DEFAULT 'UTC'::text NOT NULL,
    queue_name text NOT NULL,
    payload jsonb NOT NULL,
    priority smallint DEFAULT 0 NOT NULL,
    max_retries smallint,
    overlap text DEFAULT 'allow'::text NOT NULL,
    catch_up text DEFAULT 'none'::text NOT NULL,
    paused boolean DEFAULT false NOT NULL,
    from_config boolean DEFAULT false NOT NULL,
    next_fire_at timestamp with time zone,
    last_fire_at timestamp with time zone,
    last_job_id uuid,
    last_error text,
    missed bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text NOT NULL,
    CONSTRAINT schedules_catch_up CHECK ((catch_up = ANY (ARRAY['none'::text, 'last'::text]))),
    CONSTRAINT schedules_cron_length CHECK (((length(cron) >= 1) AND (length(cron) <= 255))),
    CONSTRAINT schedules_max_retries_range CHECK (((max_retries >= 0) AND (max_retries <= 1000))),
    CONSTRAINT schedules_name_format CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'::text)),
    CONSTRAINT schedules_overlap CHECK ((overlap = ANY (ARRAY['allow'::text, 'skip'::text]))),
    CONSTRAINT schedules_priority_range CHECK (((priority >= 0) AND (priority <= 9)))
);


--
-- Name: _fire(jq.schedules, timestamp with time zone, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._fire(s jq.schedules, fire_time timestamp with time zone, kind text, OUT outcome text, OUT job_id uuid) RETURNS record
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _in_order(xid); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._in_order(row_xmin xid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT age(row_xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation()
$$;


--
-- Name: _not_null(anyelement, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._not_null(value anyelement, name text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be null', name USING ERRCODE = 'JQ005';
    END IF;
END
$$;


--
-- Name: _offsets(integer[], integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._offsets(list integer[], n integer) RETURNS integer[]
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT array_agg(o.first ORDER BY o.g) FROM (
        SELECT g, 1 + coalesce(sum(c.cnt) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::integer AS first
        FROM generate_series(1, n + 1) AS g
        LEFT JOIN (SELECT x, count(*) AS cnt FROM unnest(list) AS x GROUP BY x) AS c ON c.x = g) AS o
$$;


--
-- Name: _order_violation(); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._order_violation() RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'a newer transaction changed a job this one locked; retry'
        USING ERRCODE = '40001', HINT = 'the jq functions are safe to retry: they changed nothing';
END
$$;


--
-- Name: _parents_finished(uuid[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._parents_finished(parents uuid[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _pending_count(integer, timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._pending_count(entries integer, floors timestamp with time zone[]) RETURNS bigint
    LANGUAGE sql STABLE
    SET enable_sort TO 'off'
    SET jit TO 'off'
    AS $$
    SELECT count(*) FROM jq._pending_head(_pending_count.entries, _pending_count.floors)
$$;


--
-- Name: _pending_head(integer, timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._pending_head(entries integer, floors timestamp with time zone[]) RETURNS TABLE(job_id uuid, queue_name text)
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: _queue_lock(text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._queue_lock(queue text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT hashtextextended('jq.queue:' || queue, 0)
$$;


--
-- Name: _release_finished_parents(); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._release_finished_parents() RETURNS void
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _retry_or_bury(jq.jobs, text, text, interval, interval, boolean); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._retry_or_bury(j jq.jobs, fail_reason text, error text, base_delay interval, max_delay interval, permanent boolean) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _runnable(text, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._runnable(queue text, at_most integer) RETURNS integer
    LANGUAGE sql STABLE
    AS $$
    SELECT count(*)::integer FROM (
        SELECT 1 FROM jq.jobs j
        WHERE j.queue_name = _runnable.queue AND j.status = 'PENDING' AND (j.not_before IS NULL OR j.not_before <= now())
        LIMIT at_most) AS a
$$;


--
-- Name: _schedule(text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._schedule(name text) RETURNS jq.schedules
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: _sorted_ids(uuid[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._sorted_ids(ids uuid[]) RETURNS SETOF uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT DISTINCT id FROM unnest(ids) AS u (id) ORDER BY id
$$;


--
-- Name: _unique_lock(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq._unique_lock(queue text, unique_key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT hashtextextended('jq.unique:' || length(queue) || ':' || queue || ':' || unique_key, 0)
$$;


--
-- Name: advance_schedule(text, timestamp with time zone, timestamp with time zone, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.advance_schedule(name text, version timestamp with time zone, next_fire_at timestamp with time zone, missed integer DEFAULT 0) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION advance_schedule(name text, version timestamp with time zone, next_fire_at timestamp with time zone, missed integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.advance_schedule(name text, version timestamp with time zone, next_fire_at timestamp with time zone, missed integer) IS 'Move a schedule''s next fire time forward without firing (its first time, or past missed ones); returns whether it moved.';


--
-- Name: api_keys; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.api_keys (
    name text NOT NULL,
    role jq.api_key_role NOT NULL,
    queues text[] DEFAULT '{}'::text[] NOT NULL,
    key_hash bytea NOT NULL,
    key_prefix text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    revoked_by text,
    last_used_at timestamp with time zone,
    CONSTRAINT api_keys_key_hash_length CHECK ((length(key_hash) = 32)),
    CONSTRAINT api_keys_name_format CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$'::text))
);


--
-- Name: authenticate(bytea); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.authenticate(key_hash bytea) RETURNS SETOF jq.api_keys
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION authenticate(key_hash bytea); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.authenticate(key_hash bytea) IS 'The API key with this SHA-256 (no row if none); notes its use.';


--
-- Name: backoff(integer, interval, interval, double precision); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.backoff(retry_count integer, base_delay interval DEFAULT '00:00:01'::interval, max_delay interval DEFAULT '00:05:00'::interval, jitter double precision DEFAULT random()) RETURNS interval
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
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


--
-- Name: FUNCTION backoff(retry_count integer, base_delay interval, max_delay interval, jitter double precision); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.backoff(retry_count integer, base_delay interval, max_delay interval, jitter double precision) IS 'Delay before the next retry: min(base_delay * 2^retry_count, max_delay) plus up to 10 % jitter.';


--
-- Name: cancel(uuid, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.cancel(job_id uuid, actor text DEFAULT NULL::text) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION cancel(job_id uuid, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.cancel(job_id uuid, actor text) IS 'Cancel an unfinished job (-> CANCELLED); a running one is fenced and its worker told; actor is recorded in the event.';


--
-- Name: cancel_many(text, jq.job_status, text, integer, boolean); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.cancel_many(queue text DEFAULT NULL::text, status jq.job_status DEFAULT NULL::jq.job_status, actor text DEFAULT NULL::text, max_rows integer DEFAULT 10000, dry_run boolean DEFAULT false) RETURNS TABLE(queue_name text, cancelled integer)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION cancel_many(queue text, status jq.job_status, actor text, max_rows integer, dry_run boolean); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.cancel_many(queue text, status jq.job_status, actor text, max_rows integer, dry_run boolean) IS 'Cancel the unfinished jobs of a queue and status (each as jq.cancel); returns how many of each queue. dry_run counts them.';


--
-- Name: claim(text[], integer, uuid); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.claim(queues text[], max_jobs integer, worker_id uuid) RETURNS SETOF jq.jobs
    LANGUAGE sql
    AS $$
    SELECT * FROM jq.claim_for(queues, ARRAY[worker_id], ARRAY[max_jobs])
$$;


--
-- Name: FUNCTION claim(queues text[], max_jobs integer, worker_id uuid); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.claim(queues text[], max_jobs integer, worker_id uuid) IS 'Assign up to max_jobs runnable PENDING jobs of the queues to a registered ONLINE worker (FOR UPDATE SKIP LOCKED).';


--
-- Name: claim_floor_check(text[], timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.claim_floor_check(queues text[], floors timestamp with time zone[]) RETURNS timestamp with time zone[]
    LANGUAGE plpgsql STABLE
    SET enable_sort TO 'off'
    SET jit TO 'off'
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


--
-- Name: FUNCTION claim_floor_check(queues text[], floors timestamp with time zone[]); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.claim_floor_check(queues text[], floors timestamp with time zone[]) IS 'claim_floor_check for the claim floors of a set of queues: the created_at of the oldest runnable PENDING job of any of them below each floor, NULL where none is.';


--
-- Name: claim_floor_check(text, timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.claim_floor_check(queue text, floors timestamp with time zone[]) RETURNS timestamp with time zone[]
    LANGUAGE plpgsql STABLE
    SET enable_sort TO 'off'
    SET jit TO 'off'
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


--
-- Name: FUNCTION claim_floor_check(queue text, floors timestamp with time zone[]); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.claim_floor_check(queue text, floors timestamp with time zone[]) IS 'For claim floors (one per priority 0-9), the created_at of the oldest runnable PENDING job of the queue below each floor, NULL where none is.';


--
-- Name: claim_for(text[], uuid[], integer[], timestamp with time zone[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.claim_for(queues text[], worker_ids uuid[], max_jobs integer[], floors timestamp with time zone[] DEFAULT NULL::timestamp with time zone[]) RETURNS SETOF jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION claim_for(queues text[], worker_ids uuid[], max_jobs integer[], floors timestamp with time zone[]); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.claim_for(queues text[], worker_ids uuid[], max_jobs integer[], floors timestamp with time zone[]) IS 'Assign runnable PENDING jobs of the queues to several registered ONLINE workers at once, up to max_jobs[i] to worker_ids[i] (FOR UPDATE SKIP LOCKED), within the queues'' flow control; floors start each priority''s scan at floors[priority + 1].';


--
-- Name: complete(uuid, uuid, integer, bytea); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.complete(job_id uuid, worker_id uuid, attempt integer, result bytea DEFAULT NULL::bytea) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION complete(job_id uuid, worker_id uuid, attempt integer, result bytea); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.complete(job_id uuid, worker_id uuid, attempt integer, result bytea) IS 'Record a successful attempt (RUNNING -> DONE). The worker and attempt must be the current ones (JQ004 otherwise).';


--
-- Name: complete_many(uuid[], uuid[], integer[], bytea[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.complete_many(job_ids uuid[], worker_ids uuid[], attempts integer[], results bytea[]) RETURNS SETOF jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION complete_many(job_ids uuid[], worker_ids uuid[], attempts integer[], results bytea[]); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.complete_many(job_ids uuid[], worker_ids uuid[], attempts integer[], results bytea[]) IS 'Complete a batch of current attempts in one statement; returns the jobs completed (stale reports are skipped).';


--
-- Name: create_api_key(text, jq.api_key_role, bytea, text, text[], timestamp with time zone, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.create_api_key(name text, role jq.api_key_role, key_hash bytea, key_prefix text, queues text[] DEFAULT '{}'::text[], expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone, actor text DEFAULT NULL::text) RETURNS jq.api_keys
    LANGUAGE plpgsql
    AS $_$
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
$_$;


--
-- Name: FUNCTION create_api_key(name text, role jq.api_key_role, key_hash bytea, key_prefix text, queues text[], expires_at timestamp with time zone, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.create_api_key(name text, role jq.api_key_role, key_hash bytea, key_prefix text, queues text[], expires_at timestamp with time zone, actor text) IS 'Record a new API key (its SHA-256 only); audited with actor.';


--
-- Name: queues; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.queues (
    name text NOT NULL,
    max_retries integer DEFAULT 3 NOT NULL,
    ttl_seconds integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    paused boolean DEFAULT false NOT NULL,
    max_running integer,
    rate_limit integer,
    rate_period interval,
    max_running_per_key integer,
    rate_window timestamp with time zone[] DEFAULT '{}'::timestamp with time zone[] NOT NULL,
    fair_cursor text,
    held_paused bigint DEFAULT 0 NOT NULL,
    held_max_running bigint DEFAULT 0 NOT NULL,
    held_rate bigint DEFAULT 0 NOT NULL,
    held_per_key bigint DEFAULT 0 NOT NULL,
    flow_controlled boolean GENERATED ALWAYS AS ((paused OR (max_running IS NOT NULL) OR (rate_limit IS NOT NULL) OR (max_running_per_key IS NOT NULL))) STORED,
    CONSTRAINT queues_max_retries_range CHECK (((max_retries >= 0) AND (max_retries <= 1000))),
    CONSTRAINT queues_max_running_per_key_positive CHECK ((max_running_per_key > 0)),
    CONSTRAINT queues_max_running_positive CHECK ((max_running > 0)),
    CONSTRAINT queues_name_format CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'::text)),
    CONSTRAINT queues_rate_complete CHECK (((rate_limit IS NULL) = (rate_period IS NULL))),
    CONSTRAINT queues_rate_limit_positive CHECK ((rate_limit > 0)),
    CONSTRAINT queues_rate_period_positive CHECK ((rate_period > '00:00:00'::interval)),
    CONSTRAINT queues_ttl_positive CHECK ((ttl_seconds > 0))
);


--
-- Name: create_queue(text, integer, integer, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.create_queue(name text, max_retries integer DEFAULT 3, ttl_seconds integer DEFAULT NULL::integer, actor text DEFAULT NULL::text) RETURNS jq.queues
    LANGUAGE plpgsql
    AS $_$
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
$_$;


--
-- Name: FUNCTION create_queue(name text, max_retries integer, ttl_seconds integer, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.create_queue(name text, max_retries integer, ttl_seconds integer, actor text) IS 'Create a queue (JQ007 if it exists); audited with actor.';


--
-- Name: create_schedule(text, text, text, jsonb, text, integer, integer, text, text, boolean, boolean, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.create_schedule(name text, cron text, queue text, payload jsonb, time_zone text DEFAULT 'UTC'::text, priority integer DEFAULT 0, max_retries integer DEFAULT NULL::integer, overlap text DEFAULT 'allow'::text, catch_up text DEFAULT 'none'::text, replace boolean DEFAULT false, from_config boolean DEFAULT false, actor text DEFAULT NULL::text) RETURNS jq.schedules
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION create_schedule(name text, cron text, queue text, payload jsonb, time_zone text, priority integer, max_retries integer, overlap text, catch_up text, replace boolean, from_config boolean, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.create_schedule(name text, cron text, queue text, payload jsonb, time_zone text, priority integer, max_retries integer, overlap text, catch_up text, replace boolean, from_config boolean, actor text) IS 'Create (or with replace, redefine) a periodic schedule that submits a job at each time of a cron expression; audited.';


--
-- Name: delete_queue(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.delete_queue(name text, actor text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION delete_queue(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.delete_queue(name text, actor text) IS 'Delete a queue and its finished jobs; refused (JQ008) while it has unfinished jobs; audited with actor.';


--
-- Name: delete_schedule(text, text, boolean); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.delete_schedule(name text, actor text DEFAULT NULL::text, force boolean DEFAULT false) RETURNS jq.schedules
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION delete_schedule(name text, actor text, force boolean); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.delete_schedule(name text, actor text, force boolean) IS 'Delete a schedule (a configured one only with force); audited.';


--
-- Name: deregister_worker(uuid, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.deregister_worker(worker_id uuid, owner text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION deregister_worker(worker_id uuid, owner text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.deregister_worker(worker_id uuid, owner text) IS 'Mark a worker OFFLINE; jobs it still holds are retried elsewhere. With owner, only the worker''s own credential may.';


--
-- Name: workers; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.workers (
    worker_id uuid NOT NULL,
    hostname text NOT NULL,
    status jq.worker_status DEFAULT 'ONLINE'::jq.worker_status NOT NULL,
    concurrency integer NOT NULL,
    active_job_count integer DEFAULT 0 NOT NULL,
    queues text[] DEFAULT '{}'::text[] NOT NULL,
    incarnation text DEFAULT ''::text NOT NULL,
    shutdown_requested boolean DEFAULT false NOT NULL,
    last_heartbeat timestamp with time zone DEFAULT now() NOT NULL,
    registered_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    owner text,
    CONSTRAINT workers_concurrency_positive CHECK ((concurrency > 0))
);


--
-- Name: drain_worker(uuid, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.drain_worker(worker_id uuid, actor text DEFAULT NULL::text) RETURNS jq.workers
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION drain_worker(worker_id uuid, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.drain_worker(worker_id uuid, actor text) IS 'Mark a worker DRAINING: no new jobs, it finishes its running ones.';


--
-- Name: enqueue(text, jsonb, integer, integer, timestamp with time zone, text, boolean, uuid, text, text, interval, jq.job_status[], uuid[], text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.enqueue(queue text, payload jsonb, priority integer DEFAULT 0, max_retries integer DEFAULT NULL::integer, not_before timestamp with time zone DEFAULT NULL::timestamp with time zone, idempotency_key text DEFAULT NULL::text, notify boolean DEFAULT true, new_job_id uuid DEFAULT NULL::uuid, concurrency_key text DEFAULT NULL::text, unique_key text DEFAULT NULL::text, unique_window interval DEFAULT NULL::interval, unique_statuses jq.job_status[] DEFAULT NULL::jq.job_status[], depends_on uuid[] DEFAULT NULL::uuid[], on_dependency_failure text DEFAULT 'cancel'::text) RETURNS TABLE(job_id uuid, inserted boolean)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION enqueue(queue text, payload jsonb, priority integer, max_retries integer, not_before timestamp with time zone, idempotency_key text, notify boolean, new_job_id uuid, concurrency_key text, unique_key text, unique_window interval, unique_statuses jq.job_status[], depends_on uuid[], on_dependency_failure text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.enqueue(queue text, payload jsonb, priority integer, max_retries integer, not_before timestamp with time zone, idempotency_key text, notify boolean, new_job_id uuid, concurrency_key text, unique_key text, unique_window interval, unique_statuses jq.job_status[], depends_on uuid[], on_dependency_failure text) IS 'Like jq.submit, and also returns whether a job was inserted (false: the idempotency or unique key matched an existing job).';


--
-- Name: enqueue_many(text[], jsonb[], integer[], integer[], timestamp with time zone[], text[], text[], uuid[], boolean); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.enqueue_many(queues text[], payloads jsonb[], priorities integer[] DEFAULT NULL::integer[], max_retries integer[] DEFAULT NULL::integer[], not_befores timestamp with time zone[] DEFAULT NULL::timestamp with time zone[], idempotency_keys text[] DEFAULT NULL::text[], concurrency_keys text[] DEFAULT NULL::text[], job_ids uuid[] DEFAULT NULL::uuid[], notify boolean DEFAULT true) RETURNS TABLE(ord integer, job_id uuid, inserted boolean)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION enqueue_many(queues text[], payloads jsonb[], priorities integer[], max_retries integer[], not_befores timestamp with time zone[], idempotency_keys text[], concurrency_keys text[], job_ids uuid[], notify boolean); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.enqueue_many(queues text[], payloads jsonb[], priorities integer[], max_retries integer[], not_befores timestamp with time zone[], idempotency_keys text[], concurrency_keys text[], job_ids uuid[], notify boolean) IS 'jq.enqueue for many jobs in one statement, all or none; returns (ord, job_id, inserted) per job.';


--
-- Name: expire_ttl(integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.expire_ttl(max_rows integer DEFAULT 10000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION expire_ttl(max_rows integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.expire_ttl(max_rows integer) IS 'Dead-letter PENDING jobs past their queue''s TTL (TTL_EXPIRED); returns how many.';


--
-- Name: fail(uuid, uuid, integer, text, interval, interval, boolean); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.fail(job_id uuid, worker_id uuid, attempt integer, error text, base_delay interval DEFAULT '00:00:01'::interval, max_delay interval DEFAULT '00:05:00'::interval, permanent boolean DEFAULT false) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION fail(job_id uuid, worker_id uuid, attempt integer, error text, base_delay interval, max_delay interval, permanent boolean); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.fail(job_id uuid, worker_id uuid, attempt integer, error text, base_delay interval, max_delay interval, permanent boolean) IS 'Record a failed attempt: retry after a backoff (PENDING) or dead-letter when retries are spent or permanent.';


--
-- Name: fire_schedule(text, timestamp with time zone, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.fire_schedule(name text, version timestamp with time zone, fire_time timestamp with time zone, next_fire_at timestamp with time zone) RETURNS TABLE(outcome text, job_id uuid)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION fire_schedule(name text, version timestamp with time zone, fire_time timestamp with time zone, next_fire_at timestamp with time zone); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.fire_schedule(name text, version timestamp with time zone, fire_time timestamp with time zone, next_fire_at timestamp with time zone) IS 'Fire a schedule for one of its times, once whatever the number of servers (jq-server''s leader calls it); returns the outcome and the job.';


--
-- Name: heartbeat(uuid, integer, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.heartbeat(worker_id uuid, active_job_count integer DEFAULT NULL::integer, owner text DEFAULT NULL::text) RETURNS jq.workers
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION heartbeat(worker_id uuid, active_job_count integer, owner text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.heartbeat(worker_id uuid, active_job_count integer, owner text) IS 'Refresh a worker''s last_heartbeat (only for its owner, when owner is given).';


--
-- Name: pause_queue(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.pause_queue(name text, actor text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM jq._not_null(pause_queue.name, 'name');
    RETURN EXISTS (SELECT 1 FROM jq.pause_queues(ARRAY[pause_queue.name], pause_queue.actor));
END
$$;


--
-- Name: FUNCTION pause_queue(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.pause_queue(name text, actor text) IS 'Pause one queue; true if it was not paused already; audited.';


--
-- Name: pause_queues(text[], text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.pause_queues(names text[] DEFAULT NULL::text[], actor text DEFAULT NULL::text) RETURNS SETOF text
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION pause_queues(names text[], actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.pause_queues(names text[], actor text) IS 'Pause queues (all when names is NULL): no job of them is claimed until resumed; audited.';


--
-- Name: pause_schedule(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.pause_schedule(name text, actor text DEFAULT NULL::text) RETURNS jq.schedules
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION pause_schedule(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.pause_schedule(name text, actor text) IS 'Pause a schedule: it fires no more until resumed; audited.';


--
-- Name: prune(interval, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.prune(older_than interval, max_rows integer DEFAULT 10000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION prune(older_than interval, max_rows integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.prune(older_than interval, max_rows integer) IS 'Delete DONE/DEAD_LETTERED/CANCELLED jobs (and their events) finished before now() - older_than; returns how many.';


--
-- Name: prune_schedule_fires(interval, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.prune_schedule_fires(older_than interval, max_rows integer DEFAULT 10000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION prune_schedule_fires(older_than interval, max_rows integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.prune_schedule_fires(older_than interval, max_rows integer) IS 'Delete the record of schedule fires older than older_than; returns how many.';


--
-- Name: prune_workers(interval, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.prune_workers(older_than interval, max_rows integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION prune_workers(older_than interval, max_rows integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.prune_workers(older_than interval, max_rows integer) IS 'Delete workers OFFLINE for longer than older_than; returns how many.';


--
-- Name: queue_stats(text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.queue_stats(queue text DEFAULT NULL::text) RETURNS TABLE(queue_name text, pending bigint, assigned bigint, running bigint, done bigint, failed bigint, dead_lettered bigint, cancelled bigint, waiting bigint, oldest_pending_at timestamp with time zone, completed_last_minute bigint, failed_last_minute bigint)
    LANGUAGE plpgsql STABLE
    AS $$
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


--
-- Name: FUNCTION queue_stats(queue text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.queue_stats(queue text) IS 'Per-status job counts, oldest runnable pending job and last-minute throughput per queue.';


--
-- Name: reap_orphans(integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.reap_orphans(max_rows integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION reap_orphans(max_rows integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.reap_orphans(max_rows integer) IS 'Retry (WORKER_LOST) the ASSIGNED/RUNNING jobs whose worker is OFFLINE or unregistered; returns how many.';


--
-- Name: reap_workers(interval, interval, interval); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.reap_workers(heartbeat_timeout interval, base_delay interval DEFAULT '00:00:00'::interval, max_delay interval DEFAULT '00:00:00'::interval) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION reap_workers(heartbeat_timeout interval, base_delay interval, max_delay interval); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.reap_workers(heartbeat_timeout interval, base_delay interval, max_delay interval) IS 'Mark workers silent for heartbeat_timeout OFFLINE and retry their jobs (WORKER_LOST); returns the number of workers.';


--
-- Name: reconcile_worker(uuid, uuid[], interval); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.reconcile_worker(worker_id uuid, held uuid[], grace interval DEFAULT '00:00:30'::interval) RETURNS TABLE(job_id uuid, attempt integer)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION reconcile_worker(worker_id uuid, held uuid[], grace interval); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.reconcile_worker(worker_id uuid, held uuid[], grace interval) IS 'Retry (WORKER_LOST) the jobs the database gives a worker that the worker says it does not hold; returns the attempts it failed.';


--
-- Name: register_worker(uuid, text, integer, text[], text, text, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.register_worker(worker_id uuid, hostname text, concurrency integer, queues text[], incarnation text DEFAULT ''::text, owner text DEFAULT NULL::text, max_per_owner integer DEFAULT NULL::integer) RETURNS jq.workers
    LANGUAGE plpgsql
    AS $_$
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
$_$;


--
-- Name: FUNCTION register_worker(worker_id uuid, hostname text, concurrency integer, queues text[], incarnation text, owner text, max_per_owner integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.register_worker(worker_id uuid, hostname text, concurrency integer, queues text[], incarnation text, owner text, max_per_owner integer) IS 'Register (upsert) a worker as ONLINE, bound to owner; a new incarnation retries the jobs the previous process held.';


--
-- Name: release(uuid[], uuid, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.release(job_ids uuid[], worker_id uuid, reason text DEFAULT 'DELIVERY_FAILED'::text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION release(job_ids uuid[], worker_id uuid, reason text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.release(job_ids uuid[], worker_id uuid, reason text) IS 'Put jobs ASSIGNED to the worker back to PENDING at once (failed delivery); returns how many.';


--
-- Name: release_worker(uuid, text, interval, interval, timestamp with time zone); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.release_worker(worker_id uuid, reason text DEFAULT 'WORKER_LOST'::text, base_delay interval DEFAULT '00:00:00'::interval, max_delay interval DEFAULT '00:00:00'::interval, silent_since timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION release_worker(worker_id uuid, reason text, base_delay interval, max_delay interval, silent_since timestamp with time zone); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.release_worker(worker_id uuid, reason text, base_delay interval, max_delay interval, silent_since timestamp with time zone) IS 'Mark a worker OFFLINE and fail its ASSIGNED/RUNNING jobs through the retry rule; returns the number of jobs. With silent_since, only if it has not heartbeated since.';


--
-- Name: report_progress(uuid, uuid, integer, double precision, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.report_progress(job_id uuid, worker_id uuid, attempt integer, progress double precision, message text DEFAULT NULL::text) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION report_progress(job_id uuid, worker_id uuid, attempt integer, progress double precision, message text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.report_progress(job_id uuid, worker_id uuid, attempt integer, progress double precision, message text) IS 'Record the progress (0-100 and a message) of a running job''s current attempt (JQ004 when it is not current).';


--
-- Name: requeue_unstarted(interval, integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.requeue_unstarted(assignment_timeout interval, max_rows integer DEFAULT 10000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION requeue_unstarted(assignment_timeout interval, max_rows integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.requeue_unstarted(assignment_timeout interval, max_rows integer) IS 'Put jobs ASSIGNED for longer than assignment_timeout back to PENDING (ASSIGNMENT_TIMEOUT); returns how many.';


--
-- Name: resume_queue(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.resume_queue(name text, actor text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM jq._not_null(resume_queue.name, 'name');
    RETURN EXISTS (SELECT 1 FROM jq.resume_queues(ARRAY[resume_queue.name], resume_queue.actor));
END
$$;


--
-- Name: FUNCTION resume_queue(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.resume_queue(name text, actor text) IS 'Resume one paused queue and wake the schedulers; true if it was paused; audited.';


--
-- Name: resume_queues(text[], text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.resume_queues(names text[] DEFAULT NULL::text[], actor text DEFAULT NULL::text) RETURNS SETOF text
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION resume_queues(names text[], actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.resume_queues(names text[], actor text) IS 'Resume paused queues (all when names is NULL) and wake the schedulers; audited.';


--
-- Name: resume_schedule(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.resume_schedule(name text, actor text DEFAULT NULL::text) RETURNS jq.schedules
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION resume_schedule(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.resume_schedule(name text, actor text) IS 'Resume a paused schedule from now (paused times are not caught up); audited.';


--
-- Name: retry(uuid, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.retry(job_id uuid, actor text DEFAULT NULL::text) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION retry(job_id uuid, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.retry(job_id uuid, actor text) IS 'Retry a FAILED, DEAD_LETTERED or CANCELLED job now, retry count reset (reason MANUAL_RETRY); actor is recorded in the event.';


--
-- Name: revoke_api_key(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.revoke_api_key(name text, actor text DEFAULT NULL::text) RETURNS jq.api_keys
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION revoke_api_key(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.revoke_api_key(name text, actor text) IS 'Revoke an API key; audited with actor.';


--
-- Name: schedule_failed(text, timestamp with time zone, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.schedule_failed(name text, version timestamp with time zone, error text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION schedule_failed(name text, version timestamp with time zone, error text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.schedule_failed(name text, version timestamp with time zone, error text) IS 'Record why a schedule cannot fire (last_error); returns whether it did.';


--
-- Name: set_queue_limits(text, integer, integer, interval, integer, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.set_queue_limits(name text, max_running integer DEFAULT NULL::integer, rate_limit integer DEFAULT NULL::integer, rate_period interval DEFAULT NULL::interval, max_running_per_key integer DEFAULT NULL::integer, actor text DEFAULT NULL::text) RETURNS jq.queues
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION set_queue_limits(name text, max_running integer, rate_limit integer, rate_period interval, max_running_per_key integer, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.set_queue_limits(name text, max_running integer, rate_limit integer, rate_period interval, max_running_per_key integer, actor text) IS 'Set a queue''s max_running, rate (rate_limit per rate_period) and max_running_per_key; NULL keeps, 0 removes; audited.';


--
-- Name: shutdown_worker(uuid, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.shutdown_worker(worker_id uuid, actor text DEFAULT NULL::text) RETURNS jq.workers
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION shutdown_worker(worker_id uuid, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.shutdown_worker(worker_id uuid, actor text) IS 'Drain a worker and have it exit once its running jobs are finished.';


--
-- Name: snooze(uuid, uuid, integer, interval); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.snooze(job_id uuid, worker_id uuid, attempt integer, delay interval) RETURNS jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION snooze(job_id uuid, worker_id uuid, attempt integer, delay interval); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.snooze(job_id uuid, worker_id uuid, attempt integer, delay interval) IS 'End the current attempt without using a retry: PENDING again after delay (SNOOZED).';


--
-- Name: start(uuid[], uuid); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.start(job_ids uuid[], worker_id uuid) RETURNS SETOF jq.jobs
    LANGUAGE sql
    AS $$
    SELECT * FROM jq.start_for(job_ids, array_fill(worker_id, ARRAY[coalesce(cardinality(job_ids), 0)]))
$$;


--
-- Name: FUNCTION start(job_ids uuid[], worker_id uuid); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.start(job_ids uuid[], worker_id uuid) IS 'Mark delivered ASSIGNED jobs RUNNING; returns the jobs it started.';


--
-- Name: start_for(uuid[], uuid[]); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.start_for(job_ids uuid[], worker_ids uuid[]) RETURNS SETOF jq.jobs
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION start_for(job_ids uuid[], worker_ids uuid[]); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.start_for(job_ids uuid[], worker_ids uuid[]) IS 'Mark delivered ASSIGNED jobs RUNNING, job_ids[i] delivered to worker_ids[i]; returns the jobs it started.';


--
-- Name: submit(text, jsonb, integer, integer, timestamp with time zone, text, text, text, interval, jq.job_status[], uuid[], text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.submit(queue text, payload jsonb, priority integer DEFAULT 0, max_retries integer DEFAULT NULL::integer, not_before timestamp with time zone DEFAULT NULL::timestamp with time zone, idempotency_key text DEFAULT NULL::text, concurrency_key text DEFAULT NULL::text, unique_key text DEFAULT NULL::text, unique_window interval DEFAULT NULL::interval, unique_statuses jq.job_status[] DEFAULT NULL::jq.job_status[], depends_on uuid[] DEFAULT NULL::uuid[], on_dependency_failure text DEFAULT 'cancel'::text) RETURNS uuid
    LANGUAGE sql
    AS $$
    SELECT e.job_id FROM jq.enqueue(queue, payload, priority, max_retries, not_before, idempotency_key,
                                    concurrency_key => concurrency_key, unique_key => unique_key,
                                    unique_window => unique_window, unique_statuses => unique_statuses,
                                    depends_on => depends_on, on_dependency_failure => on_dependency_failure) AS e
$$;


--
-- Name: FUNCTION submit(queue text, payload jsonb, priority integer, max_retries integer, not_before timestamp with time zone, idempotency_key text, concurrency_key text, unique_key text, unique_window interval, unique_statuses jq.job_status[], depends_on uuid[], on_dependency_failure text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.submit(queue text, payload jsonb, priority integer, max_retries integer, not_before timestamp with time zone, idempotency_key text, concurrency_key text, unique_key text, unique_window interval, unique_statuses jq.job_status[], depends_on uuid[], on_dependency_failure text) IS 'Submit a job: SELECT jq.submit(queue => ''default'', payload => ''{"command": ["echo", "hi"]}''); see jq.enqueue for unique keys and dependencies.';


--
-- Name: submit_many(text, jsonb[], integer); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.submit_many(queue text, payloads jsonb[], priority integer DEFAULT 0) RETURNS SETOF uuid
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION submit_many(queue text, payloads jsonb[], priority integer); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.submit_many(queue text, payloads jsonb[], priority integer) IS 'Submit many jobs at once with one NOTIFY; returns their ids in payload order.';


--
-- Name: submit_workflow(text, jsonb, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.submit_workflow(name text, nodes jsonb, actor text DEFAULT NULL::text) RETURNS TABLE(workflow_id uuid, node text, job_id uuid)
    LANGUAGE plpgsql
    AS $_$
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
$_$;


--
-- Name: FUNCTION submit_workflow(name text, nodes jsonb, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.submit_workflow(name text, nodes jsonb, actor text) IS 'Submit a DAG of named jobs atomically (a cycle is refused, naming it); returns the workflow id and each node''s job.';


--
-- Name: trigger_schedule(text, text); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.trigger_schedule(name text, actor text DEFAULT NULL::text) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: FUNCTION trigger_schedule(name text, actor text); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.trigger_schedule(name text, actor text) IS 'Fire a schedule now, out of turn; returns the job; audited.';


--
-- Name: uuid_v7(); Type: FUNCTION; Schema: jq; Owner: -
--

CREATE FUNCTION jq.uuid_v7() RETURNS uuid
    LANGUAGE sql PARALLEL SAFE
    AS $$
    SELECT encode(
        set_byte(set_byte(
            overlay(uuid_send(gen_random_uuid()) PLACING substring(int8send(ms) FROM 3) FROM 1 FOR 6),
            6, 112 | (frac >> 8)), 7, frac & 255),
        'hex')::uuid
    FROM (SELECT floor(t)::bigint AS ms, floor((t - floor(t)) * 4096)::integer AS frac
          FROM (SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t) AS now_ms) AS parts
$$;


--
-- Name: FUNCTION uuid_v7(); Type: COMMENT; Schema: jq; Owner: -
--

COMMENT ON FUNCTION jq.uuid_v7() IS 'A time-ordered UUID (version 7), used for job ids.';


--
-- Name: audit_log; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.audit_log (
    id bigint NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL
);


--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: jq; Owner: -
--

ALTER TABLE jq.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME jq.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: finished_parents; Type: TABLE; Schema: jq; Owner: -
--

CREATE UNLOGGED TABLE jq.finished_parents (
    xid xid8 NOT NULL,
    job_id uuid NOT NULL
);


--
-- Name: job_dependencies; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.job_dependencies (
    job_id uuid NOT NULL,
    depends_on uuid NOT NULL,
    on_failure text DEFAULT 'cancel'::text NOT NULL,
    CONSTRAINT job_dependencies_not_self CHECK ((job_id <> depends_on)),
    CONSTRAINT job_dependencies_on_failure CHECK ((on_failure = ANY (ARRAY['cancel'::text, 'run'::text])))
);


--
-- Name: job_events; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.job_events (
    id bigint NOT NULL,
    job_id uuid NOT NULL,
    queue_name text NOT NULL,
    from_status jq.job_status,
    to_status jq.job_status NOT NULL,
    worker_id uuid,
    attempt integer DEFAULT 0 NOT NULL,
    reason text NOT NULL,
    error_message text,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    actor text
)
WITH (autovacuum_vacuum_insert_scale_factor='0.05', autovacuum_vacuum_scale_factor='0.05');


--
-- Name: job_events_id_seq; Type: SEQUENCE; Schema: jq; Owner: -
--

CREATE SEQUENCE jq.job_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: job_events_id_seq; Type: SEQUENCE OWNED BY; Schema: jq; Owner: -
--

ALTER SEQUENCE jq.job_events_id_seq OWNED BY jq.job_events.id;


--
-- Name: relay_cursors; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.relay_cursors (
    name text NOT NULL,
    xid xid8 NOT NULL,
    id bigint NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: schedule_fires; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.schedule_fires (
    schedule_name text NOT NULL,
    fire_time timestamp with time zone NOT NULL,
    outcome text NOT NULL,
    job_id uuid,
    error text,
    fired_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.schema_migrations (
    version character varying NOT NULL
);


--
-- Name: workflow_jobs; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.workflow_jobs (
    workflow_id uuid NOT NULL,
    node text NOT NULL,
    job_id uuid NOT NULL
);


--
-- Name: workflows; Type: TABLE; Schema: jq; Owner: -
--

CREATE TABLE jq.workflows (
    workflow_id uuid NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text NOT NULL,
    CONSTRAINT workflows_name_length CHECK (((length(name) >= 1) AND (length(name) <= 255)))
);


--
-- Name: job_events id; Type: DEFAULT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.job_events ALTER COLUMN id SET DEFAULT nextval('jq.job_events_id_seq'::regclass);


--
-- Name: api_keys api_keys_key_hash_unique; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.api_keys
    ADD CONSTRAINT api_keys_key_hash_unique UNIQUE (key_hash);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (name);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: finished_parents finished_parents_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.finished_parents
    ADD CONSTRAINT finished_parents_pkey PRIMARY KEY (xid, job_id);


--
-- Name: job_dependencies job_dependencies_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.job_dependencies
    ADD CONSTRAINT job_dependencies_pkey PRIMARY KEY (job_id, depends_on);


--
-- Name: job_events job_events_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.job_events
    ADD CONSTRAINT job_events_pkey PRIMARY KEY (job_id, id);


--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (job_id);


--
-- Name: queues queues_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.queues
    ADD CONSTRAINT queues_pkey PRIMARY KEY (name);


--
-- Name: relay_cursors relay_cursors_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.relay_cursors
    ADD CONSTRAINT relay_cursors_pkey PRIMARY KEY (name);


--
-- Name: schedule_fires schedule_fires_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.schedule_fires
    ADD CONSTRAINT schedule_fires_pkey PRIMARY KEY (schedule_name, fire_time);


--
-- Name: schedules schedules_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.schedules
    ADD CONSTRAINT schedules_pkey PRIMARY KEY (name);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: workers workers_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.workers
    ADD CONSTRAINT workers_pkey PRIMARY KEY (worker_id);


--
-- Name: workflow_jobs workflow_jobs_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.workflow_jobs
    ADD CONSTRAINT workflow_jobs_pkey PRIMARY KEY (workflow_id, node);


--
-- Name: workflows workflows_pkey; Type: CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.workflows
    ADD CONSTRAINT workflows_pkey PRIMARY KEY (workflow_id);


--
-- Name: audit_log_occurred_at_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX audit_log_occurred_at_idx ON jq.audit_log USING btree (occurred_at);


--
-- Name: job_dependencies_depends_on_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX job_dependencies_depends_on_idx ON jq.job_dependencies USING btree (depends_on);


--
-- Name: job_events_failed_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX job_events_failed_idx ON jq.job_events USING btree (occurred_at) WHERE (to_status = 'FAILED'::jq.job_status);


--
-- Name: job_events_xid_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX job_events_xid_idx ON jq.job_events USING btree (xid);


--
-- Name: jobs_claim_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_claim_idx ON jq.jobs USING btree (queue_name, priority DESC, created_at) WHERE (status = 'PENDING'::jq.job_status);


--
-- Name: jobs_dead_lettered_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_dead_lettered_idx ON jq.jobs USING btree (queue_name) WHERE (status = 'DEAD_LETTERED'::jq.job_status);


--
-- Name: jobs_fair_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_fair_idx ON jq.jobs USING btree (queue_name, concurrency_key, priority DESC, created_at) WHERE ((status = 'PENDING'::jq.job_status) AND (concurrency_key IS NOT NULL));


--
-- Name: jobs_finished_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_finished_idx ON jq.jobs USING btree (completed_at) WHERE (status = ANY (ARRAY['DONE'::jq.job_status, 'DEAD_LETTERED'::jq.job_status, 'CANCELLED'::jq.job_status]));


--
-- Name: jobs_idempotency_key_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jq.jobs USING btree (queue_name, idempotency_key) WHERE (idempotency_key IS NOT NULL);


--
-- Name: jobs_inflight_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_inflight_idx ON jq.jobs USING btree (worker_id) WHERE (status = ANY (ARRAY['ASSIGNED'::jq.job_status, 'RUNNING'::jq.job_status]));


--
-- Name: jobs_pending_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_pending_idx ON jq.jobs USING btree (((- priority)), created_at) WHERE (status = 'PENDING'::jq.job_status);


--
-- Name: jobs_queue_status_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_queue_status_idx ON jq.jobs USING btree (queue_name, status, job_id);


--
-- Name: jobs_running_key_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_running_key_idx ON jq.jobs USING btree (queue_name, concurrency_key) WHERE ((status = ANY (ARRAY['ASSIGNED'::jq.job_status, 'RUNNING'::jq.job_status])) AND (concurrency_key IS NOT NULL));


--
-- Name: jobs_unique_key_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX jobs_unique_key_idx ON jq.jobs USING btree (queue_name, unique_key, created_at DESC) WHERE (unique_key IS NOT NULL);


--
-- Name: schedule_fires_fired_at_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX schedule_fires_fired_at_idx ON jq.schedule_fires USING btree (fired_at);


--
-- Name: workers_owner_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX workers_owner_idx ON jq.workers USING btree (owner) WHERE (status <> 'OFFLINE'::jq.worker_status);


--
-- Name: workers_registered_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX workers_registered_idx ON jq.workers USING btree (registered_at DESC, worker_id DESC);


--
-- Name: workflow_jobs_job_id_idx; Type: INDEX; Schema: jq; Owner: -
--

CREATE INDEX workflow_jobs_job_id_idx ON jq.workflow_jobs USING btree (job_id);


--
-- Name: schedule_fires schedule_fires_schedule_fkey; Type: FK CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.schedule_fires
    ADD CONSTRAINT schedule_fires_schedule_fkey FOREIGN KEY (schedule_name) REFERENCES jq.schedules(name) ON DELETE CASCADE;


--
-- Name: workflow_jobs workflow_jobs_workflow_fkey; Type: FK CONSTRAINT; Schema: jq; Owner: -
--

ALTER TABLE ONLY jq.workflow_jobs
    ADD CONSTRAINT workflow_jobs_workflow_fkey FOREIGN KEY (workflow_id) REFERENCES jq.workflows(workflow_id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--



--
-- Dbmate schema migrations
--

INSERT INTO jq.schema_migrations (version) VALUES
    ('20261127000001'),
    ('20261127000002'),
    ('20261130000001'),
    ('20261130120805'),
    ('20261130123246'),
    ('20261130130000'),
    ('20261130130001'),
    ('20261130130600'),
    ('20261130134417'),
    ('20261130140000'),
    ('20261130140236'),
    ('20261130141603'),
    ('20261130145000'),
    ('20261130145148'),
    ('20261130153711'),
    ('20261130230747'),
    ('20261201024000'),
    ('20261201031855'),
    ('20261201032000'),
    ('20261201035747'),
    ('20261201061726'),
    ('20261201112545');

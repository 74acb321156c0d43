-- Claiming and delivering jobs: PENDING -> ASSIGNED -> RUNNING, or back to PENDING when the
-- delivery fails.

-- claim_for assigns runnable PENDING jobs of the given queues to several workers at once:
-- up to max_jobs[i] to worker_ids[i]. Jobs are taken highest priority first and oldest first
-- within a priority, skipping rows other claimers hold (so any number of servers can claim at
-- once without waiting on each other or taking a job twice), and dealt out in turn: the first
-- job to the first worker, the second to the second, and so on, skipping workers that are
-- full; list the least loaded worker first. One statement (and one commit) serves them all,
-- where a claim per worker would cost a round trip and a WAL flush each. Every claim
-- increments the job's attempt: its fencing token. If one of the workers is not registered or
-- not ONLINE, nothing is claimed.
CREATE OR REPLACE FUNCTION jq.claim_for(
    queues text[],
    worker_ids uuid[],
    max_jobs integer[]
) RETURNS SETOF jq.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
    total integer;
    checks record;
    bad record;
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

    -- One index range scan per queue (jobs_claim_idx), merged by priority and age. A row
    -- locked by the per-queue scan but cut by the outer LIMIT stays locked only until this
    -- call's transaction ends.
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
        WHERE j.job_id = p.job_id AND (age(p.xmin) >= age(pg_current_xact_id()::xid) OR jq._order_violation())
        RETURNING j.*
    ), events AS (
        INSERT INTO jq.job_events (job_id, queue_name, from_status, to_status, worker_id, attempt, reason)
        SELECT c.job_id, c.queue_name, 'PENDING', 'ASSIGNED', c.worker_id, c.attempt, 'CLAIMED' FROM claimed c
    )
    SELECT * FROM claimed c ORDER BY c.priority DESC, c.created_at;
END
$$;

COMMENT ON FUNCTION jq.claim_for(text[], uuid[], integer[]) IS
    'Assign runnable PENDING jobs of the queues to several registered ONLINE workers at once, up to max_jobs[i] to worker_ids[i] (FOR UPDATE SKIP LOCKED).';

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
        SELECT j.job_id, j.xmin
        FROM input i
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.status, j.worker_id, j.xmin FROM jq.jobs j WHERE j.job_id = i.job_id
            OFFSET 0 FOR UPDATE
        ) AS j
        WHERE j.status = 'ASSIGNED' AND j.worker_id = i.worker_id
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

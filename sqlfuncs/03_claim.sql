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

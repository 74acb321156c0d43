-- Dependencies between jobs and workflows (docs/scheduling.md). A job submitted with
-- depends_on (jq.enqueue) is WAITING while one of its parents is unfinished. Whatever finishes
-- a job with dependents (has_dependents) calls jq._parents_finished in the same transaction:
-- complete, complete_many, a dead-letter through the retry rule (fail, reaping, lost workers),
-- TTL expiry, cancel and cancel_many.

-- _parents_finished looks at the WAITING jobs that depend on parents, which this transaction
-- has just finished. A dependent whose parents are all DONE becomes PENDING (reason
-- DEPENDENCIES_MET); one with a parent DEAD_LETTERED or CANCELLED is cancelled (reason
-- DEPENDENCY_FAILED, its error naming that parent) unless its on_failure is 'run', in which
-- case it becomes PENDING once every parent has finished. Cancelled dependents cancel theirs
-- in turn.
--
-- Two parents of one job may finish at once in two transactions, each seeing the other
-- parent unfinished. So each locks the dependent first, and reads its parents in the next
-- statement, with a new snapshot: the transaction that gets the lock second waits for the
-- first to commit, and then sees both parents finished. Dependents are locked in id order.
CREATE OR REPLACE FUNCTION jq._parents_finished(parents uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
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

-- _release_finished_parents releases the dependents of the jobs this transaction noted in
-- jq.finished_parents (see jq.complete_many), and forgets them.
CREATE OR REPLACE FUNCTION jq._release_finished_parents() RETURNS void
LANGUAGE plpgsql AS $$
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

-- _offsets, for positions 1..n and a list of positions, returns where each position's entries
-- start once the list is sorted (1-based; entry n + 1 is one past the end).
CREATE OR REPLACE FUNCTION jq._offsets(list integer[], n integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(o.first ORDER BY o.g) FROM (
        SELECT g, 1 + coalesce(sum(c.cnt) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::integer AS first
        FROM generate_series(1, n + 1) AS g
        LEFT JOIN (SELECT x, count(*) AS cnt FROM unnest(list) AS x GROUP BY x) AS c ON c.x = g) AS o
$$;

-- submit_workflow submits a DAG of named jobs at once, atomically: nodes is a JSON array of
-- objects {"name", "queue" (default "default"), "payload", "priority", "max_retries",
-- "concurrency_key", "depends_on": [names of other nodes], "on_dependency_failure": "cancel"
-- or "run"}, at most 1000 nodes and 10000 edges. Jobs without dependencies are PENDING, the
-- others WAITING (see jq.enqueue). A cycle is refused (JQ005), naming it. Returns the
-- workflow's id and each node's job, in the order of nodes. actor (see jq._actor) is recorded
-- as the workflow's creator.
CREATE OR REPLACE FUNCTION jq.submit_workflow(name text, nodes jsonb, actor text DEFAULT NULL)
RETURNS TABLE (workflow_id uuid, node text, job_id uuid)
LANGUAGE plpgsql AS $$
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
$$;

COMMENT ON FUNCTION jq.submit_workflow(text, jsonb, text) IS
    'Submit a DAG of named jobs atomically (a cycle is refused, naming it); returns the workflow id and each node''s job.';

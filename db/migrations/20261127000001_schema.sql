-- migrate:up

-- Everything jq owns lives in schema jq, so it can share a database with the application that
-- enqueues jobs (a DBA can call jq.submit inside their own transaction).
CREATE SCHEMA IF NOT EXISTS jq;

-- These mirror JobStatus and WorkerStatus in proto/jq/v1/common.proto.
CREATE TYPE jq.job_status AS ENUM ('PENDING', 'ASSIGNED', 'RUNNING', 'DONE', 'FAILED', 'DEAD_LETTERED');
CREATE TYPE jq.worker_status AS ENUM ('ONLINE', 'OFFLINE', 'DRAINING');

CREATE TABLE jq.queues (
    name        text        PRIMARY KEY
                            CONSTRAINT queues_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    max_retries integer     NOT NULL DEFAULT 3 CONSTRAINT queues_max_retries_range CHECK (max_retries BETWEEN 0 AND 1000),
    ttl_seconds integer     CONSTRAINT queues_ttl_positive CHECK (ttl_seconds > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jq.workers (
    worker_id        uuid             PRIMARY KEY,
    hostname         text             NOT NULL,
    status           jq.worker_status NOT NULL DEFAULT 'ONLINE',
    concurrency      integer          NOT NULL CONSTRAINT workers_concurrency_positive CHECK (concurrency > 0),
    active_job_count integer          NOT NULL DEFAULT 0,
    queues           text[]           NOT NULL DEFAULT '{}',
    -- Random per worker process; a new one at registration means the previous process is gone.
    incarnation      text             NOT NULL DEFAULT '',
    -- Set by jq.shutdown_worker: once drained, the worker exits. It learns this in-band from
    -- the server holding its stream, or from its next heartbeat.
    shutdown_requested boolean        NOT NULL DEFAULT false,
    last_heartbeat   timestamptz      NOT NULL DEFAULT now(),
    registered_at    timestamptz      NOT NULL DEFAULT now(),
    updated_at       timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE jq.jobs (
    job_id          uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    -- No foreign key: jq.enqueue and jq.submit_many check the queue and hold its advisory lock
    -- (jq._queue_lock) shared until commit (once per call, where a foreign key would check once
    -- per row); jq.delete_queue takes it exclusively, which keeps it from racing a submit.
    queue_name      text          NOT NULL,
    payload         jsonb         NOT NULL,
    status          jq.job_status NOT NULL DEFAULT 'PENDING',
    priority        smallint      NOT NULL DEFAULT 0 CONSTRAINT jobs_priority_range CHECK (priority BETWEEN 0 AND 9),
    max_retries     smallint      NOT NULL CONSTRAINT jobs_max_retries_range CHECK (max_retries BETWEEN 0 AND 1000),
    retry_count     smallint      NOT NULL DEFAULT 0,
    -- Incremented by every claim: the fencing token a worker must present to complete or fail
    -- the job, so a late report from a lost attempt is refused.
    attempt         integer       NOT NULL DEFAULT 0,
    -- No foreign key: jq.claim verifies the worker (and locks its row) once per call; a foreign
    -- key would re-check it for every claimed row, which measured 20 % of a claim.
    worker_id       uuid,
    result          bytea,
    error_message   text,
    idempotency_key text,
    not_before      timestamptz,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    assigned_at     timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz,
    updated_at      timestamptz   NOT NULL DEFAULT now()
);

-- Index design. Every transition changes status, so no update of jq.jobs is HOT and each one
-- writes an entry into every index whose predicate the new row version satisfies. Partial
-- indexes therefore cost only in the states they cover; a full index costs on every transition
-- (four per job on the happy path). The seed's full indexes on (status, priority, created_at),
-- (worker_id) and (status, not_before) are replaced by the partial ones below, which serve the
-- same queries.

-- The claim path: runnable candidates of a queue in claim order. Stays as small as the pending
-- backlog, so a claim costs the same at 1k or 1M finished jobs.
CREATE INDEX jobs_claim_idx ON jq.jobs (queue_name, priority DESC, created_at)
    WHERE status = 'PENDING';

-- In-flight jobs per worker: reaping lost workers, assignment-timeout recovery.
CREATE INDEX jobs_inflight_idx ON jq.jobs (worker_id)
    WHERE status IN ('ASSIGNED', 'RUNNING');

-- Queue statistics, ListJobs filters and the delete-queue check (seed index, kept).
CREATE INDEX jobs_queue_status_idx ON jq.jobs (queue_name, status);

-- Retention pruning and recent-throughput counts.
CREATE INDEX jobs_finished_idx ON jq.jobs (completed_at)
    WHERE status IN ('DONE', 'DEAD_LETTERED');

-- A resubmission with the same key returns the existing job.
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jq.jobs (queue_name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- jq.jobs is a high-churn table: every job is inserted, updated about three times and later
-- deleted, so dead tuples pile up at the rate of throughput. The default scale factor (20 % of
-- the table) lets a million-row table collect 200k dead tuples before a vacuum; claims then
-- wade through dead index entries. Vacuum after ~1 % (plus a floor), let it work harder per
-- round (cost limit), and analyze often so the planner keeps choosing the partial indexes.
ALTER TABLE jq.jobs SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 2000
);

-- Append-only log of every transition, written in the same statement or function call as the
-- transition itself. It is also the outbox the Kafka relay reads, in commit order: xid records
-- the writing transaction so the relay can read only rows whose transactions are all committed.
CREATE TABLE jq.job_events (
    id            bigserial     PRIMARY KEY,
    -- No foreign key: only the jq functions write events, always for the job they just
    -- changed, and jq.prune / jq.delete_queue delete a job's events with it. The check would
    -- cost an index probe and a row lock for every event (15 % of a claim).
    job_id        uuid          NOT NULL,
    queue_name    text          NOT NULL,
    from_status   jq.job_status,
    to_status     jq.job_status NOT NULL,
    worker_id     uuid,
    attempt       integer       NOT NULL DEFAULT 0,
    reason        text          NOT NULL,
    error_message text,
    occurred_at   timestamptz   NOT NULL DEFAULT now(),
    xid           xid8          NOT NULL DEFAULT pg_current_xact_id()
);

CREATE INDEX job_events_job_id_idx ON jq.job_events (job_id, id);

-- The Kafka relay reads events in transaction-id order from its cursor. Events of one
-- transaction share their xid, which btree deduplication stores once: the index costs little.
CREATE INDEX job_events_xid_idx ON jq.job_events (xid);

-- Recent failures for queue statistics; failures are rare, so the index stays small.
CREATE INDEX job_events_failed_idx ON jq.job_events (occurred_at) WHERE to_status = 'FAILED';

-- Insert-only: vacuum for the visibility map (index-only scans) rather than for dead tuples.
ALTER TABLE jq.job_events SET (
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_scale_factor = 0.05
);

-- Where each event relay has got to: every event with (xid, id) <= (xid, id) here is published.
-- The relay reads only events of finished transactions (xid below the snapshot's xmin), in
-- (xid, id) order, so it never skips an event whose transaction committed late.
CREATE TABLE jq.relay_cursors (
    name       text        PRIMARY KEY,
    xid        xid8        NOT NULL,
    id         bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO jq.queues (name, max_retries, ttl_seconds) VALUES ('default', 3, NULL);

-- migrate:down

DROP TABLE jq.relay_cursors;
DROP TABLE jq.job_events;
DROP TABLE jq.jobs;
DROP TABLE jq.workers;
DROP TABLE jq.queues;
DROP TYPE jq.worker_status;
DROP TYPE jq.job_status;

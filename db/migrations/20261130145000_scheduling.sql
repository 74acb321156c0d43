-- migrate:up

-- Scheduling (docs/scheduling.md): unique jobs, dependencies between jobs and workflows,
-- the progress a running job reports, and periodic schedules.

ALTER TABLE jq.jobs
    -- Unique jobs: while a job of the queue with this key matches a submit's window and
    -- statuses, that submit inserts nothing and returns it (jq.enqueue, under an advisory lock
    -- of the key).
    ADD COLUMN unique_key       text        CONSTRAINT jobs_unique_key_length CHECK (length(unique_key) <= 255),
    -- Some job depends on this one: finishing it must look at its dependents. Jobs without
    -- dependents (the hot path) never read jq.job_dependencies.
    ADD COLUMN has_dependents   boolean     NOT NULL DEFAULT false,
    -- What the running attempt last reported (jq.report_progress): a percentage and a message.
    ADD COLUMN progress         double precision CONSTRAINT jobs_progress_range CHECK (progress >= 0 AND progress <= 100),
    ADD COLUMN progress_message text        CONSTRAINT jobs_progress_message_length CHECK (length(progress_message) <= 1024),
    ADD COLUMN progress_at      timestamptz;

-- The check of a unique submit: the queue's jobs with the key, newest first. Jobs without a
-- key are not in it, so the hot path does not pay for it.
CREATE INDEX jobs_unique_key_idx ON jq.jobs (queue_name, unique_key, created_at DESC) WHERE unique_key IS NOT NULL;

-- job_id waits for depends_on. A job with an unfinished parent is WAITING; when its last
-- parent is DONE it becomes PENDING, in the transaction that finished that parent. A parent
-- ending DEAD_LETTERED or CANCELLED cancels it, unless on_failure is 'run' (then it runs once
-- every parent has finished, whatever the outcome). No foreign keys: a key referencing
-- jq.jobs would add a trigger check to every update of a job; the functions that delete jobs
-- (jq.prune, jq.delete_queue) delete their edges.
CREATE TABLE jq.job_dependencies (
    job_id     uuid NOT NULL,
    depends_on uuid NOT NULL,
    on_failure text NOT NULL DEFAULT 'cancel' CONSTRAINT job_dependencies_on_failure CHECK (on_failure IN ('cancel', 'run')),
    CONSTRAINT job_dependencies_pkey PRIMARY KEY (job_id, depends_on),
    CONSTRAINT job_dependencies_not_self CHECK (job_id <> depends_on)
);
CREATE INDEX job_dependencies_depends_on_idx ON jq.job_dependencies (depends_on);

-- Within one transaction, the jobs with dependents that a set-based statement (jq.complete_many)
-- finished, for the statement after it to release their dependents (which it must read with a
-- fresh snapshot). Rows never outlive their transaction, so the table is unlogged.
CREATE UNLOGGED TABLE jq.finished_parents (
    xid    xid8 NOT NULL,
    job_id uuid NOT NULL,
    CONSTRAINT finished_parents_pkey PRIMARY KEY (xid, job_id)
);

-- A workflow is a DAG of named jobs submitted together (jq.submit_workflow).
CREATE TABLE jq.workflows (
    workflow_id uuid        NOT NULL,
    name        text        NOT NULL CONSTRAINT workflows_name_length CHECK (length(name) BETWEEN 1 AND 255),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    CONSTRAINT workflows_pkey PRIMARY KEY (workflow_id)
);

CREATE TABLE jq.workflow_jobs (
    workflow_id uuid NOT NULL CONSTRAINT workflow_jobs_workflow_fkey REFERENCES jq.workflows ON DELETE CASCADE,
    node        text NOT NULL,
    job_id      uuid NOT NULL,
    CONSTRAINT workflow_jobs_pkey PRIMARY KEY (workflow_id, node)
);
CREATE INDEX workflow_jobs_job_id_idx ON jq.workflow_jobs (job_id);

-- Periodic schedules, fired by the maintenance leader. next_fire_at is the next time to fire
-- (NULL: the leader computes it from the cron expression, after updated_at).
CREATE TABLE jq.schedules (
    name         text        NOT NULL CONSTRAINT schedules_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    cron         text        NOT NULL CONSTRAINT schedules_cron_length CHECK (length(cron) BETWEEN 1 AND 255),
    time_zone    text        NOT NULL DEFAULT 'UTC',
    queue_name   text        NOT NULL,
    payload      jsonb       NOT NULL,
    priority     smallint    NOT NULL DEFAULT 0 CONSTRAINT schedules_priority_range CHECK (priority BETWEEN 0 AND 9),
    max_retries  smallint    CONSTRAINT schedules_max_retries_range CHECK (max_retries BETWEEN 0 AND 1000),
    -- skip: no new job while the previous one is unfinished.
    overlap      text        NOT NULL DEFAULT 'allow' CONSTRAINT schedules_overlap CHECK (overlap IN ('allow', 'skip')),
    -- What happens to times missed while no server ran: none fires none of them, last fires the latest.
    catch_up     text        NOT NULL DEFAULT 'none' CONSTRAINT schedules_catch_up CHECK (catch_up IN ('none', 'last')),
    paused       boolean     NOT NULL DEFAULT false,
    -- Defined in jq-server's configuration (schedules:), which the leader applies when it starts.
    from_config  boolean     NOT NULL DEFAULT false,
    next_fire_at timestamptz,
    last_fire_at timestamptz,
    last_job_id  uuid,
    last_error   text,
    missed       bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL,
    CONSTRAINT schedules_pkey PRIMARY KEY (name)
);

-- One row per fire time of a schedule: the primary key is what keeps two leaders, or a leader
-- and its successor, from firing one time twice.
CREATE TABLE jq.schedule_fires (
    schedule_name text        NOT NULL CONSTRAINT schedule_fires_schedule_fkey REFERENCES jq.schedules ON DELETE CASCADE,
    fire_time     timestamptz NOT NULL,
    -- submitted, skipped (overlap), failed (the submit was refused), triggered (by an operator)
    outcome       text        NOT NULL,
    job_id        uuid,
    error         text,
    fired_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedule_fires_pkey PRIMARY KEY (schedule_name, fire_time)
);
CREATE INDEX schedule_fires_fired_at_idx ON jq.schedule_fires (fired_at);

-- migrate:down

DROP TABLE jq.schedule_fires;
DROP TABLE jq.schedules;
DROP TABLE jq.workflow_jobs;
DROP TABLE jq.workflows;
DROP TABLE jq.finished_parents;
DROP TABLE jq.job_dependencies;
DROP INDEX jq.jobs_unique_key_idx;
ALTER TABLE jq.jobs
    DROP COLUMN progress_at,
    DROP COLUMN progress_message,
    DROP COLUMN progress,
    DROP COLUMN has_dependents,
    DROP COLUMN unique_key;

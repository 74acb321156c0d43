-- migrate:up

-- Flow control (docs/flow-control.md): a queue may be paused (submits are taken, nothing is
-- claimed), limited to max_running jobs ASSIGNED or RUNNING at once, to rate_limit starts per
-- rate_period, and to max_running_per_key jobs of one concurrency_key at once (its keys are
-- then claimed in turn). The claim enforces them, holding the queue's row while it claims, so
-- no race between servers can exceed them; queues without any pay nothing.
ALTER TABLE jq.queues
    ADD COLUMN paused              boolean     NOT NULL DEFAULT false,
    ADD COLUMN max_running         integer     CONSTRAINT queues_max_running_positive CHECK (max_running > 0),
    ADD COLUMN rate_limit          integer     CONSTRAINT queues_rate_limit_positive CHECK (rate_limit > 0),
    ADD COLUMN rate_period         interval    CONSTRAINT queues_rate_period_positive CHECK (rate_period > '0'),
    ADD COLUMN max_running_per_key integer     CONSTRAINT queues_max_running_per_key_positive CHECK (max_running_per_key > 0),
    -- The starts within the current rate period (at most rate_limit of them).
    ADD COLUMN rate_window         timestamptz[] NOT NULL DEFAULT '{}',
    -- The last concurrency key served, where the next fair claim starts.
    ADD COLUMN fair_cursor         text,
    -- Jobs a claim could have taken but did not, because of each limit (cluster-wide counters).
    ADD COLUMN held_paused         bigint      NOT NULL DEFAULT 0,
    ADD COLUMN held_max_running    bigint      NOT NULL DEFAULT 0,
    ADD COLUMN held_rate           bigint      NOT NULL DEFAULT 0,
    ADD COLUMN held_per_key        bigint      NOT NULL DEFAULT 0,
    ADD COLUMN flow_controlled     boolean     GENERATED ALWAYS AS (
        paused OR max_running IS NOT NULL OR rate_limit IS NOT NULL OR max_running_per_key IS NOT NULL) STORED,
    ADD CONSTRAINT queues_rate_complete CHECK ((rate_limit IS NULL) = (rate_period IS NULL));

-- The tenant, customer, ... a job belongs to, for fairness and per-key limits.
ALTER TABLE jq.jobs ADD COLUMN concurrency_key text
    CONSTRAINT jobs_concurrency_key_length CHECK (length(concurrency_key) <= 255);

-- The fair claim visits the keys of a queue's runnable jobs in turn. Only jobs with a key are
-- in it, so the hot path of jobs without one does not pay for it.
CREATE INDEX jobs_fair_idx ON jq.jobs (queue_name, concurrency_key, priority DESC, created_at)
    WHERE status = 'PENDING' AND concurrency_key IS NOT NULL;

-- Running jobs per key, for max_running_per_key.
CREATE INDEX jobs_running_key_idx ON jq.jobs (queue_name, concurrency_key)
    WHERE status IN ('ASSIGNED', 'RUNNING') AND concurrency_key IS NOT NULL;

-- Pruning and recent throughput: CANCELLED is finished too.
DROP INDEX jq.jobs_finished_idx;
CREATE INDEX jobs_finished_idx ON jq.jobs (completed_at)
    WHERE status IN ('DONE', 'DEAD_LETTERED', 'CANCELLED');

-- Listing a queue's jobs of one status, newest first, reads an index range (the console's and
-- ListJobs' queue+status filter) instead of walking the primary key past newer jobs.
DROP INDEX jq.jobs_queue_status_idx;
CREATE INDEX jobs_queue_status_idx ON jq.jobs (queue_name, status, job_id);

-- migrate:down

DROP INDEX jq.jobs_queue_status_idx;
CREATE INDEX jobs_queue_status_idx ON jq.jobs (queue_name, status);
DROP INDEX jq.jobs_finished_idx;
CREATE INDEX jobs_finished_idx ON jq.jobs (completed_at)
    WHERE status IN ('DONE', 'DEAD_LETTERED');
DROP INDEX jq.jobs_running_key_idx;
DROP INDEX jq.jobs_fair_idx;
ALTER TABLE jq.jobs DROP COLUMN concurrency_key;
ALTER TABLE jq.queues
    DROP CONSTRAINT queues_rate_complete,
    DROP COLUMN flow_controlled,
    DROP COLUMN held_per_key,
    DROP COLUMN held_rate,
    DROP COLUMN held_max_running,
    DROP COLUMN held_paused,
    DROP COLUMN fair_cursor,
    DROP COLUMN rate_window,
    DROP COLUMN max_running_per_key,
    DROP COLUMN rate_period,
    DROP COLUMN rate_limit,
    DROP COLUMN max_running,
    DROP COLUMN paused;

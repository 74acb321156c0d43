-- migrate:up

-- jq-ctl system status counts the dead-lettered jobs on every call: through this partial
-- index, that count reads only them, not every job kept. It holds no row of the hot path
-- (jobs reach DEAD_LETTERED only after their retries), so claims and completions do not pay
-- for it.
CREATE INDEX jobs_dead_lettered_idx ON jq.jobs (queue_name) WHERE status = 'DEAD_LETTERED';

-- The worker list pages by registration, newest first.
CREATE INDEX workers_registered_idx ON jq.workers (registered_at DESC, worker_id DESC);

-- migrate:down

DROP INDEX jq.workers_registered_idx;
DROP INDEX jq.jobs_dead_lettered_idx;

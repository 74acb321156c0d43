-- migrate:up

-- Every runnable-to-be job in claim order, whatever its queue: a claim over many queues
-- (workers subscribed to all of them) reads the head of this index instead of merging the
-- heads of every queue from jobs_claim_idx (bench/README.md, many-queues: 0.43 × the
-- one-queue burn before it). Entries are written only when a job becomes PENDING (submit,
-- retry, release), so claims and completions do not pay for it. Built in the migration's
-- transaction (CREATE INDEX CONCURRENTLY cannot run in one): on a large jq.jobs, submits wait
-- for the build; build it by hand with CONCURRENTLY first if that matters, then migrate
-- (docs/deploy.md, "Migrations on large tables").
--
-- Its first key is -priority, not priority DESC, on purpose: only the claim over several queues
-- orders by that expression, so the planner can never take this index for the claim of one
-- queue. Its statistics count a queue's rows of every status, so a queue with few PENDING
-- jobs but many finished ones looks like most of the PENDING jobs, and the claim would walk
-- every other queue's backlog here to find its few.
CREATE INDEX IF NOT EXISTS jobs_pending_idx ON jq.jobs ((-priority), created_at) WHERE status = 'PENDING';

-- migrate:down

DROP INDEX jq.jobs_pending_idx;

-- migrate:up

-- CANCELLED: a job an operator cancelled, running or not (terminal, not retried).
-- WAITING: a job whose dependencies have not all finished (it becomes PENDING when they have).
ALTER TYPE jq.job_status ADD VALUE IF NOT EXISTS 'CANCELLED';
ALTER TYPE jq.job_status ADD VALUE IF NOT EXISTS 'WAITING';

-- migrate:down

-- jq:down-keeps-enum-values job_status CANCELLED WAITING
-- PostgreSQL cannot drop a value from an enum: the values stay, unused. Jobs in those statuses
-- are given the nearest older one.
UPDATE jq.jobs SET status = 'DEAD_LETTERED' WHERE status = 'CANCELLED';
UPDATE jq.jobs SET status = 'PENDING' WHERE status = 'WAITING';

-- migrate:up

-- API keys (docs/security.md). Only a SHA-256 of each key is kept: a key carries 256 random
-- bits, so a fast hash is as safe as a slow one and lets every server check a key in one index
-- lookup. A key's name identifies it for good in the audit trail, so a name is never reused,
-- even after the key is revoked.
CREATE TYPE jq.api_key_role AS ENUM ('admin', 'submitter', 'worker', 'reader');

CREATE TABLE jq.api_keys (
    name         text           PRIMARY KEY
                                CONSTRAINT api_keys_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$'),
    role         jq.api_key_role NOT NULL,
    -- Empty: every queue.
    queues       text[]         NOT NULL DEFAULT '{}',
    key_hash     bytea          NOT NULL CONSTRAINT api_keys_key_hash_unique UNIQUE
                                CONSTRAINT api_keys_key_hash_length CHECK (length(key_hash) = 32),
    -- The key's first characters, to tell keys apart in listings without revealing them.
    key_prefix   text           NOT NULL,
    created_at   timestamptz    NOT NULL DEFAULT now(),
    created_by   text           NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    last_used_at timestamptz
);

-- The audit trail of operator actions that are not job transitions (those are in
-- jq.job_events, with their actor): queues created and deleted, workers drained and shut down,
-- keys created and revoked.
CREATE TABLE jq.audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_occurred_at_idx ON jq.audit_log (occurred_at);

-- Who asked for a transition, when someone did (cancel, manual retry): the API key's name, a
-- certificate identity, or sql:<role> from psql. NULL for the system's own transitions.
ALTER TABLE jq.job_events ADD COLUMN actor text;

-- The credential that registered the worker: only it may stream, heartbeat, report for and
-- deregister the worker. NULL for a worker registered from SQL.
ALTER TABLE jq.workers ADD COLUMN owner text;

CREATE INDEX workers_owner_idx ON jq.workers (owner) WHERE status <> 'OFFLINE';

-- migrate:down

DROP INDEX jq.workers_owner_idx;
ALTER TABLE jq.workers DROP COLUMN owner;
ALTER TABLE jq.job_events DROP COLUMN actor;
DROP TABLE jq.audit_log;
DROP TABLE jq.api_keys;
DROP TYPE jq.api_key_role;

-- API keys and the audit trail (docs/security.md). Keys are made by jq-server (`jq-server auth
-- create-key`, or AdminService.CreateAPIKey): these functions only ever see a key's SHA-256.

-- create_api_key records a new key. name identifies it for good (JQ007 if taken, even by a
-- revoked key); queues, when not empty, are the only queues the key may use; expires_at, when
-- set, must be in the future. Audited with actor.
CREATE OR REPLACE FUNCTION jq.create_api_key(
    name text,
    role jq.api_key_role,
    key_hash bytea,
    key_prefix text,
    queues text[] DEFAULT '{}',
    expires_at timestamptz DEFAULT NULL,
    actor text DEFAULT NULL
) RETURNS jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k jq.api_keys;
    q text;
BEGIN
    IF create_api_key.name IS NULL OR create_api_key.name !~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$' THEN
        RAISE EXCEPTION 'name % is invalid: use letters, digits and . _ @ - (at most 128, starting with a letter or digit)',
            coalesce(quote_literal(create_api_key.name), 'NULL') USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.role IS NULL THEN
        RAISE EXCEPTION 'role must be admin, submitter, worker or reader' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.key_hash IS NULL OR length(create_api_key.key_hash) <> 32 THEN
        RAISE EXCEPTION 'key_hash must be the 32-byte SHA-256 of the key' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.key_prefix IS NULL OR length(create_api_key.key_prefix) NOT BETWEEN 1 AND 16 THEN
        RAISE EXCEPTION 'key_prefix must be 1 to 16 characters' USING ERRCODE = 'JQ005';
    END IF;
    IF create_api_key.queues IS NULL OR array_position(create_api_key.queues, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'queues must be an array of queue names (empty for every queue), without NULL' USING ERRCODE = 'JQ005';
    END IF;
    FOREACH q IN ARRAY create_api_key.queues LOOP
        IF q !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' THEN
            RAISE EXCEPTION 'queues: % is not a valid queue name', quote_literal(q) USING ERRCODE = 'JQ005';
        END IF;
    END LOOP;
    IF create_api_key.expires_at IS NOT NULL AND create_api_key.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at % is not in the future', create_api_key.expires_at USING ERRCODE = 'JQ005';
    END IF;
    INSERT INTO jq.api_keys AS k (name, role, queues, key_hash, key_prefix, created_by, expires_at)
    VALUES (create_api_key.name, create_api_key.role, create_api_key.queues, create_api_key.key_hash,
            create_api_key.key_prefix, jq._actor(create_api_key.actor), create_api_key.expires_at)
    ON CONFLICT DO NOTHING
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'an API key named % already exists (names are never reused, even after a revoke)', create_api_key.name
            USING ERRCODE = 'JQ007';
    END IF;
    PERFORM jq._audit(create_api_key.actor, 'key.create', k.name,
        jsonb_build_object('role', k.role, 'queues', k.queues, 'expires_at', k.expires_at));
    RETURN k;
END
$$;

COMMENT ON FUNCTION jq.create_api_key(text, jq.api_key_role, bytea, text, text[], timestamptz, text) IS
    'Record a new API key (its SHA-256 only); audited with actor.';

-- revoke_api_key revokes a key: servers refuse it once their cache of it expires
-- (auth.key_cache_ttl). JQ011 for an unknown name, JQ003 if it is already revoked.
CREATE OR REPLACE FUNCTION jq.revoke_api_key(name text, actor text DEFAULT NULL) RETURNS jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k jq.api_keys;
BEGIN
    SELECT * INTO k FROM jq.api_keys WHERE name = revoke_api_key.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no API key is named %', coalesce(quote_literal(revoke_api_key.name), 'NULL') USING ERRCODE = 'JQ011';
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'API key % was already revoked at %', k.name, k.revoked_at USING ERRCODE = 'JQ003';
    END IF;
    UPDATE jq.api_keys SET revoked_at = now(), revoked_by = jq._actor(revoke_api_key.actor)
    WHERE name = k.name RETURNING * INTO k;
    PERFORM jq._audit(revoke_api_key.actor, 'key.revoke', k.name);
    RETURN k;
END
$$;

COMMENT ON FUNCTION jq.revoke_api_key(text, text) IS 'Revoke an API key; audited with actor.';

-- authenticate returns the key whose SHA-256 is key_hash (revoked or expired ones too: the
-- caller decides, and says why it refuses), or no row. It notes the key's use, at most once a
-- minute, so that every server's cache refresh does not write.
CREATE OR REPLACE FUNCTION jq.authenticate(key_hash bytea) RETURNS SETOF jq.api_keys
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF authenticate.key_hash IS NULL OR length(authenticate.key_hash) <> 32 THEN
        RAISE EXCEPTION 'key_hash must be the 32-byte SHA-256 of the key' USING ERRCODE = 'JQ005';
    END IF;
    RETURN QUERY
    UPDATE jq.api_keys SET last_used_at = now()
    WHERE key_hash = authenticate.key_hash AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    RETURNING *;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM jq.api_keys WHERE key_hash = authenticate.key_hash;
    END IF;
END
$$;

COMMENT ON FUNCTION jq.authenticate(bytea) IS 'The API key with this SHA-256 (no row if none); notes its use.';

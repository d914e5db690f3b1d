-- 009: API keys for the reporting / management API (only a hash is stored)
CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_by      bigint      REFERENCES users (id) ON DELETE SET NULL,
    name            text        NOT NULL,
    prefix          text        NOT NULL,
    key_hash        text        NOT NULL,
    scopes          text[]      NOT NULL DEFAULT '{reporting:read}',
    last_used_at    timestamptz,
    expires_at      timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_customer_id_idx ON api_keys (customer_id);
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by);

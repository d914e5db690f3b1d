-- 010: feature flags with per-customer overrides
CREATE TABLE feature_flags (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key                 text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    enabled             boolean     NOT NULL DEFAULT false,
    rollout_percentage  smallint    NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feature_flags_key_key UNIQUE (key)
);

CREATE TABLE feature_flag_overrides (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_id         bigint      NOT NULL REFERENCES feature_flags (id) ON DELETE CASCADE,
    customer_id     bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    enabled         boolean     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feature_flag_overrides_key UNIQUE (flag_id, customer_id)
);
CREATE INDEX feature_flag_overrides_customer_id_idx ON feature_flag_overrides (customer_id);

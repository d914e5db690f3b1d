-- 013: versioned SDK configuration documents served to apps (cached in Redis as sdk:config:<app_id>)
CREATE TABLE sdk_configs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id              bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version             integer     NOT NULL CHECK (version > 0),
    config              jsonb       NOT NULL,
    min_sdk_version     text        NOT NULL DEFAULT '1.0.0',
    is_active           boolean     NOT NULL DEFAULT false,
    published_by        bigint      REFERENCES users (id) ON DELETE SET NULL,
    published_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sdk_configs_app_version_key UNIQUE (app_id, version)
);
CREATE INDEX sdk_configs_app_id_idx ON sdk_configs (app_id);
CREATE INDEX sdk_configs_published_by_idx ON sdk_configs (published_by);
CREATE UNIQUE INDEX sdk_configs_one_active_idx ON sdk_configs (app_id) WHERE is_active;

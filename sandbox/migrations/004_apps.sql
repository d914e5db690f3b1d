-- 004: mobile / web apps integrating the SDK
CREATE TABLE apps (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    publisher_id    bigint      NOT NULL REFERENCES publishers (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    platform        text        NOT NULL CHECK (platform IN ('ios', 'android', 'unity', 'web')),
    bundle_id       text        NOT NULL,
    store_url       text,
    app_key         uuid        NOT NULL DEFAULT gen_random_uuid(),
    coppa_directed  boolean     NOT NULL DEFAULT false,
    status          text        NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'archived')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT apps_app_key_key UNIQUE (app_key),
    CONSTRAINT apps_platform_bundle_key UNIQUE (platform, bundle_id)
);
CREATE INDEX apps_publisher_id_idx ON apps (publisher_id);

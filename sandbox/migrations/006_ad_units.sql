-- 006: placements inside an app
CREATE TABLE ad_units (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id              bigint      NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name                text        NOT NULL,
    format              text        NOT NULL
                        CHECK (format IN ('banner', 'interstitial', 'rewarded', 'native', 'app_open')),
    floor_cpm_micros    bigint      NOT NULL DEFAULT 0 CHECK (floor_cpm_micros >= 0),
    refresh_seconds     integer     CHECK (refresh_seconds IS NULL OR refresh_seconds BETWEEN 10 AND 120),
    status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ad_units_app_name_key UNIQUE (app_id, name)
);
CREATE INDEX ad_units_app_id_idx ON ad_units (app_id);
CREATE INDEX ad_units_format_idx ON ad_units (format);

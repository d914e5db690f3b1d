-- 014: daily revenue rollup per ad unit / network / country (fed from ClickHouse)
CREATE TABLE revenue_daily (
    day             date        NOT NULL,
    publisher_id    bigint      NOT NULL REFERENCES publishers (id),
    app_id          bigint      NOT NULL REFERENCES apps (id),
    ad_unit_id      bigint      NOT NULL REFERENCES ad_units (id),
    ad_network_id   bigint      NOT NULL REFERENCES ad_networks (id),
    country_code    char(2)     NOT NULL,
    requests        bigint      NOT NULL DEFAULT 0,
    impressions     bigint      NOT NULL DEFAULT 0,
    clicks          bigint      NOT NULL DEFAULT 0,
    revenue_micros  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, ad_unit_id, ad_network_id, country_code),
    CONSTRAINT revenue_daily_counts_check CHECK (impressions >= 0 AND clicks >= 0 AND clicks <= impressions)
);
CREATE INDEX revenue_daily_publisher_id_day_idx ON revenue_daily (publisher_id, day);
CREATE INDEX revenue_daily_app_id_idx ON revenue_daily (app_id);
CREATE INDEX revenue_daily_ad_unit_id_idx ON revenue_daily (ad_unit_id);
CREATE INDEX revenue_daily_ad_network_id_idx ON revenue_daily (ad_network_id);

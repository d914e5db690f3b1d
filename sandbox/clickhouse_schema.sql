-- ApexMediation analytics schema + seed data for the local ClickHouse sandbox.
--
-- Applied once by `python -m sandbox.clickhouse_http --schema sandbox/clickhouse_schema.sql`
-- when the database `apexmediation` does not exist yet (the whole file runs as one
-- multi-statement batch under the admin identity; a failure drops the database again).
--
-- Layout:
--   raw event tables   : ad_requests, impressions, clicks, revenue_events
--                        MergeTree, PARTITION BY toYYYYMM(event_time),
--                        TTL event_time + INTERVAL 13 MONTH DELETE
--   rollup tables      : impressions_hourly, clicks_hourly, revenue_daily, publisher_daily
--                        Summing/AggregatingMergeTree, partitioned by month, TTL 25 months
--   materialized views : exactly four, each writing TO one rollup table
--   seed data          : ~4 months of synthetic traffic ending "now", generated with numbers()

CREATE DATABASE IF NOT EXISTS apexmediation;

-- ---------------------------------------------------------------- raw event tables

CREATE TABLE IF NOT EXISTS apexmediation.ad_requests
(
    event_time     DateTime('UTC'),
    request_id     UUID,
    publisher_id   UInt32,
    app_id         UInt32,
    ad_unit_id     UInt32,
    ad_format      LowCardinality(String),
    country        LowCardinality(String),
    platform       LowCardinality(String),
    filled         UInt8,
    winning_network LowCardinality(String),
    latency_ms     UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, app_id, ad_unit_id, event_time)
TTL event_time + INTERVAL 13 MONTH DELETE
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS apexmediation.impressions
(
    event_time     DateTime('UTC'),
    impression_id  UUID,
    request_id     UUID,
    publisher_id   UInt32,
    app_id         UInt32,
    ad_unit_id     UInt32,
    ad_format      LowCardinality(String),
    network        LowCardinality(String),
    country        LowCardinality(String),
    platform       LowCardinality(String),
    device_id_hash UInt64,
    ecpm_micros    UInt64 COMMENT 'eCPM in micro-USD; revenue of one impression = ecpm_micros / 1000'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, app_id, network, event_time)
TTL event_time + INTERVAL 13 MONTH DELETE
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS apexmediation.clicks
(
    event_time     DateTime('UTC'),
    click_id       UUID,
    impression_id  UUID,
    publisher_id   UInt32,
    app_id         UInt32,
    ad_unit_id     UInt32,
    network        LowCardinality(String),
    country        LowCardinality(String),
    platform       LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, app_id, network, event_time)
TTL event_time + INTERVAL 13 MONTH DELETE
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS apexmediation.revenue_events
(
    event_time     DateTime('UTC'),
    event_id       UUID,
    publisher_id   UInt32,
    app_id         UInt32,
    network        LowCardinality(String),
    country        LowCardinality(String),
    revenue_type   LowCardinality(String) COMMENT 'impression_level | daily_report | adjustment',
    currency       LowCardinality(String),
    revenue_micros Int64 COMMENT 'revenue in micro-units of `currency`'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, network, event_time)
TTL event_time + INTERVAL 13 MONTH DELETE
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

-- ---------------------------------------------------------------- rollup (target) tables

CREATE TABLE IF NOT EXISTS apexmediation.impressions_hourly
(
    hour           DateTime('UTC'),
    publisher_id   UInt32,
    app_id         UInt32,
    network        LowCardinality(String),
    country        LowCardinality(String),
    impressions    UInt64,
    revenue_micros UInt64
)
ENGINE = SummingMergeTree((impressions, revenue_micros))
PARTITION BY toYYYYMM(hour)
ORDER BY (publisher_id, app_id, network, country, hour)
TTL hour + INTERVAL 25 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.clicks_hourly
(
    hour           DateTime('UTC'),
    publisher_id   UInt32,
    app_id         UInt32,
    network        LowCardinality(String),
    country        LowCardinality(String),
    clicks         UInt64
)
ENGINE = SummingMergeTree(clicks)
PARTITION BY toYYYYMM(hour)
ORDER BY (publisher_id, app_id, network, country, hour)
TTL hour + INTERVAL 25 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.revenue_daily
(
    day            Date,
    publisher_id   UInt32,
    network        LowCardinality(String),
    currency       LowCardinality(String),
    events         UInt64,
    revenue_micros Int64
)
ENGINE = SummingMergeTree((events, revenue_micros))
PARTITION BY toYYYYMM(day)
ORDER BY (publisher_id, network, currency, day)
TTL day + INTERVAL 25 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.publisher_daily
(
    day            Date,
    publisher_id   UInt32,
    impressions    SimpleAggregateFunction(sum, UInt64),
    revenue_micros SimpleAggregateFunction(sum, UInt64),
    unique_devices AggregateFunction(uniq, UInt64),
    apps           AggregateFunction(uniq, UInt32),
    p95_ecpm       AggregateFunction(quantile(0.95), UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (publisher_id, day)
TTL day + INTERVAL 25 MONTH DELETE;

-- ---------------------------------------------------------------- materialized views (exactly 4)

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_impressions_hourly
TO apexmediation.impressions_hourly
AS SELECT
    toStartOfHour(event_time)           AS hour,
    publisher_id,
    app_id,
    network,
    country,
    count()                             AS impressions,
    sum(intDiv(ecpm_micros, 1000))      AS revenue_micros
FROM apexmediation.impressions
GROUP BY hour, publisher_id, app_id, network, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_clicks_hourly
TO apexmediation.clicks_hourly
AS SELECT
    toStartOfHour(event_time)           AS hour,
    publisher_id,
    app_id,
    network,
    country,
    count()                             AS clicks
FROM apexmediation.clicks
GROUP BY hour, publisher_id, app_id, network, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_revenue_daily
TO apexmediation.revenue_daily
AS SELECT
    toDate(event_time)                  AS day,
    publisher_id,
    network,
    currency,
    count()                             AS events,
    sum(revenue_micros)                 AS revenue_micros
FROM apexmediation.revenue_events
GROUP BY day, publisher_id, network, currency;

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_publisher_daily
TO apexmediation.publisher_daily
AS SELECT
    toDate(event_time)                  AS day,
    publisher_id,
    count()                             AS impressions,
    sum(intDiv(ecpm_micros, 1000))      AS revenue_micros,
    uniqState(device_id_hash)           AS unique_devices,
    uniqState(app_id)                   AS apps,
    quantileState(0.95)(ecpm_micros)    AS p95_ecpm
FROM apexmediation.impressions
GROUP BY day, publisher_id;

-- ---------------------------------------------------------------- seed data
-- ~120 days ending at the current hour, so every row stays inside the 13-month TTL.
-- Dimensions are derived from cityHash64(number, salt) (deterministic per row; UUIDs are random).

INSERT INTO apexmediation.ad_requests
SELECT
    toStartOfHour(now('UTC')) - toIntervalSecond(cityHash64(number, 1) % (120 * 86400)) AS event_time,
    generateUUIDv4(number)                                              AS request_id,
    1000 + cityHash64(number, 2) % 25                                  AS publisher_id,
    (1000 + cityHash64(number, 2) % 25) * 10 + cityHash64(number, 3) % 4 AS app_id,
    cityHash64(number, 4) % 40                                          AS ad_unit_id,
    ['banner', 'interstitial', 'rewarded', 'native'][1 + cityHash64(number, 5) % 4] AS ad_format,
    ['US', 'DE', 'GB', 'BR', 'IN', 'JP', 'FR', 'CA'][1 + cityHash64(number, 6) % 8] AS country,
    ['ios', 'android'][1 + cityHash64(number, 7) % 2]                   AS platform,
    cityHash64(number, 8) % 100 < 85                                    AS filled,
    if(filled, ['admob', 'applovin', 'unity', 'ironsource', 'meta', 'mintegral'][1 + cityHash64(number, 9) % 6], '') AS winning_network,
    20 + cityHash64(number, 10) % 480                                   AS latency_ms
FROM numbers(240000);

INSERT INTO apexmediation.impressions
SELECT
    event_time + toIntervalSecond(1 + cityHash64(request_id) % 5)       AS event_time,
    generateUUIDv4(cityHash64(request_id))                              AS impression_id,
    request_id,
    publisher_id,
    app_id,
    ad_unit_id,
    ad_format,
    winning_network                                                     AS network,
    country,
    platform,
    cityHash64(request_id, 'device') % 50000                            AS device_id_hash,
    100000 + cityHash64(request_id, 'ecpm') % 9900000                   AS ecpm_micros
FROM apexmediation.ad_requests
WHERE filled;

INSERT INTO apexmediation.clicks
SELECT
    event_time + toIntervalSecond(2 + cityHash64(impression_id) % 60)   AS event_time,
    generateUUIDv4(cityHash64(impression_id))                           AS click_id,
    impression_id,
    publisher_id,
    app_id,
    ad_unit_id,
    network,
    country,
    platform
FROM apexmediation.impressions
WHERE cityHash64(impression_id, 'ctr') % 1000 < 18;

INSERT INTO apexmediation.revenue_events
SELECT
    toDateTime(d, 'UTC') + toIntervalHour(23)                           AS event_time,
    generateUUIDv4(cityHash64(publisher_id, app_id, network, d))       AS event_id,
    publisher_id,
    app_id,
    network,
    ''                                                                  AS country,
    'daily_report'                                                      AS revenue_type,
    'USD'                                                               AS currency,
    toInt64(sum(rev))                                                   AS revenue_micros
FROM
(
    SELECT toDate(event_time) AS d, publisher_id, app_id, network, intDiv(ecpm_micros, 1000) AS rev
    FROM apexmediation.impressions
)
GROUP BY d, publisher_id, app_id, network;

-- A deliberately NON-compliant ApexMediation ClickHouse schema: every ClickHouse checklist
-- item must fail against it (with max_memory_usage=0 given as a server setting, and a
-- profile requiring a newer major version for 1.1.3). What each table breaks:
--   ad_requests      : no TTL at all                          -> 2.2.1, 2.2.5, 5.3.4
--   clicks           : daily partitioning, TTL of 36 months   -> 2.2.2, 5.3.4
--   revenue_events   : a partition 30 months old kept (TTL merges stopped below) -> 2.2.5
--   impressions      : created but empty                      -> 10.4.2, 2.2.3 (empty MV target)
--   views            : only 3 of 4 (no publisher_daily rollup) -> 2.2.3
--   impressions_all  : Distributed over a plain MergeTree, one replica -> 2.2.4

CREATE DATABASE IF NOT EXISTS apexmediation;

CREATE TABLE IF NOT EXISTS apexmediation.ad_requests
(
    event_time DateTime('UTC'), request_id UUID, publisher_id UInt32, app_id UInt32, filled UInt8
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, app_id, event_time);

CREATE TABLE IF NOT EXISTS apexmediation.impressions
(
    event_time DateTime('UTC'), impression_id UUID, publisher_id UInt32, app_id UInt32,
    network LowCardinality(String), country LowCardinality(String), device_id_hash UInt64, ecpm_micros UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, app_id, network, event_time)
TTL event_time + INTERVAL 13 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.clicks
(
    event_time DateTime('UTC'), click_id UUID, publisher_id UInt32, app_id UInt32,
    network LowCardinality(String), country LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (publisher_id, app_id, network, event_time)
TTL event_time + INTERVAL 36 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.revenue_events
(
    event_time DateTime('UTC'), event_id UUID, publisher_id UInt32, network LowCardinality(String),
    currency LowCardinality(String), revenue_micros Int64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (publisher_id, network, event_time)
TTL event_time + INTERVAL 13 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS apexmediation.impressions_hourly
(
    hour DateTime('UTC'), publisher_id UInt32, app_id UInt32, network LowCardinality(String),
    country LowCardinality(String), impressions UInt64, revenue_micros UInt64
)
ENGINE = SummingMergeTree((impressions, revenue_micros))
PARTITION BY toYYYYMM(hour)
ORDER BY (publisher_id, app_id, network, country, hour)
TTL hour + INTERVAL 25 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.clicks_hourly
(
    hour DateTime('UTC'), publisher_id UInt32, app_id UInt32, network LowCardinality(String),
    country LowCardinality(String), clicks UInt64
)
ENGINE = SummingMergeTree(clicks)
PARTITION BY toYYYYMM(hour)
ORDER BY (publisher_id, app_id, network, country, hour)
TTL hour + INTERVAL 25 MONTH DELETE;

CREATE TABLE IF NOT EXISTS apexmediation.revenue_daily
(
    day Date, publisher_id UInt32, network LowCardinality(String), currency LowCardinality(String),
    events UInt64, revenue_micros Int64
)
ENGINE = SummingMergeTree((events, revenue_micros))
PARTITION BY toYYYYMM(day)
ORDER BY (publisher_id, network, currency, day)
TTL day + INTERVAL 25 MONTH DELETE;

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_impressions_hourly
TO apexmediation.impressions_hourly
AS SELECT toStartOfHour(event_time) AS hour, publisher_id, app_id, network, country,
          count() AS impressions, sum(intDiv(ecpm_micros, 1000)) AS revenue_micros
FROM apexmediation.impressions
GROUP BY hour, publisher_id, app_id, network, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_clicks_hourly
TO apexmediation.clicks_hourly
AS SELECT toStartOfHour(event_time) AS hour, publisher_id, app_id, network, country, count() AS clicks
FROM apexmediation.clicks
GROUP BY hour, publisher_id, app_id, network, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS apexmediation.mv_revenue_daily
TO apexmediation.revenue_daily
AS SELECT toDate(event_time) AS day, publisher_id, network, currency,
          count() AS events, sum(revenue_micros) AS revenue_micros
FROM apexmediation.revenue_events
GROUP BY day, publisher_id, network, currency;

CREATE TABLE IF NOT EXISTS apexmediation.impressions_all AS apexmediation.impressions
ENGINE = Distributed(apex_cluster, apexmediation, impressions, rand());

-- keep expired parts: nothing drops old partitions on this server
SYSTEM STOP TTL MERGES;

INSERT INTO apexmediation.ad_requests
SELECT now('UTC') - toIntervalSecond(number * 3600), generateUUIDv4(number), 1000 + number % 5, 10000 + number % 7, 1
FROM numbers(2000);

INSERT INTO apexmediation.clicks
SELECT now('UTC') - toIntervalSecond(number * 3600), generateUUIDv4(number), 1000 + number % 5, 10000 + number % 7,
       'admob', 'US'
FROM numbers(500);

INSERT INTO apexmediation.revenue_events
SELECT toStartOfDay(now('UTC')) - toIntervalDay(number), generateUUIDv4(number), 1000 + number % 5, 'admob', 'USD',
       1000000 + number
FROM numbers(60);

-- a partition 30 months old: far beyond the 13-month TTL
INSERT INTO apexmediation.revenue_events
SELECT toStartOfMonth(now('UTC') - toIntervalMonth(30)) + toIntervalDay(number % 20), generateUUIDv4(number + 1000),
       1000 + number % 5, 'admob', 'USD', 1000000 + number
FROM numbers(20);

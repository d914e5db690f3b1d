"""ClickHouse checks: schema, partitions, materialized views, replication, retention, settings.

Everything is read from ``system.tables``, ``system.parts``, ``system.settings`` (and
``system.clusters`` / ``system.replicas`` when distributed tables exist) of the profile's
database, with the read-only client (readonly=1). "Event tables" are the MergeTree-family
tables of that database; "raw event tables" are those not written by a materialized view
(the views' targets hold aggregates).
"""

from __future__ import annotations

import re
from typing import Any

from pytest_apexready import Finding, check, fail_check, not_applicable
from pytest_apexready.outcomes import TargetUnavailable
from pytest_apexready.rules.clickhouse import (
    delete_ttl,
    is_mergetree,
    is_replicated,
    months_ago_sql,
    mv_target,
    split_top,
    ttl_clause,
)

_TABLES_SQL = ("SELECT database, name, engine, engine_full, partition_key, create_table_query, toString(uuid) AS uuid "
               "FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary ORDER BY name")


# ---------------------------------------------------------------------------- helpers

def _src(clickhouse, table: str) -> str:
    return f"{table} on {clickhouse.where}"


def _tables(clickhouse) -> list[dict[str, Any]]:
    return clickhouse.query(_TABLES_SQL)


# ---------------------------------------------------------------------------- 1.1.3

@check("1.1.3", part="version")
def test_clickhouse_version(clickhouse, expect, evidence):
    version = clickhouse.server_version()
    source = clickhouse.version_source or f"SELECT version() on {clickhouse.where}"
    evidence.record("version", version, source=source)
    minimum = expect["clickhouse_min_version"]
    major = int(version.split(".")[0])
    if major < minimum:
        fail_check(f"ClickHouse {version} is older than required", observed=f"version {version} (major {major})",
                   expected=f"major version >= {minimum}", where=source)


@check("1.1.3", part="replication")
def test_clickhouse_replication_configured(clickhouse, expect, evidence):
    """Every MergeTree-family table of the database is Replicated*, with enough active replicas."""
    minimum = expect["clickhouse_min_replicas"]
    tables = [t for t in _tables(clickhouse) if is_mergetree(t)]
    where = _src(clickhouse, "system.tables")
    if not tables:
        fail_check("nothing to check", observed="no MergeTree-family table in the database",
                   expected="the event tables, Replicated*MergeTree", where=where)
    plain = sorted(t["name"] for t in tables if not is_replicated(t["engine"]))
    evidence.record("engines", {t["name"]: t["engine"] for t in tables}, source=where)
    findings = []
    if plain:
        findings.append(Finding("tables without replication", plain,
                                "every MergeTree-family table Replicated* (replicated through a keeper)", where))
    if len(plain) < len(tables):
        where_r = _src(clickhouse, "system.replicas")
        status = clickhouse.query("SELECT table, active_replicas FROM system.replicas "
                                  "WHERE database = currentDatabase() ORDER BY table")
        evidence.record("active_replicas", {r["table"]: int(r["active_replicas"]) for r in status}, source=where_r)
        few = {r["table"]: int(r["active_replicas"]) for r in status if int(r["active_replicas"]) < minimum}
        if few:
            findings.append(Finding("active replicas", few, f">= {minimum} (expectations.clickhouse_min_replicas)",
                                    where_r))
    fail_check(findings=findings)


# ---------------------------------------------------------------------------- 2.2.1

@check("2.2.1")
def test_tables_have_ttl(clickhouse, expect, evidence):
    tables = _tables(clickhouse)
    where = _src(clickhouse, "system.tables")
    names = {t["name"] for t in tables}
    wanted = expect["clickhouse_tables"]
    missing = [n for n in wanted if n not in names]
    ttls = {t["name"]: ttl_clause(t["engine_full"]) for t in tables if is_mergetree(t)}
    without = sorted(n for n, ttl in ttls.items() if not ttl)
    evidence.record("table_ttls", {n: ttl or None for n, ttl in ttls.items()}, source=where)
    evidence.record("missing_tables", missing, source=where)
    findings = []
    if missing:
        findings.append(Finding("tables of the schema", f"missing {missing}",
                                f"{list(wanted)} exist (expectations.clickhouse_tables)", where))
    if without:
        findings.append(Finding("MergeTree tables without TTL", without, "none: a TTL on every MergeTree table", where))
    fail_check(findings=findings)


# ---------------------------------------------------------------------------- 2.2.2

@check("2.2.2")
def test_monthly_partitions(clickhouse, evidence):
    tables = [t for t in _tables(clickhouse) if is_mergetree(t)]
    where = _src(clickhouse, "system.tables")
    keys = {t["name"]: t["partition_key"] for t in tables}
    evidence.record("partition_keys", keys, source=where)
    if not tables:
        fail_check("no event tables", observed="no MergeTree tables", expected="event tables partitioned by month",
                   where=where)
    monthly = re.compile(r"\b(toYYYYMM|toStartOfMonth)\(")
    bad = {n: k or "(no partition key)" for n, k in keys.items() if not monthly.search(k or "")}
    if bad:
        fail_check("tables not partitioned by month", observed=bad,
                   expected="partition_key toYYYYMM(<time column>) on every MergeTree table", where=where)


# ---------------------------------------------------------------------------- 2.2.3

@check("2.2.3")
def test_materialized_views(clickhouse, expect, evidence):
    tables = _tables(clickhouse)
    where = _src(clickhouse, "system.tables")
    wanted = expect["clickhouse_materialized_views"]
    views = [t for t in tables if t["engine"] == "MaterializedView"]
    targets = {v["name"]: mv_target(v, tables) for v in views}
    evidence.record("materialized_views", {v: ".".join(filter(None, t)) for v, t in targets.items()}, source=where)
    rows: dict[str, int] = {}
    if targets:
        others = sorted({db for db, _ in targets.values() if db})
        parts = clickhouse.query("SELECT database = currentDatabase() AS here, database, table, sum(rows) AS rows "
                                 "FROM system.parts WHERE active AND (database = currentDatabase() OR "
                                 "has({others:Array(String)}, database)) GROUP BY database, table", {"others": others})
        have = {(None if p["here"] else p["database"], p["table"]): int(p["rows"]) for p in parts}
        rows = {view: have.get(target, 0) for view, target in targets.items()}
    evidence.record("target_rows", rows, source=_src(clickhouse, "system.parts"))
    findings = []
    if len(views) != wanted:
        findings.append(Finding("materialized views", f"{len(views)} materialized views {sorted(targets)}",
                                f"exactly {wanted}", where))
    empty = sorted(f"{v} -> {'.'.join(filter(None, targets[v]))}" for v, n in rows.items() if n == 0)
    if empty:
        findings.append(Finding("materialized views not populating", f"target tables without rows: {empty}",
                                "every view's target table with rows", _src(clickhouse, "system.parts")))
    fail_check(findings=findings)


# ---------------------------------------------------------------------------- 2.2.4

@check("2.2.4")
def test_replication(clickhouse, expect, evidence):
    tables = _tables(clickhouse)
    where = _src(clickhouse, "system.tables")
    distributed = [t for t in tables if t["engine"] == "Distributed"]
    replicated = [t["name"] for t in tables if is_replicated(t["engine"])]
    minimum = expect["clickhouse_min_replicas"]
    evidence.record("distributed_tables", [t["name"] for t in distributed], source=where)
    evidence.record("replicated_tables", replicated, source=where)
    if not distributed and not replicated:
        if not expect["clickhouse_distributed"]:
            not_applicable("the profile declares no distributed tables (expectations.clickhouse_distributed = "
                           "false): replication not required", key="expectations.clickhouse_distributed")
        fail_check("nothing to check", observed="no Distributed and no Replicated*MergeTree table",
                   expected="distributed tables over replicated ones (or expectations.clickhouse_distributed = "
                            "false when there are none)", where=where)
    findings: list[Finding] = []
    where_all = f"{where}, system.clusters and system.replicas"
    by_name = {t["name"]: t for t in tables}
    for dist in distributed:
        args = split_top(re.match(r"Distributed\((.*)\)", dist["engine_full"] or "", re.S).group(1)) \
            if (dist["engine_full"] or "").startswith("Distributed(") else []
        args = [a.strip("'`\" ") for a in args]
        if len(args) < 3:
            findings.append(Finding(f"Distributed table {dist['name']}", f"engine {dist['engine_full']!r}",
                                    "Distributed(cluster, database, table, ...)", where))
            continue
        cluster, db, local = args[:3]
        if db in ("currentDatabase()", ""):
            db = None
        local_t = by_name.get(local) if db is None else None
        if local_t is None:
            rows = clickhouse.query("SELECT engine FROM system.tables WHERE database = {db:String} "
                                    "AND name = {t:String}", {"db": db, "t": local}) if db else []
            local_engine = rows[0]["engine"] if rows else None
        else:
            local_engine = local_t["engine"]
        replicas = clickhouse.query("SELECT shard_num, count() AS replicas FROM system.clusters "
                                    "WHERE cluster = {c:String} GROUP BY shard_num ORDER BY shard_num", {"c": cluster})
        shards = {int(r["shard_num"]): int(r["replicas"]) for r in replicas}
        evidence.record(f"{dist['name']}", {"cluster": cluster, "local_table": f"{db or ''}.{local}".lstrip("."),
                                           "local_engine": local_engine, "replicas_per_shard": shards},
                        source=_src(clickhouse, "system.tables and system.clusters"))
        where_c = _src(clickhouse, "system.tables and system.clusters")
        if local_engine is None or not is_replicated(local_engine):
            findings.append(Finding(f"local table of {dist['name']}",
                                    f"{dist['name']} reads {local} with engine {local_engine or '(table not found)'}",
                                    "a Replicated*MergeTree table", where_c))
        if not shards:
            findings.append(Finding(f"cluster of {dist['name']}", f"cluster {cluster!r} not in system.clusters",
                                    "the cluster defined", where_c))
        elif min(shards.values()) < minimum:
            findings.append(Finding(f"cluster of {dist['name']}",
                                    f"cluster {cluster!r} has shards with fewer replicas {shards}",
                                    f">= {minimum} replicas per shard", where_c))
    if replicated:
        status = clickhouse.query("SELECT table, is_readonly, is_session_expired, total_replicas, active_replicas "
                                  "FROM system.replicas WHERE database = currentDatabase()")
        evidence.record("replicas", status, source=_src(clickhouse, "system.replicas"))
        for r in status:
            if r["is_readonly"] or r["is_session_expired"] or int(r["active_replicas"]) < minimum:
                findings.append(Finding(f"replica of {r['table']}",
                                        f"readonly={r['is_readonly']} session_expired={r['is_session_expired']} "
                                        f"active_replicas={r['active_replicas']}/{r['total_replicas']}",
                                        f"writable, in session, >= {minimum} active replicas", where_all))
    fail_check(findings=findings)


# ---------------------------------------------------------------------------- 2.2.5

@check("2.2.5")
def test_old_partitions_dropped(clickhouse, expect, evidence):
    tables = [t for t in _tables(clickhouse) if is_mergetree(t)]
    if not tables:
        if expect["clickhouse_tables"] == []:
            not_applicable("the profile declares no event tables (expectations.clickhouse_tables = [])",
                           key="expectations.clickhouse_tables")
        fail_check("nothing to check", observed="no MergeTree-family table in the database",
                   expected=f"the event tables {expect['clickhouse_tables']} with partitions and a TTL DELETE",
                   where=_src(clickhouse, "system.tables"))
    grace_days = expect["ttl_grace_days"]
    rules = {t["name"]: delete_ttl(t["engine_full"]) for t in tables}
    monthly = {t["name"] for t in tables if re.search(r"\btoYYYYMM\(", t["partition_key"] or "")}
    parts = clickhouse.query(
        "SELECT table, min(partition) AS oldest, "
        f"countIf(toUInt32(delete_ttl_info_max) > 0 AND delete_ttl_info_max < now() - toIntervalDay({grace_days})) "
        "AS expired_parts, groupUniqArrayIf(partition, toUInt32(delete_ttl_info_max) > 0 AND "
        f"delete_ttl_info_max < now() - toIntervalDay({grace_days})) AS expired_partitions "
        "FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table")
    by_table = {p["table"]: p for p in parts}
    cutoffs: dict[str, int] = {}
    windowed = {n: r for n, r in rules.items() if r and n in monthly}
    if windowed:
        cols = ", ".join(f"{months_ago_sql(r['days'], grace_days)} AS c{i}" for i, r in enumerate(windowed.values()))
        row = clickhouse.query(f"SELECT {cols}")[0]
        cutoffs = {n: int(row[f"c{i}"]) for i, n in enumerate(windowed)}
    observed: dict[str, Any] = {}
    findings: list[Finding] = []
    where = _src(clickhouse, "system.tables and system.parts (active parts)")
    grace = f"+{grace_days} day(s) for TTL merges, expectations.ttl_grace_days"
    for name, rule in sorted(rules.items()):
        p = by_table.get(name)
        oldest = p["oldest"] if p else None
        observed[name] = {"ttl_delete": rule["rule"] if rule else None, "oldest_partition": oldest,
                          "oldest_allowed": cutoffs.get(name)}
        if rule is None:
            findings.append(Finding(f"retention of {name}", f"{name} has no TTL DELETE (oldest partition {oldest})",
                                    "a TTL DELETE on every MergeTree table", where))
            continue
        if p is None:
            continue
        expired = sorted(p["expired_partitions"])
        too_old = name in cutoffs and str(oldest).isdigit() and len(str(oldest)) == 6 and int(oldest) < cutoffs[name]
        if expired or too_old:
            findings.append(Finding(f"old partitions of {name}",
                                    f"{name} keeps partition {oldest} beyond its TTL ({rule['rule']}; oldest allowed "
                                    f"{cutoffs.get(name, '?')}; fully expired partitions {expired})",
                                    f"no partition older than its TTL window ({grace})", where))
    evidence.record("retention", observed, source=_src(clickhouse, "system.tables and system.parts"))
    fail_check(findings=findings)


# ---------------------------------------------------------------------------- 2.2.6

def _ram_bytes(clickhouse, expect) -> tuple[int | None, str]:
    """The server's RAM as the server reports it (OSMemoryTotal), else the profile's clickhouse_ram_gib.

    An embedded engine (the sandbox's chdb) has no system.asynchronous_metrics: only then does the
    profile's number stand in, and the evidence says which source was used."""
    sql = "SELECT value FROM system.asynchronous_metrics WHERE metric = 'OSMemoryTotal'"
    try:
        value = clickhouse.scalar(sql)
    except TargetUnavailable as exc:
        if "UNKNOWN_TABLE" not in str(exc) and "Unknown table" not in str(exc):
            raise
        value = None
    if value:
        return int(value), f"{sql} on {clickhouse.where}"
    if expect["clickhouse_ram_gib"]:
        return int(expect["clickhouse_ram_gib"] * 1024**3), "expectations.clickhouse_ram_gib (the server reports none)"
    return None, f"{sql} on {clickhouse.where} (no such metric) and expectations.clickhouse_ram_gib (not set)"


@check("2.2.6")
def test_performance_settings(clickhouse, expect, evidence):
    where = _src(clickhouse, "system.settings")
    rows = clickhouse.query("SELECT name, value, changed FROM system.settings WHERE name = 'max_memory_usage'")
    settings = {r["name"]: r["value"] for r in rows}
    evidence.record("settings", {r["name"]: {"value": r["value"], "changed": int(r["changed"])} for r in rows},
                    source=where)
    ram, ram_source = _ram_bytes(clickhouse, expect)
    evidence.record("ram_bytes", ram, source=ram_source)
    findings = []
    wanted = "non-zero (not unlimited) and below the server's RAM"
    mem = int(re.sub(r"\D", "", settings.get("max_memory_usage", "")) or 0)
    if ram is None:
        findings.append(Finding("the server's RAM", "unknown", "OSMemoryTotal, or expectations.clickhouse_ram_gib",
                                ram_source))
    if mem == 0:
        findings.append(Finding("max_memory_usage", f"{settings.get('max_memory_usage', '(missing)')} (unlimited)",
                                wanted, where))
    elif ram is not None and mem >= ram:
        findings.append(Finding("max_memory_usage", f"{mem} bytes ({mem / 1024**3:.1f} GiB), RAM {ram / 1024**3:.1f} "
                                f"GiB ({ram_source})", wanted, where))
    fail_check(findings=findings)


# ---------------------------------------------------------------------------- 5.3.4

@check("5.3.4")
def test_ttl_matches_retention_policy(clickhouse, expect, evidence):
    tables = _tables(clickhouse)
    where = _src(clickhouse, "system.tables")
    limit = expect["clickhouse_max_retention_months"]
    targets = {mv_target(v, tables) for v in tables if v["engine"] == "MaterializedView"}
    raw = [t for t in tables if is_mergetree(t) and (None, t["name"]) not in targets]
    retention = {t["name"]: delete_ttl(t["engine_full"]) for t in raw}
    evidence.record("raw_event_table_retention",
                    {n: ({"ttl": r["rule"], "months": r["months"]} if r else None) for n, r in retention.items()},
                    source=where)
    if not raw:
        fail_check("no raw event tables", observed="no MergeTree tables outside materialized-view targets",
                   expected=f"raw event tables with TTL <= {limit} months", where=where)
    too_long = {n: (f"{r['rule']} (~{r['months']} months)" if r else "no TTL DELETE (kept forever)")
                for n, r in retention.items() if r is None or r["months"] > limit + 1e-9}
    if too_long:
        fail_check("raw event retention exceeds the legal maximum", observed=too_long,
                   expected=f"TTL ... DELETE of at most {limit} months on every raw event table", where=where)


# ---------------------------------------------------------------------------- 10.4.2

@check("10.4.2")
def test_first_impressions_tracked(clickhouse, expect, evidence):
    table, column = expect["clickhouse_impressions_table"], expect["clickhouse_time_column"]
    where = _src(clickhouse, table)
    exists = clickhouse.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase() "
                               "AND name = {t:String}", {"t": table})
    if not exists:
        fail_check("no impressions table", observed=f"table {table} does not exist",
                   expected=f"{table} with count() > 0 (expectations.clickhouse_impressions_table)",
                   where=_src(clickhouse, "system.tables"))
    row = clickhouse.query(f"SELECT count() AS n, toString(max(`{column}`)) AS latest FROM `{table}`")[0]
    evidence.record("impressions", int(row["n"]), source=f"SELECT count() FROM {table} on {clickhouse.where}")
    evidence.record("latest_impression", row["latest"] if row["n"] else None, source=where)
    if not row["n"]:
        fail_check("no ad impressions tracked", observed="count() = 0", expected="count() > 0", where=where)

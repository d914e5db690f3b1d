"""Section 2 "PostgreSQL" and section 6 "Database Tuning": read through a read-only session.

Every check reads what the checklist names (``schema_migrations``, ``pg_indexes``,
``SHOW shared_buffers`` ...), records it as evidence, and fails with observed,
expected and where it was read.
"""

from __future__ import annotations

from pytest_apexready import Finding, check, fail_check
from pytest_apexready.rules.postgres import GIB, archiving_findings, autovacuum_findings, memory_findings


def _where(pg, what: str) -> str:
    return f"{what} on {pg.where}"


@check("1.1.2", part="postgres")  # the RDS half (Multi-AZ) is the catalog's part "aws"
def test_postgres_version_and_standby(postgres, expect, evidence):
    where = _where(postgres, "SHOW server_version_num; pg_stat_replication")
    version_num = int(postgres.show("server_version_num"))
    major = version_num // 10000
    standbys = postgres.query("SELECT application_name, state, sync_state FROM pg_stat_replication")
    version = postgres.show("server_version")
    evidence.record("server_version", version, source=where)
    evidence.record("standbys", standbys, source=where)
    findings = []
    if major < expect["postgres_min_version"]:
        findings.append(Finding("PostgreSQL version", f"{major} ({version})", f">= {expect['postgres_min_version']}",
                                where))
    if not [s for s in standbys if s["state"] == "streaming"]:
        findings.append(Finding("streaming standby", standbys or "no standby connected",
                                "at least one standby streaming from the primary", where))
    fail_check(findings=findings)


@check("2.1.1")
def test_migrations_applied(postgres, expect, evidence):
    sql = f"SELECT * FROM \"{expect['migrations_table']}\" ORDER BY version"
    where = _where(postgres, sql)
    rows = postgres.query(sql)
    versions = [str(r["version"]) for r in rows]
    evidence.record("versions", versions, source=where)
    expected = [f"{n:03d}" for n in range(1, expect["migrations"] + 1)]
    missing = [v for v in expected if v not in versions]
    if missing:
        fail_check("migrations", observed=f"{len(versions)} applied, missing {missing}",
                   expected=f"001 through {expected[-1]} all present", where=where)


_UNINDEXED_FKS = """
SELECT c.conrelid::regclass::text AS "table", c.conname AS constraint,
       array_to_string(ARRAY(SELECT a.attname FROM pg_attribute a
                             WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)), ',') AS columns
FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
    SELECT 1 FROM pg_index i
    WHERE i.indrelid = c.conrelid
      AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
      AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)
ORDER BY 1, 2
"""


@check("2.1.2")
def test_indexes_created(postgres, expect, evidence):
    schema = expect["postgres_schema"]
    where = _where(postgres, f"pg_indexes, pg_index, pg_constraint (schema {schema})")
    counts = postgres.query("SELECT tablename, count(*) AS indexes FROM pg_indexes "
                            "WHERE schemaname = %s GROUP BY tablename ORDER BY tablename", (schema,))
    evidence.record("indexes_per_table", {r["tablename"]: r["indexes"] for r in counts}, source=where)
    no_pk = [r["t"] for r in postgres.query(
        "SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT EXISTS "
        "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) ORDER BY 1", (schema,))]
    invalid = [r["i"] for r in postgres.query(
        "SELECT indexrelid::regclass::text AS i FROM pg_index WHERE NOT indisvalid OR NOT indisready")]
    unindexed = [f"{r['table']}({r['columns']})" for r in postgres.query(_UNINDEXED_FKS)]
    evidence.record("tables_without_primary_key", no_pk, source=where)
    evidence.record("foreign_keys_without_index", unindexed, source=where)
    evidence.record("invalid_indexes", invalid, source=where)
    if not counts:
        fail_check("indexes", observed=f"no index in schema {schema}", expected="indexes on every table", where=where)
    fail_check(findings=[Finding(what, found, expected, where) for what, found, expected in (
        ("tables without a primary key", no_pk, "none"),
        ("foreign keys without an index", unindexed, "none: an index leading with every foreign key's columns"),
        ("invalid indexes", invalid, "none"),
    ) if found])


_ROLE = """
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, rolcanlogin,
       ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE rolname = %s
"""


@check("2.1.3")
def test_application_user_least_privilege(postgres, expect, evidence):
    role, schema = expect["postgres_app_role"], expect["postgres_schema"]
    where = _where(postgres, f"pg_roles, pg_class ownership, has_*_privilege for role {role}")
    rows = postgres.query(_ROLE, (role,))
    if not rows:
        fail_check("application user", observed=f"no role {role!r}", expected="an application login role", where=where)
    r = rows[0]
    evidence.record("role", r, source=where)
    owned = [x["o"] for x in postgres.query(
        "SELECT c.relname AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE pg_get_userbyid(c.relowner) = %s AND n.nspname = %s ORDER BY 1", (role, schema))]
    can_create = postgres.query(
        "SELECT has_schema_privilege(%s, %s, 'CREATE') AS schema_create, "
        "has_database_privilege(%s, current_database(), 'CREATE') AS db_create", (role, schema, role))[0]
    evidence.record("owns", owned, source=where)
    evidence.record("create_privileges", can_create, source=where)
    powerful = {"pg_write_all_data", "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
                "rds_superuser", "cloudsqlsuperuser"}
    flags = [flag for flag in ("rolsuper", "rolcreaterole", "rolcreatedb", "rolbypassrls", "rolreplication") if r[flag]]
    member_of = [m for m in r["member_of"] if m in powerful]
    creates = [k for k, v in can_create.items() if v]
    fail_check(findings=[Finding(what, found, expected, where) for what, found, expected in (
        (f"role attributes of {role}", flags, "none of superuser, createrole, createdb, bypassrls, replication"),
        (f"powerful roles {role} is a member of", member_of, "none"),
        (f"tables {role} owns", owned[:10], "none (the migrations' role owns the schema)"),
        (f"CREATE privileges of {role}", creates, f"no CREATE on schema {schema} or the database"),
        (f"login of {role}", [] if r["rolcanlogin"] else "cannot log in", "can log in"),
    ) if found])


@check("2.1.4")
def test_read_replica(postgres, postgres_replica, expect, evidence):
    where_p = _where(postgres, "pg_stat_replication")
    where_r = _where(postgres_replica, "pg_is_in_recovery(), pg_last_xact_replay_timestamp()")
    standbys = postgres.query("SELECT application_name, client_addr::text, state, replay_lag::text "
                              "FROM pg_stat_replication")
    replica = postgres_replica.query(
        "SELECT pg_is_in_recovery() AS in_recovery, current_setting('hot_standby') AS hot_standby, "
        "pg_last_wal_receive_lsn()::text AS received, "
        "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float AS seconds_since_replay")[0]
    evidence.record("primary_standbys", standbys, source=where_p)
    evidence.record("replica", replica, source=where_r)
    findings = []
    if not replica["in_recovery"]:
        findings.append(Finding("read replica", "not in recovery (a primary)", "a standby replaying WAL", where_r))
    if replica["hot_standby"] != "on":
        findings.append(Finding("read replica", f"hot_standby={replica['hot_standby']}",
                                "hot_standby=on so analytics can read", where_r))
    if not any(s["state"] == "streaming" for s in standbys):
        findings.append(Finding("replication", standbys or "no standby", "a streaming standby", where_p))
    fail_check(findings=findings)
    # the replica answers a read of application data (what analytics does)
    postgres_replica.query(f"SELECT count(*) FROM \"{expect['migrations_table']}\"")


@check("2.1.5")
def test_connection_pooling(pgbouncer, evidence):
    where = f"SHOW DATABASES / SHOW CONFIG on the PgBouncer admin console {pgbouncer.where}"
    databases = pgbouncer.show_table("DATABASES")
    config = {r["key"]: r["value"] for r in pgbouncer.show_table("CONFIG")}
    pooled = [d["name"] for d in databases if d["name"] != "pgbouncer"]
    evidence.record("pooled_databases", pooled, source=where)
    evidence.record("pool_mode", config.get("pool_mode"), source=where)
    evidence.record("max_client_conn", config.get("max_client_conn"), source=where)
    target = pgbouncer.settings.get("dbname")
    if target not in pooled:
        fail_check("pooled database", observed=f"pooled databases {pooled}",
                   expected=f"{target!r} served through PgBouncer", where=where)
    # and a query goes through the pool
    pgbouncer.query("SELECT 1")


@check("2.1.6", part="postgres")  # the RDS retention (30 days) is the catalog's part "aws"
def test_point_in_time_recovery(postgres, evidence):
    where = _where(postgres, "SHOW wal_level, archive_mode, archive_command; pg_stat_archiver")
    settings = {k: postgres.show(k) for k in ("wal_level", "archive_mode", "archive_command", "archive_timeout")}
    archiver = postgres.query("SELECT archived_count, failed_count, last_archived_time::text, last_failed_time::text, "
                              "EXTRACT(EPOCH FROM now() - last_archived_time)::float AS seconds_since_archive "
                              "FROM pg_stat_archiver")[0]
    evidence.record("settings", settings, source=where)
    evidence.record("archiver", archiver, source=where)
    fail_check(findings=archiving_findings(settings, archiver, where))


@check("2.1.7")
def test_performance_tuning(postgres, expect, evidence):
    where = _where(postgres, "SHOW shared_buffers, effective_cache_size, work_mem, maintenance_work_mem")
    ram_gib = expect["postgres_ram_gib"]
    if ram_gib is None:
        fail_check("RAM for memory ratios", observed="postgres_ram_gib not set",
                   expected="[expectations] postgres_ram_gib in the profile", where="the environment profile")
    ram = int(ram_gib * GIB)
    values = {k: postgres.setting_bytes(k) for k in ("shared_buffers", "effective_cache_size", "work_mem",
                                                     "maintenance_work_mem")}
    evidence.record("settings", {k: postgres.show(k) for k in values}, source=where)
    evidence.record("ram", f"{ram_gib} GiB (from the profile)", source="expectations.postgres_ram_gib")
    fail_check(findings=memory_findings(values, ram, where))


@check("6.1.1")
def test_connection_pool_size(pgbouncer, expect, evidence):
    where = f"SHOW CONFIG (default_pool_size) on the PgBouncer admin console {pgbouncer.where}"
    config = {r["key"]: r["value"] for r in pgbouncer.show_table("CONFIG")}
    cores, spindles = expect["cpu_cores"], expect["effective_spindle_count"]
    if cores is None:
        fail_check("pool size formula", observed="cpu_cores not set",
                   expected="[expectations] cpu_cores in the profile", where="the environment profile")
    wanted = cores * 2 + spindles
    size = int(config.get("default_pool_size", 0))
    evidence.record("default_pool_size", size, source=where)
    evidence.record("formula", f"({cores} cores x 2) + {spindles} = {wanted}", source="expectations")
    if size != wanted:
        fail_check("connection pool size", observed=size, expected=f"(CPU cores x 2) + effective_spindle_count = "
                   f"({cores} x 2) + {spindles} = {wanted}", where=where)


def _slow_queries(postgres, threshold_ms: float) -> list[dict]:
    installed = postgres.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if not installed:
        fail_check("pg_stat_statements", observed="extension not installed", expected="installed, to find slow queries",
                   where=_where(postgres, "pg_extension"))
    return postgres.query(
        "SELECT left(query, 160) AS query, calls, round(mean_exec_time::numeric, 1)::float AS mean_ms "
        "FROM pg_stat_statements WHERE mean_exec_time > %s AND query NOT ILIKE '%%pg_stat_statements%%' "
        "ORDER BY mean_exec_time DESC LIMIT 20", (threshold_ms,))


@check("6.1.2")
def test_slow_queries_indexed(postgres, expect, evidence):
    where = _where(postgres, "pg_stat_statements, pg_stat_user_tables")
    slow = _slow_queries(postgres, expect["slow_query_ms"])
    seq_heavy = postgres.query(
        "SELECT relname AS table, seq_scan, idx_scan, n_live_tup FROM pg_stat_user_tables "
        "WHERE n_live_tup >= %s AND seq_scan > coalesce(idx_scan, 0) AND seq_tup_read > %s * n_live_tup "
        "ORDER BY seq_tup_read DESC LIMIT 20", (expect["seq_scan_min_rows"], expect["seq_scan_read_factor"]))
    evidence.record("slow_queries", slow, source=where)
    evidence.record("large_tables_read_by_sequential_scan", seq_heavy, source=where)
    if slow or seq_heavy:
        fail_check("slow or unindexed queries", observed={"slow": slow, "sequential_scans": seq_heavy},
                   expected=f"no query slower than {expect['slow_query_ms']} ms on average and no large table "
                            "read mostly by sequential scans", where=where)


@check("6.1.3")
def test_autovacuum_aggressive(postgres, expect, evidence):
    where = _where(postgres, "pg_settings (autovacuum*)")
    rows = postgres.query("SELECT name, setting FROM pg_settings WHERE name LIKE 'autovacuum%%' ORDER BY name")
    settings = {r["name"]: r["setting"] for r in rows}
    evidence.record("settings", settings, source=where)
    disabled = [r["t"] for r in postgres.query(
        "SELECT relname AS t FROM pg_class WHERE 'autovacuum_enabled=false' = ANY (reloptions)")]
    fail_check(findings=autovacuum_findings(settings, disabled, where, expect["autovacuum_max"]))


@check("6.1.4")
def test_statistics_analyzed(postgres, expect, evidence):
    where = _where(postgres, "pg_stat_user_tables (last_analyze, last_autoanalyze)")
    rows = postgres.query("SELECT relname, last_analyze::text, last_autoanalyze::text FROM pg_stat_user_tables "
                          "ORDER BY relname")
    if len(rows) < expect["postgres_min_tables"]:  # no table: nothing was found analysed or not
        fail_check("nothing to check", observed=f"{len(rows)} user tables",
                   expected=f">= {expect['postgres_min_tables']} tables to inspect (expectations.postgres_min_tables "
                            "= 0 declares a database without tables)", where=where)
    never = [r["relname"] for r in rows if not r["last_analyze"] and not r["last_autoanalyze"]]
    evidence.record("tables", len(rows), source=where)
    evidence.record("never_analyzed", never, source=where)
    if never:
        fail_check("statistics", observed=f"never analysed: {never}", expected="ANALYZE run on all tables", where=where)


@check("5.3.3")
def test_audit_logs_table(postgres, expect, evidence):
    role, table, schema = expect["postgres_app_role"], expect["audit_log_table"], expect["postgres_schema"]
    where = _where(postgres, f"information_schema.columns, has_table_privilege on {schema}.{table}")
    columns = [r["column_name"] for r in postgres.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", (schema, table))]
    evidence.record("columns", columns, source=where)
    if not columns:
        fail_check(table, observed=f"no table {schema}.{table}",
                   expected=f"an audit trail table {table} (expectations.audit_log_table)", where=where)
    required = set(expect["audit_log_columns"])
    missing = sorted(required - set(columns))
    privileges = postgres.query(
        "SELECT p AS privilege, has_table_privilege(%s, format('%%I.%%I', %s::text, %s::text), p) AS granted "
        "FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p", (role, schema, table))
    granted = {r["privilege"]: r["granted"] for r in privileges}
    evidence.record(f"privileges_of_{role}", granted, source=where)
    altering = [p for p in ("UPDATE", "DELETE", "TRUNCATE") if granted[p]]
    findings = []
    if missing:
        findings.append(Finding(f"columns of {table}", f"missing {missing}", f"columns {sorted(required)}", where))
    if not granted["INSERT"]:
        findings.append(Finding(f"INSERT on {table} by {role}", f"{role} cannot INSERT (actions would go unlogged)",
                                "granted", where))
    if altering:
        findings.append(Finding(f"privileges of {role} on {table}",
                                f"{role} can {', '.join(altering)} (the trail could be altered)", "INSERT only",
                                where))
    fail_check(findings=findings)


@check("10.3.3")
def test_no_slow_queries(postgres, expect, evidence):
    where = _where(postgres, "pg_stat_statements")
    slow = _slow_queries(postgres, expect["slow_query_ms"])
    evidence.record("slow_queries", slow, source=where)
    if slow:
        fail_check("slow queries", observed=slow, expected=f"none slower than {expect['slow_query_ms']} ms on average",
                   where=where)


@check("10.4.1")
def test_customer_signups(postgres, expect, evidence):
    table, column = expect["signups_table"], expect["signups_time_column"]
    sql = f"SELECT count(*) FROM \"{table}\" WHERE \"{column}\" > now() - interval '24 hours'"
    where = _where(postgres, sql)
    count = postgres.scalar(sql)
    evidence.record("signups_last_24h", count, source=where)
    if not count:
        fail_check("customer signups", observed=0, expected="at least 1 in the last 24 hours", where=where)


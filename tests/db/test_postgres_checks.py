"""The PostgreSQL checks, both directions, against real servers.

- compliant: the shared sandbox (primary, streaming replica, PgBouncer) passes every item;
- non-compliant: an instance of our own, deliberately misconfigured, fails every item with
  observed and expected values in the reason;
- read-only: with ``log_statement = 'all'`` the server's log shows no write by the checker.
"""

from __future__ import annotations

import re

import pytest

from checkrun import ROOT, run_checks
from netutil import free_port
from sandbox import postgres as pg

POSTGRES_ITEMS = ["1.1.2", "2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5", "2.1.6", "2.1.7",
                  "5.3.3", "6.1.1", "6.1.2", "6.1.3", "6.1.4", "10.3.3", "10.4.1"]


def target(name: str, port: int, dbname: str = "apexmediation") -> str:
    return f"""
[targets.{name}]
host = "127.0.0.1"
port = {port}
dbname = "{dbname}"
user = "apex_checker"
password = "${{APEX_PG_CHECKER_PASSWORD}}"
connect_timeout = 3
"""


def profile(primary: int, replica: int, bouncer: int, bouncer_db: str = "apexmediation", cores: int = 2,
            min_version: int = 15, dbname: str = "apexmediation", extra: str = "") -> str:
    return ('description = "self-test"\nenv_file = ".sandbox/credentials.env"\n'
            + target("postgres", primary, dbname) + target("postgres_replica", replica)
            + target("pgbouncer", bouncer, bouncer_db)
            + f"[expectations]\npostgres_ram_gib = 4\ncpu_cores = {cores}\npostgres_min_version = {min_version}\n"
            + extra)


#: what the checker must never send: writes, and reads with a side effect (a sequence step, a setting, a lock)
WRITES = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|GRANT|REVOKE|COPY|VACUUM|ANALYZE|REINDEX|CLUSTER|"
    r"REFRESH|LOCK|DO|CALL|SET|RESET|DISCARD|LISTEN|NOTIFY|PREPARE\s+TRANSACTION|COMMENT|SECURITY\s+LABEL)\b"
    r"|\b(nextval|setval|set_config|pg_(try_)?advisory_(xact_)?lock(_shared)?|pg_(terminate|cancel)_backend|"
    r"pg_reload_conf|pg_rotate_logfile|pg_stat_reset\w*|pg_stat_statements_reset|lo_\w+|dblink\w*)\s*\("
    r"|\bFOR\s+(NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(KEY\s+)?SHARE\b",
    re.IGNORECASE)

#: one planted statement per kind of write the pattern must catch
PLANTED = {
    "nextval": "SELECT nextval('customers_id_seq')",
    "setval": "SELECT setval('customers_id_seq', 1)",
    "set_config": "SELECT set_config('statement_timeout', '0', false)",
    "pg_advisory_lock": "SELECT pg_advisory_lock(42)",
    "pg_try_advisory_xact_lock": "select pg_try_advisory_xact_lock(1)",
    "FOR UPDATE": "SELECT * FROM customers WHERE id = 1 FOR UPDATE",
    "FOR NO KEY UPDATE": "SELECT id FROM customers FOR NO KEY UPDATE SKIP LOCKED",
    "FOR SHARE": "SELECT * FROM customers FOR SHARE",
    "FOR KEY SHARE": "SELECT * FROM customers\n FOR  KEY SHARE",
    "DO": "DO $$ BEGIN PERFORM 1; END $$",
    "CALL": "CALL refresh_rollups()",
    "INSERT": "  insert into audit_logs (actor) values ('x')",
    "SET": "SET default_transaction_read_only = off",
}


@pytest.fixture(scope="module")
def sandbox_up():
    import subprocess
    import sys

    status = subprocess.run([sys.executable, "-m", "sandbox", "status"], cwd=ROOT, capture_output=True, text=True)
    if status.returncode != 0:
        pytest.fail("the shared sandbox is not running: start it with `python -m sandbox up` "
                    "(scripts/test.sh does)\n" + status.stdout[-2000:])


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A primary with migration 014 missing, default memory settings, autovacuum off, no WAL archiving,
    no statistics, an unindexed foreign key, an over-privileged app role, a slow query."""
    base = tmp_path_factory.mktemp("pg-broken")
    port = free_port()
    handle = pg.start_primary(base / "data", port, migrations_upto=13, seed=False, analyze=False,
                              settings_overrides={"shared_buffers": "128MB", "effective_cache_size": "4GB",
                                                  "work_mem": "64MB", "maintenance_work_mem": "64MB",
                                                  "autovacuum": "off", "archive_mode": "off", "hot_standby": "off",
                                                  "autovacuum_vacuum_scale_factor": "0.2"})
    with handle.connect() as conn:
        conn.execute("SET ROLE apex_owner")
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, customer_id bigint REFERENCES customers (id))")
        conn.execute("RESET ROLE")
        conn.execute("ALTER ROLE apex_app CREATEDB")
        conn.execute("GRANT UPDATE, DELETE ON audit_logs TO apex_app")
        conn.execute("SELECT pg_sleep(1.2)")  # recorded by pg_stat_statements as a slow query
        # a table the checker may not read (a permission error must stay with the one item that reads it)
        conn.execute("CREATE TABLE private_migrations (version text)")
        conn.execute("REVOKE ALL ON private_migrations FROM PUBLIC")
        # a database without tables (6.1.4 has nothing to inspect there)
        conn.execute("CREATE DATABASE empty_db")
        conn.execute("GRANT CONNECT ON DATABASE empty_db TO apex_checker")
    yield port
    handle.stop()


def test_sandbox_passes_every_postgres_item(tmp_path, sandbox_up):
    run = run_checks(tmp_path, "postgres", ROOT / "environments" / "local.toml", suites=("tests_db",))
    assert {i: run.outcome(i) for i in POSTGRES_ITEMS} == {i: "passed" for i in POSTGRES_ITEMS}, run.output[-3000:]
    assert run.items["2.1.1"]["evidence"][0]["value"] == [f"{n:03d}" for n in range(1, 15)]


def test_misconfigured_instance_fails_every_postgres_item(tmp_path, broken, sandbox_up):
    # the "replica" is the broken primary itself; PgBouncer is the sandbox's, asked for a database it does not serve
    # PostgreSQL 15 is the only major Debian 12 ships: the version gate is shown failing by asking for 16
    run = run_checks(tmp_path, "postgres", profile(broken, broken, 26432, bouncer_db="analytics", cores=8,
                                                   min_version=16),
                     suites=("tests_db",))
    outcomes = {i: run.outcome(i) for i in POSTGRES_ITEMS}
    assert outcomes == {i: "failed" for i in POSTGRES_ITEMS}, {i: (o, run.reason(i)) for i, o in outcomes.items()}
    r = run.reason
    assert "missing ['014']" in r("2.1.1") and "expected 001 through 014 all present" in r("2.1.1")
    assert "notes(customer_id)" in r("2.1.2")
    assert "rolcreatedb" in r("2.1.3")
    assert "PostgreSQL version: observed 15 (15." in r("1.1.2") and "; expected >= 16; read from" in r("1.1.2")
    assert "streaming standby: observed no standby connected" in r("1.1.2")
    assert "read replica: observed not in recovery (a primary)" in r("2.1.4")
    assert "read replica: observed hot_standby=off; expected hot_standby=on" in r("2.1.4")
    assert "replication: observed no standby; expected a streaming standby" in r("2.1.4")
    assert "pooled database: observed pooled databases ['apexmediation'" in r("2.1.5")
    assert "'analytics' served through PgBouncer" in r("2.1.5")
    assert "archive_mode: observed off; expected on or always" in r("2.1.6")
    assert "shared_buffers: observed 128 MiB (3% of 4.00 GiB RAM); expected ~25% of RAM (20%-30%)" in r("2.1.7")
    assert "work_mem: observed 64 MiB; expected 4MB-16MB" in r("2.1.7")
    assert "maintenance_work_mem: observed 64 MiB; expected 256MB+" in r("2.1.7")
    assert "apex_app can UPDATE" in r("5.3.3")
    assert "observed 5; expected (CPU cores x 2) + effective_spindle_count = (8 x 2) + 1 = 17" in r("6.1.1")
    assert "pg_sleep" in r("6.1.2") and "pg_sleep" in r("10.3.3")
    assert "autovacuum: observed off; expected on" in r("6.1.3")
    assert "statistics: observed never analysed: [" in r("6.1.4") and "'notes'" in r("6.1.4")
    assert "autovacuum_vacuum_scale_factor: observed 0.2; expected <= 0.1" in r("6.1.3")
    assert "observed 0; expected at least 1 in the last 24 hours" in r("10.4.1")


def test_checker_writes_nothing(tmp_path_factory, tmp_path, sandbox_up):
    base = tmp_path_factory.mktemp("pg-logged")
    port = free_port()
    log = base / "statements.log"
    handle = pg.start_primary(base / "data", port, log_file=log,
                              settings_overrides={"log_statement": "all", "log_line_prefix": "%m user=%u db=%d "})
    try:
        start = log.stat().st_size
        run_checks(tmp_path, "database or postgres", profile(port, 25433, 26432), suites=("tests_db",))
        text = log.read_text(errors="replace")[start:]
    finally:
        handle.stop()
    statements = re.findall(r"user=apex_checker db=\S+ LOG:  (?:statement|execute [^:]*): (.*)", text)
    assert len(statements) >= 15, text[-2000:]
    writes = [s for s in statements if WRITES.search(s)]
    assert writes == []
    assert any("execute" in line for line in text.splitlines() if "user=apex_checker" in line)  # both protocols seen


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_write_pattern_catches_each_planted_write(kind):
    assert WRITES.search(PLANTED[kind]), f"the read-only proof would miss {kind}: {PLANTED[kind]}"


def test_write_pattern_lets_the_checks_reads_through():
    reads = ["SELECT * FROM schema_migrations ORDER BY version", "SHOW server_version_num",
             "SELECT setting::bigint AS v, unit FROM pg_settings WHERE name = $1",
             "SELECT has_table_privilege($1, format('%I.%I', $2::text, $3::text), p) AS granted FROM unnest(x) AS p",
             "SELECT left(query, 160) AS query, calls FROM pg_stat_statements WHERE mean_exec_time > $1"]
    assert [s for s in reads if WRITES.search(s)] == []


def test_permission_error_stays_with_its_item(tmp_path, broken, sandbox_up):
    # 2.1.1 reads a table the checker may not SELECT: that item errors naming the privilege; the rest still run
    private = 'migrations_table = "private_migrations"\n'
    run = run_checks(tmp_path, "postgres", profile(broken, broken, 26432, extra=private), suites=("tests_db",))
    assert run.outcome("2.1.1") == "error", run.output[-3000:]
    assert "permission denied (InsufficientPrivilege)" in r21(run) and "private_migrations" in r21(run)
    others = {i: run.outcome(i) for i in POSTGRES_ITEMS if i != "2.1.1"}
    assert "error" not in others.values(), {i: run.reason(i) for i, o in others.items() if o == "error"}


def r21(run) -> str:
    return run.reason("2.1.1")


def test_empty_database_is_nothing_to_check(tmp_path, broken, sandbox_up):
    run = run_checks(tmp_path, "postgres", profile(broken, broken, 26432, dbname="empty_db"), "-k",
                     "test_statistics_analyzed", suites=("tests_db",))
    assert run.outcome("6.1.4") == "failed", run.output[-3000:]
    assert "nothing to check: observed 0 user tables; expected >= 1 tables to inspect" in run.reason("6.1.4")
    assert "empty_db" in run.reason("6.1.4")  # where it looked
    (tmp_path / "declared").mkdir()
    declared = run_checks(tmp_path / "declared", "postgres",
                          profile(broken, broken, 26432, dbname="empty_db", extra="postgres_min_tables = 0\n"),
                          "-k", "test_statistics_analyzed", suites=("tests_db",))
    assert declared.outcome("6.1.4") == "passed", declared.output[-3000:]

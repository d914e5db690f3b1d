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
            min_version: int = 15) -> str:
    return ('description = "self-test"\nenv_file = ".sandbox/credentials.env"\n'
            + target("postgres", primary) + target("postgres_replica", replica)
            + target("pgbouncer", bouncer, bouncer_db)
            + f"[expectations]\npostgres_ram_gib = 4\ncpu_cores = {cores}\npostgres_min_version = {min_version}\n")


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
                                                  "autovacuum": "off", "archive_mode": "off",
                                                  "autovacuum_vacuum_scale_factor": "0.2"})
    with handle.connect() as conn:
        conn.execute("SET ROLE apex_owner")
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, customer_id bigint REFERENCES customers (id))")
        conn.execute("RESET ROLE")
        conn.execute("ALTER ROLE apex_app CREATEDB")
        conn.execute("GRANT UPDATE, DELETE ON audit_logs TO apex_app")
        conn.execute("SELECT pg_sleep(1.2)")  # recorded by pg_stat_statements as a slow query
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
    for item in POSTGRES_ITEMS:
        assert "observed" in r(item) and "expected" in r(item) and "read from" in r(item), (item, r(item))
    assert "missing ['014']" in r("2.1.1") and "expected 001 through 014 all present" in r("2.1.1")
    assert "notes(customer_id)" in r("2.1.2")
    assert "rolcreatedb" in r("2.1.3")
    assert "PostgreSQL version: observed 15 (15." in r("1.1.2") and "; expected >= 16; read from" in r("1.1.2")
    assert "streaming standby: observed no standby connected" in r("1.1.2")
    assert "not in recovery" in r("2.1.4")
    assert "'analytics' served through PgBouncer" in r("2.1.5")
    assert "archive_mode: observed off; expected on or always" in r("2.1.6")
    assert "shared_buffers: observed 128 MiB (3% of 4.00 GiB RAM); expected ~25% of RAM (20%-30%)" in r("2.1.7")
    assert "work_mem: observed 64 MiB; expected 4MB-16MB" in r("2.1.7")
    assert "maintenance_work_mem: observed 64 MiB; expected 256MB+" in r("2.1.7")
    assert "apex_app can UPDATE" in r("5.3.3")
    assert "observed 5; expected (CPU cores x 2) + effective_spindle_count = (8 x 2) + 1 = 17" in r("6.1.1")
    assert "pg_sleep" in r("6.1.2") and "pg_sleep" in r("10.3.3")
    assert "autovacuum: observed off; expected on" in r("6.1.3")
    assert "never analysed" in r("6.1.4")
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
    writes = [s for s in statements
              if re.match(r"\s*(INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE|GRANT|REVOKE|COPY|VACUUM|ANALYZE|"
                          r"SELECT\s+pg_(terminate|cancel|reload|rotate|stat_reset|stat_statements_reset))",
                          s, re.IGNORECASE)]
    assert writes == []
    assert any("execute" in line for line in text.splitlines() if "user=apex_checker" in line)  # both protocols seen

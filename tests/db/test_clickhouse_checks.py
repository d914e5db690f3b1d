"""Self-tests of the ClickHouse checks (tests_db/test_clickhouse.py), run for real.

Each server starts once per module on a free port in a temp dir:

* compliant      sandbox/clickhouse_http.py (the chdb engine) with the sandbox schema
* non-compliant  the same server with tests/db/clickhouse_variants/noncompliant.sql,
                 max_memory_usage=0 and a one-replica cluster (cluster.xml)
* old            Debian's clickhouse-server 18.16 (apt), if installed: too old for the driver
* closed port    nothing listening

and the real suite runs against it in a subprocess (tests/checkrun.run_checks).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from checkrun import ROOT, run_checks
from netutil import free_port
from sandbox.clickhouse_http import start_server, stop_server, wait_ready

VARIANTS = Path(__file__).resolve().parent / "clickhouse_variants"
SCHEMA = ROOT / "sandbox" / "clickhouse_schema.sql"
CH_ITEMS = ("1.1.3", "2.2.1", "2.2.2", "2.2.3", "2.2.4", "2.2.5", "2.2.6", "5.3.4", "10.4.2")
CHECKER, CHECKER_PW = "apex_checker", "checker-pw-7f3a"
USERS = {CHECKER: CHECKER_PW, "apex_admin": {"password": "admin-pw-91c2", "readonly": 0}}


def profile(port: int, database: str = "apexmediation", **expectations: object) -> str:
    text = f"""description = "clickhouse self-test"
[targets.clickhouse]
host = "127.0.0.1"
port = {port}
username = "{CHECKER}"
password = "{CHECKER_PW}"
database = "{database}"
connect_timeout = 2
"""
    if expectations:
        text += "[expectations]\n" + "".join(
            f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in expectations.items())
    return text


def _chdb_server(base: Path, schema: Path, *, data_dir: str | None = None, settings=None):
    port = free_port()
    log = base / "server.log"
    proc = start_server(data_dir or base / "data", port, schema_path=schema, users=USERS, settings=settings,
                        log_path=log)
    try:
        wait_ready(port, 60, proc=proc)
    except BaseException:
        stop_server(proc)
        raise
    return proc, port, log


@pytest.fixture(scope="module")
def compliant(tmp_path_factory):
    base = tmp_path_factory.mktemp("ch_ok")
    proc, port, log = _chdb_server(base, SCHEMA)
    try:
        # the sandbox engine has no cluster (2.2.4 declared n/a) and no OSMemoryTotal (the RAM from the profile)
        run = run_checks(base, "clickhouse", profile(port, clickhouse_distributed=False, clickhouse_ram_gib=8),
                         suites=("tests_db",))
        yield run, log
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def noncompliant(tmp_path_factory):
    base = tmp_path_factory.mktemp("ch_bad")
    # chdb takes clickhouse-local options in the data path's query string: a cluster definition,
    # so that the engine can create a real Distributed table
    data_dir = f"{base / 'data'}?config-file={VARIANTS / 'cluster.xml'}"
    proc, port, _ = _chdb_server(base, VARIANTS / "noncompliant.sql", data_dir=data_dir,
                                 settings={"max_memory_usage": "0", "max_threads": "2"})
    try:
        yield run_checks(base, "clickhouse", profile(port, clickhouse_min_version=99), suites=("tests_db",)), port
    finally:
        stop_server(proc)


OLD_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/data/tmp/</tmp_path>
    <user_files_path>{d}/data/user_files/</user_files_path>
    <format_schema_path>{d}/data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709120</mark_cache_size>
</yandex>
"""
OLD_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>1000000000</max_memory_usage></default><ro><readonly>1</readonly></ro></profiles>
    <users>
        <default><password>admin-pw-91c2</password><networks><ip>127.0.0.1</ip></networks>
                 <profile>default</profile><quota>default</quota></default>
        <{user}><password>{pw}</password><networks><ip>127.0.0.1</ip></networks>
                 <profile>ro</profile><quota>default</quota></{user}>
    </users>
    <quotas><default></default></quotas>
</yandex>
"""


@pytest.fixture(scope="module")
def old_server(tmp_path_factory):
    binary = shutil.which("clickhouse-server")
    if binary is None:
        pytest.fail("clickhouse-server (Debian 18.16) is not installed: run bash scripts/bootstrap.sh "
                    "(apt-get install clickhouse-server)")
    base = tmp_path_factory.mktemp("ch_old")
    http, tcp = free_port(), free_port()
    (base / "config.xml").write_text(OLD_CONFIG.format(d=base, http=http, tcp=tcp))
    (base / "users.xml").write_text(OLD_USERS.format(user=CHECKER, pw=CHECKER_PW))
    proc = subprocess.Popen([binary, f"--config-file={base / 'config.xml'}"], cwd=base,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log = base / "server.err.log"
                tail = f": {log.read_text()[-800:]}" if log.exists() else ""
                pytest.fail(f"clickhouse-server exited with {proc.returncode}{tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/ping", timeout=1) as r:
                    if r.read().startswith(b"Ok."):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("clickhouse-server 18.16 not ready after 30 s")
            time.sleep(0.1)
        yield run_checks(base, "clickhouse", profile(http, database="default"), suites=("tests_db",))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------------------- (a) compliant

def test_compliant_server_passes_every_item(compliant):
    run, _ = compliant
    outcomes = {i: run.outcome(i) for i in CH_ITEMS}
    # 1.1.3 fails even here: a single engine without a keeper has no replication (the sandbox waives it)
    expected = {i: "passed" for i in CH_ITEMS} | {"2.2.4": "not_applicable", "1.1.3": "failed"}
    assert outcomes == expected, run.output[-3000:]
    assert "expectations.clickhouse_distributed" in run.reason("2.2.4")
    parts = {p["name"]: p["outcome"] for p in run.items["1.1.3"]["parts"]}
    assert parts == {"version": "passed", "replication": "failed"}
    assert "tables without replication: observed ['ad_requests'" in run.bare_reason("1.1.3")


def test_compliant_evidence_states_what_was_read(compliant):
    run, _ = compliant
    evidence = {i: {e["name"]: e for e in run.items[i]["evidence"]} for i in CH_ITEMS}
    version = evidence["1.1.3"]["version"]
    assert re.match(r"^\d+\.\d+", version["value"]) and "SELECT version()" in version["source"]
    assert "note" not in evidence["1.1.3"]  # no prose hands a clause to another item: the parts do
    assert evidence["1.1.3"]["engines"]["value"]["impressions"] == "MergeTree"
    assert evidence["2.2.6"]["ram_bytes"]["value"] == 8 * 1024**3
    assert "expectations.clickhouse_ram_gib" in evidence["2.2.6"]["ram_bytes"]["source"]
    assert set(evidence["2.2.3"]["target_rows"]["value"]) == {"mv_impressions_hourly", "mv_clicks_hourly",
                                                              "mv_revenue_daily", "mv_publisher_daily"}
    assert all(n > 0 for n in evidence["2.2.3"]["target_rows"]["value"].values())
    assert evidence["2.2.6"]["settings"]["value"]["max_memory_usage"]["value"] == str(4 * 1024**3)
    assert "system.parts" in evidence["2.2.5"]["retention"]["source"]
    assert evidence["10.4.2"]["impressions"]["value"] > 0
    assert set(evidence["5.3.4"]["raw_event_table_retention"]["value"]) == {
        "ad_requests", "impressions", "clicks", "revenue_events"}


def test_checker_only_reads(compliant):
    _, log = compliant
    lines = [line for line in log.read_text().splitlines() if f"user={CHECKER} " in line]
    assert lines, "the checker sent no queries"
    writes = [line for line in lines
              if re.search(r"q=['\"]\s*(INSERT|CREATE|ALTER|DROP|TRUNCATE|RENAME|OPTIMIZE|SYSTEM|SET|KILL|GRANT)\b",
                           line, re.I)]
    assert writes == []
    assert not [line for line in log.read_text().splitlines() if "user=apex_admin" in line]
    # every query answered, but the RAM read: the embedded engine has no system.asynchronous_metrics (2.2.6 then
    # takes the profile's clickhouse_ram_gib and says so in its evidence)
    refused = [x for x in lines if " -> 200 " not in x]
    assert all("system.asynchronous_metrics" in x for x in refused), refused


# ---------------------------------------------------------------------------- (b) non-compliant

NONCOMPLIANT = {
    "1.1.3": ["26.", "expected major version >= 99"],
    "2.2.1": ["ad_requests", "without TTL"],
    "2.2.2": ["clicks", "toYYYYMMDD(event_time)", "toYYYYMM(<time column>)"],
    "2.2.3": ["3 materialized views", "mv_impressions_hourly -> impressions_hourly", "exactly 4"],
    "2.2.4": ["impressions_all", "engine MergeTree", "fewer replicas {1: 1}", "Replicated*MergeTree"],
    "2.2.5": ["ad_requests has no TTL DELETE", "revenue_events keeps partition", "oldest allowed"],
    "2.2.6": ["max_memory_usage: observed 0 (unlimited)", "non-zero", "the server's RAM: observed unknown"],
    "5.3.4": ["clicks", "36", "ad_requests", "at most 13 months"],
    "10.4.2": ["count() = 0", "count() > 0"],
}


@pytest.mark.parametrize("item", CH_ITEMS)
def test_noncompliant_server_fails_every_item(noncompliant, item):
    noncompliant, _ = noncompliant
    assert noncompliant.outcome(item) == "failed", noncompliant.output[-3000:]
    reason = noncompliant.reason(item)
    for fragment in NONCOMPLIANT[item]:  # each list names the observed value, not only fail_check's words
        assert fragment in reason, reason


def test_unknown_database_errors_with_the_server_reason(noncompliant, tmp_path):
    _, port = noncompliant
    run = run_checks(tmp_path, "clickhouse", profile(port, database="no_such_db"), suites=("tests_db",))
    # the version is still read, over plain HTTP; the replication part errors like the rest
    assert {p["name"]: p["outcome"] for p in run.items["1.1.3"]["parts"]} == {"version": "passed",
                                                                              "replication": "error"}
    others = [i for i in CH_ITEMS if i != "1.1.3"]
    assert {run.outcome(i) for i in others} == {"error"}, run.output[-3000:]
    reasons = {run.reason(i) for i in others}
    assert len(reasons) == 1, reasons
    reason = reasons.pop()
    assert "no_such_db" in reason and "could not open a session" in reason and "cannot work with" not in reason


# ---------------------------------------------------------------------------- (c) ClickHouse 18.16

def test_old_server_fails_version_gate_and_errors_the_rest(old_server):
    run = old_server
    assert run.outcome("1.1.3") == "failed", run.output[-3000:]
    assert "18.16" in run.reason("1.1.3") and "expected major version >= 23" in run.reason("1.1.3")
    others = [i for i in CH_ITEMS if i != "1.1.3"]
    assert {run.outcome(i) for i in others} == {"error"}
    reasons = {run.reason(i) for i in others}
    assert len(reasons) == 1, reasons
    assert "ClickHouse 18.16" in reasons.pop()
    assert "Traceback" not in run.output


# ---------------------------------------------------------------------------- (d) closed port

def test_closed_port_errors_every_item_with_one_reason(tmp_path):
    t0 = time.monotonic()
    run = run_checks(tmp_path, "clickhouse", profile(free_port()), suites=("tests_db",))
    assert {run.outcome(i) for i in CH_ITEMS} == {"error"}, run.output[-3000:]
    # one reason, for every item and for each part of 1.1.3
    reasons = {line for i in CH_ITEMS for line in run.bare_reason(i).splitlines()}
    assert len(reasons) == 1, reasons
    reason = reasons.pop()
    assert "could not check: clickhouse" in reason and "Connection refused" in reason
    assert CHECKER_PW not in run.output
    assert time.monotonic() - t0 < 30

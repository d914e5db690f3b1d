"""Smoke test of sandbox/clickhouse_http.py through the official driver clickhouse-connect.

Run: python -m pytest -p no:cacheprovider tests/sandbox/test_clickhouse_http_smoke.py
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import re
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from netutil import free_port
from sandbox.clickhouse_http import start_server, stop_server, wait_ready

SCHEMA = Path(__file__).resolve().parents[2] / "sandbox" / "clickhouse_schema.sql"
CHECKER, CHECKER_PW = "apex_checker", "checker-pw-123"
ADMIN, ADMIN_PW = "apex_admin", "admin-pw-456"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("ch")
    port = free_port()
    log = base / "server.log"
    t0 = time.monotonic()
    proc = start_server(
        base / "data",
        port,
        schema_path=SCHEMA,
        users={CHECKER: CHECKER_PW, ADMIN: {"password": ADMIN_PW, "readonly": 0}},
        log_path=log,
    )
    try:
        wait_ready(port, 90, proc=proc)
        print(f"cold start with schema: {time.monotonic() - t0:.2f}s")
        yield {"port": port, "log": log, "proc": proc, "data": base / "data"}
    finally:
        stop_server(proc)


def _client(server, user=CHECKER, password=CHECKER_PW, **kw):
    kw.setdefault("database", "apexmediation")
    kw.setdefault("connect_timeout", 5)
    kw.setdefault("send_receive_timeout", 60)
    return clickhouse_connect.get_client(host="127.0.0.1", port=server["port"], username=user, password=password, **kw)


def _http(server, sql: bytes | str, params: str = "", headers: dict | None = None, auth=(ADMIN, ADMIN_PW)):
    req = urllib.request.Request(
        f"http://127.0.0.1:{server['port']}/?{params}", data=sql.encode() if isinstance(sql, str) else sql
    )
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_ping(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/ping", timeout=5) as resp:
        assert resp.read() == b"Ok.\n"


def test_checker_connect_and_query(server):
    c = _client(server, settings={"readonly": 1})
    assert c.server_version
    rows = {
        name: (value, changed)
        for name, value, changed in c.query(
            "SELECT name, value, changed FROM system.settings "
            "WHERE name IN ('max_memory_usage','max_threads','readonly')"
        ).result_rows
    }
    assert rows["readonly"][0] == "1"
    assert int(rows["max_memory_usage"][0]) > 0 and rows["max_memory_usage"][1] == 1
    assert rows["max_threads"][1] == 1
    assert c.command("SELECT count() FROM impressions") > 100_000
    res = c.query("SELECT publisher_id, count() FROM impressions GROUP BY publisher_id ORDER BY publisher_id")
    assert len(res.result_rows) == 25
    assert c.query("SELECT {p:UInt32} + 1, {s:String}", parameters={"p": 41, "s": "it's"}).result_rows == [(42, "it's")]


def test_schema_shape(server):
    c = _client(server)
    tables = {
        r[0]: r[1:]
        for r in c.query(
            "SELECT name, engine, partition_key, create_table_query FROM system.tables "
            "WHERE database = 'apexmediation'"
        ).result_rows
    }
    mvs = [n for n, (engine, _, _) in tables.items() if engine == "MaterializedView"]
    assert sorted(mvs) == ["mv_clicks_hourly", "mv_impressions_hourly", "mv_publisher_daily", "mv_revenue_daily"]
    for name in ("impressions", "clicks", "revenue_events", "ad_requests"):
        engine, pkey, ddl = tables[name]
        assert engine == "MergeTree" and pkey == "toYYYYMM(event_time)"
        assert "TTL event_time + toIntervalMonth(13)" in ddl
    for name in ("impressions_hourly", "clicks_hourly", "revenue_daily", "publisher_daily"):
        assert c.command(f"SELECT count() FROM {name}") > 0
        assert "TTL" in tables[name][2]
    months = c.query("SELECT uniqExact(toYYYYMM(event_time)) FROM impressions").result_rows[0][0]
    assert months >= 4


def test_errors(server):
    c = _client(server)
    with pytest.raises(DatabaseError) as exc:
        c.query("SELECT * FROM no_such_table")
    assert "60" in str(exc.value) and "UNKNOWN_TABLE" in str(exc.value)
    with pytest.raises(DatabaseError, match="62"):
        c.query("SELEC 1")


def test_readonly_checker(server):
    c = _client(server, settings={"readonly": 1})
    with pytest.raises(DatabaseError) as exc:
        c.insert("clicks_hourly", [[dt.datetime(2026, 1, 1), 1, 1, "x", "US", 1]],
                 column_names=["hour", "publisher_id", "app_id", "network", "country", "clicks"])
    assert "164" in str(exc.value) and "READONLY" in str(exc.value)
    for sql in ("CREATE TABLE zz (a Int8) ENGINE = Memory", "DROP TABLE clicks", "ALTER TABLE clicks DELETE WHERE 1",
                "INSERT INTO clicks_hourly (clicks) VALUES (1)", "SELECT * FROM file('/etc/hostname', LineAsString)"):
        with pytest.raises(DatabaseError, match="164"):
            c.command(sql)
    with pytest.raises(ProgrammingError):  # the driver itself refuses: system.settings says readonly
        c.query("SELECT 1", settings={"max_threads": 1})
    _, headers, _ = _http(server, "SELECT 1", "readonly=0", auth=(CHECKER, CHECKER_PW))
    assert headers.get("X-ClickHouse-Exception-Code") == "164"
    # GET (ClickHouse: at least readonly=2) must not relax the checker's readonly=1
    req = urllib.request.Request(f"http://127.0.0.1:{server['port']}/?query=SELECT+1&max_threads=1",
                                 headers={"X-ClickHouse-User": CHECKER, "X-ClickHouse-Key": CHECKER_PW})
    with pytest.raises(urllib.error.HTTPError) as http_err:
        urllib.request.urlopen(req, timeout=10)
    assert http_err.value.headers["X-ClickHouse-Exception-Code"] == "164"
    assert c.command("SELECT count() FROM clicks") > 0


def test_wrong_password(server):
    with pytest.raises(DatabaseError) as exc:
        _client(server, password="wrong")
    assert "516" in str(exc.value)
    status, headers, _ = _http(server, "SELECT 1", auth=("nobody", "x"))
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "516"


@pytest.mark.parametrize("compress", [True, False, "lz4", "zstd", "gzip"])
def test_admin_insert(server, compress):
    a = _client(server, ADMIN, ADMIN_PW, compress=compress)
    table = f"t_ins_{str(compress).lower()}"
    a.command(f"DROP TABLE IF EXISTS {table}")
    a.command(f"CREATE TABLE {table} (id UInt32, name String, ts DateTime, lc LowCardinality(String), "
              f"n Nullable(Float64), arr Array(UInt16)) ENGINE = MergeTree ORDER BY id")
    rows = [[i, f"n{i}", dt.datetime(2026, 1, 1, 0, 0, i % 60), "ab"[i % 2], None if i % 3 == 0 else i / 3, [i, i + 1]]
            for i in range(5000)]
    summary = a.insert(table, rows, column_names=["id", "name", "ts", "lc", "n", "arr"])
    assert summary.written_rows == 5000
    assert a.query(f"SELECT count(), sum(id), countIf(n IS NULL) FROM {table}").result_rows == [(5000, 12497500, 1667)]
    assert a.query(f"SELECT * FROM {table} WHERE id = 7").result_rows == [
        (7, "n7", dt.datetime(2026, 1, 1, 0, 0, 7), "b", 7 / 3, [7, 8])]
    a.raw_insert(table, ["id", "name"], "9001\tr\n9002\ts\n", fmt="TSV")
    a.command(f"INSERT INTO {table} (id, name) VALUES (9003, 'v')")
    assert a.command(f"SELECT count() FROM {table} WHERE id > 9000") == 3
    a.command(f"DROP TABLE {table}")


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip"])
def test_admin_insert_many_blocks(server, compress):
    """clickhouse-connect sends ~65k-row Native blocks, each compressed as its own frame."""
    a = _client(server, ADMIN, ADMIN_PW, compress=compress)
    table = f"t_blocks_{str(compress).lower()}"
    a.command(f"DROP TABLE IF EXISTS {table}")
    a.command(f"CREATE TABLE {table} (id UInt32, v UInt8) ENGINE = MergeTree ORDER BY id")
    n = 150_000
    a.insert(table, [list(range(n)), [i % 256 for i in range(n)]], column_names=["id", "v"], column_oriented=True)
    assert a.query(f"SELECT count(), sum(id) FROM {table}").result_rows == [(n, n * (n - 1) // 2)]
    a.command(f"DROP TABLE {table}")


def test_insert_feeds_materialized_views(server):
    a = _client(server, ADMIN, ADMIN_PW)
    before = a.command("SELECT sum(clicks) FROM clicks_hourly WHERE publisher_id = 4242")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    a.insert("clicks", [[now, 4242, 1, 1, "admob", "US", "ios"]] * 3,
             column_names=["event_time", "publisher_id", "app_id", "ad_unit_id", "network", "country", "platform"])
    assert a.command("SELECT sum(clicks) FROM clicks_hourly WHERE publisher_id = 4242") == before + 3


def test_http_details(server):
    # chunk-free compressed body with the statement in the URL (as raw inserts do)
    _http(server, "CREATE TABLE IF NOT EXISTS default.h (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
    status, _, _ = _http(server, gzip.compress(b"1\tx\n2\ty\n"), "query=INSERT+INTO+default.h+FORMAT+TSV",
                         {"Content-Encoding": "gzip"})
    assert status == 200
    # ClickHouse native compressed blocks (decompress=1); checksum is not verified
    import lz4.block

    raw = b"3\tz\n"
    comp = lz4.block.compress(raw, store_size=False)
    block = b"\0" * 16 + bytes([0x82]) + struct.pack("<II", len(comp) + 9, len(raw)) + comp
    status, _, body = _http(server, block, "decompress=1&query=INSERT+INTO+default.h+FORMAT+TSV")
    assert status == 200, body
    status, headers, body = _http(server, "SELECT * FROM default.h ORDER BY a", "enable_http_compression=1",
                                  {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip" and gzip.decompress(body) == b"1\tx\n2\ty\n3\tz\n"
    status, headers, body = _http(server, "SELECT 1; SELECT 2")
    assert status == 400 and headers["X-ClickHouse-Exception-Code"] == "62"
    status, headers, body = _http(server, "SELECT a FROM default.h", "database=no_db")
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "81"
    # X-ClickHouse-User / X-ClickHouse-Key headers
    req = urllib.request.Request(f"http://127.0.0.1:{server['port']}/?query=SELECT+currentDatabase()",
                                 headers={"X-ClickHouse-User": CHECKER, "X-ClickHouse-Key": CHECKER_PW})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read() == b"default\n"
    _http(server, "DROP TABLE default.h")


def test_log_has_no_passwords(server):
    text = Path(server["log"]).read_text()
    assert re.search(r"(POST|GET) /\S* user=apex_checker ", text), text[-2000:]
    assert CHECKER_PW not in text and ADMIN_PW not in text


def test_restart_keeps_data_and_skips_schema(server, tmp_path):
    # a second, deliberately non-compliant instance: schema with a table without TTL
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE DATABASE IF NOT EXISTS apexmediation;\n"
                   "CREATE TABLE apexmediation.impressions (event_time DateTime, x UInt8) "
                   "ENGINE = MergeTree ORDER BY event_time;\n")
    port = free_port()
    proc = start_server(tmp_path / "data", port, schema_path=bad, users={CHECKER: CHECKER_PW}, quiet=True)
    try:
        wait_ready(port, 60, proc=proc)
        c = _client(server | {"port": port})
        ddl = c.command("SELECT create_table_query FROM system.tables WHERE name = 'impressions'")
        assert "TTL" not in ddl
    finally:
        stop_server(proc)
    proc = start_server(tmp_path / "data", port, schema_path=bad, users={CHECKER: CHECKER_PW}, quiet=True)
    try:
        wait_ready(port, 60, proc=proc)  # schema skipped: database exists already
        assert _client(server | {"port": port}).command("SELECT count() FROM impressions") == 0
    finally:
        assert stop_server(proc) == 0

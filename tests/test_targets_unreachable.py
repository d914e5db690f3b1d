"""An unreachable or silent target errors all its items with one reason, after one timeout."""

from __future__ import annotations

import pytest

from netutil import SilentServer, free_port as closed_port

CHECKS = """
from pytest_apexready import check

@check("2.1.1")
def test_a(postgres):
    postgres.query("SELECT 1")

@check("2.1.2")
def test_b(postgres):
    postgres.query("SELECT 2")

@check("2.1.3")
def test_c(postgres):
    postgres.show("work_mem")
"""


def profile(port: int) -> str:
    return f"""description = "unreachable"
[targets.postgres]
host = "127.0.0.1"
port = {port}
dbname = "apexmediation"
user = "apex_checker"
password = "${{PGPW}}"
connect_timeout = 1
"""


def test_closed_port_errors_every_item_with_one_reason(project, monkeypatch):
    monkeypatch.setenv("PGPW", "pw-not-to-be-seen")
    project.write("environments/local.toml", profile(closed_port()))
    project.pytester.makepyfile(test_checks=CHECKS)
    result = project.pytester.runpytest("-m", "database")
    assert result.ret == 1
    items = project.items()
    reasons = {items[i]["reason"] for i in ("2.1.1", "2.1.2", "2.1.3")}
    assert {items[i]["outcome"] for i in ("2.1.1", "2.1.2", "2.1.3")} == {"error"}
    assert len(reasons) == 1
    (reason,) = reasons
    assert reason.startswith("could not check: postgres (postgres 127.0.0.1:")
    assert "Connection refused" in reason
    assert "pw-not-to-be-seen" not in result.stdout.str()


def test_silent_server_costs_one_timeout(project, monkeypatch):
    monkeypatch.setenv("PGPW", "pw-not-to-be-seen")
    server = SilentServer()
    try:
        project.write("environments/local.toml", profile(server.port))
        project.pytester.makepyfile(test_checks=CHECKS)
        project.pytester.runpytest("-m", "database")
    finally:
        server.close()
    items = project.items()
    assert {items[i]["outcome"] for i in ("2.1.1", "2.1.2", "2.1.3")} == {"error"}
    assert "timeout" in items["2.1.1"]["reason"].lower()
    # psycopg may try the address more than once inside one connect; it never retries per item
    assert 1 <= server.accepted <= 2, server.accepted


def test_every_target_down_still_writes_the_whole_checklist(project, monkeypatch):
    monkeypatch.setenv("PGPW", "x" * 8)
    project.write("environments/local.toml", profile(closed_port()))
    project.pytester.makepyfile(test_checks=CHECKS + """
@check("2.3.1")
def test_redis(redis):
    redis.info()
""")
    result = project.pytester.runpytest()
    assert result.ret == 1
    rec = project.record()
    assert rec["summary"]["items"] == 160
    assert project.items()["2.3.1"]["outcome"] == "error"
    assert "has no [targets.redis] table" in project.items()["2.3.1"]["reason"]
    for name in ("checklist.md", "checklist.html"):
        assert (project.path / "reports" / name).exists()


CLICKHOUSE_CHECKS = """
from pytest_apexready import check

@check("2.2.1")
def test_a(clickhouse):
    clickhouse.query("SELECT 1")

@check("2.2.2")
def test_b(clickhouse):
    clickhouse.query("SELECT 2")
"""

REDIS_CHECKS = """
from pytest_apexready import check

@check("2.3.1")
def test_a(redis):
    redis.info()

@check("2.3.2")
def test_b(redis):
    redis.config_get("maxmemory-policy")
"""


@pytest.mark.parametrize("kind", ["clickhouse", "redis"])
def test_silent_server_costs_one_timeout_for_other_targets(project, kind):
    server = SilentServer()
    try:
        project.write("environments/local.toml", f'description = "silent"\n[targets.{kind}]\nhost = "127.0.0.1"\n'
                                                 f"port = {server.port}\nconnect_timeout = 1\n")
        project.pytester.makepyfile(test_checks=CLICKHOUSE_CHECKS if kind == "clickhouse" else REDIS_CHECKS)
        project.pytester.runpytest("-m", "database")
    finally:
        server.close()
    items = project.items()
    ids = ("2.2.1", "2.2.2") if kind == "clickhouse" else ("2.3.1", "2.3.2")
    assert {items[i]["outcome"] for i in ids} == {"error"}
    assert len({items[i]["reason"] for i in ids}) == 1
    assert 1 <= server.accepted <= 2, server.accepted

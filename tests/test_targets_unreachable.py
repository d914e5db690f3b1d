"""An unreachable or silent target errors all its items with one reason, after one timeout."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from netutil import SilentServer, silent_kubeconfig
from netutil import free_port as closed_port
from pytest_apexready.catalog import load_catalog
from pytest_apexready.outcomes import TargetUnavailable
from pytest_apexready.targets import Target
from pytest_apexready.targets.probe import probe_all
from pytest_apexready.targets.registry import KINDS, TARGETS

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


# --------------------------------------------------------------------------- every target silent at once

#: one check per target kind (two for some, to show items of one target share its reason)
ALL_KINDS_CHECKS = """
from pytest_apexready import check

@check("2.1.1")
def test_pg_a(postgres):
    postgres.query("SELECT 1")

@check("2.1.2")
def test_pg_b(postgres):
    postgres.show("work_mem")

@check("2.1.4")
def test_replica(postgres_replica):
    postgres_replica.query("SELECT 1")

@check("2.1.5")
def test_pgbouncer(pgbouncer):
    pgbouncer.show_table("POOLS")

@check("2.3.1")
def test_redis_a(redis):
    redis.info()

@check("2.3.2")
def test_redis_b(redis):
    redis.config_get("maxmemory-policy")

@check("2.3.4")
def test_redis_replica(redis_replica):
    redis_replica.info("replication")

@check("2.3.5")
def test_sentinel(redis_sentinel):
    redis_sentinel.master()

@check("2.2.1")
def test_ch_a(clickhouse):
    clickhouse.query("SELECT 1")

@check("2.2.2")
def test_ch_b(clickhouse):
    clickhouse.query("SELECT 2")

@check("3.1.2")
def test_k8s(kubernetes):
    kubernetes.version()
"""
#: item -> the target kind it reads
ALL_KINDS_ITEMS = {"2.1.1": "postgres", "2.1.2": "postgres", "2.1.4": "postgres_replica", "2.1.5": "pgbouncer",
                   "2.3.1": "redis", "2.3.2": "redis", "2.3.4": "redis_replica", "2.3.5": "redis_sentinel",
                   "2.2.1": "clickhouse", "2.2.2": "clickhouse", "3.1.2": "kubernetes"}
TIMEOUT = 2  # libpq's minimum: every target costs the same
#: a key of a kind's schema -> its value in the silent profile ({port}: the silent port); keys, not kinds,
#: so that a new kind whose table is made of known keys needs no line here
SILENT_VALUES: dict[str, object] = {
    "host": "127.0.0.1", "port": "{port}", "endpoint_url": "http://127.0.0.1:{port}",
    "endpoints": ["127.0.0.1:{port}"], "nameservers": ["127.0.0.1:{port}"], "zone": "apexmediation.test",
    "connect_timeout": TIMEOUT, "request_timeout": TIMEOUT, "read_timeout": TIMEOUT, "max_attempts": 1, "retries": 0,
    "dbname": "apexmediation", "user": "apex_checker", "username": "apex_checker", "password": "${PGPW}",
    "access_key_id": "${PGPW}", "secret_access_key": "${PGPW}", "region": "eu-west-1", "namespace": "apexmediation",
    "bastion": "ssh://apexcheck@127.0.0.1:{port}",
}


def silent_value(key: str, port: int, kubeconfig: Path) -> object:
    if key == "kubeconfig":
        return str(kubeconfig)
    if key == "url" or (key.endswith("_url") and key != "endpoint_url"):
        return f"http://127.0.0.1:{port}"
    value = SILENT_VALUES.get(key)
    if value == "{port}":
        return port
    if isinstance(value, str):
        return value.replace("{port}", str(port))
    if isinstance(value, list):
        return [v.replace("{port}", str(port)) for v in value]
    return value


def silent_profile(tmp: Path, port: int) -> str:
    """Every target kind of the registry on one silent port (TCP, and UDP for DNS; a kubeconfig pointing there)."""
    kubeconfig = silent_kubeconfig(tmp / "silent.kubeconfig", port)
    text = 'description = "every target silent"\n'
    for kind in TARGETS:
        table = {k: v for k in kind.schema if (v := silent_value(k, port, kubeconfig)) is not None}
        assert "kubeconfig" in table or any(str(port) in json.dumps(v) for v in table.values()), (
            f"{kind.name}: none of its keys {sorted(kind.schema)} is known here as an address; add it to SILENT_VALUES")
        text += f"[targets.{kind.name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
    return text


def all_kinds_checks() -> tuple[str, dict[str, str]]:
    """The checks above, and for every other kind one check whose first read is the client's probe.

    Returns the test module and item -> the target kind its check reads.
    """
    items = dict(ALL_KINDS_ITEMS)
    free = [i.id for i in load_catalog().items if i.kind == "automated" and not i.parts and i.id not in items]
    text = ALL_KINDS_CHECKS
    others = [k for k in TARGETS if k.name not in items.values()]
    for item_id, kind in zip(free, others, strict=False):
        items[item_id] = kind.name
        text += (f"\n@check({item_id!r})\ndef test_{kind.name}({kind.fixture}):\n"
                 f"    failure = {kind.fixture}.probe()\n    if failure:\n        raise failure\n")
    return text, items


def run_all_kinds(project, port: int) -> None:
    project.write("environments/local.toml", silent_profile(project.path, port))
    project.pytester.makepyfile(test_checks=all_kinds_checks()[0])
    result = project.pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    assert "pw-not-to-be-seen" not in result.stdout.str()


def test_every_target_silent_costs_one_timeout_for_all(project, monkeypatch):
    """Counts, not wall time (benchmarks/dead_targets.py measures the time): the silent server sees every
    target connect at once, once, and every item of a target carries that target's one timeout reason."""
    monkeypatch.setenv("PGPW", "pw-not-to-be-seen")
    with SilentServer() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", server.port))  # DNS asks over UDP: bound, and never answered
        started = time.monotonic()
        run_all_kinds(project, server.port)
        elapsed = time.monotonic() - started
    items = project.items()
    by_target: dict[str, set[str]] = {}
    for item_id, target in all_kinds_checks()[1].items():
        item = items[item_id]
        assert item["outcome"] == "error", (item_id, item["outcome"], item["reason"])
        reason = item["reason"]
        assert reason.startswith(f"could not check: {target} ("), (item_id, reason)
        assert "\n" not in reason.strip() and re.search(r"time(d)? ?out", reason, re.I), (item_id, reason)
        by_target.setdefault(target, set()).add(reason)
    assert all(len(reasons) == 1 for reasons in by_target.values()), by_target
    assert set(by_target) == set(KINDS)
    tcp_kinds = len(KINDS) - 1  # DNS asks over UDP
    # no item tries again: at most a couple of connections per target (a driver may retry inside one connect)
    assert tcp_kinds // 2 <= server.accepted <= 2 * tcp_kinds, server.accepted
    # probed together: the targets' connections were open at the same time (one after the other: 1 or 2)
    assert server.peak >= tcp_kinds // 2, f"at most {server.peak} of {server.accepted} connections open at once"
    # safety net only: one after the other, the targets would cost at least one timeout each
    serial = len(KINDS) * TIMEOUT
    assert elapsed < serial + 30, f"{elapsed:.1f} s for {len(KINDS)} silent targets"


class SlowTarget(Target):
    """Connects after ``delay`` seconds (or never answers: delay > its budget); counts connects in progress."""

    lock = threading.Lock()
    connecting = 0
    peak = 0

    def __init__(self, name: str, delay: float, timeout: float = 0.5):
        super().__init__(name, {"connect_timeout": timeout})
        self.delay = delay

    def _connect(self) -> object:
        with SlowTarget.lock:
            SlowTarget.connecting += 1
            SlowTarget.peak = max(SlowTarget.peak, SlowTarget.connecting)
        # all seven sleep at once only if probed concurrently; counted while inside, so load cannot fake it
        time.sleep(self.delay)
        with SlowTarget.lock:
            SlowTarget.connecting -= 1
        return object()

    def _probe_read(self) -> None:
        pass


def test_probe_all_is_concurrent_and_bounded():
    fast = [SlowTarget(f"t{i}", 0.4) for i in range(6)]
    hung = SlowTarget("hung", 30)
    started = time.monotonic()
    results = probe_all([*fast, hung], grace=0.5)
    elapsed = time.monotonic() - started
    assert all(results[t.name] is None for t in fast)
    # all seven were connecting at the same time (one after the other: never more than one)
    assert SlowTarget.peak == 7, SlowTarget.peak
    failure = results["hung"]
    # the hung one given up at its budget (2 x 0.5 s) + grace, not after its 30 s
    assert failure is not None and "no answer within 1.5 s" in str(failure)
    assert elapsed < 20, elapsed  # safety net only: far below the hung target's 30 s
    with pytest.raises(TargetUnavailable) as info:  # remembered: a check fails at once, same reason
        hung.client()
    assert info.value is failure

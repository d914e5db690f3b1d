"""Self-tests of the Redis checks (tests_db/test_redis.py) against real redis-server processes.

Own instances with their own passwords (nothing of the shared sandbox is touched):
a compliant primary + replica + Sentinel, and a non-compliant standalone server; the real
suite runs in a subprocess (tests/checkrun.run_checks) and we assert on checklist.json.
While the compliant run goes on, a MONITOR connection on the primary and on the replica
records every command, and none of them may change anything.
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
import time

import pytest
import redis as redis_py

from checkrun import run_checks
from netutil import SilentServer, free_port
from pytest_apexready.profile import EXPECTATIONS
from pytest_apexready.rules import redis as rules
from sandbox import redis as sandbox_redis

ITEMS = ("1.1.4", "2.3.1", "2.3.2", "2.3.3", "2.3.4", "2.3.5", "6.2.1", "8.1.3")
MASTER = "apexmediation"
PW_ENV = "APEX_SELFTEST_REDIS_CHECKER_PASSWORD"


# --------------------------------------------------------------------------- helpers

def target(name: str, port: int, timeout: float = 3, extra: str = "") -> str:
    return (f'[targets.{name}]\nhost = "127.0.0.1"\nport = {port}\nusername = "apex_checker"\n'
            f'password = "${{{PW_ENV}}}"\nconnect_timeout = {timeout}\n{extra}\n')


def profile(*tables: str, ram_gib: float = 1, min_version: int = 7, extra: str = "") -> str:
    return ('description = "redis self-test"\n' + "".join(tables)
            + f"[expectations]\nredis_ram_gib = {ram_gib}\nredis_min_version = {min_version}\n{extra}")


def assert_items(run, outcome: str) -> None:
    got = {i: run.outcome(i) for i in ITEMS}
    assert got == dict.fromkeys(ITEMS, outcome), "\n".join(f"{i}: {run.outcome(i)}: {run.reason(i)}" for i in ITEMS) \
        + "\n" + run.output[-3000:]


def _resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Monitor:
    """A raw MONITOR connection (as the admin user) that keeps every command line it sees."""

    LINE = re.compile(r'^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$')
    ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')

    def __init__(self, port: int, user: str, password: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(_resp("AUTH", user, password) + _resp("MONITOR"))
        self.buf = b""
        for _ in range(2):
            line = self._line()
            assert line == "+OK", line
        self.lines: list[tuple[str, list[str]]] = []     # (client address, [args])
        self.stopping = threading.Event()
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _line(self) -> str:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("MONITOR connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                line = self._line()
            except TimeoutError:
                continue
            except OSError:
                return
            m = self.LINE.match(line)
            if m:
                args = [a.encode().decode("unicode_escape") for a in self.ARG.findall(m.group(2))]
                self.lines.append((m.group(1), args))

    def stop(self) -> list[tuple[str, list[str]]]:
        time.sleep(0.3)                      # let the last lines arrive
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()
        return self.lines


#: state-changing commands that COMMAND INFO does not flag 'write' (admin commands)
MUTATING_ADMIN = {
    "config|set", "config|rewrite", "config|resetstat", "bgsave", "save", "bgrewriteaof", "shutdown",
    "client|kill", "client|pause", "client|no-evict", "acl|setuser", "acl|deluser", "acl|save", "acl|load",
    "debug", "replicaof", "slaveof", "failover", "script|flush", "script|load", "function|flush",
    "function|load", "function|delete", "function|restore", "module|load", "module|unload", "cluster|reset",
    "cluster|failover", "slowlog|reset", "latency|reset", "memory|purge", "sentinel|set", "sentinel|remove",
    "sentinel|failover", "sentinel|reset", "sentinel|monitor", "sentinel|config",
}
HANDSHAKE = {"auth", "hello", "client|setinfo", "client|setname", "ping"}


def command_table(admin) -> dict[str, set[str]]:
    """name (or container|sub) -> flags, from COMMAND on the server itself."""
    admin.set_response_callback("COMMAND", lambda r, **_: r)
    table: dict[str, set[str]] = {}
    for entry in admin.execute_command("COMMAND"):
        table[str(entry[0]).lower()] = {str(f) for f in entry[2]}
        for sub in entry[9] if len(entry) > 9 else []:
            table[str(sub[0]).lower()] = {str(f) for f in sub[2]}
    return table


def commandstats(client) -> dict[str, int]:
    """INFO commandstats -> {command or container|sub: calls}. Unlike MONITOR it also counts
    admin-flagged commands (CONFIG GET/SET, SAVE, ...), which Redis never shows to MONITOR."""
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}


def command_name(args: list[str], table: dict[str, set[str]]) -> str:
    name = args[0].lower()
    if len(args) > 1 and f"{name}|{args[1].lower()}" in table:
        return f"{name}|{args[1].lower()}"
    return name


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {"APEX_REDIS_ADMIN_PASSWORD": secrets.token_hex(16), "APEX_REDIS_CHECKER_PASSWORD": secrets.token_hex(16)}


@pytest.fixture(scope="module")
def env(passwords) -> dict[str, str]:
    return {PW_ENV: passwords["APEX_REDIS_CHECKER_PASSWORD"]}


@pytest.fixture(scope="module")
def compliant(tmp_path_factory, passwords):
    """Primary + replica + Sentinel configured as the checklist wants (sandbox defaults)."""
    base = tmp_path_factory.mktemp("redis-ok")
    ports = {"primary": free_port(), "replica": free_port(), "sentinel": free_port()}
    handles = []
    try:
        handles.append(sandbox_redis.start_redis(base / "primary", ports["primary"], passwords=passwords))
        handles.append(sandbox_redis.start_redis(base / "replica", ports["replica"], replica_of=ports["primary"],
                                                 passwords=passwords))
        handles.append(sandbox_redis.start_sentinel(base / "sentinel", ports["sentinel"], master_port=ports["primary"],
                                                    master_name=MASTER, passwords=passwords))
        yield ports, handles
    finally:
        for h in reversed(handles):
            h.stop()


@pytest.fixture(scope="module")
def noncompliant(tmp_path_factory, passwords):
    """Standalone, no persistence, noeviction, unlimited memory, 1000 clients, keys without TTL."""
    port = free_port()
    h = sandbox_redis.start_redis(
        tmp_path_factory.mktemp("redis-bad") / "r", port, passwords=passwords, seed=False,
        config_overrides={"appendonly": "no", "save": '""', "maxmemory-policy": "noeviction", "maxmemory": "0",
                          "maxclients": "1000"})
    try:
        with h.client() as r:
            r.set("sdk:config:1", "{}")
            r.set("session:no-ttl", "{}")
            r.set("session:two-hours", "{}", ex=7200)
            r.set("dashboard:metrics:1", "{}")
        yield port
    finally:
        h.stop()


# --------------------------------------------------------------------------- (a) + (d) compliant, read-only

def test_compliant_instance_passes_every_item_and_sends_no_write(compliant, passwords, env, tmp_path):
    ports, handles = compliant
    primary, replica = handles[0], handles[1]
    admin = primary.client()
    table = command_table(admin)
    pair = (("primary", primary), ("replica", replica))
    stats_before = {p: commandstats(h.client()) for p, h in pair}
    before = {p: {c["addr"] for c in h.client().client_list()} for p, h in pair}
    monitors = {p: Monitor(h.port, sandbox_redis.ADMIN_USER, passwords["APEX_REDIS_ADMIN_PASSWORD"])
                for p, h in pair}
    try:
        run = run_checks(tmp_path, "redis", profile(
            target("redis", ports["primary"]), target("redis_replica", ports["replica"]),
            target("redis_sentinel", ports["sentinel"], extra=f'master_name = "{MASTER}"')), env=env,
            suites=("tests_db",))
    finally:
        seen = {p: m.stop() for p, m in monitors.items()}
    # Sentinel's own links (it may discover the replica during the run) are still open afterwards;
    # the checker's connections ended with its process
    after = {p: {c["addr"] for c in h.client().client_list()} for p, h in pair}
    stats_after = {p: commandstats(h.client()) for p, h in pair}
    assert_items(run, "passed")
    assert env[PW_ENV] not in run.output and env[PW_ENV] not in (tmp_path / "report" / "checklist.json").read_text()

    master_link = f"127.0.0.1:{ports['primary']}"      # on the replica: what the primary propagates
    mutating = [(p, addr, args) for p, lines in seen.items() for addr, args in lines
                if not (p == "replica" and addr == master_link)
                and ("write" in table.get(command_name(args, table), set())
                     or command_name(args, table) in MUTATING_ADMIN)]
    assert not mutating, mutating
    # everything executed during the run, admin commands included (the replica's count includes
    # what the primary propagated, which is nothing here: no write reached the primary)
    ran = {p: {c: n - stats_before[p].get(c, 0) for c, n in stats_after[p].items() if n > stats_before[p].get(c, 0)}
           for p in stats_after}
    assert ran["primary"].get("config|get", 0) >= 8, ran["primary"]
    changed = {p: {c: n for c, n in cmds.items() if "write" in table.get(c, set()) or c in MUTATING_ADMIN}
               for p, cmds in ran.items()}
    assert changed == {"primary": {}, "replica": {}}, changed

    # the checker's own connections (new since the snapshot) sent only the plugin's read commands
    from pytest_apexready.targets.redis import READ_COMMANDS
    allowed = {c.lower().replace(" ", "|") for c in READ_COMMANDS} | HANDSHAKE
    checker = {p: [command_name(args, table) for addr, args in lines
                   if addr not in before[p] | after[p] and addr != master_link]
               for p, lines in seen.items()}
    assert {"info", "scan", "ttl"} <= set(checker["primary"]), checker["primary"]   # MONITOR omits CONFIG GET
    assert "info" in checker["replica"], checker["replica"]
    stray = {c for cmds in checker.values() for c in cmds} - allowed
    assert not stray, stray


# --------------------------------------------------------------------------- (b) non-compliant

def test_noncompliant_instance_fails_every_item_with_observed_and_expected(noncompliant, env, tmp_path):
    # Redis 7 is what Debian 12 ships: the version gate is shown failing by asking for 8
    # and a snapshot older than the profile allows; one more TTL pattern that matches no key
    stricter = ('redis_snapshot_max_age_hours = 0.0001\nredis_ttls = { "sdk:config:*" = 86400, "session:*" = 1800, '
                '"dashboard:metrics:*" = 300, "absent:*" = 60 }\n')
    run = run_checks(tmp_path, "redis", profile(target("redis", noncompliant), min_version=8, extra=stricter),
                     env=env, suites=("tests_db",))
    assert_items(run, "failed")
    where = f"redis 127.0.0.1:{noncompliant}"
    for item in ITEMS:
        reason = run.reason(item)
        assert "observed" in reason and "expected" in reason and "read from" in reason and where in reason, \
            (item, reason)
    r = run.reason
    assert "AOF (appendonly): observed no; expected yes" in r("2.3.1")
    assert "RDB snapshots (save): observed ''" in r("2.3.1")
    assert "aof_enabled: observed 0; expected 1" in r("2.3.1")
    assert "AOF (appendonly): observed no" in r("1.1.4")
    assert re.search(r"Redis version: observed 7\.\d+\.\d+ \(major 7\); expected 8\+", r("1.1.4")), r("1.1.4")
    assert "eviction policy: observed noeviction; expected allkeys-lru" in r("2.3.2")
    assert "maxmemory: observed 0 (unlimited" in r("2.3.3") and "858993459" in r("2.3.3")
    assert "maxclients: observed 1000; expected >= 10000" in r("2.3.4")
    assert "connected_slaves:0" in r("2.3.5") and "cluster_enabled:0" in r("2.3.5")
    for pattern in EXPECTATIONS["redis_ttls"][1]:
        assert f"cache TTLs of {pattern}: observed 1 of" in r("6.2.1") or f"cache TTLs of {pattern}: observed 2 of" \
            in r("6.2.1"), r("6.2.1")
    assert "never expire (TTL -1)" in r("6.2.1") and "session:two-hours TTL 7" in r("6.2.1")
    assert "RDB snapshot schedule: observed ''" in r("8.1.3")
    assert re.search(r"age of the last RDB snapshot: observed \d+ s \([\d.]+ h\) with \d+ changes not yet saved; "
                     r"expected <= 0 s", r("8.1.3")), r("8.1.3")
    assert "cache TTLs of absent:*: observed nothing to check: no key matches" in r("6.2.1")


def test_high_availability_fails_through_the_replica_and_sentinel(compliant, noncompliant, env, tmp_path):
    """2.3.5 read through [targets.redis_replica] (a standalone server, not a replica of the primary) and
    [targets.redis_sentinel] (asked for a master it does not monitor)."""
    ports, _ = compliant
    run = run_checks(tmp_path, "redis", profile(
        target("redis", ports["primary"]), target("redis_replica", noncompliant),
        target("redis_sentinel", ports["sentinel"], extra='master_name = "not-monitored"')), env=env,
        suites=("tests_db",))
    assert run.outcome("2.3.5") == "failed", run.output[-3000:]
    r = run.reason("2.3.5")
    assert "replica: observed role:master master_link_status:None; expected role:slave" in r, r
    assert f"read from INFO replication on redis_replica 127.0.0.1:{noncompliant}" in r, r
    assert "Sentinel: observed " in r and "expected Sentinel monitors not-monitored" in r, r


# --------------------------------------------------------------------------- (c) unreachable

def test_closed_port_errors_every_item_with_one_reason(env, tmp_path):
    port = free_port()
    run = run_checks(tmp_path, "redis", profile(target("redis", port, timeout=1)), env=env, suites=("tests_db",))
    assert_items(run, "error")
    reasons = {run.bare_reason(i) for i in ITEMS}
    assert len(reasons) == 1, reasons
    (reason,) = reasons
    assert reason.startswith(f"could not check: redis (redis 127.0.0.1:{port}) ConnectionError"), reason


def test_silent_server_costs_one_timeout(env, tmp_path):
    # counts, not wall time (benchmarks/dead_targets.py measures that): one reason naming the timeout for
    # every item, and one connection for all of them
    server = SilentServer()
    try:
        run = run_checks(tmp_path, "redis", profile(target("redis", server.port, timeout=1)), env=env,
                         suites=("tests_db",))
    finally:
        server.close()
    assert_items(run, "error")
    assert len({run.bare_reason(i) for i in ITEMS}) == 1
    assert "Timeout" in run.reason("2.3.1"), run.reason("2.3.1")
    assert 1 <= server.accepted <= 2, server.accepted


# --------------------------------------------------------------------------- pure logic (no Redis 6 here)

@pytest.mark.parametrize("version, major", [("7.0.15", 7), ("6.2.14", 6), (7.2, 7), (8, 8), ("255.255.255", 255)])
def test_redis_major(version, major):
    assert rules.redis_major(version) == major


def _line(finding) -> str | None:
    return finding.line() if finding is not None else None


def test_version_gate_fails_redis_6_naming_the_version():
    where = "INFO server on redis 10.0.0.1:6379"
    assert _line(rules.version_finding("6.2.14", 7, where)) == \
        f"Redis version: observed 6.2.14 (major 6); expected 7+; read from {where}"
    assert rules.version_finding("7.0.15", 7, where) is None
    assert "cannot read a major version" in _line(rules.version_finding("unknown", 7, where))


def test_save_rules_and_maxmemory_tolerance():
    assert rules.save_rules("3600 1 300 100 60 10000") == [(3600, 1), (300, 100), (60, 10000)]
    assert rules.save_rules("") == [] and rules.save_rules(None) == []
    with pytest.raises(ValueError):
        rules.save_rules("3600")
    gib = rules.GIB
    ratio, tol = EXPECTATIONS["redis_maxmemory_ratio"][1], EXPECTATIONS["redis_maxmemory_tolerance"][1]
    assert rules.maxmemory_finding(int(0.80 * gib), 1, "w", ratio, tol) is None
    assert rules.maxmemory_finding(int(0.76 * gib), 1, "w", ratio, tol) is None
    assert "observed 0 (unlimited" in _line(rules.maxmemory_finding(0, 1, "w", ratio, tol))
    assert "observed 966367641 bytes (90.0% of RAM)" in _line(rules.maxmemory_finding(int(0.9 * gib), 1, "w", ratio,
                                                                                        tol))
    assert rules.maxmemory_finding(int(0.70 * gib), 1, "w", ratio, tol) is not None
    # the profile's numbers are the rule's: 60% +-10% accepts what the default refuses
    assert rules.maxmemory_finding(int(0.55 * gib), 1, "w", 0.60, 0.10) is None


def test_ttl_rules():
    assert rules.ttl_findings("session:*", {"session:a": 1700, "session:b": 1}, 1800, "w") == []
    assert rules.ttl_findings("session:*", {}, 1800, "w") == []              # see the docstring
    assert rules.ttl_findings("session:*", {"session:a": -2}, 1800, "w") == []
    found = rules.ttl_findings("session:*", {"session:a": -1, "session:b": 7200, "session:c": 60}, 1800, "w")
    assert len(found) == 2 and "1 of 3 keys never expire (TTL -1), e.g. session:a" in found[0].observed
    assert "session:b TTL 7200" in found[1].observed


def test_the_observers_do_see_writes(noncompliant, passwords):
    """Guard against a blind proof: the same MONITOR + commandstats logic catches a write and a CONFIG SET."""
    client = redis_py.Redis(host="127.0.0.1", port=noncompliant, username=sandbox_redis.ADMIN_USER,
                            password=passwords["APEX_REDIS_ADMIN_PASSWORD"], decode_responses=True)
    table = command_table(client)
    stats = commandstats(client)
    monitor = Monitor(noncompliant, sandbox_redis.ADMIN_USER, passwords["APEX_REDIS_ADMIN_PASSWORD"])
    try:
        client.set("selftest:write", "1")
        client.config_set("slowlog-max-len", client.config_get("slowlog-max-len")["slowlog-max-len"])
    finally:
        lines = monitor.stop()
        client.delete("selftest:write")
    assert "write" in table[command_name(next(a for a in lines if a[1][0].lower() == "set")[1], table)]
    ran = {c for c, n in commandstats(client).items() if n > stats.get(c, 0)}
    assert {"set", "config|set"} <= ran and "config|set" in MUTATING_ADMIN

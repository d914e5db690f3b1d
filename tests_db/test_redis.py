"""Redis checks: persistence, eviction, memory, connections, HA, version, cache TTLs, backups.

Every check reads through the read-only client (``CONFIG GET``, ``INFO``, ``SCAN``, ``TTL``,
``SENTINEL MASTER``/``CKQUORUM``) and states observed, expected and where it was read.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import pytest

from pytest_apexready import TargetUnavailable, check, fail_check

GIB = 1024 ** 3
MAXMEMORY_RATIO = 0.80
MAXMEMORY_TOLERANCE = 0.05          # of instance RAM, either side
SNAPSHOT_MAX_AGE = 86400            # "daily"

TTL_SAMPLE = 200                    # keys per pattern whose TTL is read


# --------------------------------------------------------------------------- helpers

def problem(what: str, *, observed: Any, expected: Any, where: str) -> str:
    """One line in the format of :func:`fail_check`."""
    show = lambda v: v if isinstance(v, str) else repr(v)  # noqa: E731
    return f"{what}: observed {show(observed)}; expected {show(expected)}; read from {where}"


def fail_all(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def redis_major(version: Any) -> int:
    """Major version from INFO server redis_version ('7.0.15'; redis-py may hand back 7.2 or 8)."""
    m = re.match(r"\s*(\d+)", str(version))
    if m is None:
        raise ValueError(f"cannot read a major version from redis_version {version!r}")
    return int(m.group(1))


def version_problem(version: Any, minimum: int, where: str) -> str | None:
    try:
        major = redis_major(version)
    except ValueError as exc:
        return problem("Redis version", observed=f"{version!r} ({exc})", expected=f"{minimum}+", where=where)
    if major < minimum:
        return problem("Redis version", observed=f"{version} (major {major})", expected=f"{minimum}+", where=where)
    return None


def save_rules(save: str | None) -> list[tuple[int, int]]:
    """``save "3600 1 300 100"`` -> [(3600, 1), (300, 100)]; empty means RDB snapshots are off."""
    nums = (save or "").replace('"', "").split()
    if len(nums) % 2:
        raise ValueError(f"odd number of values in save {save!r}")
    return [(int(nums[i]), int(nums[i + 1])) for i in range(0, len(nums), 2)]


def maxmemory_problem(maxmemory: int, ram_gib: float, where: str) -> str | None:
    ram = ram_gib * GIB
    want = MAXMEMORY_RATIO * ram
    lo, hi = want - MAXMEMORY_TOLERANCE * ram, want + MAXMEMORY_TOLERANCE * ram
    expected = (f"80% of {ram_gib:g} GiB = {int(want)} bytes "
                f"(accepted {int(lo)}..{int(hi)}, i.e. 75%..85% of RAM)")
    if maxmemory == 0:
        return problem("maxmemory", observed="0 (unlimited: Redis grows until the OS kills it)",
                       expected=expected, where=where)
    if not lo <= maxmemory <= hi:
        return problem("maxmemory", observed=f"{maxmemory} bytes ({maxmemory / ram:.1%} of RAM)",
                       expected=expected, where=where)
    return None


def ttl_problems(pattern: str, ttls: dict[str, int], limit: int, where: str) -> list[str]:
    """``ttls``: key -> TTL as returned by TTL (-1 no expiry, -2 gone since SCAN).

    A pattern without keys is no failure by itself: a key without TTL never goes away, so the
    failure this item guards against is always visible while it exists; short-lived keys
    (dashboard metrics, 5 min) are simply absent on an idle instance. The check fails only when
    no pattern has any key (nothing was verified: empty cache or wrong patterns)."""
    expected = f"every key with a TTL of 1..{limit} s"
    live = {k: t for k, t in ttls.items() if t != -2}
    out: list[str] = []
    forever = sorted(k for k, t in live.items() if t == -1)
    too_long = sorted((k for k, t in live.items() if t > limit), key=lambda k: -live[k])
    if forever:
        out.append(problem(f"cache TTLs of {pattern}",
                           observed=f"{len(forever)} of {len(live)} keys never expire (TTL -1), e.g. "
                                    + ", ".join(forever[:3]),
                           expected=expected, where=where))
    if too_long:
        out.append(problem(f"cache TTLs of {pattern}",
                           observed=f"{len(too_long)} of {len(live)} keys expire later than {limit} s, e.g. "
                                    + ", ".join(f"{k} TTL {live[k]}" for k in too_long[:3]),
                           expected=expected, where=where))
    return out


def persistence_problems(redis, evidence) -> list[str]:
    """2.3.1 / 1.1.4: AOF on, RDB save rules set, and both writing without errors."""
    out = []
    appendonly = redis.config_get("appendonly")
    save = redis.config_get("save")
    where_aof = f"CONFIG GET appendonly on {redis.where}"
    where_save = f"CONFIG GET save on {redis.where}"
    evidence.record("appendonly", appendonly, source=where_aof)
    evidence.record("save", save, source=where_save)
    if appendonly != "yes":
        out.append(problem("AOF (appendonly)", observed=appendonly, expected="yes", where=where_aof))
    if not (save or "").strip():
        out.append(problem("RDB snapshots (save)", observed=repr(save or ""),
                           expected='save rules such as "3600 1 300 100 60 10000"', where=where_save))
    info = redis.info("persistence")
    where_info = f"INFO persistence on {redis.where}"
    wanted = {"aof_enabled": 1, "rdb_last_bgsave_status": "ok", "aof_last_write_status": "ok"}
    seen = {k: info.get(k) for k in wanted}
    evidence.record("INFO persistence", seen, source=where_info)
    for key, want in wanted.items():
        if str(seen[key]) != str(want):
            out.append(problem(key, observed=seen[key], expected=want, where=where_info))
    return out


def _addresses(host: str) -> set[str]:
    try:
        return {host} | {ai[4][0] for ai in socket.getaddrinfo(host, None)}
    except OSError:
        return {host}


# --------------------------------------------------------------------------- 1.1 infrastructure

@check("1.1.4")
def test_redis_version_and_persistence(redis, expect, evidence):
    info = redis.info("server")
    where = f"INFO server on {redis.where}"
    version = info.get("redis_version")
    evidence.record("redis_version", str(version), source=where)
    problems = persistence_problems(redis, evidence)
    vp = version_problem(version, expect["redis_min_version"], where)
    fail_all(([vp] if vp else []) + problems)


# --------------------------------------------------------------------------- 2.3 redis

@check("2.3.1")
def test_persistence(redis, evidence):
    fail_all(persistence_problems(redis, evidence))


@check("2.3.2")
def test_eviction_policy(redis, evidence):
    policy = redis.config_get("maxmemory-policy")
    where = f"CONFIG GET maxmemory-policy on {redis.where}"
    evidence.record("maxmemory-policy", policy, source=where)
    if policy != "allkeys-lru":
        fail_check("eviction policy", observed=policy, expected="allkeys-lru", where=where)


@check("2.3.3")
def test_max_memory(redis, expect, apex_profile, evidence):
    maxmemory = int(redis.config_get("maxmemory") or 0)
    where = f"CONFIG GET maxmemory on {redis.where}"
    evidence.record("maxmemory", maxmemory, source=where)
    ram_gib = expect.get("redis_ram_gib")
    if not ram_gib:
        system = redis.info("memory").get("total_system_memory")
        evidence.record("total_system_memory (host, for reference)", system, source=f"INFO memory on {redis.where}")
        raise TargetUnavailable(redis.name, str(apex_profile.path.name),
                                "expectation redis_ram_gib is not set: the instance RAM is needed to check "
                                "maxmemory = 80% of RAM; add [expectations] redis_ram_gib = <GiB>")
    evidence.record("redis_ram_gib", ram_gib, source=f"profile {apex_profile.path.name} [expectations]")
    fail_all([p for p in [maxmemory_problem(maxmemory, ram_gib, where)] if p])


@check("2.3.4")
def test_connection_limit(redis, expect, evidence):
    raw = redis.config_get("maxclients")
    where = f"CONFIG GET maxclients on {redis.where}"
    evidence.record("maxclients", raw, source=where)
    minimum = expect["redis_min_maxclients"]
    if int(raw or 0) < minimum:
        fail_check("maxclients", observed=raw, expected=f">= {minimum}", where=where)


@check("2.3.5")
def test_high_availability(redis, apex_profile, request, evidence):
    import redis as redis_py

    problems: list[str] = []
    repl = redis.info("replication")
    where = f"INFO replication on {redis.where}"
    slaves = {k: v for k, v in repl.items() if re.fullmatch(r"slave\d+", k)}
    evidence.record("primary replication", {"role": repl.get("role"), "connected_slaves": repl.get("connected_slaves"),
                                            **slaves}, source=where)
    if repl.get("role") != "master":
        problems.append(problem("primary role", observed=repl.get("role"), expected="master", where=where))
    online = [s for s in slaves.values() if isinstance(s, dict) and s.get("state") == "online"]
    if int(repl.get("connected_slaves") or 0) < 1 or not online:
        problems.append(problem("replicas of the primary",
                                observed=f"connected_slaves:{repl.get('connected_slaves')}, {len(online)} online",
                                expected="connected_slaves >= 1 with state=online", where=where))

    if apex_profile.target("redis_replica") is not None:
        replica = request.getfixturevalue("redis_replica")
        rrepl = replica.info("replication")
        rwhere = f"INFO replication on {replica.where}"
        seen = {k: rrepl.get(k) for k in ("role", "master_host", "master_port", "master_link_status", "master_replid")}
        evidence.record("replica replication", seen, source=rwhere)
        if seen["role"] != "slave" or seen["master_link_status"] != "up":
            problems.append(problem("replica", observed=f"role:{seen['role']} master_link_status:{seen['master_link_status']}",
                                    expected="role:slave master_link_status:up", where=rwhere))
        elif seen["master_replid"] != repl.get("master_replid"):
            problems.append(problem("replica's primary", observed=f"replicates {seen['master_host']}:{seen['master_port']} "
                                    f"(replid {seen['master_replid']})",
                                    expected=f"the primary {redis.where} (replid {repl.get('master_replid')})",
                                    where=f"{rwhere} and {where}"))

    if apex_profile.target("redis_sentinel") is not None:
        sentinel = request.getfixturevalue("redis_sentinel")
        name = sentinel.settings.get("master_name", "mymaster")
        swhere = f"SENTINEL MASTER {name} on {sentinel.where}"
        try:
            master = sentinel.master()
        except redis_py.ResponseError as exc:
            fail_all(problems + [problem("Sentinel", observed=str(exc), expected=f"Sentinel monitors {name}",
                                         where=swhere)])
            return
        fields = {k: master.get(k) for k in ("ip", "port", "runid", "flags", "num-slaves", "num-other-sentinels",
                                              "quorum")}
        evidence.record("sentinel master", fields, source=swhere)
        flags = set(str(fields["flags"]).split(","))
        if "master" not in flags or flags & {"s_down", "o_down", "disconnected"}:
            problems.append(problem(f"Sentinel view of {name}", observed=f"flags {fields['flags']}",
                                    expected="flags master (not s_down/o_down/disconnected)", where=swhere))
        host, port = str(redis.settings.get("host", "127.0.0.1")), int(redis.settings.get("port", 6379))
        run_id = redis.info("server").get("run_id")
        same_addr = str(fields["port"]) == str(port) and fields["ip"] in _addresses(host)
        if not same_addr and fields["runid"] != run_id:
            problems.append(problem(f"master monitored by Sentinel as {name}", observed=f"{fields['ip']}:{fields['port']}",
                                    expected=f"the primary {host}:{port} (run_id {run_id})", where=swhere))
        sentinels = int(fields["num-other-sentinels"] or 0) + 1
        quorum = int(fields["quorum"] or 0)
        evidence.record("sentinels / quorum", f"{sentinels} / {quorum}", source=swhere)
        try:
            ck = sentinel.call("SENTINEL", "CKQUORUM", name)
            evidence.record("SENTINEL CKQUORUM", ck, source=sentinel.where)
        except redis_py.ResponseError as exc:
            problems.append(problem("Sentinel quorum", observed=f"{sentinels} Sentinel(s), quorum {quorum}: {exc}",
                                    expected="enough reachable Sentinels to reach the quorum and authorize a failover",
                                    where=f"SENTINEL CKQUORUM {name} on {sentinel.where}"))
    else:
        cluster = redis.info("cluster")
        cwhere = f"INFO cluster on {redis.where}"
        evidence.record("cluster_enabled", cluster.get("cluster_enabled"), source=cwhere)
        if str(cluster.get("cluster_enabled")) != "1":
            problems.append(problem("Sentinel/Cluster", observed=f"cluster_enabled:{cluster.get('cluster_enabled')} and "
                                    f"no [targets.redis_sentinel] in profile {apex_profile.path.name}",
                                    expected="Sentinel monitoring the primary ([targets.redis_sentinel]) or "
                                    "cluster_enabled:1", where=cwhere))
    fail_all(problems)


# --------------------------------------------------------------------------- 6.2 caching

@check("6.2.1")
def test_cache_ttls(redis, expect, evidence):
    limits = expect["redis_ttls"]
    problems = []
    found = 0
    for pattern, limit in limits.items():
        keys = redis.scan_keys(pattern, limit=TTL_SAMPLE)
        ttls = {k: int(redis.call("TTL", k)) for k in keys}
        where = f"SCAN MATCH {pattern} + TTL on {redis.where}"
        live = [t for t in ttls.values() if t >= 0]
        evidence.record(f"TTLs of {pattern}", {"keys": len(ttls), "no_ttl": sum(t == -1 for t in ttls.values()),
                                               "max_ttl": max(live, default=None), "limit": limit}, source=where)
        found += sum(t != -2 for t in ttls.values())
        problems += ttl_problems(pattern, ttls, int(limit), where)
    if not found:
        problems.append(problem("cache TTLs", observed=f"no keys match any of {', '.join(limits)}; cannot verify TTLs",
                                expected="cache keys with TTLs " + ", ".join(f"{p} <= {t} s" for p, t in limits.items())
                                + " (warm the cache first, or correct the key patterns)",
                                where=f"SCAN MATCH on {redis.where} (db 0)"))
    fail_all(problems)


# --------------------------------------------------------------------------- 8.1 backups

@check("8.1.3")
def test_rdb_backups(redis, evidence):
    problems = []
    save = redis.config_get("save")
    where_save = f"CONFIG GET save on {redis.where}"
    evidence.record("save", save, source=where_save)
    try:
        rules = save_rules(save)
    except ValueError as exc:
        rules = []
        problems.append(problem("RDB save rules", observed=str(exc), expected="pairs of <seconds> <changes>",
                                where=where_save))
    if not any(seconds <= SNAPSHOT_MAX_AGE and changes >= 1 for seconds, changes in rules):
        problems.append(problem("RDB snapshot schedule", observed=repr(save or ""),
                                expected=f"a save rule <seconds> <changes> with seconds <= {SNAPSHOT_MAX_AGE} (daily)",
                                where=where_save))
    info = redis.info("persistence")
    where = f"INFO persistence on {redis.where}"
    now = int(redis.info("server").get("server_time_usec") or time.time() * 1e6) // 1_000_000
    last = int(info.get("rdb_last_save_time") or 0)
    age = now - last
    changes = int(info.get("rdb_changes_since_last_save") or 0)
    status = info.get("rdb_last_bgsave_status")
    evidence.record("last RDB snapshot", {"rdb_last_save_time": last, "age_seconds": age,
                                          "rdb_changes_since_last_save": changes, "rdb_last_bgsave_status": status,
                                          "rdb_saves": info.get("rdb_saves")}, source=where)
    if status != "ok":
        problems.append(problem("rdb_last_bgsave_status", observed=status, expected="ok", where=where))
    # an old snapshot is still a full backup when nothing has changed since (save rules only fire on changes)
    if age > SNAPSHOT_MAX_AGE and changes > 0:
        problems.append(problem("age of the last RDB snapshot",
                                observed=f"{age} s ({age / 3600:.1f} h) with {changes} changes not yet saved",
                                expected=f"<= {SNAPSHOT_MAX_AGE} s (a snapshot at least daily)", where=where))
    fail_all(problems)

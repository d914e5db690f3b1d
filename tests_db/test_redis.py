"""Redis checks: persistence, eviction, memory, connections, HA, version, cache TTLs, backups.

Every check reads through the read-only client (``CONFIG GET``, ``INFO``, ``SCAN``, ``TTL``,
``SENTINEL MASTER``/``CKQUORUM``) and states observed, expected and where it was read.
"""

from __future__ import annotations

import re
import socket
import time

from pytest_apexready import Finding, TargetUnavailable, check, fail_check
from pytest_apexready.rules.redis import (
    maxmemory_finding,
    save_rules,
    ttl_findings,
    version_finding,
)

TTL_SAMPLE = 200                    # keys per pattern whose TTL is read


# --------------------------------------------------------------------------- helpers

def persistence_findings(redis, evidence) -> list[Finding]:
    """2.3.1 / 1.1.4: AOF on, RDB save rules set, and both writing without errors."""
    out = []
    appendonly = redis.config_get("appendonly")
    save = redis.config_get("save")
    where_aof = f"CONFIG GET appendonly on {redis.where}"
    where_save = f"CONFIG GET save on {redis.where}"
    evidence.record("appendonly", appendonly, source=where_aof)
    evidence.record("save", save, source=where_save)
    if appendonly != "yes":
        out.append(Finding("AOF (appendonly)", observed=appendonly, expected="yes", where=where_aof))
    if not (save or "").strip():
        out.append(Finding("RDB snapshots (save)", observed=repr(save or ""),
                           expected='save rules such as "3600 1 300 100 60 10000"', where=where_save))
    info = redis.info("persistence")
    where_info = f"INFO persistence on {redis.where}"
    wanted = {"aof_enabled": 1, "rdb_last_bgsave_status": "ok", "aof_last_write_status": "ok"}
    seen = {k: info.get(k) for k in wanted}
    evidence.record("INFO persistence", seen, source=where_info)
    for key, want in wanted.items():
        if str(seen[key]) != str(want):
            out.append(Finding(key, observed=seen[key], expected=want, where=where_info))
    return out


def _addresses(host: str) -> set[str]:
    try:
        return {host} | {str(ai[4][0]) for ai in socket.getaddrinfo(host, None)}
    except OSError:
        return {host}


# --------------------------------------------------------------------------- 1.1 infrastructure

@check("1.1.4", part="redis")
def test_redis_version_and_persistence(redis, expect, evidence):
    info = redis.info("server")
    where = f"INFO server on {redis.where}"
    version = info.get("redis_version")
    evidence.record("redis_version", str(version), source=where)
    found = version_finding(version, expect["redis_min_version"], where)
    fail_check(findings=[*([found] if found else []), *persistence_findings(redis, evidence)])


# --------------------------------------------------------------------------- 2.3 redis

@check("2.3.1")
def test_persistence(redis, evidence):
    fail_check(findings=persistence_findings(redis, evidence))


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
    found = maxmemory_finding(maxmemory, ram_gib, where, expect["redis_maxmemory_ratio"],
                              expect["redis_maxmemory_tolerance"])
    fail_check(findings=[found] if found else [])


@check("2.3.4")
def test_connection_limit(redis, expect, evidence):
    raw = redis.config_get("maxclients")
    where = f"CONFIG GET maxclients on {redis.where}"
    evidence.record("maxclients", raw, source=where)
    minimum = expect["redis_min_maxclients"]
    if int(raw or 0) < minimum:
        fail_check("maxclients", observed=raw, expected=f">= {minimum}", where=where)


@check("2.3.5")
def test_high_availability(redis, expect, apex_profile, request, evidence):
    import redis as redis_py

    problems: list[Finding] = []
    repl = redis.info("replication")
    where = f"INFO replication on {redis.where}"
    slaves = {k: v for k, v in repl.items() if re.fullmatch(r"slave\d+", k)}
    evidence.record("primary replication", {"role": repl.get("role"), "connected_slaves": repl.get("connected_slaves"),
                                            **slaves}, source=where)
    if repl.get("role") != "master":
        problems.append(Finding("primary role", observed=repl.get("role"), expected="master", where=where))
    online = [s for s in slaves.values() if isinstance(s, dict) and s.get("state") == "online"]
    if int(repl.get("connected_slaves") or 0) < 1 or not online:
        problems.append(Finding("replicas of the primary",
                                observed=f"connected_slaves:{repl.get('connected_slaves')}, {len(online)} online",
                                expected="connected_slaves >= 1 with state=online", where=where))

    if apex_profile.target("redis_replica") is not None:
        replica = request.getfixturevalue("redis_replica")
        rrepl = replica.info("replication")
        rwhere = f"INFO replication on {replica.where}"
        seen = {k: rrepl.get(k) for k in ("role", "master_host", "master_port", "master_link_status", "master_replid")}
        evidence.record("replica replication", seen, source=rwhere)
        if seen["role"] != "slave" or seen["master_link_status"] != "up":
            problems.append(Finding("replica",
                                    observed=f"role:{seen['role']} master_link_status:{seen['master_link_status']}",
                                    expected="role:slave master_link_status:up", where=rwhere))
        elif seen["master_replid"] != repl.get("master_replid"):
            problems.append(Finding("replica's primary",
                                    observed=f"replicates {seen['master_host']}:{seen['master_port']} "
                                    f"(replid {seen['master_replid']})",
                                    expected=f"the primary {redis.where} (replid {repl.get('master_replid')})",
                                    where=f"{rwhere} and {where}"))

    if apex_profile.target("redis_sentinel") is not None:
        sentinel = request.getfixturevalue("redis_sentinel")
        name = sentinel.settings.get("master_name") or expect["redis_sentinel_master"]
        swhere = f"SENTINEL MASTER {name} on {sentinel.where}"
        try:
            master = sentinel.master(name)
        except redis_py.ResponseError as exc:
            fail_check(findings=[*problems, Finding("Sentinel", observed=str(exc),
                                                    expected=f"Sentinel monitors {name}", where=swhere)])
        fields = {k: master.get(k) for k in ("ip", "port", "runid", "flags", "num-slaves", "num-other-sentinels",
                                              "quorum")}
        evidence.record("sentinel master", fields, source=swhere)
        flags = set(str(fields["flags"]).split(","))
        if "master" not in flags or flags & {"s_down", "o_down", "disconnected"}:
            problems.append(Finding(f"Sentinel view of {name}", observed=f"flags {fields['flags']}",
                                    expected="flags master (not s_down/o_down/disconnected)", where=swhere))
        # the primary as the profile names it ([targets.redis] host and port are required there)
        host, port = str(redis.settings["host"]), int(redis.settings["port"])
        run_id = redis.info("server").get("run_id")
        same_addr = str(fields["port"]) == str(port) and fields["ip"] in _addresses(host)
        if not same_addr and fields["runid"] != run_id:
            problems.append(Finding(f"master monitored by Sentinel as {name}",
                                    observed=f"{fields['ip']}:{fields['port']}",
                                    expected=f"the primary {host}:{port} (run_id {run_id})", where=swhere))
        sentinels = int(fields["num-other-sentinels"] or 0) + 1
        quorum = int(fields["quorum"] or 0)
        evidence.record("sentinels / quorum", f"{sentinels} / {quorum}", source=swhere)
        try:
            ck = sentinel.call("SENTINEL", "CKQUORUM", name)
            evidence.record("SENTINEL CKQUORUM", ck, source=sentinel.where)
        except redis_py.ResponseError as exc:
            problems.append(Finding("Sentinel quorum", observed=f"{sentinels} Sentinel(s), quorum {quorum}: {exc}",
                                    expected="enough reachable Sentinels to reach the quorum and authorize a failover",
                                    where=f"SENTINEL CKQUORUM {name} on {sentinel.where}"))
    else:
        cluster = redis.info("cluster")
        cwhere = f"INFO cluster on {redis.where}"
        evidence.record("cluster_enabled", cluster.get("cluster_enabled"), source=cwhere)
        if str(cluster.get("cluster_enabled")) != "1":
            problems.append(Finding("Sentinel/Cluster",
                                    observed=f"cluster_enabled:{cluster.get('cluster_enabled')} and no "
                                             f"[targets.redis_sentinel] in profile {apex_profile.path.name}",
                                    expected="Sentinel monitoring the primary ([targets.redis_sentinel]) or "
                                    "cluster_enabled:1", where=cwhere))
    fail_check(findings=problems)


# --------------------------------------------------------------------------- 6.2 caching

@check("6.2.1")
def test_cache_ttls(redis, expect, evidence):
    limits = expect["redis_ttls"]
    problems: list[Finding] = []
    found = 0
    for pattern, limit in limits.items():
        keys = redis.scan_keys(pattern, limit=TTL_SAMPLE)
        ttls = {k: int(redis.call("TTL", k)) for k in keys}
        where = f"SCAN MATCH {pattern} + TTL on {redis.where}"
        live = [t for t in ttls.values() if t >= 0]
        evidence.record(f"TTLs of {pattern}", {"keys": len(ttls), "no_ttl": sum(t == -1 for t in ttls.values()),
                                               "max_ttl": max(live, default=None), "limit": limit}, source=where)
        live_keys = sum(t != -2 for t in ttls.values())
        found += live_keys
        if not live_keys and pattern not in expect["redis_ttl_optional"]:
            # a configured pattern nothing matches was not verified: wrong pattern, or a cold cache
            problems.append(Finding(f"cache TTLs of {pattern}", observed="nothing to check: no key matches",
                                    expected=f"keys of {pattern} with TTL <= {limit} s (or the pattern listed in "
                                             "expectations.redis_ttl_optional when it may be empty)", where=where))
        problems += ttl_findings(pattern, ttls, int(limit), where)
    if not found:
        problems.append(Finding("cache TTLs", observed=f"no keys match any of {', '.join(limits)}; cannot verify TTLs",
                                expected="cache keys with TTLs " + ", ".join(f"{p} <= {t} s" for p, t in limits.items())
                                + " (warm the cache first, or correct the key patterns)",
                                where=f"SCAN MATCH on {redis.where} (db 0)"))
    fail_check(findings=problems)


# --------------------------------------------------------------------------- 8.1 backups

@check("8.1.3")
def test_rdb_backups(redis, expect, evidence):
    max_age = int(expect["redis_snapshot_max_age_hours"] * 3600)
    problems: list[Finding] = []
    save = redis.config_get("save")
    where_save = f"CONFIG GET save on {redis.where}"
    evidence.record("save", save, source=where_save)
    try:
        rules = save_rules(save)
    except ValueError as exc:
        rules = []
        problems.append(Finding("RDB save rules", observed=str(exc), expected="pairs of <seconds> <changes>",
                                where=where_save))
    if not any(seconds <= max_age and changes >= 1 for seconds, changes in rules):
        problems.append(Finding("RDB snapshot schedule", observed=repr(save or ""),
                                expected=f"a save rule <seconds> <changes> with seconds <= {max_age} "
                                         "(expectations.redis_snapshot_max_age_hours)",
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
        problems.append(Finding("rdb_last_bgsave_status", observed=status, expected="ok", where=where))
    # an old snapshot is still a full backup when nothing has changed since (save rules only fire on changes)
    if age > max_age and changes > 0:
        problems.append(Finding("age of the last RDB snapshot",
                                observed=f"{age} s ({age / 3600:.1f} h) with {changes} changes not yet saved",
                                expected=f"<= {max_age} s (expectations.redis_snapshot_max_age_hours)", where=where))
    fail_check(findings=problems)

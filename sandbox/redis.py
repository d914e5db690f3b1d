"""Redis 7 primary + replica + Sentinel for the local sandbox.

Function API for self-tests::

    h = start_redis(tmp / "redis", 36379, config_overrides={"appendonly": "no"})
    ...
    h.stop()
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    HOST,
    SandboxError,
    ensure_credentials,
    ensure_port_free,
    pid_alive,
    poll_until,
    process_cmdline,
    read_pidfile,
    run,
    stop_pid,
    wait_port,
)

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_SENTINEL = "/usr/bin/redis-sentinel"
MASTER_NAME = "apexmediation"

ADMIN_USER = "apex_admin"
CHECKER_USER = "apex_checker"

RAM_BYTES = 1024 ** 3                       # the sandbox states 1 GiB for Redis
MAXMEMORY_BYTES = int(RAM_BYTES * 0.8)      # 858993459
WANTED_MAXCLIENTS = 20000
REDIS_RESERVED_FDS = 32                     # redis needs maxclients + 32 descriptors

# Read-only observer: data reads + the introspection commands a checker needs.
# -@admin -@dangerous drop e.g. CLIENT KILL / KEYS that +@read / +@connection pull in.
CHECKER_ACL = ("~* &* -@all +@read +@connection -@admin -@dangerous -@write "
               "+info +config|get +role +ping +client|list +client|info +memory|usage "
               "+slowlog|get +latency|latest +scan +ttl +pttl +type +dbsize +command|docs +command|count")
SENTINEL_CHECKER_ACL = ("-@all +ping +info +role +hello +auth +client|setname +client|getname +client|id "
                        "+sentinel|masters +sentinel|master +sentinel|replicas +sentinel|slaves "
                        "+sentinel|sentinels +sentinel|get-master-addr-by-name +sentinel|ckquorum "
                        "+sentinel|myid +sentinel|info-cache")

Log = Callable[[str], None]


def _noop(_msg: str) -> None:
    pass


def max_clients_allowed(wanted: int = WANTED_MAXCLIENTS) -> int:
    """maxclients this box permits: redis needs maxclients + 32 file descriptors and can raise
    its soft limit only up to the hard RLIMIT_NOFILE."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(0, min(wanted, hard - REDIS_RESERVED_FDS))


def _sha(pw: str) -> str:
    return "#" + hashlib.sha256(pw.encode()).hexdigest()


def _acl_lines(passwords: Mapping[str, str], sentinel: bool = False) -> list[str]:
    admin = _sha(passwords["APEX_REDIS_ADMIN_PASSWORD"])
    checker = _sha(passwords["APEX_REDIS_CHECKER_PASSWORD"])
    checker_acl = SENTINEL_CHECKER_ACL if sentinel else CHECKER_ACL
    return [
        "user default off resetpass -@all",
        f"user {ADMIN_USER} on {admin} ~* &* +@all",
        f"user {CHECKER_USER} on {checker} {checker_acl}",
    ]


def _render(directives: Mapping[str, Any], extra_lines: list[str]) -> str:
    lines = ["# Managed by sandbox/redis.py: rewritten at every start (use config_overrides)."]
    for key, value in directives.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            lines.append(f"{key} {v}")
    lines += extra_lines
    return "\n".join(lines) + "\n"


@dataclass
class RedisHandle:
    data_dir: Path
    port: int
    passwords: Mapping[str, str]
    kind: str = "redis"                      # "redis" | "replica" | "sentinel"
    host: str = HOST
    started: bool = False

    @property
    def pidfile(self) -> Path:
        return self.data_dir / ("sentinel.pid" if self.kind == "sentinel" else "redis.pid")

    def pid(self) -> int | None:
        return read_pidfile(self.pidfile)

    def is_running(self) -> bool:
        return pid_alive(self.pid())

    def client(self, user: str = ADMIN_USER, **kw: Any):
        import redis as redis_py
        pw = {ADMIN_USER: "APEX_REDIS_ADMIN_PASSWORD", CHECKER_USER: "APEX_REDIS_CHECKER_PASSWORD"}[user]
        opts: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 3, "decode_responses": True}
        opts.update(kw)
        return redis_py.Redis(host=self.host, port=self.port, username=user, password=self.passwords[pw], **opts)

    def stop(self, timeout: float = 30) -> None:
        stop_redis(self.data_dir, self.kind, timeout=timeout)

    def __enter__(self) -> RedisHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def stop_redis(data_dir: Path, kind: str = "redis", timeout: float = 30) -> bool:
    pidfile = Path(data_dir) / ("sentinel.pid" if kind == "sentinel" else "redis.pid")
    pid = read_pidfile(pidfile)
    if not pid_alive(pid) or "redis" not in process_cmdline(pid):
        return False
    stop_pid(pid, sig=signal.SIGTERM, timeout=timeout)   # SIGTERM: redis saves and exits
    return True


def _launch(binary: str, conf: Path, handle: RedisHandle, conf_text: str, what: str, log: Log) -> bool:
    """(Re)start when needed; True if started now."""
    old = conf.read_text() if conf.exists() else None
    pid = handle.pid()
    if pid_alive(pid):
        # sentinel rewrites its own file; compare against what we rendered last time
        rendered = handle.data_dir / ".rendered.conf"
        last = rendered.read_text() if rendered.exists() else old
        if last == conf_text:
            wait_port(handle.port, 10, what=what)
            log(f"already running (pid {pid})")
            return False
        log("configuration changed: restarting")
        stop_redis(handle.data_dir, handle.kind)
    ensure_port_free(handle.port, what)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(conf_text)
    (handle.data_dir / ".rendered.conf").write_text(conf_text)
    os.chmod(handle.data_dir / ".rendered.conf", 0o600)
    handle.pidfile.unlink(missing_ok=True)
    log(f"starting on {HOST}:{handle.port}")
    run([binary, str(conf)], timeout=30)               # daemonize yes: returns at once
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pid_alive(handle.pid()):
        time.sleep(0.05)
    if not pid_alive(handle.pid()):
        tail = _tail(handle.data_dir / ("sentinel.log" if handle.kind == "sentinel" else "redis.log"))
        raise SandboxError(f"{what} did not start\n{tail}")
    wait_port(handle.port, 15, pid=handle.pid(), what=what)
    handle.started = True
    return True


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-n:])
    except OSError:
        return ""


def _wait_ping(handle: RedisHandle, timeout: float = 30) -> None:
    import redis as redis_py

    def pong() -> bool:
        with handle.client() as r:
            return bool(r.ping())

    poll_until(pong, timeout, f"redis on port {handle.port} not answering PING", interval=0.1,
               retry_on=(redis_py.ConnectionError, redis_py.BusyLoadingError, redis_py.TimeoutError))


def start_redis(
    data_dir: str | os.PathLike,
    port: int,
    *,
    config_overrides: Mapping[str, Any] | None = None,
    seed: bool = True,
    replica_of: int | None = None,
    passwords: Mapping[str, str] | None = None,
    log: Log = _noop,
) -> RedisHandle:
    """Start (idempotently) a redis-server with the sandbox's production-like settings.

    ``config_overrides`` replaces directives (value ``None`` drops one, so the
    redis default applies). ``replica_of`` makes it a replica of 127.0.0.1:<port>.
    Passwords default to .sandbox/credentials.env.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    passwords = dict(passwords) if passwords else ensure_credentials()
    handle = RedisHandle(data_dir, port, passwords, kind="replica" if replica_of else "redis")
    directives: dict[str, Any] = {
        "bind": HOST,
        "port": port,
        "protected-mode": "yes",
        "daemonize": "yes",
        "pidfile": data_dir / "redis.pid",
        "logfile": data_dir / "redis.log",
        "loglevel": "notice",
        "dir": data_dir,
        "dbfilename": "dump.rdb",
        "save": '"3600 1 300 100 60 10000"',
        "stop-writes-on-bgsave-error": "yes",
        "rdbcompression": "yes",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory": MAXMEMORY_BYTES,
        "maxmemory-policy": "allkeys-lru",
        "maxclients": max_clients_allowed(),
        "timeout": 0,
        "tcp-keepalive": 300,
        "slowlog-log-slower-than": 10000,
        "slowlog-max-len": 256,
        "latency-monitor-threshold": 100,
        "repl-diskless-sync-delay": 0,      # replicas sync at once (default waits 5 s)
    }
    if replica_of:
        directives.update({
            "replicaof": f"{HOST} {replica_of}",
            "masteruser": ADMIN_USER,
            "masterauth": passwords["APEX_REDIS_ADMIN_PASSWORD"],
            "replica-read-only": "yes",
            "replica-serve-stale-data": "yes",
        })
    else:
        # so a replica promoted by Sentinel and then demoted can still sync
        directives.update({"masteruser": ADMIN_USER, "masterauth": passwords["APEX_REDIS_ADMIN_PASSWORD"]})
    directives.update(config_overrides or {})
    conf_text = _render(directives, _acl_lines(passwords))
    what = f"redis {'replica' if replica_of else 'server'} :{port}"
    _launch(REDIS_SERVER, data_dir / "redis.conf", handle, conf_text, what, log)
    _wait_ping(handle)
    if replica_of:
        _wait_replica_sync(handle, log)
    elif seed:
        n = seed_cache(handle)
        if n:
            log(f"seeded {n} keys")
    return handle


def _wait_replica_sync(handle: RedisHandle, log: Log, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        with handle.client() as r:
            info = r.info("replication")
        status = info.get("master_link_status")
        if status == "up":
            log("replica in sync with primary")
            return
        time.sleep(0.2)
    raise SandboxError(f"redis replica :{handle.port} master_link_status={status} after {timeout:.0f}s")


def seed_cache(handle: RedisHandle) -> int:
    """Keys shaped like the app's cache (only missing ones are written; TTLs as in production)."""
    written = 0
    with handle.client() as r:
        # no MULTI/EXEC: redis 7.0 replays a MULTI from the AOF as the (disabled) default user
        # and rejects it with NOPERM at load time, losing the keys on restart.
        pipe = r.pipeline(transaction=False)
        for app_id in range(1, 6):
            cfg = {"app_id": app_id, "version": 2, "refresh_seconds": 30, "bidding": True,
                   "networks": ["admob", "applovin", "unity", "ironsource"]}
            pipe.set(f"sdk:config:{app_id}", json.dumps(cfg), ex=86400, nx=True)
        for i in range(1, 6):
            sid = uuid.uuid5(uuid.NAMESPACE_URL, f"apex-sandbox-session-{i}")
            pipe.set(f"session:{sid}", json.dumps({"user_id": i, "customer_id": 1 + i % 5}), ex=1800, nx=True)
        for pub in range(1, 4):
            metrics = {"publisher_id": pub, "impressions_today": 125000 * pub, "revenue_usd_today": 310.5 * pub}
            pipe.set(f"dashboard:metrics:{pub}", json.dumps(metrics), ex=300, nx=True)
        written = sum(1 for ok in pipe.execute() if ok)
    return written


def start_sentinel(
    data_dir: str | os.PathLike,
    port: int,
    *,
    master_port: int,
    master_name: str = MASTER_NAME,
    quorum: int = 1,
    passwords: Mapping[str, str] | None = None,
    log: Log = _noop,
) -> RedisHandle:
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    passwords = dict(passwords) if passwords else ensure_credentials()
    handle = RedisHandle(data_dir, port, passwords, kind="sentinel")
    admin_pw = passwords["APEX_REDIS_ADMIN_PASSWORD"]
    directives: dict[str, Any] = {
        "bind": HOST,
        "port": port,
        "protected-mode": "yes",
        "daemonize": "yes",
        "pidfile": data_dir / "sentinel.pid",
        "logfile": data_dir / "sentinel.log",
        "dir": data_dir,
        "sentinel resolve-hostnames": "no",
        "sentinel monitor": f"{master_name} {HOST} {master_port} {quorum}",
        "sentinel auth-user": f"{master_name} {ADMIN_USER}",
        "sentinel auth-pass": f"{master_name} {admin_pw}",
        "sentinel down-after-milliseconds": f"{master_name} 5000",
        "sentinel failover-timeout": f"{master_name} 60000",
        "sentinel parallel-syncs": f"{master_name} 1",
        "sentinel sentinel-user": ADMIN_USER,
        "sentinel sentinel-pass": admin_pw,
    }
    conf_text = _render(directives, _acl_lines(passwords, sentinel=True))
    _launch(REDIS_SENTINEL, data_dir / "sentinel.conf", handle, conf_text, f"redis sentinel :{port}", log)
    _wait_ping(handle)
    deadline = time.monotonic() + 15
    addr = None
    while time.monotonic() < deadline:
        with handle.client() as r:
            addr = r.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name)
            master = r.execute_command("SENTINEL", "MASTER", master_name)
        fields = dict(zip(master[::2], master[1::2], strict=True)) if isinstance(master, list) else dict(master)
        flags = str(fields.get("flags", ""))
        if addr and "disconnected" not in flags and "down" not in flags and int(fields.get("num-slaves", 0)) >= 0:
            log(f"monitoring {master_name} at {addr[0]}:{addr[1]} (flags={flags})")
            return handle
        time.sleep(0.2)
    raise SandboxError(f"sentinel :{port} cannot reach master {master_name} (addr={addr})")

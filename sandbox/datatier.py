"""The data tier's sandbox parts: PostgreSQL (primary, replica, PgBouncer), Redis (primary, replica,
Sentinel) and the ClickHouse HTTP server; each with up/down/status as `sandbox/parts.py` lists them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .common import (
    HOST,
    LOG_DIR,
    PORTS,
    REPO_ROOT,
    SANDBOX_DIR,
    SandboxError,
    chown_postgres,
    ensure_port_free,
    pid_alive,
    port_open,
    process_cmdline,
    read_pidfile,
    step,
    stop_pid,
)
from .parts import Ctx, Row

PG_DIR = SANDBOX_DIR / "pg"
PG_PRIMARY = PG_DIR / "primary"
PG_REPLICA = PG_DIR / "replica"
PG_ARCHIVE = PG_DIR / "wal_archive"
PGBOUNCER_DIR = SANDBOX_DIR / "pgbouncer"
REDIS_DIR = SANDBOX_DIR / "redis"
CH_DIR = SANDBOX_DIR / "clickhouse"
CH_PIDFILE = CH_DIR / "clickhouse.pid"
CH_LOG = LOG_DIR / "clickhouse.log"
CH_SCHEMA = REPO_ROOT / "sandbox" / "clickhouse_schema.sql"
CH_MODULE = "sandbox.clickhouse_http"


def _row_adder(rows: list[Row]) -> Callable[..., None]:
    def row(name: str, pid: int | None, detail: str = "", ok: bool | None = None) -> None:
        port = PORTS[name]
        running = bool(pid) and port_open(port) if ok is None else ok
        rows.append({"component": name, "state": "running" if running else "stopped", "pid": pid,
                     "address": f"{HOST}:{port}", "detail": detail})
    return row


def _wait_reaped(pids: list[int | None]) -> None:
    """PID 1 reaps the exited daemons (they were reparented to it); wait for that so that
    `ps` right after `down` is clean."""
    alive = [p for p in pids if pid_alive(p)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in alive):
        time.sleep(0.1)


# --------------------------------------------------------------------------- PostgreSQL

def postgres_up(ctx: Ctx) -> None:
    from . import postgres as pg

    creds = dict(ctx.creds)
    PG_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(PG_DIR, 0o755)
    chown_postgres(PG_DIR)
    primary = pg.start_primary(PG_PRIMARY, PORTS["postgres"], passwords=creds, archive_dir=PG_ARCHIVE,
                               log_file=PG_DIR / "primary.log", log=ctx.log("postgres"))
    pg.start_replica(PG_REPLICA, PORTS["postgres_replica"], primary_port=primary.port, passwords=creds,
                     log_file=PG_DIR / "replica.log", log=ctx.log("postgres_replica"))
    pg.start_pgbouncer(PGBOUNCER_DIR, PORTS["pgbouncer"], primary=primary, log=ctx.log("pgbouncer"))


def postgres_down(ctx: Ctx) -> None:
    from . import postgres as pg

    pids = [pg.running_pid(PG_PRIMARY), pg.running_pid(PG_REPLICA), read_pidfile(PGBOUNCER_DIR / "pgbouncer.pid")]
    if pg.stop_pgbouncer(PGBOUNCER_DIR):
        step("pgbouncer", "stopped")
    for name, d in (("postgres_replica", PG_REPLICA), ("postgres", PG_PRIMARY)):
        if pg.stop_postgres(d):
            step(name, "stopped")
    _wait_reaped(pids)


def postgres_status(ctx: Ctx) -> list[Row]:
    from . import postgres as pg

    creds = dict(ctx.creds)
    rows: list[Row] = []
    row = _row_adder(rows)
    for name, d, role in (("postgres", PG_PRIMARY, "primary"), ("postgres_replica", PG_REPLICA, "replica")):
        pid = pg.running_pid(d)
        detail = ""
        if pid and creds:
            try:
                h = pg.PostgresHandle(d, PORTS[name], role, creds, Path("/dev/null"))
                with h.connect(pg.SUPERUSER, pg.DBNAME, connect_timeout=3) as conn:
                    ver = conn.execute("SHOW server_version").fetchone()[0]
                    migs = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
                    if role == "primary":
                        reps = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state='streaming'"
                                            ).fetchone()[0]
                        detail = f"PostgreSQL {ver}, {migs} migrations, {reps} streaming replica(s)"
                    else:
                        wr = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
                        detail = f"PostgreSQL {ver} hot standby, wal receiver {wr[0] if wr else 'absent'}"
            except Exception as exc:  # whatever it is, status reports it and goes on
                detail = f"not answering: {str(exc).splitlines()[0][:80]}"
        row(name, pid, detail)
    bpid = read_pidfile(PGBOUNCER_DIR / "pgbouncer.pid")
    bpid = bpid if pid_alive(bpid) and "pgbouncer" in process_cmdline(bpid) else None
    row("pgbouncer", bpid, f"pool_mode=transaction -> :{PORTS['postgres']}" if bpid else "")
    return rows


# --------------------------------------------------------------------------- Redis

def redis_up(ctx: Ctx) -> None:
    from . import redis as rd

    creds = dict(ctx.creds)
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(REDIS_DIR, 0o700)
    rd.start_redis(REDIS_DIR / "primary", PORTS["redis"], passwords=creds, log=ctx.log("redis"))
    rd.start_redis(REDIS_DIR / "replica", PORTS["redis_replica"], replica_of=PORTS["redis"], passwords=creds,
                   log=ctx.log("redis_replica"))
    rd.start_sentinel(REDIS_DIR / "sentinel", PORTS["redis_sentinel"], master_port=PORTS["redis"],
                      passwords=creds, log=ctx.log("redis_sentinel"))


REDIS_PROCS = (("sentinel", "sentinel", "redis_sentinel"), ("replica", "replica", "redis_replica"),
               ("redis", "primary", "redis"))


def redis_down(ctx: Ctx) -> None:
    from . import redis as rd

    pids = [read_pidfile(REDIS_DIR / sub / f"{'sentinel' if kind == 'sentinel' else 'redis'}.pid")
            for kind, sub, _ in REDIS_PROCS]
    for kind, sub, name in REDIS_PROCS:
        if rd.stop_redis(REDIS_DIR / sub, kind):
            step(name, "stopped")
    _wait_reaped(pids)


def redis_status(ctx: Ctx) -> list[Row]:
    from . import redis as rd

    creds = dict(ctx.creds)
    rows: list[Row] = []
    row = _row_adder(rows)
    for name, sub, kind in (("redis", "primary", "redis"), ("redis_replica", "replica", "replica"),
                            ("redis_sentinel", "sentinel", "sentinel")):
        rh = rd.RedisHandle(REDIS_DIR / sub, PORTS[name], creds, kind=kind)
        pid = rh.pid() if rh.is_running() else None
        detail = ""
        if pid and creds:
            try:
                with rh.client(socket_timeout=3) as r:
                    if kind == "sentinel":
                        addr = r.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", rd.MASTER_NAME)
                        detail = f"monitors {rd.MASTER_NAME} at {':'.join(addr) if addr else '?'}"
                    else:
                        info = r.info()
                        detail = f"redis {info['redis_version']} role={info['role']} keys={r.dbsize()}"
                        if kind == "replica":
                            detail += f" link={info.get('master_link_status')}"
            except Exception as exc:  # whatever it is, status reports it and goes on
                detail = f"not answering: {str(exc).splitlines()[0][:80]}"
        row(name, pid, detail)
    return rows


# --------------------------------------------------------------------------- ClickHouse

def _clickhouse_pid() -> int | None:
    pid = read_pidfile(CH_PIDFILE)
    if pid_alive(pid) and CH_MODULE in process_cmdline(pid):
        return pid
    return None


def _clickhouse_ping(port: int, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=timeout) as resp:
            return resp.status == 200 and resp.read().startswith(b"Ok.")
    except (urllib.error.URLError, OSError):
        return False


def clickhouse_up(ctx: Ctx) -> None:
    creds = ctx.creds
    log = ctx.log("clickhouse")
    port = PORTS["clickhouse"]
    pid = _clickhouse_pid()
    if pid:
        if _clickhouse_ping(port, timeout=5):
            log(f"already running (pid {pid})")
            return
        log(f"pid {pid} not answering /ping: restarting")
        stop_pid(pid, kill_group=True, timeout=15)
    ensure_port_free(port, "ClickHouse HTTP")
    data_dir = CH_DIR / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(CH_DIR, 0o700)
    cmd = [sys.executable, "-m", CH_MODULE, "--host", HOST, "--port", str(port), "--data-dir", str(data_dir),
           "--user", "apex_checker", "--password-env", "APEX_CLICKHOUSE_PASSWORD",
           "--admin-user", "apex_admin", "--admin-password-env", "APEX_CLICKHOUSE_ADMIN_PASSWORD"]
    if CH_SCHEMA.exists():
        cmd += ["--schema", str(CH_SCHEMA)]
    env = dict(os.environ)
    env["APEX_CLICKHOUSE_PASSWORD"] = creds["APEX_CLICKHOUSE_PASSWORD"]
    env["APEX_CLICKHOUSE_ADMIN_PASSWORD"] = creds["APEX_CLICKHOUSE_ADMIN_PASSWORD"]
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log(f"starting on {HOST}:{port} (chdb)")
    with open(CH_LOG, "ab") as logfh:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=logfh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    CH_PIDFILE.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            CH_PIDFILE.unlink(missing_ok=True)
            tail = "\n".join(CH_LOG.read_text(errors="replace").splitlines()[-15:])
            raise SandboxError(f"ClickHouse HTTP server exited with code {proc.returncode}\n--- {CH_LOG} ---\n{tail}")
        if _clickhouse_ping(port):
            log(f"ready (pid {proc.pid})")
            return
        time.sleep(0.1)
    raise SandboxError(f"ClickHouse HTTP server not ready on :{port} after 180s (see {CH_LOG})")


def clickhouse_down(ctx: Ctx) -> None:
    pid = _clickhouse_pid()
    if pid:
        step("clickhouse", f"stopping pid {pid}")
        stop_pid(pid, kill_group=True, timeout=20)
    CH_PIDFILE.unlink(missing_ok=True)
    _wait_reaped([pid])


def clickhouse_status(ctx: Ctx) -> list[Row]:
    rows: list[Row] = []
    cpid = _clickhouse_pid()
    ok = bool(cpid) and _clickhouse_ping(PORTS["clickhouse"])
    _row_adder(rows)("clickhouse", cpid, "HTTP /ping Ok." if ok else "", ok=ok)
    return rows

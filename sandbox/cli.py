"""`python -m sandbox up|down|status|deps` — the local data tier on 127.0.0.1.

State lives in <repo>/.sandbox/ (data, logs, credentials.env). `up` is
idempotent; `down` stops every process it started.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import deps
from .common import (
    CREDENTIALS_FILE,
    HOST,
    LOG_DIR,
    PORTS,
    REPO_ROOT,
    SANDBOX_DIR,
    SandboxError,
    chown_postgres,
    ensure_credentials,
    ensure_port_free,
    ensure_sandbox_dir,
    load_credentials,
    pid_alive,
    pids_listening,
    port_open,
    process_cmdline,
    read_pidfile,
    say,
    step,
    stop_pid,
)

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

COMPONENTS = ("postgres", "redis", "clickhouse", "kubernetes", "monitoring", "aws", "edge")
K8S_DIR = SANDBOX_DIR / "k8s"
K8S_MANIFEST = REPO_ROOT / "sandbox" / "manifests" / "apexmediation.yaml"


def _logger(component: str) -> Callable[[str], None]:
    return lambda msg: step(component, msg)


@contextmanager
def _lock() -> Iterator[None]:
    ensure_sandbox_dir()
    with open(SANDBOX_DIR / ".lock", "w") as fh:  # closing it releases the lock
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another `python -m sandbox` command is running; waiting for it ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------- up

def up_postgres(creds: dict[str, str]) -> None:
    from . import postgres as pg

    PG_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(PG_DIR, 0o755)
    chown_postgres(PG_DIR)
    primary = pg.start_primary(PG_PRIMARY, PORTS["postgres"], passwords=creds, archive_dir=PG_ARCHIVE,
                               log_file=PG_DIR / "primary.log", log=_logger("postgres"))
    pg.start_replica(PG_REPLICA, PORTS["postgres_replica"], primary_port=primary.port, passwords=creds,
                     log_file=PG_DIR / "replica.log", log=_logger("postgres_replica"))
    pg.start_pgbouncer(PGBOUNCER_DIR, PORTS["pgbouncer"], primary=primary, log=_logger("pgbouncer"))


def up_redis(creds: dict[str, str]) -> None:
    from . import redis as rd

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(REDIS_DIR, 0o700)
    rd.start_redis(REDIS_DIR / "primary", PORTS["redis"], passwords=creds, log=_logger("redis"))
    rd.start_redis(REDIS_DIR / "replica", PORTS["redis_replica"], replica_of=PORTS["redis"], passwords=creds,
                   log=_logger("redis_replica"))
    rd.start_sentinel(REDIS_DIR / "sentinel", PORTS["redis_sentinel"], master_port=PORTS["redis"],
                      passwords=creds, log=_logger("redis_sentinel"))


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


def up_clickhouse(creds: dict[str, str]) -> None:
    log = _logger("clickhouse")
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


def up_kubernetes() -> None:
    """Build the control plane once (cached), start it, apply the workloads, give each CronJob a run."""
    from .kube import build, controlplane, workload

    log = _logger("kubernetes")
    t0 = time.monotonic()
    try:
        binaries = build.ensure_binaries()
        log(f"binaries ready in {time.monotonic() - t0:.1f}s ({build.cache_root(None)})")
        controlplane.up(K8S_DIR, binaries=binaries)
        result = workload.apply_manifests(K8S_DIR, K8S_MANIFEST)
        created = workload.run_cronjobs_once(K8S_DIR)
    except (build.BuildError, controlplane.ControlPlaneError) as exc:
        raise SandboxError(f"Kubernetes control plane: {exc}") from None
    log(f"applied {len(result['applied'])} objects from {K8S_MANIFEST.relative_to(REPO_ROOT)}; "
        f"deployments ready after {result['deployments_ready_after_s']}s")
    if created:
        log(f"ran {len(created)} CronJob(s) once: {', '.join(created)}")
    log(f"ready; checker kubeconfig {(K8S_DIR / 'checker.kubeconfig').relative_to(REPO_ROOT)}")


def cmd_up(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    wanted = tuple(args.only.split(",")) if args.only else COMPONENTS
    unknown = set(wanted) - set(COMPONENTS)
    if unknown:
        say(f"unknown component(s): {', '.join(sorted(unknown))} (choose from {', '.join(COMPONENTS)})")
        return 2
    missing = deps.check(wanted)
    if missing:
        say("The sandbox cannot start; missing dependencies:")
        for m in missing:
            say(f"  {m}")
        say("Install them with:  bash scripts/bootstrap.sh   (as root)")
        return 2
    if os.geteuid() != 0:
        say("note: not root; PostgreSQL/PgBouncer will run as the current user")
    with _lock():
        ensure_sandbox_dir()
        creds = ensure_credentials()
        say(f"sandbox state: {SANDBOX_DIR}  (credentials: {CREDENTIALS_FILE.relative_to(REPO_ROOT)}, mode 0600)")
        try:
            if "postgres" in wanted:
                up_postgres(creds)
            if "redis" in wanted:
                up_redis(creds)
            if "clickhouse" in wanted:
                up_clickhouse(creds)
            if "kubernetes" in wanted:
                up_kubernetes()
            if "monitoring" in wanted:  # after the databases: its exporters read them
                from . import monitoring

                monitoring.start(monitoring.COMPLIANT, log=_logger("monitoring"))
            if "aws" in wanted:
                from . import aws

                aws.up()
            if "edge" in wanted:  # after PostgreSQL and Redis: the API's /health reads them
                from . import edge

                edge.up(creds, _logger("edge"))
        except SandboxError as exc:
            say(f"\nERROR: {exc}")
            say("Partial state left running; `python -m sandbox down` stops it.")
            return 1
    say(f"\nsandbox up in {time.monotonic() - t0:.1f}s; profile: environments/local.toml "
        "(pytest --env local)")
    return 0


# --------------------------------------------------------------------------- down

def _our_pids() -> list[int]:
    from . import postgres as pg

    pids = [_clickhouse_pid(), pg.running_pid(PG_PRIMARY), pg.running_pid(PG_REPLICA),
            read_pidfile(PGBOUNCER_DIR / "pgbouncer.pid")]
    pids += [read_pidfile(REDIS_DIR / sub / f"{kind}.pid")
             for sub, kind in (("primary", "redis"), ("replica", "redis"), ("sentinel", "sentinel"))]
    return [p for p in pids if pid_alive(p)]


def cmd_down(args: argparse.Namespace) -> int:
    from . import postgres as pg
    from . import redis as rd

    with _lock():
        ours = _our_pids()
        from . import edge

        edge.down(_logger("edge"))
        if (K8S_DIR / "run").exists():
            from .kube import controlplane

            step("kubernetes", "stopping the control plane")
            controlplane.down(K8S_DIR)
        from . import monitoring

        for stack in monitoring.STACKS.values():
            monitoring.stop(stack, log=_logger("monitoring"))
        from . import aws

        if aws.down():
            step("aws", "stopped")
        pid = _clickhouse_pid()
        if pid:
            step("clickhouse", f"stopping pid {pid}")
            stop_pid(pid, kill_group=True, timeout=20)
        CH_PIDFILE.unlink(missing_ok=True)
        for kind, sub, name in (("sentinel", "sentinel", "redis_sentinel"), ("replica", "replica", "redis_replica"),
                                ("redis", "primary", "redis")):
            if rd.stop_redis(REDIS_DIR / sub, kind):
                step(name, "stopped")
        if pg.stop_pgbouncer(PGBOUNCER_DIR):
            step("pgbouncer", "stopped")
        for name, d in (("postgres_replica", PG_REPLICA), ("postgres", PG_PRIMARY)):
            if pg.stop_postgres(d):
                step(name, "stopped")
        # PID 1 reaps the exited daemons (they were reparented to it); wait for that so that
        # `ps` right after `down` is clean.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in ours):
            time.sleep(0.1)
        leftovers = {name: pids_listening(port) for name, port in PORTS.items()}
        leftovers = {k: v for k, v in leftovers.items() if v}
        if leftovers:
            for name, pids in leftovers.items():
                say(f"WARNING: port {PORTS[name]} ({name}) still has listeners: "
                    + ", ".join(f"{p} {process_cmdline(p)[:80]}" for p in pids))
        if args.purge:
            shutil.rmtree(SANDBOX_DIR)
            say(f"removed {SANDBOX_DIR} (data and credentials)")
    say("sandbox down" if not leftovers else "sandbox down, with foreign listeners left (not ours)")
    return 0


# --------------------------------------------------------------------------- status

def _status_rows() -> list[dict[str, Any]]:
    from . import postgres as pg
    from . import redis as rd

    rows: list[dict[str, Any]] = []
    try:
        creds = load_credentials()
    except SandboxError:
        creds = {}

    def row(name: str, pid: int | None, detail: str = "", ok: bool | None = None) -> None:
        port = PORTS[name]
        running = bool(pid) and port_open(port) if ok is None else ok
        rows.append({"component": name, "state": "running" if running else "stopped", "pid": pid,
                     "address": f"{HOST}:{port}", "detail": detail})

    # PostgreSQL
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

    # Redis
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

    # ClickHouse
    cpid = _clickhouse_pid()
    ok = bool(cpid) and _clickhouse_ping(PORTS["clickhouse"])
    row("clickhouse", cpid, "HTTP /ping Ok." if ok else "", ok=ok)

    # Kubernetes
    from .kube import controlplane

    state = controlplane.status(K8S_DIR)
    comps = state["components"]
    unhealthy = [c for c, v in comps.items() if not v["healthy"]]
    rows.append({"component": "kubernetes", "state": "running" if state["healthy"] else "stopped",
                 "pid": comps.get("kube-apiserver", {}).get("pid"),
                 "address": f"{HOST}:{controlplane.DEFAULT_PORTS['apiserver']}",
                 "detail": "etcd, apiserver, controller-manager, scheduler, kwok healthy" if state["healthy"]
                 else f"not healthy: {', '.join(unhealthy)}"})
    from . import monitoring

    rows += monitoring.status(monitoring.COMPLIANT)
    from . import aws

    rows.append(aws.status())
    from . import edge

    rows += edge.status_rows()
    return rows


def cmd_status(args: argparse.Namespace) -> int:
    rows = _status_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            pid = str(r["pid"]) if r["pid"] else "-"
            print(f"{r['component']:<17} {r['state']:<8} {pid:>7}  {r['address']:<16} {r['detail']}")
        if not CREDENTIALS_FILE.exists():
            print("(no credentials yet: run `python -m sandbox up`)")
    return 0 if all(r["state"] == "running" for r in rows) else 1


def cmd_deps(args: argparse.Namespace) -> int:
    ok, text = deps.report()
    print(text)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start (or check) every server; idempotent")
    p_up.add_argument("--only", help=f"comma-separated subset of {','.join(COMPONENTS)}")
    p_up.set_defaults(func=cmd_up)
    p_down = sub.add_parser("down", help="stop every sandbox server")
    p_down.add_argument("--purge", action="store_true", help="also delete .sandbox/ (data and credentials)")
    p_down.set_defaults(func=cmd_down)
    p_status = sub.add_parser("status", help="what is running (exit 1 if anything is stopped)")
    p_status.add_argument("--json", action="store_true")
    p_status.set_defaults(func=cmd_status)
    p_deps = sub.add_parser("deps", help="check the Debian packages and Python modules the sandbox needs")
    p_deps.set_defaults(func=cmd_deps)
    from .monitoring import traffic

    p_traffic = sub.add_parser("traffic", help="bounded load on the sandbox API (--seconds N; faults on demand)")
    traffic.add_arguments(p_traffic)
    p_traffic.set_defaults(func=traffic.command)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except SandboxError as exc:
        say(f"ERROR: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130

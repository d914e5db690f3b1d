"""PostgreSQL 15 primary + streaming replica + PgBouncer for the local sandbox.

Servers run as the ``postgres`` OS user (``runuser -u postgres --`` when we
are root) using the binaries in /usr/lib/postgresql/15/bin directly.

Function API for self-tests::

    h = start_primary(tmp / "pg", 35432, settings_overrides={"shared_buffers": "128MB"},
                      migrations_upto=13)
    ...
    h.stop()
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import (
    HOST,
    SandboxError,
    as_postgres,
    chown_postgres,
    ensure_credentials,
    ensure_port_free,
    make_traversable,
    pg_os_user,
    pid_alive,
    poll_until,
    process_cmdline,
    read_pidfile,
    run,
    stop_pid,
    wait_port,
)
from .postgres_seed import SEED

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DBNAME = "apexmediation"
CONF_NAME = "apex_sandbox.conf"
REPLICATION_SLOT = "apex_replica"

OWNER_ROLE = "apex_owner"
APP_ROLE = "apex_app"
CHECKER_ROLE = "apex_checker"
REPLICATION_ROLE = "apex_replicator"
SUPERUSER = "postgres"

# Tuned for the 4 GiB of RAM the sandbox states for PostgreSQL.
DEFAULT_SETTINGS: dict[str, str] = {
    "listen_addresses": HOST,
    "max_connections": "200",
    "superuser_reserved_connections": "3",
    "password_encryption": "scram-sha-256",
    "shared_buffers": "1GB",
    "effective_cache_size": "3GB",
    "work_mem": "8MB",
    "maintenance_work_mem": "256MB",
    "huge_pages": "off",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.max": "10000",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
    "autovacuum": "on",
    "autovacuum_max_workers": "4",
    "autovacuum_naptime": "15s",
    "autovacuum_vacuum_scale_factor": "0.05",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
    "autovacuum_vacuum_cost_limit": "1000",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "wal_keep_size": "256MB",
    "max_wal_size": "2GB",
    "min_wal_size": "256MB",
    "checkpoint_completion_target": "0.9",
    "archive_mode": "on",
    "archive_timeout": "300",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "log_min_duration_statement": "1000",
    "log_checkpoints": "on",
    "log_connections": "off",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "timezone": "UTC",
}

PG_HBA = """\
# Managed by sandbox/postgres.py
# TYPE  DATABASE        USER              ADDRESS           METHOD
local   all             postgres                            peer
local   all             all                                 scram-sha-256
host    all             all               127.0.0.1/32      scram-sha-256
host    replication     apex_replicator   127.0.0.1/32      scram-sha-256
"""

Log = Callable[[str], None]


def _noop(_msg: str) -> None:
    pass


def _pg(tool: str) -> str:
    return str(PG_BIN / tool)


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        value = "on" if value else "off"
    return "'" + str(value).replace("'", "''") + "'"


def _write_pg_file(path: Path, text: str, mode: int = 0o600) -> bool:
    """Write a file owned by postgres; return True when the content changed."""
    old = path.read_text() if path.exists() else None
    if old != text:
        path.write_text(text)
    os.chmod(path, mode)
    chown_postgres(path)
    return old != text


def _prepare_dir(path: Path, mode: int = 0o700) -> None:
    make_traversable(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    chown_postgres(path)


# --------------------------------------------------------------------------- handle

@dataclass
class PostgresHandle:
    data_dir: Path
    port: int
    role: str                               # "primary" | "replica"
    passwords: Mapping[str, str]
    log_file: Path
    host: str = HOST
    started: bool = False                   # True if this call started it
    initialized: bool = False               # True if this call ran initdb
    notes: list[str] = field(default_factory=list)

    # -- connection helpers
    def conninfo(self, user: str = SUPERUSER, dbname: str = DBNAME, **extra: Any) -> dict[str, Any]:
        pw = {
            SUPERUSER: "APEX_PG_ADMIN_PASSWORD",
            APP_ROLE: "APEX_PG_APP_PASSWORD",
            CHECKER_ROLE: "APEX_PG_CHECKER_PASSWORD",
            REPLICATION_ROLE: "APEX_PG_REPLICATION_PASSWORD",
        }.get(user)
        info: dict[str, Any] = {
            "host": self.host, "port": self.port, "dbname": dbname, "user": user,
            "connect_timeout": 5, "application_name": "apex-sandbox",
        }
        if pw:
            info["password"] = self.passwords[pw]
        info.update(extra)
        return info

    def connect(self, user: str = SUPERUSER, dbname: str = DBNAME, autocommit: bool = True, **extra: Any):
        import psycopg
        return psycopg.connect(autocommit=autocommit, **self.conninfo(user, dbname, **extra))

    def pid(self) -> int | None:
        return read_pidfile(self.data_dir / "postmaster.pid")

    def is_running(self) -> bool:
        return pid_alive(self.pid())

    def stop(self, mode: str = "fast", timeout: int = 60) -> None:
        stop_postgres(self.data_dir, mode=mode, timeout=timeout)

    def __enter__(self) -> PostgresHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- lifecycle

def is_initialized(data_dir: Path) -> bool:
    return (Path(data_dir) / "PG_VERSION").exists()


def running_pid(data_dir: Path) -> int | None:
    pid = read_pidfile(Path(data_dir) / "postmaster.pid")
    return pid if pid_alive(pid) else None


def stop_postgres(data_dir: Path, *, mode: str = "fast", timeout: int = 60) -> bool:
    """Stop the server of *data_dir*; True if one was running."""
    data_dir = Path(data_dir)
    pid = running_pid(data_dir)
    if pid is None:
        return False
    proc = run(as_postgres([_pg("pg_ctl"), "-D", str(data_dir), "-m", mode, "-w",
                            "-t", str(timeout), "stop"]), check=False, timeout=timeout + 30)
    if proc.returncode != 0 or pid_alive(pid):
        stop_pid(pid, timeout=10)
    return True


def _initdb(data_dir: Path, admin_password: str, log: Log) -> None:
    log(f"initdb {data_dir}")
    pw = pg_os_user()
    fd, pwfile = tempfile.mkstemp(prefix="apex-pw-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(admin_password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        run(as_postgres([
            _pg("initdb"), "-D", str(data_dir), "--username", SUPERUSER, "--pwfile", pwfile,
            "--auth-local", "peer", "--auth-host", "scram-sha-256",
            "--encoding", "UTF8", "--locale", "C.UTF-8", "--data-checksums",
            "--no-sync",   # sandbox: skip the fsync of a fresh cluster (saves seconds)
        ]), timeout=300)
    finally:
        os.unlink(pwfile)


def _ensure_include(data_dir: Path) -> None:
    conf = data_dir / "postgresql.conf"
    text = conf.read_text()
    line = f"include_if_exists = '{CONF_NAME}'"
    if line not in text:
        conf.write_text(text.rstrip("\n") + f"\n\n# Sandbox settings (sandbox/postgres.py)\n{line}\n")
        chown_postgres(conf)


def _render_conf(settings: Mapping[str, Any]) -> str:
    lines = ["# Managed by sandbox/postgres.py: rewritten at every start. Edit settings_overrides instead."]
    for key, value in settings.items():
        if value is None:
            continue
        lines.append(f"{key} = {_quote(value)}")
    return "\n".join(lines) + "\n"


def _start(data_dir: Path, port: int, log_file: Path, timeout: int, what: str) -> None:
    ensure_port_free(port, what)
    proc = run(as_postgres([_pg("pg_ctl"), "-D", str(data_dir), "-l", str(log_file), "-w",
                            "-t", str(timeout), "start"]), check=False, timeout=timeout + 30)
    if proc.returncode != 0:
        tail = ""
        with contextlib.suppress(OSError):  # no log: the error below says so without a tail
            tail = "\n".join(log_file.read_text().splitlines()[-15:])
        hint = ""
        if "shared memory" in tail or "could not map anonymous shared memory" in tail:
            hint = "\nHint: shared_buffers may be too large for this machine; lower it via settings_overrides."
        raise SandboxError(f"{what} failed to start (pg_ctl rc={proc.returncode}).\n{(proc.stdout or '').strip()}\n"
                           f"--- {log_file} ---\n{tail}{hint}")
    wait_port(port, 30, what=what)


def _apply_config_and_start(data_dir: Path, port: int, settings: dict[str, Any], log_file: Path,
                            timeout: int, what: str, log: Log) -> bool:
    """Write config; start (or restart if the running config changed). True if started now."""
    _ensure_include(data_dir)
    conf_changed = _write_pg_file(data_dir / CONF_NAME, _render_conf(settings))
    hba_changed = _write_pg_file(data_dir / "pg_hba.conf", PG_HBA)
    if not log_file.exists():
        log_file.touch()
    chown_postgres(log_file)
    os.chmod(log_file, 0o640)
    pid = running_pid(data_dir)
    if pid is not None:
        if conf_changed:
            log("configuration changed: restarting")
            stop_postgres(data_dir)
        else:
            if hba_changed:
                run(as_postgres([_pg("pg_ctl"), "-D", str(data_dir), "reload"]), check=False)
            wait_port(port, 30, what=what)
            log(f"already running (pid {pid})")
            return False
    log(f"starting on {HOST}:{port}")
    _start(data_dir, port, log_file, timeout, what)
    return True


def _wait_connect(handle: PostgresHandle, timeout: float = 30, user: str = SUPERUSER, dbname: str = "postgres") -> None:
    import psycopg

    def answers() -> bool:
        with handle.connect(user, dbname) as conn:
            conn.execute("SELECT 1")
        return True

    poll_until(answers, timeout, f"PostgreSQL on port {handle.port} not accepting connections",
               retry_on=(psycopg.OperationalError,))


def start_primary(
    data_dir: str | os.PathLike,
    port: int,
    *,
    settings_overrides: Mapping[str, Any] | None = None,
    migrations_upto: int = 14,
    seed: bool = True,
    analyze: bool = True,
    passwords: Mapping[str, str] | None = None,
    archive_dir: str | os.PathLike | None = None,
    log_file: str | os.PathLike | None = None,
    timeout: int = 90,
    log: Log = _noop,
) -> PostgresHandle:
    """Initialise (first time), configure, start and bootstrap a primary.

    ``settings_overrides`` replaces entries of DEFAULT_SETTINGS (value ``None``
    removes one, i.e. PostgreSQL's built-in default applies). Migrations
    ``001..migrations_upto`` are applied. Passwords default to the sandbox's
    ``.sandbox/credentials.env`` (generated if absent). Idempotent.
    """
    data_dir = Path(data_dir).resolve()
    passwords = dict(passwords) if passwords else ensure_credentials()
    archive = Path(archive_dir).resolve() if archive_dir else data_dir.with_name(data_dir.name + "_wal_archive")
    logf = Path(log_file).resolve() if log_file else data_dir.with_name(data_dir.name + ".log")

    _prepare_dir(data_dir.parent, 0o755) if not data_dir.parent.exists() else make_traversable(data_dir)
    _prepare_dir(data_dir)
    _prepare_dir(archive)
    initialized_now = False
    if not is_initialized(data_dir):
        if running_pid(data_dir):
            raise SandboxError(f"{data_dir} has a running server but no PG_VERSION")
        stale = [p for p in archive.iterdir()]
        if stale:   # WAL of an earlier cluster: `test ! -f` would make archiving fail forever
            log(f"clearing {len(stale)} WAL files of a previous cluster from {archive}")
            for p in stale:
                p.unlink()
        _initdb(data_dir, passwords["APEX_PG_ADMIN_PASSWORD"], log)
        initialized_now = True

    settings: dict[str, Any] = dict(DEFAULT_SETTINGS)
    settings["port"] = str(port)
    settings["unix_socket_directories"] = ""    # TCP only (127.0.0.1)
    settings["archive_command"] = f"test ! -f {archive}/%f && cp %p {archive}/%f"
    settings.update(settings_overrides or {})

    started = _apply_config_and_start(data_dir, port, settings, logf, timeout, f"PostgreSQL primary :{port}", log)
    handle = PostgresHandle(data_dir, port, "primary", passwords, logf, started=started,
                            initialized=initialized_now)
    _wait_connect(handle)
    bootstrap(handle, migrations_upto=migrations_upto, seed=seed, analyze=analyze, log=log)
    return handle


def start_replica(
    data_dir: str | os.PathLike,
    port: int,
    *,
    primary_port: int,
    settings_overrides: Mapping[str, Any] | None = None,
    passwords: Mapping[str, str] | None = None,
    slot: str = REPLICATION_SLOT,
    log_file: str | os.PathLike | None = None,
    timeout: int = 90,
    log: Log = _noop,
) -> PostgresHandle:
    """pg_basebackup -R (first time) from the primary on *primary_port*, then start as hot standby."""
    data_dir = Path(data_dir).resolve()
    passwords = dict(passwords) if passwords else ensure_credentials()
    logf = Path(log_file).resolve() if log_file else data_dir.with_name(data_dir.name + ".log")
    make_traversable(data_dir)
    primary = PostgresHandle(Path("/nonexistent"), primary_port, "primary", passwords, logf)

    if is_initialized(data_dir):
        with primary.connect(SUPERUSER, "postgres") as conn:
            primary_id = str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])
        if _system_identifier(data_dir) != primary_id:
            log("replica was cloned from another cluster: re-cloning")
            stop_postgres(data_dir, mode="immediate")
            import shutil
            shutil.rmtree(data_dir)
    if not is_initialized(data_dir):
        if running_pid(data_dir):
            raise SandboxError(f"{data_dir} has a running server but no PG_VERSION")
        _prepare_dir(data_dir)
        if any(data_dir.iterdir()):  # pg_basebackup needs an empty dir
            raise SandboxError(f"{data_dir} is not empty and has no PG_VERSION; remove it")
        with primary.connect(SUPERUSER, "postgres") as conn:
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            if row is not None:
                if row[0]:
                    raise SandboxError(f"replication slot {slot} is in use by another standby")
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        log(f"pg_basebackup from :{primary_port} (slot {slot})")
        run(as_postgres([
            _pg("pg_basebackup"), "-h", HOST, "-p", str(primary_port), "-U", REPLICATION_ROLE,
            "-D", str(data_dir), "-R", "-X", "stream", "-C", "-S", slot, "-c", "fast", "--no-password",
            "--no-sync",
        ]), env={"PGPASSWORD": passwords["APEX_PG_REPLICATION_PASSWORD"], "PGAPPNAME": "apex_replica"},
            timeout=600)
        # primary_conninfo written by -R carries the password; keep the file private.
        os.chmod(data_dir / "postgresql.auto.conf", 0o600)

    settings: dict[str, Any] = dict(DEFAULT_SETTINGS)
    settings["port"] = str(port)
    settings["unix_socket_directories"] = ""    # TCP only (127.0.0.1)
    settings["archive_command"] = "/bin/true"   # archive_mode=on only archives on the primary
    settings.update(settings_overrides or {})

    started = _apply_config_and_start(data_dir, port, settings, logf, timeout, f"PostgreSQL replica :{port}", log)
    handle = PostgresHandle(data_dir, port, "replica", passwords, logf, started=started)
    _wait_connect(handle)
    with handle.connect(SUPERUSER, "postgres") as conn:
        if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise SandboxError(f"{data_dir} is not in recovery: it is no replica")
    wait_streaming(primary, slot=slot, log=log)
    return handle


def _system_identifier(data_dir: Path) -> str | None:
    out = run(as_postgres([_pg("pg_controldata"), str(data_dir)]), check=False, env={"LC_ALL": "C"}).stdout or ""
    m = re.search(r"Database system identifier:\s+(\d+)", out)
    return m.group(1) if m else None


def wait_streaming(primary: PostgresHandle, *, slot: str = REPLICATION_SLOT, timeout: float = 30,
                   log: Log = _noop) -> None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        with primary.connect(SUPERUSER, "postgres") as conn:
            row = conn.execute(
                "SELECT r.state FROM pg_stat_replication r JOIN pg_replication_slots s "
                "ON s.active_pid = r.pid WHERE s.slot_name = %s", (slot,)).fetchone()
        state = row[0] if row else None
        if state == "streaming":
            log("streaming from primary")
            return
        time.sleep(0.3)
    raise SandboxError(f"replica not streaming after {timeout:.0f}s (state={state})")


# --------------------------------------------------------------------------- bootstrap (roles, db, migrations, seed)

def scram_matches(verifier: str | None, password: str) -> bool:
    """True when the stored SCRAM-SHA-256 *verifier* belongs to *password*."""
    import base64
    import hashlib
    import hmac
    m = re.match(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$", verifier or "")
    if not m:
        return False
    iterations, salt, stored_key, server_key = int(m.group(1)), base64.b64decode(m.group(2)), m.group(3), m.group(4)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    ok_stored = base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
    ok_server = base64.b64encode(hmac.new(salted, b"Server Key", hashlib.sha256).digest()).decode() == server_key
    return ok_stored and ok_server


def _scram(conn, password: str, user: str) -> str:
    """SCRAM verifier computed client-side, so no clear-text password reaches the server
    (and therefore neither the log nor pg_stat_statements)."""
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def available_migrations() -> list[tuple[str, str, Path]]:
    out = []
    for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql")):
        m = re.match(r"(\d{3})_(.+)\.sql$", path.name)
        if m:
            out.append((m.group(1), m.group(2), path))
    return out


def bootstrap(handle: PostgresHandle, *, migrations_upto: int = 14, seed: bool = True,
              analyze: bool = True, log: Log = _noop) -> None:
    from psycopg import sql

    pw = handle.passwords
    with handle.connect(SUPERUSER, "postgres") as conn:
        conn.execute("SET pg_stat_statements.track_utility = off")
        secrets_now = dict(conn.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
            ([OWNER_ROLE, APP_ROLE, CHECKER_ROLE, REPLICATION_ROLE, SUPERUSER],)).fetchall())
        spec = [
            (OWNER_ROLE, "NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION", None),
            (APP_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT",
             "APEX_PG_APP_PASSWORD"),
            (CHECKER_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT",
             "APEX_PG_CHECKER_PASSWORD"),
            (REPLICATION_ROLE, "LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE", "APEX_PG_REPLICATION_PASSWORD"),
        ]
        for name, attrs, pw_name in spec:
            verb = "ALTER" if name in secrets_now else "CREATE"
            stmt = sql.SQL(f"{verb} ROLE {{}} {attrs}").format(sql.Identifier(name))
            if pw_name and not scram_matches(secrets_now.get(name), pw[pw_name]):
                stmt = stmt + sql.SQL(" PASSWORD {}").format(sql.Literal(_scram(conn, pw[pw_name], name)))
            conn.execute(stmt)
            if verb == "CREATE":
                log(f"created role {name}")
        if not scram_matches(secrets_now.get(SUPERUSER), pw["APEX_PG_ADMIN_PASSWORD"]):
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(_scram(conn, pw["APEX_PG_ADMIN_PASSWORD"], SUPERUSER))))
        conn.execute("GRANT pg_read_all_settings, pg_read_all_stats, pg_monitor TO apex_checker")
        conn.execute("ALTER ROLE apex_checker SET default_transaction_read_only = on")
        conn.execute("ALTER ROLE apex_app SET statement_timeout = '30s'")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(DBNAME), sql.Identifier(OWNER_ROLE)))
            log(f"created database {DBNAME}")
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DBNAME)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO apex_app, apex_checker").format(sql.Identifier(DBNAME)))

    with handle.connect(SUPERUSER, DBNAME) as conn:
        conn.execute("SET pg_stat_statements.track_utility = off")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute("GRANT USAGE ON SCHEMA public TO apex_app, apex_checker")
        # Let the checker verify authentication rules and configuration files.
        conn.execute("GRANT SELECT ON pg_catalog.pg_hba_file_rules, pg_catalog.pg_file_settings TO apex_checker")
        conn.execute("GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules(), "
                     "pg_catalog.pg_show_all_file_settings() TO apex_checker")
        changed = _migrate(conn, migrations_upto, log)
        _grant(conn)
        seeded = _seed(conn, log) if seed else False
        if analyze and (changed or seeded):
            conn.execute("ANALYZE")
            log("ANALYZE done")


def _migrate(conn, upto: int, log: Log) -> bool:
    with conn.transaction():
        conn.execute("SET LOCAL ROLE apex_owner")
        conn.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    text PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )""")
    applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    changed = False
    for version, name, path in available_migrations():
        if int(version) > upto or version in applied:
            continue
        with conn.transaction():
            conn.execute("SET LOCAL ROLE apex_owner")
            conn.execute(path.read_text())
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        log(f"migration {version}_{name} applied")
        changed = True
    return changed


def _grant(conn) -> None:
    """Least privilege on the tables apex_owner owns (extension views such as
    pg_stat_statements are owned by the superuser and keep their own grants)."""
    from psycopg import sql

    tables = [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s ORDER BY 1",
        (OWNER_ROLE,))]
    if not tables:
        return
    ident = sql.SQL(", ").join(sql.Identifier("public", t) for t in tables)
    with conn.transaction():
        conn.execute("SET LOCAL ROLE apex_owner")
        conn.execute(sql.SQL("GRANT SELECT ON {} TO apex_checker").format(ident))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO apex_app").format(ident))
        conn.execute(sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON {} FROM apex_app").format(ident))
        conn.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO apex_app")
        conn.execute("REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM apex_app")
        if "audit_logs" in tables:
            conn.execute("REVOKE SELECT, UPDATE, DELETE ON audit_logs FROM apex_app")
        conn.execute("ALTER DEFAULT PRIVILEGES FOR ROLE apex_owner IN SCHEMA public "
                     "GRANT SELECT ON TABLES TO apex_checker")




def _seed(conn, log: Log) -> bool:
    existing = {r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    done = []
    with conn.transaction():
        conn.execute("SET LOCAL ROLE apex_owner")
        for table, stmt in SEED:
            if table not in existing:
                continue
            if conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]:
                continue
            conn.execute(stmt)
            done.append(table)
        # the post-launch item "at least 1 organic signup" looks at the last 24 hours:
        # each `up` makes sure the sandbox has one, however old its data is
        if "customers" in existing and not conn.execute(
                "SELECT EXISTS (SELECT 1 FROM customers WHERE created_at > now() - interval '23 hours')").fetchone()[0]:
            conn.execute("INSERT INTO customers (name, billing_email, country_code, plan) "
                         "VALUES ('Fresh Signup ' || to_char(now(), 'YYYYMMDDHH24MI'), "
                         "'signup+' || to_char(now(), 'YYYYMMDDHH24MISS') || '@example.test', 'US', 'starter')")
            done.append("customers (a fresh signup)")
    if done:
        log(f"seeded {len(done)} tables")
    return bool(done)


# --------------------------------------------------------------------------- PgBouncer

PGBOUNCER_BIN = "/usr/sbin/pgbouncer"


@dataclass
class PgBouncerHandle:
    run_dir: Path
    port: int
    started: bool = False

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "pgbouncer.pid"

    def pid(self) -> int | None:
        return read_pidfile(self.pidfile)

    def is_running(self) -> bool:
        return pid_alive(self.pid())

    def stop(self) -> None:
        stop_pgbouncer(self.run_dir)


def stop_pgbouncer(run_dir: Path) -> bool:
    pid = read_pidfile(Path(run_dir) / "pgbouncer.pid")
    if not pid_alive(pid) or "pgbouncer" not in process_cmdline(pid):
        return False
    import signal
    stop_pid(pid, sig=signal.SIGINT, timeout=10)   # SIGINT = safe shutdown
    return True


def _userlist(primary: PostgresHandle, users: list[str]) -> str:
    with primary.connect(SUPERUSER, "postgres") as conn:
        rows = dict(conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                                 (users,)).fetchall())
    lines = []
    for user in users:
        secret = rows.get(user)
        if not secret or not secret.startswith("SCRAM-SHA-256$"):
            raise SandboxError(f"role {user} has no SCRAM secret on the primary")
        lines.append(f'"{user}" "{secret}"')
    return "\n".join(lines) + "\n"


def start_pgbouncer(
    run_dir: str | os.PathLike,
    port: int,
    *,
    primary: PostgresHandle,
    pool_mode: str = "transaction",
    default_pool_size: int = 5,
    max_client_conn: int = 1000,
    extra: Mapping[str, Any] | None = None,
    log: Log = _noop,
) -> PgBouncerHandle:
    """PgBouncer in front of *primary*, SCRAM auth_file copied from pg_authid, run as postgres.

    default_pool_size 5 = (2 CPU cores x 2) + 1 effective spindle.
    """
    run_dir = Path(run_dir).resolve()
    _prepare_dir(run_dir)
    handle = PgBouncerHandle(run_dir, port)
    userlist_changed = _write_pg_file(run_dir / "userlist.txt", _userlist(primary, [APP_ROLE, CHECKER_ROLE]))
    settings: dict[str, Any] = {
        "listen_addr": HOST,
        "listen_port": port,
        "unix_socket_dir": "",
        "auth_type": "scram-sha-256",
        "auth_file": run_dir / "userlist.txt",
        "stats_users": CHECKER_ROLE,
        "pool_mode": pool_mode,
        "max_client_conn": max_client_conn,
        "default_pool_size": default_pool_size,
        "min_pool_size": 0,
        "reserve_pool_size": 2,
        "reserve_pool_timeout": 3,
        "server_idle_timeout": 300,
        "server_lifetime": 3600,
        "ignore_startup_parameters": "extra_float_digits,options",
        "logfile": run_dir / "pgbouncer.log",
        "pidfile": run_dir / "pgbouncer.pid",
        "log_connections": 0,
        "log_disconnections": 0,
        "admin_users": "",
    }
    settings.update(extra or {})
    ini = ["; Managed by sandbox/postgres.py", "[databases]",
           f"{DBNAME} = host={HOST} port={primary.port} dbname={DBNAME}", "", "[pgbouncer]"]
    ini += [f"{k} = {v}" for k, v in settings.items()]
    ini_path = run_dir / "pgbouncer.ini"
    ini_changed = _write_pg_file(ini_path, "\n".join(ini) + "\n")

    pid = handle.pid()
    if pid_alive(pid):
        if ini_changed:
            log("configuration changed: restarting")
            stop_pgbouncer(run_dir)
        else:
            if userlist_changed:
                import signal
                os.kill(pid, signal.SIGHUP)      # reload auth_file
            wait_port(port, 10, what="PgBouncer")
            log(f"already running (pid {pid})")
            return handle
    ensure_port_free(port, "PgBouncer")
    log(f"starting on {HOST}:{port}")
    logf = run_dir / "pgbouncer.log"
    if not logf.exists():
        logf.touch()
    chown_postgres(logf)
    run(as_postgres([PGBOUNCER_BIN, "-d", str(ini_path)]), timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pid_alive(handle.pid()):
        time.sleep(0.1)
    wait_port(port, 10, pid=handle.pid(), what="PgBouncer")
    handle.started = True
    return handle

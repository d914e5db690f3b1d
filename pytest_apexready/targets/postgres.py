"""PostgreSQL and PgBouncer, read-only through psycopg 3."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..outcomes import TargetUnavailable
from .base import Target, describe_error

_READ_ONLY = "-c default_transaction_read_only=on -c statement_timeout={ms} -c application_name=apexready"


class Postgres(Target):
    """Every session is opened with ``default_transaction_read_only=on``."""

    startup_options = True

    @property
    def where(self) -> str:
        s = self.settings
        return f"{self.name} {s.get('host', '?')}:{s.get('port', 5432)}/{s.get('dbname', '?')}"

    @property
    def probe_budget(self) -> float:
        return 2 * max(2.0, self.timeout)  # libpq waits at least 2 s, whatever connect_timeout says

    def _connect(self) -> Any:
        s = self.settings
        kwargs: dict[str, Any] = dict(
            host=s.get("host", "127.0.0.1"), port=s.get("port", 5432), dbname=s.get("dbname"),
            user=s.get("user"), connect_timeout=max(1, round(self.timeout)), autocommit=True,
            sslmode=s.get("sslmode", "prefer"),
        )
        if "password" in s:
            kwargs["password"] = s["password"].reveal()
        if self.startup_options:
            kwargs["options"] = _READ_ONLY.format(ms=int(self.timeout * 1000) * 10)
        else:
            # PgBouncer's admin console speaks the simple query protocol only
            kwargs["prepare_threshold"] = None
            kwargs["cursor_factory"] = psycopg.ClientCursor
        return psycopg.connect(**kwargs)

    def _probe_read(self) -> None:
        self.query("SELECT 1")

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        conn = self.client()
        self._trace("sql", sql, params)
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.errors.InsufficientPrivilege as exc:
            # this query's privilege, not the target: only the item that asked errors (not remembered)
            raise TargetUnavailable(self.name, self.where, permission_denied(exc, sql)) from None
        except psycopg.OperationalError as exc:
            raise self.unavailable(exc) from None

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def show(self, setting: str) -> str:
        return str(self.scalar(f"SHOW {setting}"))

    def setting_bytes(self, setting: str) -> int:
        """A memory setting in bytes, read from pg_settings (unit-aware)."""
        row = self.query("SELECT setting::bigint AS v, unit FROM pg_settings WHERE name = %s", (setting,))[0]
        units = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "16MB": 16 * 1024**2, "GB": 1024**3}
        return int(row["v"]) * units.get(row["unit"] or "B", 1)


def permission_denied(exc: BaseException, sql: str) -> str:
    """'permission denied: <the server's words, which name the object and privilege>; the query'."""
    text = " ".join(str(exc).split())[:300]
    return (f"permission denied (InsufficientPrivilege): {text}; the checker's role lacks the privilege this "
            f"item's query needs ({' '.join(sql.split())[:120]}); grant it, e.g. pg_read_all_stats or "
            "pg_read_all_settings, or SELECT on the object named")


class PgBouncer(Postgres):
    """PgBouncer: ``dbname`` is the pooled database; ``SHOW ...`` goes to its admin console."""

    startup_options = False

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self._admin = Postgres(f"{name} admin console", {**settings, "dbname": "pgbouncer"})
        self._admin.startup_options = False

    def _probe_read(self) -> None:
        self.show_table("VERSION")

    def probe(self) -> TargetUnavailable | None:
        """The admin console only (SHOW VERSION): whether the pool serves ``dbname`` is what 2.1.5 checks,
        so a pool that does not serve it must fail that item, not make the whole target "could not check"."""
        if self._failure is None:
            with contextlib.suppress(TargetUnavailable):  # show_table remembers the failure
                self._probe_read()
        return self._failure

    def show_table(self, what: str) -> list[dict[str, Any]]:
        """``SHOW POOLS`` / ``SHOW CONFIG`` / ``SHOW DATABASES`` on the admin console (read-only by nature)."""
        if self._failure is not None:
            raise self._failure
        try:
            return self._admin.query(f"SHOW {what}")
        except Exception as exc:  # the admin console's failure is this target's failure, under this target's name
            known = exc if isinstance(exc, TargetUnavailable) else self._admin.failure
            reason = known.reason if known is not None else describe_error(exc)
            self._failure = TargetUnavailable(self.name, self._admin.where, reason)
            raise self._failure from None

    def close(self) -> None:
        super().close()
        self._admin.close()

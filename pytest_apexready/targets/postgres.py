"""PostgreSQL and PgBouncer, read-only through psycopg 3."""

from __future__ import annotations

from typing import Any

from . import Target

_READ_ONLY = "-c default_transaction_read_only=on -c statement_timeout={ms} -c application_name=apexready"


class Postgres(Target):
    """Every session is opened with ``default_transaction_read_only=on``."""

    startup_options = True

    @property
    def where(self) -> str:
        s = self.settings
        return f"{self.name} {s.get('host', '?')}:{s.get('port', 5432)}/{s.get('dbname', '?')}"

    def _connect(self) -> Any:
        import psycopg

        s = self.settings
        kwargs: dict[str, Any] = dict(
            host=s.get("host", "127.0.0.1"), port=s.get("port", 5432), dbname=s.get("dbname"),
            user=s.get("user"), connect_timeout=max(1, int(round(self.timeout))), autocommit=True,
            sslmode=s.get("sslmode", "prefer"),
        )
        if "password" in s:
            kwargs["password"] = s["password"].reveal()
        if self.startup_options:
            kwargs["options"] = _READ_ONLY.format(ms=int(self.timeout * 1000) * 10)
        else:
            kwargs["prepare_threshold"] = None
        return psycopg.connect(**kwargs)

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        conn = self.client()
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        except (psycopg.OperationalError, psycopg.errors.InsufficientPrivilege) as exc:
            raise self.unavailable(exc) from None

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def show(self, setting: str) -> str:
        return self.scalar(f"SHOW {setting}")

    def setting_bytes(self, setting: str) -> int:
        """A memory setting in bytes, read from pg_settings (unit-aware)."""
        row = self.query("SELECT setting::bigint AS v, unit FROM pg_settings WHERE name = %s", (setting,))[0]
        units = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "16MB": 16 * 1024**2, "GB": 1024**3}
        return int(row["v"]) * units.get(row["unit"] or "B", 1)


class PgBouncer(Postgres):
    """The PgBouncer admin console (``SHOW POOLS``, ``SHOW CONFIG``): no startup options allowed."""

    startup_options = False

    def show_table(self, what: str) -> list[dict[str, Any]]:
        return self.query(f"SHOW {what}")

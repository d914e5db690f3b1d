"""ClickHouse through clickhouse-connect, with ``readonly=1`` on every query."""

from __future__ import annotations

from typing import Any

from . import Target


class ClickHouse(Target):
    @property
    def where(self) -> str:
        s = self.settings
        return f"{self.name} {s.get('host', '?')}:{s.get('port', 8123)}/{s.get('database', 'default')}"

    def _connect(self) -> Any:
        import clickhouse_connect

        s = self.settings
        return clickhouse_connect.get_client(
            host=s.get("host", "127.0.0.1"), port=s.get("port", 8123), username=s.get("username", "default"),
            password=s["password"].reveal() if "password" in s else "", database=s.get("database", "default"),
            secure=s.get("secure", False), connect_timeout=self.timeout, send_receive_timeout=self.timeout * 5,
            settings={"readonly": 1}, autogenerate_session_id=False,
        )

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from clickhouse_connect.driver.exceptions import OperationalError

        client = self.client()
        try:
            result = client.query(sql, parameters=params)
        except OperationalError as exc:
            raise self.unavailable(exc) from None
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

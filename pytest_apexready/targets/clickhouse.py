"""ClickHouse through clickhouse-connect, with ``readonly=1`` on every query.

A server too old for the driver (clickhouse-connect refuses e.g. ClickHouse 18.16 while
connecting) is still asked its version with one plain HTTP GET, so that the version gate
(1.1.3) can fail naming the version found while every other item errors with one reason.
"""

from __future__ import annotations

import math
import re
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from urllib3 import Timeout

from ..outcomes import TargetUnavailable
from .base import Target, describe_error

#: servers older than this are below what clickhouse-connect supports
DRIVER_MIN_MAJOR = 22
_VERSION_RE = re.compile(r"^\d+(\.\d+)+$")
_NET_RE = re.compile(r"(\[Errno -?\d+\][^\"')]*|Read timed out|timed out|Name or service not known)")


class ClickHouse(Target):
    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self._version: str | None = None
        #: how the version was read (for evidence)
        self.version_source = ""

    @property
    def where(self) -> str:
        s = self.settings
        return f"{self.name} {s.get('host', '?')}:{s.get('port', 8123)}/{s.get('database', 'default')}"

    @property
    def url(self) -> str:
        s = self.settings
        scheme = "https" if s.get("secure", False) else "http"
        return f"{scheme}://{s.get('host', '127.0.0.1')}:{s.get('port', 8123)}/"

    def _connect(self) -> Any:
        s = self.settings
        # get_client asks the server for its version and settings: a silent server must cost one
        # timeout there, so reads wait self.timeout until connected (the driver takes whole seconds)
        handshake = max(1, math.ceil(self.timeout))
        try:
            client = clickhouse_connect.get_client(
                host=s.get("host", "127.0.0.1"), port=s.get("port", 8123), username=s.get("username", "default"),
                password=self._password(), database=s.get("database", "default"),
                secure=s.get("secure", False), connect_timeout=handshake, send_receive_timeout=handshake,
                settings={"readonly": 1}, autogenerate_session_id=False,
            )
        except OperationalError as exc:  # nothing answered: refused, timed out, unresolvable
            m = _NET_RE.search(str(exc))
            raise TargetUnavailable(
                self.name, self.where,
                f"cannot connect over HTTP: {m.group(1).strip() if m else describe_error(exc)}") from None
        except Exception as exc:  # the server answered, but the driver gave up
            version = self._raw_version()
            if version is None:
                raise
            from importlib.metadata import version as dist_version

            driver = f"clickhouse-connect {dist_version('clickhouse-connect')}"
            if int(version.split(".")[0]) < DRIVER_MIN_MAJOR:
                why = f"but the driver {driver} cannot work with this server version"
            else:
                why = f"but the driver {driver} could not open a session"
            raise TargetUnavailable(self.name, self.where,
                                    f"ClickHouse {version} answered, {why} ({describe_error(exc)})") from None
        # connected: a check's query may take longer than the handshake
        client.timeout = Timeout(connect=self.timeout, read=self.timeout * 5)  # type: ignore[attr-defined]
        return client

    def _probe_read(self) -> None:
        self.query("SELECT 1")

    def _password(self) -> str:
        s = self.settings
        return s["password"].reveal() if "password" in s else ""

    def _raw_version(self) -> str | None:
        """``SELECT version()`` with one plain HTTP GET (read-only by the HTTP method and readonly=1)."""
        try:
            import requests
        except ImportError:  # not clickhouse-connect's dependency: without it, only the driver's error is told
            return None

        try:
            resp = requests.get(self.url, params={"query": "SELECT version()", "readonly": "1"},
                                auth=(self.settings.get("username", "default"), self._password()),
                                timeout=self.timeout, verify=True)
        except requests.RequestException:
            return None
        text = resp.text.strip()
        if resp.status_code != 200 or not _VERSION_RE.match(text):
            return None
        self._version = text
        self.version_source = f"HTTP GET {self.url}?query=SELECT version() (the driver could not be used)"
        return text

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        client = self.client()
        try:
            self._trace("clickhouse", sql)
            result = client.query(sql, parameters=params)
        except OperationalError as exc:
            raise self.unavailable(exc) from None
        except DatabaseError as exc:  # the server refused this query (rights, unknown column): not remembered
            if "ACCESS_DENIED" in str(exc) or "Code: 497" in str(exc):  # its words name the grant it needs
                raise TargetUnavailable(self.name, self.where, "permission denied (ACCESS_DENIED, code 497) for this "
                                        f"item's query: {describe_error(exc)}; grant the checker that privilege") \
                    from None
            raise TargetUnavailable(self.name, self.where, f"query refused: {describe_error(exc)}") from None
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def server_version(self) -> str:
        """The server's ``version()``; through plain HTTP if the driver cannot talk to the server."""
        if self._version is not None:
            return self._version
        try:
            version = str(self.scalar("SELECT version()"))
        except TargetUnavailable:
            if self._version is not None:  # set while the driver failed to connect
                return self._version
            raise
        self._version = version
        self.version_source = f"SELECT version() on {self.where}"
        return version

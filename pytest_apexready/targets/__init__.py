"""Read-only clients for the systems a checklist inspects.

One thin module per backend, imported only when a check asks for that target
(so ``-m database`` never imports the Kubernetes client). Each client is
created once per session, connects lazily with a timeout, and remembers a
failure: after the first timeout every further call fails at once with the
same reason, so an unreachable target costs one timeout, not one per item.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from ..outcomes import TargetUnavailable
from ..profile import Profile

__all__ = ["Target", "open_target", "BACKENDS"]

#: target name in the profile -> "module:Class" below this package
BACKENDS = {
    "postgres": "postgres:Postgres",
    "postgres_replica": "postgres:Postgres",
    "pgbouncer": "postgres:PgBouncer",
    "redis": "redis:Redis",
    "redis_replica": "redis:Redis",
    "redis_sentinel": "redis:Sentinel",
    "clickhouse": "clickhouse:ClickHouse",
    "kubernetes": "k8s:Kubernetes",
}

DEFAULT_TIMEOUT = 3.0


class Target:
    """Base: lazy connection, a remembered failure, and a description without secrets."""

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name = name
        self.settings = settings
        self.timeout = float(settings.get("connect_timeout", DEFAULT_TIMEOUT))
        self._client: Any = None
        self._failure: TargetUnavailable | None = None

    @property
    def where(self) -> str:
        return f"{self.settings.get('host', '?')}:{self.settings.get('port', '?')}"

    def _connect(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def client(self) -> Any:
        if self._failure is not None:
            raise self._failure
        if self._client is None:
            try:
                self._client = self._connect()
            except TargetUnavailable as exc:
                self._failure = exc
                raise
            except Exception as exc:  # noqa: BLE001 - every driver has its own errors
                self._failure = TargetUnavailable(
                    self.name, self.where, f"{_reason(exc)} (connect timeout {self.timeout:g} s; "
                    "every item of this target is reported with this one reason)")
                raise self._failure from None
        return self._client

    def _trace(self, kind: str, *payload: Any) -> None:
        """Append what is sent to $APEX_TRACE_QUERIES (used by benchmarks/database_run.py to replay it)."""
        path = os.environ.get("APEX_TRACE_QUERIES")
        if path:
            line = json.dumps({"target": self.name, "kind": kind, "payload": payload}, default=str)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def unavailable(self, exc: BaseException) -> TargetUnavailable:
        """Turn a driver error after connecting into a remembered 'could not check'."""
        self._failure = TargetUnavailable(self.name, self.where, _reason(exc))
        return self._failure

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.where}>"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def open_target(profile: Profile, name: str) -> Target:
    settings = profile.target(name)
    if settings is None:
        raise TargetUnavailable(name, "not configured",
                                f"profile {profile.path.name} has no [targets.{name}] table; add it, "
                                f"or declare the component under [absent] with a reason")
    module, cls = BACKENDS[name].split(":")
    backend = importlib.import_module(f"{__name__}.{module}")
    return getattr(backend, cls)(name, settings)

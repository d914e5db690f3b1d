"""The base of every client: lazy connection, a remembered failure, a probe, a description without secrets.

A client is created once per session and connects on first use, with a timeout. Its first
failure is remembered: every later call fails at once with the same reason, so an unreachable
target costs one timeout, not one per item. :meth:`Target.probe` does the same work up front
(connect, authenticate, one cheap read), so that the plugin can pay the timeouts of all dead
targets at once, concurrently, when the session starts (see :mod:`.probe`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any

from ..outcomes import TargetUnavailable

__all__ = ["DEFAULT_TIMEOUT", "Target", "describe_error", "missing_library"]

DEFAULT_TIMEOUT = 3.0


class Target:
    """Base: lazy connection, a remembered failure, and a description without secrets.

    A subclass implements :meth:`_connect` (return the driver's client; connecting and
    authenticating happen there) and :meth:`_probe_read` (one cheap read, e.g. ``SELECT 1``).
    """

    #: the pip requirement of the client library, named when it is missing (set from the registry)
    requires = ""

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name = name
        self.settings = settings
        self.timeout = float(settings.get("connect_timeout", DEFAULT_TIMEOUT))
        self._client: Any = None
        self._failure: TargetUnavailable | None = None
        # a probe thread that outlived probe_all's deadline must not race a check into a second connect
        self._connect_lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"{self.settings.get('host', '?')}:{self.settings.get('port', '?')}"

    @property
    def failure(self) -> TargetUnavailable | None:
        """The remembered failure, if any: every item of this target is reported with it."""
        return self._failure

    @property
    def probe_budget(self) -> float:
        """The longest :meth:`probe` can take: one connect timeout, then one read timeout."""
        return 2 * self.timeout

    def _connect(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _probe_read(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def client(self) -> Any:
        if self._failure is not None:
            raise self._failure
        with self._connect_lock:
            if self._failure is not None:
                raise self._failure
            if self._client is None:
                try:
                    self._client = self._connect()
                except TargetUnavailable as exc:
                    self._failure = exc
                    raise
                except ImportError as exc:  # the client library is not installed (or broken)
                    self._failure = TargetUnavailable(self.name, self.where, missing_library(exc, self.requires))
                    raise self._failure from None
                except Exception as exc:  # every driver has its own errors
                    self._failure = TargetUnavailable(
                        self.name, self.where, f"{describe_error(exc)} (connect timeout {self.timeout:g} s; "
                        "every item of this target is reported with this one reason)")
                    raise self._failure from None
            return self._client

    def probe(self) -> TargetUnavailable | None:
        """Connect, authenticate and do one cheap read; return the failure (remembered) or None.

        A failure here is remembered exactly like one of the lazy connect: the checks of this
        target then fail at once with this reason instead of waiting for their own timeout.
        """
        if self._failure is None:
            try:
                self.client()
                self._probe_read()
            except TargetUnavailable as exc:
                # a read refused only for one query is not remembered by the client; for the probe
                # it is: a target that cannot answer SELECT 1 cannot answer a check either
                self._failure = self._failure or exc
            except Exception as exc:  # a driver error the client did not translate
                self.unavailable(exc)
        return self._failure

    def remember(self, failure: TargetUnavailable) -> TargetUnavailable:
        """Remember a failure found outside the client (the first one stays)."""
        if self._failure is None:
            self._failure = failure
        return self._failure

    def give_up(self, seconds: float) -> TargetUnavailable:
        """Remember that a probe got no answer within ``seconds`` (called by probe_all at its deadline)."""
        return self.remember(TargetUnavailable(
            self.name, self.where, f"no answer within {seconds:g} s (connect timeout {self.timeout:g} s; "
            "every item of this target is reported with this one reason)"))

    def _trace(self, kind: str, *payload: Any) -> None:
        """Append what is sent to $APEX_TRACE_QUERIES (used by benchmarks/database_run.py to replay it)."""
        path = os.environ.get("APEX_TRACE_QUERIES")
        if path:
            line = json.dumps({"target": self.name, "kind": kind, "payload": payload}, default=str)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def unavailable(self, exc: BaseException) -> TargetUnavailable:
        """Turn a driver error after connecting into a remembered 'could not check'."""
        self._failure = TargetUnavailable(self.name, self.where, describe_error(exc))
        return self._failure

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            # closing at the end of a run: a driver's complaint has no one left to read it
            with contextlib.suppress(Exception):
                client.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.where}>"


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters of message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def missing_library(exc: ImportError, requires: str) -> str:
    fix = f"pip install '{requires}'" if requires else "install the client library"
    return f"its client library cannot be imported ({describe_error(exc)}); install it: {fix}"

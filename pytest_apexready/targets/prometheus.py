"""Prometheus over its HTTP API (requests), and the HTTP base the other observability clients share.

Read-only: GETs, and POSTs to the query endpoints (``/api/v1/query``, ``/api/v1/query_range``),
which evaluate an expression and write nothing. Each distinct PromQL expression is sent once per
run: every query is evaluated at one instant pinned when the client connects, and its answer is
cached, so two checks (or two dashboard panels) with the same expression cost one request.

An empty vector is returned as an empty list: the checks report it as "no data", never as 0.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from ..outcomes import TargetUnavailable
from ..redact import Secret
from .base import Target

__all__ = ["HttpApi", "Prometheus", "QueryError", "Sample"]

USER_AGENT = "pytest-apexready (read-only checker)"


#: one series of a range query: its labels and its (timestamp, value) points
Series = tuple[dict[str, str], list[tuple[float, float]]]


class QueryError(Exception):
    """The server refused an expression (bad PromQL/LogQL/LogsQL): a finding of the check, not a dead target."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class HttpApi(Target):
    """A JSON HTTP API at ``url``: one requests Session, bearer or basic auth through ``${VAR}``,
    ``ca_bundle``, connect and read timeouts, and a record of every request sent (method, path)."""

    #: a cheap, authenticated read for the start-up probe
    probe_path = "/"
    #: what the API is called in messages
    api = "HTTP API"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.read_timeout = float(settings.get("read_timeout", 10))
        self.base = str(settings.get("url", "")).rstrip("/")
        #: (method, path) of every request sent, for the read-only proof and the benchmark
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"{self.api} {self.base or '(no url)'}"

    def _connect(self) -> Any:
        import requests

        if not self.base:
            raise TargetUnavailable(self.name, f"[targets.{self.name}]", f"no url; fix: add url = \"https://...\" "
                                    f"to [targets.{self.name}]")
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        token = _plain(self.settings.get("bearer_token") or self.settings.get("token"))
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        if self.settings.get("username"):
            session.auth = (str(self.settings["username"]), _plain(self.settings.get("password")))
        if self.settings.get("org_id"):
            session.headers["X-Scope-OrgID"] = str(self.settings["org_id"])
        if self.settings.get("ca_bundle"):
            session.verify = str(self.settings["ca_bundle"])
        return session

    def _probe_read(self) -> None:
        self.request("GET", self.probe_path)

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                data: dict[str, Any] | None = None, allow: tuple[int, ...] = ()) -> Any:
        """Send one request; returns the requests.Response for any status below 500 except 401/403
        (unless listed in ``allow``: a 403 on one object is a finding, not a refused login).

        Connection errors, timeouts, refused authentication and 5xx make the target unavailable
        (remembered: its other items fail at once with the same reason).
        """
        import requests

        if method not in ("GET", "POST"):  # read-only by construction
            raise ValueError(f"{self.api}: {method} is not sent by a read-only checker")
        session = self.client()
        self._trace("http", method, path, params or data)
        with self._lock:
            self.sent.append((method, path))
        try:
            resp = session.request(method, self.base + path, params=params, data=data,
                                   timeout=(self.timeout, self.read_timeout))
        except requests.RequestException as exc:
            raise self.unavailable(exc) from None
        if resp.status_code in (401, 403) and resp.status_code not in allow:
            self._failure = TargetUnavailable(
                self.name, self.where, f"authentication refused: {method} {path} answered HTTP {resp.status_code}; "
                f"fix: set the credentials of [targets.{self.name}] (bearer_token, or username and password)")
            raise self._failure
        if resp.status_code >= 500:
            raise self.unavailable(RuntimeError(f"{method} {path} answered HTTP {resp.status_code}: "
                                                f"{' '.join(resp.text[:200].split())}"))
        return resp

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        resp = self.request("GET", path, params=params)
        if resp.status_code != 200:
            raise TargetUnavailable(self.name, f"{self.base}{path}", f"GET {path} answered HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise TargetUnavailable(self.name, f"{self.base}{path}",
                                    f"GET {path}: the answer is not JSON: {resp.text[:80]!r}") from None


class Prometheus(HttpApi):
    """``[targets.prometheus]``: instant and range queries, rules, targets, alerts."""

    probe_path = "/api/v1/status/buildinfo"
    api = "Prometheus"

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self._cache: dict[tuple[Any, ...], Any] = {}
        #: every query of the run is evaluated at this instant (pinned on first use)
        self.at: float | None = None
        #: distinct expressions sent, in order (one per expression per run)
        self.queries: list[str] = []

    def _cached(self, key: tuple[Any, ...], fetch: Any) -> Any:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = fetch()
        with self._lock:
            return self._cache.setdefault(key, value)

    def _api(self, path: str, form: dict[str, Any]) -> Any:
        resp = self.request("POST", path, data=form)
        try:
            body = resp.json()
        except ValueError:
            raise TargetUnavailable(self.name, self.where, f"POST {path}: not a Prometheus API answer "
                                    f"(HTTP {resp.status_code}: {resp.text[:80]!r})") from None
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', resp.text[:200])}")
        return body["data"]

    def query(self, expr: str) -> list[Sample]:
        """Instant query at the run's instant; [] is no data. Scalars come back as one unlabelled sample."""
        if self.at is None:
            self.at = round(time.time(), 3)  # as sent: Prometheus answers in milliseconds
        at = self.at

        def fetch() -> list[Sample]:
            self.queries.append(expr)
            data = self._api("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
            if data["resultType"] in ("scalar", "string"):
                return [Sample({}, float(data["result"][1]))]
            return [Sample(r.get("metric", {}), float(r["value"][1])) for r in data["result"]]

        result: list[Sample] = self._cached(("query", expr), fetch)
        return result

    def query_range(self, expr: str, seconds: float, step: float) -> list[Series]:
        """Range query over the ``seconds`` before the run's instant; one (labels, [(t, v), ...]) per series."""
        if self.at is None:
            self.at = round(time.time(), 3)  # as sent: Prometheus answers in milliseconds
        at = self.at

        def fetch() -> list[Series]:
            self.queries.append(f"{expr} [range {seconds:g}s step {step:g}s]")
            data = self._api("/api/v1/query_range", {"query": expr, "start": f"{at - seconds:.3f}",
                                                      "end": f"{at:.3f}", "step": f"{step:g}"})
            return [(r.get("metric", {}), [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]

        result: list[Series] = self._cached(("range", expr, seconds, step), fetch)
        return result

    def rules(self) -> list[dict[str, Any]]:
        """The rule groups Prometheus has loaded (``GET /api/v1/rules``)."""
        groups: list[dict[str, Any]] = self._cached(
            ("rules",), lambda: self.get_json("/api/v1/rules")["data"]["groups"])
        return groups

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets (``GET /api/v1/targets?state=active``)."""
        active: list[dict[str, Any]] = self._cached(
            ("targets",), lambda: self.get_json("/api/v1/targets", {"state": "active"})["data"]["activeTargets"])
        return active

    def describe(self, expr: str) -> str:
        return f"Prometheus {self.base} query {expr}"


def _plain(value: Any) -> str:
    """A setting's text; a Secret is revealed only here, into the request header."""
    if value is None:
        return ""
    return str(value.reveal()) if isinstance(value, Secret) else str(value)

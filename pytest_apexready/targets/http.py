"""The public HTTP(S) edge through requests: one Session, bounded retries, timeouts, bodies read
up to a size limit.

Read-only: GET, HEAD and OPTIONS, plus two kinds of POST that write nothing: signing in as the
checker account (and refreshing its token), and validation probes whose body the API must
reject before it writes anything (the checks that send them say so in their evidence).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..outcomes import TargetUnavailable
from . import Target

__all__ = ["DEFAULT_PATHS", "USER_AGENT", "Http", "HttpResponse"]

#: API paths the checks use; a profile overrides any of them with ``paths = { name = "/..." }``
DEFAULT_PATHS = {
    "health": "/health",
    "openapi": "/openapi.json",
    "signin": "/api/v1/auth/signin",
    "refresh": "/api/v1/auth/refresh",
    "signup": "/api/v1/auth/signup",
    "export": "/api/v1/me/export",
    "privacy": "/privacy",
}
USER_AGENT = "pytest-apexready (read-only checker)"
DEFAULT_MAX_BODY = 5 * 1024 * 1024
POST_PURPOSES = ("sign-in", "validation-probe")


class NotJson(TargetUnavailable, ValueError):
    """A body that should be JSON is not (an HTML error page, say): the item could not be checked."""


@dataclass(frozen=True)
class HttpResponse:
    method: str
    url: str
    status: int
    headers: dict[str, str]               # lower-case names
    body: bytes
    redirects: tuple[str, ...] = ()       # "301 http://..." for each hop before this one
    elapsed_s: float = 0.0
    raw_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    target: str = "http"
    truncated: bool = False               # only the first bytes were read (Http.get(prefix=...))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def line(self) -> str:
        return f"{self.method} {self.url} -> {self.status}"

    def json(self) -> Any:
        """The body as JSON; an HTML error page or other non-JSON body is a clear error naming the URL."""
        import json

        ctype = self.header("content-type") or "none"
        try:
            return json.loads(self.body)
        except ValueError:
            start = " ".join(self.text[:80].split())
            raise NotJson(self.target, self.url, f"{self.line}: expected a JSON body, got Content-Type {ctype} "
                          f"starting {start!r} (an error page from a proxy?)") from None


class Http(Target):
    """The API, console, status page and CDN named in ``[targets.http]``."""

    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.read_timeout = float(settings.get("read_timeout", 10))
        self.max_body = int(settings.get("max_body_bytes", DEFAULT_MAX_BODY))
        self._addresses: dict[str, str] = {}
        self._cache: dict[tuple[str, str, bool], HttpResponse] = {}
        self._tokens: dict[str, Any] | None = None

    # ------------------------------------------------------------------ settings
    @property
    def where(self) -> str:
        return self.url("api")

    def url(self, kind: str, path: str = "") -> str:
        """Base URL of ``api``, ``console``, ``status`` or ``cdn`` (from ``<kind>_url``), joined with ``path``."""
        base = str(self.settings.get(f"{kind}_url", "")).rstrip("/")
        if not base:
            raise TargetUnavailable(self.name, f"{kind}_url", f"the profile's [targets.{self.name}] has no "
                                    f"{kind}_url; fix: add it (e.g. https://{kind}.example.com)")
        return base + path if path.startswith("/") or not path else urljoin(base + "/", path)

    def path(self, name: str) -> str:
        return str({**DEFAULT_PATHS, **self.settings.get("paths", {})}[name])

    # ------------------------------------------------------------------ connection
    def _resolve(self, host: str) -> str:
        from .dns import pinned_address

        return pinned_address(self, self._addresses, host,
                              f"create the record, or correct the URL in [targets.{self.name}]")

    def _connect(self) -> Any:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        # no proxies, netrc or REQUESTS_CA_BUNDLE from the environment: the profile says what is trusted
        session.trust_env = False
        session.max_redirects = int(self.settings.get("max_redirects", 5))
        ca = self.settings.get("ca_bundle")
        if ca:
            if not os.path.isfile(ca):
                raise TargetUnavailable(self.name, str(ca), "ca_bundle: no such file; fix the path in "
                                        f"[targets.{self.name}] (relative paths are from the project root)")
            session.verify = str(ca)
        retries = int(self.settings.get("retries", 1))
        # connect and read errors are not retried: an unreachable edge costs one timeout; only a
        # gateway error on an idempotent request is tried again
        retry = Retry(total=retries, connect=0, read=0, other=0, status=retries, redirect=False,
                      status_forcelist=(502, 503, 504), allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
                      backoff_factor=0.2, raise_on_status=False, respect_retry_after_header=False)
        adapter = _adapter(HTTPAdapter, self._addresses, max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # the first read: the API's health endpoint (also proves the name, TLS and route work)
        self._send(session, "GET", self.url("api", self.path("health")), {}, None, True)
        return session

    def _probe_read(self) -> None:
        """Nothing more: connecting already made one read (see _connect)."""

    def close(self) -> None:
        self._cache.clear()
        super().close()

    # ------------------------------------------------------------------ requests
    def get(self, url: str, *, headers: dict[str, str] | None = None, auth: bool = False,
            follow: bool = True, prefix: int | None = None) -> HttpResponse:
        """GET once per run (cached by URL, headers and auth), following redirects unless ``follow=False``.
        ``prefix``: read only the first that many bytes (a development bundle can be over max_body_bytes,
        and its first bytes already tell); the response's ``truncated`` says whether more was left."""
        key = (url, repr(sorted((headers or {}).items())) + ("" if follow else " nofollow") +
               (f" prefix={prefix}" if prefix else ""), auth)
        if key not in self._cache:
            self._cache[key] = self.request("GET", url, headers=headers, auth=auth, follow=follow, prefix=prefix)
        return self._cache[key]

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, auth: bool = False,
                follow: bool = True, json_body: Any = None, purpose: str | None = None,
                prefix: int | None = None) -> HttpResponse:
        method = method.upper()
        if method not in ("GET", "HEAD", "OPTIONS", "POST"):
            raise PermissionError(f"apexready sends GET, HEAD, OPTIONS and validation-only POSTs; not {method}")
        if method == "POST" and purpose not in POST_PURPOSES:
            raise PermissionError(f"a POST must say it writes nothing: purpose one of {POST_PURPOSES}")
        session = self.client()
        hdrs = dict(headers or {})
        if auth:
            hdrs["Authorization"] = f"Bearer {self.tokens()['accessToken']}"
        return self._send(session, method, url, hdrs, json_body, follow, prefix)

    def _send(self, session: Any, method: str, url: str, headers: dict[str, str], json_body: Any,
              follow: bool, prefix: int | None = None) -> HttpResponse:
        import requests

        host = urlsplit(url).hostname or ""
        self._resolve(host)
        self._trace("http", method, url)
        t0 = time.monotonic()
        try:
            resp = session.request(method, url, headers=headers, json=json_body, allow_redirects=follow,
                                   stream=True, timeout=(self.timeout, self.read_timeout))
        except requests.TooManyRedirects:
            raise TargetUnavailable(self.name, url, f"redirect loop: more than {session.max_redirects} redirects; "
                                    "fix the server's redirect rules") from None
        except requests.exceptions.SSLError as exc:
            raise TargetUnavailable(self.name, url, f"TLS: {_short(exc)}; if the CA is private, name its "
                                    f"certificate as ca_bundle in [targets.{self.name}]") from None
        except requests.RequestException as exc:
            raise TargetUnavailable(self.name, url, f"{type(exc).__name__}: {_short(exc)} (timeouts: connect "
                                    f"{self.timeout:g} s, read {self.read_timeout:g} s)") from None
        try:
            body, truncated = self._read_limited(resp, url, prefix)
        finally:
            resp.close()
        if resp.status_code in (502, 504):
            # a gateway error is the proxy saying the service behind it is gone: could not check
            raise TargetUnavailable(self.name, url, f"{resp.status_code} {resp.reason} from the proxy (after "
                                    f"{int(self.settings.get('retries', 1)) + 1} attempts for GET): the service "
                                    "behind it does not answer")
        redirects = tuple(f"{r.status_code} {r.url}" for r in resp.history)
        return HttpResponse(method, url, resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, body,
                            redirects, time.monotonic() - t0, tuple(resp.raw.headers.items()), self.name, truncated)

    def _read_limited(self, resp: Any, url: str, prefix: int | None = None) -> tuple[bytes, bool]:
        """The body up to max_body_bytes (over it: could not check), or its first ``prefix`` bytes."""
        import requests

        declared = resp.headers.get("Content-Length", "")
        if prefix is None and declared.isdigit() and int(declared) > self.max_body:
            raise TargetUnavailable(self.name, url, f"response of {int(declared):,} bytes is over the client's "
                                    f"limit of {self.max_body:,} (max_body_bytes); not read")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_content(65536):
                size += len(chunk)
                if prefix is not None and size >= prefix:
                    chunks.append(chunk[:len(chunk) - (size - prefix)])
                    return b"".join(chunks), True
                if size > self.max_body:
                    raise TargetUnavailable(self.name, url, f"response body over the client's limit of "
                                            f"{self.max_body:,} bytes (max_body_bytes); stopped reading there")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise TargetUnavailable(self.name, url, f"{type(exc).__name__} while reading the body: "
                                    f"{_short(exc)}") from None
        return b"".join(chunks), False

    # ------------------------------------------------------------------ the checker account
    def tokens(self) -> dict[str, Any]:
        """Sign in once as the checker account (``checker_email`` / ``checker_password``); the tokens."""
        if self._tokens is None:
            email, password = self.settings.get("checker_email"), self.settings.get("checker_password")
            url = self.url("api", self.path("signin"))
            if not email or not password:
                raise TargetUnavailable(self.name, url, f"no checker account: set checker_email and checker_password "
                                        f"(as ${{VAR}}) in [targets.{self.name}]")
            resp = self.request("POST", url, json_body={"email": email, "password": password.reveal()},
                                purpose="sign-in")
            if resp.status != 200:
                raise TargetUnavailable(self.name, url, f"sign-in as {email} answered {resp.status}; check the "
                                        "checker account and its password variable")
            try:
                self._tokens = resp.json()
            except ValueError as exc:
                raise TargetUnavailable(self.name, url, str(exc)) from None
            if not isinstance(self._tokens, dict) or "accessToken" not in self._tokens:
                raise TargetUnavailable(self.name, url, "sign-in answered 200 without accessToken")
        return self._tokens


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def _adapter(base: Any, addresses: dict[str, str], **kwargs: Any) -> Any:
    """An HTTPAdapter whose connections dial the address resolved for their host (through the profile's
    ``nameservers``) while TLS still verifies, and SNI still names, the host itself."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util import connection

    class _Dial:
        # urllib3's own _new_conn dials self.host; here the address comes from the profile's nameservers
        host: str
        port: int
        timeout: Any
        source_address: Any
        socket_options: Any

        def _new_conn(self) -> socket.socket:
            address = addresses.get(self.host, self.host)
            try:
                return connection.create_connection((address, self.port), self.timeout,
                                                    source_address=self.source_address,
                                                    socket_options=self.socket_options)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connection to {self.host} ({address}) timed out "
                                                f"(connect timeout {self.timeout})") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"cannot connect to {self.host} ({address}): {exc}"  # type: ignore[arg-type]
                                         ) from exc

    class _HTTPConn(_Dial, HTTPConnection):
        pass

    class _HTTPSConn(_Dial, HTTPSConnection):
        pass

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConn

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConn

    class _Adapter(base):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kw: Any) -> None:
            super().init_poolmanager(*args, **kw)
            self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    return _Adapter(**kwargs)

"""Rules the edge checks share: reading Cache-Control, rate-limit headers, the OpenAPI document, the
console's HTML and JS, and JSON web tokens. Pure functions over what the clients read, and a few
cached reads through the ``http`` client (each URL is fetched once per run)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from .outcomes import Finding
from .targets.http import Http, HttpResponse

__all__ = [
    "asset_urls", "bundle_findings", "cache_control", "certificate_findings", "console_api_paths", "decode_jwt",
    "get_routes", "list_body", "openapi", "origin", "post_routes", "probe_rate_limit", "rate_limit", "validation_probe",
]

#: the body of a validation probe: no API schema accepts an unknown single field
PROBE_BODY = {"apexready_probe": "a deliberately invalid body; the API must reject it before writing"}


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def cache_control(value: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip('"') or None
    return out


def rate_limit(headers: dict[str, str]) -> tuple[int | None, int | None]:
    """(limit, window in seconds) from the IETF RateLimit headers (drafts 6-8) or X-RateLimit-*."""
    policy = headers.get("ratelimit-policy")
    if policy:
        first = policy.split(",")[0]
        quota = re.search(r"(?:^|;)\s*q=(\d+)", first) or re.match(r"\s*(\d+)", first)
        window = re.search(r"(?:^|;)\s*w=(\d+)", first)
        return (int(quota.group(1)) if quota else None, int(window.group(1)) if window else None)
    limit = headers.get("ratelimit-limit") or headers.get("x-ratelimit-limit")
    if limit and limit.strip().isdigit():
        return int(limit), None
    combined = headers.get("ratelimit")
    if combined:
        found = re.search(r"limit=(\d+)", combined)
        return (int(found.group(1)) if found else None, None)
    return None, None


#: --apex-probe stops after this long even without a 429 (each request also has the client's timeouts)
PROBE_SECONDS = 60.0


def probe_rate_limit(http: Http, url: str, limit: int, seconds: float = PROBE_SECONDS) -> tuple[int, int | None, float]:
    """--apex-probe (5.2.1): GET ``url`` without credentials until the limiter answers 429, at most
    ``limit + 1`` times (a limiter of ``limit`` refuses that one at the latest) and for ``seconds``.
    (requests sent, status of the last one, seconds taken). Each GET is sent, never taken from the cache."""
    import time

    t0 = time.monotonic()
    sent, status = 0, None
    while sent <= limit and time.monotonic() - t0 < seconds:
        status = http.request("GET", url).status
        sent += 1
        if status == 429:
            break
    return sent, status, time.monotonic() - t0


def openapi(http: Http) -> tuple[dict[str, Any], str]:
    url = http.url("api", http.path("openapi"))
    doc = http.get(url).json()
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ValueError(f"GET {url}: not an OpenAPI document (no `paths` object)")
    return doc, url


def _operations(doc: dict[str, Any], method: str) -> list[str]:
    return sorted(p for p, ops in doc["paths"].items()
                  if isinstance(ops, dict) and method in ops and "{" not in p)


def get_routes(doc: dict[str, Any]) -> list[str]:
    """Documented GET paths without path parameters (those can be read as they are)."""
    return _operations(doc, "get")


def post_routes(doc: dict[str, Any]) -> list[str]:
    return _operations(doc, "post")


def api_get(http: Http, path: str) -> HttpResponse:
    """GET an API path as the checker account (cached for the run)."""
    return http.get(http.url("api", path), auth=True)


def validation_probe(http: Http, path: str) -> HttpResponse:
    """POST :data:`PROBE_BODY` to a write route once per run (the API must reject it before any write)."""
    cache: dict[str, HttpResponse] = http.__dict__.setdefault("_validation_probes", {})
    if path not in cache:
        cache[path] = http.request("POST", http.url("api", path), json_body=PROBE_BODY, auth=True,
                                   purpose="validation-probe")
    return cache[path]


def list_body(resp: HttpResponse) -> list[Any] | None:
    """The items of a list response (a JSON array, or an object's data/items/results array), else None."""
    try:
        body = resp.json()
    except ValueError:
        return None
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("data", "items", "results"):
            if isinstance(body.get(key), list):
                return list(body[key])
    return None


def next_page(resp: HttpResponse) -> str | None:
    """The cursor or next link of a list response, from the body or a Link header."""
    link = resp.header("link") or ""
    if 'rel="next"' in link:
        return link
    try:
        body = resp.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("next_cursor", "nextCursor", "cursor", "next"):
            if body.get(key):
                return str(body[key])
        meta = body.get("meta") or body.get("pagination") or {}
        if isinstance(meta, dict):
            for key in ("next_cursor", "nextCursor", "next"):
                if meta.get(key):
                    return str(meta[key])
    return None


_ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+\.(?:js|css)(?:\?[^"']*)?)["']""", re.I)


def asset_urls(page: HttpResponse) -> list[str]:
    """Script and stylesheet URLs the console page references, made absolute."""
    return list(dict.fromkeys(urljoin(page.url, m) for m in _ASSET.findall(page.text)))


#: a content hash in a bundle's file name (Next.js: main-app-a4f503976abd061f.js); a dev server has none
HASHED = re.compile(r"[-.][0-9a-f]{8,}\.(?:js|css)(?:\?|$)")
#: in the page: the dev server's HMR socket, React Refresh, webpack's dev module layer, the dev overlay
PAGE_DEV_MARKERS = ("webpack-hmr", "react-refresh", "__nextDevClientId", "/_next/static/development/",
                    "(app-pages-browser)/", "next-devtools")
#: in a bundle: webpack's development output (eval-source-map modules, the unminified runtime banner)
BUNDLE_DEV_MARKERS = ("webpack-internal:///", "eval-source-map", "/******/")
#: bytes of each bundle read: a development bundle runs to megabytes, and its first bytes already tell
BUNDLE_PREFIX = 256 * 1024
#: minified code: long lines (Next's production chunks are one line of 0.5-175 KB here)
MIN_CHARS_PER_LINE = 200


def bundle_findings(http: Http, page: HttpResponse, assets: list[str], scripts: int = 3) -> list[Finding]:
    """What says the page's bundles are not an optimized production build: bundle names without a content
    hash, development-server markers in the page, and, in the first bytes of up to ``scripts`` scripts,
    webpack development output or short (unminified) lines."""
    findings: list[Finding] = []
    unhashed = [a for a in assets if not HASHED.search(a)]
    markers = [m for m in PAGE_DEV_MARKERS if m in page.text]
    if not assets:
        findings.append(Finding("script and stylesheet bundles", "none referenced", "hashed bundles", page.url))
    if unhashed:
        findings.append(Finding("bundles without a content hash", unhashed, "every bundle name hashed", page.url))
    if markers:
        findings.append(Finding("development-server markers in the page", markers, "none (a production build)",
                                page.url))
    for url in [a for a in assets if ".js" in a][:scripts]:
        resp = http.get(url, prefix=BUNDLE_PREFIX)
        body = resp.text
        size = f"{len(resp.body):,} bytes read" + (" (first bytes only)" if resp.truncated else "")
        found = [m for m in BUNDLE_DEV_MARKERS if m in body]
        per_line = len(body) / (body.count("\n") + 1)
        if found:
            findings.append(Finding("development build output in the bundle", f"{found}, {size}",
                                    "none (webpack production mode)", f"GET {url}"))
        elif len(body) > 2000 and per_line < MIN_CHARS_PER_LINE:
            findings.append(Finding("bundle is not minified", f"{per_line:.0f} characters per line, {size}",
                                    f"at least {MIN_CHARS_PER_LINE} (minified)", f"GET {url}"))
    return findings


_API_PATH = re.compile(r"""["'`](/api/v\d+/[A-Za-z0-9_\-/]+)""")


def console_api_paths(http: Http, page: HttpResponse, limit: int = 30) -> tuple[list[str], list[str]]:
    """API paths the console's scripts call (string literals ``/api/vN/...``), and the scripts read."""
    paths: set[str] = set()
    read = []
    for url in [u for u in asset_urls(page) if u.endswith(".js") or ".js?" in u][:limit]:
        resp = http.get(url)
        if resp.status == 200:
            read.append(url)
            paths.update(p.rstrip("/") for p in _API_PATH.findall(resp.text))
    return sorted(paths), read


def decode_jwt(token: str) -> dict[str, Any]:
    """The claims of a JWT, without verifying its signature (only exp and iat are read)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a JSON web token ({type(exc).__name__})") from None
    if not isinstance(claims, dict):
        raise ValueError("a JSON web token whose payload is not an object")
    return claims


def certificate_findings(tls: Any, expect: dict[str, Any], evidence: Any) -> list[Finding]:
    """Findings on every endpoint's certificate: verifies against the CA bundle (chain and name) and has
    at least expectations.cert_min_days left. Shared by 1.1.8 and 10.2.2."""
    findings: list[Finding] = []
    seen: dict[str, Any] = {}
    for ep in tls.endpoints:
        served = tls.served(ep)
        left = served.days_left()
        seen[ep.label] = {"names": list(served.subject_names), "not_after": served.not_after.isoformat(),
                          "days_left": round(left, 1), "protocol": served.protocol,
                          "verify": served.verify_error or "ok"}
        if served.verify_error:
            findings.append(Finding(f"certificate of {ep.name}", served.verify_error,
                                    "a chain valid to the CA bundle, for this name", f"TLS {ep.label}"))
        if left < expect["cert_min_days"]:
            findings.append(Finding(f"days left on the certificate of {ep.name}", f"{left:.1f} "
                                    f"(not after {served.not_after:%Y-%m-%d})", f">= {expect['cert_min_days']}",
                                    f"TLS {ep.label}"))
    evidence.record("certificates", seen, source=tls.where)
    return findings

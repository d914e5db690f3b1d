"""`python -m sandbox traffic --seconds N`: a bounded load generator for the sandbox API.

Two targets (``--target``):

- ``edge`` (the default; what the compliant stack's Prometheus scrapes): the edge API
  (sandbox/edge/api) directly on 127.0.0.1:28300, never through nginx. Read-only traffic: GETs of
  the list and detail routes (signed in once as the checker account; sign-in reads only), /health,
  /openapi.json, and POSTs the API refuses before any write (bodies no schema accepts; signups with
  an under-13 birth date, which move ``signups_refused_total``). Never a route that writes data.
  The API's rate limiter allows 100 requests per 15 minutes per client, keyed by ``req.ip`` (``trust
  proxy`` is ``loopback`` and no X-Forwarded-For is sent, so ``req.ip`` is the socket's source
  address). Each simulated client therefore binds its own loopback address, 127.x.y.z outside
  127.0.0.0/16 (127.0.0.1 is the checker's own address and keeps its budget), and hands over to a
  new one before its budget runs out, as many real clients would. The business counters the API
  moves only on writing routes (signups, impressions, revenue, SDK crashes, AI spend) are driven
  on the business stand-in instead (``--business-url``; see api_stub.py).
- ``stand-in`` (the drifted stack): the whole stand-in, the old mix of ad requests, SDK config,
  AI-backed events, signups and SDK crash reports.

Faults on demand for the failing direction (``--error-percent 6 --slow-percent 25 --slow-ms 900``)
through the header both APIs honour on direct requests, ``X-Apex-Fault: error`` or ``slow=<ms>``.
Only 127.0.0.1 is allowed as a target.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..common import CREDENTIALS_FILE, read_env_file
from . import COMPLIANT

#: (method, path, weight, body) on the edge API; "auth" paths send the checker's token
EDGE_MIX: tuple[tuple[str, str, int, object], ...] = (
    ("GET", "/health", 20, None),
    ("GET", "auth:/api/v1/apps?limit=20", 14, None),
    ("GET", "auth:/api/v1/ad-networks?limit=10", 14, None),
    ("GET", "auth:/api/v1/reports/revenue?limit=50", 14, None),
    ("GET", "auth:/api/v1/me", 10, None),
    ("GET", "auth:/api/v1/me/export", 3, None),
    ("GET", "/openapi.json", 5, None),
    ("POST", "/api/v1/auth/signup", 5, {"email": "not-an-email"}),                     # 400, zod
    ("POST", "/api/v1/auth/signup", 5, {"email": "kid@example.com", "password": "x" * 16,  # 403, under 13
                                        "birthDate": "2020-01-01", "company": "Traffic"}),
    ("POST", "auth:/api/v1/events/impressions", 5, {"network": "admob"}),              # 400, zod
    ("POST", "auth:/api/v1/ai/usage", 5, {"service": "unknown", "costUsd": -1}),       # 400, zod
)
#: (method, path, weight) on the stand-in; with --target edge the business ones go to --business-url
STAND_IN_MIX = (("GET", "/v1/ads", 70), ("GET", "/v1/config", 15), ("POST", "/v1/events", 10),
                ("POST", "/v1/signup", 4), ("POST", "/v1/sdk/crash", 1))
BUSINESS_MIX = tuple(m for m in STAND_IN_MIX if m[1] != "/v1/config")
#: requests each simulated client sends to the rate-limited API at most (its budget is 100 per 15 minutes)
CLIENT_BUDGET = 80
EXEMPT = ("/health", "/metrics")
CHECKER_EMAIL = "checker@apexmediation.local"
CHECKER_PASSWORD_VAR = "APEX_HTTP_CHECKER_PASSWORD"


@dataclass
class Plan:
    url: str
    seconds: float
    rps: float = 40.0
    threads: int = 8
    error_percent: float = 0.0
    slow_percent: float = 0.0
    slow_ms: int = 900
    seed: int = 7
    target: str = "edge"
    #: the business stand-in (edge target only; None: no business events)
    business_url: str | None = None
    #: share of requests that are business events on the stand-in (edge target only)
    business_percent: float = 25.0


class Client:
    """One simulated client: a keep-alive connection from its own loopback source address."""

    def __init__(self, url: str, source: str | None, timeout: float = 5) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.source = parts.hostname or "127.0.0.1", parts.port or 80, source
        self.timeout, self.sent = timeout, 0
        self.conn: http.client.HTTPConnection | None = None
        self.remaining: int | None = None

    def request(self, method: str, path: str, headers: dict[str, str], body: object = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
        for attempt in (1, 2):  # a keep-alive connection the server closed is reopened once
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                                       source_address=(self.source, 0) if self.source else None)
            conn = self.conn
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
        if not path.startswith(EXEMPT):
            self.sent += 1
            left = re.search(r"remaining=(\d+)", resp.getheader("RateLimit") or "")
            self.remaining = int(left.group(1)) if left else self.remaining
        return resp.status

    def spent(self) -> bool:
        return self.sent >= CLIENT_BUDGET or (self.remaining is not None and self.remaining <= 100 - CLIENT_BUDGET)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def loopback_addresses() -> Callable[[], str]:
    """Distinct 127.x.y.z source addresses outside 127.0.0.0/16; random (not seeded) so that two runs
    within 15 minutes do not share an address, and so its budget."""
    rnd, lock, used = random.SystemRandom(), threading.Lock(), set[str]()

    def nxt() -> str:
        with lock:
            while True:
                addr = f"127.{rnd.randint(1, 254)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
                if addr not in used:
                    used.add(addr)
                    return addr
    return nxt


def sign_in(url: str, source: str) -> str | None:
    """The checker account's access token (sign-in only reads), or None without the edge's credentials."""
    password = read_env_file(CREDENTIALS_FILE).get(CHECKER_PASSWORD_VAR) if CREDENTIALS_FILE.exists() else None
    if not password:
        return None
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=5,
                                      source_address=(source, 0))
    try:
        conn.request("POST", "/api/v1/auth/signin", body=json.dumps({"email": CHECKER_EMAIL, "password": password}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        token = json.loads(resp.read() or b"{}").get("accessToken") if resp.status == 200 else None
        return str(token) if token else None
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def run(plan: Plan) -> Counter[str]:
    for url in filter(None, (plan.url, plan.business_url)):
        if urllib.parse.urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"traffic: refusing to load {url}: only the local sandbox (127.0.0.1) is allowed")
    edge = plan.target == "edge"
    address = loopback_addresses()
    token = sign_in(plan.url, address()) if edge else None
    counts: Counter[str] = Counter({"sign-in refused or impossible": 1} if edge and not token else {})
    lock = threading.Lock()
    deadline = time.monotonic() + plan.seconds
    interval = plan.threads / plan.rps if plan.rps > 0 else 0.0

    def worker(n: int) -> None:
        rnd = random.Random(plan.seed + n)
        api = Client(plan.url, address() if edge else None)
        business = Client(plan.business_url, None) if edge and plan.business_url else None
        next_at = time.monotonic()
        errors, slows = rnd.random() * 100, rnd.random() * 100   # each thread starts at its own phase
        while time.monotonic() < deadline:
            headers: dict[str, str] = {}
            body: object = None
            if business and rnd.random() * 100 < plan.business_percent:
                method, path, _ = rnd.choices(BUSINESS_MIX, weights=[m[2] for m in BUSINESS_MIX])[0]
                client = business
            elif edge:
                method, path, _, body = rnd.choices(EDGE_MIX, weights=[m[2] for m in EDGE_MIX])[0]
                if path.startswith("auth:"):
                    path = path[5:]
                    if token:
                        headers["Authorization"] = f"Bearer {token}"
                if api.spent():  # this client's budget is nearly used: a new client takes over
                    api.close()
                    api = Client(plan.url, address())
                client = api
            else:
                method, path, _ = rnd.choices(STAND_IN_MIX, weights=[m[2] for m in STAND_IN_MIX])[0]
                client = api
            if client is api:
                # faults by accumulation, not by dice: 6 % asked is 6 % sent, however few the requests
                errors, slows = errors + plan.error_percent, slows + plan.slow_percent
                if errors >= 100:
                    errors -= 100
                    headers["X-Apex-Fault"] = "error"
                elif slows >= 100:
                    slows -= 100
                    headers["X-Apex-Fault"] = f"slow={plan.slow_ms}"
            try:
                key = str(client.request(method, path, headers, body))
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                key = type(exc).__name__
            with lock:
                counts[("business " if client is business else "") + key] += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        api.close()
        if business:
            business.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(plan.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox traffic", description=__doc__.splitlines()[0])
    add_arguments(ap)
    return command(ap.parse_args(argv))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seconds", type=float, default=30, help="how long to send (bounded; default 30)")
    ap.add_argument("--target", choices=("edge", "stand-in"), default="edge",
                    help="the edge API (read-only traffic; default) or the API stand-in (the drifted stack's)")
    ap.add_argument("--url", default=COMPLIANT.url("api"), help="the API (default: the edge API, %(default)s)")
    ap.add_argument("--business-url", default=COMPLIANT.url("business"),
                    help="the business stand-in for --target edge (default %(default)s; '' for none)")
    ap.add_argument("--rps", type=float, default=40, help="requests per second in total (default 40)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--error-percent", type=float, default=0, help="share of requests made to fail with 500")
    ap.add_argument("--slow-percent", type=float, default=0, help="share of requests made slow")
    ap.add_argument("--slow-ms", type=int, default=900, help="how slow a slow request is (default 900 ms)")


def command(args: argparse.Namespace) -> int:
    plan = Plan(args.url, args.seconds, args.rps, args.threads, args.error_percent, args.slow_percent, args.slow_ms,
                target=args.target, business_url=(args.business_url or None) if args.target == "edge" else None)
    t0 = time.monotonic()
    counts = run(plan)
    total = sum(v for k, v in counts.items() if not k.startswith("sign-in"))
    print(f"traffic: {total} requests to {plan.url}"
          + (f" (business events to {plan.business_url})" if plan.business_url else "")
          + f" in {time.monotonic() - t0:.1f}s: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 0 if total and "429" not in counts else 1

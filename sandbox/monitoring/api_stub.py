"""A stand-in for the ApexMediation API's metrics, with the edge API's prom-client names.

It answers a few API routes and exposes what the edge API (sandbox/edge/api) exposes: the
request-duration histogram and the request counter by route and status, and the business metrics
(signups, ad impressions, revenue, SDK crashes, churn, AI spend by service). Every value is counted
from requests it really served: `python -m sandbox traffic` drives it. Two uses:

- ``--business-only`` (the compliant stack, next to the edge API): only the business counters the
  edge API moves on writing routes alone (signups, impressions, revenue, SDK crashes, AI spend),
  which the load generator never calls; no request metrics (those are the edge API's own);
- whole (the drifted stack): an API of our own that can be made slow and failing.

Faults on demand, for the failing direction: a request header ``X-Apex-Fault: error`` answers 500,
``X-Apex-Fault: slow=900`` answers after 900 ms. One log line per request goes to stdout.

    python -m sandbox.monitoring.api_stub --port 29080
"""

from __future__ import annotations

import argparse
import http.server
import itertools
import json
import sys
import threading
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

AI_SERVICES = ("sales-automation", "growth-engine", "self-evolving-system")
ROUTES = ("/v1/ads", "/v1/config", "/v1/events", "/v1/signup", "/v1/sdk/crash", "/health")
#: dollars one AI-backed event costs (small: a day of sandbox traffic stays far below the budget)
AI_COST_PER_EVENT = 0.0004

REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests", "HTTP requests served", ["method", "route", "status"], registry=REGISTRY)
DURATION = Histogram("http_request_duration_seconds", "HTTP request duration", ["method", "route", "status"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY)
SIGNUPS = Counter("customers_created", "customers signed up", registry=REGISTRY)
CHURNED = Counter("customers_churned", "customers that cancelled", registry=REGISTRY)
ACTIVE = Gauge("customers_active", "active customers", registry=REGISTRY)
IMPRESSIONS = Counter("ad_impressions", "ad impressions served", registry=REGISTRY)
REVENUE = Gauge("stripe_revenue_cents", "revenue booked through Stripe, cumulative, in cents", registry=REGISTRY)
CRASHES = Counter("sdk_crashes", "SDK crash reports received", registry=REGISTRY)
AI_SPEND = Counter("openai_spend_dollars", "OpenAI spend by service", ["service"], registry=REGISTRY)
AI_MONTH = Gauge("openai_monthly_spend_dollars", "OpenAI spend this month by service", ["service"],
                 registry=REGISTRY)

#: exposed name -> collector, for --drop
DROPPABLE = {"sdk_crashes_total": CRASHES, "stripe_revenue_cents": REVENUE}
#: not exposed with --business-only: the edge API serves these itself without any write
#: (request metrics; customers_active read from PostgreSQL; customers_churned_total, which no route moves)
NOT_BUSINESS = (REQUESTS, DURATION, ACTIVE, CHURNED)
_lock = threading.Lock()
_ai_turn = itertools.cycle(AI_SERVICES)
ACTIVE.set(100)
for _svc in AI_SERVICES:
    AI_SPEND.labels(_svc)
    AI_MONTH.labels(_svc)


def _business(route: str) -> None:
    if route == "/v1/ads":
        IMPRESSIONS.inc()
        REVENUE.inc(2)
    elif route == "/v1/signup":
        SIGNUPS.inc()
        ACTIVE.inc()
    elif route == "/v1/sdk/crash":
        CRASHES.inc()
    elif route == "/v1/events":
        with _lock:
            svc = next(_ai_turn)
        AI_SPEND.labels(svc).inc(AI_COST_PER_EVENT)
        AI_MONTH.labels(svc).inc(AI_COST_PER_EVENT)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "apexmediation-api-stand-in"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, method: str) -> None:
        t0 = time.perf_counter()
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if path == "/metrics" and method == "GET":
            body = generate_latest(REGISTRY)
            self._send(200, body, CONTENT_TYPE_LATEST)
            return
        route = path if path in ROUTES else "other"
        fault = self.headers.get("X-Apex-Fault", "")
        if fault.startswith("slow="):
            time.sleep(int(fault.split("=", 1)[1]) / 1000)
        status = 500 if fault == "error" else (404 if route == "other" else 200)
        if status == 200:
            _business(route)
        body = json.dumps({"ok": status == 200, "route": route}).encode()
        self._send(status, body, "application/json")
        elapsed = time.perf_counter() - t0
        REQUESTS.labels(method, route, str(status)).inc()
        DURATION.labels(method, route, str(status)).observe(elapsed)
        level = "error" if status >= 500 else "info"
        sys.stdout.write(json.dumps({"ts": time.time(), "level": level, "method": method, "route": route,
                                     "status": status, "ms": round(elapsed * 1000, 1)}) + "\n")
        sys.stdout.flush()

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--drop", default="", help="comma-separated metrics not to expose (the drifted stack's API)")
    ap.add_argument("--business-only", action="store_true",
                    help="expose only the business counters the edge API moves on writing routes alone")
    args = ap.parse_args(argv)
    for name in filter(None, args.drop.split(",")):
        REGISTRY.unregister(DROPPABLE[name])
    for collector in NOT_BUSINESS if args.business_only else ():
        REGISTRY.unregister(collector)
    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(json.dumps({"ts": time.time(), "level": "info", "msg": f"listening on {args.host}:{args.port}"}),
          flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m sandbox traffic --seconds N`: a bounded load generator for the sandbox API.

It sends a realistic mix (ad requests, SDK config, AI-backed events, signups, a few SDK crash
reports) from a few threads at a capped rate for N seconds, so request rates, error rates and
latency quantiles in Prometheus are real values. For the failing direction it makes the API slow
and failing on demand (``--error-percent 6 --slow-percent 10 --slow-ms 900``), through the fault
header the API honours (``X-Apex-Fault``). Only 127.0.0.1 is allowed as a target.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass

import requests

from . import COMPLIANT

#: route, method, weight
MIX = (("/v1/ads", "GET", 70), ("/v1/config", "GET", 15), ("/v1/events", "POST", 10),
       ("/v1/signup", "POST", 4), ("/v1/sdk/crash", "POST", 1))


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


def run(plan: Plan) -> Counter[str]:
    host = urllib.parse.urlsplit(plan.url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"traffic: refusing to load {plan.url}: only the local sandbox (127.0.0.1) is allowed")
    routes = [r for r, _, w in MIX for _ in range(w)]
    methods = {r: m for r, m, _ in MIX}
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + plan.seconds
    interval = plan.threads / plan.rps if plan.rps > 0 else 0.0

    def worker(n: int) -> None:
        rnd = random.Random(plan.seed + n)
        session = requests.Session()
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            route = rnd.choice(routes)
            headers = {}
            roll = rnd.random() * 100
            if roll < plan.error_percent:
                headers["X-Apex-Fault"] = "error"
            elif roll < plan.error_percent + plan.slow_percent:
                headers["X-Apex-Fault"] = f"slow={plan.slow_ms}"
            try:
                resp = session.request(methods[route], plan.url + route, headers=headers, timeout=5)
                key = str(resp.status_code)
            except requests.RequestException as exc:
                key = type(exc).__name__
            with lock:
                counts[key] += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

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
    ap.add_argument("--url", default=COMPLIANT.url("api"), help="the API (default: the sandbox's, %(default)s)")
    ap.add_argument("--rps", type=float, default=40, help="requests per second in total (default 40)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--error-percent", type=float, default=0, help="share of requests made to fail with 500")
    ap.add_argument("--slow-percent", type=float, default=0, help="share of requests made slow")
    ap.add_argument("--slow-ms", type=int, default=900, help="how slow a slow request is (default 900 ms)")


def command(args: argparse.Namespace) -> int:
    plan = Plan(args.url, args.seconds, args.rps, args.threads, args.error_percent, args.slow_percent, args.slow_ms)
    t0 = time.monotonic()
    counts = run(plan)
    total = sum(counts.values())
    print(f"traffic: {total} requests to {plan.url} in {time.monotonic() - t0:.1f}s: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 0 if total else 1

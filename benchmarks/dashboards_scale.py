"""Benchmark: 50 dashboards x 10 panels evaluated against a Prometheus holding a day of samples.

    python benchmarks/dashboards_scale.py [--dashboards 50] [--panels 10] [--hours 24] [--json]

1. Writes a day of samples (every 30 s) of the series the sandbox's load generator and exporters
   produce (API requests by route and status, the latency histogram, business and AI spend metrics,
   node, PostgreSQL and Redis exporter metrics) as OpenMetrics, backfills them with
   ``promtool tsdb create-blocks-from openmetrics`` into a fresh data directory, and starts a
   separate Debian ``prometheus`` on it (a free port; the sandbox's Prometheus is not touched).
2. Generates N dashboards x M panels (Grafana JSON) from the panel queries of monitoring/dashboards,
   varied by window, quantile and route, so that some expressions repeat across dashboards, as
   real dashboards do.
3. Times the checker's path (the grafana target reading the JSON files, obs.panels, the prometheus
   target with its one-query-per-distinct-expression cache), and two floors with plain requests:
   the same distinct queries, and every panel query without de-duplication.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_apexready import observability as obs  # noqa: E402
from pytest_apexready.targets.grafana import Grafana  # noqa: E402
from pytest_apexready.targets.prometheus import Prometheus  # noqa: E402

STEP = 30
ROUTES = ("/v1/ads", "/v1/config", "/v1/events", "/v1/signup", "/v1/sdk/crash")
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")
API = 'job="apexmediation-api",instance="127.0.0.1:29080"'


def _lbl(extra: str = "", base: str = API) -> str:
    return "{" + base + ("," + extra if extra else "") + "}"


def openmetrics(path: Path, hours: float, end: float) -> int:
    """A day of samples as OpenMetrics text; returns the number of samples."""
    rnd = random.Random(1)
    n = int(hours * 3600 / STEP)
    times = [end - (n - i) * STEP for i in range(n)]
    families: list[tuple[str, str, list[tuple[str, float, float]]]] = []  # (name, type, [(labels, start, rate)])
    families.append(("up", "gauge", [(_lbl(base=f'job="{j}",instance="127.0.0.1:{p}"'), 1.0, 0.0) for j, p in (
        ("apexmediation-api", 29080), ("node", 29100), ("postgres", 29187), ("redis", 29121),
        ("prometheus", 29090), ("alertmanager", 29093))]))
    req: list[tuple[str, float, float]] = []
    for r in ROUTES:
        w = {"/v1/ads": 28, "/v1/config": 6, "/v1/events": 4, "/v1/signup": 1.6, "/v1/sdk/crash": 0.4}[r]
        req += [(_lbl(f'method="GET",route="{r}",status="200"'), 0, w), (_lbl(f'method="GET",route="{r}",status="500"'),
                                                                          0, w * 0.002)]
    families.append(("http_requests", "counter", req))
    hist: list[tuple[str, float, float]] = []
    for r in ROUTES:
        w = {"/v1/ads": 28, "/v1/config": 6, "/v1/events": 4, "/v1/signup": 1.6, "/v1/sdk/crash": 0.4}[r]
        for i, le in enumerate(BUCKETS):
            share = min(1.0, (i + 1) / 7)
            hist.append((_lbl(f'method="GET",route="{r}",status="200",le="{le}"'), 0, w * share))
    families.append(("http_request_duration_seconds", "histogram", hist))
    families += [
        ("customers_created", "counter", [(_lbl(), 0, 1.6)]), ("customers_churned", "counter", [(_lbl(), 0, 0.01)]),
        ("ad_impressions", "counter", [(_lbl(), 0, 28)]), ("sdk_crashes", "counter", [(_lbl(), 0, 0.4)]),
        ("stripe_revenue_cents", "gauge", [(_lbl(), 0, 56)]), ("customers_active", "gauge", [(_lbl(), 100, 0.0)]),
        ("openai_spend_dollars", "counter", [(_lbl(f'service="{s}"'), 0, 0.0005) for s in (
            "sales-automation", "growth-engine", "self-evolving-system")]),
        ("openai_monthly_spend_dollars", "gauge", [(_lbl(f'service="{s}"'), 5, 0.0005) for s in (
            "sales-automation", "growth-engine", "self-evolving-system")]),
    ]
    node = 'job="node",instance="127.0.0.1:29100"'
    families += [
        ("node_cpu_seconds", "counter", [(_lbl(f'cpu="{c}",mode="{m}"', node), 0, r) for c in "01"
                                         for m, r in (("idle", 0.8), ("user", 0.15), ("system", 0.05))]),
        ("node_memory_MemAvailable_bytes", "gauge", [(_lbl("", node), 4e9, 0.0)]),
        ("node_memory_MemTotal_bytes", "gauge", [(_lbl("", node), 8e9, 0.0)]),
        ("node_filesystem_avail_bytes", "gauge", [(_lbl('mountpoint="/",fstype="ext4"', node), 5e10, 0.0)]),
        ("node_filesystem_size_bytes", "gauge", [(_lbl('mountpoint="/",fstype="ext4"', node), 1e11, 0.0)]),
        ("node_network_receive_bytes", "counter", [(_lbl('device="eth0"', node), 0, 2e4)]),
        ("node_network_transmit_bytes", "counter", [(_lbl('device="eth0"', node), 0, 3e4)]),
        ("pg_stat_activity_count", "gauge", [(_lbl(f'datname="apexmediation",state="{s}"',
                                                   'job="postgres",instance="127.0.0.1:29187"'), v, 0.0)
                                              for s, v in (("active", 3), ("idle", 12))]),
        ("redis_connected_clients", "gauge", [(_lbl("", 'job="redis",instance="127.0.0.1:29121"'), 7, 0.0)]),
    ]
    count = 0
    with path.open("w") as out:
        for name, typ, series in families:
            out.write(f"# TYPE {name} {typ}\n")
            for labels, start, rate in series:
                suffix = "_total" if typ == "counter" else ("_bucket" if typ == "histogram" else "")
                value = start
                for t in times:
                    value += rate * STEP * (1 + 0.1 * (rnd.random() - 0.5)) if typ != "gauge" else rate * STEP
                    out.write(f"{name}{suffix}{labels} {value:.6g} {t:.0f}\n")
                    count += 1
        out.write("# EOF\n")
    return count


def dashboards(directory: Path, n: int, panels: int) -> int:
    """n dashboards of ``panels`` panels, varied from the committed ones; returns the number of panel queries."""
    base = [e for f in sorted((ROOT / "monitoring" / "dashboards").glob("*.json"))
            for _, es in obs.panels(json.loads(f.read_text())) for e in es]
    variants = []
    for expr in base:
        for window in ("2m", "5m", "15m", "1h"):
            variants.append(expr.replace("[5m]", f"[{window}]").replace("[1h]", f"[{window}]"))
            if "http_request" in expr:  # per-route panels, as an API dashboard has
                variants += [expr.replace('job="apexmediation-api"', f'job="apexmediation-api", route="{r}"')
                             .replace("[5m]", f"[{window}]") for r in ROUTES]
        for q in ("0.5", "0.9", "0.99"):
            if "0.95" in expr:
                variants.append(expr.replace("0.95", q))
    variants = list(dict.fromkeys(variants))
    rnd = random.Random(2)
    total = 0
    for d in range(n):
        picked = [rnd.choice(variants) for _ in range(panels)]
        dash = {"uid": f"bench-{d:03d}", "title": f"Bench {d}", "panels": [
            {"id": i + 1, "type": "timeseries", "title": f"panel {i}", "targets": [{"refId": "A", "expr": e}]}
            for i, e in enumerate(picked)]}
        (directory / f"bench-{d:03d}.json").write_text(json.dumps(dash))
        total += len(picked)
    return total


def start_prometheus(data: Path, port: int) -> subprocess.Popen[bytes]:
    cfg = data.parent / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 1h}\nscrape_configs: []\n")
    proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                             "--storage.tsdb.retention.time=30d", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("benchmark Prometheus did not become ready")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dashboards", type=int, default=50)
    ap.add_argument("--panels", type=int, default=10)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--port", type=int, default=29990)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not shutil.which("promtool"):
        raise SystemExit("promtool not found: apt-get install prometheus (scripts/bootstrap.sh does)")
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="apex-dash-bench-") as tmp:
        t = Path(tmp)
        end = time.time() - 5
        t0 = time.monotonic()
        samples = openmetrics(t / "day.om", args.hours, end)
        figures["samples"] = samples
        figures["write_openmetrics_s"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(t / "day.om"), str(t / "data")],
                       check=True, capture_output=True)
        figures["backfill_s"] = round(time.monotonic() - t0, 1)
        (t / "dash").mkdir()
        figures["panel_queries"] = dashboards(t / "dash", args.dashboards, args.panels)
        proc = start_prometheus(t / "data", args.port)
        try:
            url = f"http://127.0.0.1:{args.port}"
            # the checker's path: the grafana target (dashboards as code) and the prometheus target
            t0 = time.monotonic()
            grafana = Grafana("grafana", {"dashboards_dir": str(t / "dash")})
            prom = Prometheus("prometheus", {"url": url, "read_timeout": 30})
            empty = 0
            for dash in grafana.dashboards().values():
                for _, exprs in obs.panels(dash):
                    for e in exprs:
                        samples_, refused = obs.value(prom, e)
                        empty += int(bool(refused) or not samples_)
            figures["checker_s"] = round(time.monotonic() - t0, 2)
            figures["distinct_queries_sent"] = len(prom.queries)
            figures["panels_without_data"] = empty
            exprs = list(prom.queries)
            all_panel_exprs = [e for d in grafana.dashboards().values() for _, es in obs.panels(d) for e in es]
            session = requests.Session()
            at = f"{prom.at:.3f}"
            t0 = time.monotonic()
            for e in exprs:
                session.post(f"{url}/api/v1/query", data={"query": e, "time": at}, timeout=30).json()
            figures["floor_distinct_s"] = round(time.monotonic() - t0, 2)
            t0 = time.monotonic()
            for e in all_panel_exprs:
                session.post(f"{url}/api/v1/query", data={"query": e, "time": at}, timeout=30).json()
            figures["floor_every_panel_s"] = round(time.monotonic() - t0, 2)
            # the same through pytest: check 10.2.5 ("every dashboard green") reads all of them
            (t / "bench.toml").write_text(f'description = "dashboards benchmark"\n[targets.prometheus]\nurl = "{url}"\n'
                                          f'[targets.grafana]\ndashboards_dir = "{t / "dash"}"\n')
            t0 = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header",
                                  "-m", "golive and prometheus", f"--env={t / 'bench.toml'}",
                                  f"--apex-report={t / 'report'}", "-k", "dashboards_green",
                                  str(ROOT / "tests_golive" / "test_observability_golive.py")],
                                 cwd=ROOT, capture_output=True, text=True)
            figures["pytest_10_2_5_s"] = round(time.monotonic() - t0, 2)
            figures["pytest_10_2_5_outcome"] = "passed" if run.returncode == 0 else run.stdout[-300:]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    figures["dashboards"], figures["panels_per_dashboard"], figures["hours"] = args.dashboards, args.panels, args.hours
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for k, v in figures.items():
            print(f"{k:>24}: {v}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

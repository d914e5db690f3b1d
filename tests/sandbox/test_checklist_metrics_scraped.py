"""The checklist as metrics, scraped for real: ``--apex-metrics`` into node exporter's textfile directory, then the
sandbox's Prometheus holds ``apexready_items`` and ``apexready_section_ready`` for that run (issue 12, part 5)."""

from __future__ import annotations

import time

import requests

from checkrun import run_checks
from sandbox.monitoring import CHECKLIST_METRICS, COMPLIANT


def _query(expr: str) -> list[dict]:
    resp = requests.get(f"{COMPLIANT.url('prometheus')}/api/v1/query", params={"query": expr}, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def test_prometheus_scrapes_the_checklist_metrics(tmp_path):
    run = run_checks(tmp_path, "database", None, f"--apex-metrics={CHECKLIST_METRICS}")
    assert CHECKLIST_METRICS.is_file(), run.output[-2000:]
    written = CHECKLIST_METRICS.read_text()
    assert 'apexready_section_ready{env="local",section="2"} 1.0' in written
    passed = run.record["summary"]["outcomes"]["passed"]
    expr = 'apexready_items{env="local",outcome="passed",job="node"}'
    deadline = time.monotonic() + 30  # scraped every 2 s; the textfile is read on each scrape
    series: list[dict] = []
    while time.monotonic() < deadline:
        series = _query(expr)
        if series and float(series[0]["value"][1]) == passed:
            break
        time.sleep(1)
    assert series and float(series[0]["value"][1]) == passed, (series, passed)
    ready = _query('apexready_section_ready{env="local",section="2",job="node"}')
    assert ready and ready[0]["value"][1] == "1", ready

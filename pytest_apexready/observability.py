"""Rules shared by the observability checks (sections 1.3, 4, 7, 10, 11): PromQL values with
"no data" kept apart from zero, dashboards' panel queries, and the live alert rules as a file.

An empty vector is never read as 0 %: :func:`value` returns None and :func:`no_data` is the
finding for it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .outcomes import Finding, TargetUnavailable
from .targets.prometheus import Prometheus, QueryError, Sample

__all__ = ["GRAFANA_VARIABLES", "NO_DATA", "firing", "jobs_of", "live_rules", "no_data", "panels", "promtool_test",
           "rules_by_name", "tested_alerts", "value"]

NO_DATA = "no data (the query returned an empty result)"
#: Grafana's built-in interval variables, as the checks substitute them in panel queries
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "${__rate_interval}": "5m", "$__interval": "1m",
                     "${__interval}": "1m", "$__range": "1h", "${__range}": "1h"}


def no_data(what: str, expected: str, prom: Prometheus, expr: str) -> Finding:
    return Finding(what, NO_DATA, expected, prom.describe(expr))


def value(prom: Prometheus, expr: str) -> tuple[list[Sample], Finding | None]:
    """The samples of ``expr``, or the finding that the query itself was refused."""
    try:
        return prom.query(expr), None
    except QueryError as exc:
        return [], Finding("query", f"refused: {exc}", "a valid PromQL expression", prom.describe(expr))


# --------------------------------------------------------------------------- dashboards

def _walk_panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from _walk_panels(panel.get("panels") or [])   # panels folded into a collapsed row


def panels(dashboard: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(panel title, [PromQL of each target, variables substituted]) for every panel with queries."""
    found: list[tuple[str, list[str]]] = []
    items = list(dashboard.get("panels") or [])
    for row in dashboard.get("rows") or []:                   # the old schema: panels inside rows
        items += row.get("panels") or []
    for panel in _walk_panels(items):
        exprs = [_substitute(str(t["expr"])) for t in panel.get("targets") or [] if t.get("expr") and not t.get("hide")]
        if exprs:
            found.append((str(panel.get("title") or f"panel {panel.get('id')}"), exprs))
    return found


def _substitute(expr: str) -> str:
    for var, val in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, val)
    return expr


def jobs_of(exprs: list[str]) -> set[str]:
    """The ``job="..."`` values a dashboard's queries select (the services it shows)."""
    return {m for e in exprs for m in re.findall(r'job\s*=\s*"([^"]+)"', e)}


# --------------------------------------------------------------------------- alert rules

def rules_by_name(prom: Prometheus) -> dict[str, dict[str, Any]]:
    """Alerting rules Prometheus has loaded, by alert name (group name added as ``_group``)."""
    out: dict[str, dict[str, Any]] = {}
    for group in prom.rules():
        for rule in group.get("rules", []):
            if rule.get("type") == "alerting":
                out.setdefault(str(rule["name"]), {**rule, "_group": group.get("name", "")})
    return out


def firing(prom: Prometheus, severity: str | None = None) -> list[dict[str, Any]]:
    """Alerts Prometheus evaluates as firing now, from its loaded rules."""
    out = []
    for rule in rules_by_name(prom).values():
        for alert in rule.get("alerts", []):
            if alert.get("state") == "firing" and (severity is None or alert["labels"].get("severity") == severity):
                out.append(alert)
    return out


def live_rules(prom: Prometheus) -> dict[str, Any]:
    """The loaded rules written back as a Prometheus rule file (the "live rule file")."""
    groups = []
    for group in prom.rules():
        rules = []
        for rule in group.get("rules", []):
            if rule.get("type") == "alerting":
                entry: dict[str, Any] = {"alert": rule["name"], "expr": rule["query"]}
                if rule.get("duration"):
                    entry["for"] = f"{int(rule['duration'])}s"
                if rule.get("labels"):
                    entry["labels"] = rule["labels"]
                if rule.get("annotations"):
                    entry["annotations"] = rule["annotations"]
            else:
                entry = {"record": rule["name"], "expr": rule["query"], **({"labels": rule["labels"]}
                                                                            if rule.get("labels") else {})}
            rules.append(entry)
        spec: dict[str, Any] = {"name": group["name"], "rules": rules}
        if group.get("interval"):
            spec["interval"] = f"{int(group['interval'])}s"
        groups.append(spec)
    return {"groups": groups}


def tested_alerts(tests: dict[str, Any]) -> set[str]:
    """Alert names a promtool test file asserts on."""
    return {str(t["alertname"]) for test in tests.get("tests") or [] for t in test.get("alert_rule_test") or []}


def promtool_test(prom: Prometheus, tests_file: Path) -> tuple[bool, str]:
    """Run ``promtool test rules`` with ``tests_file``'s tests against the LIVE rules; (passed, output)."""
    import yaml

    promtool = shutil.which("promtool")
    if promtool is None:
        raise TargetUnavailable("promtool", "PATH", "promtool is not installed; fix: apt-get install prometheus "
                                "(Debian) or put promtool from a Prometheus release on PATH")
    tests = yaml.safe_load(tests_file.read_text("utf-8"))
    with tempfile.TemporaryDirectory(prefix="apex-promtool-") as tmp:
        live = Path(tmp) / "live-rules.yml"
        live.write_text(yaml.safe_dump(live_rules(prom), sort_keys=False))
        run = Path(tmp) / tests_file.name
        run.write_text(yaml.safe_dump({**tests, "rule_files": [str(live)]}, sort_keys=False))
        proc = subprocess.run([promtool, "test", "rules", str(run)], capture_output=True, text=True, timeout=120)
    output = (proc.stdout + proc.stderr).replace(tmp, "<live>")
    return proc.returncode == 0, output.strip()

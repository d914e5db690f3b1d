"""Dashboards (1.3.2, 4.3.2, 7.3.1-7.3.4), checked two ways: present and readable through the
``grafana`` target (Grafana's HTTP API, in the sandbox a stand-in; or the JSON files of
dashboards_dir), and for real: every panel's PromQL is evaluated against ``[targets.prometheus]``
and must return data. Each distinct expression is queried once per run.
"""

from __future__ import annotations

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import observability as obs

ROLE = {"7.3.1": "system_health", "7.3.2": "application_performance", "7.3.3": "business_metrics",
        "7.3.4": "ai_cost", "4.3.2": "ai_cost"}


def dashboard(grafana, expect, role: str):
    uid = expect["dashboards"][role]
    dash = grafana.dashboards().get(uid)
    if dash is None:
        fail_check(f"dashboard {role}", observed=f"uid {uid} absent ({grafana.unreadable.get(uid, 'not listed')})",
                   expected="present and readable", where=f"{grafana.where} /api/search, /api/dashboards/uid/{uid}")
    return uid, dash


def panel_findings(prometheus, uid: str, dash, evidence) -> list[Finding]:
    findings, seen = [], {}
    for title, exprs in obs.panels(dash):
        for expr in exprs:
            samples, refused = obs.value(prometheus, expr)
            seen[f"{title}: {expr}"] = len(samples)
            if refused or not samples:
                findings.append(refused or obs.no_data(f"panel {title!r} of dashboard {uid}", "data", prometheus,
                                                       expr))
    if not seen:
        findings.append(Finding(f"dashboard {uid}", "no panel with a PromQL query", "panels with queries", uid))
    evidence.record(f"series_per_panel_query[{uid}]", seen, source=f"Prometheus {prometheus.base} /api/v1/query")
    return findings


@check("1.3.2")
def test_dashboards_present_and_accessible(grafana, expect, evidence):
    health = grafana.health()
    dashes = grafana.dashboards()
    where = f"{grafana.where} /api/health, /api/search, /api/dashboards/uid/..."
    evidence.record("health", health, source=where)
    evidence.record("dashboards", {uid: d.get("title") for uid, d in sorted(dashes.items())}, source=where)
    if grafana.stand_in:
        evidence.note("Read from the sandbox's Grafana API STAND-IN (Grafana itself is AGPL and not run here).")
    findings = []
    if health.get("database") != "ok":
        findings.append(Finding("Grafana health", health, "database ok", f"{grafana.where} /api/health"))
    wanted = expect["dashboards"]
    absent = {role: uid for role, uid in wanted.items() if uid not in dashes}
    if absent:
        findings.append(Finding("dashboards", {r: grafana.unreadable.get(u, "absent") for r, u in absent.items()},
                                f"present and readable: {wanted}", where))
    fail_check(findings=findings)


def _panels_have_data(item: str, grafana, prometheus, expect, evidence) -> None:
    uid, dash = dashboard(grafana, expect, ROLE[item])
    fail_check(findings=panel_findings(prometheus, uid, dash, evidence))


@check("7.3.1")
def test_system_health_dashboard(grafana, prometheus, expect, evidence):
    _panels_have_data("7.3.1", grafana, prometheus, expect, evidence)


@check("7.3.2")
def test_application_performance_dashboard(grafana, prometheus, expect, evidence):
    _panels_have_data("7.3.2", grafana, prometheus, expect, evidence)


@check("7.3.3")
def test_business_metrics_dashboard(grafana, prometheus, expect, evidence):
    _panels_have_data("7.3.3", grafana, prometheus, expect, evidence)


def _ai_spend_by_service(item: str, grafana, prometheus, expect, evidence) -> None:
    uid, dash = dashboard(grafana, expect, ROLE[item])
    by_panel = {}
    for title, exprs in obs.panels(dash):
        for expr in exprs:
            samples, _ = obs.value(prometheus, expr)
            services = sorted({s.labels["service"] for s in samples if "service" in s.labels})
            by_panel[f"{title}: {expr}"] = services
    evidence.record("services_per_panel_query", by_panel, source=f"Prometheus {prometheus.base} /api/v1/query")
    if not any(by_panel.values()):
        fail_check("AI cost panel with spend by service",
                   observed={k: v or "no series with a service label" for k, v in by_panel.items()} or "no panel",
                   expected="a panel whose query returns spend per service (series with a service label)",
                   where=f"dashboard {uid} of {grafana.where}, queries on Prometheus {prometheus.base}")


@check("7.3.4")
def test_ai_cost_dashboard(grafana, prometheus, expect, evidence):
    _ai_spend_by_service("7.3.4", grafana, prometheus, expect, evidence)


@check("4.3.2")
def test_ai_cost_panel(grafana, prometheus, expect, evidence):
    _ai_spend_by_service("4.3.2", grafana, prometheus, expect, evidence)

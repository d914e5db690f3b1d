"""Section 1.3 "Monitoring Stack" and section 7 "Observability & Alerting": scrape targets,
exporters, business and mesh metrics, the alert rules (loaded, unit-tested against the live
rules), the routing tree, and the log store.

Everything is read through the Prometheus, Alertmanager and log-store APIs (GET, and POST to the
query endpoints). An empty query result is "no data", its own finding, never 0.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pytest_apexready import Finding, check, fail_check, not_applicable
from pytest_apexready import observability as obs
from pytest_apexready.rules import alert_routing as routing
from pytest_apexready.targets.prometheus import QueryError

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- scrape targets

def _scrape_findings(prometheus, expect, evidence) -> list[Finding]:
    expr = "up"
    samples, refused = obs.value(prometheus, expr)
    if refused:
        return [refused]
    by_job: dict[str, list[str]] = {}
    down: list[str] = []
    for s in samples:
        by_job.setdefault(s.labels.get("job", "?"), []).append(s.labels.get("instance", "?"))
        if s.value != 1:
            down.append(f"{s.labels.get('job')}/{s.labels.get('instance')}")
    evidence.record("targets_by_job", {j: sorted(i) for j, i in sorted(by_job.items())},
                    source=prometheus.describe(expr))
    where = prometheus.describe(expr)
    findings = []
    if not samples:
        findings.append(obs.no_data("scrape targets", "one series per target", prometheus, expr))
    missing = [j for j in expect["scrape_jobs"] if j not in by_job]
    if missing:
        findings.append(Finding("services not scraped", missing, f"a target for each of {expect['scrape_jobs']}",
                                where))
    if down:
        findings.append(Finding("targets down (up == 0)", sorted(down), "every target up == 1", where))
    return findings


@check("1.3.1")
def test_prometheus_scrapes_all_services(prometheus, expect, evidence):
    fail_check(findings=_scrape_findings(prometheus, expect, evidence))


@check("7.1.1")
def test_exporters_on_all_services(prometheus, expect, evidence):
    fail_check(findings=_scrape_findings(prometheus, expect, evidence))


# --------------------------------------------------------------------------- metrics

@check("7.1.2")
def test_business_metrics_instrumented(prometheus, expect, evidence):
    findings, seen = [], {}
    for metric in expect["business_metrics"]:
        expr = f"max(timestamp({metric}))"
        samples, refused = obs.value(prometheus, expr)
        if refused or not samples:
            findings.append(refused or obs.no_data(f"business metric {metric}",
                                                   "samples within Prometheus' lookback (5 minutes)",
                                                   prometheus, expr))
        else:
            seen[metric] = round(prometheus.at - samples[0].value, 1) if prometheus.at else None
    evidence.record("sample_age_seconds", seen, source=prometheus.describe("max(timestamp(<metric>))"))
    fail_check(findings=findings)


@check("7.1.3")
def test_service_mesh_metrics(prometheus, expect, evidence):
    if expect["service_mesh"] == "none":
        not_applicable("the profile declares no service mesh (expectations.service_mesh = \"none\")",
                       key="expectations.service_mesh")
    expr = "sum by (destination_service) (rate(istio_requests_total[5m]))"
    samples, refused = obs.value(prometheus, expr)
    if refused or not samples:
        fail_check(findings=[refused or obs.no_data("Istio request metrics", "istio_requests_total from the mesh",
                                                    prometheus, expr)])
    evidence.record("services", sorted(s.labels.get("destination_service", "") for s in samples),
                    source=prometheus.describe(expr))


# --------------------------------------------------------------------------- alert rules

def _rule_findings(prometheus, names, evidence, what: str) -> tuple[list[Finding], dict]:
    rules = obs.rules_by_name(prometheus)
    where = f"Prometheus {prometheus.base} GET /api/v1/rules"
    loaded = {n: {"group": rules[n]["_group"], "health": rules[n].get("health"),
                  "for_s": rules[n].get("duration", 0), "severity": rules[n].get("labels", {}).get("severity")}
              for n in names if n in rules}
    evidence.record(what, loaded, source=where)
    findings = []
    missing = [n for n in names if n not in rules]
    if missing:
        findings.append(Finding(f"{what} loaded", f"missing {missing}", f"all of {list(names)}", where))
    broken = {n: rules[n].get("lastError") or rules[n].get("health") for n in loaded if rules[n].get("health") == "err"}
    if broken:
        findings.append(Finding(f"{what} evaluating", broken, "health ok", where))
    return findings, rules


@check("7.2.1")
def test_critical_alerts_configured_and_tested(prometheus, expect, evidence):
    findings, rules = _rule_findings(prometheus, expect["critical_alerts"], evidence, "critical alert rules")
    where = f"Prometheus {prometheus.base} GET /api/v1/rules"
    critical = sorted(n for n, r in rules.items() if r.get("labels", {}).get("severity") == "critical")
    no_for = [n for n in critical if not rules[n].get("duration")]
    if no_for:
        findings.append(Finding("critical rules without for:", no_for, "a for: duration on every critical rule",
                                where))
    tests_file = ROOT / expect["alert_rule_tests"]
    tested = obs.tested_alerts(yaml.safe_load(tests_file.read_text("utf-8")))
    untested = [n for n in critical if n not in tested]
    if untested:
        findings.append(Finding("critical rules without a unit test", untested,
                                f"an alert_rule_test in {expect['alert_rule_tests']} for each", where))
    passed, output = obs.promtool_test(prometheus, tests_file)
    evidence.record("promtool_test_rules", output, source=f"promtool test rules {expect['alert_rule_tests']} "
                    f"against the rules loaded by {prometheus.base}")
    if not passed:
        first = next((ln.strip() for ln in output.splitlines() if "name:" in ln or "alertname" in ln), output[:200])
        findings.append(Finding("unit tests against the live rules", f"FAILED ({first})", "SUCCESS",
                                f"promtool test rules {expect['alert_rule_tests']} on {prometheus.base}'s rules"))
    fail_check(findings=findings)


@check("7.2.2")
def test_warning_alerts_configured(prometheus, expect, evidence):
    findings, _ = _rule_findings(prometheus, expect["warning_alerts"], evidence, "warning alert rules")
    fail_check(findings=findings)


# --------------------------------------------------------------------------- routing

def _route_findings(alertmanager, expect, evidence) -> list[Finding]:
    config = alertmanager.config()
    where = f"Alertmanager {alertmanager.base} GET /api/v2/status (config), routes evaluated like amtool"
    findings, seen = [], {}
    for severity, wanted in expect["alert_routes"].items():
        labels = {"severity": severity, "alertname": "ApexReadyRouteTest"}
        receivers = routing.receivers_for(config, labels)
        reached = [i for r in receivers for i in routing.integrations(config, r)]
        seen[severity] = {"receivers": receivers, "integrations": reached}
        for want in wanted:
            if not any(i == want or i.startswith(want + ":") for i in reached):
                findings.append(Finding(f"severity={severity} routed to {want}", f"receivers {receivers} notify "
                                        f"{reached or 'nothing'}", f"{want} among them", where))
    evidence.record("routes", seen, source=where)
    return findings


@check("1.3.4")
def test_alertmanager_routes(alertmanager, expect, evidence):
    fail_check(findings=_route_findings(alertmanager, expect, evidence))


@check("7.2.3")
def test_alert_routing(alertmanager, expect, evidence):
    fail_check(findings=_route_findings(alertmanager, expect, evidence))


# --------------------------------------------------------------------------- logs

@check("1.3.3")
def test_log_aggregation(logs, expect, evidence):
    window = expect["log_window"]
    where = f"{logs.where} query {logs.query_text(window)}"
    try:
        counts = logs.lines_by_service(window)
    except QueryError as exc:
        fail_check("log query", observed=f"refused: {exc}", expected="an answer", where=where)
        return
    evidence.record("lines_by_service", counts, source=where)
    silent = [s for s in expect["log_services"] if counts.get(s, 0) <= 0]
    if silent:
        fail_check(f"log lines in the last {window}", observed={s: counts.get(s, 0) for s in silent},
                   expected=f"recent lines from each of {expect['log_services']}", where=where)

"""Go-live metrics (10.2.5, 10.3.1, 10.3.2, 10.3.4, 10.4.4) and the daily AI spend tracking (11.2.2),
read from Prometheus and Alertmanager. Windows and thresholds are the profile's expectations.

An empty result is "no data", its own finding: an error rate is never taken as 0 % because no
request was counted.
"""

from __future__ import annotations

import datetime as dt
import math

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import observability as obs
from pytest_apexready.targets.logs import seconds


def _scalar(prometheus, expr: str, what: str, expected: str) -> float:
    samples, refused = obs.value(prometheus, expr)
    if refused or not samples:
        fail_check(findings=[refused or obs.no_data(what, expected, prometheus, expr)])
    val = samples[0].value
    if math.isnan(val):
        fail_check(what, observed="no data (no requests counted in the window: NaN)", expected=expected,
                   where=prometheus.describe(expr))
    return val


@check("10.3.1")
def test_error_rate(prometheus, expect, evidence):
    job, w, limit = expect["api_job"], expect["slo_window"], expect["max_error_rate_percent"]
    expr = (f'100 * (sum(rate(http_requests_total{{job="{job}", status=~"5.."}}[{w}])) or vector(0))'
            f' / sum(rate(http_requests_total{{job="{job}"}}[{w}]))')
    rate = _scalar(prometheus, expr, f"5xx share of {job} requests over {w}", f"below {limit} %")
    evidence.record("error_rate_percent", round(rate, 3), source=prometheus.describe(expr))
    if rate >= limit:
        fail_check(f"5xx share of {job} requests over {w}", observed=f"{rate:.2f} %", expected=f"below {limit} %",
                   where=prometheus.describe(expr))


@check("10.3.2")
def test_latency_p95(prometheus, expect, evidence):
    job, w, limit = expect["api_job"], expect["slo_window"], expect["p95_latency_ms"]
    expr = (f'1000 * histogram_quantile(0.95, sum by (le) '
            f'(rate(http_request_duration_seconds_bucket{{job="{job}"}}[{w}])))')
    p95 = _scalar(prometheus, expr, f"p95 latency of {job} over {w}", f"below {limit} ms")
    evidence.record("p95_ms", round(p95, 1), source=prometheus.describe(expr))
    if p95 >= limit:
        fail_check(f"p95 latency of {job} over {w}", observed=f"{p95:.0f} ms", expected=f"below {limit} ms",
                   where=prometheus.describe(expr))


@check("10.3.4")
def test_no_critical_alert_firing(alertmanager, evidence):
    where = f"Alertmanager {alertmanager.base} GET /api/v2/alerts?active=true&silenced=false&inhibited=false"
    critical = [a for a in alertmanager.alerts() if a.get("labels", {}).get("severity") == "critical"]
    names = sorted({f"{a['labels'].get('alertname')}{_job(a['labels'])}" for a in critical})
    evidence.record("critical_firing", names, source=where)
    if names:
        fail_check("critical alerts firing", observed=names, expected="none", where=where)


def _job(labels) -> str:
    job = labels.get("job") or labels.get("service")
    return f" ({job})" if job else ""


@check("10.2.5")
def test_all_dashboards_green(grafana, prometheus, evidence):
    firing = obs.firing(prometheus)
    findings, state = [], {}
    for uid, dash in sorted(grafana.dashboards().items()):
        panels = obs.panels(dash)
        exprs = [e for _, es in panels for e in es]
        jobs = obs.jobs_of(exprs)
        empty = []
        for title, es in panels:
            for expr in es:
                samples, refused = obs.value(prometheus, expr)
                if refused or not samples:
                    empty.append(title)
        alerts = sorted({a["labels"].get("alertname", "?") + _job(a["labels"]) for a in firing
                         if not (a["labels"].keys() & {"job", "service"})
                         or a["labels"].get("job") in jobs or a["labels"].get("service") in jobs})
        state[uid] = {"panels": len(panels), "without_data": empty, "alerts_firing": alerts}
        if empty:
            findings.append(Finding(f"dashboard {uid}: panels with data", f"{obs.NO_DATA}: {sorted(set(empty))}",
                                    "every panel has data", f"{grafana.where}; Prometheus {prometheus.base}"))
        if alerts:
            findings.append(Finding(f"dashboard {uid}: alerts for the services it shows ({sorted(jobs) or 'all'})",
                                    alerts, "none firing", f"Prometheus {prometheus.base} GET /api/v1/rules"))
    evidence.record("dashboards", state, source=f"{grafana.where}; Prometheus {prometheus.base}")
    if not state:
        findings.append(Finding("dashboards", "none", "at least one", grafana.where))
    fail_check(findings=findings)


def _since_go_live(apex_profile, expect) -> tuple[float, str]:
    """Seconds since go-live (when the profile's go_live is past) or the profile's incident_window."""
    from pytest_apexready.phases import parse_go_live

    if apex_profile.go_live is not None:
        start = parse_go_live(apex_profile.go_live, str(apex_profile.path))
        elapsed = (dt.datetime.now(dt.UTC) - start).total_seconds()
        if elapsed > 0:
            return elapsed, f"since go-live {start.isoformat()}"
    return seconds(expect["incident_window"]), f"over the last {expect['incident_window']} (go_live not reached)"


@check("10.4.4")
def test_no_incidents(prometheus, apex_profile, expect, evidence):
    span, label = _since_go_live(apex_profile, expect)
    window = f"{max(60, int(span))}s"
    history = f"count(count_over_time(up[{window}]))"
    expr = f'max by (alertname) (max_over_time(ALERTS{{alertstate="firing", severity="critical"}}[{window}]))'
    if not _has(prometheus, history):
        fail_check(findings=[obs.no_data(f"Prometheus history {label}", "samples to read the alert history from",
                                         prometheus, history)])
    samples, refused = obs.value(prometheus, expr)
    if refused:
        fail_check(findings=[refused])
    fired = sorted(s.labels.get("alertname", "?") for s in samples)
    evidence.record("critical_alerts_fired", fired, source=prometheus.describe(expr))
    if fired:
        fail_check(f"critical alerts fired {label}", observed=fired, expected="none (zero incidents)",
                   where=prometheus.describe(expr))


def _has(prometheus, expr: str) -> bool:
    samples, _ = obs.value(prometheus, expr)
    return bool(samples)


@check("11.2.2")
def test_ai_spend_tracked_daily(prometheus, expect, evidence):
    days, metric = expect["spend_tracking_days"], expect["ai_spend_metric"]
    expr = f"sum({metric})"
    series = prometheus.query_range(expr, days * 86400, 900)
    points = [t for _, values in series for t, _ in values]
    end = prometheus.at or 0.0
    per_day = {}
    for day in range(days):
        hi, lo = end - day * 86400, end - (day + 1) * 86400
        per_day[dt.datetime.fromtimestamp(lo, dt.UTC).date().isoformat()] = sum(lo < t <= hi for t in points)
    where = f"Prometheus {prometheus.base} query_range {expr} over {days} day(s), step 15m"
    evidence.record("samples_per_day", per_day, source=where)
    missing = [d for d, n in per_day.items() if n == 0]
    if missing:
        fail_check(f"daily samples of {metric}", observed=f"{obs.NO_DATA} on {missing}",
                   expected=f"samples on each of the last {days} day(s)", where=where)

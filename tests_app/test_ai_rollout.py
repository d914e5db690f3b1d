"""Section 4 "AI Automation Cost Controls": the AI cost alert rules (4.3.1) and the weekly flag
rollout (4.2.1-4.2.3), read from the flags in ``backend-secrets`` (Kubernetes) and the spend so far
from the AI cost metric (Prometheus).

The rollout by week since the profile's ``go_live``: before go-live every flag is false; week 1
turns on ENABLE_SALES_AI_OPTIMIZATION only; from week 2 ENABLE_GROWTH_AI_ANALYTICS may be on if
the spend so far is below $50; from week 3 ENABLE_SELF_EVOLVING_AI if below $75.
"""

from __future__ import annotations

import datetime as dt

from pytest_apexready import check, fail_check
from pytest_apexready import k8s_objects as k8s
from pytest_apexready import observability as obs

SALES, GROWTH, SELF = "ENABLE_SALES_AI_OPTIMIZATION", "ENABLE_GROWTH_AI_ANALYTICS", "ENABLE_SELF_EVOLVING_AI"
#: flag -> first week it may be on
FIRST_WEEK = {SALES: 1, GROWTH: 2, SELF: 3}


@check("4.3.1")
def test_ai_cost_alerts_loaded(prometheus, expect, evidence):
    rules = obs.rules_by_name(prometheus)
    where = f"Prometheus {prometheus.base} GET /api/v1/rules"
    names = expect["ai_cost_alerts"]
    evidence.record("ai_cost_rules", {n: {"group": rules[n]["_group"], "health": rules[n].get("health"),
                                          "expr": rules[n]["query"]} for n in names if n in rules}, source=where)
    missing = [n for n in names if n not in rules]
    broken = [n for n in names if n in rules and rules[n].get("health") == "err"]
    if missing or broken:
        fail_check("AI cost alert rules loaded", observed={"missing": missing, "failing to evaluate": broken},
                   expected=f"all of {names} loaded and evaluating", where=where)


def _week(apex_profile) -> tuple[int, str]:
    """0 before go-live, else 1 + whole weeks since go-live."""
    from pytest_apexready.phases import parse_go_live

    if apex_profile.go_live is None:
        return 0, "go_live not set: before go-live"
    start = parse_go_live(apex_profile.go_live, str(apex_profile.path))
    elapsed = dt.datetime.now(dt.UTC) - start
    if elapsed.total_seconds() < 0:
        return 0, f"before go-live ({start.isoformat()})"
    return 1 + elapsed.days // 7, f"week {1 + elapsed.days // 7} since go-live {start.isoformat()}"


def _rollout(flag: str, kubernetes, prometheus, apex_profile, expect, evidence) -> None:
    name = kubernetes.settings.get("backend_secret", "backend-secrets")
    where = k8s.where(kubernetes, f"GET secret {name} (.data {flag})")
    data = k8s.secret_data(kubernetes, name)
    if data is None:
        fail_check(f"Secret {name}", observed="absent", expected="present", where=where)
        return
    on = {f: data.get(f, "").strip().lower() == "true" for f in FIRST_WEEK}
    week, when = _week(apex_profile)
    evidence.record("flags", on, source=where)   # booleans, not secrets
    evidence.record("week", when, source=f"go_live of {apex_profile.path.name}")
    if week < FIRST_WEEK[flag]:
        if on[flag]:
            fail_check(f"{flag} ({when})", observed="true", expected=f"false until week {FIRST_WEEK[flag]}",
                       where=where)
        if flag == SALES and week == 0 and any(on.values()):
            fail_check(f"AI flags ({when})", observed={f: v for f, v in on.items() if v}, expected="every flag false",
                       where=where)
        return
    if flag == SALES:
        if not on[SALES]:
            fail_check(f"{SALES} ({when})", observed="false", expected="true from week 1", where=where)
        if week == 1 and (on[GROWTH] or on[SELF]):
            fail_check(f"AI flags ({when})", observed={f: v for f, v in on.items() if v},
                       expected=f"{SALES} only in week 1", where=where)
        return
    limit = float(expect["ai_rollout_spend_limits"][flag])
    span = max(60, int((dt.datetime.now(dt.UTC)
                        - _go_live(apex_profile)).total_seconds()))
    expr = f"sum(increase({expect['ai_spend_metric']}[{span}s]))"
    samples, refused = obs.value(prometheus, expr)
    if refused or not samples:
        fail_check(findings=[refused or obs.no_data("AI spend since go-live", f"a value to compare with ${limit:g}",
                                                    prometheus, expr)])
    spend = samples[0].value
    evidence.record("spend_since_go_live_dollars", round(spend, 2), source=prometheus.describe(expr))
    if on[flag] and spend >= limit:
        fail_check(f"{flag} ({when})", observed=f"true with ${spend:.2f} spent",
                   expected=f"on only while the spend so far is below ${limit:g}",
                   where=f"{where}; {prometheus.describe(expr)}")


def _go_live(apex_profile) -> dt.datetime:
    from pytest_apexready.phases import parse_go_live

    return parse_go_live(apex_profile.go_live, str(apex_profile.path))


@check("4.2.1")
def test_week1_sales_ai_only(kubernetes, prometheus, apex_profile, expect, evidence):
    _rollout(SALES, kubernetes, prometheus, apex_profile, expect, evidence)


@check("4.2.2")
def test_week2_growth_ai_within_spend(kubernetes, prometheus, apex_profile, expect, evidence):
    _rollout(GROWTH, kubernetes, prometheus, apex_profile, expect, evidence)


@check("4.2.3")
def test_week3_self_evolving_ai_within_spend(kubernetes, prometheus, apex_profile, expect, evidence):
    _rollout(SELF, kubernetes, prometheus, apex_profile, expect, evidence)

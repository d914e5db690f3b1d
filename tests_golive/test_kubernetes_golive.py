"""Section 10 "Go-Live Checklist", the Kubernetes item: the AI automation jobs run successfully."""

from __future__ import annotations

import datetime as dt

from pytest_apexready import check, fail_check
from pytest_apexready import k8s_objects as k8s


@check("10.4.3")
def test_automation_runs_succeed(kubernetes, expect, cronjob, evidence):
    where = k8s.where(kubernetes, f"GET cronjob {cronjob} status, jobs it owns")
    obj = k8s.cronjob(kubernetes, cronjob)
    jobs = [j for j in kubernetes.list("Job")
            if any(o.get("kind") == "CronJob" and o.get("name") == cronjob
                   for o in j["metadata"].get("ownerReferences", []))
            or j["metadata"].get("labels", {}).get("app.kubernetes.io/name") == cronjob]
    succeeded = sorted((j["status"].get("completionTime") for j in jobs if j.get("status", {}).get("succeeded")),
                       reverse=True)
    last = (k8s.parse_time(obj.get("status", {}).get("lastSuccessfulTime"))
            or k8s.parse_time(succeeded[0] if succeeded else None))
    evidence.record("jobs", {j["metadata"]["name"]: j.get("status", {}).get("succeeded", 0) for j in jobs},
                    source=where)
    evidence.record("last_success", last.isoformat() if last else None, source=where)
    limit = dt.timedelta(hours=expect["job_success_max_age_hours"])
    if last is None or dt.datetime.now(dt.UTC) - last > limit:
        fail_check(f"successful runs of {cronjob}", observed=last.isoformat() if last else "no successful Job",
                   expected=f"a successful run in the last {expect['job_success_max_age_hours']} hours", where=where)

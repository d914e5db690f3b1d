"""Section 1 "Infrastructure Verification", the Kubernetes items: the cluster, the backup jobs."""

from __future__ import annotations

import re

from pytest_apexready import check, fail_check
from pytest_apexready import k8s_objects as k8s


@check("1.1.1")
def test_cluster_version_and_nodes(kubernetes, expect, evidence):
    where = k8s.where(kubernetes, "GET /version and nodes")
    version = kubernetes.version()
    nodes = kubernetes.list("Node")
    ready = [n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))]
    evidence.record("gitVersion", version.get("gitVersion"), source=where)
    evidence.record("ready_nodes", ready, source=where)
    have = tuple(int(x) for x in re.findall(r"\d+", f"{version.get('major', 0)}.{version.get('minor', 0)}")[:2])
    want = tuple(int(x) for x in expect["kubernetes_min_version"].split(".")[:2])
    if have < want:
        fail_check("Kubernetes version", observed=version.get("gitVersion"), expected=f">= {expect['kubernetes_min_version']}",
                   where=where)
    if not ready:
        fail_check("nodes", observed=f"{len(nodes)} nodes, none Ready", expected="at least one Ready node", where=where)


@check("1.3.5")
def test_backup_cronjobs(kubernetes, expect, evidence):
    where = k8s.where(kubernetes, "GET cronjobs")
    cronjobs = {c["metadata"]["name"]: c for c in kubernetes.list("CronJob")}
    wanted = expect["backup_cronjobs"]
    found = {n: {"schedule": cronjobs[n]["spec"]["schedule"], "suspend": cronjobs[n]["spec"].get("suspend", False),
                 "lastSuccessfulTime": cronjobs[n].get("status", {}).get("lastSuccessfulTime")}
             for n in wanted if n in cronjobs}
    evidence.record("backup_cronjobs", found, source=where)
    evidence.record("aws_half", "snapshot retention and S3 exports are read by the AWS checks", source="apexready")
    missing = [n for n in wanted if n not in cronjobs]
    suspended = [n for n, v in found.items() if v["suspend"]]
    not_daily = [n for n, v in found.items() if not _at_least_daily(v["schedule"])]
    if missing or suspended or not_daily:
        fail_check("backup CronJobs", observed={"missing": missing, "suspended": suspended, "less than daily": not_daily},
                   expected=f"{wanted} scheduled at least daily and not suspended", where=where)


def _at_least_daily(schedule: str) -> bool:
    fields = schedule.split()
    if schedule.startswith("@"):
        return schedule in ("@daily", "@midnight", "@hourly")
    return len(fields) == 5 and fields[2] == "*" and fields[3] == "*" and fields[4] == "*"

"""Section 1 "Infrastructure Verification", the Kubernetes items: the cluster, the backup jobs."""

from __future__ import annotations

import re

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import k8s_objects as k8s
from pytest_apexready.rules.k8s import at_least_daily


@check("1.1.1", part="k8s")  # the EKS half is the catalog's part "aws"
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
    findings = []
    if have < want:
        findings.append(Finding("Kubernetes version", version.get("gitVersion"),
                                f">= {expect['kubernetes_min_version']}", where))
    if not ready:
        findings.append(Finding("nodes", f"{len(nodes)} nodes, none Ready", "at least one Ready node", where))
    fail_check(findings=findings)


@check("1.3.5", part="k8s")  # snapshot retention and S3 exports are the catalog's part "aws"
def test_backup_cronjobs(kubernetes, expect, evidence):
    where = k8s.where(kubernetes, "GET cronjobs")
    cronjobs = {c["metadata"]["name"]: c for c in kubernetes.list("CronJob")}
    wanted = expect["backup_cronjobs"]
    found = {n: {"schedule": cronjobs[n]["spec"]["schedule"], "suspend": cronjobs[n]["spec"].get("suspend", False),
                 "lastSuccessfulTime": cronjobs[n].get("status", {}).get("lastSuccessfulTime")}
             for n in wanted if n in cronjobs}
    evidence.record("backup_cronjobs", found, source=where)
    missing = [n for n in wanted if n not in cronjobs]
    suspended = [n for n, v in found.items() if v["suspend"]]
    not_daily = {n: v["schedule"] for n, v in found.items() if not at_least_daily(v["schedule"])}
    fail_check(findings=[Finding(what, observed, expected, where) for what, observed, expected in (
        ("backup CronJobs missing", missing, f"all of {wanted} present"),
        ("backup CronJobs suspended", suspended, "none suspended"),
        ("backup CronJobs less than daily", not_daily, "a schedule firing at least daily"),
    ) if observed])

"""Section 5 "Security Hardening", the Kubernetes items: secrets, ServiceAccounts, network policies."""

from __future__ import annotations

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import k8s_objects as k8s
from pytest_apexready.rules.k8s import BROAD_ROLES, looks_secret


@check("5.1.1")
def test_no_secrets_in_configmaps(kubernetes, evidence):
    where = k8s.where(kubernetes, "GET configmaps")
    findings = []
    maps = kubernetes.list("ConfigMap")
    for cm in maps:
        if cm["metadata"]["name"] == "kube-root-ca.crt":
            continue
        for key, value in (cm.get("data") or {}).items():
            if looks_secret(key, value):
                findings.append(f"{cm['metadata']['name']}/{key}")  # never the value
    evidence.record("configmaps_scanned", len(maps), source=where)
    evidence.record("secret_like_entries", findings, source=where)
    if findings:
        fail_check("sensitive data in ConfigMaps", observed=findings, expected="none: sensitive data only in Secrets",
                   where=where)


@check("5.1.3")
def test_service_accounts_minimal(kubernetes, expect, evidence):
    where = k8s.where(kubernetes, "GET serviceaccounts, roles, rolebindings, clusterrolebindings, workloads")
    ns = kubernetes.namespace
    accounts = {sa["metadata"]["name"]: sa for sa in kubernetes.list("ServiceAccount")}
    roles = {r["metadata"]["name"]: r for r in kubernetes.list("Role")}
    bindings = [(b, "Role") for b in kubernetes.list("RoleBinding")] + \
               [(b, "Cluster") for b in kubernetes.list("ClusterRoleBinding")]
    bound, wildcards, default_sa, tokens = [], [], [], []
    granted: dict[str, list[str]] = {}
    for binding, scope in bindings:
        subjects = [s for s in binding.get("subjects") or [] if s.get("kind") == "ServiceAccount"
                    and s.get("namespace", ns) == ns]
        if not subjects:
            continue
        ref = binding["roleRef"]
        for s in subjects:
            granted.setdefault(s["name"], []).append(f"{ref['kind']}/{ref['name']}")
            if ref["name"] in BROAD_ROLES or (ref["kind"] == "ClusterRole" and scope == "Cluster"):
                bound.append(f"{s['name']} is bound to {ref['kind']} {ref['name']} ({binding['metadata']['name']})")
            rules = roles.get(ref["name"], {}).get("rules", []) if ref["kind"] == "Role" else []
            for rule in rules:
                if "*" in rule.get("verbs", []) or "*" in rule.get("resources", []):
                    wildcards.append(f"{s['name']}: Role {ref['name']} grants wildcards {rule}")
    workloads = kubernetes.list("Deployment") + kubernetes.list("CronJob")
    if len(workloads) < expect["k8s_min_workloads"]:  # no workload: nothing's ServiceAccount was inspected
        fail_check("nothing to check", observed=f"{len(workloads)} Deployments and CronJobs in namespace {ns}",
                   expected=f">= {expect['k8s_min_workloads']} workloads whose ServiceAccounts are inspected "
                            "(expectations.k8s_min_workloads = 0 declares a namespace without them)", where=where)
    for w in workloads:
        pod = k8s.pod_spec(w)
        sa = pod.get("serviceAccountName", "default")
        automount = pod.get("automountServiceAccountToken",
                            accounts.get(sa, {}).get("automountServiceAccountToken", True))
        if sa == "default":
            default_sa.append(f"{w['kind']} {w['metadata']['name']} runs as the default ServiceAccount")
        if automount:
            tokens.append(f"{w['kind']} {w['metadata']['name']} mounts a ServiceAccount token")
    evidence.record("bindings", granted, source=where)
    fail_check(findings=[Finding(what, observed, expected, where) for what, observed, expected in (
        ("ServiceAccount bindings", bound, "only namespaced Roles, never cluster-admin/admin/edit"),
        ("ServiceAccount Roles", wildcards, "no wildcard verbs or resources"),
        ("workloads' ServiceAccount", default_sa, "a dedicated ServiceAccount per workload"),
        ("ServiceAccount tokens", tokens, "automountServiceAccountToken: false"),
    ) if observed])


@check("5.1.4")
def test_network_policies(kubernetes, evidence):
    where = k8s.where(kubernetes, "GET networkpolicies, deployments, cronjobs")
    policies = kubernetes.list("NetworkPolicy")
    default_deny = [p["metadata"]["name"] for p in policies
                    if not (p["spec"].get("podSelector") or {})
                    and "Ingress" in p["spec"].get("policyTypes", ["Ingress"]) and not p["spec"].get("ingress")]
    evidence.record("policies", [p["metadata"]["name"] for p in policies], source=where)
    evidence.record("default_deny_ingress", default_deny, source=where)
    uncovered = []
    for w in kubernetes.list("Deployment") + kubernetes.list("CronJob"):
        labels = k8s.pod_labels(w)
        if not any(k8s.selects(p["spec"].get("podSelector") or {}, labels) for p in policies):
            uncovered.append(f"{w['kind']} {w['metadata']['name']}")
    findings = []
    if not default_deny:
        findings.append(Finding("default-deny ingress policies", default_deny,
                                "a policy selecting every pod with no ingress rule", where))
    if uncovered:
        findings.append(Finding("workloads whose pods no policy selects", uncovered, "none", where))
    fail_check(findings=findings)

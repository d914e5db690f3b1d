"""8.1.4 "Configuration Backups: All Kubernetes manifests in git": the live namespace against the manifests
directory the profile names (``[evidence] manifests = "sandbox/manifests"``), read only.

Every live Deployment, StatefulSet, CronJob, Service, ConfigMap, NetworkPolicy and HPA must have a manifest,
and every field a manifest sets must equal the live one; differences are listed per object
(rules in pytest_apexready/manifests.py).
"""

from __future__ import annotations

from pytest_apexready import Finding, check, fail_check
from pytest_apexready import k8s_objects as k8s
from pytest_apexready import manifests as mf
from pytest_apexready.outcomes import TargetUnavailable


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


@check("8.1.4")
def test_live_objects_match_the_manifests_in_git(kubernetes, apex_profile, pytestconfig, evidence):
    setting = apex_profile.evidence.get("manifests")
    if not setting:
        raise TargetUnavailable("evidence", str(apex_profile.path),
                                "the profile names no manifests directory; add [evidence] manifests = \"path/to/git/"
                                "checkout/of/the/manifests\" (relative to the project root)")
    root = pytestconfig.rootpath / setting
    try:
        wanted = mf.load_manifests(root, kubernetes.namespace)
    except (OSError, ValueError) as exc:
        raise TargetUnavailable("evidence", str(root), str(exc)) from None
    where = k8s.where(kubernetes, f"GET {', '.join(mf.KINDS)}")
    live = [obj for kind in mf.KINDS for obj in kubernetes.list(kind)]
    evidence.record("live_objects", sorted(f"{o['kind']}/{o['metadata']['name']}" for o in live), source=where)
    evidence.record("manifests", sorted(f"{k}/{n}" for k, n in wanted), source=str(root))
    found = mf.drift(live, wanted, setting)
    evidence.record("differences", len(found), source=f"{where}, compared with {setting}")
    fail_check(findings=[
        Finding(f"{d.kind} {d.name}", observed="in the cluster only", expected=f"a manifest in {setting}", where=where)
        if not d.field else
        Finding(f"{d.kind} {d.name}: {d.field}", observed=_show(d.observed), expected=f"{_show(d.expected)} "
                f"(as in {d.source})", where=where)
        for d in found])

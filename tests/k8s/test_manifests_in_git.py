"""8.1.4 "All Kubernetes manifests in git" (tests_infra/test_manifests_in_git.py) on the sandbox's real API server.

- passes: namespace ``apexmediation`` against ``sandbox/manifests/``, the files the sandbox applied it from;
- fails: ``variants/manifests-drift/`` applied into a throw-away namespace, then the Deployment scaled by hand
  and a ConfigMap created only in the cluster: both are listed, with observed, expected and where read.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
import yaml
from test_deploy_manifests import ADMIN, Api  # type: ignore[import-not-found]  # the sibling, by bare name

from checkrun import ROOT, run_checks

VARIANT = Path(__file__).resolve().parent / "variants" / "manifests-drift"
CHECKER = ROOT / ".sandbox" / "k8s" / "checker.kubeconfig"


def _profile(namespace: str, manifests: Path | str) -> str:
    return (f'description = "8.1.4 self-test"\n[targets.kubernetes]\nkubeconfig = "{CHECKER}"\n'
            f'namespace = "{namespace}"\nrequest_timeout = 5\n[evidence]\nmanifests = "{manifests}"\n')


@pytest.fixture(scope="module")
def admin():
    if not ADMIN.is_file():
        pytest.fail(f"no {ADMIN}: start the sandbox's control plane with `python -m sandbox up`")
    return Api(ADMIN)


def test_sandbox_namespace_matches_its_manifests(admin, tmp_path):
    run = run_checks(tmp_path, "dr and k8s", _profile("apexmediation", "sandbox/manifests"))
    item = run.items["8.1.4"]
    assert item["outcome"] == "passed", item["reason"]
    ev = {e["name"]: e["value"] for e in item["evidence"]}
    assert "Deployment/backend" in ev["live_objects"] and "CronJob/sales-automation" in ev["manifests"]
    assert ev["differences"] == 0


@pytest.fixture
def drifted(admin):
    ns = f"apex-drift-{secrets.token_hex(4)}"
    try:
        assert admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})[0] in (200, 201)
        for doc in yaml.safe_load_all((VARIANT / "app.yaml").read_text()):
            doc["metadata"]["namespace"] = ns
            status, out = admin.apply(doc)
            assert status in (200, 201), out
        # by hand, as `kubectl scale --replicas=4` and `kubectl create configmap hand-made` would
        status, out = admin.request("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/drift-app",
                                    {"spec": {"replicas": 4}}, "application/merge-patch+json",
                                    [("fieldManager", "kubectl-scale")])
        assert status == 200, out
        status, out = admin.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made"},
                                     "data": {"FEATURE": "on"}})
        assert status == 201, out
        time.sleep(0.5)  # the ReplicaSet the Deployment owns appears; it is not compared either way
        yield ns
    finally:
        admin.request("DELETE", f"/api/v1/namespaces/{ns}")


def test_hand_scaled_deployment_and_cluster_only_configmap_fail(drifted, tmp_path):
    run = run_checks(tmp_path, "dr and k8s", _profile(drifted, VARIANT))
    item = run.items["8.1.4"]
    assert item["outcome"] == "failed", json.dumps(item, indent=1)[:3000]
    reason = item["reason"]
    assert "Deployment drift-app: spec.replicas: observed 4; expected 2 (as in " in reason
    assert f"ConfigMap hand-made: observed in the cluster only; expected a manifest in {VARIANT}" in reason
    assert "read from GET Deployment, StatefulSet, CronJob" in reason and f"namespace {drifted}" in reason
    assert "drift-config" not in reason and "Service drift-app" not in reason  # as in git: no difference

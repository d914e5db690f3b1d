"""End-to-end smoke check of the sandbox control plane.

    python -m sandbox.kube.smoke [--keep] [--cron]

up -> apply sandbox/manifests/apexmediation.yaml -> check Deployments, PDB status,
a Job created from the growth-engine CronJob completing, checker RBAC, audit log
-> down (unless --keep).  --cron additionally waits (<= 90s) for a real
every-minute CronJob to create a Job that succeeds.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..common import SandboxError
from . import controlplane as cp
from .cluster import Cluster
from .workload import apply_manifests

NS = cp.APP_NAMESPACE


def _until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    return cp._wait(pred, timeout, what)


def run(data_dir: Path, keep: bool = False, cron: bool = False) -> dict[str, Any]:
    res: dict[str, Any] = {}
    t0 = time.time()
    cp.up(data_dir)
    res["up_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    apply_manifests(data_dir, cp.REPO_ROOT / "sandbox" / "manifests" / "apexmediation.yaml")
    res["apply_and_rollout_s"] = round(time.time() - t1, 1)
    admin = Cluster(data_dir / "admin.kubeconfig")
    checker = Cluster(data_dir / "checker.kubeconfig")
    try:
        pdb = _until(lambda: (admin.get(f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/backend")[1]
                              .get("status", {}).get("currentHealthy") == 3) and
                     admin.get(f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/backend")[1]["status"],
                     60, "PDB backend has not 3 healthy pods")
        res["pdb"] = {k: pdb.get(k) for k in ("currentHealthy", "desiredHealthy", "disruptionsAllowed")}

        cj = admin.get(f"/apis/batch/v1/namespaces/{NS}/cronjobs/growth-engine")[1]
        name = f"growth-engine-smoke-{int(time.time())}"
        admin.ok("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob", "name": "growth-engine",
                "uid": cj["metadata"]["uid"], "controller": True}]},
            "spec": cj["spec"]["jobTemplate"]["spec"]})
        t2 = time.time()
        _until(lambda: admin.get(f"/apis/batch/v1/namespaces/{NS}/jobs/{name}")[1]
               .get("status", {}).get("succeeded") == 1, 60, f"Job {name} did not succeed")
        res["job_complete_s"] = round(time.time() - t2, 1)

        if cron:
            admin.apply({"apiVersion": "batch/v1", "kind": "CronJob",
                         "metadata": {"name": "smoke-every-minute", "namespace": NS},
                         "spec": {"schedule": "* * * * *", "successfulJobsHistoryLimit": 1,
                                  "jobTemplate": {"spec": {"activeDeadlineSeconds": 60, "template": {
                                      "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                                               "containers": [{"name": "c", "image": "busybox"}]}}}}}})
            _until(lambda: admin.get(f"/apis/batch/v1/namespaces/{NS}/cronjobs/smoke-every-minute")[1]
                   .get("status", {}).get("lastSuccessfulTime"), 90, "every-minute CronJob never succeeded")
            admin.request("DELETE", f"/apis/batch/v1/namespaces/{NS}/cronjobs/smoke-every-minute")
            res["cronjob_fired"] = True

        expect = {
            ("GET", f"/api/v1/namespaces/{NS}/secrets/backend-secrets"): 200,
            ("GET", "/api/v1/namespaces/kube-system/secrets"): 403,
            ("GET", "/api/v1/nodes"): 200,
            ("GET", "/api/v1/namespaces"): 200,
            ("GET", f"/apis/apps/v1/namespaces/{NS}/deployments"): 200,
            ("DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/backend"): 403,
        }
        bad = {f"{m} {p}": st for (m, p), want in expect.items()
               if (st := checker.request(m, p)[0]) != want}
        if bad:
            raise cp.ControlPlaneError(f"checker RBAC mismatch: {bad}")
        res["checker_rbac"] = "ok"
        audit = (data_dir / "audit.log").read_text()
        if '"username":"apex-checker"' not in audit:
            raise cp.ControlPlaneError("audit log has no apex-checker events")
        res["audit_events"] = audit.count("\n")
    finally:
        if not keep:
            cp.down(data_dir)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=cp.DEFAULT_DATA_DIR)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--cron", action="store_true")
    a = ap.parse_args(argv)
    try:
        print(run(a.data_dir.resolve(), keep=a.keep, cron=a.cron))
    except SandboxError as e:
        print(f"SMOKE FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The sandbox's workloads on its control plane: the manifests applied, and each CronJob run once.

``controlplane`` starts and stops the processes; this module puts the application on them, with the
admin identity, and waits until it is what the checks expect to read (Deployments available, a Job
of every CronJob succeeded).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .cluster import Cluster
from .controlplane import APP_NAMESPACE, DEFAULT_DATA_DIR, REPO_ROOT, _paths, _wait

__all__ = ["apply_manifests", "load_yaml_docs", "run_cronjobs_once"]


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    import yaml  # PyYAML: a dev dependency, needed only to read manifests

    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def apply_manifests(data_dir: Path = DEFAULT_DATA_DIR, path: Path | str | None = None,
                    timeout: float = 120, wait: bool = True) -> dict[str, Any]:
    """Server-side apply every document of a YAML file with the admin identity,
    then wait until every Deployment in it is Available with all replicas ready."""
    data_dir = Path(data_dir).resolve()
    path = Path(path or REPO_ROOT / "sandbox" / "manifests" / "apexmediation.yaml")
    admin = Cluster(_paths(data_dir)["admin"])
    docs = load_yaml_docs(path)
    # namespaces first, then the rest in file order
    docs.sort(key=lambda d: 0 if d.get("kind") == "Namespace" else 1)
    applied = []
    for d in docs:
        admin.apply(d)
        applied.append(f"{d['kind']}/{d['metadata'].get('namespace', '')}/{d['metadata']['name']}")
    t0 = time.time()
    if wait:
        deployments = admin.resource("apps/v1", "Deployment")
        for d in docs:
            if d.get("kind") != "Deployment":
                continue
            name, namespace = d["metadata"]["name"], d["metadata"].get("namespace", "default")

            def available(name: str = name, namespace: str = namespace) -> bool:
                obj = deployments.get(name=name, namespace=namespace).to_dict()
                s = obj.get("status", {})
                want = obj["spec"].get("replicas", 1)
                conds = {c["type"]: c["status"] for c in s.get("conditions", [])}
                return bool(s.get("observedGeneration", 0) >= obj["metadata"]["generation"]
                            and s.get("availableReplicas", 0) >= want
                            and s.get("updatedReplicas", 0) >= want
                            and conds.get("Available") == "True")
            _wait(available, timeout, f"Deployment {namespace}/{name} not available")
    return {"applied": applied, "deployments_ready_after_s": round(time.time() - t0, 2)}


def run_cronjobs_once(data_dir: Path = DEFAULT_DATA_DIR, namespace: str = APP_NAMESPACE,
                      timeout: float = 60) -> list[str]:
    """Give every CronJob in the namespace one run now (like `kubectl create job --from=cronjob/NAME`),
    unless it already has a Job, and wait for those Jobs to succeed: the sandbox then shows the
    history a cluster that has been running for a day would show."""
    admin = Cluster(_paths(Path(data_dir).resolve())["admin"])
    cronjobs = admin.resource("batch/v1", "CronJob").get(namespace=namespace).to_dict()["items"]
    jobs = admin.resource("batch/v1", "Job")
    owners = {o["name"] for j in jobs.get(namespace=namespace).to_dict()["items"]
              for o in j["metadata"].get("ownerReferences", [])}
    created = []
    for cj in cronjobs:
        name = cj["metadata"]["name"]
        if name in owners:
            continue
        job = f"{name}-initial-{int(time.time())}"
        jobs.create(namespace=namespace, body={
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job, "namespace": namespace,
                         "labels": cj["spec"]["jobTemplate"].get("metadata", {}).get("labels", {}),
                         "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": name,
                                              "uid": cj["metadata"]["uid"], "controller": True}]},
            "spec": cj["spec"]["jobTemplate"]["spec"]})
        created.append(job)
    for job in created:
        def succeeded(job: str = job) -> bool:
            return bool(jobs.get(name=job, namespace=namespace).to_dict().get("status", {}).get("succeeded") == 1)
        _wait(succeeded, timeout, f"Job {namespace}/{job} did not succeed")
    return created

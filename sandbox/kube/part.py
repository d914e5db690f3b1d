"""The Kubernetes sandbox part (`sandbox/parts.py`): control plane, workloads, one run of each CronJob."""

from __future__ import annotations

import time

from ..common import HOST, REPO_ROOT, SANDBOX_DIR, SandboxError, step
from ..parts import Ctx, Row

K8S_DIR = SANDBOX_DIR / "k8s"
K8S_MANIFEST = REPO_ROOT / "sandbox" / "manifests" / "apexmediation.yaml"


def up(ctx: Ctx) -> None:
    """Build the control plane once (cached), start it, apply the workloads, give each CronJob a run."""
    from . import build, controlplane, workload

    log = ctx.log("kubernetes")
    t0 = time.monotonic()
    try:
        binaries = build.ensure_binaries()
        log(f"binaries ready in {time.monotonic() - t0:.1f}s ({build.cache_root(None)})")
        controlplane.up(K8S_DIR, binaries=binaries)
        result = workload.apply_manifests(K8S_DIR, K8S_MANIFEST)
        created = workload.run_cronjobs_once(K8S_DIR)
    except (build.BuildError, controlplane.ControlPlaneError) as exc:
        raise SandboxError(f"Kubernetes control plane: {exc}") from None
    log(f"applied {len(result['applied'])} objects from {K8S_MANIFEST.relative_to(REPO_ROOT)}; "
        f"deployments ready after {result['deployments_ready_after_s']}s")
    if created:
        log(f"ran {len(created)} CronJob(s) once: {', '.join(created)}")
    log(f"ready; checker kubeconfig {(K8S_DIR / 'checker.kubeconfig').relative_to(REPO_ROOT)}")


def down(ctx: Ctx) -> None:
    if (K8S_DIR / "run").exists():
        from . import controlplane

        step("kubernetes", "stopping the control plane")
        controlplane.down(K8S_DIR)


def status(ctx: Ctx) -> list[Row]:
    from . import controlplane

    state = controlplane.status(K8S_DIR)
    comps = state["components"]
    unhealthy = [c for c, v in comps.items() if not v["healthy"]]
    return [{"component": "kubernetes", "state": "running" if state["healthy"] else "stopped",
             "pid": comps.get("kube-apiserver", {}).get("pid"),
             "address": f"{HOST}:{controlplane.DEFAULT_PORTS['apiserver']}",
             "detail": "etcd, apiserver, controller-manager, scheduler, kwok healthy" if state["healthy"]
             else f"not healthy: {', '.join(unhealthy)}"}]

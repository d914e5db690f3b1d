"""Benchmark: the Kubernetes checks against a namespace with 10, 200 and 2,000 Deployments.

    python -m sandbox up && python benchmarks/kubernetes_scale.py [--sizes 10,200,2000] [--workers 16]

A throw-away namespace ``apex-scale-<random>`` gets the ApexMediation manifests of the sandbox
(backend, console, CronJobs with one Job each, ...) plus N-2 filler Deployments ``svc-NNNN``;
the checks (``pytest -m k8s``) then run against it with a profile whose
``backend`` list names EVERY Deployment, so the checklist grows by 9 tests (3.1.1-3.1.9)
per Deployment. The point: the API requests the checks send must not grow with those tests;
only the Deployment list grows, by one page per 500 objects (limit=500 + continue).

Requests are counted twice: on the server, from the apiserver's audit log (user apex-checker,
the official client's User-Agent, this namespace or cluster-scoped, written during the run), and
on the client ($APEX_TRACE_QUERIES: every GET the checks' client sends). Both must agree.

Cheap for the shared sandbox: the fillers have 0 replicas (1 is not possible anyway: the 3 kwok
nodes take 110 pods each) and are created paused with their final status already written, so the
deployment controller neither creates ReplicaSets nor writes status for them: it has no backlog
that other users of the sandbox would wait behind. The namespace is deleted at the end.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from checkrun import run_checks  # noqa: E402
from sandbox.kube import controlplane, objects, workload  # noqa: E402
from sandbox.kube.audit import AuditTail  # noqa: E402
from sandbox.kube.cluster import Cluster  # noqa: E402

DATA = Path(controlplane.DEFAULT_DATA_DIR).resolve()
ADMIN = DATA / "admin.kubeconfig"
CHECKER = DATA / "checker.kubeconfig"
AUDIT = DATA / "audit.log"
APP_MANIFEST = ROOT / "sandbox" / "manifests" / "apexmediation.yaml"
CHECKER_USER = "apex-checker"
CHECKS_AGENT = "OpenAPI-Generator/"
SHA = "13364fbb855123578dea53d668f720eab4e48e0c"
PAGE = 500


def app_objects(ns: str) -> list[dict]:
    """The sandbox's ApexMediation manifests, moved into namespace ns."""
    docs = workload.load_yaml_docs(APP_MANIFEST)
    out = []
    for d in docs:
        if d["kind"] == "Namespace":
            continue
        d["metadata"]["namespace"] = ns
        for s in d.get("subjects", []):
            if s.get("kind") == "ServiceAccount":
                s["namespace"] = ns
        out.append(d)
    return out


def filler(ns: str, i: int) -> tuple[dict, dict]:
    """A (paused, 0-replica) Deployment and the status the deployment controller would write for it."""
    name = f"svc-{i:04d}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "apexmediation"}
    probe = {"httpGet": {"path": "/health", "port": 8080}}
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": 0, "paused": True, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "serviceAccountName": "backend", "automountServiceAccountToken": False,
                     "containers": [{"name": "app", "image": f"registry.local/apexmediation-{name}:{SHA}",
                                     "envFrom": [{"secretRef": {"name": "backend-secrets"}}],
                                     "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                   "limits": {"cpu": "100m", "memory": "128Mi"}},
                                     "readinessProbe": probe, "livenessProbe": probe}]}}},
    }
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"status": {"observedGeneration": 1, "terminatingReplicas": 0, "conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
        {"type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused",
         "message": "Deployment is paused", "lastUpdateTime": now, "lastTransitionTime": now}]}}
    return dep, status


def create_fillers(admin: Cluster, ns: str, indices: range, workers: int) -> float:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"

    def one(i: int) -> None:
        dep, status = filler(ns, i)
        admin.ok("POST", base, dep)
        admin.ok("PATCH", f"{base}/{dep['metadata']['name']}/status", status,
                 content_type="application/merge-patch+json")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, indices))
    return time.perf_counter() - t0


def profile(ns: str, backends: list[str]) -> str:
    names = ", ".join(f'"{n}"' for n in backends)
    return (f'description = "kubernetes scale benchmark"\n[targets.kubernetes]\nkubeconfig = "{CHECKER}"\n'
            f'namespace = "{ns}"\nrequest_timeout = 10\nbackend = [{names}]\n')


def measure(ns: str, n: int, tmp: Path, tb: str) -> dict:
    backends = ["backend"] + [f"svc-{i:04d}" for i in range(n - 2)]
    trace = tmp / f"trace-{n}.jsonl"
    (tmp / f"run-{n}").mkdir()
    tail = AuditTail()
    t0 = time.perf_counter()
    run = run_checks(tmp / f"run-{n}", "k8s", profile(ns, backends), f"--tb={tb}",
                     env={"APEX_TRACE_QUERIES": str(trace)})
    wall = time.perf_counter() - t0
    time.sleep(0.5)
    events = [e for e in tail.events() if e["user"]["username"] == CHECKER_USER
              and e.get("userAgent", "").startswith(CHECKS_AGENT)
              and (e.get("objectRef") or {}).get("namespace") in (None, ns)]
    sent = [json.loads(line)["payload"] for line in trace.read_text().splitlines()]
    by_resource = collections.Counter((e.get("objectRef") or {}).get("resource", e["requestURI"]) for e in events)
    tests = sum(len(run.items[i]["tests"]) for i in run.items if "k8s" in run.items[i]["components"])
    outcomes = collections.Counter(t["outcome"] for i in run.items.values() if "k8s" in i["components"]
                                   for t in i["tests"])
    return {"deployments": n, "tests": tests, "wall_s": wall, "audit": len(events), "client": len(sent),
            "by_resource": dict(sorted(by_resource.items())), "verbs": collections.Counter(e["verb"] for e in events),
            "outcomes": dict(outcomes), "deployment_pages": by_resource.get("deployments", 0)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,200,2000", help="Deployments in the namespace per run (ascending)")
    ap.add_argument("--workers", type=int, default=16, help="threads creating Deployments")
    ap.add_argument("--keep", action="store_true", help="do not delete the namespace")
    ap.add_argument("--tb", default="auto",
                    help="pytest --tb for the runs (auto = pytest's default; its failure summary costs "
                         "O(failures x tests): use line or no to see the checks' own time)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if not controlplane.status(DATA)["healthy"]:
        raise SystemExit("the sandbox control plane is not healthy: run `python -m sandbox up`")
    admin = Cluster(ADMIN)
    ns = f"apex-scale-{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="apex-k8s-scale-"))
    rows = []
    try:
        t0 = time.perf_counter()
        manifest = tmp / "app.yaml"
        import yaml
        manifest.write_text(yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                                                *app_objects(ns)]))
        workload.apply_manifests(DATA, manifest, timeout=120)
        for obj in objects.rbac_objects(ns):  # the checker reads secrets there, as in apexmediation
            if obj["kind"] in ("Role", "RoleBinding"):
                admin.apply(obj)
        workload.run_cronjobs_once(DATA, ns)
        print(f"namespace {ns}: app manifests applied, CronJobs run once ({time.perf_counter() - t0:.1f}s)",
              file=sys.stderr)
        have = 2  # backend, console
        for n in sizes:
            if n > have:
                secs = create_fillers(admin, ns, range(have - 2, n - 2), args.workers)
                print(f"  created {n - have} Deployments in {secs:.1f}s ({(n - have) / secs:.0f}/s)", file=sys.stderr)
                have = n
            row = measure(ns, n, tmp, args.tb)
            rows.append(row)
            print(f"  {n} Deployments: {row['tests']} tests, {row['wall_s']:.1f}s, {row['audit']} requests "
                  f"{row['by_resource']}", file=sys.stderr)
    finally:
        if not args.keep:
            t1 = time.perf_counter()
            admin.request("DELETE", f"/api/v1/namespaces/{ns}")
            deadline = time.time() + 180
            while time.time() < deadline and admin.get(f"/api/v1/namespaces/{ns}")[0] != 404:
                time.sleep(1)
            gone = admin.get(f"/api/v1/namespaces/{ns}")[0] == 404
            print(f"namespace {ns} {'deleted' if gone else 'still terminating'} after "
                  f"{time.perf_counter() - t1:.1f}s", file=sys.stderr)

    print(f"\npytest --tb={args.tb}")
    print(f"{'Deployments':>11} {'k8s tests':>9} {'wall s':>7} {'requests':>8} {'client':>6} "
          f"{'deploy pages':>12} {'expected pages':>14}  outcomes")
    for r in rows:
        print(f"{r['deployments']:>11} {r['tests']:>9} {r['wall_s']:>7.1f} {r['audit']:>8} {r['client']:>6} "
              f"{r['deployment_pages']:>12} {math.ceil(r['deployments'] / PAGE):>14}  {r['outcomes']}")
    print("\nrequests by resource (audit log):")
    kinds = sorted({k for r in rows for k in r["by_resource"]})
    print(f"{'resource':>28} " + " ".join(f"{r['deployments']:>6}" for r in rows))
    for k in kinds:
        print(f"{k:>28} " + " ".join(f"{r['by_resource'].get(k, 0):>6}" for r in rows))
    print("verbs: " + ", ".join(f"{r['deployments']}: {dict(r['verbs'])}" for r in rows))
    ok = all(r["audit"] == r["client"] for r in rows) and all(
        r["deployment_pages"] == math.ceil(r["deployments"] / PAGE) for r in rows) and all(
        r["audit"] - r["deployment_pages"] == rows[0]["audit"] - rows[0]["deployment_pages"] for r in rows) and all(
        set(r["verbs"]) <= {"get", "list"} for r in rows)
    print("\nrequests independent of the checklist size (one list per kind, ceil(N/500) Deployment pages): "
          + ("YES" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

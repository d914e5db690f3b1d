"""The Kubernetes checks (in tests_infra, tests_app, tests_security, tests_golive), both directions,
against the real control plane of the shared sandbox (kube-apiserver + etcd + controller-manager + scheduler + kwok).

- compliant: namespace ``apexmediation`` of the sandbox passes every Kubernetes item;
- non-compliant: ``variants/noncompliant.yaml`` applied into a throw-away namespace
  ``apex-neg-<random>`` (admin identity) fails every item, with observed, expected and
  where-read in the reason; the namespace is deleted afterwards;
- read-only: the apiserver's audit log (Metadata level, every request) shows only
  get/list/watch by the checker identity ``apex-checker`` during a full ``-m "app or k8s"`` run,
  and that identity is refused any write;
- unreachable: a closed port and a silent port error every item with one reason, after one timeout.

Nothing in namespace ``apexmediation`` is changed; the sandbox is neither started nor stopped here.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import pytest

from checkrun import ROOT, run_checks
from netutil import SilentServer, free_port
from sandbox.kube import controlplane, objects, workload
from sandbox.kube.audit import AuditTail

DATA = Path(controlplane.DEFAULT_DATA_DIR).resolve()
ADMIN = DATA / "admin.kubeconfig"
CHECKER = DATA / "checker.kubeconfig"
AUDIT = DATA / "audit.log"
LOCAL = ROOT / "environments" / "local.toml"
VARIANTS = Path(__file__).resolve().parent / "variants"
CHECKER_USER = "apex-checker"
READ_VERBS = {"get", "list", "watch"}
#: the User-Agent of the official client the checks use (other tools acting as apex-checker differ)
CHECKS_AGENT = "OpenAPI-Generator/"

K8S_ITEMS = ["1.1.1", "1.3.5", "3.1.1", "3.1.2", "3.1.3", "3.1.4", "3.1.5", "3.1.6", "3.1.7", "3.1.8",
             "3.1.9", "3.2.1", "3.2.2", "3.2.3", "3.2.4", "3.2.5", "3.2.6", "3.3.1", "3.3.2", "3.3.3",
             "3.3.4", "4.1.4",
             "5.1.1", "5.1.3", "5.1.4", "10.4.3"]


# --------------------------------------------------------------------------- helpers

def profile(namespace: str = "apexmediation", kubeconfig: Path = CHECKER, timeout: float = 5,
            expectations: str = "") -> str:
    return (f'description = "kubernetes self-test"\n'
            f'[targets.kubernetes]\nkubeconfig = "{kubeconfig}"\nnamespace = "{namespace}"\n'
            f'request_timeout = {timeout}\n[expectations]\n{expectations}')


def k8s_items(run) -> dict[str, dict]:
    return {i: run.items[i] for i in K8S_ITEMS}


def k8s_outcome(run, item_id: str) -> str:
    """The outcome of what Kubernetes proves of an item: its part "k8s" when it is proven in parts
    (the other parts, AWS or HTTP, have checks and self-tests of their own)."""
    parts = {p["name"]: p["outcome"] for p in run.items[item_id].get("parts", [])}
    return parts.get("k8s", run.outcome(item_id))


def outcomes(run) -> dict[str, str]:
    return {i: k8s_outcome(run, i) for i in K8S_ITEMS}


def describe(run, ids=K8S_ITEMS) -> str:
    return "\n".join(f"{i}: {k8s_outcome(run, i)}: {run.reason(i)}" for i in ids) + "\n" + run.output[-3000:]


def reasons_of(item: dict) -> str:
    return "\n".join(t["reason"] for t in item["tests"])


def kubeconfig_to(tmp: Path, port: int) -> Path:
    """A copy of the checker kubeconfig (JSON) whose server is https://127.0.0.1:<port>."""
    cfg = json.loads(CHECKER.read_text())
    cfg["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp / f"checker-{port}.kubeconfig"
    path.write_text(json.dumps(cfg))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def sandbox_k8s():
    status = controlplane.status(DATA)
    if not status["healthy"]:
        pytest.fail("the sandbox control plane is not healthy: start it with `python -m sandbox up`\n"
                    + json.dumps(status["components"], indent=1))
    return status


@pytest.fixture(scope="module")
def admin(sandbox_k8s):
    return controlplane.Api(ADMIN)


@pytest.fixture(scope="module")
def checker(sandbox_k8s):
    return controlplane.Api(CHECKER)


@pytest.fixture(scope="module")
def compliant(sandbox_k8s, tmp_path_factory):
    return run_checks(tmp_path_factory.mktemp("k8s-ok"), "k8s", LOCAL)


@pytest.fixture(scope="module")
def negative_ns(admin, tmp_path_factory):
    """variants/noncompliant.yaml in its own namespace, rolled out; deleted afterwards."""
    ns = f"apex-neg-{secrets.token_hex(4)}"
    manifest = tmp_path_factory.mktemp("k8s-neg") / "noncompliant.yaml"
    manifest.write_text((VARIANTS / "noncompliant.yaml").read_text().replace("__NAMESPACE__", ns))
    try:
        # admin server-side apply, then wait until both Deployments are Available (kwok makes pods Ready)
        workload.apply_manifests(DATA, manifest, timeout=60, wait=True)
        # the checker may read secrets there, as the sandbox grants it in `apexmediation`
        for obj in objects.rbac_objects(ns):
            if obj["kind"] in ("Role", "RoleBinding"):
                admin.apply(obj)
        yield ns
    finally:
        admin.request("DELETE", f"/api/v1/namespaces/{ns}")


@pytest.fixture(scope="module")
def negative(negative_ns, tmp_path_factory):
    return run_checks(tmp_path_factory.mktemp("k8s-neg-run"), "k8s",
                      profile(negative_ns, expectations='kubernetes_min_version = "1.99"\npdb_min_available = 3\n'))


#: the compliant namespace read against stricter expectations: branches the variant cannot show
STRICT = ('console_api_url = "https://api.elsewhere.example"\nconsole_cdn_url = "https://cdn.elsewhere.example"\n'
          'secret_min_length = 4096\nhealth_path = "/healthz-elsewhere"\njob_success_max_age_hours = 0.0001\n'
          'k8s_min_workloads = 1000\n')


@pytest.fixture(scope="module")
def strict(sandbox_k8s, tmp_path_factory):
    return run_checks(tmp_path_factory.mktemp("k8s-strict"), "k8s", profile(expectations=STRICT))


@pytest.fixture(scope="module")
def audited(sandbox_k8s, tmp_path_factory):
    """A full `-m "app or k8s"` run on the local profile, with the audit events written meanwhile
    and the GETs the checks' client reports it sent ($APEX_TRACE_QUERIES)."""
    tmp = tmp_path_factory.mktemp("k8s-audit")
    trace = tmp / "trace.jsonl"
    tail = AuditTail()
    run = run_checks(tmp, "app or k8s", LOCAL, env={"APEX_TRACE_QUERIES": str(trace)})
    time.sleep(0.5)  # the log backend writes synchronously; this only absorbs a slow flush
    sent = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    return run, tail.events(), [s["payload"][0] for s in sent if s["target"] == "kubernetes"]


# --------------------------------------------------------------------------- (a) compliant

def test_sandbox_passes_every_kubernetes_item(compliant):
    assert outcomes(compliant) == dict.fromkeys(K8S_ITEMS, "passed"), describe(compliant)
    # the parametrized items ran once per workload / CronJob of the profile's defaults
    assert [t["nodeid"].split("[")[1].rstrip("]") for t in compliant.items["3.3.4"]["tests"]] == \
        sorted(["sales-automation", "growth-engine", "self-evolving-system"])
    assert compliant.items["1.1.1"]["evidence"][0]["value"].startswith("v1.36")


# --------------------------------------------------------------------------- (b) non-compliant

#: item -> strings its failure reasons must contain (the observed values of the variant)
NEGATIVE = {
    "1.1.1": ["observed v1.36", "expected >= 1.99"],
    "1.3.5": ["backup CronJobs missing: observed ['clickhouse-backup']",
              "backup CronJobs suspended: observed ['postgres-backup']",
              "backup CronJobs less than daily: observed {'postgres-backup': '0 3 * * 0'}"],
    "3.1.1": ["'backend': 'registry.local/apexmediation-backend:latest'", "never latest"],
    "3.1.2": ["variables in Secret backend-secrets: observed 5; expected at least",
              "observed missing ['OPENAI_API_KEY', 'STRIPE_SECRET_KEY']"],
    "3.1.3": ["'backend: requests.cpu'", "'backend: limits.memory'"],
    "3.1.4": ["readinessProbe of backend: observed none on ['backend']"],
    "3.1.5": ["readinessProbe of backend: observed none on ['backend']"],
    "3.1.6": ["livenessProbe of backend: observed none on ['backend']"],
    "3.1.7": ["observed 2 desired, 2 ready", "expected at least 3 desired and ready"],
    "3.1.8": ["observed 1 to 20 replicas", "expected 3 to 10 replicas"],
    "3.1.9": ["observed minAvailable 2; expected minAvailable 3",
              "observed 2 healthy of 2 needed, 0 disruptions allowed; expected at least 1 disruption allowed"],
    "3.2.1": ["'console': 'registry.local/apexmediation-console'"],
    "3.2.2": ["NODE_ENV of console: observed development",
              "server of console: observed the development server (npx next dev)"],
    "3.2.3": ["'console': 'http://localhost:3000'"],
    "3.2.4": ["NEXTAUTH_SECRET of console: observed a literal value, not from a Secret"],
    "3.2.5": ["observed 1 desired, 1 ready", "expected at least 2 desired and ready"],
    "3.2.6": ["console static assets: observed {'console': None}", "ASSET_PREFIX set to the CDN's https origin"],
    "3.3.1": ["CronJobs missing: observed ['self-evolving-system']"],
    "3.3.2": ["schedule of sales-automation: observed 0 7 30 2 *; expected 0 19 * * *",
              "schedule of growth-engine: observed 15 4 30 2 *; expected 0 19 * * *",
              "CronJob self-evolving-system: observed absent"],
    "3.3.3": ["{'successfulJobsHistoryLimit': 10, 'failedJobsHistoryLimit': 5}",
              "CronJob self-evolving-system: observed absent"],
    "3.3.4": ["timeout of sales-automation: observed None", "timeout of growth-engine: observed None",
              "CronJob self-evolving-system: observed absent"],
    "4.1.4": ["{'ENABLE_AI_AUTOMATION': 'true'}", "every ENABLE_* flag set to false"],
    "5.1.1": ["'app-config/DATABASE_PASSWORD'", "'app-config/ANALYTICS_DB'"],
    "5.1.3": ["automation is bound to ClusterRole edit (automation-edit)",
              "Deployment backend runs as the default ServiceAccount",
              "Deployment console mounts a ServiceAccount token"],
    "5.1.4": ["default-deny ingress policies: observed []", "'Deployment backend'", "'CronJob sales-automation'"],
    "10.4.3": ["successful runs of sales-automation: observed no successful Job",
               "successful runs of growth-engine: observed no successful Job",
               "CronJob self-evolving-system: observed absent"],
}


def test_noncompliant_variant_fails_every_item(negative, negative_ns):
    assert sorted(NEGATIVE) == sorted(K8S_ITEMS)
    assert outcomes(negative) == dict.fromkeys(K8S_ITEMS, "failed"), describe(negative)
    problems = []
    for item_id, wanted in NEGATIVE.items():
        item = negative.items[item_id]
        for t in item["tests"]:  # every parametrization failed, none errored
            stated = all(w in t["reason"] for w in ("observed ", "; expected ", "; read from "))
            if t["outcome"] != "failed" or not stated:
                problems.append(f"{item_id} {t['nodeid']}: {t['outcome']}: {t['reason']}")
            elif f"namespace {negative_ns}" not in t["reason"]:
                problems.append(f"{item_id} {t['nodeid']}: not read from {negative_ns}: {t['reason']}")
        reasons = reasons_of(item)
        problems += [f"{item_id}: {w!r} not in {reasons!r}" for w in wanted if w not in reasons]
    assert not problems, "\n".join(problems)
    # values of secrets and ConfigMap entries are never shown, only their names
    everything = json.dumps(negative.record)
    assert "hunter2" not in everything and "changeme" not in everything


def test_stricter_expectations_fail_each_branch_with_the_observed_value(strict):
    """Each expectation the sandbox does not meet fails its item, naming what was read."""
    r = {i: reasons_of(strict.items[i]) for i in ("3.1.4", "3.1.5", "3.2.3", "3.2.4", "3.2.6", "5.1.3", "10.4.3")}
    assert k8s_outcome(strict, "3.2.3") == "failed", describe(strict)
    assert "NEXT_PUBLIC_API_URL: observed {'console': 'https://api.apexmediation.local'}" in r["3.2.3"]
    assert "expected https://api.elsewhere.example" in r["3.2.3"]  # the exact-match branch, not "not https"
    assert "console static assets: observed {'console': 'https://cdn.apexmediation.local'}" in r["3.2.6"]
    assert "expected https://cdn.elsewhere.example" in r["3.2.6"]
    assert re.search(r"NEXTAUTH_SECRET of console: observed \S+ has \d+ characters; expected .*at least 4096",
                     r["3.2.4"]), r["3.2.4"]
    # 3.1.4's own logic (the health path) fails while 3.1.5 on the same Deployment passes
    assert "observed {'backend': ['/health', '/health']}; expected probes on /healthz-elsewhere" in r["3.1.4"]
    assert k8s_outcome(strict, "3.1.5") == "passed", r["3.1.5"]
    assert re.search(r"nothing to check: observed \d+ Deployments and CronJobs in namespace apexmediation", r["5.1.3"])
    # a success that happened, but too long ago
    assert re.search(r"successful runs of sales-automation: observed \d{4}-\d\d-\d\dT[\d:.]+\+00:00; expected a "
                     r"successful run in the last 0.0001 hours", r["10.4.3"]), r["10.4.3"]


# --------------------------------------------------------------------------- (c) read-only

def test_checker_only_reads_during_a_full_app_run(audited):
    run, events, sent = audited
    assert outcomes(run) == dict.fromkeys(K8S_ITEMS, "passed"), describe(run)
    mine = [e for e in events if e["user"]["username"] == CHECKER_USER]
    # the checks' client, reading the sandbox's namespace or cluster-scoped objects (other sessions may
    # run checks meanwhile as apex-checker against namespaces of their own)
    ours = [e for e in mine if e.get("userAgent", "").startswith(CHECKS_AGENT)
            and (e.get("objectRef") or {}).get("namespace") in (None, "apexmediation")]
    # everything the checks' client did as apex-checker was a read, and there is plenty of it
    writes = [(e["verb"], e["requestURI"], e["responseStatus"]["code"]) for e in ours if e["verb"] not in READ_VERBS]
    assert not writes, writes
    assert len(ours) >= 10, f"only {len(ours)} audit events of {CHECKER_USER}"
    # ... and nothing anyone did as apex-checker meanwhile (other sessions share the sandbox) changed anything
    allowed_writes = [(e["verb"], e["requestURI"], e.get("userAgent")) for e in mine
                      if e["verb"] not in READ_VERBS and e["responseStatus"]["code"] < 400
                      and (e.get("objectRef") or {}).get("resource") not in
                      ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews")]
    assert not allowed_writes, allowed_writes
    # every GET the client reports is in the audit log, as a get/list by apex-checker
    assert len(sent) >= 10
    audited_paths = {e["requestURI"].split("?")[0] for e in ours}
    assert set(sent) <= audited_paths, set(sent) - audited_paths
    assert all(e["stage"] in ("ResponseComplete", "ResponseStarted") for e in ours)
    assert all(e["responseStatus"]["code"] == 200 for e in ours), \
        [(e["requestURI"], e["responseStatus"]["code"]) for e in ours if e["responseStatus"]["code"] != 200]


def test_checker_identity_cannot_write(checker, admin):
    """The identity the checks use is view-only: writes are refused (403) before anything is looked up."""
    probe = f"apexready-probe-{secrets.token_hex(3)}"
    attempts = {
        "create namespace": ("POST", "/api/v1/namespaces",
                             {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": probe}}),
        "create configmap": ("POST", "/api/v1/namespaces/apexmediation/configmaps",
                             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": probe}}),
        # DELETE/PATCH of objects that do not exist: 404 if allowed, 403 if not: changes nothing either way
        "delete deployment": ("DELETE", f"/apis/apps/v1/namespaces/apexmediation/deployments/{probe}", None),
        "scale deployment": ("PATCH", f"/apis/apps/v1/namespaces/apexmediation/deployments/{probe}/scale",
                             {"spec": {"replicas": 0}}),
    }
    got = {}
    try:
        for what, (method, path, body) in attempts.items():
            ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
            got[what] = checker.request(method, path, body, content_type=ctype)[0]
    finally:  # should a create ever succeed, undo it
        if got.get("create namespace") in (200, 201):
            admin.request("DELETE", f"/api/v1/namespaces/{probe}")
        if got.get("create configmap") in (200, 201):
            admin.request("DELETE", f"/api/v1/namespaces/apexmediation/configmaps/{probe}")
    assert got == dict.fromkeys(attempts, 403), got
    # and the authorizer says the same (SelfSubjectAccessReview: what may I do?)
    denied = {}
    for verb, group, resource in (("create", "apps", "deployments"), ("delete", "apps", "deployments"),
                                  ("patch", "apps", "deployments"), ("update", "", "secrets"),
                                  ("delete", "", "namespaces"), ("create", "batch", "jobs")):
        _, review = checker.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "apexmediation", "verb": verb, "group": group,
                                            "resource": resource}}})
        denied[f"{verb} {resource}"] = review["status"]["allowed"]
    assert not any(denied.values()), denied


# --------------------------------------------------------------------------- (d) unreachable

def _single_reason(run) -> str:
    assert outcomes(run) == dict.fromkeys(K8S_ITEMS, "error"), describe(run)
    reasons = {run.bare_reason(i) for i in K8S_ITEMS}
    assert len(reasons) == 1, reasons
    return reasons.pop()


def test_closed_port_errors_every_item_with_one_reason(sandbox_k8s, tmp_path):
    port = free_port()  # nothing listens there: connection refused
    run = run_checks(tmp_path, "k8s", profile(kubeconfig=kubeconfig_to(tmp_path, port), timeout=1),
                     )
    reason = _single_reason(run)
    assert f"127.0.0.1:{port}" in reason and "could not check" in reason, reason


def test_silent_port_errors_after_one_timeout(sandbox_k8s, tmp_path):
    # counts, not wall time (benchmarks/dead_targets.py measures that): one reason, naming the timeout, and
    # no connection per item
    with SilentServer() as server:
        run = run_checks(tmp_path, "k8s", profile(kubeconfig=kubeconfig_to(tmp_path, server.port), timeout=1),
                         )
    reason = _single_reason(run)
    assert f"127.0.0.1:{server.port}" in reason and "could not check" in reason, reason
    assert "timed out" in reason.lower() or "timeout" in reason.lower(), reason
    assert 1 <= server.accepted <= 3, f"{server.accepted} connections for one unreachable target: {reason}"

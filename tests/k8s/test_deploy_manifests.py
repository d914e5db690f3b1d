"""deploy/: the checker's own Kubernetes objects, proven against the sandbox's real API server.

- offline: one CronJob per go-live phase running ``pytest --env <profile> -m <phase>``; the ConfigMap's profile
  loads, uses ``kubeconfig = "in-cluster"`` and holds no secret (only ``${VAR}``);
- server-side dry-run of every document (admin identity), then a real apply, which the RBAC checks need;
- SubjectAccessReview: the ServiceAccount ``apexready/apexready-checker`` gets exactly the answers the sandbox's
  read-only user ``apex-checker`` gets, for reads and writes across namespaces;
- in-cluster: kwok runs no containers, so the CronJob's command line runs here, with the ConfigMap's profile and
  the ServiceAccount's token where a pod would find it, and must pass every Kubernetes item as the sandbox's
  checker does.

Everything applied is deleted again; nothing in namespace ``apexmediation`` except the checker's own Role and
RoleBinding is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from checkrun import ROOT, run_checks
from pytest_apexready import phases
from pytest_apexready.profile import load_profile
from sandbox.kube.audit import AuditTail

DEPLOY = ROOT / "deploy"
DATA = ROOT / ".sandbox" / "k8s"
ADMIN = DATA / "admin.kubeconfig"
SA = "system:serviceaccount:apexready:apexready-checker"
SA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:apexready", "system:authenticated"]
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")  # where load_incluster_config reads the token
MANAGER = "apexready-selftest"
#: the Kubernetes items (or their Kubernetes part) the in-cluster run must pass, as the sandbox's checker does
#: (tests/k8s/test_kubernetes_checks.py)
K8S_ITEMS = ["1.1.1", "1.3.5", "3.1.1", "3.1.2", "3.1.3", "3.1.4", "3.1.5", "3.1.6", "3.1.7", "3.1.8", "3.1.9",
             "3.2.1", "3.2.2", "3.2.3", "3.2.4", "3.2.5", "3.2.6", "3.3.1", "3.3.2", "3.3.3", "3.3.4", "4.1.4",
             "5.1.1", "5.1.3", "5.1.4", "8.1.4", "10.4.3"]


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return sorted(docs, key=lambda d: d["kind"] != "Namespace")


def configmap_profile(tmp_path: Path) -> Path:
    (cm,) = [d for d in documents() if d["kind"] == "ConfigMap"]
    path = tmp_path / "production.toml"
    path.write_text(cm["data"]["production.toml"])
    return path


# --------------------------------------------------------------------------- offline

def test_one_cronjob_per_phase_running_pytest_with_its_marker():
    jobs = {d["metadata"]["name"]: d for d in documents() if d["kind"] == "CronJob"}
    assert set(jobs) == {p.cronjob for p in phases.PHASES} | {"apexready-all"}
    assert {j["metadata"]["name"] for j in phases.cronjob_patches(phases.parse_go_live("2026-06-01T08:00:00Z", "x"))
            ["items"]} == {p.cronjob for p in phases.PHASES}
    for p in phases.PHASES:
        pod = jobs[p.cronjob]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        args = container["args"]
        assert args[:4] == ["pytest", "--env=/etc/apexready/production.toml", "-m", p.marker], args
        assert pod["serviceAccountName"] == "apexready-checker"
        assert jobs[p.cronjob]["spec"]["timeZone"] == "Etc/UTC"


def test_secrets_are_env_or_files_never_in_the_configmap(tmp_path, monkeypatch):
    docs = documents()
    assert not [d for d in docs if d["kind"] == "Secret"]  # created by the operator, not shipped
    for job in (d for d in docs if d["kind"] == "CronJob"):
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": "apexready-secrets"}}]
        assert {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}["signing-key"] == \
            "apexready-signing-key"
    for var in ("APEX_PG_CHECKER_PASSWORD", "APEX_REDIS_CHECKER_PASSWORD", "APEX_CLICKHOUSE_PASSWORD"):
        monkeypatch.setenv(var, f"dummy-{var}")
    path = configmap_profile(tmp_path)
    profile = load_profile(str(path), tmp_path, tmp_path, environ=dict(os.environ))
    assert profile.targets["kubernetes"]["kubeconfig"] == "in-cluster"
    assert phases.parse_go_live(profile.go_live, "configmap").year == 2026
    text = path.read_text()
    for line in text.splitlines():
        if any(k in line for k in ("password", "token", "secret")):
            assert "${" in line, line


# --------------------------------------------------------------------------- against the sandbox's API server

class Api:
    """Raw requests as the admin (statuses are the answers here: a dry-run's 201, a SAR's allowed)."""

    def __init__(self, kubeconfig: Path):
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        cfg.retries = 0
        self.cfg = cfg
        self.api = client.ApiClient(cfg)
        self._resources: dict[str, dict[str, Any]] = {}

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                query: list[tuple[str, str]] | None = None) -> tuple[int, Any]:
        req = self.api.param_serialize(method, path, query_params=query or [], body=body,
                                       header_params={"Accept": "application/json", "Content-Type": content_type},
                                       auth_settings=["BearerToken"])
        resp = self.api.call_api(*req, _request_timeout=30)
        resp.read()
        try:
            return resp.status, json.loads(resp.data) if resp.data else None
        except ValueError:  # /readyz answers text
            return resp.status, (resp.data or b"").decode(errors="replace")

    def path(self, obj: dict[str, Any]) -> str:
        av = obj["apiVersion"]
        base = "/api/v1" if av == "v1" else f"/apis/{av}"
        if av not in self._resources:
            status, disc = self.request("GET", base)
            assert status == 200, disc
            self._resources[av] = {r["kind"]: r for r in disc["resources"] if "/" not in r["name"]}
        res = self._resources[av][obj["kind"]]
        ns = f"/namespaces/{obj['metadata']['namespace']}" if res["namespaced"] else ""
        return f"{base}{ns}/{res['name']}/{obj['metadata']['name']}"

    def apply(self, obj: dict[str, Any], dry_run: bool = False) -> tuple[int, Any]:
        query = [("fieldManager", MANAGER), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
        return self.request("PATCH", self.path(obj), obj, "application/apply-patch+yaml", query)

    def allowed(self, user: str, groups: list[str], attrs: dict[str, str]) -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, "groups": groups, "resourceAttributes": attrs}}
        status, out = self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        assert status == 201, out
        return bool(out["status"].get("allowed"))


@pytest.fixture(scope="module")
def admin():
    if not ADMIN.is_file():
        pytest.fail(f"no {ADMIN}: start the sandbox's control plane with `python -m sandbox up`")
    api = Api(ADMIN)
    status, _ = api.request("GET", "/readyz")
    if status != 200:
        pytest.fail(f"the sandbox's API server is not ready (GET /readyz -> {status}): `python -m sandbox up`")
    return api


@pytest.fixture(scope="module")
def applied(admin: Api) -> Iterator[tuple[list[dict[str, Any]], dict[str, tuple[int, Any]]]]:
    """Dry-run every document, then apply them for real (RBAC is evaluated on live bindings); delete afterwards."""
    docs = documents()
    dry: dict[str, tuple[int, Any]] = {}
    try:
        for doc in docs:
            key = f"{doc['kind']}/{doc['metadata']['name']}"
            dry[key] = admin.apply(doc, dry_run=True)
            if doc["kind"] == "Namespace":  # namespaced dry-runs need the namespace to exist
                assert admin.apply(doc)[0] in (200, 201)
        for doc in docs:
            status, out = admin.apply(doc)
            assert status in (200, 201), f"apply {doc['kind']}/{doc['metadata']['name']}: {status} {out}"
        yield docs, dry
    finally:
        for doc in reversed(docs):
            if doc["kind"] != "Namespace":
                admin.request("DELETE", admin.path(doc))
        admin.request("DELETE", "/api/v1/namespaces/apexready")


def test_every_manifest_passes_server_side_dry_run(applied):
    docs, dry = applied
    assert len(dry) == len(docs) == 19
    failed = {k: (s, (o or {}).get("message")) for k, (s, o) in dry.items() if s not in (200, 201)}
    assert not failed
    job = dry["CronJob/apexready-t-plus-1h"][1]
    assert job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][3] == "t_plus_1h"


#: (verb, group, resource, namespace): reads the checks make, and writes and reads they must not make
ACCESS = [(verb, group, resource, ns)
          for verb in ("get", "list", "watch", "create", "update", "patch", "delete")
          for group, resource in (("apps", "deployments"), ("batch", "cronjobs"), ("", "secrets"), ("", "configmaps"),
                                  ("", "pods"), ("networking.k8s.io", "networkpolicies"),
                                  ("rbac.authorization.k8s.io", "rolebindings"), ("", "nodes"), ("", "namespaces"))
          for ns in ("apexmediation", "kube-system", "apexready", "")]


def test_service_account_has_exactly_the_sandbox_checkers_rights(applied, admin):
    differ, reads, writes = [], 0, 0
    for verb, group, resource, ns in ACCESS:
        attrs = {"verb": verb, "group": group, "resource": resource, "namespace": ns}
        ours = admin.allowed(SA, SA_GROUPS, attrs)
        theirs = admin.allowed("apex-checker", ["system:authenticated"], attrs)
        if ours != theirs:
            differ.append(f"{verb} {group or 'core'}/{resource} in {ns or 'all namespaces'}: "
                          f"ServiceAccount {ours}, apex-checker {theirs}")
        reads += ours and verb in ("get", "list")
        writes += ours and verb not in ("get", "list", "watch")
    assert not differ, "\n".join(differ)
    assert writes == 0 and reads > 0
    secrets = {"verb": "get", "group": "", "resource": "secrets"}
    assert admin.allowed(SA, SA_GROUPS, {**secrets, "namespace": "apexmediation"})
    assert not admin.allowed(SA, SA_GROUPS, {**secrets, "namespace": "kube-system"})


@pytest.fixture
def pod_identity(applied, admin):
    """The ServiceAccount's token and the API server's CA where a pod finds them (the in-cluster client reads
    that fixed path); only when this machine is not itself a pod."""
    if SA_DIR.exists():
        pytest.fail(f"{SA_DIR} exists (running inside a pod?): the in-cluster run needs it for a sandbox token")
    status, out = admin.request("POST", "/api/v1/namespaces/apexready/serviceaccounts/apexready-checker/token",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                 "spec": {"expirationSeconds": 600}})
    assert status == 201, out
    SA_DIR.mkdir(parents=True)
    try:
        (SA_DIR / "token").write_text(out["status"]["token"])
        shutil.copy(admin.cfg.ssl_ca_cert, SA_DIR / "ca.crt")
        (SA_DIR / "namespace").write_text("apexready")
        host = admin.cfg.host.removeprefix("https://")
        yield {"KUBERNETES_SERVICE_HOST": host.rsplit(":", 1)[0], "KUBERNETES_SERVICE_PORT": host.rsplit(":", 1)[1]}
    finally:
        shutil.rmtree(SA_DIR.parent.parent)  # /var/run/secrets, created above


def test_the_cronjobs_command_line_passes_in_cluster(pod_identity, tmp_path):
    """`pytest --env <the ConfigMap's profile> -m k8s` as the ServiceAccount, as a CronJob's pod would run it."""
    env = {**pod_identity, "APEX_PG_CHECKER_PASSWORD": "unused", "APEX_REDIS_CHECKER_PASSWORD": "unused",
           "APEX_CLICKHOUSE_PASSWORD": "unused"}
    profile = configmap_profile(tmp_path)
    profile.write_text(profile.read_text() + f'\n[evidence]\nmanifests = "{ROOT / "sandbox" / "manifests"}"\n')
    tail = AuditTail()
    run = run_checks(tmp_path, "k8s", profile, env=env)
    time.sleep(0.5)  # the audit log backend writes synchronously; this only absorbs a slow flush
    ours = [e for e in tail.events() if e.get("user", {}).get("username") == SA]
    assert ours, "no API request was made as the ServiceAccount"
    assert {e["verb"] for e in ours} <= {"get", "list", "watch"}, sorted({e["verb"] for e in ours})

    def k8s_outcome(item: dict[str, Any]) -> str:
        parts = {p["name"]: p["outcome"] for p in item.get("parts", [])}
        return parts.get("k8s", item["outcome"])

    got = {i: k8s_outcome(run.items[i]) for i in K8S_ITEMS}
    assert got == dict.fromkeys(K8S_ITEMS, "passed"), "\n".join(f"{i}: {run.reason(i)}" for i in K8S_ITEMS
                                                                if got[i] != "passed")
    assert any("127.0.0.1" in e["source"] for e in run.items["3.1.7"]["evidence"])  # the server, not a file

"""A local, real Kubernetes control plane for tests: etcd + kube-apiserver +
kube-controller-manager + kube-scheduler + kwok (fake nodes / pod lifecycle).

    python -m sandbox.kube.controlplane up [--data-dir DIR]
    python -m sandbox.kube.controlplane status
    python -m sandbox.kube.controlplane apply sandbox/manifests/apexmediation.yaml
    python -m sandbox.kube.controlplane down

Everything lives in ``data_dir`` (default ``<repo>/.sandbox/k8s``): PKI, kubeconfigs
(``admin.kubeconfig`` and ``checker.kubeconfig``), pidfiles, logs, ``audit.log``
and the etcd data.  ``up``/``down`` are idempotent.  Only the Python stdlib and
``cryptography`` are used.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from . import build
from .pki import SERVICE_CIDR, ensure_pki, write_kubeconfig

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = Path(os.environ.get("APEX_K8S_DATA", REPO_ROOT / ".sandbox" / "k8s"))
HERE = Path(__file__).resolve().parent

DEFAULT_PORTS = {
    "apiserver": 26443,
    "etcd_client": 22379,
    "etcd_peer": 22380,
    "controller_manager": 26457,
    "scheduler": 26459,
    "kwok": 26461,
}
APP_NAMESPACE = "apexmediation"
POD_CIDR = "10.244.0.0/16"
FAKE_NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# order matters: started in this order, stopped in reverse
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class ControlPlaneError(RuntimeError):
    pass


def _log(msg: str) -> None:
    print(f"[k8s-cp {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- processes
def _pidfile(data_dir: Path, comp: str) -> Path:
    return data_dir / "run" / f"{comp}.pid"


def _proc_alive(pid: int, comp: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if comp:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            return os.path.basename(cmd) == comp
    except OSError:
        return False
    return True


def _read_pid(data_dir: Path, comp: str) -> int | None:
    pf = _pidfile(data_dir, comp)
    try:
        pid = int(pf.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _proc_alive(pid, comp) else None


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def _start(data_dir: Path, comp: str, binary: Path, args: list[str], ports=()) -> int:
    pid = _read_pid(data_dir, comp)
    if pid:
        _log(f"{comp} already running (pid {pid})")
        return pid
    for p in ports:
        if not _port_free(p):
            raise ControlPlaneError(f"cannot start {comp}: 127.0.0.1:{p} is already in use "
                                    f"(another control plane or process?)")
    logf = open(data_dir / "logs" / f"{comp}.log", "ab")
    logf.write(f"\n===== {time.ctime()} starting {binary} {' '.join(args)}\n".encode())
    logf.flush()
    proc = subprocess.Popen([str(binary)] + args, stdin=subprocess.DEVNULL, stdout=logf,
                            stderr=subprocess.STDOUT, cwd=data_dir, start_new_session=True,
                            close_fds=True)
    logf.close()
    _pidfile(data_dir, comp).write_text(f"{proc.pid}\n")
    _log(f"started {comp} pid {proc.pid}")
    return proc.pid


def _stop(data_dir: Path, comp: str, timeout: float = 15) -> None:
    pf = _pidfile(data_dir, comp)
    pid = _read_pid(data_dir, comp)
    if pid:
        _log(f"stopping {comp} (pid {pid})")
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(pid, sig)  # started with start_new_session: pgid == pid
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            deadline = time.time() + wait
            while time.time() < deadline:
                try:  # reap if it is our child (no zombie left behind)
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                if not _proc_alive(pid):
                    break
                time.sleep(0.1)
            if not _proc_alive(pid):
                break
        if _proc_alive(pid):
            raise ControlPlaneError(f"{comp} (pid {pid}) did not exit")
    pf.unlink(missing_ok=True)


# ---------------------------------------------------------------------- HTTP API
class Api:
    """Tiny client for the apiserver using client-cert auth (stdlib only)."""

    def __init__(self, kubeconfig: Path):
        cfg = json.loads(Path(kubeconfig).read_text())
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        u = urllib.parse.urlparse(cluster["server"])
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.ctx.load_cert_chain(user["client-certificate"], user["client-key"])
        self._disc: dict | None = None

    def request(self, method: str, path: str, body=None, content_type="application/json",
                timeout: float = 30):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        try:
            data = None if body is None else (body if isinstance(body, (bytes, str))
                                              else json.dumps(body))
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode(errors="replace")
            return resp.status, payload
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def ok(self, method, path, body=None, content_type="application/json", accept=(200, 201)):
        st, payload = self.request(method, path, body, content_type)
        if st not in accept:
            msg = payload.get("message") if isinstance(payload, dict) else payload
            raise ControlPlaneError(f"{method} {path} -> HTTP {st}: {msg}")
        return payload

    # --- discovery + server-side apply for arbitrary objects
    def _resource_for(self, api_version: str, kind: str):
        if self._disc is None:
            self._disc = {}
        if api_version not in self._disc:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            st, payload = self.get(path)
            if st != 200:
                raise ControlPlaneError(f"unknown apiVersion {api_version} (HTTP {st})")
            self._disc[api_version] = {r["kind"]: r for r in payload["resources"]
                                       if "/" not in r["name"]}
        res = self._disc[api_version].get(kind)
        if not res:
            raise ControlPlaneError(f"kind {kind} not served by {api_version}")
        return res

    def object_path(self, obj: dict) -> str:
        av, kind = obj["apiVersion"], obj["kind"]
        res = self._resource_for(av, kind)
        base = "/api/v1" if av == "v1" else f"/apis/{av}"
        if res["namespaced"]:
            ns = obj["metadata"].get("namespace", "default")
            base += f"/namespaces/{ns}"
        return f"{base}/{res['name']}/{obj['metadata']['name']}"

    def apply(self, obj: dict, manager: str = "apex-sandbox") -> dict:
        path = self.object_path(obj) + f"?fieldManager={manager}&force=true"
        return self.ok("PATCH", path, obj, content_type="application/apply-patch+yaml")


def _wait(pred, timeout: float, what: str, interval: float = 0.5, hint: str = ""):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            r = pred()
            if r:
                return r
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        time.sleep(interval)
    raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}"
                            + (f" (last error: {last})" if last else "") + (f"; {hint}" if hint else ""))


def _get_ok(port: int, path: str, tls: bool = False) -> bool:
    """GET a component's health endpoint on loopback (TLS unverified: only liveness is asked)."""
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=ssl._create_unverified_context(), timeout=3)
            if tls else http.client.HTTPConnection("127.0.0.1", port, timeout=3))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status == 200
    finally:
        conn.close()


def _tail(p: Path, n: int = 15) -> str:
    try:
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _check_alive(data_dir: Path, comp: str):
    if not _read_pid(data_dir, comp):
        raise ControlPlaneError(f"{comp} exited; last log lines "
                                f"({data_dir / 'logs' / (comp + '.log')}):\n"
                                + _tail(data_dir / "logs" / f"{comp}.log"))


# -------------------------------------------------------------------- bootstrap
def _rbac_objects(app_ns: str) -> list[dict]:
    rb = "rbac.authorization.k8s.io/v1"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app_ns}},
        {"apiVersion": rb, "kind": "ClusterRoleBinding", "metadata": {"name": "apex-kwok"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "cluster-admin"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "apex-kwok"}]},
        # read-only checker identity
        {"apiVersion": rb, "kind": "ClusterRoleBinding", "metadata": {"name": "apex-checker-view"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": "apex-checker"}]},
        # what `view` lacks and the checks read: nodes and namespaces (1.1.1), RBAC objects (5.1.3)
        {"apiVersion": rb, "kind": "ClusterRole", "metadata": {"name": "apex-checker-extra"},
         "rules": [{"apiGroups": [""], "resources": ["nodes", "namespaces"],
                    "verbs": ["get", "list"]},
                   {"apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
                    "verbs": ["get", "list"]}]},
        {"apiVersion": rb, "kind": "ClusterRoleBinding", "metadata": {"name": "apex-checker-extra"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "apex-checker-extra"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": "apex-checker"}]},
        # secrets only in the app namespace (a ClusterRoleBinding would grant all namespaces)
        {"apiVersion": rb, "kind": "Role",
         "metadata": {"name": "apex-checker-secrets", "namespace": app_ns},
         "rules": [{"apiGroups": [""], "resources": ["secrets"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": rb, "kind": "RoleBinding",
         "metadata": {"name": "apex-checker-secrets", "namespace": app_ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "apex-checker-secrets"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": "apex-checker"}]},
    ]


def _fake_node(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {KWOK_ANNOTATION: "fake",
                                                   "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                                "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "node-role.kubernetes.io/agent": ""}},
        "spec": {},
        "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                   "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"}},
    }


# --------------------------------------------------------------------- public API
def _paths(data_dir: Path) -> dict:
    return {"admin": data_dir / "admin.kubeconfig", "checker": data_dir / "checker.kubeconfig",
            "audit": data_dir / "audit.log"}


def up(data_dir: Path = DEFAULT_DATA_DIR, apiserver_port: int = DEFAULT_PORTS["apiserver"],
       etcd_client_port: int = DEFAULT_PORTS["etcd_client"],
       etcd_peer_port: int = DEFAULT_PORTS["etcd_peer"],
       controller_manager_port: int = DEFAULT_PORTS["controller_manager"],
       scheduler_port: int = DEFAULT_PORTS["scheduler"], kwok_port: int = DEFAULT_PORTS["kwok"],
       app_namespace: str = APP_NAMESPACE, timeout: float = 120,
       binaries: dict | None = None) -> dict:
    """Start (or reuse) the control plane; returns status(data_dir)."""
    t0 = time.time()
    data_dir = Path(data_dir).resolve()
    for sub in ("logs", "run", "etcd", "config"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    bins = binaries or build.ensure_binaries()
    pki = ensure_pki(data_dir)
    server = f"https://127.0.0.1:{apiserver_port}"
    kc = {}
    for stem, user in (("admin", "apex-admin"), ("kube-controller-manager", "system:kube-controller-manager"),
                       ("kube-scheduler", "system:kube-scheduler"), ("kwok", "apex-kwok"),
                       ("apex-checker", "apex-checker")):
        name = {"admin": "admin.kubeconfig", "apex-checker": "checker.kubeconfig"}.get(
            stem, f"config/{stem}.kubeconfig")
        kc[stem] = write_kubeconfig(data_dir / name, server, pki / "ca.crt", pki / f"{stem}.crt",
                                    pki / f"{stem}.key", user)
    (data_dir / "config" / "audit-policy.yaml").write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
        "rules:\n- level: Metadata\n")
    (data_dir / "config" / "ports.json").write_text(json.dumps({
        "apiserver": apiserver_port, "etcd_client": etcd_client_port, "etcd_peer": etcd_peer_port,
        "controller_manager": controller_manager_port, "scheduler": scheduler_port,
        "kwok": kwok_port}))

    # etcd (plain http, loopback only)
    etcd_url = f"http://127.0.0.1:{etcd_client_port}"
    peer_url = f"http://127.0.0.1:{etcd_peer_port}"
    _start(data_dir, "etcd", bins["etcd"], [
        "--name=apex", f"--data-dir={data_dir / 'etcd'}",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=apex={peer_url}", "--initial-cluster-state=new",
        "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=2147483648",
    ], ports=(etcd_client_port, etcd_peer_port))

    def etcd_ok():
        _check_alive(data_dir, "etcd")
        return _get_ok(etcd_client_port, "/health")
    _wait(etcd_ok, 30, "etcd /health")
    _log(f"etcd healthy ({time.time() - t0:.1f}s)")

    _start(data_dir, "kube-apiserver", bins["kube-apiserver"], [
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={apiserver_port}",
        f"--etcd-servers={etcd_url}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC", "--anonymous-auth=false",
        f"--audit-log-path={data_dir / 'audit.log'}",
        f"--audit-policy-file={data_dir / 'config' / 'audit-policy.yaml'}",
        "--audit-log-maxsize=200", "--audit-log-maxbackup=2",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true", "--profiling=false", "--v=1",
    ], ports=(apiserver_port,))
    admin = Api(kc["admin"])

    def api_ready():
        _check_alive(data_dir, "kube-apiserver")
        st, _ = admin.get("/readyz")
        return st == 200
    _wait(api_ready, timeout, f"kube-apiserver {server}/readyz",
          hint=f"see {data_dir / 'logs' / 'kube-apiserver.log'}")
    _log(f"kube-apiserver ready ({time.time() - t0:.1f}s)")

    for obj in _rbac_objects(app_namespace):
        admin.apply(obj)

    common = lambda comp, port: [  # noqa: E731
        f"--kubeconfig={kc[comp]}", f"--authentication-kubeconfig={kc[comp]}",
        f"--authorization-kubeconfig={kc[comp]}", "--bind-address=127.0.0.1",
        f"--secure-port={port}", "--leader-elect=false",
        f"--tls-cert-file={pki / 'serving-localhost.crt'}",
        f"--tls-private-key-file={pki / 'serving-localhost.key'}", "--v=1"]
    _start(data_dir, "kube-controller-manager", bins["kube-controller-manager"],
           common("kube-controller-manager", controller_manager_port) + [
               "--controllers=*", f"--service-account-private-key-file={pki / 'sa.key'}",
               f"--root-ca-file={pki / 'ca.crt'}", "--use-service-account-credentials=true",
               f"--cluster-signing-cert-file={pki / 'ca.crt'}",
               f"--cluster-signing-key-file={pki / 'ca.key'}",
               f"--service-cluster-ip-range={SERVICE_CIDR}", "--allocate-node-cidrs=false",
               "--concurrent-cron-job-syncs=2", "--node-monitor-grace-period=60s",
           ], ports=(controller_manager_port,))
    _start(data_dir, "kube-scheduler", bins["kube-scheduler"],
           common("kube-scheduler", scheduler_port), ports=(scheduler_port,))
    _start(data_dir, "kwok", bins["kwok"], [
        f"--config={HERE / 'kwok_stages.yaml'}",
        f"--kubeconfig={kc['kwok']}", "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--server-address=127.0.0.1:{kwok_port}", f"--cidr={POD_CIDR}",
        "--node-ip=10.255.0.1", "--node-lease-duration-seconds=40",
    ], ports=(kwok_port,))

    for comp, port in (("kube-controller-manager", controller_manager_port),
                       ("kube-scheduler", scheduler_port)):
        def ok(comp=comp, port=port):
            _check_alive(data_dir, comp)
            return _get_ok(port, "/healthz", tls=True)
        _wait(ok, timeout, f"{comp} https://127.0.0.1:{port}/healthz",
              hint=f"see {data_dir / 'logs' / (comp + '.log')}")

    def kwok_ok():
        _check_alive(data_dir, "kwok")
        return _get_ok(kwok_port, "/healthz")
    _wait(kwok_ok, 60, f"kwok http://127.0.0.1:{kwok_port}/healthz")

    for n in FAKE_NODES:
        st, _ = admin.get(f"/api/v1/nodes/{n}")
        if st == 404:
            admin.ok("POST", "/api/v1/nodes", _fake_node(n))

    def nodes_ready():
        _check_alive(data_dir, "kwok")
        for n in FAKE_NODES:
            st, node = admin.get(f"/api/v1/nodes/{n}")
            conds = {c["type"]: c["status"] for c in (node or {}).get("status", {}).get("conditions", [])}
            if st != 200 or conds.get("Ready") != "True":
                return False
        return True
    _wait(nodes_ready, 60, "fake nodes to become Ready (kwok)",
          hint=f"see {data_dir / 'logs' / 'kwok.log'}")

    def default_sa():
        st, _ = admin.get(f"/api/v1/namespaces/{app_namespace}/serviceaccounts/default")
        return st == 200
    _wait(default_sa, 60, f"default ServiceAccount in {app_namespace} (controller-manager)")
    _log(f"control plane up in {time.time() - t0:.1f}s; admin kubeconfig {kc['admin']}")
    return status(data_dir)


def down(data_dir: Path = DEFAULT_DATA_DIR, purge: bool = False) -> None:
    """Stop every component (reverse order). purge=True also deletes etcd data."""
    data_dir = Path(data_dir).resolve()
    errors = []
    for comp in reversed(COMPONENTS):
        try:
            _stop(data_dir, comp)
        except ControlPlaneError as e:
            errors.append(str(e))
    if purge:
        import shutil
        shutil.rmtree(data_dir / "etcd", ignore_errors=True)
    if errors:
        raise ControlPlaneError("; ".join(errors))


def status(data_dir: Path = DEFAULT_DATA_DIR) -> dict:
    data_dir = Path(data_dir).resolve()
    try:
        ports = json.loads((data_dir / "config" / "ports.json").read_text())
    except (OSError, ValueError):
        ports = dict(DEFAULT_PORTS)
    out: dict = {"data_dir": str(data_dir), "components": {}}
    checks = {
        "etcd": lambda: _get_ok(ports["etcd_client"], "/health"),
        "kube-apiserver": lambda: Api(_paths(data_dir)["admin"]).get("/readyz")[0] == 200,
        "kube-controller-manager": lambda: _get_ok(ports["controller_manager"], "/healthz", tls=True),
        "kube-scheduler": lambda: _get_ok(ports["scheduler"], "/healthz", tls=True),
        "kwok": lambda: _get_ok(ports["kwok"], "/healthz"),
    }
    for comp in COMPONENTS:
        pid = _read_pid(data_dir, comp)
        healthy = False
        if pid:
            try:
                healthy = bool(checks[comp]())
            except Exception:  # noqa: BLE001
                healthy = False
        out["components"][comp] = {"pid": pid, "running": pid is not None, "healthy": healthy,
                                   "log": str(data_dir / "logs" / f"{comp}.log")}
    out["running"] = all(c["running"] for c in out["components"].values())
    out["healthy"] = all(c["healthy"] for c in out["components"].values())
    out["any_running"] = any(c["running"] for c in out["components"].values())
    out["apiserver"] = f"https://127.0.0.1:{ports['apiserver']}"
    out.update({k: str(v) for k, v in _paths(data_dir).items()})
    return out


def _load_yaml_docs(path: Path) -> list[dict]:
    text = Path(path).read_text()
    try:
        import yaml
    except ImportError as e:  # pragma: no cover
        raise ControlPlaneError("PyYAML is needed to read manifests") from e
    return [d for d in yaml.safe_load_all(text) if d]


def apply_manifests(data_dir: Path = DEFAULT_DATA_DIR, path: Path | str = None,
                    timeout: float = 120, wait: bool = True) -> dict:
    """Server-side apply every document of a YAML file with the admin identity,
    then wait until every Deployment in it is Available with all replicas ready."""
    data_dir = Path(data_dir).resolve()
    path = Path(path or REPO_ROOT / "sandbox" / "manifests" / "apexmediation.yaml")
    admin = Api(_paths(data_dir)["admin"])
    docs = _load_yaml_docs(path)
    # namespaces first, then the rest in file order
    docs.sort(key=lambda d: 0 if d.get("kind") == "Namespace" else 1)
    applied = []
    for d in docs:
        admin.apply(d)
        applied.append(f"{d['kind']}/{d['metadata'].get('namespace', '')}/{d['metadata']['name']}")
    t0 = time.time()
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    if wait:
        for d in deployments:
            p = admin.object_path(d)

            def available(p=p, d=d):
                st, obj = admin.get(p)
                if st != 200:
                    return False
                s = obj.get("status", {})
                want = obj["spec"].get("replicas", 1)
                conds = {c["type"]: c["status"] for c in s.get("conditions", [])}
                return (s.get("observedGeneration", 0) >= obj["metadata"]["generation"]
                        and s.get("availableReplicas", 0) >= want
                        and s.get("updatedReplicas", 0) >= want
                        and conds.get("Available") == "True")
            _wait(available, timeout, f"Deployment {d['metadata']['name']} to be available")
    return {"applied": applied, "deployments_ready_after_s": round(time.time() - t0, 2)}


def run_cronjobs_once(data_dir: Path = DEFAULT_DATA_DIR, namespace: str = APP_NAMESPACE,
                      timeout: float = 60) -> list[str]:
    """Give every CronJob in the namespace one run now (like `kubectl create job --from=cronjob/NAME`),
    unless it already has a Job, and wait for those Jobs to succeed: the sandbox then shows the
    history a cluster that has been running for a day would show."""
    admin = Api(_paths(Path(data_dir).resolve())["admin"])
    _, cronjobs = admin.get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs")
    _, jobs = admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")
    owners = {o["name"] for j in jobs.get("items", []) for o in j["metadata"].get("ownerReferences", [])}
    created = []
    for cj in cronjobs.get("items", []):
        name = cj["metadata"]["name"]
        if name in owners:
            continue
        job = f"{name}-initial-{int(time.time())}"
        admin.ok("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job, "namespace": namespace,
                         "labels": cj["spec"]["jobTemplate"].get("metadata", {}).get("labels", {}),
                         "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": name,
                                              "uid": cj["metadata"]["uid"], "controller": True}]},
            "spec": cj["spec"]["jobTemplate"]["spec"]})
        created.append(job)
    for job in created:
        _wait(lambda job=job: admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{job}")[1]
              .get("status", {}).get("succeeded") == 1, timeout, f"Job {job} to succeed")
    return created


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="local Kubernetes control plane")
    ap.add_argument("cmd", choices=("up", "down", "status", "apply"))
    ap.add_argument("manifest", nargs="?")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--purge", action="store_true", help="down: also delete etcd data")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            print(json.dumps(up(args.data_dir), indent=2))
        elif args.cmd == "down":
            down(args.data_dir, purge=args.purge)
            print(json.dumps(status(args.data_dir), indent=2))
        elif args.cmd == "status":
            st = status(args.data_dir)
            print(json.dumps(st, indent=2))
            return 0 if st["healthy"] else 3
        else:
            print(json.dumps(apply_manifests(args.data_dir, args.manifest), indent=2))
    except ControlPlaneError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

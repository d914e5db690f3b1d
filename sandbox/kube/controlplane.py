"""A local, real Kubernetes control plane for tests: etcd + kube-apiserver +
kube-controller-manager + kube-scheduler + kwok (fake nodes / pod lifecycle).

    python -m sandbox.kube.controlplane up [--data-dir DIR]
    python -m sandbox.kube.controlplane status
    python -m sandbox.kube.controlplane apply sandbox/manifests/apexmediation.yaml
    python -m sandbox.kube.controlplane down

Everything lives in ``data_dir`` (default ``<repo>/.sandbox/k8s``): PKI, kubeconfigs
(``admin.kubeconfig`` and ``checker.kubeconfig``), pidfiles, logs, ``audit.log``
and the etcd data.  ``up``/``down`` are idempotent.  Processes are started and stopped with
``sandbox.common``'s helpers; objects are applied with the kubernetes client (``cluster.Cluster``),
the workloads (manifests, one run of each CronJob) by ``workload``.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes.config import ConfigException
from kubernetes.dynamic.exceptions import NotFoundError

from ..common import (
    SandboxError,
    ensure_port_free,
    pid_alive,
    poll_until,
    process_cmdline,
    read_pidfile,
    spawn,
    stop_pid,
)
from . import build
from .cluster import TRANSIENT_ERRORS, Cluster
from .objects import KWOK_ANNOTATION, fake_node, rbac_objects
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
# order matters: started in this order, stopped in reverse
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# what a component that is starting (or has stopped answering) raises when asked for its health
HEALTH_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, http.client.HTTPException)
# ... and what `status` meets when the admin kubeconfig is missing or unusable
STATUS_ERRORS: tuple[type[BaseException], ...] = (*HEALTH_ERRORS, ConfigException)

Api = Cluster  # the name tests/k8s and older callers use


class ControlPlaneError(SandboxError):
    pass


def _log(msg: str) -> None:
    print(f"[k8s-cp {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- processes
def _pidfile(data_dir: Path, comp: str) -> Path:
    return data_dir / "run" / f"{comp}.pid"


def _read_pid(data_dir: Path, comp: str) -> int | None:
    """The component's pid, if that process is alive and runs the component's binary (no PID-reuse accident)."""
    pid = read_pidfile(_pidfile(data_dir, comp))
    if pid is None or not pid_alive(pid):
        return None
    return pid if Path(process_cmdline(pid).split(" ", 1)[0]).name == comp else None


def _start(data_dir: Path, comp: str, binary: Path, args: list[str], ports: tuple[int, ...] = ()) -> int:
    pid = _read_pid(data_dir, comp)
    if pid:
        _log(f"{comp} already running (pid {pid})")
        return pid
    for port in ports:
        ensure_port_free(port, f"{comp} (another control plane or process?)")
    proc = spawn([str(binary), *args], log_file=data_dir / "logs" / f"{comp}.log", pidfile=_pidfile(data_dir, comp),
                 cwd=data_dir)
    _log(f"started {comp} pid {proc.pid}")
    return proc.pid


def _stop(data_dir: Path, comp: str, timeout: float = 15) -> None:
    pid = _read_pid(data_dir, comp)
    if pid:
        _log(f"stopping {comp} (pid {pid})")
        stop_pid(pid, kill_group=True, timeout=timeout)  # its own session: the group is the component
        if pid_alive(pid):
            raise ControlPlaneError(f"{comp} (pid {pid}) did not exit")
    _pidfile(data_dir, comp).unlink(missing_ok=True)


# ------------------------------------------------------------------------ health
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


def _check_alive(data_dir: Path, comp: str) -> None:
    """Raise at once if *comp* has exited (a wait for it to become ready would otherwise run out its timeout)."""
    if not _read_pid(data_dir, comp):
        log = data_dir / "logs" / f"{comp}.log"
        raise ControlPlaneError(f"{comp} exited; last log lines ({log}):\n{_tail(log)}")


def _wait(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """poll_until, retrying while the component is not answering yet; *what* says what did not happen."""
    return poll_until(probe, timeout, what, retry_on=HEALTH_ERRORS, interval=0.5)


# --------------------------------------------------------------------- public API
def _paths(data_dir: Path) -> dict[str, Path]:
    return {"admin": data_dir / "admin.kubeconfig", "checker": data_dir / "checker.kubeconfig",
            "audit": data_dir / "audit.log"}


def _log_of(data_dir: Path, comp: str) -> Path:
    return data_dir / "logs" / f"{comp}.log"


def up(data_dir: Path = DEFAULT_DATA_DIR, apiserver_port: int = DEFAULT_PORTS["apiserver"],
       etcd_client_port: int = DEFAULT_PORTS["etcd_client"],
       etcd_peer_port: int = DEFAULT_PORTS["etcd_peer"],
       controller_manager_port: int = DEFAULT_PORTS["controller_manager"],
       scheduler_port: int = DEFAULT_PORTS["scheduler"], kwok_port: int = DEFAULT_PORTS["kwok"],
       app_namespace: str = APP_NAMESPACE, timeout: float = 120,
       binaries: dict[str, Path] | None = None) -> dict[str, Any]:
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

    def etcd_ok() -> bool:
        _check_alive(data_dir, "etcd")
        return _get_ok(etcd_client_port, "/health")
    _wait(etcd_ok, 30, f"etcd {etcd_url}/health not healthy (log {_log_of(data_dir, 'etcd')})")
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
    admin = Cluster(kc["admin"])

    def api_ready() -> bool:
        _check_alive(data_dir, "kube-apiserver")
        return admin.get("/readyz")[0] == 200
    _wait(api_ready, timeout, f"kube-apiserver {server}/readyz not ready (log {_log_of(data_dir, 'kube-apiserver')})")
    _log(f"kube-apiserver ready ({time.time() - t0:.1f}s)")

    for obj in rbac_objects(app_namespace):
        admin.apply(obj)

    def common(comp: str, port: int) -> list[str]:
        return [f"--kubeconfig={kc[comp]}", f"--authentication-kubeconfig={kc[comp]}",
                f"--authorization-kubeconfig={kc[comp]}", "--bind-address=127.0.0.1",
                f"--secure-port={port}", "--leader-elect=false",
                f"--tls-cert-file={pki / 'serving-localhost.crt'}",
                f"--tls-private-key-file={pki / 'serving-localhost.key'}", "--v=1"]
    _start(data_dir, "kube-controller-manager", bins["kube-controller-manager"], [
        *common("kube-controller-manager", controller_manager_port),
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
        def healthy(comp: str = comp, port: int = port) -> bool:
            _check_alive(data_dir, comp)
            return _get_ok(port, "/healthz", tls=True)
        _wait(healthy, timeout, f"{comp} https://127.0.0.1:{port}/healthz not healthy (log {_log_of(data_dir, comp)})")

    def kwok_ok() -> bool:
        _check_alive(data_dir, "kwok")
        return _get_ok(kwok_port, "/healthz")
    _wait(kwok_ok, 60, f"kwok http://127.0.0.1:{kwok_port}/healthz not healthy (log {_log_of(data_dir, 'kwok')})")

    # created, not applied: a Node's capacity is status, which server-side apply to the object leaves out
    nodes = admin.resource("v1", "Node")
    for n in FAKE_NODES:
        try:
            nodes.get(name=n)
        except NotFoundError:
            nodes.create(body=fake_node(n))

    def nodes_ready() -> bool:
        _check_alive(data_dir, "kwok")
        for n in FAKE_NODES:
            node = nodes.get(name=n).to_dict()
            conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
            if conds.get("Ready") != "True":
                return False
        return True
    _wait(nodes_ready, 60, f"fake nodes not Ready (kwok; log {_log_of(data_dir, 'kwok')})")

    accounts = admin.resource("v1", "ServiceAccount")
    _wait(lambda: accounts.get(name="default", namespace=app_namespace), 60,
          f"no default ServiceAccount in {app_namespace} (controller-manager)")
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
        shutil.rmtree(data_dir / "etcd", ignore_errors=True)
    if errors:
        raise ControlPlaneError("; ".join(errors))


def status(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, Any]:
    data_dir = Path(data_dir).resolve()
    try:
        ports = json.loads((data_dir / "config" / "ports.json").read_text())
    except (OSError, ValueError):
        ports = dict(DEFAULT_PORTS)
    components: dict[str, dict[str, Any]] = {}
    checks: dict[str, Callable[[], bool]] = {
        "etcd": lambda: _get_ok(ports["etcd_client"], "/health"),
        "kube-apiserver": lambda: Cluster(_paths(data_dir)["admin"], timeout=3).get("/readyz")[0] == 200,
        "kube-controller-manager": lambda: _get_ok(ports["controller_manager"], "/healthz", tls=True),
        "kube-scheduler": lambda: _get_ok(ports["scheduler"], "/healthz", tls=True),
        "kwok": lambda: _get_ok(ports["kwok"], "/healthz"),
    }
    for comp in COMPONENTS:
        pid = _read_pid(data_dir, comp)
        healthy = False
        if pid:
            try:
                healthy = checks[comp]()
            except STATUS_ERRORS:
                healthy = False
        components[comp] = {"pid": pid, "running": pid is not None, "healthy": healthy,
                            "log": str(_log_of(data_dir, comp))}
    out: dict[str, Any] = {"data_dir": str(data_dir), "components": components}
    out["running"] = all(c["running"] for c in components.values())
    out["healthy"] = all(c["healthy"] for c in components.values())
    out["any_running"] = any(c["running"] for c in components.values())
    out["apiserver"] = f"https://127.0.0.1:{ports['apiserver']}"
    out.update({k: str(v) for k, v in _paths(data_dir).items()})
    return out


def main(argv: list[str] | None = None) -> int:
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
            from .workload import apply_manifests  # workload imports this module

            print(json.dumps(apply_manifests(args.data_dir, args.manifest), indent=2))
    except SandboxError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kubernetes through the official client, reading only (get and list).

Objects are listed once per kind and namespace, paginated, and the lists are
reused by every item of the run, so the number of API requests grows with the
kinds the checks read, not with the number of checklist items or workloads.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..outcomes import TargetUnavailable
from .base import Target

#: kind -> (API group path, resource, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets", True),
    "CronJob": ("/apis/batch/v1", "cronjobs", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "Pod": ("/api/v1", "pods", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Node": ("/api/v1", "nodes", False),
    "Namespace": ("/api/v1", "namespaces", False),
}

PAGE = 500
#: ``kubeconfig = "in-cluster"``: authenticate as the pod's ServiceAccount
IN_CLUSTER = "in-cluster"


class Kubernetes(Target):
    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.timeout = float(settings.get("request_timeout", settings.get("connect_timeout", 5)))
        self.namespace = settings.get("namespace", "default")
        self._lists: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self._by_name: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: API requests sent, by path (for the scale benchmark and tests)
        self.requests: list[str] = []

    @property
    def where(self) -> str:
        ctx = self.settings.get("context")
        server = getattr(getattr(self._client, "configuration", None), "host", None) if self._client else None
        return f"kubernetes {server or self.settings.get('kubeconfig', '?')}" + (f" (context {ctx})" if ctx else "")

    def _connect(self) -> Any:
        kubeconfig = os.path.expanduser(self.settings.get("kubeconfig", "~/.kube/config"))
        cfg = client.Configuration()
        context = self.settings.get("context")
        if self.settings.get("kubeconfig") == IN_CLUSTER:  # a pod's ServiceAccount token and CA (deploy/)
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.retries = 0  # urllib3 would retry 3 times: a silent server must cost one timeout, not four
        return client.ApiClient(cfg)

    def _probe_read(self) -> None:
        # loading the kubeconfig sent nothing: this GET connects, authenticates (401 on a bad identity) and reads
        self.get("/version", read_timeout=self.timeout)

    def get(self, path: str, query: list[tuple[str, Any]] | None = None,
            read_timeout: float | None = None) -> dict[str, Any]:
        """GET an API path and return the decoded JSON (read-only by construction: only GET is sent)."""
        api = self.client()
        self._trace("k8s", path, query)
        self.requests.append(path)
        try:
            request = api.param_serialize("GET", path, query_params=query or [],
                                          header_params={"Accept": "application/json"},
                                          auth_settings=["BearerToken"])
            resp = api.call_api(*request, _request_timeout=(self.timeout, read_timeout or self.timeout * 3))
            resp.read()
        except Exception as exc:  # urllib3 connection and timeout errors
            raise self.unavailable(exc) from None
        if resp.status == 401:  # the identity is refused everywhere: remember it
            raise self.unavailable(RuntimeError(f"HTTP 401 Unauthorized for GET {path}"))
        if resp.status == 403:  # this identity may not read this kind: the items that need it cannot be checked
            try:
                message = json.loads(resp.data).get("message", "")
            except ValueError:
                message = resp.data[:200].decode(errors="replace")
            raise TargetUnavailable(self.name, self.where, f"HTTP 403 Forbidden for GET {path}: {message}")
        if resp.status >= 400:
            raise ApiException(http_resp=resp)
        data: dict[str, Any] = json.loads(resp.data)
        return data

    def version(self) -> dict[str, Any]:
        return self.get("/version")

    def list(self, kind: str, namespace: str | None = "") -> list[dict[str, Any]]:
        """All objects of a kind in a namespace (default: the profile's), listed once per run, paginated."""
        group, resource, namespaced = KINDS[kind]
        ns = (namespace if namespace != "" else self.namespace) if namespaced else None
        key = (kind, ns)
        with self._lock:
            if key not in self._lists:
                path = f"{group}/namespaces/{ns}/{resource}" if ns else f"{group}/{resource}"
                items: list[dict[str, Any]] = []
                token = None
                while True:
                    query: list[tuple[str, Any]] = [("limit", PAGE)]
                    if token:
                        query.append(("continue", token))
                    page = self.get(path, query)
                    for item in page.get("items", []):
                        item.setdefault("kind", kind)  # list responses leave it out of each item
                        items.append(item)
                    token = page.get("metadata", {}).get("continue")
                    if not token:
                        break
                self._lists[key] = items
                self._by_name[key] = {o["metadata"]["name"]: o for o in items}
            return self._lists[key]

    def named(self, kind: str, name: str, namespace: str | None = "") -> dict[str, Any] | None:
        self.list(kind, namespace)
        namespaced = KINDS[kind][2]
        ns = (namespace if namespace != "" else self.namespace) if namespaced else None
        return self._by_name[(kind, ns)].get(name)

"""The sandbox's own client for its control plane: the kubernetes Python client, with a timeout on every call.

Objects are applied with server-side apply through the client's DynamicClient (discovery finds each kind's
path). `request` is the one raw call left, through the same client's transport: the self-tests and the
smoke check need a request's HTTP status *as an answer* (403 for a write the checker may not make, 404 while
a namespace terminates), and `/readyz` has no typed API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

from ..common import SandboxError

# What a call to a control plane that is starting, stopping or overloaded raises: callers polling for
# readiness retry on these and on nothing else.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, urllib3.exceptions.HTTPError, ApiException)

# Audit-log events of the sandbox's own requests (setup, self-test probes) are told apart from the checks'
# client, whose user agent is the kubernetes client's default "OpenAPI-Generator/...".
USER_AGENT = "apex-sandbox"
FIELD_MANAGER = "apex-sandbox"


class ClusterError(SandboxError):
    """An API request the sandbox needed was refused; the message names the request, status and reason."""


class _TimedDynamicClient(DynamicClient):
    """DynamicClient whose every request (discovery included, which takes no timeout argument) has one."""

    def __init__(self, api: client.ApiClient, timeout: float, cache_file: str) -> None:
        self._timeout = timeout
        super().__init__(api, cache_file=cache_file)

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        params.setdefault("_request_timeout", self._timeout)
        return super().request(method, path, body, **params)


class Cluster:
    """One identity (kubeconfig) on the sandbox's API server."""

    def __init__(self, kubeconfig: Path | str, timeout: float = 30) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.timeout = timeout
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=cfg)
        cfg.retries = 0  # callers that wait for readiness poll themselves: one attempt per call
        self.api = client.ApiClient(cfg)
        self.api.user_agent = USER_AGENT
        self._dynamic: DynamicClient | None = None

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            # the discovery cache stays with the kubeconfig (the default is a shared file in /tmp)
            cache = self.kubeconfig.with_name(self.kubeconfig.stem + ".discovery.json")
            self._dynamic = _TimedDynamicClient(self.api, self.timeout, str(cache))
        return self._dynamic

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic client's resource for a kind (its get, create, server_side_apply ... calls)."""
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise ClusterError(f"the API server does not serve kind {kind} in {api_version}") from None

    def apply(self, obj: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply *obj* (created or updated; conflicting fields taken over); the object as stored."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace", "default") if res.namespaced else None
        try:
            out = res.server_side_apply(body=obj, namespace=namespace, field_manager=manager, force_conflicts=True)
        except DynamicApiError as exc:
            where = f"{namespace}/" if namespace else ""
            raise ClusterError(f"server-side apply of {obj['kind']} {where}{obj['metadata']['name']}: "
                               f"HTTP {exc.status}: {exc.summary()}") from None
        stored: dict[str, Any] = out.to_dict()
        return stored

    def object_path(self, obj: dict[str, Any]) -> str:
        res = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace", "default") if res.namespaced else None
        path: str = res.path(name=obj["metadata"]["name"], namespace=namespace)
        return path

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                timeout: float | None = None) -> tuple[int, Any]:
        """Send one request; (HTTP status, decoded JSON body or text). HTTP errors are answers, not exceptions."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(method, path, header_params=headers, body=body,
                                              auth_settings=["BearerToken"])
        resp = self.api.call_api(*serialized, _request_timeout=timeout or self.timeout)
        raw: bytes = resp.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return resp.status, payload

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def ok(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
           accept: tuple[int, ...] = (200, 201)) -> Any:
        """`request`, raising ClusterError unless the status is one of *accept*; the decoded body."""
        status, payload = self.request(method, path, body, content_type)
        if status not in accept:
            msg = payload.get("message") if isinstance(payload, dict) else payload
            raise ClusterError(f"{method} {path} -> HTTP {status}: {msg}")
        return payload

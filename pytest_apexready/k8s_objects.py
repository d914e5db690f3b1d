"""Reading Kubernetes objects as the checks need them: pod specs, labels, selectors, secrets.

Plain functions over the JSON the ``kubernetes`` target lists; ``deployment`` and ``cronjob``
fail the check (observed absent, expected present) when the object does not exist.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

from .outcomes import fail_check

if TYPE_CHECKING:  # the client is only named in annotations; importing it here would load the kubernetes library
    from .targets.k8s import Kubernetes

__all__ = ["containers", "cronjob", "deployment", "env", "image_tag", "parse_time", "pod_labels", "pod_spec",
           "replicas", "secret_data", "selects", "where"]


def where(kubernetes: Kubernetes, what: str) -> str:
    return f"{what} via {kubernetes.where}, namespace {kubernetes.namespace}"


def _named(kubernetes: Kubernetes, kind: str, name: str, request: str) -> dict[str, Any]:
    obj = kubernetes.named(kind, name)
    if obj is None:
        fail_check(f"{kind} {name}", observed="absent", expected="present", where=where(kubernetes, request))
        raise AssertionError("unreachable: fail_check with one finding raises")  # its signature allows an empty list
    return obj


def deployment(kubernetes: Kubernetes, name: str) -> dict[str, Any]:
    return _named(kubernetes, "Deployment", name, "GET deployments")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template spec of a Deployment, StatefulSet, Job or CronJob."""
    spec = obj["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    result: dict[str, Any] = template["spec"]
    return result


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod_spec(obj).get("containers", [])
    return found


def image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def secret_data(kubernetes: Kubernetes, name: str) -> dict[str, str] | None:
    secret = kubernetes.named("Secret", name)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}


def replicas(dep: dict[str, Any]) -> dict[str, int]:
    status = dep.get("status", {})
    return {"spec": dep["spec"].get("replicas", 1), "ready": status.get("readyReplicas", 0),
            "updated": status.get("updatedReplicas", 0), "available": status.get("availableReplicas", 0)}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    labels: dict[str, str] = template.get("metadata", {}).get("labels", {})
    return labels


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def env(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in container.get("env", []) if e["name"] == name), None)


def cronjob(kubernetes: Kubernetes, name: str) -> dict[str, Any]:
    return _named(kubernetes, "CronJob", name, "GET cronjobs")

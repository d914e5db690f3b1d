"""Reading Kubernetes objects as the checks need them: pod specs, labels, selectors, secrets.

Plain functions over the JSON the ``kubernetes`` target lists; ``deployment`` and ``cronjob``
fail the check (observed absent, expected present) when the object does not exist.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from .outcomes import fail_check

__all__ = ["pod_spec", "where", "deployment", "cronjob", "containers", "pod_labels", "image_tag", "secret_data", "replicas",
           "selects", "env", "parse_time"]


def where(kubernetes, what: str) -> str:
    return f"{what} via {kubernetes.where}, namespace {kubernetes.namespace}"


def deployment(kubernetes, name: str) -> dict[str, Any]:
    obj = kubernetes.named("Deployment", name)
    if obj is None:
        fail_check(f"Deployment {name}", observed="absent", expected="present",
                   where=where(kubernetes, "GET deployments"))
    return obj


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template spec of a Deployment, StatefulSet, Job or CronJob."""
    spec = obj["spec"]
    return spec["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in spec else spec["template"]["spec"]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_spec(obj).get("containers", [])


def image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def secret_data(kubernetes, name: str) -> dict[str, str] | None:
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
    return template.get("metadata", {}).get("labels", {})


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def env(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in container.get("env", []) if e["name"] == name), None)


def cronjob(kubernetes, name: str) -> dict[str, Any]:
    obj = kubernetes.named("CronJob", name)
    if obj is None:
        fail_check(f"CronJob {name}", observed="absent", expected="present", where=where(kubernetes, "GET cronjobs"))
    return obj

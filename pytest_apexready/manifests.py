"""Live Kubernetes objects against the manifests kept in git (8.1.4 "All Kubernetes manifests in git").

Read only: the live side is the check's listed objects; the git side is every YAML/JSON document under the
profile's ``[evidence] manifests`` directory. Two kinds of drift are reported, one finding per object:

- a live object with no manifest (made by hand, ``kubectl create``);
- a field the manifest sets whose live value differs (``kubectl scale``, ``kubectl edit``). Only fields the
  manifest sets are compared: the API server fills in defaults and status, which are no drift.

Objects a controller owns (``ownerReferences``) and the ``kube-root-ca.crt`` ConfigMap every namespace gets are
the cluster's own, not configuration to keep in git.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KINDS", "Drift", "compare", "drift", "load_manifests"]

#: the kinds compared (the issue's list): configuration that must come from git
KINDS = ("Deployment", "StatefulSet", "CronJob", "Service", "ConfigMap", "NetworkPolicy", "HorizontalPodAutoscaler")
_CLUSTER_MADE = {("ConfigMap", "kube-root-ca.crt")}
_SKIP_TOP = {"apiVersion", "kind", "status"}
_SKIP_META = {"namespace", "creationTimestamp"}
_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTOR = {None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
           "Ti": 2**40}


@dataclass(frozen=True)
class Drift:
    kind: str
    name: str
    field: str          # "" when the whole object has no manifest
    observed: Any
    expected: Any
    source: str         # the manifest file (or the directory when none)


def _docs(path: Path) -> Iterator[dict[str, Any]]:
    text = path.read_text("utf-8")
    docs = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from (d for d in doc.get("items", []) if isinstance(d, dict))
        elif isinstance(doc, dict):
            yield doc


def load_manifests(root: Path, namespace: str) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
    """(kind, name) -> (document, file) for the namespace's objects of the compared kinds."""
    if not root.is_dir():
        raise FileNotFoundError(f"manifests directory {root} does not exist")
    found: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()):
        try:
            docs = list(_docs(path))
        except (ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"manifest {path} cannot be read: {exc}") from None
        for doc in docs:
            meta = doc.get("metadata") or {}
            if doc.get("kind") in KINDS and meta.get("namespace", namespace) == namespace and meta.get("name"):
                found[(doc["kind"], meta["name"])] = (doc, str(path))
    return found


def _quantity(value: Any) -> float | None:
    m = _QUANTITY.match(value) if isinstance(value, str) else None
    return float(m.group(1)) * _FACTOR[m.group(2)] if m else None


def _same_scalar(want: Any, have: Any) -> bool:
    if want == have:
        return True
    if isinstance(want, (int, str)) and isinstance(have, (int, str)) and str(want) == str(have):
        return True  # ports and quantities: 8080 vs "8080", 1 vs "1"
    q1, q2 = _quantity(str(want)), _quantity(str(have))
    return q1 is not None and q1 == q2  # "1000m" is stored as "1"


def compare(want: Any, have: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(field, live value, manifest value) for every field the manifest sets that differs live."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            yield path, have, want
            return
        for key, value in want.items():
            if key in ("creationTimestamp",):
                continue
            sub = f"{path}.{key}" if path else key
            if key not in have:
                if value not in (None, {}, []):
                    yield sub, None, value
                continue
            yield from compare(value, have[key], sub)
    elif isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            yield path, have, want
            return
        for n, (w, h) in enumerate(zip(want, have, strict=True)):
            yield from compare(w, h, f"{path}[{n}]")
    elif not _same_scalar(want, have):
        yield path, have, want


def drift(live: list[dict[str, Any]], manifests: dict[tuple[str, str], tuple[dict[str, Any], str]],
          root: str) -> list[Drift]:
    out: list[Drift] = []
    for obj in sorted(live, key=lambda o: (o["kind"], o["metadata"]["name"])):
        kind, meta = obj["kind"], obj["metadata"]
        if (kind, meta["name"]) in _CLUSTER_MADE or meta.get("ownerReferences"):
            continue
        entry = manifests.get((kind, meta["name"]))
        if entry is None:
            out.append(Drift(kind, meta["name"], "", "in the cluster only", f"a manifest in {root}", root))
            continue
        doc, source = entry
        want = {k: v for k, v in doc.items() if k not in _SKIP_TOP}
        want["metadata"] = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in _SKIP_META}
        for field, observed, expected in compare(want, obj):
            out.append(Drift(kind, meta["name"], field, observed, expected, source))
    return out

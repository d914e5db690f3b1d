"""What the sandbox's control plane is bootstrapped with: the identities' RBAC and the fake nodes.

Plain data (no client, no process): ``controlplane.up`` applies them, and self-tests that make a
namespace of their own apply ``rbac_objects`` there so that the checker reads it as it reads
``apexmediation``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KWOK_ANNOTATION", "fake_node", "rbac_objects"]

#: the annotation kwok's --manage-nodes-with-annotation-selector looks for (value "fake")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def rbac_objects(app_ns: str) -> list[dict[str, Any]]:
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


def fake_node(name: str) -> dict[str, Any]:
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

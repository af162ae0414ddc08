"""Who may do what in a lab: deploy/'s RBAC and admission policy, and ``drill lab grant``.

A lab is set up as deploy/ tells users to set up their own clusters: the runner
identity reads cluster-wide and may cordon nodes (the ValidatingAdmissionPolicy of
deploy/node-guardrails.yaml keeps its node patches to that), while deleting and
evicting pods is bound per namespace. ``grant`` is what an administrator does with
``kubectl create rolebinding`` (or ``clusterrolebinding``), for the lab's own
``drillkit-runner`` user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import InvalidInput
from drillkit.lab.pki import RUNNER_USER

RBAC_API = "rbac.authorization.k8s.io"

NAMESPACED_ONLY = frozenset({"drillkit-runner", "drillkit-markers"})
"""Roles that are bound in the namespaces drills target, never cluster-wide: bound
cluster-wide they would let the runner delete pods in kube-system."""

STALE_CLUSTER_BINDING = "drillkit-runner"
"""The ClusterRoleBinding of drillkit before the split, which bound pod deletion
cluster-wide; a lab started by an older drillkit still has it."""


def install(cluster: Cluster, manifests: Iterable[Mapping[str, Any]]) -> None:
    """Apply deploy/'s manifests and remove the cluster-wide binding they replace."""
    cluster.apply(manifests)
    bindings = _resource(cluster, "ClusterRoleBinding")
    for item in bindings.get().to_dict()["items"]:
        if (
            item["metadata"]["name"] == STALE_CLUSTER_BINDING
            and item["roleRef"]["name"] == "drillkit-runner"
        ):
            bindings.delete(name=STALE_CLUSTER_BINDING)


def grant(cluster: Cluster, role: str, namespaces: Sequence[str], *, lab_name: str) -> None:
    """Bind the ClusterRole ``role`` to ``drillkit-runner``: a RoleBinding named after
    the role in each of ``namespaces``, or a ClusterRoleBinding when there are none.

    ``InvalidInput`` (nothing bound) when the role or a namespace does not exist, or
    when a role that is granted per namespace is asked for cluster-wide.
    """
    names = sorted(_names(cluster, "ClusterRole"))
    if role not in names:
        ours = ", ".join(n for n in names if n.startswith("drillkit-"))
        raise InvalidInput(f"no ClusterRole {role!r} in lab {lab_name}; ours: {ours}")
    if not namespaces and role in NAMESPACED_ONLY:
        raise InvalidInput(
            f"{role} is granted per namespace, never cluster-wide: "
            f"drill lab grant {role} --namespace NAMESPACE --name {lab_name}"
        )
    existing = _names(cluster, "Namespace")
    missing = [n for n in namespaces if n not in existing]
    if missing:
        raise InvalidInput(
            f"no namespace {', '.join(missing)} in lab {lab_name}; nothing was granted"
        )
    cluster.apply(
        [role_binding(role, namespace) for namespace in namespaces] or [_cluster_role_binding(role)]
    )


def _resource(cluster: Cluster, kind: str) -> Any:
    api_version = "v1" if kind == "Namespace" else f"{RBAC_API}/v1"
    return cluster.dynamic.resources.get(api_version=api_version, kind=kind)


def _names(cluster: Cluster, kind: str) -> set[str]:
    return {item["metadata"]["name"] for item in _resource(cluster, kind).get().to_dict()["items"]}


def _subjects() -> list[dict[str, str]]:
    # The user of the lab's runner context and the ServiceAccount of drills scheduled
    # as CronJobs, as deploy/rbac.yaml binds them.
    return [
        {"apiGroup": RBAC_API, "kind": "User", "name": RUNNER_USER},
        {"kind": "ServiceAccount", "name": RUNNER_USER, "namespace": "drillkit"},
    ]


def _role_ref(role: str) -> dict[str, str]:
    return {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": role}


def role_binding(role: str, namespace: str) -> dict[str, Any]:
    """The RoleBinding of ClusterRole ``role`` in ``namespace`` to the runner identity (its
    user and the ServiceAccount of in-cluster schedules), named after the role."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role, "namespace": namespace},
        "roleRef": _role_ref(role),
        "subjects": _subjects(),
    }


def _cluster_role_binding(role: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{role}-{RUNNER_USER}"},
        "roleRef": _role_ref(role),
        "subjects": _subjects(),
    }

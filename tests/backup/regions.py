"""Two labs side by side for backup tests: region-a with the shop, region-b without it.

The shop is the lab's seed (Deployment web, its PDB, Service, ConfigMap and the
markers RoleBinding) plus what a real application also keeps: a Secret, a second
ConfigMap and a PersistentVolumeClaim (Pending: the lab has no provisioner).
The drill's identity (drillkit-runner) is granted drillkit-backup-reader in
region-a and drillkit-restorer in region-b (``drill lab grant``), as
deploy/backup-rbac.yaml says.
``install_velero`` gives a lab Velero's real CRDs and namespace (no Velero server:
tests play it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from drillkit.lab.cluster import Lab
from tests.drills.support import run_cli
from tests.helpers import wait_until

VELERO_CRDS = Path(__file__).parent / "velero"
SECRET_VALUE = "s3cr3t-do-not-report-7f1c"
SHOP_EXTRAS: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-credentials", "namespace": "shop"},
        "type": "Opaque",
        "stringData": {"password": SECRET_VALUE},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "feature-flags", "namespace": "shop"},
        "data": {"checkout": "on"},
    },
    {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    },
]


def install_velero(lab: Lab) -> None:
    """Velero's CRDs and its namespace, as its installer leaves them; served when done."""
    crds = [yaml.safe_load(p.read_text()) for p in sorted(VELERO_CRDS.glob("*.yaml"))]
    with lab.connect() as cluster:
        cluster.apply(crds)
        cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "velero"}}])
        definitions = cluster.dynamic.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        )

        def established(name: str) -> bool:
            status = definitions.get(name=name).to_dict().get("status") or {}
            return any(
                c["type"] == "Established" and c["status"] == "True"
                for c in status.get("conditions") or []
            )

        wait_until(
            "Velero's CRDs to be served",
            lambda: all(established(c["metadata"]["name"]) for c in crds),
            timeout=60,
        )


def prepare_region_a(lab: Lab) -> None:
    with lab.connect() as cluster:
        cluster.apply(SHOP_EXTRAS)
    lab.grant("drillkit-backup-reader")


def prepare_region_b(lab: Lab) -> None:
    """No shop in region-b (a restore of an earlier test may have left one): delete it
    and wait; and drillkit-runner may restore there."""
    delete_namespace(lab, "shop")
    grant = run_cli(dict(os.environ), "lab", "grant", "drillkit-restorer", "--name", lab.shape.name)
    assert grant.returncode == 0, grant.stderr


def delete_namespace(lab: Lab, name: str) -> None:
    with lab.connect() as cluster:
        try:
            cluster.core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise
    wait_until(f"namespace {name} to be gone", lambda: not namespace_exists(lab, name))


def namespace_exists(lab: Lab, name: str) -> bool:
    with lab.connect() as cluster:
        try:
            cluster.core.read_namespace(name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
    return True


def objects_of(lab: Lab, namespace: str) -> set[tuple[str, str]]:
    """(kind, name) of what a restore must bring back, as the API lists it now."""
    found: set[tuple[str, str]] = set()
    with lab.connect() as cluster:
        core, apps = cluster.core, cluster.apps
        policy = client.PolicyV1Api(cluster.api_client)
        rbac = client.RbacAuthorizationV1Api(cluster.api_client)
        listings = {
            "ConfigMap": core.list_namespaced_config_map(namespace).items,
            "Secret": core.list_namespaced_secret(namespace).items,
            "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim(namespace).items,
            "Service": core.list_namespaced_service(namespace).items,
            "Deployment": apps.list_namespaced_deployment(namespace).items,
            "PodDisruptionBudget": policy.list_namespaced_pod_disruption_budget(namespace).items,
            "RoleBinding": rbac.list_namespaced_role_binding(namespace).items,
        }
    for kind, items in listings.items():
        found |= {(kind, i.metadata.name) for i in items if i.metadata.name != "kube-root-ca.crt"}
    return found


def web_available(lab: Lab, namespace: str = "shop") -> bool:
    with lab.connect() as cluster:
        try:
            ready, desired = cluster.deployment_ready_replicas(namespace, "web")
        except Exception:
            return False
    return ready == desired > 0

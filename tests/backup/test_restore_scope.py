"""What a restore may write: the backup's namespaces, and the cluster-scoped kinds it
declares and the restore allows; checked on the catalogue, before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from drillkit.model.backups import Backup, BackupInfo, BackupRejected, ensure_within_backup


def a_backup(*objects: dict[str, Any], cluster_kinds: tuple[str, ...] = ()) -> Backup:
    info = BackupInfo(
        name="backup-1",
        taken_utc=datetime(2026, 12, 1, tzinfo=UTC),
        size=1,
        sha256="0" * 64,
        namespaces=("shop",),
        counts={},
        source="https://127.0.0.1:6443",
        cluster_kinds=cluster_kinds,
    )
    return Backup(info=info, objects=objects)


def an_object(
    kind: str, name: str, namespace: str | None = None, api: str = "v1"
) -> dict[str, Any]:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


CRD = an_object("CustomResourceDefinition", "carts.shop.example", api="apiextensions.k8s.io/v1")
SHOP = (an_object("Namespace", "shop"), an_object("ConfigMap", "flags", "shop"))


def test_the_backups_own_namespaces_and_allowed_declared_kinds_pass() -> None:
    ensure_within_backup(a_backup(*SHOP))
    ensure_within_backup(
        a_backup(*SHOP, CRD, cluster_kinds=("CustomResourceDefinition",)),
        allowed_cluster_kinds=("CustomResourceDefinition",),
    )


@pytest.mark.parametrize(
    ("extra", "declared", "allowed", "problem"),
    [
        pytest.param(
            an_object("RoleBinding", "x", "kube-system", api="rbac.authorization.k8s.io/v1"),
            (),
            (),
            r"RoleBinding kube-system/x, outside the backup's namespaces \(shop\)",
            id="an-object-in-another-namespace",
        ),
        pytest.param(
            an_object("Namespace", "kube-system"),
            (),
            (),
            "Namespace kube-system, a namespace the backup does not cover",
            id="another-namespace",
        ),
        pytest.param(
            # A Namespace claiming to sit in a covered namespace is still judged by its name.
            {
                **an_object("Namespace", "kube-system"),
                "metadata": {"name": "kube-system", "namespace": "shop"},
            },
            (),
            (),
            "a namespace the backup does not cover",
            id="a-namespace-claiming-a-namespace",
        ),
        pytest.param(
            CRD,
            (),
            ("CustomResourceDefinition",),
            "a cluster-scoped CustomResourceDefinition that the catalogue entry does not declare",
            id="an-undeclared-cluster-kind",
        ),
        pytest.param(
            an_object("ClusterRoleBinding", "x", api="rbac.authorization.k8s.io/v1"),
            ("ClusterRoleBinding",),
            (),
            "a cluster-scoped ClusterRoleBinding that this restore does not allow",
            id="a-declared-kind-not-allowed",
        ),
    ],
)
def test_anything_else_refuses_the_whole_restore(
    extra: dict[str, Any], declared: tuple[str, ...], allowed: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(
        BackupRejected, match=rf"backup backup-1 holds .*{problem}.*nothing was restored"
    ):
        ensure_within_backup(
            a_backup(*SHOP, extra, cluster_kinds=declared), allowed_cluster_kinds=allowed
        )

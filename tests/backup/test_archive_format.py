"""The backup archive format on its own: built from objects, catalogued, signed and read
back, with no cluster and no store; what a backup keeps of an object; restore order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drillkit.model.backups import (
    BackupInfo,
    BackupRejected,
    build_archive,
    catalogue_document,
    catalogue_entry,
    ensure_signed,
    made_by_the_cluster,
    open_archive,
    restore_order,
    signed,
    strip_server_fields,
)
from drillkit.signing import generate_key_pair

TAKEN = datetime(2026, 12, 1, 9, 30, 15, 250000, tzinfo=UTC)
SOURCE = "https://127.0.0.1:6443"


def an_object(kind: str, name: str, namespace: str | None = "shop", **extra: Any) -> dict[str, Any]:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **extra}


SHOP = [
    an_object("Namespace", "shop", namespace=None),
    an_object("ConfigMap", "flags", data={"colour": "blue"}),
    an_object("Secret", "db-credentials", data={"password": "c2VjcmV0"}),
]


def archived(objects: list[dict[str, Any]]) -> tuple[BackupInfo, bytes]:
    archive = build_archive(objects, namespaces=["shop"], taken=TAKEN, source=SOURCE)
    info = catalogue_entry(archive, objects, namespaces=["shop"], taken=TAKEN, source=SOURCE)
    return info, archive


def test_an_archive_reads_back_as_the_objects_it_was_built_from() -> None:
    info, archive = archived(SHOP)

    backup = open_archive(info, archive)

    assert list(backup.objects) == SHOP
    assert info.name == "backup-20261201T093015.250Z"
    assert info.counts == {"ConfigMap": 1, "Namespace": 1, "Secret": 1}
    assert info.cluster_kinds == ()


def test_the_same_objects_make_the_same_archive() -> None:
    assert archived(SHOP)[1] == archived(SHOP)[1]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda data: data[:-10], "not the archive catalogued"),
        (lambda data: data[:40] + bytes([data[40] ^ 1]) + data[41:], "not the archive catalogued"),
    ],
    ids=["truncated", "flipped-byte"],
)
def test_an_archive_that_is_not_the_one_catalogued_is_rejected(damage: Any, problem: str) -> None:
    info, archive = archived(SHOP)

    with pytest.raises(BackupRejected, match=problem):
        open_archive(info, damage(archive))


def test_an_archive_whose_catalogue_agrees_but_that_is_no_archive_is_rejected() -> None:
    garbage = b"not a tar at all"
    info = catalogue_entry(garbage, SHOP, namespaces=["shop"], taken=TAKEN, source=SOURCE)

    with pytest.raises(BackupRejected, match="cannot be read"):
        open_archive(info, garbage)


def test_a_signed_entry_survives_its_stored_form_and_a_changed_one_is_refused(
    tmp_path: Path,
) -> None:
    key, _ = generate_key_pair(tmp_path / "signing-key.pem")
    info = signed(archived(SHOP)[0], key)

    stored = BackupInfo.from_json(json.loads(catalogue_document(info)))
    ensure_signed(stored, key.verify_key)

    changed = BackupInfo.from_json(
        json.loads(catalogue_document(info)) | {"namespaces": ["shop", "kube-system"]}
    )
    with pytest.raises(BackupRejected, match="does not match its signature"):
        ensure_signed(changed, key.verify_key)


def test_a_backup_keeps_what_a_create_accepts_and_nothing_the_server_filled_in() -> None:
    service = an_object(
        "Service",
        "web",
        spec={"clusterIP": "10.96.0.12", "ports": [{"port": 80, "nodePort": 30080}]},
        status={"loadBalancer": {}},
    )
    service["metadata"] |= {"uid": "1234", "resourceVersion": "7", "labels": None}

    assert strip_server_fields(service) == an_object(
        "Service", "web", spec={"ports": [{"port": 80}]}
    )


@pytest.mark.parametrize(
    ("item", "made"),
    [
        (an_object("ServiceAccount", "default"), True),
        (an_object("ServiceAccount", "web"), False),
        (an_object("ConfigMap", "kube-root-ca.crt"), True),
        (an_object("Secret", "token", type="kubernetes.io/service-account-token"), True),
        (an_object("Secret", "db-credentials", type="Opaque"), False),
        (
            an_object("Pod", "web-1")
            | {"metadata": {"name": "web-1", "ownerReferences": [{"controller": True}]}},
            True,
        ),
    ],
)
def test_what_the_cluster_makes_by_itself_is_left_out(item: dict[str, Any], made: bool) -> None:
    assert made_by_the_cluster(item) is made


def test_a_restore_writes_what_others_refer_to_first() -> None:
    objects = [
        an_object("Service", "web"),
        an_object("Deployment", "web"),
        an_object("Widget", "w"),
        an_object("PersistentVolumeClaim", "data"),
        an_object("Secret", "db-credentials"),
        an_object("Namespace", "shop", namespace=None),
    ]

    kinds = [o["kind"] for o in restore_order(objects)]

    assert kinds == [
        "Namespace",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "Widget",
    ]

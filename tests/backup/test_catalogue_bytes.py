"""The bytes drillkit writes for a backup catalogue, an archive's manifest and an etcd
snapshot's sidecar, pinned: a catalogue entry is signed over its encoding, so a single
changed byte would make every entry written before it fail its signature check."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any

import pytest

from drillkit.drivers.etcd import Snapshot
from drillkit.model.backups import (
    FORMAT,
    BackupInfo,
    BackupRejected,
    CatalogueSignature,
    ObjectKey,
    build_archive,
    catalogue_document,
    catalogue_entry,
    open_archive,
    signed,
)

TAKEN = datetime(2026, 12, 1, 9, 30, 15, 250000, tzinfo=UTC)
SOURCE = "https://127.0.0.1:6443"
OBJECTS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "carts.shop.example"},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flags", "namespace": "shop"},
        "data": {"colour": "blue"},
    },
]


class FixedSigner:
    """A signer whose signature is known in advance, so that the stored bytes are too."""

    fingerprint = "SHA256:fixed"

    def sign(self, data: bytes) -> str:
        return "c2lnbmF0dXJl" + hashlib.sha256(data).hexdigest()[:8]


def an_entry() -> tuple[BackupInfo, bytes]:
    archive = build_archive(OBJECTS, namespaces=["shop"], taken=TAKEN, source=SOURCE)
    info = catalogue_entry(
        archive,
        OBJECTS,
        namespaces=["shop"],
        taken=TAKEN,
        source=SOURCE,
        skipped=["policy/poddisruptionbudgets"],
        plan="nightly",
    )
    return info, archive


def test_the_archive_bytes_do_not_change() -> None:
    _, archive = an_entry()

    assert hashlib.sha256(archive).hexdigest() == (
        "8ff53ae6222dc8ab92f012a4dc18c9b211ccf072942c6c51a3aa0ea19b192af7"
    )


def test_the_signed_bytes_of_an_entry_do_not_change() -> None:
    info, _ = an_entry()

    assert info.signed_bytes() == (
        b'{"cluster_kinds":["CustomResourceDefinition"],"counts":{"ConfigMap":1,'
        b'"CustomResourceDefinition":1,"Namespace":1},"name":"backup-20261201T09'
        b'3015.250Z","namespaces":["shop"],"plan":"nightly","sha256":"8ff53ae622'
        b'2dc8ab92f012a4dc18c9b211ccf072942c6c51a3aa0ea19b192af7","size":683,"sk'
        b'ipped":["policy/poddisruptionbudgets"],"source":"https://127.0.0.1:644'
        b'3","taken_utc":"2026-12-01T09:30:15.250Z"}'
    )


def test_a_stored_signed_entry_does_not_change() -> None:
    info = signed(an_entry()[0], FixedSigner())

    assert catalogue_document(info) == (
        b'{"cluster_kinds": ["CustomResourceDefinition"], "counts": {"ConfigMap"'
        b': 1, "CustomResourceDefinition": 1, "Namespace": 1}, "name": "backup-2'
        b'0261201T093015.250Z", "namespaces": ["shop"], "plan": "nightly", "sha2'
        b'56": "8ff53ae6222dc8ab92f012a4dc18c9b211ccf072942c6c51a3aa0ea19b192af7'
        b'", "signature": {"ed25519": "c2lnbmF0dXJleab6a70a", "key": "SHA256:fix'
        b'ed"}, "size": 683, "skipped": ["policy/poddisruptionbudgets"], "source'
        b'": "https://127.0.0.1:6443", "taken_utc": "2026-12-01T09:30:15.250Z"}\n'
    )


def test_a_stored_unsigned_entry_has_no_signature_field() -> None:
    info, _ = an_entry()

    assert "signature" not in json.loads(catalogue_document(info))


def test_a_stored_entry_reads_back_as_it_was_written() -> None:
    info = signed(an_entry()[0], FixedSigner())

    assert BackupInfo.from_json(json.loads(catalogue_document(info))) == info


def test_an_entry_written_before_skips_plans_and_cluster_kinds_still_loads() -> None:
    old = {
        "name": "backup-20250301T120000.000Z",
        "taken_utc": "2025-03-01T12:00:00.000Z",
        "size": 1234,
        "sha256": "ab" * 32,
        "namespaces": ["shop"],
        "counts": {"Namespace": 1, "ConfigMap": 2},
        "source": SOURCE,
    }

    assert BackupInfo.from_json(old) == BackupInfo(
        name="backup-20250301T120000.000Z",
        taken_utc=datetime(2025, 3, 1, 12, tzinfo=UTC),
        size=1234,
        sha256="ab" * 32,
        namespaces=("shop",),
        counts={"ConfigMap": 2, "Namespace": 1},
        source=SOURCE,
    )


def test_an_entry_lists_its_counts_by_kind_in_order() -> None:
    info = BackupInfo.from_json(
        json.loads(catalogue_document(an_entry()[0]))
        | {"counts": {"Secret": 1, "ConfigMap": 2}, "signature": None}
    )

    assert list(info.to_json()["counts"]) == ["ConfigMap", "Secret"]  # type: ignore[call-overload]


def test_a_signature_is_kept_beside_the_entry_not_in_it() -> None:
    info = signed(an_entry()[0], FixedSigner())

    assert "signature" not in info.to_json()
    assert json.loads(catalogue_document(info))["signature"] == {
        "key": "SHA256:fixed",
        "ed25519": info.signature.ed25519 if info.signature else None,
    }
    assert isinstance(info.signature, CatalogueSignature)


def test_an_object_key_is_written_with_the_manifest_names() -> None:
    key = ObjectKey(api_version="v1", kind="ConfigMap", namespace=None, name="flags")

    assert json.dumps(key.to_json()) == (
        '{"apiVersion": "v1", "kind": "ConfigMap", "namespace": null, "name": "flags"}'
    )
    assert ObjectKey.from_json(key.to_json() | {"namespace": ""}) == key
    assert ObjectKey.from_json({**key.to_json(), "file": "x.json", "sha256": "00"}) == key


def test_a_snapshot_sidecar_does_not_change_and_reads_back() -> None:
    snapshot = Snapshot(
        path="/var/lib/etcd-backups/etcd-20261201T093015.250000Z.db",
        taken_utc=TAKEN,
        size=20480,
        sha256="cd" * 32,
        revision=42,
        total_keys=17,
        endpoint="http://127.0.0.1:2379",
    )

    sidecar = json.dumps(snapshot.to_json(), sort_keys=True) + "\n"

    assert sidecar == (
        '{"endpoint": "http://127.0.0.1:2379", "path": "/var/lib/etcd-backups/e'
        'tcd-20261201T093015.250000Z.db", "revision": 42, "sha256": "cdcdcdcdcd'
        'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", "size": 20480'
        ', "taken_utc": "2026-12-01T09:30:15.250Z", "total_keys": 17}\n'
    )
    assert Snapshot.from_json(json.loads(sidecar)) == snapshot


def test_an_entry_missing_a_field_is_refused_in_one_line_naming_it() -> None:
    entry = json.loads(catalogue_document(an_entry()[0]))
    del entry["size"]

    with pytest.raises(ValueError, match=r"^size: Field required$"):
        BackupInfo.from_json(entry)


def test_an_entry_with_a_timestamp_without_offset_is_refused() -> None:
    entry = json.loads(catalogue_document(an_entry()[0])) | {"taken_utc": "2026-12-01T09:30:15"}

    with pytest.raises(ValueError, match=r"^taken_utc: .*has no UTC offset"):
        BackupInfo.from_json(entry)


def rewritten(archive: bytes, change: Any) -> tuple[BackupInfo, bytes]:
    """``archive`` with its manifest changed by ``change``, catalogued as it now is."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source:
        files = {m.name: source.extractfile(m).read() for m in source.getmembers()}  # type: ignore[union-attr]
    manifest = change(json.loads(files["manifest.json"]))
    files["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as target:
        for path, data in files.items():
            member = tarfile.TarInfo(path)
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    data = buffer.getvalue()
    return catalogue_entry(data, OBJECTS, namespaces=["shop"], taken=TAKEN, source=SOURCE), data


def test_a_manifest_of_another_version_is_named_as_such() -> None:
    info, data = rewritten(an_entry()[1], lambda manifest: {"format": FORMAT, "version": 2})

    with pytest.raises(BackupRejected, match="not a version 1 drillkit-backup archive"):
        open_archive(info, data)


def test_a_manifest_entry_naming_another_object_is_refused() -> None:
    def renamed(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["objects"][2]["name"] = "other"
        return manifest

    info, data = rewritten(an_entry()[1], renamed)

    with pytest.raises(BackupRejected, match="holds another object"):
        open_archive(info, data)


def test_a_manifest_entry_without_its_digest_is_refused() -> None:
    def undigested(manifest: dict[str, Any]) -> dict[str, Any]:
        del manifest["objects"][0]["sha256"]
        return manifest

    info, data = rewritten(an_entry()[1], undigested)

    with pytest.raises(BackupRejected, match=r"the manifest is invalid \(objects\.0\.sha256: "):
        open_archive(info, data)

"""The built-in backup provider between two real labs: export, archive, verify, restore."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.drivers.backups import (
    RestoreConflict,
    create_backup,
    delete_object,
    export_namespaces,
    find_backup,
    load_backup,
    object_exists,
    restore_objects,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.drivers.objectstore import LocalStore, ObjectStore, open_store, sha256_of
from drillkit.errors import DrillError
from drillkit.lab.cluster import Lab
from drillkit.model.backups import BackupRejected, ObjectKey, build_archive, map_namespaces
from tests.backup.regions import (
    SECRET_VALUE,
    delete_namespace,
    namespace_exists,
    objects_of,
    prepare_region_a,
    prepare_region_b,
    web_available,
)
from tests.conftest import running_lab
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def region_a(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    with running_lab("backup-region-a") as lab:
        prepare_region_a(lab)
        yield lab


@pytest.fixture(scope="module")
def region_b(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    with running_lab("backup-region-b", seed=False) as lab:
        prepare_region_b(lab)
        yield lab


def back_up_shop(region_a: Lab, store: ObjectStore) -> None:
    with region_a.connect(admin=False) as runner:
        create_backup(runner, store, ["shop"])


def test_export_keeps_what_a_restore_needs_and_nothing_the_cluster_fills_in(
    region_a: Lab,
) -> None:
    with region_a.connect(admin=False) as runner:
        objects, skipped = export_namespaces(runner, ["shop"])

    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Namespace", "shop") in kinds
    assert {("Secret", "db-credentials"), ("PersistentVolumeClaim", "orders")} <= kinds
    assert {("Deployment", "web"), ("Service", "web"), ("PodDisruptionBudget", "web")} <= kinds
    # Made by controllers from what is restored, or by the cluster itself.
    assert not {k for k, _ in kinds} & {"Pod", "ReplicaSet", "Event", "EndpointSlice"}
    assert ("ConfigMap", "kube-root-ca.crt") not in kinds
    assert ("ServiceAccount", "default") not in kinds
    for item in objects:
        metadata = item["metadata"]
        assert not {"uid", "resourceVersion", "managedFields", "creationTimestamp"} & set(metadata)
        assert "status" not in item
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert "clusterIP" not in service["spec"] and "clusterIPs" not in service["spec"]
    (claim,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert "volumeName" not in claim["spec"]
    # The reader role grants no leases, events or resource claims: those are named.
    assert all("/" in s for s in skipped)


def test_the_shop_backed_up_in_region_a_comes_up_whole_in_region_b(
    region_a: Lab, region_b: Lab, s3_url: str
) -> None:
    store = open_store(s3_url)
    back_up_shop(region_a, store)
    backup = load_backup(store, find_backup(store))

    with region_b.connect(admin=False) as restorer:
        result = restore_objects(restorer, backup.objects, conflict="fail")

    assert objects_of(region_b, "shop") == objects_of(region_a, "shop")
    wait_until("shop/web to be available in region-b", lambda: web_available(region_b))
    with region_b.connect() as cluster:
        secret = cluster.core.read_namespaced_secret("db-credentials", "shop")
        claim = cluster.core.read_namespaced_persistent_volume_claim("orders", "shop")
    assert secret.data["password"] == sha256_free_base64(SECRET_VALUE)
    assert claim.spec.volume_name is None
    counts = result.counts()
    assert counts["Secret"] == 1 and counts["PersistentVolumeClaim"] == 1
    assert counts["Deployment"] == 1 and counts["Namespace"] == 1
    assert sum(counts.values()) == len(backup.objects) == sum(backup.info.counts.values())
    # What a restore reports names objects; it never carries their content.
    reported = json.dumps([result.to_json(), backup.info.to_json()])
    assert SECRET_VALUE not in reported and sha256_free_base64(SECRET_VALUE) not in reported
    delete_namespace(region_b, "shop")


def sha256_free_base64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def flip_one_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped-byte", "truncated"])
def test_a_damaged_archive_is_rejected_before_anything_is_written(
    region_a: Lab, region_b: Lab, tmp_path: Path, damage: str
) -> None:
    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    info = find_backup(store)
    archive = tmp_path / "store" / info.archive_key
    if damage == "flipped-byte":
        flip_one_byte(archive, info.size // 2)
    else:
        archive.write_bytes(archive.read_bytes()[: info.size // 2])

    with pytest.raises(BackupRejected, match=info.name):
        load_backup(store, info)
    assert not namespace_exists(region_b, "shop")


def test_an_archive_broken_inside_is_rejected_even_when_its_catalogue_agrees(
    region_a: Lab, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    info = find_backup(store)
    # Re-pack the archive with one object changed, and catalogue it as it is now:
    # only the manifest's per-object digests can tell.
    original = store.get(info.archive_key)
    repacked = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(original), mode="r:gz") as source,
        tarfile.open(fileobj=repacked, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if "-configmap-" in member.name:
                data = data.replace(b'"on"', b'"off"').replace(b'"8080"', b'"9090"')
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    changed = repacked.getvalue()
    store.put(info.archive_key, changed)
    entry = {**info.to_json(), "sha256": sha256_of(changed), "size": len(changed)}
    store.put(f"backups/{info.name}.json", json.dumps(entry).encode())

    with pytest.raises(BackupRejected, match="does not match its manifest digest"):
        load_backup(store, find_backup(store))


def test_a_restore_maps_namespaces_and_follows_its_conflict_policy(
    region_a: Lab, region_b: Lab, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    backup = load_backup(store, find_backup(store))
    moved = map_namespaces(backup.objects, {"shop": "shop-copy"})

    with region_b.connect(admin=False) as restorer:
        first = restore_objects(restorer, moved, conflict="fail")
        restorer.core.patch_namespaced_config_map(
            "feature-flags", "shop-copy", {"data": {"checkout": "changed in region-b"}}
        )
        with pytest.raises(RestoreConflict, match="nothing was restored"):
            restore_objects(restorer, moved, conflict="fail")
        skipped = restore_objects(restorer, moved, conflict="skip")
        flags = restorer.core.read_namespaced_config_map("feature-flags", "shop-copy")
        assert flags.data == {"checkout": "changed in region-b"}
        replaced = restore_objects(restorer, moved, conflict="replace")
        flags = restorer.core.read_namespaced_config_map("feature-flags", "shop-copy")

    assert flags.data == {"checkout": "on"}
    assert len(first.created) == len(moved)
    assert not skipped.created and len(skipped.skipped) == len(moved)
    # The namespace is never replaced; everything in it is.
    assert len(replaced.replaced) == len(moved) - 1
    assert not namespace_exists(region_b, "shop")
    wait_until("shop-copy/web to be available", lambda: web_available(region_b, "shop-copy"))
    delete_namespace(region_b, "shop-copy")


def test_verification_restores_into_a_scratch_namespace_and_removes_it_again(
    region_a: Lab, region_b: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.faults.backup import restore_backup

    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    monkeypatch.setenv("DRILLKIT_RUN_ID", f"verify-{tmp_path.name}")
    monkeypatch.setenv("KUBECONFIG", str(region_b.kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)

    output = restore_backup(
        store=str(tmp_path / "store"),
        kubeconfig=str(region_b.kubeconfig),
        namespace_map={"shop": "shop-verify"},
        conflict="fail",
        cleanup=True,
    )

    assert output["restored"]["counts"]["Deployment"] == 1
    assert [s["name"] for s in output["drillkit_steps"]] == [
        "verify the backup",
        "restore the objects",
        "wait for the restored workloads",
        "delete the verification restore",
    ]
    assert not namespace_exists(region_b, "shop-verify")
    assert SECRET_VALUE not in json.dumps(output)


def test_a_verification_restore_writes_nothing_outside_the_backups_namespaces(
    region_a: Lab, region_b: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.faults.backup import restore_backup

    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    info = find_backup(store)
    backup = load_backup(store, info)
    # Whoever may write the store re-packs the archive with objects in kube-system
    # (a RoleBinding would let shop:default create Secrets there) and re-hashes it.
    planted = f"planted-{uuid.uuid4().hex[:8]}"
    extra = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": planted, "namespace": "kube-system"},
            "data": {"planted": "yes"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": planted, "namespace": "kube-system"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "drillkit-restorer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "shop"}],
        },
    ]
    archive = build_archive(
        [*backup.objects, *extra], namespaces=["shop"], taken=info.taken_utc, source=info.source
    )
    store.put(info.archive_key, archive)
    entry = {**info.to_json(), "sha256": sha256_of(archive), "size": len(archive)}
    store.put(info.catalogue_key, json.dumps(entry).encode())
    monkeypatch.setenv("DRILLKIT_RUN_ID", f"verify-{tmp_path.name}")
    monkeypatch.setenv("KUBECONFIG", str(region_b.kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)

    try:
        with pytest.raises(BackupRejected, match=r"ConfigMap kube-system/.*outside the backup"):
            restore_backup(
                store=str(tmp_path / "store"),
                kubeconfig=str(region_b.kubeconfig),
                namespace_map={"shop": "shop-verify"},
                conflict="fail",
                cleanup=True,
            )
        with region_b.connect() as cluster:
            assert not objects_in_kube_system(cluster, planted)
        assert not namespace_exists(region_b, "shop-verify")
    finally:
        with region_b.connect() as cluster:
            for key in [ObjectKey.of(item) for item in extra]:
                delete_object(cluster, key)
        delete_namespace(region_b, "shop-verify")


def objects_in_kube_system(cluster: Cluster, name: str) -> list[str]:
    return [
        item["kind"]
        for item in [
            {"apiVersion": "v1", "kind": "ConfigMap"},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"},
        ]
        if object_exists(
            cluster,
            ObjectKey(
                api_version=item["apiVersion"],
                kind=item["kind"],
                namespace="kube-system",
                name=name,
            ),
        )
    ]


def test_the_freshness_probe_reads_the_newest_backup(region_a: Lab, tmp_path: Path) -> None:
    from drillkit.probes.backup import latest_backup_age, latest_backup_younger_than

    store = str(tmp_path / "store")
    assert latest_backup_age(store) is None
    assert not latest_backup_younger_than("1h", store)
    back_up_shop(region_a, LocalStore(tmp_path / "store"))

    age = latest_backup_age(store)
    assert age is not None and age >= 0
    assert latest_backup_younger_than("1h", store)


def test_a_region_b_that_would_refuse_the_restore_stops_the_disaster_before_region_a_is_touched(
    region_a: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.faults.backup import region_disaster
    from drillkit.safety.undo import pending_undo

    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    monkeypatch.setenv("KUBECONFIG", str(region_a.kubeconfig))
    monkeypatch.setenv("DRILLKIT_RUN_ID", "refused-restore")
    api = region_a.component("kube-apiserver")
    pid = api.pid()

    # Region B is a lab of its own where drillkit-runner was never granted the restorer role.
    with (
        running_lab(f"ungranted-{uuid.uuid4().hex[:6]}", seed=False) as ungranted,
        pytest.raises(DrillError, match=r"may not create namespaces there.*drillkit-restorer"),
    ):
        region_disaster(
            lab=region_a.shape.name,
            store=str(store.root),
            configuration={"restore_kubeconfig": str(ungranted.kubeconfig)},
        )

    assert api.pid() == pid
    with region_a.connect() as cluster:
        assert cluster.api_server_ready()
        assert pending_undo(cluster, run_id="refused-restore") == []


def test_a_region_b_holding_the_shop_already_stops_the_disaster_under_conflict_fail(
    region_a: Lab, region_b: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.faults.backup import region_disaster

    store = LocalStore(tmp_path / "store")
    back_up_shop(region_a, store)
    backup = load_backup(store, find_backup(store))
    with region_b.connect(admin=False) as restorer:
        restore_objects(restorer, backup.objects, conflict="fail")
    monkeypatch.setenv("KUBECONFIG", str(region_a.kubeconfig))
    monkeypatch.setenv("DRILLKIT_RUN_ID", "conflicting-restore")
    api = region_a.component("kube-apiserver")
    pid = api.pid()
    try:
        with pytest.raises(
            RestoreConflict, match=r"exist already \(.*shop/web.*region A was not touched"
        ):
            region_disaster(
                lab=region_a.shape.name,
                store=str(store.root),
                conflict="fail",
                configuration={"restore_kubeconfig": str(region_b.kubeconfig)},
            )
        assert api.pid() == pid
    finally:
        delete_namespace(region_b, "shop")

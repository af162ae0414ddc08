"""The Velero provider against Velero's real CRDs in a lab. No Velero server runs
here: the test plays it, moving each Backup's and Restore's status along."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from drillkit.drivers.velero import (
    VeleroFailed,
    VeleroOperation,
    create_backup,
    create_restore,
    latest_completed_backup,
    read_operation,
    wait_for_phase,
)
from drillkit.lab.cluster import Lab
from tests.backup.regions import install_velero
from tests.conftest import running_lab
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def velero_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    with running_lab("velero") as lab:
        install_velero(lab)
        lab.grant("drillkit-backup-reader")
        yield lab


def set_status(lab: Lab, kind: str, name: str, status: dict[str, Any]) -> None:
    """What the Velero server would do: its CRDs have no status subresource."""
    with lab.connect() as cluster:
        resource = cluster.dynamic.resources.get(api_version="velero.io/v1", kind=kind)
        resource.patch(
            name=name,
            namespace="velero",
            body={"status": status},
            content_type="application/merge-patch+json",
        )


def waiting(lab: Lab, kind: str, name: str, timeout: float = 120) -> Future[VeleroOperation]:
    def wait() -> VeleroOperation:
        with lab.connect(admin=False) as runner:
            return wait_for_phase(runner, kind, name, timeout=timeout)

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(wait)
    pool.shutdown(wait=False)
    return future


def phase_seen(lab: Lab, kind: str, name: str, phase: str) -> bool:
    with lab.connect() as cluster:
        return read_operation(cluster, kind, name).phase == phase


def test_a_backup_is_asked_of_velero_and_waited_on_until_completed(velero_lab: Lab) -> None:
    with velero_lab.connect(admin=False) as runner:
        name = create_backup(runner, ["shop"], storage_location="default", ttl="72h0m0s")
    future = waiting(velero_lab, "Backup", name)

    set_status(velero_lab, "Backup", name, {"phase": "InProgress"})
    wait_until(
        "the backup in progress", lambda: phase_seen(velero_lab, "Backup", name, "InProgress")
    )
    assert not future.done()
    set_status(
        velero_lab,
        "Backup",
        name,
        {
            "phase": "Completed",
            "startTimestamp": "2026-11-26T10:00:00Z",
            "completionTimestamp": "2026-11-26T10:00:07Z",
            "progress": {"itemsBackedUp": 9, "totalItems": 9},
        },
    )
    done = future.result(timeout=120)

    assert done.phase == "Completed" and done.items == 9
    assert done.completed_utc is not None and done.completed_utc.second == 7
    with velero_lab.connect() as cluster:
        backup = cluster.dynamic.resources.get(api_version="velero.io/v1", kind="Backup").get(
            name=name, namespace="velero"
        )
    assert backup.spec.includedNamespaces == ["shop"]
    assert backup.spec.storageLocation == "default"


def test_the_newest_completed_backup_is_the_restore_point(velero_lab: Lab) -> None:
    with velero_lab.connect(admin=False) as runner:
        older = create_backup(runner, ["shop"])
        newer = create_backup(runner, ["shop"])
        failed = create_backup(runner, ["shop"])
    set_status(
        velero_lab,
        "Backup",
        older,
        {"phase": "Completed", "completionTimestamp": "2026-11-26T11:00:00Z"},
    )
    set_status(
        velero_lab,
        "Backup",
        newer,
        {"phase": "Completed", "completionTimestamp": "2026-11-26T11:30:00Z"},
    )
    set_status(
        velero_lab,
        "Backup",
        failed,
        {"phase": "Failed", "completionTimestamp": "2026-11-26T11:45:00Z"},
    )

    with velero_lab.connect(admin=False) as runner:
        latest = latest_completed_backup(runner)

    assert latest is not None and latest.name == newer


@pytest.mark.parametrize(
    ("phase", "status", "expected"),
    [
        ("Failed", {"failureReason": "bucket unreachable"}, "ended Failed: bucket unreachable"),
        (
            "FailedValidation",
            {"validationErrors": ["backup shop-1 not found"]},
            "ended FailedValidation: backup shop-1 not found",
        ),
        (
            "PartiallyFailed",
            {"errors": 2},
            r"ended PartiallyFailed: 2 errors, 0 warnings \(velero restore describe \S+ --details",
        ),
    ],
)
def test_a_restore_that_velero_fails_is_named_with_its_reason(
    velero_lab: Lab, phase: str, status: dict[str, Any], expected: str
) -> None:
    with velero_lab.connect(admin=False) as runner:
        name = create_restore(runner, "shop-1", namespace_map={"shop": "shop-restored"})
    future = waiting(velero_lab, "Restore", name)

    set_status(velero_lab, "Restore", name, {"phase": "InProgress"})
    set_status(velero_lab, "Restore", name, {"phase": phase, **status})

    with pytest.raises(VeleroFailed, match=expected):
        future.result(timeout=120)
    with velero_lab.connect() as cluster:
        restore = cluster.dynamic.resources.get(api_version="velero.io/v1", kind="Restore").get(
            name=name, namespace="velero"
        )
    assert restore.spec.backupName == "shop-1"
    assert dict(restore.spec.namespaceMapping) == {"shop": "shop-restored"}
    assert restore.spec.existingResourcePolicy == "none"


def test_without_a_velero_server_the_wait_ends_at_its_deadline(velero_lab: Lab) -> None:
    with velero_lab.connect(admin=False) as runner:
        name = create_restore(runner, "shop-1", replace_existing=True)
        with pytest.raises(VeleroFailed, match=r"phase New.*Velero server running"):
            wait_for_phase(runner, "Restore", name, timeout=1)


def pending_names(lab: Lab, kind: str) -> list[str]:
    """Velero objects no server has touched yet (no phase)."""
    with lab.connect() as cluster:
        resource = cluster.dynamic.resources.get(api_version="velero.io/v1", kind=kind)
        items = resource.get(namespace="velero").to_dict()["items"]
    return [i["metadata"]["name"] for i in items if not (i.get("status") or {}).get("phase")]


def in_background(function: Any, **arguments: Any) -> Future[dict[str, Any]]:
    pool = ThreadPoolExecutor(max_workers=1)
    future: Future[dict[str, Any]] = pool.submit(function, **arguments)
    pool.shutdown(wait=False)
    return future


def test_the_drill_activities_back_up_and_restore_through_velero(
    velero_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.faults.backup import restore_velero_backup, take_velero_backup

    monkeypatch.setenv("KUBECONFIG", str(velero_lab.kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)
    monkeypatch.setenv("DRILLKIT_RESTORE_KUBECONFIG", str(velero_lab.kubeconfig))
    for name in pending_names(velero_lab, "Backup") + pending_names(velero_lab, "Restore"):
        kind = "Backup" if name in pending_names(velero_lab, "Backup") else "Restore"
        set_status(velero_lab, kind, name, {"phase": "Failed"})

    backing_up = in_background(take_velero_backup, namespaces=["shop"], timeout=120)
    (backup,) = wait_until(
        "velero to be asked for a backup", lambda: pending_names(velero_lab, "Backup")
    )
    set_status(
        velero_lab,
        "Backup",
        backup,
        {
            "phase": "Completed",
            "completionTimestamp": "2030-01-01T00:00:00Z",
            "progress": {"itemsBackedUp": 9},
        },
    )
    backed_up = backing_up.result(timeout=120)

    restoring = in_background(restore_velero_backup, namespace_map={"shop": "shop-b"}, timeout=120)
    (restore,) = wait_until(
        "velero to be asked for a restore", lambda: pending_names(velero_lab, "Restore")
    )
    set_status(
        velero_lab, "Restore", restore, {"phase": "Completed", "progress": {"itemsRestored": 9}}
    )
    restored = restoring.result(timeout=120)

    assert backed_up["backup"]["name"] == backup and backed_up["backup"]["items"] == 9
    assert restored["restore"]["phase"] == "Completed"
    (step,) = restored["drillkit_steps"]
    assert f"of {backup}: Completed, 9 items" in step["command"]

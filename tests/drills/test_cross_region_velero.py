"""``drill run cross-region-restore-velero`` between two labs, each with Velero's real
CRDs and no Velero server: the test plays both regions' Velero servers and the
bucket they share, as the drill sees them.

Region A's Velero moves the drill's Backup to InProgress and Completed and takes the
shop's objects as they are then; region B's BackupStorageLocation sync makes the
same Backup appear in region B, Completed; region B's Velero moves the drill's
Restore along and, when it completes, has brought those objects back in region B.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from drillkit.drivers.backups import export_namespaces, restore_objects
from drillkit.lab.cluster import Lab
from drillkit.model.timeline import parse_utc
from tests.backup.regions import (
    install_velero,
    namespace_exists,
    objects_of,
    prepare_region_a,
    prepare_region_b,
    web_available,
)
from tests.conftest import running_lab
from tests.drills.support import (
    SHIPPED_DRILLS,
    DrillResult,
    drill_environment,
    run_drill_with,
    shipped,
    write_variant,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.lab

T = TypeVar("T")
VELERO_API = "velero.io/v1"
VELERO_NAMESPACE = "velero"
DRILL = SHIPPED_DRILLS / "cross-region-restore-velero.yaml"


@pytest.fixture(scope="module")
def velero_regions(drillkit_home: Path, lab_binaries: Path) -> Iterator[tuple[Lab, Lab]]:
    """Two labs for the whole module, each with Velero's CRDs: region A with the shop."""
    with running_lab("velero-a") as region_a, running_lab("velero-b", seed=False) as region_b:
        for lab in (region_a, region_b):
            install_velero(lab)
        prepare_region_a(region_a)
        yield region_a, region_b


@pytest.fixture
def regions(velero_regions: tuple[Lab, Lab]) -> tuple[Lab, Lab]:
    """The module's labs as each test needs them: no shop in region B, no Velero
    objects from an earlier test in either region, region A serving the shop."""
    region_a, region_b = velero_regions
    prepare_region_b(region_b)
    for lab in velero_regions:
        for kind in ("Backup", "Restore"):
            for name in velero_names(lab, kind):
                delete_velero(lab, kind, name)
    wait_until("shop/web to be available in region A", lambda: web_available(region_a))
    return region_a, region_b


# -- Velero, played by the test -------------------------------------------------------------


def velero_objects(lab: Lab, kind: str, action: Callable[[Any], T]) -> T:
    """Run ``action`` on the lab's Velero ``kind`` resource, as Velero's server (admin)."""
    with lab.connect() as cluster:
        return action(cluster.dynamic.resources.get(api_version=VELERO_API, kind=kind))


def velero_names(lab: Lab, kind: str, *, untouched: bool = False) -> list[str]:
    """The Backups or Restores in Velero's namespace; ``untouched``: those no Velero
    server has given a phase yet."""
    listed = velero_objects(lab, kind, lambda r: r.get(namespace=VELERO_NAMESPACE).to_dict())
    return [
        i["metadata"]["name"]
        for i in listed["items"]
        if not (untouched and (i.get("status") or {}).get("phase"))
    ]


def read_velero(lab: Lab, kind: str, name: str) -> dict[str, Any]:
    item: dict[str, Any] = velero_objects(
        lab, kind, lambda r: r.get(name=name, namespace=VELERO_NAMESPACE).to_dict()
    )
    return item


def delete_velero(lab: Lab, kind: str, name: str) -> None:
    velero_objects(lab, kind, lambda r: r.delete(name=name, namespace=VELERO_NAMESPACE))


def set_status(lab: Lab, kind: str, name: str, status: dict[str, Any]) -> None:
    """What a Velero server does: its CRDs have no status subresource."""
    velero_objects(
        lab,
        kind,
        lambda r: r.patch(
            name=name,
            namespace=VELERO_NAMESPACE,
            body={"status": status},
            content_type="application/merge-patch+json",
        ),
    )


def velero_time() -> str:
    """Now, as Velero writes its timestamps (whole seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Stopped(Exception):
    """The test is over before the played Velero was asked for what it waits on."""


class PlayedVelero:
    """Region A's and region B's Velero servers and their shared bucket, in a thread.

    ``syncs``: region B's BackupStorageLocation sync brings the backup over.
    ``restore_ends_as``: the status of a failed Restore; None: it completes, the
    backed-up objects restored in region B first."""

    def __init__(
        self,
        region_a: Lab,
        region_b: Lab,
        *,
        syncs: bool = True,
        restore_ends_as: dict[str, Any] | None = None,
    ) -> None:
        self.region_a = region_a
        self.region_b = region_b
        self.syncs = syncs
        self.restore_ends_as = restore_ends_as
        self.backup: str | None = None
        self.backup_started: str | None = None
        self.backed_up: list[dict[str, Any]] = []
        self.restore: str | None = None
        self.restored_backup: str | None = None
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PlayedVelero:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        if self._failure is not None:
            raise AssertionError(f"the played Velero failed: {self._failure}") from self._failure

    def _run(self) -> None:
        try:
            self._play()
        except Stopped:
            pass
        except BaseException as failure:  # handed to the test in __exit__
            self._failure = failure

    def _wait_for(self, description: str, find: Callable[[], list[str]]) -> str:
        found = wait_until(description, lambda: self._stop.is_set() or find())
        if self._stop.is_set() or not isinstance(found, list):
            raise Stopped
        (name,) = found
        return name

    def _play(self) -> None:
        a, b = self.region_a, self.region_b
        self.backup = backup = self._wait_for(
            "region A's Velero to be asked for a backup",
            lambda: velero_names(a, "Backup", untouched=True),
        )
        self.backup_started = started = velero_time()
        set_status(a, "Backup", backup, {"phase": "InProgress", "startTimestamp": started})
        spec = read_velero(a, "Backup", backup)["spec"]
        with a.connect() as cluster:
            self.backed_up, _ = export_namespaces(cluster, spec["includedNamespaces"])
        done = {
            "phase": "Completed",
            "startTimestamp": started,
            "completionTimestamp": velero_time(),
            "progress": {"itemsBackedUp": len(self.backed_up), "totalItems": len(self.backed_up)},
        }
        set_status(a, "Backup", backup, done)
        if self.syncs:
            # Region B's sync reads the backup's metadata from the bucket and creates
            # the same Backup there, already Completed.
            synced = {
                "apiVersion": VELERO_API,
                "kind": "Backup",
                "metadata": {
                    "name": backup,
                    "namespace": VELERO_NAMESPACE,
                    "labels": {"velero.io/storage-location": "default"},
                },
                "spec": spec,
                "status": done,
            }
            velero_objects(b, "Backup", lambda r: r.create(body=synced))

        self.restore = restore = self._wait_for(
            "region B's Velero to be asked for a restore",
            lambda: velero_names(b, "Restore", untouched=True),
        )
        self.restored_backup = read_velero(b, "Restore", restore)["spec"]["backupName"]
        started = velero_time()
        set_status(b, "Restore", restore, {"phase": "InProgress", "startTimestamp": started})
        if self.restore_ends_as is not None:
            set_status(b, "Restore", restore, {"startTimestamp": started, **self.restore_ends_as})
            return
        with b.connect() as cluster:
            restore_objects(cluster, self.backed_up, conflict="skip")
        items = len(self.backed_up)
        set_status(
            b,
            "Restore",
            restore,
            {
                "phase": "Completed",
                "startTimestamp": started,
                "completionTimestamp": velero_time(),
                "progress": {"itemsRestored": items, "totalItems": items},
            },
        )


# -- the drill, as a user runs it -------------------------------------------------------------


def run_velero_drill(region_a: Lab, region_b: Lab, drill: Path, tmp_path: Path) -> DrillResult:
    env = drill_environment(region_a, DRILLKIT_RESTORE_KUBECONFIG=str(region_b.kubeconfig))
    return run_drill_with(env, drill, tmp_path / "reports")


def test_region_b_velero_restores_the_backup_region_a_velero_took_and_rto_rpo_are_measured(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    before = objects_of(region_a, "shop")

    with PlayedVelero(region_a, region_b) as velero:
        result = run_velero_drill(region_a, region_b, DRILL, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    # Region B's Velero restored the very backup region A's Velero took.
    assert velero.backup is not None and velero.restored_backup == velero.backup
    assert before <= objects_of(region_b, "shop")
    wait_until("shop/web to be available in region B", lambda: web_available(region_b))
    measurements = result.report()["measurements"]
    rto, rpo = measurements["rto"], measurements["rpo"]
    assert rto["seconds"] is not None and math.isfinite(rto["seconds"])
    assert rpo["seconds"] is not None and math.isfinite(rpo["seconds"])
    assert rpo["backup_age_seconds"] is not None and math.isfinite(rpo["backup_age_seconds"])
    # The experiment lets writes go on for 5 s after the backup: those are lost.
    assert rpo["markers_lost"] >= 2
    assert rpo["seconds"] > 2 and rpo["backup_age_seconds"] > 2
    events = result.timeline()
    steps = [e for e in events if e["kind"] == "procedure_step"]
    assert [s["phase"] for s in steps] == ["backup", "disaster", "restore"]
    backup_step, _, restore_step = steps
    items = len(velero.backed_up)
    assert (
        f"velero backup velero/{velero.backup} of shop: Completed, {items} items"
        in (backup_step["command"])
    )
    assert (
        f"velero restore velero/{velero.restore} of {velero.backup}: Completed"
        in (restore_step["command"])
    )
    (fault,) = [e for e in events if e["kind"] == "fault_injected"]
    assert f"restore point velero://velero/{velero.backup}" in fault["detail"]
    restore_point = result.journal()["run"][1]["output"]["drillkit_restore_point"]
    assert restore_point["name"] == velero.backup and restore_point["items"] == items
    # Velero reads the objects after its start: the backup's age counts from it.
    assert velero.backup_started is not None
    assert parse_utc(restore_point["taken_utc"]) == parse_utc(velero.backup_started)
    # Region A runs again once the drill is over.
    assert region_a.component("kube-apiserver").is_running()
    wait_until("shop/web to be available in region A", lambda: web_available(region_a))
    # The Backup was asked of region A's Velero, the Restore of region B's only.
    assert velero_names(region_a, "Backup") == [velero.backup]
    assert velero_names(region_a, "Restore") == []
    assert velero_names(region_b, "Backup") == [velero.backup]  # synced from the bucket
    assert velero_names(region_b, "Restore") == [velero.restore]


def test_a_restore_velero_fails_ends_the_drill_in_error_naming_why_and_region_a_runs_again(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    reason = "error restoring persistentvolumeclaims/shop/orders: no snapshot location"

    with PlayedVelero(
        region_a,
        region_b,
        restore_ends_as={"phase": "Failed", "failureReason": reason, "errors": 1},
    ) as velero:
        result = run_velero_drill(region_a, region_b, DRILL, tmp_path)

    assert result.returncode == 3, result.stderr
    assert result.summary["verdict"] == "error"
    error = result.report()["error"]
    assert "region-b-velero-restores-shop failed" in error
    assert f"velero restore velero/{velero.restore} ended Failed: {reason}" in error
    assert region_a.component("kube-apiserver").is_running()
    wait_until("shop/web to be available in region A", lambda: web_available(region_a))


def test_a_backup_region_b_never_sees_ends_the_drill_before_region_a_is_touched(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    drill, experiment = shipped("cross-region-restore-velero")
    for activity in experiment["method"]:
        if activity["provider"]["func"] == "region_disaster":
            activity["provider"]["arguments"]["velero_sync_timeout"] = 3
    variant = write_variant(tmp_path, "unsynced", drill=drill, experiment=experiment)
    api = region_a.component("kube-apiserver")
    pid = api.pid()

    with PlayedVelero(region_a, region_b, syncs=False) as velero:
        result = run_velero_drill(region_a, region_b, variant, tmp_path)

    assert result.returncode == 3, result.stderr
    assert result.summary["verdict"] == "error"
    error = result.report()["error"]
    assert f"velero backup velero/{velero.backup} not completed after 3 s (not found)" in error
    assert "BackupStorageLocation" in error
    assert api.pid() == pid
    assert velero.restore is None and velero_names(region_b, "Restore") == []
    assert not namespace_exists(region_b, "shop")

"""``drill run cross-region-restore`` between two labs, region-a and region-b, and
``drill recover`` after a run killed mid-restore."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drillkit.drivers.backups import create_backup, read_catalogue
from drillkit.drivers.objectstore import LocalStore
from drillkit.lab.cluster import Lab
from drillkit.model.timeline import parse_utc
from tests.backup.regions import (
    SECRET_VALUE,
    namespace_exists,
    objects_of,
    prepare_region_a,
    prepare_region_b,
    web_available,
)
from tests.conftest import running_lab
from tests.drills.support import (
    REPOSITORY,
    SHIPPED_DRILLS,
    DrillResult,
    SchedulerProcess,
    drill_command,
    drill_environment,
    run_cli,
    run_drill_with,
    shipped,
    write_variant,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


@pytest.fixture
def regions(drillkit_home: Path, lab_binaries: Path) -> Iterator[tuple[Lab, Lab]]:
    """Two labs of the test's own: region-a with the shop, region-b without it."""
    with (
        running_lab("region-a") as region_a,
        running_lab("region-b", seed=False) as region_b,  # a standby: drill lab up --empty
    ):
        prepare_region_a(region_a)
        prepare_region_b(region_b)
        yield region_a, region_b


def environment(region_a: Lab, region_b: Lab, store: Path) -> dict[str, str]:
    return drill_environment(
        region_a,
        DRILLKIT_BACKUP_STORE=str(store),
        DRILLKIT_RESTORE_KUBECONFIG=str(region_b.kubeconfig),
    )


def run_cross_region(region_a: Lab, region_b: Lab, drill: Path, tmp_path: Path) -> DrillResult:
    env = environment(region_a, region_b, tmp_path / "store")
    return run_drill_with(env, drill, tmp_path / "reports")


def fill_catalogue(lab: Lab) -> None:
    """150 more objects in the shop: a restore long enough to be caught half-way."""
    with lab.connect() as cluster:
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"catalogue-{index:03d}", "namespace": "shop"},
                "data": {"page": str(index)},
            }
            for index in range(150)
        )


def test_the_shop_comes_back_in_region_b_and_the_rpo_is_the_backup_age(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    before = objects_of(region_a, "shop")

    result = run_cross_region(
        region_a, region_b, SHIPPED_DRILLS / "cross-region-restore.yaml", tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    # Every object of region-a's shop is in region-b, and the workload is available.
    assert before <= objects_of(region_b, "shop")
    wait_until("shop/web to be available in region-b", lambda: web_available(region_b))
    events = result.timeline()
    (fault,) = [e for e in events if e["kind"] == "fault_injected"]
    backup = result.journal()["run"][0]["output"]["backup"]
    # Δ: from the backup to the disaster, by the wall clock of this one machine.
    delta = (parse_utc(fault["utc"]) - parse_utc(backup["taken_utc"])).total_seconds()
    assert delta > 2  # the experiment lets writes go on for 5 s after the backup

    rpo = result.report()["measurements"]["rpo"]
    interval = 1.0
    assert abs(rpo["seconds"] - delta) <= interval
    assert abs(rpo["backup_age_seconds"] - delta) <= interval
    assert rpo["markers_lost"] >= 2
    # Measured, at the poll interval's resolution (in the lab a restore may well be
    # faster than one poll, so its value is not asserted).
    rto = result.report()["measurements"]["rto"]
    assert rto["seconds"] is not None and rto["resolution_seconds"] == 0.5
    steps = [e for e in events if e["kind"] == "procedure_step"]
    assert [s["phase"] for s in steps] == ["disaster", "verify", "restore", "restore"]
    report_text = (result.report_dir / "report.md").read_text()
    assert "RTO (service)" in report_text and "RPO (data loss)" in report_text
    assert "backup age at the fault" in report_text
    assert "1 Secret" in report_text and "1 PersistentVolumeClaim" in report_text
    assert "1 Deployment" in report_text
    # report.json counts the restored objects by kind (conflict fail: all created).
    restored = result.report()["restore"]
    assert (
        restored["objects_by_kind"]["Deployment"] == 1
        and restored["objects_by_kind"]["PersistentVolumeClaim"] == 1
        and restored["objects_by_kind"]["Secret"] >= 1
        and restored["created"] == sum(restored["objects_by_kind"].values()) > 0
    ), restored
    assert backup["sha256"] in report_text
    # The restored Secret's value is nowhere in what the run wrote.
    for path in result.report_dir.rglob("*"):
        if path.is_file():
            assert SECRET_VALUE.encode() not in path.read_bytes(), path
    # Region A runs again once the drill is over.
    wait_until("shop/web to be available in region-a", lambda: web_available(region_a))


@contextlib.contextmanager
def scheduled_backups(region_a: Lab, tmp_path: Path, cron: str) -> Iterator[SchedulerProcess]:
    """``drill scheduler run`` taking backups of region-a's shop on ``cron`` into the
    drill's store, as the shipped plan does (``backups/shop.yaml``)."""
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "shop.yaml").write_text((REPOSITORY / "backups" / "shop.yaml").read_text())
    env = drill_environment(
        region_a,
        DRILLKIT_BACKUP_STORE=str(tmp_path / "store"),
        DRILL_BACKUPS_DIR=str(backups),
        DRILL_REPORTS_DIR=str(tmp_path / "scheduler-reports"),
        DRILL_SCHEDULER_DATABASE=f"sqlite:///{tmp_path / 'scheduler.db'}",
    )
    added = run_cli(env, "schedule", "add", "shop", "--backup", "--cron", cron, timeout=120)
    assert added.returncode == 0, added.stderr
    scheduler = SchedulerProcess("backups", env, tmp_path / "scheduler.log")
    try:
        yield scheduler
    finally:
        scheduler.stop()


def test_with_backups_every_few_seconds_the_rpo_is_the_time_since_the_last_one(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    drill, experiment = shipped("cross-region-restore")
    # No backup of its own: the drill restores whatever the schedule took last.
    experiment["method"] = [a for a in experiment["method"] if a["name"] != "back-up-shop"]
    experiment["method"][0]["pauses"] = {"before": 8}
    variant = write_variant(tmp_path, "scheduled", drill=drill, experiment=experiment)
    store = LocalStore(tmp_path / "store")

    with scheduled_backups(region_a, tmp_path, "*/4 * * * * *") as scheduler:
        wait_until("a first scheduled backup", lambda: scheduler.health() and read_catalogue(store))
        result = run_cross_region(region_a, region_b, variant, tmp_path)

    assert result.returncode == 0, result.stderr
    events = result.timeline()
    (fault,) = [e for e in events if e["kind"] == "fault_injected"]
    (disaster,) = [
        e for e in events if e["kind"] == "activity_started" and e["name"] == "region-a-is-lost"
    ]
    fault_utc = parse_utc(fault["utc"])
    catalogue = {b.name: b for b in read_catalogue(store)}
    before_fault = [b for b in catalogue.values() if b.taken_utc <= fault_utc]
    assert len(before_fault) >= 2  # a cadence, not a single backup
    assert all(b.plan == "shop" for b in before_fault)  # taken by the schedule
    # The restore point is the newest backup that was whole when the disaster began
    # (one still being written then may finish later and is not waited for).
    restore_point = catalogue[
        result.journal()["run"][0]["output"]["drillkit_restore_point"]["name"]
    ]
    complete_at_disaster = [
        b
        for b in before_fault
        if datetime.fromtimestamp((store.root / b.catalogue_key).stat().st_mtime, UTC)
        < parse_utc(disaster["utc"])
    ]
    assert complete_at_disaster
    assert all(b.taken_utc <= restore_point.taken_utc for b in complete_at_disaster)
    assert restore_point.taken_utc <= fault_utc
    since_last_backup = (fault_utc - restore_point.taken_utc).total_seconds()
    rpo = result.report()["measurements"]["rpo"]
    interval = 1.0
    assert abs(rpo["seconds"] - since_last_backup) <= interval
    assert abs(rpo["backup_age_seconds"] - since_last_backup) <= interval


def test_a_corrupted_backup_ends_the_drill_before_region_a_or_b_is_touched(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    drill, experiment = shipped("cross-region-restore")
    # The backup is taken, then corrupted in the store before the disaster.
    store = tmp_path / "store"
    method = experiment["method"]
    corrupt = {
        "type": "action",
        "name": "the-archive-is-damaged",
        "provider": {
            "type": "process",
            "path": "sh",
            "arguments": [
                "-c",
                f"for f in {store}/backups/*.tar.gz; do "
                'head -c 200 "$f" > "$f.cut" && mv "$f.cut" "$f"; done',
            ],
        },
    }
    experiment["method"] = [method[0], corrupt, *method[1:]]
    variant = write_variant(tmp_path, "damaged", drill=drill, experiment=experiment)
    api = region_a.component("kube-apiserver")
    pid = api.pid()

    result = run_cross_region(region_a, region_b, variant, tmp_path)

    assert result.returncode == 3, result.stderr
    assert result.summary["verdict"] == "error"
    assert "does not match its digest" in result.report()["error"]
    assert api.pid() == pid
    assert not namespace_exists(region_b, "shop")


def restore_journals() -> list[dict[str, Any]]:
    directory = Path(os.environ["DRILLKIT_HOME"]) / "backup-restores"
    journals = []
    for path in directory.glob("[!.]*.json"):
        try:
            journals.append(json.loads(path.read_text()))
        except (ValueError, FileNotFoundError):
            continue  # replaced while read
    return journals


def restore_half_way() -> bool:
    return any(j["phase"] == "restoring" and len(j["created"]) >= 5 for j in restore_journals())


def test_drill_recover_cleans_up_a_restore_killed_half_way(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    fill_catalogue(region_a)
    store = tmp_path / "store"
    created = run_cli(environment(region_a, region_b, store), "backup", "create", "-n", "shop")
    assert created.returncode == 0, created.stderr
    env_b = drill_environment(region_b, DRILLKIT_BACKUP_STORE=str(store))
    restoring = subprocess.Popen(
        drill_command("backup", "restore", "--conflict", "fail"),
        env=env_b,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    try:
        wait_until("the restore to be half-way", restore_half_way, timeout=120)
    finally:
        restoring.send_signal(signal.SIGKILL)
        restoring.wait()
    assert namespace_exists(region_b, "shop")
    assert len(objects_of(region_b, "shop")) < len(objects_of(region_a, "shop"))

    recovered = run_cli(env_b, "recover")

    assert recovered.returncode == 0, recovered.stderr
    assert "interrupted restore of backup-" in recovered.stdout
    assert "cleaned up" in recovered.stdout
    assert not namespace_exists(region_b, "shop")
    again = run_cli(env_b, "recover")
    assert again.returncode == 0, again.stderr
    assert "nothing to recover" in again.stdout
    # And the same backup restores whole afterwards.
    whole = run_cli(env_b, "backup", "restore", "--output", "json")
    assert whole.returncode == 0, whole.stderr
    assert json.loads(whole.stdout)["restored"]["counts"]["ConfigMap"] == 152
    assert objects_of(region_b, "shop") == objects_of(region_a, "shop")


def test_drill_recover_after_a_run_killed_mid_restore_restarts_region_a_and_cleans_region_b(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    fill_catalogue(region_a)
    drill, experiment = shipped("cross-region-restore")
    for activity in experiment["method"]:
        if activity["provider"]["func"] == "region_disaster":
            activity["provider"]["arguments"]["mode"] = "lab-stopped"
    variant = write_variant(tmp_path, "stopped", drill=drill, experiment=experiment)
    env = environment(region_a, region_b, tmp_path / "store")
    run = subprocess.Popen(
        drill_command("run", str(variant), "--reports-dir", str(tmp_path / "reports")),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    try:
        wait_until("the drill's restore to be half-way", restore_half_way, timeout=300)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert not region_a.component("kube-apiserver").is_running()
    assert namespace_exists(region_b, "shop")

    recovered = run_cli(env, "recover")

    assert recovered.returncode == 0, recovered.stderr
    assert "started lab region-a" in recovered.stdout
    assert "interrupted restore of backup-" in recovered.stdout
    assert not namespace_exists(region_b, "shop")
    wait_until("shop/web to be available in region-a", lambda: web_available(region_a))
    again = run_cli(env, "recover")
    assert again.returncode == 0, again.stderr
    assert "nothing to recover" in again.stdout


def test_a_restore_killed_after_every_object_was_written_is_kept_and_said_so(
    regions: tuple[Lab, Lab], tmp_path: Path
) -> None:
    region_a, region_b = regions
    store = tmp_path / "store"
    with region_a.connect(admin=False) as runner:
        create_backup(runner, LocalStore(store), ["shop"])
    # Region-b's nodes stop heartbeating: the restored pods never become ready, so the
    # restore waits for its workloads after every object is written.
    zones = [region_b.zone_component(z) for z in region_b.shape.zone_names()]
    for zone in zones:
        zone.kill()
    env_b = drill_environment(region_b, DRILLKIT_BACKUP_STORE=str(store))
    restoring = subprocess.Popen(
        drill_command("backup", "restore"),
        env=env_b,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            "every object to be written",
            lambda: any(j["phase"] == "restored" for j in restore_journals()),
        )
    finally:
        restoring.send_signal(signal.SIGKILL)
        restoring.wait()

    recovered = run_cli(env_b, "recover")

    assert recovered.returncode == 0, recovered.stderr
    assert "had completed" in recovered.stdout and "it stays" in recovered.stdout
    assert objects_of(region_b, "shop") == objects_of(region_a, "shop")
    for zone in zones:
        zone.start()
    wait_until("shop/web to be available in region-b", lambda: web_available(region_b))

"""Backup schedules: a backup plan scheduled, fired as the scheduler fires it, against a lab;
its retention; bad plans; what a CronJob export refuses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillkit.drivers.backups import prune_backups, read_catalogue
from drillkit.drivers.objectstore import LocalStore
from drillkit.errors import InvalidInput
from drillkit.lab.cluster import Lab
from drillkit.model.backups import BackupInfo
from drillkit.scheduling.backups import load_backup_plan, take_planned_backup
from drillkit.scheduling.cronjobs import gather_files
from drillkit.scheduling.schedules import Schedule, TargetKind
from tests.backup.regions import SECRET_VALUE, prepare_region_a
from tests.conftest import running_lab
from tests.drills.support import REPOSITORY, drill_environment, run_cli

SHIPPED_PLAN = REPOSITORY / "backups" / "shop.yaml"


def catalogue_entry(store: LocalStore, name: str, taken: datetime, plan: str | None) -> None:
    info = BackupInfo(
        name=name,
        taken_utc=taken,
        size=1,
        sha256="0" * 64,
        namespaces=("shop",),
        counts={"Deployment": 1},
        source="https://127.0.0.1:6443",
        plan=plan,
    )
    store.put(info.archive_key, b"x")
    store.put(info.catalogue_key, json.dumps(info.to_json()).encode())


def test_retention_deletes_only_the_plans_own_oldest_backups(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    for minute in range(5):
        catalogue_entry(store, f"shop-{minute}", start + timedelta(minutes=minute), "shop")
    catalogue_entry(store, "by-hand", start - timedelta(hours=1), None)
    catalogue_entry(store, "other-plan", start - timedelta(hours=1), "orders")

    pruned = prune_backups(store, plan="shop", keep=2)

    assert [info.name for info in pruned] == ["shop-0", "shop-1", "shop-2"]
    assert [info.name for info in read_catalogue(store)] == [
        "by-hand",
        "other-plan",
        "shop-3",
        "shop-4",
    ]
    # Neither the archive nor its digest is left behind.
    assert list((tmp_path / "store").rglob("*shop-0*")) == []


def test_the_shipped_plan_reads(tmp_path: Path) -> None:
    plan = load_backup_plan(SHIPPED_PLAN)
    assert plan.namespaces == ("shop",)
    assert plan.schedule is not None and plan.schedule.cron == "*/15 * * * *"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("namespaces: []\n", "backups/bad.yaml:1:13: namespaces:"),
        ("namespaces: [shop]\nkeep: 0\n", "backups/bad.yaml:2:7: keep:"),
        (
            "namespaces: [shop]\nschedule: {cron: '0 10 * *'}\n",
            "2:18: schedule.cron: invalid cron expression",
        ),
        ("namespaces: [shop]\nstorage: /tmp\n", "backups/bad.yaml:2:1: storage: unknown field"),
    ],
)
def test_a_bad_plan_is_named_by_file_line_and_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "backups" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(InvalidInput) as raised:
        load_backup_plan(path)
    assert problem.lower() in str(raised.value).lower()


def test_a_plan_whose_store_variable_is_unset_says_so_before_touching_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRILLKIT_BACKUP_STORE", raising=False)
    plan = load_backup_plan(SHIPPED_PLAN)
    with pytest.raises(InvalidInput, match="DRILLKIT_BACKUP_STORE is not set"):
        # A cluster that cannot exist: the store is resolved before any connection.
        take_planned_backup("shop", plan, kubeconfig=Path("/nonexistent"), context=None)


def test_backup_schedules_and_second_fields_are_not_exported_as_cronjobs(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)

    def schedule(kind: TargetKind, cron: str) -> Schedule:
        return Schedule(
            name="s",
            kind=kind,
            target="shop",
            cron=cron,
            timezone="UTC",
            jitter=timedelta(0),
            misfire_grace=timedelta(minutes=5),
            coalesce=True,
            paused=False,
            revision=1,
            created_at=now,
            updated_at=now,
        )

    directories = {"drills_dir": tmp_path, "gamedays_dir": tmp_path, "policy_file": None}
    with pytest.raises(InvalidInput, match="run it with `drill scheduler run`"):
        gather_files(schedule(TargetKind.BACKUP, "*/15 * * * *"), drill_files={}, **directories)
    with pytest.raises(InvalidInput, match="no second field"):
        gather_files(schedule(TargetKind.DRILL, "0 0 10 * * *"), drill_files={}, **directories)


# -- against a lab -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def region_a(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    with running_lab("backup-schedules") as lab:
        prepare_region_a(lab)
        yield lab


def drill(lab: Lab, *arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(drill_environment(lab, **env), *arguments)


@pytest.mark.lab
def test_a_backup_schedule_fires_verified_backups_and_keeps_the_newest(
    region_a: Lab, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "shop.yaml").write_text(SHIPPED_PLAN.read_text().replace("keep: 96", "keep: 2"))
    store = tmp_path / "store"
    env = {
        "DRILLKIT_BACKUP_STORE": str(store),
        "DRILL_BACKUPS_DIR": str(backups),
        "DRILL_SCHEDULER_DATABASE": f"sqlite:///{tmp_path / 'scheduler.db'}",
        "DRILL_REPORTS_DIR": str(tmp_path / "reports"),
    }

    added = drill(region_a, "schedule", "add", "shop", "--backup", env=env)
    assert added.returncode == 0, added.stderr
    assert "schedule shop: backup shop, */15 * * * * UTC" in added.stdout

    fired = []
    for minute in range(3):
        fire_time = f"2026-11-26T09:{minute * 15:02d}:00Z"
        result = drill(
            region_a, "schedule", "fire", "shop", "--fire-time", fire_time, "--output", "json",
            env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        fired.append(json.loads(result.stdout))
        assert "verified" in result.stderr  # the progress line of the fire

    assert [f["outcome"] for f in fired] == ["ran", "ran", "ran"]
    assert {f["verdict"] for f in fired} == {"taken"}
    names = [f["run_id"] for f in fired]
    catalogue = read_catalogue(LocalStore(store))
    # keep: 2 — the first backup of the plan is gone, the two newest stay, whole.
    assert [info.name for info in catalogue] == names[1:]
    assert all(info.plan == "shop" for info in catalogue)
    newest = catalogue[-1]
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim"):
        assert newest.counts.get(kind, 0) >= 1, kind
    verified = drill(region_a, "backup", "verify", "--output", "json", env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["name"] == names[-1]
    listed = drill(region_a, "backup", "list", env=env)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == names[1:]
    assert all("plan shop" in line for line in listed.stdout.splitlines())
    assert SECRET_VALUE not in added.stdout + "".join(json.dumps(f) for f in fired)

    history = drill(region_a, "schedule", "history", "shop", env=env)
    assert history.returncode == 0, history.stderr
    assert f"ran: taken, backup {names[-1]}" in history.stdout


@pytest.mark.lab
def test_a_backup_that_fails_is_recorded_as_an_error_of_its_fire(
    region_a: Lab, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "gone.yaml").write_text("namespaces: [no-such-namespace]\n")
    env = {
        "DRILLKIT_BACKUP_STORE": str(tmp_path / "store"),
        "DRILL_BACKUPS_DIR": str(backups),
        "DRILL_SCHEDULER_DATABASE": f"sqlite:///{tmp_path / 'scheduler.db'}",
    }
    result = drill(
        region_a, "schedule", "fire", "gone", "--target", "backup:gone", "--output", "json",
        env=env,
    )  # fmt: skip
    assert result.returncode == 3
    record = json.loads(result.stdout)
    assert record["outcome"] == "error"
    assert "no-such-namespace" in record["reason"]
    assert read_catalogue(LocalStore(tmp_path / "store")) == []


@pytest.mark.lab
def test_granting_a_role_the_lab_does_not_have_names_the_roles_it_has(region_a: Lab) -> None:
    result = drill(
        region_a, "lab", "grant", "drillkit-admin", "--name", region_a.shape.name, env={}
    )
    assert result.returncode == 2
    assert "no ClusterRole 'drillkit-admin'" in result.stderr
    assert "drillkit-backup-reader" in result.stderr and "drillkit-restorer" in result.stderr

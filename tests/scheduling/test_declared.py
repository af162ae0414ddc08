"""Schedules kept in Git: ``schedules/*.yaml`` and ``drill schedule apply``.

The store's side runs against every backend (SQLite and PostgreSQL); the command's output,
exit codes and refusals through click's runner.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillkit.cli.main import cli
from drillkit.errors import InvalidInput
from drillkit.scheduling.database import Database
from drillkit.scheduling.declared import (
    Change,
    apply_plan,
    load_schedule_files,
    plan_apply,
    read_stored,
)
from drillkit.scheduling.schedules import (
    ScheduleSettings,
    TargetKind,
    add_schedule,
    get_schedule,
    list_schedules,
    production_confirmation,
    remove_schedule,
    set_paused,
)
from drillkit.scheduling.targets import TargetDirectories
from tests.cli_schemas import assert_matches_schema
from tests.scheduling.conftest import TEST_DRILLS

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Database]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_database")
    with Database(url) as opened:
        yield opened


@pytest.fixture
def schedules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "schedules"
    directory.mkdir()
    return directory


@pytest.fixture
def targets(tmp_path: Path) -> TargetDirectories:
    drills = tmp_path / "drills"
    shutil.copytree(TEST_DRILLS, drills)
    return TargetDirectories(
        drills_dir=drills,
        gamedays_dir=REPOSITORY / "gamedays",
        backups_dir=REPOSITORY / "backups",
    )


def declare(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def apply(
    database: Database, directory: Path, targets: TargetDirectories, *, prune: bool = False
) -> dict[str, Change]:
    declared = load_schedule_files(directory, targets=targets, now=NOW, operator="ci@runner")
    stored, confirmations = read_stored(database)
    plan = plan_apply(declared, stored, confirmations=confirmations, prune=prune)
    apply_plan(database, plan, now=NOW)
    return {item.name: item.change for item in plan.changes}


def by_hand(name: str, cron: str = "0 3 * * *") -> ScheduleSettings:
    return ScheduleSettings(name=name, kind=TargetKind.DRILL, target="noop", cron=cron)


# -- the store -------------------------------------------------------------------------------------


def test_apply_adds_changes_and_removes_the_schedules_files_declare(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\n")
    gone = declare(schedules_dir, "weekly", "drill: noop\ncron: '0 2 * * MON'\n")

    assert apply(database, schedules_dir, targets) == {
        "nightly": Change.ADDED,
        "weekly": Change.ADDED,
    }
    nightly = get_schedule(database, "nightly")
    assert nightly is not None and nightly.source == str(schedules_dir / "nightly.yaml")

    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 4 * * *'\njitter: 10m\n")
    gone.unlink()
    assert apply(database, schedules_dir, targets) == {
        "nightly": Change.CHANGED,
        "weekly": Change.REMOVED,
    }
    (stored,) = list_schedules(database)
    assert (stored.cron, stored.jitter, stored.revision) == ("0 4 * * *", timedelta(minutes=10), 2)
    assert apply(database, schedules_dir, targets) == {"nightly": Change.UNCHANGED}


def test_schedules_added_by_hand_are_kept_unless_pruned(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    add_schedule(database, by_hand("manual"), now=NOW)
    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\n")

    assert apply(database, schedules_dir, targets)["manual"] is Change.KEPT
    assert get_schedule(database, "manual") is not None
    assert apply(database, schedules_dir, targets, prune=True)["manual"] is Change.REMOVED
    assert [s.name for s in list_schedules(database)] == ["nightly"]


def test_a_file_takes_over_a_schedule_of_its_name_added_by_hand(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    add_schedule(database, by_hand("nightly", cron="0 2 * * *"), now=NOW)
    path = declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\n")

    declared = load_schedule_files(schedules_dir, targets=targets, now=NOW, operator="ci")
    stored, confirmations = read_stored(database)
    (item,) = plan_apply(declared, stored, confirmations=confirmations).changes
    assert item.change is Change.CHANGED
    assert [f.describe() for f in item.fields] == [f"source none -> '{path}'"]
    apply_plan(database, plan_apply(declared, stored, confirmations=confirmations), now=NOW)
    # From now on the file manages it: its file gone, it goes.
    path.unlink()
    assert apply(database, schedules_dir, targets) == {"nightly": Change.REMOVED}


def test_a_schedule_replaced_or_removed_by_hand_is_no_longer_the_files(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\n")
    apply(database, schedules_dir, targets)

    replaced = add_schedule(database, by_hand("nightly"), now=NOW, replace=True)
    assert replaced.source is None
    remove_schedule(database, "nightly")
    assert apply(database, schedules_dir, targets) == {"nightly": Change.ADDED}


def test_paused_is_applied_only_when_a_file_says_it(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    path = declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\n")
    apply(database, schedules_dir, targets)
    set_paused(database, "nightly", paused=True, now=NOW)
    # Left out of the file, pausing stays the operators' to decide.
    assert apply(database, schedules_dir, targets) == {"nightly": Change.UNCHANGED}
    path.write_text(path.read_text() + "paused: false\n")
    assert apply(database, schedules_dir, targets) == {"nightly": Change.CHANGED}
    stored = get_schedule(database, "nightly")
    assert stored is not None and not stored.paused


def test_settings_left_out_come_from_the_target_files_schedule_section(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    shutil.copy(REPOSITORY / "schedules" / "quarterly-resilience.yaml", schedules_dir)

    assert apply(database, schedules_dir, targets) == {"quarterly-resilience": Change.ADDED}
    stored = get_schedule(database, "quarterly-resilience")
    assert stored is not None
    assert (stored.kind, stored.target) == (TargetKind.GAMEDAY, "quarterly-resilience")
    assert (stored.cron, stored.timezone) == ("0 10 1 1,4,7,10 *", "Europe/Berlin")
    assert stored.misfire_grace == timedelta(hours=2)


def test_a_production_drill_is_applied_with_the_context_its_file_confirms(
    database: Database, schedules_dir: Path, targets: TargetDirectories
) -> None:
    drill = targets.drills_dir / "noop.yaml"
    drill.write_text(drill.read_text() + "safety:\n  production: true\n")
    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\n")

    with pytest.raises(InvalidInput, match=r"nightly.yaml:1:1: confirm_production: drill noop "):
        apply(database, schedules_dir, targets)
    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 2 * * *'\nconfirm_production: prod\n")
    apply(database, schedules_dir, targets)
    confirmation = production_confirmation(database, "nightly")
    assert confirmation is not None
    assert (confirmation.context, confirmation.confirmed_by) == ("prod", "ci@runner")


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    schedules_dir: Path,
    targets: TargetDirectories,
) -> None:
    monkeypatch.setenv("DRILL_SCHEDULER_DATABASE", sqlite_url)
    monkeypatch.setenv("DRILL_SCHEDULES_DIR", str(schedules_dir))
    monkeypatch.setenv("DRILL_DRILLS_DIR", str(targets.drills_dir))
    monkeypatch.setenv("DRILL_GAMEDAYS_DIR", str(targets.gamedays_dir))


def drill(*arguments: str) -> Result:
    return CliRunner().invoke(cli, list(arguments))


@pytest.mark.usefixtures("environment")
def test_apply_shows_the_difference_and_a_dry_run_changes_nothing(schedules_dir: Path) -> None:
    drill("schedule", "add", "noop", "--cron", "0 3 * * *", "--as", "manual")
    drill("schedule", "add", "noop", "--cron", "0 2 * * *", "--as", "nightly")
    declare(schedules_dir, "nightly", "drill: noop\ncron: '0 4 * * *'\ntimezone: Europe/Berlin\n")
    declare(schedules_dir, "weekly", "drill: noop\ncron: '0 2 * * MON'\n")

    dry = drill("schedule", "apply", "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        "kept       manual: drill noop, 0 3 * * * UTC (added by hand; --prune removes it)",
        "changed    nightly: cron '0 2 * * *' -> '0 4 * * *'; timezone 'UTC' -> 'Europe/Berlin'; "
        f"source none -> '{schedules_dir}/nightly.yaml'",
        f"added      weekly: drill noop, 0 2 * * MON UTC ({schedules_dir}/weekly.yaml)",
        "dry run, nothing changed: 1 added, 1 changed, 0 removed, 0 unchanged, 1 kept",
    ]
    listed = json.loads(drill("schedule", "list", "--output", "json").output)
    assert [(s["name"], s["cron"]) for s in listed] == [
        ("manual", "0 3 * * *"),
        ("nightly", "0 2 * * *"),
    ]

    applied = drill("schedule", "apply", "--prune", "--output", "json")

    assert applied.exit_code == 0, applied.output
    plan = assert_matches_schema("schedule-apply", applied.output)
    assert plan["dry_run"] is False
    assert [(c["name"], c["change"]) for c in plan["changes"]] == [
        ("manual", "removed"),
        ("nightly", "changed"),
        ("weekly", "added"),
    ]
    assert plan["changes"][1]["fields"][0] == {
        "field": "cron",
        "before": "'0 2 * * *'",
        "after": "'0 4 * * *'",
    }
    listed = assert_matches_schema(
        "schedule-list", drill("schedule", "list", "--output", "json").output
    )
    assert [(s["name"], s["cron"]) for s in listed] == [
        ("nightly", "0 4 * * *"),
        ("weekly", "0 2 * * MON"),
    ]
    assert drill("schedule", "apply").output.splitlines()[-1] == (
        f"applied {schedules_dir}: 0 added, 0 changed, 0 removed, 2 unchanged"
    )


@pytest.mark.usefixtures("environment")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "drill: noop\ncron: '0 2 * * *'\njitter: soon\n",
            "bad.yaml:3:9: jitter: invalid duration 'soon'",
        ),
        ("drill: nope\ncron: '0 2 * * *'\n", "bad.yaml:1:8: drill: no drill named 'nope'"),
        (
            "drill: noop\ngameday: quarterly-resilience\ncron: '0 2 * * *'\n",
            "bad.yaml:2:10: gameday: a schedule runs one target: drill noop or gameday "
            "quarterly-resilience, not both",
        ),
        ("cron: '0 2 * * *'\n", "bad.yaml:1:1: drill: missing required field 'drill', "),
        ("drill: noop\n", "bad.yaml:1:1: cron: missing required field 'cron' ("),
        (
            "drill: noop\ncron: '*/5 * * * *'\njitter: 10m\n",
            "bad.yaml:3:9: jitter: jitter 10m is not shorter than the 5m between fires",
        ),
        (
            "drill: noop\ncron: '0 25 * * *'\n",
            "bad.yaml:2:7: cron: invalid cron expression '0 25 * * *'",
        ),
        ("drill: noop\ncron: '0 2 * * *'\nevery: day\n", "bad.yaml:3:1: every: unknown field"),
    ],
)
def test_one_bad_file_refuses_the_whole_apply_in_one_line(
    schedules_dir: Path, text: str, message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from drillkit.cli.main import main

    declare(schedules_dir, "good", "drill: noop\ncron: '0 2 * * *'\n")
    declare(schedules_dir, "bad", text)

    with pytest.raises(SystemExit) as exited:
        main(["schedule", "apply"])

    assert exited.value.code == 2
    error = capfd.readouterr().err
    assert error.startswith(f"drill: error: {schedules_dir}/{message}"), error
    assert len(error.splitlines()) == 1
    assert drill("schedule", "list").output.startswith("no schedules")


@pytest.mark.usefixtures("environment")
def test_a_file_name_that_is_no_schedule_name_is_refused(
    schedules_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from drillkit.cli.main import main

    declare(schedules_dir, "Nightly", "drill: noop\ncron: '0 2 * * *'\n")

    with pytest.raises(SystemExit) as exited:
        main(["schedule", "apply"])

    assert exited.value.code == 2
    assert capfd.readouterr().err == (
        f"drill: error: {schedules_dir}/Nightly.yaml: invalid schedule name 'Nightly' "
        "(the file's name): use lowercase letters, digits and dashes\n"
    )


@pytest.mark.usefixtures("environment")
def test_a_missing_schedules_directory_removes_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from drillkit.cli.main import main

    drill("schedule", "add", "noop", "--cron", "0 2 * * *")

    with pytest.raises(SystemExit) as exited:
        main(["schedule", "apply", "--prune", "--schedules-dir", str(tmp_path / "nowhere")])

    assert exited.value.code == 2
    assert capfd.readouterr().err.startswith(
        f"drill: error: no schedules directory {tmp_path}/nowhere: "
    )
    assert "noop" in drill("schedule", "list").output

"""A schedule of a production drill keeps the context named to confirm it, and only it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from drillkit.scheduling.database import Database
from drillkit.scheduling.schedules import (
    ScheduleSettings,
    TargetKind,
    add_schedule,
    production_confirmation,
    remove_schedule,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def settings(confirm: str | None) -> ScheduleSettings:
    return ScheduleSettings(
        name="nightly",
        kind=TargetKind.DRILL,
        target="zone-failure",
        cron="0 4 * * *",
        confirm_production=confirm,
        confirmed_by="alice@ops",
    )


def test_the_confirmation_is_stored_with_the_schedule(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'scheduler.db'}")

    add_schedule(database, settings("prod-eu"), now=NOW)

    confirmation = production_confirmation(database, "nightly")
    assert confirmation is not None
    assert (confirmation.context, confirmation.confirmed_by) == ("prod-eu", "alice@ops")
    assert confirmation.confirmed_at == NOW


def test_replacing_or_removing_a_schedule_drops_its_confirmation(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'scheduler.db'}")
    add_schedule(database, settings("prod-eu"), now=NOW)

    add_schedule(database, settings(None), now=NOW, replace=True)
    replaced = production_confirmation(database, "nightly")
    add_schedule(database, settings("prod-eu"), now=NOW, replace=True)
    remove_schedule(database, "nightly")
    add_schedule(database, settings(None), now=NOW)

    assert replaced is None
    assert production_confirmation(database, "nightly") is None

"""Schedules as people manage them: add, list, pause, resume, remove.

A schedule names what it runs (a drill, a game day or a backup plan), when (a cron
expression in a time zone, with an optional jitter) and how missed fires are treated
(misfire grace, coalescing). It lives in the ``drill_schedules`` table; every running
scheduler mirrors the table into its own APScheduler job store
(``drillkit.scheduling.daemon``), so a schedule added or paused from the command line
reaches schedulers that are already running. A schedule is added by hand or declared in a
schedule file (``drillkit.scheduling.declared``), which it then remembers as its ``source``.
Blackout windows and the error-budget gate
are not copied here: they are read from the target's file at each fire, so editing a
change freeze takes effect at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from drillkit.errors import InvalidInput
from drillkit.model.drill import NAME_PATTERN
from drillkit.model.durations import format_duration
from drillkit.scheduling.cron import (
    CronCalendar,
    DrillTrigger,
    next_fire_time,
    parse_cron,
    shortest_interval,
    upcoming_fire_times,
)
from drillkit.scheduling.database import (
    Database,
    confirmations_table,
    origins_table,
    schedules_table,
)


class TargetKind(StrEnum):
    """What a schedule runs."""

    DRILL = "drill"
    GAMEDAY = "gameday"
    BACKUP = "backup"


@dataclass(frozen=True, kw_only=True)
class ScheduleSettings:
    """What a person asks for when adding a schedule."""

    name: str
    kind: TargetKind
    target: str
    cron: str
    timezone: str = "UTC"
    jitter: timedelta = timedelta(0)
    misfire_grace: timedelta = timedelta(minutes=30)
    coalesce: bool = True
    confirm_production: str | None = None
    """For a production drill: the kube context named to confirm its runs."""
    confirmed_by: str = ""
    """Who named it, for the reports of the runs it fires."""
    paused: bool | None = None
    """Pause or resume it; None leaves a stored schedule as it is (a new one fires)."""
    source: str | None = None
    """The schedule file it is declared in; None for a schedule added by hand."""


@dataclass(frozen=True, kw_only=True)
class ProductionConfirmation:
    """The kube context named when a schedule of a production drill was added, and by whom."""

    context: str
    confirmed_by: str
    confirmed_at: datetime


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A stored schedule."""

    name: str
    kind: TargetKind
    target: str
    cron: str
    timezone: str
    jitter: timedelta
    misfire_grace: timedelta
    coalesce: bool
    paused: bool
    revision: int
    """Incremented by every change, so running schedulers notice it."""
    created_at: datetime
    updated_at: datetime
    source: str | None = None
    """The schedule file it was declared in (``drill schedule apply``); None: added by hand."""

    def calendar(self) -> CronCalendar:
        return parse_cron(self.cron, self.timezone)

    def trigger(self) -> DrillTrigger:
        """The APScheduler trigger of this schedule."""
        return DrillTrigger(self.cron, self.timezone, jitter=self.jitter, seed=self.name)

    def next_fire_times(self, now: datetime, count: int = 1) -> list[datetime]:
        """The next ``count`` fire times after ``now``; none while paused."""
        if self.paused:
            return []
        return upcoming_fire_times(
            self.calendar(), jitter=self.jitter, seed=self.name, now=now, count=count
        )

    def fire_at_or_after(self, moment: datetime) -> datetime | None:
        """The first fire time at or after ``moment``, paused or not."""
        return next_fire_time(
            self.calendar(), jitter=self.jitter, seed=self.name, previous=None, now=moment
        )

    def describe_when(self) -> str:
        """``0 10 * * TUE Europe/Berlin, jitter 10m``."""
        return describe_when(self.cron, self.timezone, self.jitter)


def describe_when(cron: str, timezone: str, jitter: timedelta) -> str:
    """When a schedule fires, in words: ``0 10 * * TUE Europe/Berlin, jitter 10m``."""
    text = f"{cron} {timezone}"
    if jitter:
        text += f", jitter {format_duration(jitter)}"
    return text


def validate_settings(settings: ScheduleSettings, *, now: datetime) -> None:
    """Raise ``InvalidInput`` for a schedule that could not fire as asked."""
    problem = find_settings_problem(settings, now=now)
    if problem is not None:
        raise InvalidInput(problem[1])


def find_settings_problem(settings: ScheduleSettings, *, now: datetime) -> tuple[str, str] | None:
    """The first reason a schedule could not fire as asked: the setting (``name``,
    ``cron``, ``jitter`` or ``misfire_grace``) and a sentence; None when it can."""
    if not re.match(NAME_PATTERN, settings.name) or len(settings.name) > 63:
        return (
            "name",
            f"invalid schedule name {settings.name!r}: use lowercase letters, digits and dashes",
        )
    try:
        calendar = parse_cron(settings.cron, settings.timezone)
    except InvalidInput as error:
        return "cron", str(error)
    if calendar.next_at_or_after(now) is None:
        return "cron", f"cron expression {settings.cron!r} never fires"
    if settings.jitter:
        interval = shortest_interval(calendar, now=now)
        if settings.jitter >= interval:
            return (
                "jitter",
                f"jitter {format_duration(settings.jitter)} is not shorter than the "
                f"{format_duration(interval)} between fires of {settings.cron!r}",
            )
    if settings.misfire_grace <= timedelta(0):
        return "misfire_grace", "the misfire grace must be longer than 0s"
    return None


def add_schedule(
    database: Database, settings: ScheduleSettings, *, now: datetime, replace: bool = False
) -> Schedule:
    """Store a new schedule (or replace one of the same name); InvalidInput when it exists."""
    validate_settings(settings, now=now)
    existing = get_schedule(database, settings.name)
    if existing is not None and not replace:
        raise InvalidInput(
            f"a schedule named {settings.name!r} exists ({existing.kind} {existing.target}, "
            f"{existing.describe_when()}); remove it first or add with --replace"
        )
    with database.begin(f"storing schedule {settings.name}") as connection:
        store_schedule(connection, settings, existing=existing, now=now)
    stored = get_schedule(database, settings.name)
    assert stored is not None
    return stored


def store_schedule(
    connection: sa.Connection,
    settings: ScheduleSettings,
    *,
    existing: Schedule | None,
    now: datetime,
) -> None:
    """Insert ``settings`` (or update ``existing``), with its confirmation and its source,
    inside the caller's transaction; the settings are valid (``find_settings_problem``)."""
    row: dict[str, Any] = {
        "kind": settings.kind.value,
        "target": settings.target,
        "cron": settings.cron,
        "timezone": settings.timezone,
        "jitter_seconds": int(settings.jitter.total_seconds()),
        "misfire_grace_seconds": int(settings.misfire_grace.total_seconds()),
        "coalesce": settings.coalesce,
        "updated_at": now.timestamp(),
    }
    if settings.paused is not None:
        row["paused"] = settings.paused
    if existing is None:
        row.setdefault("paused", False)
        connection.execute(
            schedules_table.insert().values(
                name=settings.name, revision=1, created_at=now.timestamp(), **row
            )
        )
    else:
        connection.execute(
            schedules_table.update()
            .where(schedules_table.c.name == settings.name)
            .values(revision=existing.revision + 1, **row)
        )
    # Replacing a schedule replaces its confirmation and its source too: neither carries
    # over, so a schedule a person replaces by hand is no longer the file's.
    _delete_keyed(
        connection, settings.name, confirmations_table.c.schedule, origins_table.c.schedule
    )
    if settings.confirm_production is not None:
        connection.execute(
            confirmations_table.insert().values(
                schedule=settings.name,
                context=settings.confirm_production,
                confirmed_by=settings.confirmed_by,
                confirmed_at=now.timestamp(),
            )
        )
    if settings.source is not None:
        connection.execute(
            origins_table.insert().values(schedule=settings.name, source=settings.source)
        )


def delete_schedule(connection: sa.Connection, name: str) -> None:
    """Delete schedule ``name`` with its confirmation and source, inside the caller's
    transaction; its history stays."""
    _delete_keyed(
        connection,
        name,
        schedules_table.c.name,
        confirmations_table.c.schedule,
        origins_table.c.schedule,
    )


def _delete_keyed(connection: sa.Connection, value: str, *keys: sa.Column[Any]) -> None:
    """Delete the rows whose ``key`` is ``value``, in each key's table."""
    for key in keys:
        connection.execute(key.table.delete().where(key == value))


def get_schedule(database: Database, name: str) -> Schedule | None:
    with database.begin(f"reading schedule {name}") as connection:
        row = connection.execute(_select_schedules().where(schedules_table.c.name == name)).first()
    return _schedule(row._mapping) if row is not None else None


def require_schedule(database: Database, name: str) -> Schedule:
    """The schedule ``name``; InvalidInput naming the existing ones when there is none."""
    schedule = get_schedule(database, name)
    if schedule is None:
        names = [s.name for s in list_schedules(database)]
        known = f"; schedules: {', '.join(names)}" if names else "; there are no schedules yet"
        raise InvalidInput(f"no schedule named {name!r}{known}")
    return schedule


def list_schedules(database: Database) -> list[Schedule]:
    with database.begin("listing schedules") as connection:
        rows = connection.execute(_select_schedules().order_by(schedules_table.c.name)).all()
    return [_schedule(row._mapping) for row in rows]


def remove_schedule(database: Database, name: str) -> Schedule:
    schedule = require_schedule(database, name)
    with database.begin(f"removing schedule {name}") as connection:
        delete_schedule(connection, name)
    return schedule


def production_confirmation(database: Database, name: str) -> ProductionConfirmation | None:
    """The confirmation stored with schedule ``name``, if it was added with one."""
    row = _row_keyed(
        database,
        confirmations_table.c.schedule,
        name,
        f"reading the confirmation of schedule {name}",
    )
    if row is None:
        return None
    return ProductionConfirmation(
        context=row.context,
        confirmed_by=row.confirmed_by,
        confirmed_at=datetime.fromtimestamp(row.confirmed_at, UTC),
    )


def set_paused(database: Database, name: str, *, paused: bool, now: datetime) -> Schedule:
    """Pause or resume; a resumed schedule fires next at its first time after ``now``."""
    schedule = require_schedule(database, name)
    if schedule.paused != paused:
        with database.begin(f"{'pausing' if paused else 'resuming'} schedule {name}") as c:
            c.execute(
                schedules_table.update()
                .where(schedules_table.c.name == name)
                .values(paused=paused, revision=schedule.revision + 1, updated_at=now.timestamp())
            )
    updated = get_schedule(database, name)
    assert updated is not None
    return updated


def _row_keyed(
    database: Database, key: sa.Column[Any], value: str, doing: str
) -> sa.Row[Any] | None:
    """The row of ``key``'s table whose ``key`` is ``value``, if there is one."""
    with database.begin(doing) as connection:
        return connection.execute(sa.select(key.table).where(key == value)).first()


def _select_schedules() -> sa.Select[Any]:
    """Schedules with the file each was declared in (NULL when added by hand)."""
    return sa.select(schedules_table, origins_table.c.source).select_from(
        schedules_table.outerjoin(origins_table, origins_table.c.schedule == schedules_table.c.name)
    )


def _schedule(row: Any) -> Schedule:
    return Schedule(
        name=row["name"],
        kind=TargetKind(row["kind"]),
        target=row["target"],
        cron=row["cron"],
        timezone=row["timezone"],
        jitter=timedelta(seconds=row["jitter_seconds"]),
        misfire_grace=timedelta(seconds=row["misfire_grace_seconds"]),
        coalesce=bool(row["coalesce"]),
        paused=bool(row["paused"]),
        revision=int(row["revision"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
        source=row["source"],
    )

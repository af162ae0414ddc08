"""Schedules kept in Git: ``schedules/NAME.yaml`` files, and ``drill schedule apply``.

A schedule file declares one schedule, named after the file: what it runs (``drill``,
``gameday`` or ``backup``) and any of the settings ``drill schedule add`` takes; settings left
out come from the target file's ``schedule:`` section, as they do for ``schedule add``.

Applying is three steps, so that a dry run shows exactly what an apply does:

1. ``load_schedule_files`` reads every file of the directory; a bad one (a field, a target
   that does not exist, a production drill without its confirmation) refuses the whole
   apply with one line naming the file, line and field, before anything is read from the
   database;
2. ``plan_apply`` (pure) compares them with the stored schedules: added, changed (which
   fields), removed, unchanged. Apply manages the schedules it made from files (their
   ``source``): one whose file is gone is removed. A schedule added by hand is never removed
   unless ``prune`` is asked; one that a file now declares is taken over by the file;
3. ``apply_plan`` writes the plan in one transaction.

The scheduler reads only the database, as for schedules added by hand: a running scheduler
picks an apply up at its next refresh, and a bad file can never stop it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drillkit.errors import InvalidInput
from drillkit.model.drill import (
    NAME_PATTERN,
    CronExpression,
    DrillName,
    NonEmptyText,
    NonNegativeDuration,
    PositiveDuration,
    TimeZoneName,
)
from drillkit.model.drill import Schedule as ScheduleBlock
from drillkit.model.durations import format_duration
from drillkit.model.loading import FieldProblem, load_model
from drillkit.scheduling.database import Database
from drillkit.scheduling.schedules import (
    Schedule,
    ScheduleSettings,
    TargetKind,
    delete_schedule,
    describe_when,
    find_settings_problem,
    list_schedules,
    production_confirmation,
    store_schedule,
)
from drillkit.scheduling.targets import TargetDirectories, load_target_file

_SUFFIXES = (".yaml", ".yml")
_SETTINGS = {"cron", "timezone", "jitter", "misfire_grace", "coalesce"}
"""The settings a schedule file shares with a target file's ``schedule:`` section."""


class ScheduleFile(BaseModel):
    """A schedule file: ``schedules/NAME.yaml`` declares the schedule NAME."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="drillkit schedule")

    drill: DrillName | None = Field(default=None, description="The drill it runs, by name.")
    gameday: DrillName | None = Field(default=None, description="The game day it runs, by name.")
    backup: DrillName | None = Field(default=None, description="The backup plan it takes.")
    cron: CronExpression | None = Field(
        default=None,
        description='Five-field cron expression, such as "0 10 * * TUE" (default: the '
        "target file's schedule.cron).",
    )
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA time zone of the cron expression (default UTC)."
    )
    jitter: NonNegativeDuration | None = Field(
        default=None, description="Spread fires over this long after the cron time."
    )
    misfire_grace: PositiveDuration | None = Field(
        default=None, description="Run a fire missed by at most this long (default 30m)."
    )
    coalesce: bool | None = Field(
        default=None, description="Several missed fires run once (default); false runs each."
    )
    paused: bool | None = Field(
        default=None,
        description="true pauses the schedule, false resumes it; left out, `drill schedule "
        "pause` and `resume` decide.",
    )
    confirm_production: NonEmptyText | None = Field(
        default=None,
        description="For a drill marked safety.production: the kube context its runs use.",
    )


# -- reading the files ---------------------------------------------------------------------------


def load_schedule_files(
    directory: Path, *, targets: TargetDirectories, now: datetime, operator: str
) -> list[ScheduleSettings]:
    """The schedules the files of ``directory`` declare, in name order.

    InvalidInput for the first bad file, naming its line and field; ``operator`` is
    recorded as who confirmed a production drill's context.
    """
    if not directory.is_dir():
        raise InvalidInput(
            f"no schedules directory {directory}: give --schedules-dir, or create it "
            "(an empty directory removes every schedule made from files)"
        )
    paths: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix not in _SUFFIXES or path.name.startswith(".") or not path.is_file():
            continue
        name = path.stem
        if not re.match(NAME_PATTERN, name) or len(name) > 63:
            raise InvalidInput(
                f"{path}: invalid schedule name {name!r} (the file's name): use lowercase "
                "letters, digits and dashes"
            )
        if name in paths:
            raise InvalidInput(f"{path}: schedule {name!r} is declared in {paths[name]} too")
        paths[name] = path
    return [
        _load_schedule_file(path, targets=targets, now=now, operator=operator)
        for path in paths.values()
    ]


def _load_schedule_file(
    path: Path, *, targets: TargetDirectories, now: datetime, operator: str
) -> ScheduleSettings:
    resolved: list[ScheduleSettings] = []

    def check(declared: ScheduleFile) -> list[FieldProblem]:
        result = _resolve(path, declared, targets=targets, now=now, operator=operator)
        if isinstance(result, ScheduleSettings):
            resolved.append(result)
            return []
        return [result]

    load_model(path, ScheduleFile, noun="schedule", check=check)
    return resolved[0]


def _resolve(
    path: Path,
    declared: ScheduleFile,
    *,
    targets: TargetDirectories,
    now: datetime,
    operator: str,
) -> ScheduleSettings | FieldProblem:
    """The settings a valid file declares, or the first problem with them."""
    named = [(kind, name) for kind in TargetKind if (name := getattr(declared, kind.value))]
    if not named:
        message = "missing required field 'drill', 'gameday' or 'backup': what the schedule runs"
        return (("drill",), message)
    if len(named) > 1:
        (first, first_name), (second, second_name) = named[:2]
        message = (
            f"a schedule runs one target: {first} {first_name} or {second} {second_name}, not both"
        )
        return ((second.value,), message)
    ((kind, target),) = named
    try:
        target_path = targets.find(kind, target)
    except InvalidInput as error:
        return ((kind.value,), str(error))
    # A target file that is itself invalid says so in its own words, naming its own line.
    target_file = load_target_file(kind, target_path)
    given = declared.model_dump(include=_SETTINGS, exclude_none=True)
    defaults: dict[str, Any] = (
        target_file.schedule.model_dump(include=_SETTINGS) if target_file.schedule else {}
    )
    if "cron" not in given and "cron" not in defaults:
        message = f"missing required field 'cron' ({target_path} has no schedule.cron)"
        return (("cron",), message)
    block = ScheduleBlock.model_validate({**defaults, **given})
    if target_file.production and declared.confirm_production is None:
        message = (
            f"drill {target} is marked safety.production: confirm its runs by naming the "
            "kube context they use, confirm_production: CONTEXT"
        )
        return (("confirm_production",), message)
    settings = ScheduleSettings(
        name=path.stem,
        kind=kind,
        target=target,
        # The values, not model_dump's: that writes durations back as text.
        **{setting: getattr(block, setting) for setting in _SETTINGS},
        confirm_production=declared.confirm_production,
        confirmed_by=operator,
        paused=declared.paused,
        source=str(path),
    )
    problem = find_settings_problem(settings, now=now)
    if problem is not None:
        setting, message = problem
        if setting not in given:
            message += f" (schedule.{setting} of {target_path})"
        return ((setting,), message)
    return settings


# -- the plan ------------------------------------------------------------------------------------


class Change(StrEnum):
    """What applying does to one schedule."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    UNCHANGED = "unchanged"
    KEPT = "kept"
    """Added by hand and declared in no file: left alone (``prune`` removes it)."""


@dataclass(frozen=True, kw_only=True)
class FieldChange:
    """One setting a file changes: as stored, and as declared."""

    field: str
    before: str
    after: str

    def describe(self) -> str:
        """``cron '0 10 * * TUE' -> '0 9 * * TUE'``."""
        return f"{self.field} {self.before} -> {self.after}"


@dataclass(frozen=True, kw_only=True)
class ScheduleChange:
    """One schedule in the plan of an apply."""

    name: str
    change: Change
    summary: str
    """What the schedule runs and when: declared for added ones, stored for the others."""
    source: str | None
    """The file it is (or was) declared in; None for one added by hand."""
    fields: tuple[FieldChange, ...] = ()
    settings: ScheduleSettings | None = None
    """What an added or changed schedule becomes."""
    stored: Schedule | None = None

    def describe(self) -> str:
        """``pod-kill: cron '0 10 * * TUE' -> '0 9 * * TUE'``: the schedule and what happens."""
        if self.change is Change.CHANGED:
            return f"{self.name}: {'; '.join(item.describe() for item in self.fields)}"
        if self.change is Change.UNCHANGED:
            return self.name
        if self.change is Change.REMOVED:
            why = f"{self.source} is gone" if self.source else "added by hand, pruned"
            return f"{self.name}: {self.summary} ({why})"
        if self.change is Change.KEPT:
            return f"{self.name}: {self.summary} (added by hand; --prune removes it)"
        return f"{self.name}: {self.summary} ({self.source})"


@dataclass(frozen=True, kw_only=True)
class ApplyPlan:
    """Every schedule an apply looks at, in name order."""

    changes: tuple[ScheduleChange, ...] = ()

    def count(self, change: Change) -> int:
        return sum(1 for item in self.changes if item.change is change)


def plan_apply(
    declared: Sequence[ScheduleSettings],
    stored: Sequence[Schedule],
    *,
    confirmations: Mapping[str, str | None],
    prune: bool = False,
) -> ApplyPlan:
    """Compare the declared schedules with the stored ones (``confirmations``: the context
    each stored schedule's production confirmation names)."""
    stored_by_name = {schedule.name: schedule for schedule in stored}
    declared_by_name = {settings.name: settings for settings in declared}
    changes: list[ScheduleChange] = []
    for name in sorted(stored_by_name.keys() | declared_by_name.keys()):
        settings = declared_by_name.get(name)
        schedule = stored_by_name.get(name)
        fields: tuple[FieldChange, ...] = ()
        if schedule is None:
            assert settings is not None
            change, summary, source = Change.ADDED, _describe_declared(settings), settings.source
        else:
            summary = f"{schedule.kind} {schedule.target}, {schedule.describe_when()}"
            if settings is None:
                # Only the schedules made from files are the files' to remove.
                managed = schedule.source is not None or prune
                change, source = (Change.REMOVED if managed else Change.KEPT), schedule.source
            else:
                fields = _compare(schedule, confirmations.get(name), settings)
                change = Change.CHANGED if fields else Change.UNCHANGED
                source = settings.source
        changes.append(
            ScheduleChange(
                name=name,
                change=change,
                summary=summary,
                source=source,
                fields=fields,
                settings=settings,
                stored=schedule,
            )
        )
    return ApplyPlan(changes=tuple(changes))


def _compare(
    schedule: Schedule, confirmation: str | None, settings: ScheduleSettings
) -> tuple[FieldChange, ...]:
    """The settings the file changes; the source only when the file takes the schedule over."""
    pairs: list[tuple[str, object, object]] = [
        ("runs", f"{schedule.kind} {schedule.target}", f"{settings.kind} {settings.target}"),
        ("cron", schedule.cron, settings.cron),
        ("timezone", schedule.timezone, settings.timezone),
        ("jitter", schedule.jitter, settings.jitter),
        ("misfire_grace", schedule.misfire_grace, settings.misfire_grace),
        ("coalesce", schedule.coalesce, settings.coalesce),
        ("confirm_production", confirmation, settings.confirm_production),
    ]
    if settings.paused is not None:
        pairs.append(("paused", schedule.paused, settings.paused))
    if schedule.source is None:
        pairs.append(("source", None, settings.source))
    return tuple(
        FieldChange(field=name, before=_show(before), after=_show(after))
        for name, before, after in pairs
        if before != after
    )


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    return format_duration(value) if isinstance(value, timedelta) else str(value)


def _describe_declared(settings: ScheduleSettings) -> str:
    when = describe_when(settings.cron, settings.timezone, settings.jitter)
    return f"{settings.kind} {settings.target}, {when}"


# -- applying ------------------------------------------------------------------------------------


def read_stored(database: Database) -> tuple[list[Schedule], dict[str, str | None]]:
    """The stored schedules and the context each one's production confirmation names."""
    schedules = list_schedules(database)
    confirmations = {
        schedule.name: confirmation.context
        if (confirmation := production_confirmation(database, schedule.name))
        else None
        for schedule in schedules
    }
    return schedules, confirmations


def apply_plan(database: Database, plan: ApplyPlan, *, now: datetime) -> None:
    """Write the plan's additions, changes and removals in one transaction."""
    with database.begin("applying schedule files") as connection:
        for item in plan.changes:
            if item.change is Change.REMOVED:
                delete_schedule(connection, item.name)
            elif item.change in (Change.ADDED, Change.CHANGED):
                assert item.settings is not None
                store_schedule(connection, item.settings, existing=item.stored, now=now)

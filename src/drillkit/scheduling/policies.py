"""The decisions a scheduler takes at a fire, as pure functions: run it, or skip it and say why.

- ``plan_fires``: after downtime, which of the due fire times still run (misfire grace,
  coalescing) and which are recorded as missed or coalesced.
- ``find_blackout``: whether a moment falls in a blackout window, dated or recurring, each
  read in its own time zone; ``forecast_fires``: which upcoming fires will be skipped for
  one, and the first fire after each that will not.
- ``judge_error_budget``: whether the remaining error budget allows a run.

A decision not to run is a ``Skip``: a kind (for counting and filtering) and a sentence (for
people and auditors). Time arrives as data; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from drillkit.model.drill import Blackout, DatedBlackout, ErrorBudgetGate
from drillkit.model.durations import format_duration
from drillkit.scheduling.cron import parse_cron


class SkipKind(StrEnum):
    """Why a fire did not run a drill."""

    BLACKOUT = "blackout"
    ERROR_BUDGET = "error-budget"
    MISSED = "missed"
    """The scheduler was not running at the fire time, and came back after the grace."""
    COALESCED = "coalesced"
    """Several fires were missed within the grace; a later one of them ran instead."""
    LOCK_HELD = "lock-held"
    """Another scheduler took this fire, or another drill holds the cluster lock."""
    ALREADY_RUNNING = "already-running"
    """The previous fire of the same schedule was still running."""
    STOPPED = "stopped"
    """The scheduler was stopped before the drill started."""

    @property
    def label(self) -> str:
        """``lock held``: the kind as words in a sentence."""
        return self.value.replace("-", " ")


@dataclass(frozen=True, kw_only=True)
class Skip:
    """A fire that did not run its drill, and why."""

    kind: SkipKind
    reason: str

    def describe(self) -> str:
        """``skipped: lock held: another drill holds the cluster lock ...``."""
        return f"skipped: {self.kind.label}: {self.reason}"


# -- misfires ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FirePlan:
    """What to do with the fire times that came due together."""

    run: tuple[datetime, ...]
    """Fire times to run, oldest first (at most one when coalescing)."""
    skipped: tuple[tuple[datetime, Skip], ...]
    """Fire times not to run, each with its reason."""


def plan_fires(
    run_times: Sequence[datetime], *, now: datetime, misfire_grace: timedelta, coalesce: bool
) -> FirePlan:
    """Split due fire times into those that run and those recorded as missed or coalesced.

    A fire later than ``misfire_grace`` is missed. Of those within the grace, coalescing
    runs only the newest and records the others as coalesced into it.
    """
    run: list[datetime] = []
    skipped: list[tuple[datetime, Skip]] = []
    for fire in sorted(run_times):
        late = now - fire
        if late > misfire_grace:
            reason = (
                f"the fire of {fire.isoformat()} came {_format_late(late)} late, "
                f"beyond the misfire grace of {format_duration(misfire_grace)} "
                "(the scheduler was not running)"
            )
            skipped.append((fire, Skip(kind=SkipKind.MISSED, reason=reason)))
        else:
            run.append(fire)
    if coalesce and len(run) > 1:
        newest = run[-1]
        for fire in run[:-1]:
            reason = f"coalesced into the fire of {newest.isoformat()}, which ran instead"
            skipped.append((fire, Skip(kind=SkipKind.COALESCED, reason=reason)))
        run = [newest]
    skipped.sort(key=lambda item: item[0])
    return FirePlan(run=tuple(run), skipped=tuple(skipped))


def _format_late(late: timedelta) -> str:
    return format_duration(timedelta(seconds=round(late.total_seconds())))


# -- blackouts ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ActiveBlackout:
    """A blackout window that holds a given moment."""

    name: str
    start: datetime
    end: datetime

    def skip(self) -> Skip:
        return Skip(
            kind=SkipKind.BLACKOUT,
            reason=f"inside blackout window {self.name!r} "
            f"({self.start.isoformat()} to {self.end.isoformat()})",
        )


def find_blackout(blackouts: Iterable[Blackout], moment: datetime) -> ActiveBlackout | None:
    """The first window holding ``moment`` (aware), or None. Windows include their start
    and exclude their end."""
    for blackout in blackouts:
        if isinstance(blackout, DatedBlackout):
            start, end = blackout.aware_start(), blackout.aware_end()
            if start <= moment < end:
                return ActiveBlackout(name=blackout.name, start=start, end=end)
            continue
        # A recurring window holds the moment when one of its openings lies in
        # (moment - duration, moment]: find the first opening after moment - duration.
        calendar = parse_cron(blackout.cron, blackout.timezone)
        opened = calendar.next_after(moment - blackout.duration)
        if opened is not None and opened <= moment:
            # Elapsed time, not wall-clock time: a 48h window is 48 hours long even
            # across a daylight-saving change.
            end = (opened.astimezone(UTC) + blackout.duration).astimezone(opened.tzinfo)
            return ActiveBlackout(name=blackout.name, start=opened, end=end)
    return None


# Windows stepped over looking for a fire outside them: a fire every minute behind a
# nightly window takes one step a night, so this is years of windows.
_MAX_WINDOWS_STEPPED = 1000


@dataclass(frozen=True, kw_only=True)
class ForecastFire:
    """An upcoming fire, and the blackout window that will skip it."""

    at: datetime
    blackout: ActiveBlackout | None = None
    next_clear: datetime | None = None
    """For a fire inside a window: the first fire after it outside every window (None when
    there is none)."""


def forecast_fires(
    fire_times: Iterable[datetime],
    blackouts: Sequence[Blackout],
    *,
    fire_at_or_after: Callable[[datetime], datetime | None],
) -> list[ForecastFire]:
    """Each of ``fire_times`` with the window holding it, if one does; ``fire_at_or_after``
    gives the schedule's first fire at or after a moment (the end of a window)."""
    forecast: list[ForecastFire] = []
    for fire in fire_times:
        blackout = find_blackout(blackouts, fire)
        if blackout is None:
            forecast.append(ForecastFire(at=fire))
            continue
        # Step from window to window: a fire after one window may open the next.
        clear: datetime | None = None
        end = blackout.end
        for _ in range(_MAX_WINDOWS_STEPPED):
            candidate = fire_at_or_after(end)
            if candidate is None:
                break
            holding = find_blackout(blackouts, candidate)
            if holding is None:
                clear = candidate
                break
            end = holding.end
        forecast.append(ForecastFire(at=fire, blackout=blackout, next_clear=clear))
    return forecast


# -- error budget ------------------------------------------------------------------------------


def judge_error_budget(
    remaining: float | None, gate: ErrorBudgetGate, *, unreadable: str | None = None
) -> Skip | None:
    """Skip when the remaining budget is below the gate's threshold, or cannot be known.

    ``remaining`` is the query's value (None: no data); ``unreadable`` says why Prometheus
    could not be asked at all. An unknown budget skips unless the gate says ``run``.
    """
    unknown: str | None = None
    if unreadable is not None:
        unknown = unreadable
    elif remaining is None:
        unknown = f"query {gate.query!r} returned no data"
    elif math.isnan(remaining):
        unknown = f"query {gate.query!r} returned NaN"
    if unknown is not None:
        if gate.when_unknown == "run":
            return None
        return Skip(kind=SkipKind.ERROR_BUDGET, reason=f"the error budget is unknown: {unknown}")
    assert remaining is not None
    if remaining < gate.min_remaining:
        return Skip(
            kind=SkipKind.ERROR_BUDGET,
            reason=f"the remaining error budget {remaining:.4g} is below the threshold "
            f"{gate.min_remaining:g} (query {gate.query!r})",
        )
    return None

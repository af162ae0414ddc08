"""Cron expressions as crontab(5) means them, read in a time zone, with a deterministic jitter.

APScheduler 3 does the calendar arithmetic (``CronTrigger``: months, days, daylight saving
time), but its crontab reading differs from cron's in two ways a drill author would not
expect: it numbers weekdays from Monday (``0`` is Monday, cron's ``0`` is Sunday), and when
both day of month and day of week are restricted it wants both to match, where cron runs on
either. ``parse_cron`` translates: weekdays become names, and an expression restricting both
days becomes two triggers whose earliest fire wins.

Jitter spreads fires over ``[0, jitter)`` after the cron time. The offset is a hash of the
schedule's name and the nominal time, not a random draw, so every scheduler computes the
same fire time for the same fire (that time is what schedulers sharing a store claim), and
``drill schedule list`` shows the time the fire will really happen.

Everything here is pure: ``now`` arrives as an argument.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from drillkit.errors import InvalidInput

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_NUMBERS = {name: number for number, name in enumerate(_WEEKDAYS)}
_WEEKDAY_TERM = re.compile(r"^(?P<range>\*|(?P<first>\w+)(-(?P<last>\w+))?)(/(?P<step>\d+))?$")
# Candidates examined for one jittered fire: plenty for any jitter shorter than a few
# hundred periods, and a bound on the work for a pathological one.
_MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class CronCalendar:
    """A cron expression in a time zone; its fire times come from APScheduler's triggers."""

    expression: str
    timezone: str
    triggers: tuple[CronTrigger, ...]

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        """The first fire time at or after ``moment`` (aware), or None when there is none."""
        found = [t.get_next_fire_time(None, moment) for t in self.triggers]
        times = [time for time in found if time is not None]
        return min(times) if times else None

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment``."""
        return self.next_at_or_after(moment + timedelta(microseconds=1))


def parse_cron(expression: str, timezone: str) -> CronCalendar:
    """Read a five-field cron expression in ``timezone``; ``InvalidInput`` says what is wrong.

    Supported: numbers, names (JAN, MON), ``*``, ranges, lists and steps in every field,
    ``?`` for "any", ``L`` for the last day of the month and weekday ``7`` for Sunday. A
    sixth, leading field gives the second, as in Quartz and APScheduler (``*/10 * * * * *``
    is every ten seconds); without it a fire is at second 0.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise InvalidInput(
            f"invalid cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week), or 6 with a leading second field, "
            f"found {len(fields)}"
        )
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    day = "*" if day == "?" else day.replace("L", "last")
    weekday = "*" if weekday == "?" else _translate_weekdays(weekday, expression)
    common = {
        "second": second,
        "minute": minute,
        "hour": hour,
        "month": month,
        "timezone": timezone,
    }
    try:
        if day != "*" and weekday != "*":
            # cron runs when either day field matches; APScheduler would want both.
            triggers: tuple[CronTrigger, ...] = (
                CronTrigger(day=day, **common),
                CronTrigger(day_of_week=weekday, **common),
            )
        else:
            triggers = (CronTrigger(day=day, day_of_week=weekday, **common),)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise InvalidInput(f"invalid cron expression {expression!r}: {_one_line(error)}") from None
    return CronCalendar(expression=expression, timezone=timezone, triggers=triggers)


def _translate_weekdays(field: str, expression: str) -> str:
    """cron's weekday field (0 or 7 Sunday, names, ranges, steps) as a list of names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for term in field.lower().split(","):
        match = _WEEKDAY_TERM.match(term)
        if match is None:
            raise InvalidInput(
                f"invalid cron expression {expression!r}: the day-of-week term {term!r} is not "
                "supported; use numbers 0-7, names such as MON, ranges, lists and steps"
            )
        if match["first"] is None:
            first, last = 0, 6
        else:
            first = _weekday_number(match["first"], expression)
            last = _weekday_number(match["last"], expression) if match["last"] else first
            if match["step"] and not match["last"]:
                last = 6  # "1/2" means from Monday every second day, as in cron
        if last < first:
            raise InvalidInput(
                f"invalid cron expression {expression!r}: the day-of-week range {term!r} "
                "runs backwards (for a weekend write SAT,SUN or 6-7)"
            )
        step = int(match["step"]) if match["step"] else 1
        if step < 1:
            raise InvalidInput(f"invalid cron expression {expression!r}: a step must be 1 or more")
        days.update(number % 7 for number in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(text: str, expression: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text[:3] in _WEEKDAY_NUMBERS and len(text) == 3:
        return _WEEKDAY_NUMBERS[text]
    raise InvalidInput(
        f"invalid cron expression {expression!r}: {text!r} is not a day of the week "
        "(0-7 or SUN-SAT)"
    )


# -- jitter ----------------------------------------------------------------------------------


def jitter_offset(seed: str, nominal: datetime, jitter: timedelta) -> timedelta:
    """How long after ``nominal`` the fire happens: whole seconds in ``[0, jitter)``.

    A hash of ``seed`` (the schedule's name) and the nominal time, so the same for every
    scheduler and every run of this function, and spread evenly over the window.
    """
    window = int(jitter.total_seconds())
    if window <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{seed}|{nominal.astimezone(UTC).isoformat()}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % window)


def next_fire_time(
    calendar: CronCalendar,
    *,
    jitter: timedelta,
    seed: str,
    previous: datetime | None,
    now: datetime,
) -> datetime | None:
    """The fire after ``previous`` or, without one, the first at or after ``now``.

    With jitter, a fire is its nominal cron time plus ``jitter_offset``. Offsets may reorder
    fires whose windows overlap, so every nominal time whose window could hold the answer is
    examined and the earliest qualifying fire wins.
    """

    def qualifies(fire: datetime) -> bool:
        return fire > previous if previous is not None else fire >= now

    threshold = previous if previous is not None else now
    nominal = calendar.next_at_or_after(threshold - jitter)
    best: datetime | None = None
    for _ in range(_MAX_CANDIDATES):
        if nominal is None or (best is not None and nominal > best):
            break
        fire = nominal + jitter_offset(seed, nominal, jitter)
        if qualifies(fire) and (best is None or fire < best):
            best = fire
        nominal = calendar.next_after(nominal)
    return best


def upcoming_fire_times(
    calendar: CronCalendar, *, jitter: timedelta, seed: str, now: datetime, count: int
) -> list[datetime]:
    """The next ``count`` fire times from ``now``, in order."""
    times: list[datetime] = []
    previous: datetime | None = None
    for _ in range(count):
        fire = next_fire_time(calendar, jitter=jitter, seed=seed, previous=previous, now=now)
        if fire is None:
            break
        times.append(fire)
        previous = fire
    return times


def shortest_interval(calendar: CronCalendar, *, now: datetime, samples: int = 50) -> timedelta:
    """The shortest time between two consecutive fires among the next ``samples``."""
    times = upcoming_fire_times(calendar, jitter=timedelta(0), seed="", now=now, count=samples)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return min(gaps) if gaps else timedelta.max


# -- the APScheduler trigger -----------------------------------------------------------------


class DrillTrigger(BaseTrigger):  # type: ignore[misc]
    """APScheduler trigger for a schedule: cron's meaning, a time zone, deterministic jitter.

    Stored pickled in the job store; only the four settings are pickled, the calendar is
    rebuilt from them when a job is read back.
    """

    def __init__(self, cron: str, timezone: str, *, jitter: timedelta, seed: str) -> None:
        self.cron = cron
        self.timezone = timezone
        self.jitter = jitter
        self.seed = seed
        self.calendar = parse_cron(cron, timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return next_fire_time(
            self.calendar,
            jitter=self.jitter,
            seed=self.seed,
            previous=previous_fire_time,
            now=now,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "cron": self.cron,
            "timezone": self.timezone,
            "jitter_seconds": self.jitter.total_seconds(),
            "seed": self.seed,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["cron"],
            state["timezone"],
            jitter=timedelta(seconds=state["jitter_seconds"]),
            seed=state["seed"],
        )

    def __str__(self) -> str:
        jitter = f", jitter {int(self.jitter.total_seconds())}s" if self.jitter else ""
        return f"cron[{self.cron} {self.timezone}{jitter}]"

    def __repr__(self) -> str:
        return f"<DrillTrigger ({self})>"


def _one_line(error: object) -> str:
    return " ".join(str(error).split()) or type(error).__name__

"""Cron as cron means it, time zones, jitter and blackout windows: pure, table-driven."""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from drillkit.errors import InvalidInput
from drillkit.model.drill import DatedBlackout, RecurringBlackout
from drillkit.scheduling.cron import (
    DrillTrigger,
    jitter_offset,
    next_fire_time,
    parse_cron,
    shortest_interval,
    upcoming_fire_times,
)
from drillkit.scheduling.policies import find_blackout, forecast_fires

BERLIN = ZoneInfo("Europe/Berlin")
# A Thursday.
THURSDAY = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def days(expression: str, *, count: int = 4, timezone: str = "UTC") -> list[str]:
    times = upcoming_fire_times(
        parse_cron(expression, timezone), jitter=timedelta(0), seed="", now=THURSDAY, count=count
    )
    return [f"{t.astimezone(ZoneInfo(timezone)):%a %d %H:%M}" for t in times]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("0 10 * * TUE", ["Tue 01 10:00", "Tue 08 10:00"], id="weekday-name"),
        pytest.param("0 10 * * 2", ["Tue 01 10:00", "Tue 08 10:00"], id="2-is-tuesday-as-in-cron"),
        pytest.param("0 10 * * 0", ["Sun 29 10:00", "Sun 06 10:00"], id="0-is-sunday"),
        pytest.param("0 10 * * 7", ["Sun 29 10:00", "Sun 06 10:00"], id="7-is-sunday-too"),
        pytest.param("0 10 * * 1-5", ["Thu 26 10:00", "Fri 27 10:00"], id="weekdays"),
        pytest.param("0 10 * * 6-7", ["Sat 28 10:00", "Sun 29 10:00"], id="weekend-range"),
        pytest.param("0 10 * * */3", ["Sat 28 10:00", "Sun 29 10:00"], id="step-from-sunday"),
        pytest.param("0 10 * * SAT,SUN", ["Sat 28 10:00", "Sun 29 10:00"], id="weekend-list"),
        pytest.param("0 10 1 * MON", ["Mon 30 10:00", "Tue 01 10:00"], id="either-day-field"),
        pytest.param("0 0 L * ?", ["Mon 30 00:00", "Thu 31 00:00"], id="last-day-of-month"),
        pytest.param("*/30 9 * * *", ["Thu 26 09:00", "Thu 26 09:30"], id="every-half-hour"),
    ],
)
def test_cron_expressions_fire_when_cron_would(expression: str, expected: list[str]) -> None:
    assert days(expression, count=2) == expected


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 25 * * *", "higher than the maximum value (23)"),
        ("0 10 * *", "expected 5 fields"),
        ("0 10 * * FUNDAY", "'funday' is not a day of the week"),
        ("0 10 * * 5-1", "runs backwards"),
        ("0 10 * * MON#2", "is not supported"),
        # Six fields have a leading second; a trailing year (AWS, Quartz) is not cron's.
        ("0 10 * * TUE 2025", "'2025' is not a day of the week"),
        ("0 10 * * ? *", 'Unrecognized expression "?" for field "month"'),
        ("0 10 31 2 *", None),
    ],
)
def test_invalid_cron_expressions_say_what_is_wrong(expression: str, problem: str | None) -> None:
    if problem is None:
        # February never has a 31st: a valid expression that never fires.
        assert parse_cron(expression, "UTC").next_at_or_after(THURSDAY) is None
        return
    with pytest.raises(InvalidInput, match=re.escape(f"invalid cron expression '{expression}'")):
        try:
            parse_cron(expression, "UTC")
        except InvalidInput as error:
            assert problem in str(error)
            raise


def test_a_sixth_leading_field_is_the_second() -> None:
    calendar = parse_cron("*/20 * * * * *", "UTC")
    times = upcoming_fire_times(calendar, jitter=timedelta(0), seed="", now=THURSDAY, count=4)
    assert [f"{t:%H:%M:%S}" for t in times] == ["09:00:00", "09:00:20", "09:00:40", "09:01:00"]
    # Without it, a fire is at second 0.
    assert parse_cron("* * * * *", "UTC").next_after(THURSDAY) == THURSDAY + timedelta(minutes=1)


def test_a_cron_time_is_read_in_its_time_zone_across_daylight_saving_time() -> None:
    calendar = parse_cron("0 10 * * SUN", "Europe/Berlin")
    # Summer time ends on Sunday 25 October 2026: 10:00 CEST is 08:00 UTC, then 10:00
    # CET is 09:00 UTC.
    before = datetime(2026, 10, 17, tzinfo=UTC)
    times = upcoming_fire_times(calendar, jitter=timedelta(0), seed="", now=before, count=3)

    assert [t.astimezone(UTC).hour for t in times] == [8, 9, 9]
    assert all(t.astimezone(BERLIN).hour == 10 for t in times)


def test_jitter_is_the_same_for_every_scheduler_and_within_its_window() -> None:
    nominal = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    offsets = {jitter_offset("pod-kill", nominal, timedelta(minutes=10)) for _ in range(3)}

    assert len(offsets) == 1
    offset = offsets.pop()
    assert timedelta(0) <= offset < timedelta(minutes=10)
    assert offset.total_seconds() == int(offset.total_seconds())


def test_jitter_spreads_fires_over_the_window() -> None:
    calendar = parse_cron("0 * * * *", "UTC")
    times = upcoming_fire_times(
        calendar, jitter=timedelta(minutes=30), seed="spread", now=THURSDAY, count=200
    )
    minutes = [t.minute for t in times]

    assert all(0 <= minute < 30 for minute in minutes)
    # Evenly spread: both halves of the window are used, not one instant.
    assert sum(minute < 15 for minute in minutes) > 60
    assert sum(minute >= 15 for minute in minutes) > 60


def test_different_schedules_get_different_jitter() -> None:
    nominal = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    offsets = {jitter_offset(f"drill-{n}", nominal, timedelta(hours=1)) for n in range(20)}

    assert len(offsets) > 10


def test_next_fire_after_a_previous_fire_follows_it_even_when_it_lies_in_the_past() -> None:
    calendar = parse_cron("0 10 * * *", "UTC")
    previous = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    now = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)

    following = next_fire_time(calendar, jitter=timedelta(0), seed="", previous=previous, now=now)

    # APScheduler walks missed fires one by one this way after downtime.
    assert following == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)


def test_a_fire_exactly_now_is_the_next_one() -> None:
    calendar = parse_cron("0 9 * * *", "UTC")

    assert (
        next_fire_time(calendar, jitter=timedelta(0), seed="", previous=None, now=THURSDAY)
        == THURSDAY
    )


def test_the_shortest_interval_bounds_the_jitter_a_schedule_may_have() -> None:
    assert shortest_interval(parse_cron("*/15 * * * *", "UTC"), now=THURSDAY) == timedelta(
        minutes=15
    )
    assert shortest_interval(parse_cron("0 10 * * 1-5", "UTC"), now=THURSDAY) == timedelta(days=1)


def test_the_trigger_survives_the_job_store_and_fires_the_same() -> None:
    trigger = DrillTrigger(
        "0 10 * * TUE", "Europe/Berlin", jitter=timedelta(minutes=10), seed="pod-kill"
    )
    restored = pickle.loads(pickle.dumps(trigger))

    assert restored.get_next_fire_time(None, THURSDAY) == trigger.get_next_fire_time(None, THURSDAY)
    assert str(restored) == "cron[0 10 * * TUE Europe/Berlin, jitter 600s]"


# -- blackouts -----------------------------------------------------------------------------------

FREEZE = DatedBlackout(
    name="year-end freeze",
    start=datetime(2026, 12, 18, 18, 0),
    end=datetime(2027, 1, 4, 8, 0),
    timezone="Europe/Berlin",
)
WEEKEND = RecurringBlackout(
    name="weekend", cron="0 0 * * SAT", duration=timedelta(hours=48), timezone="Europe/Berlin"
)


@pytest.mark.parametrize(
    ("moment", "window"),
    [
        pytest.param(datetime(2026, 12, 18, 16, 59, tzinfo=UTC), None, id="freeze-not-yet"),
        pytest.param(
            datetime(2026, 12, 18, 17, 0, tzinfo=UTC),
            "year-end freeze",
            id="freeze-starts-18-berlin",
        ),
        pytest.param(datetime(2027, 1, 4, 6, 59, tzinfo=UTC), "year-end freeze", id="last-minute"),
        pytest.param(datetime(2027, 1, 4, 7, 0, tzinfo=UTC), None, id="freeze-end-excluded"),
        pytest.param(datetime(2026, 11, 27, 22, 59, tzinfo=UTC), None, id="friday-night"),
        pytest.param(datetime(2026, 11, 27, 23, 0, tzinfo=UTC), "weekend", id="saturday-00-berlin"),
        pytest.param(datetime(2026, 11, 29, 22, 59, tzinfo=UTC), "weekend", id="sunday-late"),
        pytest.param(datetime(2026, 11, 29, 23, 0, tzinfo=UTC), None, id="monday-00-berlin"),
        pytest.param(
            datetime(2026, 3, 29, 12, 0, tzinfo=UTC), "weekend", id="across-the-dst-change"
        ),
    ],
)
def test_blackout_windows_hold_moments_in_their_own_time_zone(
    moment: datetime, window: str | None
) -> None:
    found = find_blackout([FREEZE, WEEKEND], moment)

    assert (found.name if found else None) == window


def test_a_dated_window_with_an_offset_ignores_its_time_zone() -> None:
    window = DatedBlackout(
        name="release",
        start=datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        end=datetime(2026, 6, 1, 13, 0, tzinfo=UTC),
        timezone="Asia/Tokyo",
    )

    assert find_blackout([window], datetime(2026, 6, 1, 12, 30, tzinfo=UTC)) is not None


def test_a_skip_inside_a_blackout_names_the_window_and_its_times() -> None:
    found = find_blackout([WEEKEND], datetime(2026, 11, 28, 10, 0, tzinfo=UTC))

    assert found is not None
    skip = found.skip()
    assert skip.describe() == (
        "skipped: blackout: inside blackout window 'weekend' "
        "(2026-11-28T00:00:00+01:00 to 2026-11-30T00:00:00+01:00)"
    )


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("cron", "first", "expected"),
    [
        pytest.param(
            "0 10 * * *",
            datetime(2026, 11, 27, 10, 0, tzinfo=BERLIN),
            [("11-27", None, None), ("11-28", "weekend", "11-30"), ("11-29", "weekend", "11-30")],
            id="weekend-then-monday",
        ),
        pytest.param(
            "0 10 * * *",
            datetime(2026, 12, 18, 10, 0, tzinfo=BERLIN),
            [("12-18", None, None), ("12-19", "year-end freeze", "01-04")],
            id="freeze-ends-monday-morning-before-the-fire",
        ),
        pytest.param(
            "0 10 * * SAT",
            datetime(2026, 11, 28, 10, 0, tzinfo=BERLIN),
            [("11-28", "weekend", None)],
            id="every-fire-in-a-window-has-no-clear-one",
        ),
        pytest.param(
            "0 10 1 1,4,7,10 *",
            datetime(2027, 1, 1, 10, 0, tzinfo=BERLIN),
            [("01-01", "year-end freeze", "04-01")],
            id="quarterly-game-day-in-the-year-end-freeze",
        ),
    ],
)
def test_a_forecast_names_the_window_a_fire_falls_in_and_the_next_fire_outside_them(
    cron: str, first: datetime, expected: list[tuple[str, str | None, str | None]]
) -> None:
    calendar = parse_cron(cron, "Europe/Berlin")
    fires = upcoming_fire_times(
        calendar, jitter=timedelta(0), seed="", now=first, count=len(expected)
    )

    forecast = forecast_fires(fires, [FREEZE, WEEKEND], fire_at_or_after=calendar.next_at_or_after)

    assert [
        (
            f"{fire.at.astimezone(BERLIN):%m-%d}",
            fire.blackout.name if fire.blackout else None,
            f"{fire.next_clear.astimezone(BERLIN):%m-%d}" if fire.next_clear else None,
        )
        for fire in forecast
    ] == expected

"""The decisions at a fire: misfire grace, coalescing and the error budget. Pure, table-driven."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from drillkit.model.drill import ErrorBudgetGate
from drillkit.scheduling.policies import SkipKind, judge_error_budget, plan_fires

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("due", "now", "coalesce", "run", "skipped"),
    [
        pytest.param([0], 0, True, [0], [], id="on-time"),
        pytest.param([0], 29, True, [0], [], id="late-within-grace-runs-once"),
        pytest.param([0], 30, True, [0], [], id="grace-boundary-included"),
        pytest.param([0], 31, True, [], [(0, "missed")], id="beyond-grace-is-missed"),
        pytest.param(
            [0, 10, 20],
            25,
            True,
            [20],
            [(0, "coalesced"), (10, "coalesced")],
            id="coalesced-into-the-newest",
        ),
        pytest.param([0, 10, 20], 25, False, [0, 10, 20], [], id="no-coalescing-runs-each"),
        pytest.param(
            [0, 10, 20],
            35,
            True,
            [20],
            [(0, "missed"), (10, "coalesced")],
            id="old-missed-recent-coalesced",
        ),
        pytest.param([0, 10], 100, True, [], [(0, "missed"), (10, "missed")], id="all-missed"),
    ],
)
def test_due_fires_run_within_the_grace_and_are_recorded_otherwise(
    due: list[int],
    now: int,
    coalesce: bool,
    run: list[int],
    skipped: list[tuple[int, str]],
) -> None:
    plan = plan_fires(
        [at(m) for m in due], now=at(now), misfire_grace=timedelta(minutes=30), coalesce=coalesce
    )

    assert list(plan.run) == [at(m) for m in run]
    assert [(fire, skip.kind.value) for fire, skip in plan.skipped] == [
        (at(m), kind) for m, kind in skipped
    ]


def test_a_missed_fire_says_how_late_it_came_and_why() -> None:
    plan = plan_fires(
        [T0],
        now=T0 + timedelta(hours=2, seconds=5),
        misfire_grace=timedelta(hours=1),
        coalesce=True,
    )

    ((_, skip),) = plan.skipped
    assert skip.kind is SkipKind.MISSED
    assert skip.describe() == (
        "skipped: missed: the fire of 2026-01-05T10:00:00+00:00 came 2h5s late, beyond the "
        "misfire grace of 1h (the scheduler was not running)"
    )


GATE = ErrorBudgetGate(
    prometheus="http://127.0.0.1:9090",
    query='slo_error_budget_remaining{slo="checkout"}',
    min_remaining=0.25,
)


@pytest.mark.parametrize(
    ("remaining", "when_unknown", "skipped"),
    [
        (0.5, "skip", False),
        (0.25, "skip", False),
        (0.2499, "skip", True),
        (0.0, "skip", True),
        (-0.3, "skip", True),
        (None, "skip", True),
        (math.nan, "skip", True),
        (None, "run", False),
        (math.nan, "run", False),
    ],
)
def test_the_error_budget_gate_skips_below_its_threshold_and_when_unknown(
    remaining: float | None, when_unknown: str, skipped: bool
) -> None:
    gate = GATE.model_copy(update={"when_unknown": when_unknown})

    skip = judge_error_budget(remaining, gate)

    assert (skip is not None) is skipped
    if skip is not None:
        assert skip.kind is SkipKind.ERROR_BUDGET


def test_an_exhausted_budget_names_the_value_and_the_threshold() -> None:
    skip = judge_error_budget(0.05, GATE)

    assert skip is not None
    assert skip.describe() == (
        "skipped: error budget: the remaining error budget 0.05 is below the threshold 0.25 "
        "(query 'slo_error_budget_remaining{slo=\"checkout\"}')"
    )


def test_an_unreachable_prometheus_is_an_unknown_budget() -> None:
    skip = judge_error_budget(None, GATE, unreadable="cannot reach Prometheus at x: refused")

    assert skip is not None
    assert skip.reason == "the error budget is unknown: cannot reach Prometheus at x: refused"

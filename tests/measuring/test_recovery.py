"""Service RTO from recovery-condition observations (DESIGN section 3), one branch per case.

Times are plain monotonic seconds. Unless a case says otherwise the fault takes effect
at 10, the condition must hold for 5 s to count as restored, and the timeout ends
observation at 70.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from drillkit.measuring.recovery import measure_recovery
from drillkit.model.measurement import Bound

T, F = True, False


@dataclass(frozen=True, kw_only=True)
class Case:
    observations: list[tuple[float, bool]]
    t_lost: float | None
    t_restored: float | None
    seconds: float | None
    bound: Bound = Bound.EXACT
    note: str = ""
    t_inject: float | None = 10.0
    stable_for: float = 5.0
    deadline: float | None = 70.0
    observed_until: float | None = None
    resolution: float = 0.0


CASES = [
    pytest.param(
        Case(
            observations=[(0, T), (10, T), (12, T), (16, T)],
            t_lost=None,
            t_restored=None,
            seconds=0.0,
            note="no disruption observed",
        ),
        id="a condition never lost gives an RTO of zero with no disruption observed",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (11, F), (20, T), (25, T)],
            t_lost=11,
            t_restored=20,
            seconds=10.0,
            note="held again from 10 s",
        ),
        id="a condition lost and restored measures RTO from the fault to the restoration",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (11, F), (14, T), (15, F), (16, T), (17, F), (20, T), (26, T)],
            t_lost=11,
            t_restored=20,
            seconds=10.0,
        ),
        id="a flapping condition is restored only at the start of the first stable interval",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (20, T), (24, F), (30, T), (35, T)],
            t_lost=11,
            t_restored=30,
            seconds=20.0,
        ),
        id="a restoration lost again inside stable_for does not count but the next one does",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (20, T), (25, F), (30, T), (35, T)],
            t_lost=11,
            t_restored=30,
            seconds=20.0,
        ),
        id="a loss exactly when stable_for elapses breaks the interval",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (16, T), (18, T), (21, T)],
            t_lost=11,
            t_restored=16,
            seconds=6.0,
        ),
        id="a restoration is confirmed by any later observation past stable_for",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (11, F), (40, F), (70, F)],
            t_lost=11,
            t_restored=None,
            seconds=60.0,
            bound=Bound.LOWER,
            note="not recovered before timeout",
        ),
        id="a condition never restored gives the timeout as a lower bound",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (75, T), (90, T)],
            t_lost=11,
            t_restored=None,
            seconds=60.0,
            bound=Bound.LOWER,
            note="not recovered before timeout",
        ),
        id="a restoration after the deadline is ignored",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (66, T), (69, T)],
            t_lost=11,
            t_restored=None,
            seconds=56.0,
            bound=Bound.LOWER,
            note="held again from 56 s but was seen holding for only 3 s of the 5 s",
        ),
        id="a restoration still unconfirmed at the deadline bounds RTO by its start",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (20, F), (40, T), (50, T)],
            t_lost=11,
            t_restored=None,
            seconds=20.0,
            bound=Bound.LOWER,
            observed_until=30.0,
            note="observation stopped 20 s after the fault",
        ),
        id="observation stopped early bounds RTO where it stopped instead of at the timeout",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (20, F)],
            t_lost=11,
            t_restored=None,
            seconds=10.0,
            bound=Bound.LOWER,
            deadline=None,
            note="observation stopped 10 s after the fault",
        ),
        id="without a deadline an unrecovered condition is bounded by the last observation",
    ),
    pytest.param(
        Case(
            observations=[(25, T), (11, F), (0, T), (20, T)],
            t_lost=11,
            t_restored=20,
            seconds=10.0,
        ),
        id="observations arriving out of order are sorted by time",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (20, T), (20, F), (26, T), (31, T)],
            t_lost=11,
            t_restored=26,
            seconds=16.0,
        ),
        id="of two observations at the same time the later arrival is the current state",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (20, F), (20, T), (25, T)],
            t_lost=11,
            t_restored=20,
            seconds=10.0,
        ),
        id="a failure then a pass at the same time restores at that time",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (8, F), (20, T), (25, T)],
            t_lost=10,
            t_restored=20,
            seconds=10.0,
        ),
        id="a condition already failing when the fault took effect counts as lost at t_inject",
    ),
    pytest.param(
        Case(
            observations=[(11, F), (13, T)],
            t_lost=11,
            t_restored=13,
            seconds=3.0,
            stable_for=0.0,
        ),
        id="with stable_for zero the first passing observation restores",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (11, F), (20, T), (25, T)],
            t_lost=None,
            t_restored=None,
            seconds=None,
            t_inject=None,
            deadline=None,
            note="the fault never took effect",
        ),
        id="without t_inject recovery cannot be measured",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (10, T), (12, T)],
            t_lost=None,
            t_restored=None,
            seconds=None,
            note="observation ended 2 s after the fault, before the 5 s stabilisation window",
        ),
        id="observation ending before stable_for elapsed is inconclusive",
    ),
    pytest.param(
        Case(
            observations=[(0, T), (5, T)],
            t_lost=None,
            t_restored=None,
            seconds=None,
            note="not observed after the fault",
        ),
        id="no observation after the fault is inconclusive",
    ),
    pytest.param(
        Case(
            observations=[(7, T), (12, T), (17, F), (22, F), (27, T), (32, T)],
            t_inject=11.0,
            t_lost=17,
            t_restored=27,
            seconds=16.0,
            resolution=5.0,
        ),
        id="polled observations report the first passing poll and the interval as resolution",
    ),
    pytest.param(
        Case(
            observations=[(7, T), (12, T), (17, T)],
            t_inject=11.0,
            t_lost=None,
            t_restored=None,
            seconds=0.0,
            resolution=5.0,
            note="a loss shorter than the 5 s resolution could go unseen",
        ),
        id="polled observations that saw no disruption warn that a short one could go unseen",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_measure_recovery(case: Case) -> None:
    measured = measure_recovery(
        case.observations,
        t_inject=case.t_inject,
        stable_for=case.stable_for,
        deadline=case.deadline,
        resolution=case.resolution,
        observed_until=case.observed_until,
    )

    assert measured.t_inject == case.t_inject
    assert measured.t_lost == case.t_lost
    assert measured.t_restored == case.t_restored
    assert measured.disruption_observed is (case.t_lost is not None)
    assert measured.rto.seconds == case.seconds
    assert measured.rto.resolution_seconds == case.resolution
    if case.seconds is not None:
        assert measured.rto.bound is case.bound
    assert case.note in measured.rto.note


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            {"stable_for": -1.0, "deadline": 70.0, "resolution": 0.0},
            "stable_for",
            id="a negative stable_for is refused",
        ),
        pytest.param(
            {"stable_for": 5.0, "deadline": 70.0, "resolution": -1.0},
            "resolution",
            id="a negative resolution is refused",
        ),
        pytest.param(
            {"stable_for": 5.0, "deadline": 5.0, "resolution": 0.0},
            "before t_inject",
            id="a deadline before the fault is refused",
        ),
    ],
)
def test_measure_recovery_refuses_impossible_input(
    arguments: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        measure_recovery([(11.0, False)], t_inject=10.0, **arguments)

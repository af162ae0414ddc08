"""Time to full capacity from ready/desired samples, one branch per case.

Unless a case says otherwise the fault takes effect at 10 and the timeout ends
observation at 70; samples are (monotonic seconds, workload, ready, desired).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from drillkit.measuring.capacity import measure_capacity
from drillkit.model.measurement import Bound, WorkloadCapacity


@dataclass(frozen=True, kw_only=True)
class Case:
    samples: list[tuple[float, str, int, int]]
    seconds: float | None
    lowest: dict[str, tuple[int, int]]
    """Workload -> (lowest ready, desired at that moment)."""
    bound: Bound = Bound.EXACT
    note: str = ""
    t_inject: float | None = 10.0
    deadline: float | None = 70.0
    observed_until: float | None = None


CASES = [
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (15, "web", 3, 3)],
            seconds=0.0,
            lowest={"web": (3, 3)},
            note="kept its desired ready replicas",
        ),
        id="a workload that never dipped is at full capacity at once",
    ),
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (12, "web", 1, 3), (20, "web", 2, 3), (30, "web", 3, 3)],
            seconds=20.0,
            lowest={"web": (1, 3)},
        ),
        id="a workload that dipped and recovered counts until all replicas are ready",
    ),
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (12, "web", 1, 3), (80, "web", 3, 3)],
            seconds=60.0,
            bound=Bound.LOWER,
            lowest={"web": (1, 3)},
            note="not at full capacity before timeout; still below desired ready replicas: web",
        ),
        id="a workload not back by the deadline gives the timeout as a lower bound",
    ),
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (12, "web", 1, 3), (30, "web", 1, 3)],
            seconds=15.0,
            bound=Bound.LOWER,
            observed_until=25.0,
            lowest={"web": (1, 3)},
            note="observation stopped 15 s after the fault",
        ),
        id="observation stopped early bounds the time where it stopped",
    ),
    pytest.param(
        Case(
            samples=[(12, "web", 1, 3), (20, "web", 2, 3)],
            seconds=10.0,
            bound=Bound.LOWER,
            deadline=None,
            lowest={"web": (1, 3)},
            note="observation stopped 10 s after the fault",
        ),
        id="without a deadline a workload still below is bounded by the last sample",
    ),
    pytest.param(
        Case(
            samples=[
                (0, "web", 3, 3),
                (0, "db", 2, 2),
                (12, "web", 1, 3),
                (20, "web", 3, 3),
                (25, "db", 0, 2),
                (40, "db", 2, 2),
            ],
            seconds=30.0,
            lowest={"web": (1, 3), "db": (0, 2)},
        ),
        id="several workloads count until the last of them is back, not the first lull",
    ),
    pytest.param(
        Case(
            samples=[
                (0, "web", 3, 3),
                (0, "db", 2, 2),
                (12, "web", 1, 3),
                (15, "db", 1, 2),
                (20, "db", 2, 2),
                (35, "web", 3, 3),
            ],
            seconds=25.0,
            lowest={"web": (1, 3), "db": (1, 2)},
        ),
        id="several workloads down at once count until the slowest is back",
    ),
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (12, "web", 1, 3), (20, "web", 3, 3), (30, "web", 2, 3)],
            seconds=60.0,
            bound=Bound.LOWER,
            lowest={"web": (1, 3)},
        ),
        id="a workload that relapses after recovering is not back",
    ),
    pytest.param(
        Case(
            samples=[
                (0, "web", 3, 3),
                (12, "web", 1, 3),
                (20, "web", 3, 3),
                (30, "web", 2, 3),
                (45, "web", 3, 3),
            ],
            seconds=35.0,
            lowest={"web": (1, 3)},
        ),
        id="a workload that relapses counts until its last recovery",
    ),
    pytest.param(
        Case(
            samples=[(5, "web", 2, 3), (20, "web", 3, 3)],
            seconds=10.0,
            lowest={"web": (2, 3)},
        ),
        id="a workload already below when the fault took effect counts from t_inject",
    ),
    pytest.param(
        Case(
            samples=[(30, "web", 3, 3), (0, "web", 3, 3), (20, "web", 2, 3), (12, "web", 1, 3)],
            seconds=20.0,
            lowest={"web": (1, 3)},
        ),
        id="samples arriving out of order are sorted by time",
    ),
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (12, "web", 3, 5), (20, "web", 5, 5)],
            seconds=10.0,
            lowest={"web": (3, 3)},
        ),
        id="a raised desired count is below capacity until the new replicas are ready",
    ),
    pytest.param(
        Case(samples=[], seconds=None, lowest={}, note="no capacity"),
        id="no samples cannot be measured",
    ),
    pytest.param(
        Case(
            samples=[(0, "web", 3, 3), (12, "web", 1, 3)],
            seconds=None,
            t_inject=None,
            deadline=None,
            lowest={"web": (1, 3)},
            note="the fault never took effect",
        ),
        id="without t_inject the time cannot be measured but low points are still reported",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_measure_capacity(case: Case) -> None:
    measured = measure_capacity(
        case.samples,
        t_inject=case.t_inject,
        deadline=case.deadline,
        resolution=0.5,
        observed_until=case.observed_until,
    )

    time = measured.time_to_full_capacity
    assert time.seconds == case.seconds
    assert time.resolution_seconds == 0.5
    if case.seconds is not None:
        assert time.bound is case.bound
    assert case.note in time.note
    assert measured.workloads == tuple(
        WorkloadCapacity(workload=name, lowest_ready=ready, desired=desired)
        for name, (ready, desired) in sorted(case.lowest.items())
    )
    if case.seconds is not None and case.bound is Bound.EXACT:
        assert case.t_inject is not None
        assert measured.t_full_capacity == case.t_inject + case.seconds
    else:
        assert measured.t_full_capacity is None

"""RPO from data markers, one branch per case.

Unless a case says otherwise the fault takes effect at 10 and markers 1..6 were written
every 2 s from 2 to 12, so markers 1..5 were written at or before the fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from drillkit.measuring.rpo import measure_rpo
from drillkit.model.measurement import Bound

WRITTEN = [(1, 2.0), (2, 4.0), (3, 6.0), (4, 8.0), (5, 10.0), (6, 12.0)]


@dataclass(frozen=True, kw_only=True)
class Case:
    newest_surviving: int | None
    seconds: float | None
    before: int
    lost: int | None
    bound: Bound = Bound.EXACT
    note: str = ""
    written: list[tuple[int, float]] = field(default_factory=lambda: list(WRITTEN))
    t_inject: float | None = 10.0
    read_back: bool = True


CASES = [
    pytest.param(
        Case(
            newest_surviving=3,
            seconds=4.0,
            before=5,
            lost=2,
            note="newest surviving marker 3 was written 4 s before the fault",
        ),
        id="RPO is the time from the newest surviving marker's write to the fault",
    ),
    pytest.param(
        Case(newest_surviving=5, seconds=0.0, before=5, lost=0),
        id="a marker written at the moment of the fault surviving means no loss",
    ),
    pytest.param(
        Case(
            newest_surviving=6,
            seconds=0.0,
            before=5,
            lost=0,
            note="written after the fault, survived",
        ),
        id="a marker written after the fault surviving gives an RPO of zero, not negative",
    ),
    pytest.param(
        Case(
            newest_surviving=None,
            seconds=8.0,
            before=5,
            lost=5,
            bound=Bound.LOWER,
            note="no marker survived",
        ),
        id="no surviving marker gives a lower bound reaching back to the first write",
    ),
    pytest.param(
        Case(
            newest_surviving=None,
            seconds=None,
            before=0,
            lost=0,
            written=[(1, 12.0)],
            note="no marker was written before the fault",
        ),
        id="no marker written before the fault is inconclusive",
    ),
    pytest.param(
        Case(
            newest_surviving=None,
            seconds=None,
            before=5,
            lost=None,
            read_back=False,
            note="not read back",
        ),
        id="markers never read back are inconclusive rather than all lost",
    ),
    pytest.param(
        Case(
            newest_surviving=2,
            seconds=None,
            before=0,
            lost=0,
            t_inject=None,
            note="the fault never took effect",
        ),
        id="without t_inject loss cannot be measured",
    ),
    pytest.param(
        Case(
            newest_surviving=3,
            seconds=4.0,
            before=5,
            lost=2,
            written=[(6, 12.0), (2, 4.0), (5, 10.0), (1, 2.0), (4, 8.0), (3, 6.0)],
        ),
        id="markers recorded out of order are matched by sequence",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_measure_rpo(case: Case) -> None:
    measured = measure_rpo(
        case.written,
        newest_surviving=case.newest_surviving,
        t_inject=case.t_inject,
        interval=2.0,
        backup_age_seconds=300.0,
        read_back=case.read_back,
    )

    assert measured.rpo.seconds == case.seconds
    assert measured.rpo.resolution_seconds == 2.0
    if case.seconds is not None:
        assert measured.rpo.bound is case.bound
    assert case.note in measured.rpo.note
    assert measured.markers_written_before_inject == case.before
    assert measured.markers_lost == case.lost
    assert measured.newest_surviving_sequence == case.newest_surviving
    assert measured.backup_age_seconds == 300.0


@pytest.mark.parametrize(
    ("written", "newest_surviving", "message"),
    [
        pytest.param(
            WRITTEN, 99, "sequence 99 was never written", id="a surviving sequence never written"
        ),
        pytest.param([(1, 2.0), (1, 4.0)], 1, "written twice", id="one sequence written twice"),
    ],
)
def test_measure_rpo_refuses_contradictory_markers(
    written: list[tuple[int, float]], newest_surviving: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        measure_rpo(written, newest_surviving=newest_surviving, t_inject=10.0, interval=2.0)

"""What ``drill run`` shows while it waits: after the fault, a recovery that holds must
hold for ``stable_for`` before it counts, and the progress says so, counting down on a
terminal, instead of sitting silent through a declared wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drillkit.cli.run import LiveProgress
from drillkit.model.timeline import ConditionObserved, FaultInjected, Instant


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def at(clock: Clock) -> Instant:
    return Instant(monotonic=clock.now, utc=datetime(2026, 12, 6, tzinfo=UTC))


def test_after_the_fault_a_holding_condition_counts_down_its_stable_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    progress = LiveProgress("pod-kill", stable_for=5.0, clock=clock, live=False)

    progress.on_event(ConditionObserved(at=at(clock), holds=True, source="watch"))
    before_fault = progress._render()
    progress.on_event(FaultInjected(at=at(clock), activity="kill-two-pods"))
    clock.now += 0.5
    progress.on_event(ConditionObserved(at=at(clock), holds=False, source="watch", detail="4/6"))
    clock.now += 1.5
    progress.on_event(ConditionObserved(at=at(clock), holds=True, source="watch"))
    clock.now += 2.0
    counting = progress._render()
    clock.now += 9.0
    overdue = progress._render()

    assert before_fault.endswith("recovery condition: holds")
    assert counting.endswith(
        "recovery condition: holds, recovered if it holds 3 s more (stable_for 5 s)"
    )
    assert overdue.endswith("recovered if it holds 0 s more (stable_for 5 s)")
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == (
        "[    2.0s] recovery condition holds; recovered once it has held for 5 s (stable_for)"
    )
    assert lines[-2] == "[    0.5s] recovery condition LOST (4/6)"


def test_a_loss_stops_the_count_down() -> None:
    clock = Clock()
    progress = LiveProgress("pod-kill", stable_for=5.0, clock=clock, live=False)
    progress.on_event(FaultInjected(at=at(clock), activity="kill-two-pods"))
    progress.on_event(ConditionObserved(at=at(clock), holds=True, source="watch"))
    clock.now += 1.0
    progress.on_event(ConditionObserved(at=at(clock), holds=False, source="watch", detail="5/6"))

    assert progress._render().endswith("recovery condition: LOST (5/6)")

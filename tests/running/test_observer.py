"""The observer, driven one round at a time on a clock the test moves.

``Observer.tick`` is what the observer's thread runs every interval, so most tests call
it directly with a fake clock and fake conditions: the rules (when recovery is settled,
when a guard trips, what gets recorded) are then exact and need no waiting. The tests
of ``poke`` and ``notify`` start the real thread with an interval of an hour, so the
only observation that can follow the first is the one they cause.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from drillkit.model.timeline import (
    CapacityObserved,
    ConditionObserved,
    ConditionUnobserved,
    FaultInjected,
    GuardTripped,
    TimelineEvent,
)
from drillkit.running.observer import CapacitySample, Evaluation, Observer
from drillkit.running.recorder import TimelineRecorder

# Bounds a hang only: no test asserts how long anything took.
DEADLINE_SECONDS = 60.0

# The thread's own interval in the poke and notify tests: far longer than any test
# runs, so an observation after the first one can only come from the call under test.
NEVER_SECONDS = 3600.0


class FakeClock:
    """Both clocks at once, moved only by the test."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def monotonic(self) -> float:
        return self.seconds

    def utc(self) -> datetime:
        return datetime(2026, 11, 26, 9, 30, tzinfo=UTC) + timedelta(seconds=self.seconds)


@dataclass
class FakeCondition:
    """A condition whose next evaluation the test sets."""

    name: str = "shop/web available"
    evaluation: Evaluation = field(default_factory=lambda: Evaluation(holds=True))
    evaluations: int = 0

    def set(self, *, holds: bool, observed: bool = True, detail: str = "") -> None:
        self.evaluation = Evaluation(holds=holds, observed=observed, detail=detail)

    def evaluate(self) -> Evaluation:
        self.evaluations += 1
        return self.evaluation


@dataclass
class FakeCapacity:
    """Samples the test sets, returned as they are on every call."""

    samples: Sequence[CapacitySample] = ()

    def sample(self) -> Sequence[CapacitySample]:
        return self.samples


def inject_fault(recorder: TimelineRecorder) -> None:
    recorder.record(FaultInjected(at=recorder.now(), activity="kill web pods"))


def observations(recorder: TimelineRecorder) -> list[tuple[float, bool]]:
    return [
        (event.at.monotonic, event.holds)
        for event in recorder.events()
        if isinstance(event, ConditionObserved)
    ]


def make_observer(
    clock: FakeClock,
    condition: FakeCondition | None,
    *,
    stable_for: float = 5.0,
    timeout: float = 60.0,
    interval: float = 1.0,
    capacity: FakeCapacity | None = None,
    guards: Sequence[FakeCondition] = (),
    on_guard_tripped: Callable[[str], None] = lambda _: None,
) -> Observer:
    return Observer(
        recorder=TimelineRecorder(clock),
        condition=condition,
        interval=interval,
        stable_for=stable_for,
        timeout=timeout,
        capacity=capacity,
        guards=guards,
        on_guard_tripped=on_guard_tripped,
    )


def tick_at(observer: Observer, clock: FakeClock, *seconds: float) -> list[bool]:
    """Run one round at each of ``seconds``; whether the observer was settled after each."""
    settled = []
    for second in seconds:
        clock.seconds = second
        observer.tick()
        settled.append(observer.settled)
    return settled


def test_it_settles_once_the_condition_held_for_stable_for_after_the_fault_and_not_before() -> None:
    clock, condition = FakeClock(), FakeCondition()
    observer = make_observer(clock, condition, stable_for=5.0)
    # Holding for far longer than stable_for before the fault settles nothing.
    assert tick_at(observer, clock, *(float(second) for second in range(10))) == [False] * 10

    clock.seconds = 10.0
    inject_fault(observer.recorder)
    condition.set(holds=False)
    assert tick_at(observer, clock, 10.0) == [False]
    condition.set(holds=True)
    # Held from 11 s on: settled at 16 s, not a moment before.
    settled = tick_at(observer, clock, 11.0, 12.0, 13.0, 14.0, 15.0, 15.5, 16.0)
    assert settled == [False, False, False, False, False, False, True]
    assert observations(observer.recorder)[-8:] == [
        (10.0, False),
        (11.0, True),
        (12.0, True),
        (13.0, True),
        (14.0, True),
        (15.0, True),
        (15.5, True),
        (16.0, True),
    ]


def test_it_settles_at_the_deadline_when_the_condition_never_returns() -> None:
    clock, condition = FakeClock(10.0), FakeCondition()
    observer = make_observer(clock, condition, stable_for=5.0, timeout=30.0)
    inject_fault(observer.recorder)
    condition.set(holds=False)
    assert tick_at(observer, clock, 10.0, 20.0, 39.0, 39.999, 40.0) == [False] * 4 + [True]
    assert all(not holds for _, holds in observations(observer.recorder))


def test_without_a_condition_it_settles_as_soon_as_the_fault_is_recorded() -> None:
    clock = FakeClock()
    observer = make_observer(clock, None)
    observer.tick()
    assert not observer.settled
    inject_fault(observer.recorder)
    observer.tick()
    assert observer.settled


def test_a_failing_guard_trips_once_however_long_it_keeps_failing() -> None:
    clock, condition = FakeClock(), FakeCondition()
    guard = FakeCondition(name="error rate below 5%")
    guard.set(holds=True)
    tripped: list[str] = []
    observer = make_observer(clock, condition, guards=[guard], on_guard_tripped=tripped.append)
    observer.tick()
    assert tripped == []

    guard.set(holds=False, detail="error rate 12%")
    tick_at(observer, clock, 1.0, 2.0, 3.0, 4.0)

    trips = [event for event in observer.recorder.events() if isinstance(event, GuardTripped)]
    assert [(trip.at.monotonic, trip.name, trip.detail) for trip in trips] == [
        (1.0, "error rate below 5%", "error rate 12%")
    ]
    assert tripped == ["error rate below 5%"]
    # Once tripped, the guard is not asked again: the run is already being stopped.
    assert guard.evaluations == 2


def test_an_unobservable_evaluation_is_a_gap_never_a_loss() -> None:
    clock, condition = FakeClock(), FakeCondition()
    observer = make_observer(clock, condition, stable_for=5.0)
    observer.tick()
    clock.seconds = 10.0
    inject_fault(observer.recorder)
    condition.set(holds=False, observed=False, detail="connection refused")
    observer.tick()
    clock.seconds = 11.0
    observer.tick()

    gaps = [event for event in observer.recorder.events() if isinstance(event, ConditionUnobserved)]
    assert [(gap.at.monotonic, gap.source, gap.detail) for gap in gaps] == [
        (10.0, "shop/web available", "connection refused"),
        (11.0, "shop/web available", "connection refused"),
    ]
    assert observations(observer.recorder) == [(0.0, True)]
    assert not observer.settled

    # Seen holding again after the gap: settled once it held for stable_for, as after a loss.
    condition.set(holds=True)
    assert tick_at(observer, clock, 12.0, 13.0, 16.0, 17.0) == [False, False, False, True]
    assert all(holds for _, holds in observations(observer.recorder))


def test_capacity_is_recorded_only_when_it_changes() -> None:
    clock = FakeClock()
    web_whole = CapacitySample(workload="Deployment shop/web", ready=6, desired=6)
    web_short = CapacitySample(workload="Deployment shop/web", ready=4, desired=6)
    db_whole = CapacitySample(workload="StatefulSet shop/db", ready=3, desired=3)
    capacity = FakeCapacity()
    observer = make_observer(clock, FakeCondition(), capacity=capacity)
    for second, samples in [
        (0.0, [web_whole, db_whole]),
        (1.0, [web_whole, db_whole]),
        (2.0, [web_short, db_whole]),
        (3.0, [web_short, db_whole]),
        (4.0, [web_whole, db_whole]),
        (5.0, [web_whole, db_whole]),
    ]:
        clock.seconds = second
        capacity.samples = samples
        observer.tick()

    recorded = [
        (event.at.monotonic, event.workload, event.ready, event.desired)
        for event in observer.recorder.events()
        if isinstance(event, CapacityObserved)
    ]
    assert recorded == [
        (0.0, "Deployment shop/web", 6, 6),
        (0.0, "StatefulSet shop/db", 3, 3),
        (2.0, "Deployment shop/web", 4, 6),
        (4.0, "Deployment shop/web", 6, 6),
    ]


class ObservationWaiter:
    """Lets a test wait, with a deadline, for the observer's thread to record an observation."""

    def __init__(self, recorder: TimelineRecorder) -> None:
        self._seen: list[ConditionObserved] = []
        self._changed = threading.Condition()
        recorder.subscribe(self._on_event)

    def _on_event(self, event: TimelineEvent) -> None:
        if isinstance(event, ConditionObserved):
            with self._changed:
                self._seen.append(event)
                self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            seen = self._changed.wait_for(lambda: len(self._seen) >= count, DEADLINE_SECONDS)
        assert seen, f"the observer did not record observation {count} within the deadline"


def test_a_loss_shorter_than_the_interval_is_seen_when_the_observer_is_poked_at_the_fault() -> None:
    clock, condition = FakeClock(), FakeCondition()
    observer = make_observer(clock, condition, interval=NEVER_SECONDS)
    waiter = ObservationWaiter(observer.recorder)
    observer.start()
    try:
        waiter.wait_for(1)
        clock.seconds = 10.0
        condition.set(holds=False)
        inject_fault(observer.recorder)
        observer.poke()
        waiter.wait_for(2)
        # Over long before the next tick would have come.
        condition.set(holds=True)
    finally:
        observer.stop()

    assert observations(observer.recorder) == [(0.0, True), (10.0, False), (10.0, True)]


def test_a_loss_shorter_than_the_interval_is_seen_when_a_watch_notifies_the_observer() -> None:
    clock, condition = FakeClock(), FakeCondition()
    observer = make_observer(clock, condition, interval=NEVER_SECONDS)
    observer.notify()
    assert condition.evaluations == 0, "a notification before the start observes nothing"

    waiter = ObservationWaiter(observer.recorder)
    observer.start()
    try:
        waiter.wait_for(1)
        clock.seconds = 10.0
        inject_fault(observer.recorder)
        condition.set(holds=False)
        # notify observes on the caller's thread: the loss is recorded when it returns.
        observer.notify()
        assert observations(observer.recorder)[-1] == (10.0, False)
        clock.seconds = 10.5
        condition.set(holds=True)
        observer.notify()
    finally:
        observer.stop()

    assert observations(observer.recorder) == [
        (0.0, True),
        (10.0, False),
        (10.5, True),
        (10.5, True),
    ]

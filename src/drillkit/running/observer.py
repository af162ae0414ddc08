"""Continuous evaluation of the recovery condition, capacity and abort conditions.

The observer runs in its own thread from the start of the method until the
condition has been restored for ``stable_for`` or the deadline passes. Each
evaluation becomes a ``ConditionObserved`` event; the decision "recovered yet?"
is made by the same pure function that measures RTO afterwards
(``measure_recovery``), so the runner never stops waiting earlier or later than
the measurement would justify.

Polled sources are evaluated every ``poll_interval`` (the measurement's resolution
is then that interval). Watched sources also call ``notify`` on every change, so a
change is recorded when the API event arrives; the interval then only paces the
observations that confirm the condition kept holding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from drillkit.measuring.recovery import measure_recovery
from drillkit.model.timeline import (
    CapacityObserved,
    ConditionObserved,
    ConditionUnobserved,
    FaultInjected,
    GuardTripped,
)
from drillkit.running.recorder import TimelineRecorder

# How long ``stop`` waits for an evaluation in progress. Evaluations through drillkit's
# clients are bounded by their request timeouts; a probe of someone else's that hangs
# must not hold the run (and its rollbacks) with it.
_STOP_WAIT_SECONDS = 90.0


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    holds: bool
    detail: str = ""
    observed: bool = True
    """False when the condition could not be evaluated (the API server could not be
    reached): a gap in measurement, recorded as such, never as the condition lost."""


class Condition(Protocol):
    """Something that can say, right now, whether it holds."""

    name: str

    def evaluate(self) -> Evaluation: ...


@dataclass(frozen=True, kw_only=True)
class CapacitySample:
    workload: str
    ready: int
    desired: int


class CapacitySampler(Protocol):
    def sample(self) -> Sequence[CapacitySample]: ...


@dataclass(eq=False, kw_only=True)
class Observer:
    """Evaluates the recovery condition, capacity and guards on a fixed interval."""

    recorder: TimelineRecorder
    condition: Condition | None
    interval: float
    stable_for: float
    timeout: float
    capacity: CapacitySampler | None = None
    guards: Sequence[Condition] = ()
    on_guard_tripped: Callable[[str], None] = lambda _: None
    _stop: threading.Event = field(init=False, default_factory=threading.Event, repr=False)
    _wake: threading.Event = field(init=False, default_factory=threading.Event, repr=False)
    _settled: threading.Event = field(init=False, default_factory=threading.Event, repr=False)
    _observations: list[tuple[float, bool | None]] = field(
        init=False, default_factory=list, repr=False
    )
    _thread: threading.Thread | None = field(init=False, default=None, repr=False)
    _guard_tripped: bool = field(init=False, default=False, repr=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)
    _started: bool = field(init=False, default=False, repr=False)
    _last_capacity: dict[str, tuple[int, int]] = field(init=False, default_factory=dict, repr=False)

    def start(self) -> None:
        self._started = True
        self._thread = threading.Thread(target=self._loop, name="drillkit-observer", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A watched source changed: observe now rather than at the next tick."""
        if not self._started or self._stop.is_set():
            return
        with self._lock:
            self._observe()
            self._sample_capacity()

    def poke(self) -> None:
        """Observe again now, on the observer's own thread; returns at once. The fault
        has just been recorded: a loss that lasts less than one poll must not go unseen."""
        self._wake.set()

    def stop(self) -> None:
        """Stop observing, after one last evaluation so the record ends with a fact."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=_STOP_WAIT_SECONDS)
        stuck = self._thread.is_alive()
        self._thread = None
        if stuck:
            # Still inside an evaluation (and holding the lock): no closing observation.
            return
        with self._lock:
            self._observe()
            self._sample_capacity()

    def wait_until_settled(self, *, tick: float = 0.2) -> None:
        """Block until recovery is confirmed or the deadline passed.

        Waits in short ticks so that signals reach the main thread promptly. Returns
        at the deadline (and a grace for a last evaluation) even when the observer's
        thread is stuck in an evaluation and cannot say so itself.
        """
        while not self._settled.wait(tick):
            if self._thread is None or self._past_deadline(grace=_STOP_WAIT_SECONDS):
                return

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    def tick(self) -> None:
        """One round: evaluate the condition, sample capacity, check the guards and
        decide whether recovery is settled.

        The observer's thread runs it every ``interval`` (sooner when poked); a caller
        that drives time itself, such as a test with an injected clock, may run it
        directly instead of starting the thread.
        """
        with self._lock:
            self._observe()
            self._sample_capacity()
        self._check_guards()
        self._update_settled()

    # -- internals ----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._wake.wait(self.interval)
            self._wake.clear()

    def _observe(self) -> None:
        if self.condition is None:
            return
        evaluation = self.condition.evaluate()
        if not evaluation.observed:
            gap = self.recorder.record(
                ConditionUnobserved(
                    at=self.recorder.now(), source=self.condition.name, detail=evaluation.detail
                )
            )
            self._observations.append((gap.at.monotonic, None))
            return
        event = self.recorder.record(
            ConditionObserved(
                at=self.recorder.now(),
                holds=evaluation.holds,
                source=self.condition.name,
                detail=evaluation.detail,
            )
        )
        self._observations.append((event.at.monotonic, event.holds))

    def _check_guards(self) -> None:
        if self._guard_tripped:
            return
        for guard in self.guards:
            evaluation = guard.evaluate()
            if not evaluation.holds:
                self._guard_tripped = True
                self.recorder.record(
                    GuardTripped(at=self.recorder.now(), name=guard.name, detail=evaluation.detail)
                )
                self.on_guard_tripped(guard.name)
                return

    def _sample_capacity(self) -> None:
        if self.capacity is None:
            return
        at = self.recorder.now()
        for sample in self.capacity.sample():
            # Only changes are recorded: the capacity measurement needs the moments
            # replicas went down and came back, not a sample per tick.
            if self._last_capacity.get(sample.workload) == (sample.ready, sample.desired):
                continue
            self._last_capacity[sample.workload] = (sample.ready, sample.desired)
            self.recorder.record(
                CapacityObserved(
                    at=at, workload=sample.workload, ready=sample.ready, desired=sample.desired
                )
            )

    def _past_deadline(self, *, grace: float = 0.0) -> bool:
        injections = [e for e in self.recorder.events() if isinstance(e, FaultInjected)]
        if not injections:
            return False
        deadline = injections[0].at.monotonic + self.timeout + grace
        return self.recorder.clock.monotonic() >= deadline

    def _update_settled(self) -> None:
        injections = [e for e in self.recorder.events() if isinstance(e, FaultInjected)]
        if not injections:
            return
        t_inject = injections[0].at.monotonic
        now = self.recorder.clock.monotonic()
        deadline = t_inject + self.timeout
        if now >= deadline:
            self._settled.set()
            return
        if self.condition is None:
            # Nothing to wait for: the run proceeds straight to its after-checks.
            self._settled.set()
            return
        with self._lock:
            observations = list(self._observations)
        recovery = measure_recovery(
            observations,
            t_inject=t_inject,
            stable_for=self.stable_for,
            deadline=deadline,
            resolution=self.interval,
            observed_until=now,
        )
        if recovery.t_restored is not None or (
            not recovery.disruption_observed and recovery.rto.seconds is not None
        ):
            self._settled.set()

"""The run's timeline, stamped as it happens with the monotonic clock and UTC.

Durations are only ever computed from the monotonic stamps; UTC is kept beside
each event for display. The clock is injectable so tests control time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from drillkit.model.timeline import Instant, TimelineEvent

EventT = TypeVar("EventT", bound=TimelineEvent)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def utc(self) -> datetime: ...


class SystemClock:
    """The real clocks: ``time.monotonic`` for durations, UTC wall time for display."""

    def monotonic(self) -> float:
        return time.monotonic()

    def utc(self) -> datetime:
        return datetime.now(UTC)


class TimelineRecorder:
    """A thread-safe, append-only list of events; listeners see each event as it lands.

    The observer thread and the chaoslib thread both record here.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._events: list[TimelineEvent] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[TimelineEvent], None]] = []

    def now(self) -> Instant:
        return Instant(monotonic=self.clock.monotonic(), utc=self.clock.utc())

    def subscribe(self, listener: Callable[[TimelineEvent], None]) -> None:
        self._listeners.append(listener)

    def record(self, event: EventT) -> EventT:
        with self._lock:
            self._events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def events(self) -> tuple[TimelineEvent, ...]:
        """Every event so far, in time order (events may be recorded late, e.g. a
        fault's acknowledgement reported when its activity returns)."""
        with self._lock:
            return tuple(sorted(self._events, key=lambda e: e.at.monotonic))

"""The one way drillkit waits for a condition: poll it until it holds or a deadline passes.

Lab components coming up, watches reporting for the first time, ports being
freed, API objects reaching a state: each polls a condition with
:func:`poll_until`, which never sleeps past its deadline and asks one last time at
the deadline, so a condition that became true while it slept is not reported as a
timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    condition: Callable[[], T | bool | None],
    *,
    timeout: float,
    interval: float = 0.25,
    max_interval: float | None = None,
) -> T | None:
    """Call ``condition`` until it returns a value other than None or False; that value,
    or None when ``timeout`` seconds passed first. The pause between calls starts at
    ``interval`` and, with ``max_interval``, grows by half each time up to it."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    delay = interval
    while True:
        value = condition()
        if value is not None and value is not False:
            return value  # type: ignore[return-value]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        pause.wait(min(delay, remaining))
        if max_interval is not None:
            delay = min(delay * 1.5, max_interval)

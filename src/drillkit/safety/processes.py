"""Is a process that once acted for a run still alive on this host?

Used by the cluster lock (a lock whose holder process died here is free) and by
recovery (a record whose writer died here belongs to a dead run). Pids are reused,
so a process counts only if it started no later than when it was known alive.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

# How much later than its record a process may seem to have started and still be the
# writer: start times derive from boot time and clock ticks, which round.
_START_TIME_SLACK = timedelta(seconds=5)


def process_is_alive(pid: int, recorded_utc: datetime | None) -> bool:
    """Whether ``pid`` is a live process on this host that could have written a record then.

    A process that started after ``recorded_utc`` reuses the pid of the writer, which
    is dead. Where the start time cannot be read (not Linux), existence decides.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    state, started = _process_state(pid)
    if state in ("Z", "X"):
        return False  # exited, not yet reaped by its parent
    if recorded_utc is not None and started is not None:
        return started <= recorded_utc + _START_TIME_SLACK
    return True


def _process_state(pid: int) -> tuple[str | None, datetime | None]:
    try:
        # The command name in parentheses may hold spaces; fields follow the last ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        state, start_ticks = fields[0], int(fields[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None, None
    return state, datetime.fromtimestamp(boot + start_ticks / ticks, UTC)

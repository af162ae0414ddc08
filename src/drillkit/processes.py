"""Is a process alive on this host? The one answer, for every layer that asks.

The lab asks it of the components it supervises (``drillkit.lab.processes``), the
cluster lock and recovery of the processes that wrote their records
(``drillkit.safety``), and the report listing of runs without a report
(``drillkit.reporting.writer``). It sits beside the layers, like ``files.py``,
because the lab is below the others and all of them need the same answer.

Pids are reused, so a process counts as the one that was known alive only if it
started no later than when it was known alive. Exited processes that their parent
has not reaped yet (zombies) are dead.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

# How much later than its record a process may seem to have started and still be the
# writer: start times derive from boot time and clock ticks, which round.
_START_TIME_SLACK = timedelta(seconds=5)


def process_is_alive(pid: int, known_alive_at: datetime | None) -> bool:
    """Whether ``pid`` is a live process on this host that could be the one known alive then.

    A process that started after ``known_alive_at`` reuses the pid of that one, which
    is dead. With ``known_alive_at`` None, any live process with the pid counts (callers
    that pass None tell pids apart another way). Where the start time cannot be read
    (not Linux), existence decides.
    """
    if pid <= 0:
        # 0 and negative pids name process groups to os.kill, never one process.
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        # OverflowError: beyond any pid this system can have (a corrupt pid file).
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    state, started = _process_state(pid)
    if state in ("Z", "X"):
        return False  # exited, not yet reaped by its parent
    if known_alive_at is not None and started is not None:
        return started <= known_alive_at + _START_TIME_SLACK
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

"""Is a process alive on this host, and which processes did a run start? The one
answer to each, for every layer that asks.

The lab asks it of the components it supervises (``drillkit.lab.processes``), the
cluster lock and recovery of the processes that wrote their records
(``drillkit.safety``), and the report listing of runs without a report
(``drillkit.reporting.writer``). It sits beside the layers, like ``files.py``,
because the lab is below the others and all of them need the same answer.

Pids are reused, so a process counts as the one that was known alive only if it
started no later than when it was known alive. Exited processes that their parent
has not reaped yet (zombies) are dead.

A run's activities start commands that may outlive them; :class:`OwnedProcesses`
finds them all, however deep, and ends them with the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drillkit.waiting import poll_until

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


def resident_memory(pid: int) -> int | None:
    """Bytes of ``pid``'s memory resident in RAM (its RSS); None when there is no such process."""
    stat = _read_stat(pid)
    return stat.resident_bytes if stat is not None else None


def _process_state(pid: int) -> tuple[str | None, datetime | None]:
    stat = _read_stat(pid)
    return (stat.state, stat.started) if stat is not None else (None, None)


@dataclass(frozen=True, slots=True)
class _Stat:
    """The fields of ``/proc/PID/stat`` drillkit reads."""

    state: str
    parent: int
    session: int
    started: datetime
    resident_bytes: int


def _read_stat(pid: int) -> _Stat | None:
    try:
        # The command name in parentheses may hold spaces; fields follow the last ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        resident_pages = int(fields[21])
        boot = _boot_time()
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    started = datetime.fromtimestamp(boot + start_ticks / os.sysconf("SC_CLK_TCK"), UTC)
    return _Stat(
        state=fields[0],
        parent=int(fields[1]),
        session=int(fields[3]),
        started=started,
        resident_bytes=resident_pages * os.sysconf("SC_PAGE_SIZE"),
    )


@functools.cache
def _boot_time() -> int:
    """When this host booted (``btime``, seconds since the epoch): constant until reboot."""
    return next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )


# prctl(2) options: orphaned descendants are re-parented to the nearest subreaper.
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


@dataclass(frozen=True)
class HostProcess:
    """A process of this host, as ``/proc`` shows it."""

    pid: int
    parent: int
    session: int
    started: datetime
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command[:80]})"


class OwnedProcesses:
    """The processes started inside ``with OwnedProcesses():`` and everything they
    started, ended when it closes (or earlier, by :meth:`end`).

    Activities run commands (Chaos Toolkit's process provider) that may outlive the
    activity: chaoslib kills the command it started when the activity times out or the
    run is stopped, but not what that command started, and a shell given its arguments
    as one string is just such a grandchild. Left running, it would go on acting on the
    cluster after the drill reported it stopped. While open, this process is a child
    subreaper (Linux), so descendants whose parent exits stay descendants and can be
    found. Processes that existed when it opened are never touched, nor those started
    in a session of their own: the lab's components, which a fault may restart, and
    whatever a command detached on purpose.
    """

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self._before: set[tuple[int, datetime]] = set()
        self._was_subreaper = 0

    def __enter__(self) -> OwnedProcesses:
        self._before = {(p.pid, p.started) for p in descendants()}
        self._was_subreaper = _subreaper(None)
        _subreaper(1)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            ended = self.end()
            if ended:
                logging.getLogger("drillkit").warning(
                    "ended %d process(es) the run's activities left running: %s",
                    len(ended),
                    "; ".join(p.describe() for p in ended),
                )
        finally:
            _subreaper(self._was_subreaper)

    def end(self) -> list[HostProcess]:
        """End every live process started since this opened: SIGTERM, then SIGKILL to
        those still alive after ``grace`` seconds. Returns the processes ended."""
        session = os.getsid(0)
        owned = [
            p
            for p in descendants()
            if p.session == session and (p.pid, p.started) not in self._before
        ]
        for process in owned:
            _send(process, signal.SIGTERM)
        if (
            poll_until(lambda: not any(_is(p) for p in owned), timeout=self.grace, interval=0.05)
            is None
        ):
            for process in owned:
                _send(process, signal.SIGKILL)
            poll_until(lambda: not any(_is(p) for p in owned), timeout=self.grace, interval=0.05)
        return owned


def descendants(pid: int | None = None) -> list[HostProcess]:
    """The live (not zombie) descendants of ``pid`` (this process by default); [] where
    ``/proc`` cannot be read."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[tuple[int, _Stat]]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None and stat.state not in ("Z", "X"):
                children.setdefault(stat.parent, []).append((int(entry.name), stat))
    found: list[HostProcess] = []
    parents = [root]
    while parents:
        for child, stat in children.get(parents.pop(), ()):
            parents.append(child)
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue  # ended since
            found.append(
                HostProcess(
                    pid=child,
                    parent=stat.parent,
                    session=stat.session,
                    started=stat.started,
                    command=command.replace(b"\0", b" ").strip().decode(errors="replace"),
                )
            )
    return found


def _is(process: HostProcess) -> bool:
    """Whether ``process`` is still alive (its pid not reused by another)."""
    state, started = _process_state(process.pid)
    return state not in (None, "Z", "X") and started == process.started


def _send(process: HostProcess, signum: int) -> None:
    if _is(process):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signum)


def _subreaper(value: int | None) -> int:
    """Set this process's child-subreaper flag to ``value`` (None: leave it); the flag
    as it was. 0 where prctl(2) is not available."""
    if sys.platform != "linux":
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    current = ctypes.c_int(0)
    libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(current), 0, 0, 0)
    if value is not None:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, value, 0, 0, 0)
    return current.value

"""Whether a process is alive, asked of real processes: this one, ``sleep``s started and
killed here, and pids that no process has."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillkit.processes import OwnedProcesses, descendants, process_is_alive, resident_memory
from tests.helpers import wait_until


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "600"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def finished_pid() -> int:
    """The pid of a process that has exited and been reaped: no process has it now."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


def test_this_process_is_alive_when_known_alive_now_or_at_no_particular_time() -> None:
    assert process_is_alive(os.getpid(), datetime.now(UTC))
    assert process_is_alive(os.getpid(), None)


def test_a_process_started_after_it_was_known_alive_is_a_reused_pid(
    sleeper: subprocess.Popen[bytes],
) -> None:
    an_hour_before_it_started = datetime.now(UTC) - timedelta(hours=1)
    assert process_is_alive(sleeper.pid, datetime.now(UTC))
    assert not process_is_alive(sleeper.pid, an_hour_before_it_started)
    # Our own pid, recorded a year ago: whoever wrote that record is dead.
    assert not process_is_alive(os.getpid(), datetime.now(UTC) - timedelta(days=365))


def test_a_killed_process_is_dead_before_and_after_it_is_reaped(
    sleeper: subprocess.Popen[bytes],
) -> None:
    known_alive_at = datetime.now(UTC)
    assert process_is_alive(sleeper.pid, known_alive_at)
    os.kill(sleeper.pid, signal.SIGKILL)
    # Not reaped yet (no wait): an exited child lingers as a zombie, which is dead.
    wait_until("the killed sleep to count as dead", lambda: not process_is_alive(sleeper.pid, None))
    assert not process_is_alive(sleeper.pid, known_alive_at)
    sleeper.wait()
    assert not process_is_alive(sleeper.pid, None)
    assert not process_is_alive(sleeper.pid, known_alive_at)


def test_a_pid_no_process_has_is_dead() -> None:
    assert not process_is_alive(finished_pid(), None)
    assert not process_is_alive(finished_pid(), datetime.now(UTC))


@pytest.mark.parametrize("pid", [0, -1, 2**31, 10**20], ids=["zero", "negative", "2^31", "huge"])
def test_a_pid_that_cannot_name_one_process_is_dead(pid: int) -> None:
    # 0 and -1 would name process groups to kill(2); the others fit no pid_t.
    assert not process_is_alive(pid, None)


def test_a_process_of_another_user_that_started_before_its_record_is_alive() -> None:
    # pid 1 belongs to root (kill(2) answers "permission denied" to anyone else) and
    # started when the system, or this container, did.
    assert process_is_alive(1, datetime.now(UTC))


def is_subreaper() -> bool:
    """This process's child-subreaper flag, read with prctl(2)."""
    flag = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(37, ctypes.byref(flag), 0, 0, 0)  # GET_CHILD_SUBREAPER
    return bool(flag.value)


def test_resident_memory_is_what_a_process_holds_in_ram(
    sleeper: subprocess.Popen[bytes],
) -> None:
    # 64 MiB written to, so every page of it is resident.
    with subprocess.Popen(
        [sys.executable, "-c", "b = bytearray(64 * 2**20); print(flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as holder:
        try:
            assert holder.stdout is not None
            holder.stdout.readline()
            held = resident_memory(holder.pid)
            slept = resident_memory(sleeper.pid)
        finally:
            holder.kill()

    assert held is not None and held >= 64 * 2**20
    assert slept is not None and 0 < slept < 16 * 2**20
    assert resident_memory(finished_pid()) is None


def test_owned_processes_end_what_was_started_inside_and_orphaned(
    sleeper: subprocess.Popen[bytes],
) -> None:
    assert not is_subreaper()
    with OwnedProcesses() as owned:
        assert is_subreaper()
        # The shell exits at once, its sleep orphaned: a subreaper keeps it a descendant.
        subprocess.run(["sh", "-c", "sleep 600 &"], check=True)
        orphans = wait_until(
            "the orphaned sleep",
            lambda: [p for p in descendants() if p.command == "sleep 600" and p.pid != sleeper.pid],
        )
        ended = owned.end()
    assert not is_subreaper()
    assert [p.pid for p in ended] == [p.pid for p in orphans]
    assert not process_is_alive(orphans[0].pid, None)
    # Started before: never touched.
    assert process_is_alive(sleeper.pid, None)


def test_owned_processes_kill_what_ignores_the_request_to_end(tmp_path: Path) -> None:
    ready = tmp_path / "trap-set"
    with OwnedProcesses(grace=0.5) as owned:
        stubborn = subprocess.Popen(
            ["sh", "-c", f"trap '' TERM; touch {ready}; while true; do sleep 0.1; done"]
        )
        try:
            wait_until("the shell to ignore SIGTERM", ready.exists)
            owned.end()
            assert stubborn.wait(timeout=30) == -signal.SIGKILL
        finally:
            stubborn.kill()
            stubborn.wait()


def test_owned_processes_leave_a_process_in_a_session_of_its_own() -> None:
    # As the lab's components are started, which a fault may restart mid-run.
    with OwnedProcesses() as owned:
        component = subprocess.Popen(["sleep", "600"], start_new_session=True)
        try:
            wait_until(
                "the component to run",
                lambda: any(p.pid == component.pid for p in descendants()),
            )
            assert owned.end() == []
            assert component.poll() is None
        finally:
            component.kill()
            component.wait()

"""Whether a process is alive, asked of real processes: this one, ``sleep``s started and
killed here, and pids that no process has."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from drillkit.processes import process_is_alive
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

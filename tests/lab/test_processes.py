"""Which lab component is running, asked of real processes (no control plane needed).

A component counts as running only if the pid in its pid file is a live process whose
command line mentions the lab's directory, or one this process started itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.lab.processes import Component, HealthCheck
from tests.helpers import wait_until

# Nothing listens there; no test here asks a component whether it is ready.
UNANSWERED = HealthCheck(url="http://127.0.0.1:9/healthz")


def component(lab_dir: Path, *argv: str) -> Component:
    return Component(name="idle", argv=argv, lab_dir=lab_dir, health=UNANSWERED, ports=())


def idle_command(*extra: str) -> list[str]:
    """A process that waits until it is killed; ``extra`` only shows in its command line."""
    return [sys.executable, "-c", "import signal; signal.pause()", *extra]


@pytest.fixture
def started_elsewhere(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A component process started by another drill: a lab process this one did not start."""
    process = subprocess.Popen(idle_command(str(tmp_path)))
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_component_started_here_runs_until_it_is_killed(tmp_path: Path) -> None:
    idle = component(tmp_path, *idle_command())
    pid = idle.start()
    assert idle.pid() == pid
    assert idle.start() == pid, "a running component is not started twice"
    idle.kill()
    assert not idle.is_running()
    assert not idle.pid_file.exists()


def test_a_component_started_by_another_drill_runs_until_it_exits(
    tmp_path: Path, started_elsewhere: subprocess.Popen[bytes]
) -> None:
    idle = component(tmp_path, *idle_command())
    idle.pid_file.parent.mkdir(parents=True)
    idle.pid_file.write_text(f"{started_elsewhere.pid}\n")
    assert idle.pid() == started_elsewhere.pid

    started_elsewhere.kill()
    # Exited but not yet reaped by its parent (here, the test): not running either.
    wait_until("the killed component to count as stopped", lambda: idle.pid() is None)
    started_elsewhere.wait()
    assert idle.pid() is None


def test_a_pid_file_naming_a_process_of_something_else_is_not_trusted(
    tmp_path: Path, started_elsewhere: subprocess.Popen[bytes]
) -> None:
    # The pid is alive, but its command line names another directory: a reused pid.
    idle = component(tmp_path / "another-lab", *idle_command())
    idle.pid_file.parent.mkdir(parents=True)
    idle.pid_file.write_text(f"{started_elsewhere.pid}\n")
    assert idle.pid() is None


@pytest.mark.parametrize("content", ["", "not a pid", "0", "-1", str(10**20)])
def test_a_pid_file_without_a_usable_pid_means_not_running(tmp_path: Path, content: str) -> None:
    idle = component(tmp_path, *idle_command())
    idle.pid_file.parent.mkdir(parents=True)
    idle.pid_file.write_text(content)
    assert not idle.is_running()

"""No process an activity started outlives the run, however the run ends.

Chaos Toolkit's process provider kills the command it started when the activity times
out or the run is stopped, but not what that command started; a command given its
arguments as one string runs in a shell, so the command itself is such a grandchild.
Left alive, a fault goes on acting after the drill reported it stopped and rolled back.
Each test runs ``drill run`` as a user does and then looks for every process whose
command line carries the test's own mark.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import drill_command, live_processes_marked, wait_until
from tests.running.test_drill_run import DRILLS, environment


@pytest.fixture
def mark(tmp_path: Path) -> Iterator[str]:
    """A text only this test's activities carry; whatever still carries it at the end
    is killed, so a failing test leaves nothing behind either."""
    text = f"drillkit-activity-{tmp_path.name}"
    yield text
    for pid in live_processes_marked(text):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def write_drill(tmp_path: Path, method: list[dict[str, Any]]) -> Path:
    experiment = yaml.safe_load((DRILLS / "slow-fault-experiment.yaml").read_text())
    experiment["method"] = method
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(experiment))
    drill = yaml.safe_load((DRILLS / "slow-fault.yaml").read_text())
    drill["experiment"] = "experiment.yaml"
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(drill))
    return path


def forever(name: str, mark: str, **provider: Any) -> dict[str, Any]:
    """An action whose command never ends: a shell loop, its arguments one string."""
    return {
        "type": "action",
        "name": name,
        "provider": {
            "type": "process",
            "path": "sh",
            "arguments": f"-c 'while true; do sleep 0.2; done # {mark}'",
            **provider,
        },
    }


def run(tmp_path: Path, drill: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command("run", str(drill), "--reports-dir", str(tmp_path / "reports"), "-o", "json"),
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_stopped_run_ends_what_its_method_started_before_rolling_back(
    tmp_path: Path, mark: str
) -> None:
    # A command started in the background of one that never ends: two generations.
    drill = write_drill(
        tmp_path,
        [
            {
                "type": "action",
                "name": "slow-fault",
                "provider": {
                    "type": "process",
                    "path": "sh",
                    "arguments": ["-c", f"sleep 600 & while true; do sleep 0.2; done # {mark}"],
                },
            }
        ],
    )
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            drill_command("run", str(drill), "--reports-dir", str(tmp_path / "reports")),
            env=environment(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until("the method's command to run", lambda: live_processes_marked(mark))
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        finally:
            process.kill()
            process.wait()
    log = stderr_path.read_text()
    assert process.returncode == 1, log
    assert live_processes_marked(mark) == [], log
    # The background sleep carries no mark: it is found as the loop's child.
    assert "ended pid" in log and "sleep 600" in log, log
    # It was ended before the rollbacks, not after them.
    assert log.index("sleep 600") < log.index("rollbacks started"), log


def test_an_activity_that_times_out_leaves_no_process_running(tmp_path: Path, mark: str) -> None:
    drill = write_drill(tmp_path, [forever("slow-fault", mark, timeout=1)])
    result = run(tmp_path, drill)
    assert "process activity took too long" in result.stderr, result.stderr
    assert live_processes_marked(mark) == [], result.stderr
    assert json.loads(result.stdout)["report_dir"]


def test_a_command_left_in_the_background_is_ended_with_the_run(tmp_path: Path, mark: str) -> None:
    detached = {
        "type": "action",
        "name": "slow-fault",
        "provider": {
            "type": "process",
            "path": "sh",
            "arguments": ["-c", f"(while true; do sleep 0.2; done; : {mark}) >/dev/null 2>&1 &"],
        },
    }
    # The rollback still finds it running: only after the rollbacks does the run end it.
    rollback = {
        "type": "action",
        "name": "leave-rollback-mark",
        "provider": {
            "type": "process",
            "path": "sh",
            "arguments": [
                "-c",
                f"pgrep -f '[w]hile true.*{mark}' > {tmp_path / 'seen-by-rollback'}",
            ],
        },
    }
    drill = write_drill(tmp_path, [detached])
    experiment_path = tmp_path / "experiment.yaml"
    experiment = yaml.safe_load(experiment_path.read_text())
    experiment["rollbacks"] = [rollback]
    experiment_path.write_text(yaml.safe_dump(experiment))

    result = run(tmp_path, drill)
    assert (tmp_path / "seen-by-rollback").read_text().strip(), result.stderr
    assert live_processes_marked(mark) == [], result.stderr
    assert "left running" in result.stderr

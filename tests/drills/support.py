"""Helpers for running the shipped drills against labs, as a user would: ``drill run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drillkit.lab.cluster import Lab
from tests.helpers import drill_command, free_port, wait_until

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED_DRILLS = REPOSITORY / "drills"
SHIPPED_EXPERIMENTS = REPOSITORY / "experiments"


@dataclass
class DrillResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))

    @property
    def report_dir(self) -> Path:
        return Path(self.summary["report_dir"])

    def report(self) -> dict[str, Any]:
        return dict(json.loads((self.report_dir / "report.json").read_text()))

    def journal(self) -> dict[str, Any]:
        return dict(json.loads((self.report_dir / "journal.json").read_text()))

    def timeline(self) -> list[dict[str, Any]]:
        lines = (self.report_dir / "timeline.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


def drill_environment(lab: Lab, **extra: str) -> dict[str, str]:
    """The environment of a user of this lab: its kubeconfig, whose current context is
    the least-privilege drillkit-runner identity."""
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig))
    # Lab faults find the lab from the kubeconfig; nothing else may name it.
    env.pop("DRILLKIT_LAB", None)
    env.pop("KUBERNETES_CONTEXT", None)
    env.pop("DRILLKIT_RUN_ID", None)
    env.update(extra)
    return env


def run_cli(
    environment: dict[str, str], *arguments: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``drill ARGUMENTS`` in a process of its own, its output captured."""
    return subprocess.run(
        drill_command(*arguments),
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_drill_with(
    environment: dict[str, str], drill: str | Path, reports_dir: Path, *arguments: str
) -> DrillResult:
    """``drill run DRILL --output json``, as a user with ``environment`` runs it."""
    completed = run_cli(
        environment,
        *("run", str(drill), "--reports-dir", str(reports_dir), "--output", "json", *arguments),
        timeout=900,
    )
    return DrillResult(completed.returncode, completed.stdout, completed.stderr)


def run_drill(lab: Lab, drill: str | Path, reports_dir: Path, *arguments: str) -> DrillResult:
    return run_drill_with(drill_environment(lab), drill, reports_dir, *arguments)


def write_variant(
    directory: Path, name: str, *, drill: dict[str, Any], experiment: dict[str, Any]
) -> Path:
    """Write a drill and its experiment side by side; return the drill's path."""
    directory.mkdir(parents=True, exist_ok=True)
    drill = dict(drill, name=name, experiment=f"{name}-experiment.yaml")
    (directory / f"{name}-experiment.yaml").write_text(yaml.safe_dump(experiment))
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(drill))
    return path


def shipped(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A shipped drill and its experiment, as dictionaries to vary.

    Without ``proves``: a variant targets a namespace of its own, not the shipped service.
    """
    drill = yaml.safe_load((SHIPPED_DRILLS / f"{name}.yaml").read_text())
    drill.pop("proves", None)
    experiment = yaml.safe_load((SHIPPED_DRILLS / drill["experiment"]).read_text())
    return drill, experiment


class BackgroundDrill:
    """``drill run`` in the background, its progress (stderr) in a file to wait on."""

    def __init__(self, lab: Lab, drill: Path, reports_dir: Path, log: Path) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            drill_command("run", str(drill), "--reports-dir", str(reports_dir), "--output", "json"),
            env=drill_environment(lab),
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )

    def wait_for(self, text: str) -> None:
        wait_until(f"{text!r} in the drill's progress", lambda: text in self.log.read_text())

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 600) -> str:
        stdout, _ = self.process.communicate(timeout=timeout)
        self._log_file.close()
        return stdout


class SchedulerProcess:
    """``drill scheduler run`` in the background, its log in a file."""

    def __init__(
        self, scheduler_id: str, environment: dict[str, str], log: Path, *arguments: str
    ) -> None:
        self.scheduler_id = scheduler_id
        self.port = free_port()
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            drill_command(
                "scheduler",
                "run",
                "--id",
                scheduler_id,
                "--port",
                str(self.port),
                "--refresh",
                "1s",
                *arguments,
            ),
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def health(self) -> dict[str, Any] | None:
        if self.process.poll() is not None:
            raise AssertionError(f"scheduler {self.scheduler_id} exited:\n{self.log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                document: dict[str, Any] = json.loads(r.read())
        except OSError:
            return None  # not listening yet
        return document

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text: str = r.read().decode()
        return text

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=300)
        finally:
            self._log_file.close()

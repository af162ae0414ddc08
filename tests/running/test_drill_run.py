"""``drill run`` end to end, as a user runs it: the installed command in a subprocess.

The drills here act on a "service" that is a file (see drills/file-service.yaml),
so they exercise the whole runner (chaoslib engine, observer, signals, measuring,
reports) with Chaos Toolkit's own python and process providers and no cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import yaml

from tests.helpers import drill_command, wait_until

DRILLS = Path(__file__).parent / "drills"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    service = tmp_path / "service"
    service.touch()
    env = dict(os.environ, SERVICE_FILE=str(service), ROLLBACK_MARK=str(tmp_path / "rolled-back"))
    # No cluster is involved; make sure none is picked up from the developer's setup.
    env["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")
    env.update(extra)
    return env


def run_drill(tmp_path: Path, target: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command(
            "run", str(target), "--reports-dir", str(tmp_path / "reports"), "--output", "json"
        ),
        env=environment(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def read_report(result: subprocess.CompletedProcess[str]) -> tuple[dict[str, object], Path]:
    summary = json.loads(result.stdout)
    report_dir = Path(summary["report_dir"])
    return json.loads((report_dir / "report.json").read_text()), report_dir


def test_a_drill_that_recovers_within_its_objective_is_met(tmp_path: Path) -> None:
    result = run_drill(tmp_path, DRILLS / "file-service.yaml", HEAL_AFTER="2")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "met"
    rto = summary["measurements"]["rto"]
    assert rto["bound"] == "exact"
    assert rto["resolution_seconds"] == 0.2
    # The service cannot come back before it repairs itself 2 s after the fault.
    assert rto["seconds"] >= 2.0 - rto["resolution_seconds"]
    report, report_dir = read_report(result)
    assert report["drill"] == "file-service"
    for name in (
        "report.json",
        "report.md",
        "report.html",
        "journal.json",
        "timeline.jsonl",
        "manifest.json",
    ):
        assert (report_dir / name).is_file(), name
    kinds = [
        json.loads(line)["kind"]
        for line in (report_dir / "timeline.jsonl").read_text().splitlines()
    ]
    for kind in (
        "run_started",
        "steady_state_verified",
        "fault_injected",
        "condition_observed",
        "rollback_started",
        "rollback_completed",
        "run_finished",
    ):
        assert kind in kinds, kind
    assert "RTO" in (report_dir / "report.md").read_text()


def test_a_missed_objective_exits_1_with_verdict_missed(tmp_path: Path) -> None:
    drill = yaml.safe_load((DRILLS / "file-service.yaml").read_text())
    drill["name"] = "file-service-strict"
    drill["objectives"]["rto"] = "1s"
    drill["experiment"] = str(DRILLS / "file-service-experiment.yaml")
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(drill))

    result = run_drill(tmp_path, path, HEAL_AFTER="3")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "missed"
    assert summary["measurements"]["rto"]["seconds"] > 1
    assert any("RTO" in finding for finding in summary["findings"])


def test_a_plain_chaos_toolkit_experiment_runs_as_chaos_runs_it_and_claims_no_recovery(
    tmp_path: Path,
) -> None:
    # Its hypothesis runs before and after the method, as under chaos run, never in
    # between: nothing sees the fault land or the service recover, so the run says so.
    # Wrapped in a drill file (test above), the same experiment is measured.
    result = run_drill(tmp_path, DRILLS / "file-service-experiment.yaml", HEAL_AFTER="1")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["drill"] == "file-service-experiment"
    assert summary["status"] == "completed"
    assert summary["verdict"] == "inconclusive"
    assert summary["measurements"]["rto"]["seconds"] is None
    assert any("did not test recovery" in finding for finding in summary["findings"])
    report, report_dir = read_report(result)
    assert report["strategy"] == "unknown"
    journal = json.loads((report_dir / "journal.json").read_text())
    assert (journal["status"], journal["deviated"]) == ("completed", False)
    assert "timeout 2m" in (report_dir / "report.md").read_text()


def test_sigterm_during_the_method_runs_rollbacks_and_reports_interrupted(tmp_path: Path) -> None:
    env = environment(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    command = drill_command(
        "run",
        str(DRILLS / "slow-fault.yaml"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--output",
        "json",
    )
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        try:
            wait_until(
                "the slow fault to start",
                lambda: "action slow-fault started" in stderr_path.read_text(),
            )
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=120)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == 1, stderr_path.read_text()
    assert Path(env["ROLLBACK_MARK"]).exists(), "the rollback ran"
    summary = json.loads(stdout)
    assert summary["status"] == "interrupted"
    assert summary["verdict"] == "aborted"
    report = json.loads((Path(summary["report_dir"]) / "report.json").read_text())
    assert report["status"] == "interrupted"
    assert "interrupted by SIGTERM" in stderr_path.read_text()


def test_an_unknown_drill_name_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        drill_command("run", "no-such-drill", "--drills-dir", str(tmp_path)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no drill named 'no-such-drill'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tripped_abort_condition_stops_the_run_through_its_rollbacks(tmp_path: Path) -> None:
    drill = yaml.safe_load((DRILLS / "slow-fault.yaml").read_text())
    drill["experiment"] = str(DRILLS / "slow-fault-experiment.yaml")
    stop_file = tmp_path / "stop"
    drill["safety"] = {
        "abort_conditions": [
            {
                "type": "probe",
                "name": "no-stop-file",
                "tolerance": 0,
                "provider": {
                    "type": "process",
                    "path": "sh",
                    "arguments": ["-c", f"test ! -f {stop_file}"],
                },
            }
        ]
    }
    path = tmp_path / "guarded.yaml"
    path.write_text(yaml.safe_dump(drill))
    env = environment(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            drill_command(
                "run", str(path), "--reports-dir", str(tmp_path / "reports"), "--output", "json"
            ),
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            wait_until(
                "the slow fault to start",
                lambda: "action slow-fault started" in stderr_path.read_text(),
            )
            stop_file.touch()
            stdout, _ = process.communicate(timeout=120)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == 1, stderr_path.read_text()
    summary = json.loads(stdout)
    assert summary["status"] == "aborted"
    assert summary["verdict"] == "aborted"
    assert Path(env["ROLLBACK_MARK"]).exists(), "the rollback ran"
    assert "abort condition" in stderr_path.read_text()

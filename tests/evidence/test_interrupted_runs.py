"""Runs that died before their report was complete still become evidence.

A run killed outright (SIGKILL) leaves its start note and the timeline it kept as it
went; a run that died while writing its report leaves a ``report.json`` without its
manifest. Neither may break ``drill report show``, the ledger or the export: ``drill
evidence adopt`` (and ``drill recover``, tested against the lab in
``tests/drills/test_killed_run_evidence.py``) finalises them as interrupted.

Runs are real: ``drill run`` of drills that need no cluster, in processes of their own,
so that a killed run's process is really dead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drillkit.evidence.ledger import RunEntry, read_ledger
from tests.helpers import drill_command, wait_until

SLOW_EXPERIMENT = """\
title: a method that takes its time
description: a drill that needs no cluster and is killed while its action runs
steady-state-hypothesis:
  title: true is true
  probes:
    - type: probe
      name: shell-answers
      tolerance: 0
      provider: {type: process, path: /bin/true}
method:
  - type: action
    name: take-a-while
    provider: {type: process, path: sleep, arguments: "300"}
"""
QUICK_EXPERIMENT = SLOW_EXPERIMENT.replace('arguments: "300"', 'arguments: "0"')
DRILL = """\
name: {name}
experiment: {name}-experiment.yaml
target: {{namespaces: [shop]}}
objectives: {{rto: 30s, stable_for: 200ms, timeout: 20s}}
recovery: {{poll_interval: 200ms}}
evidence: {{owner: sre, controls: [SOC2-A1.3]}}
"""


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("DRILL_SIGNING_KEY", raising=False)


def write_drill(directory: Path, name: str, experiment: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}-experiment.yaml").write_text(experiment)
    path = directory / f"{name}.yaml"
    path.write_text(DRILL.format(name=name))
    return path


def drill(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command(*arguments),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ),
    )


def only_run_dir(reports: Path, drill_name: str) -> Path:
    (run_dir,) = (reports / drill_name).iterdir()
    return run_dir


def exported_names(reports: Path, tmp_path: Path) -> list[str]:
    today = datetime.now(UTC).date().isoformat()
    bundle = tmp_path / "bundle.zip"
    exported = drill(
        "evidence", "export", "--reports-dir", str(reports),
        "--from", today, "--to", today, "--output-file", str(bundle),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(bundle) as archive:
        return archive.namelist()


def test_a_killed_run_keeps_its_timeline_shows_in_one_line_and_is_finalised_as_interrupted(
    tmp_path: Path,
) -> None:
    path = write_drill(tmp_path / "drills", "slow", SLOW_EXPERIMENT)
    reports = tmp_path / "reports"
    log_path = tmp_path / "progress.log"
    with log_path.open("w") as log:
        # A session of its own: the kill takes the action's `sleep` with it.
        process = subprocess.Popen(
            drill_command("run", str(path), "--reports-dir", str(reports)),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_until(
                "the action running", lambda: "action take-a-while started" in log_path.read_text()
            )
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    run_dir = only_run_dir(reports, "slow")
    run_id = run_dir.name

    # What the run recorded until it was killed is on disk.
    kept = [
        json.loads(line)["kind"] for line in (run_dir / "timeline.jsonl").read_text().splitlines()
    ]
    assert kept[0] == "run_started"
    assert "activity_started" in kept and "run_finished" not in kept

    pdf = ("pdf", run_id, "--reports-dir", str(reports), "--output-file", str(tmp_path / "run.pdf"))
    show = ("show", run_id, "--reports-dir", str(reports), "-o")
    for arguments in (pdf, (*show, "text"), (*show, "json")):
        shown = drill("report", *arguments)
        assert shown.returncode != 0
        assert "Traceback" not in shown.stderr
        assert shown.stderr == (
            f"drill: error: run {run_id} of drill slow ended without a complete report (it "
            "wrote no report: killed); report it as interrupted with: drill recover\n"
        )

    adopted = drill("evidence", "adopt", "--reports-dir", str(reports))
    assert adopted.returncode == 0, adopted.stderr
    assert f"run slow/{run_id} died before its report was complete: finalised as interrupted" in (
        adopted.stdout
    )

    shown = drill("report", "show", run_id, "--reports-dir", str(reports), "-o", "json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert (report["status"], report["verdict"]) == ("interrupted", "aborted")
    assert report["findings"][0]["text"].startswith("the run was killed")
    assert report["objectives"]["rto"]["seconds"] == 30
    assert report["accountability"]["controls"] == ["SOC2-A1.3"]
    assert report["sources"]["drill"]["path"] == str(path)
    timeline = [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()]
    assert [event["kind"] for event in timeline] == kept
    markdown = drill("report", "show", run_id, "--reports-dir", str(reports))
    assert markdown.returncode == 0 and "ABORTED" in markdown.stdout.upper()

    (line,) = read_ledger(reports)
    assert isinstance(line.entry, RunEntry)
    assert (line.entry.run_id, line.entry.status) == (run_id, "interrupted")
    verified = drill("evidence", "verify", "--reports-dir", str(reports))
    assert verified.returncode == 0, verified.stdout
    assert f"runs/slow/{run_id}/report.json" in exported_names(reports, tmp_path)


def test_a_report_cut_short_before_its_manifest_is_finalised_by_adopt_not_tampered_forever(
    tmp_path: Path,
) -> None:
    path = write_drill(tmp_path / "drills", "quick", QUICK_EXPERIMENT)
    written = tmp_path / "written"
    ran = drill("run", str(path), "--reports-dir", str(written), "--output", "json")
    original = json.loads(ran.stdout)
    # A generic action after which nothing was seen to break cannot show that it landed.
    assert (ran.returncode, original["verdict"]) == (1, "inconclusive"), ran.stderr
    # The same report directory, as a crash between report.json and the manifest leaves
    # it: every file but the manifest, and no ledger entry.
    reports = tmp_path / "reports"
    run_dir = reports / "quick" / original["run_id"]
    shutil.copytree(Path(original["report_dir"]), run_dir)
    (run_dir / "manifest.json").unlink()

    before = drill("evidence", "verify", "--reports-dir", str(reports))
    assert before.returncode == 1
    assert "has a report but no ledger entry" in before.stdout

    adopted = drill("evidence", "adopt", "--reports-dir", str(reports))
    assert adopted.returncode == 0, adopted.stderr
    assert "finalised as interrupted" in adopted.stdout

    verified = drill("evidence", "verify", "--reports-dir", str(reports))
    assert verified.returncode == 0, verified.stdout
    assert (run_dir / "manifest.json").is_file()
    report = json.loads((run_dir / "report.json").read_text())
    assert (report["status"], report["verdict"]) == ("interrupted", "aborted")
    assert report["findings"][0]["text"].startswith(
        "the run ended (completed) but drillkit died while writing its report"
    )
    # What the run measured is kept; only the verdict is withheld.
    assert report["measurements"]["rto"] == original["measurements"]["rto"]
    assert f"runs/quick/{original['run_id']}/report.json" in exported_names(reports, tmp_path)


def test_a_run_still_going_is_left_alone(tmp_path: Path) -> None:
    from drillkit.evidence.recording import FinaliseOutcome, finalise_interrupted_runs
    from drillkit.reporting.writer import write_run_started

    reports = tmp_path / "reports"
    # This process is alive: its run is still going.
    write_run_started(
        reports, drill="busy", run_id="20260101-000000-abcdef", started_utc=datetime.now(UTC)
    )

    (result,) = finalise_interrupted_runs(reports, signing_key=None)

    assert result.outcome is FinaliseOutcome.RUNNING
    assert read_ledger(reports) == []
    shown = drill("report", "show", "20260101-000000-abcdef", "--reports-dir", str(reports))
    assert shown.stderr.startswith(
        "drill: error: run 20260101-000000-abcdef of drill busy is still running (process "
    )


def test_the_timeline_kept_while_a_run_goes_holds_no_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drillkit.evidence.recording import RunRecording
    from drillkit.model.loading import load_drill
    from drillkit.model.timeline import ConditionObserved, Instant, RunStarted
    from drillkit.running.runner import RunOptions

    secret = "s3cr3t-value-of-the-database"
    monkeypatch.setenv("SHOP_DB_PASSWORD", secret)
    path = write_drill(tmp_path / "drills", "quick", QUICK_EXPERIMENT)
    recording = RunRecording(load_drill(path), RunOptions(), tmp_path / "reports")
    now = Instant(monotonic=10.0, utc=datetime.now(UTC))

    recording.on_event(RunStarted(at=now, run_id="20260101-000000-abcdef", drill="quick"))
    recording.on_event(
        ConditionObserved(at=now, holds=False, source="probe", detail=f"login {secret} refused")
    )

    run_dir = tmp_path / "reports" / "quick" / "20260101-000000-abcdef"
    kept = (run_dir / "timeline.jsonl").read_text()
    assert secret not in kept and "[redacted] refused" in kept
    assert secret not in (run_dir / "started.json").read_text()

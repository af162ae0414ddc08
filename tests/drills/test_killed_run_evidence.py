"""A drill killed mid-fault on the lab still becomes evidence, signed like any run.

``drill run pod-kill`` is SIGKILLed once its fault is injected. Until someone recovers,
``drill report show`` names the run in one line; ``drill recover`` then reverts the
cluster and finalises the run as interrupted from what it recorded until the kill, in
the ledger (signed with the team's key) and in the export. A second killed run is
finalised by the next ``drill run`` instead.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drillkit.evidence.ledger import RunEntry, read_ledger
from drillkit.lab.cluster import Lab
from tests.drills.support import (
    SHIPPED_DRILLS,
    BackgroundDrill,
    drill_environment,
    run_cli,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.lab

FAULT_INJECTED = "fault injected by kill-two-web-pods"


def drill_cli(lab: Lab, key: Path, *arguments: str) -> tuple[int, str, str]:
    completed = run_cli(drill_environment(lab, DRILL_SIGNING_KEY=str(key)), *arguments)
    return completed.returncode, completed.stdout, completed.stderr


def kill_mid_fault(lab: Lab, reports: Path, log: Path) -> str:
    """Start pod-kill, SIGKILL it once its fault is injected, return its run id."""
    run = BackgroundDrill(lab, SHIPPED_DRILLS / "pod-kill.yaml", reports, log)
    try:
        run.wait_for(FAULT_INJECTED)
    finally:
        run.kill()
    found = re.search(r"run (\S+) of drill pod-kill started", log.read_text())
    assert found is not None, log.read_text()
    return found[1]


def web_whole(lab: Lab) -> None:
    with lab.connect() as cluster:
        wait_until(
            "web 6/6 ready", lambda: cluster.deployment_ready_replicas("shop", "web") == (6, 6)
        )


def test_a_run_killed_mid_fault_is_reverted_reported_as_interrupted_entered_and_exported(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    key = tmp_path / "signing-key.pem"
    reports = tmp_path / "reports"
    code, _, stderr = drill_cli(scratch_lab, key, "evidence", "keygen", str(key))
    assert code == 0, stderr

    run_id = kill_mid_fault(scratch_lab, reports, tmp_path / "first.log")

    code, _, stderr = drill_cli(
        scratch_lab, key, "report", "show", run_id, "--reports-dir", str(reports)
    )
    assert code != 0 and "Traceback" not in stderr
    assert stderr.startswith(f"drill: error: run {run_id} of drill pod-kill ended without")
    assert len(stderr.splitlines()) == 1

    code, stdout, stderr = drill_cli(scratch_lab, key, "recover", "--reports-dir", str(reports))
    assert code == 0, stderr
    assert f"run pod-kill/{run_id} died before its report was complete: finalised" in stdout

    code, stdout, stderr = drill_cli(
        scratch_lab,
        key,
        "report",
        "show",
        run_id,
        "--reports-dir",
        str(reports),
        "-o",
        "json",
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    assert (report["status"], report["verdict"]) == ("interrupted", "aborted")
    assert report["findings"][0]["text"].startswith("the run was killed")
    # What it recorded until the kill: the fault landed, and when.
    assert report["recovery"]["injected_utc"] is not None
    assert report["objectives"]["rto"]["seconds"] == 30
    report_dir = reports / "pod-kill" / run_id
    timeline = (report_dir / "timeline.jsonl").read_text().splitlines()
    kinds = [json.loads(line)["kind"] for line in timeline]
    assert "fault_injected" in kinds and "run_finished" not in kinds

    entries = [line.entry for line in read_ledger(reports)]
    assert [
        (e.run_id, e.status, e.sig is not None) for e in entries if isinstance(e, RunEntry)
    ] == [(run_id, "interrupted", True)]
    code, stdout, _ = drill_cli(
        scratch_lab,
        key,
        "evidence", "verify", "--reports-dir", str(reports), "--public-key", f"{key}.pub",
    )  # fmt: skip
    assert code == 0, stdout
    today = datetime.now(UTC).date().isoformat()
    bundle = tmp_path / "bundle.zip"
    code, _, stderr = drill_cli(
        scratch_lab,
        key,
        "evidence", "export", "--reports-dir", str(reports),
        "--from", today, "--to", today, "--output-file", str(bundle),
    )  # fmt: skip
    assert code == 0, stderr
    with zipfile.ZipFile(bundle) as archive:
        assert f"runs/pod-kill/{run_id}/report.json" in archive.namelist()
        assert run_id in archive.read("index.csv").decode()

    # A second run killed the same way is finalised by the next drill run.
    web_whole(scratch_lab)
    second = kill_mid_fault(scratch_lab, reports, tmp_path / "second.log")
    web_whole(scratch_lab)
    code, stdout, stderr = drill_cli(
        scratch_lab,
        key,
        "run", "pod-kill", "--drills-dir", str(SHIPPED_DRILLS),
        "--reports-dir", str(reports), "--output", "json",
    )  # fmt: skip
    assert code in (0, 1), stderr
    assert f"run pod-kill/{second} died before its report was complete: finalised" in stderr
    statuses = {
        e.run_id: e.status for line in read_ledger(reports) if isinstance(e := line.entry, RunEntry)
    }
    assert statuses[second] == "interrupted"
    assert statuses[json.loads(stdout)["run_id"]] != "interrupted"
    code, stdout, _ = drill_cli(
        scratch_lab,
        key,
        "evidence", "verify", "--reports-dir", str(reports), "--public-key", f"{key}.pub",
    )  # fmt: skip
    assert code == 0, stdout

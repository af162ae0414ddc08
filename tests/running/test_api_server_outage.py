"""The API server dies in the middle of a zone-failure run and comes back: the run waits.

The lab's kube-apiserver is killed at a chosen point of a real ``drill run`` of the
zone-failure drill (right after the fault; during the rollbacks) and started again.
Without ``drill recover``, the run must then uncordon zone-a itself, resolve its undo
records, release the lock and write its report; and the time out of contact must be
recorded as a gap in observation, never as the recovery condition lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drillkit.lab.cluster import Lab
from drillkit.safety.lock import read_lock_holder
from drillkit.safety.undo import pending_undo
from tests.drills.support import (
    BackgroundDrill,
    drill_environment,
    run_cli,
    shipped,
    write_variant,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


def zone_failure_variant(
    directory: Path, *, rollback_gate: Path | None = None, rollback_deadline: str | None = None
) -> Path:
    # The default rollback deadline (5 minutes) outlasts the outages here by far.
    drill, experiment = shipped("zone-failure")
    if rollback_deadline is not None:
        drill["safety"]["rollback_deadline"] = rollback_deadline
    if rollback_gate is not None:
        # A first rollback step that waits for the test, so the API server is down
        # before the step that uncordons the zone runs.
        experiment["rollbacks"].insert(
            0,
            {
                "type": "action",
                "name": "wait-for-the-outage",
                "provider": {
                    "type": "process",
                    "path": "sh",
                    "arguments": f"-c 'while [ ! -f {rollback_gate} ]; do sleep 0.2; done'",
                    "timeout": 300,
                },
            },
        )
    return write_variant(directory, "zone-failure-outage", drill=drill, experiment=experiment)


def kill_api_server(lab: Lab) -> None:
    component = lab.component("kube-apiserver")
    component.kill()
    wait_until("the API server to be gone", lambda: not component.is_running())


def start_api_server(lab: Lab) -> None:
    component = lab.component("kube-apiserver")
    component.start()
    component.wait_ready()


def finished_report(drill: BackgroundDrill) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's report.json and its timeline, once ``drill run`` has ended."""
    stdout = drill.finish()
    assert stdout.strip(), f"no summary on stdout; progress:\n{drill.log.read_text()}"
    report_dir = Path(json.loads(stdout)["report_dir"])
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    lines = (report_dir / "timeline.jsonl").read_text().splitlines()
    return report, [json.loads(line) for line in lines]


def assert_cluster_reverted(lab: Lab) -> None:
    with lab.connect() as cluster:
        assert not [n.name for n in cluster.nodes() if n.unschedulable]
        assert pending_undo(cluster) == []
        assert read_lock_holder(cluster) is None


def test_the_api_server_lost_right_after_the_fault_is_a_gap_not_a_loss(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    path = zone_failure_variant(tmp_path / "drills")
    drill = BackgroundDrill(scratch_lab, path, tmp_path / "reports", tmp_path / "progress.log")
    drill.wait_for("fault injected by drain-zone-a")
    kill_api_server(scratch_lab)
    start_api_server(scratch_lab)

    _, timeline = finished_report(drill)
    assert_cluster_reverted(scratch_lab)
    kinds = [event["kind"] for event in timeline]
    assert "condition_unobserved" in kinds, kinds
    lost = [
        event for event in timeline if event["kind"] == "condition_observed" and not event["holds"]
    ]
    assert not [event for event in lost if "contact" in event.get("detail", "")], lost


def test_the_api_server_lost_during_the_rollbacks_is_waited_for(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    gate = tmp_path / "outage-started"
    path = zone_failure_variant(tmp_path / "drills", rollback_gate=gate)
    drill = BackgroundDrill(scratch_lab, path, tmp_path / "reports", tmp_path / "progress.log")
    drill.wait_for("action wait-for-the-outage started")
    kill_api_server(scratch_lab)
    gate.touch()
    # The uncordon rollback fails against the dead API server; the run retries.
    drill.wait_for("revert failed, retrying")
    start_api_server(scratch_lab)

    report, _ = finished_report(drill)
    assert_cluster_reverted(scratch_lab)
    assert report["drill"] == "zone-failure-outage"
    progress = drill.log.read_text()
    assert "safety net: run" in progress, progress


def test_an_outage_beyond_the_rollback_deadline_still_writes_the_report(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    gate = tmp_path / "outage-started"
    path = zone_failure_variant(tmp_path / "drills", rollback_gate=gate, rollback_deadline="5s")
    drill = BackgroundDrill(scratch_lab, path, tmp_path / "reports", tmp_path / "progress.log")
    drill.wait_for("action wait-for-the-outage started")
    kill_api_server(scratch_lab)
    gate.touch()

    # The API server stays down: the run gives up at its deadline, with a report.
    report, _ = finished_report(drill)
    assert drill.process.returncode == 3, drill.log.read_text()
    assert report["verdict"] == "error"
    assert "drill recover" in report["error"]
    start_api_server(scratch_lab)
    with scratch_lab.connect() as cluster:
        # What the run could not revert is still recorded, for drill recover.
        assert [n.name for n in cluster.nodes() if n.unschedulable]
        assert pending_undo(cluster)

    recovered = run_cli(drill_environment(scratch_lab), "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert_cluster_reverted(scratch_lab)

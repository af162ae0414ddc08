"""A run whose cluster lock is taken over says so: not "aborted by a guard".

A real ``drill run`` holds the lab's Lease while its method waits; the test takes the
Lease over as another run would. The run must stop, end its method's waiting command,
roll back (zone-a schedulable again) and report that the lock was lost and to whom,
with a ``lock_lost`` event in its timeline, though the drill declares no guard.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drillkit.drivers.cluster_state import LeaseClaim, read_lease, replace_lease
from drillkit.lab.cluster import Lab
from drillkit.safety.lock import LOCK_NAME, LOCK_NAMESPACE
from tests.drills.support import BackgroundDrill, shipped, write_variant
from tests.helpers import live_processes_marked, wait_until

pytestmark = pytest.mark.lab


def take_the_lock_over(lab: Lab, holder: str) -> None:
    with lab.connect() as cluster:
        current = wait_until(
            "the drill to hold the lock", lambda: read_lease(cluster, LOCK_NAMESPACE, LOCK_NAME)
        )
        now = datetime.now(UTC)
        replace_lease(
            cluster,
            LOCK_NAMESPACE,
            LOCK_NAME,
            LeaseClaim(holder=holder, duration_seconds=30, acquired_at=now, renewed_at=now),
            resource_version=current.resource_version,
        )


def test_a_run_whose_lock_is_taken_over_reports_the_lost_lock(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    drill, experiment = shipped("zone-failure")
    gate = tmp_path / "never-touched"
    # After the drain, the method waits (for a file nobody creates) while the lock is lost.
    experiment["method"].append(
        {
            "type": "action",
            "name": "wait-while-the-lock-is-lost",
            "provider": {
                "type": "process",
                "path": "sh",
                "arguments": f"-c 'while [ ! -f {gate} ]; do sleep 0.2; done'",
                "timeout": 600,
            },
        }
    )
    path = write_variant(tmp_path / "drills", "lost-lock", drill=drill, experiment=experiment)
    run = BackgroundDrill(scratch_lab, path, tmp_path / "reports", tmp_path / "progress.log")
    run.wait_for("action wait-while-the-lock-is-lost started")
    take_the_lock_over(scratch_lab, "another-run")

    summary = json.loads(run.finish())
    assert run.process.returncode == 1, run.log.read_text()
    assert summary["verdict"] == "aborted"
    assert "cluster lock was lost" in summary["findings"][0]
    assert "another-run" in summary["findings"][0]
    assert not any("guard" in finding for finding in summary["findings"])
    report_dir = Path(summary["report_dir"])
    kinds = [
        json.loads(line)["kind"]
        for line in (report_dir / "timeline.jsonl").read_text().splitlines()
    ]
    assert "lock_lost" in kinds
    assert "guard_tripped" not in kinds
    # The waiting command ended with the run: it must not outlive it.
    assert live_processes_marked(str(gate)) == [], run.log.read_text()
    with scratch_lab.connect() as cluster:
        assert not [n.name for n in cluster.nodes() if n.unschedulable]

"""drillkit's experiments stay Chaos Toolkit experiments: ``chaos run`` runs them unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from drillkit.lab.cluster import Lab
from tests.drills.support import SHIPPED_EXPERIMENTS, drill_environment

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", ["pod-kill", "zone-failure", "zone-outage"])
def test_shipped_experiments_run_unchanged_under_chaos_run(
    scratch_lab: Lab, tmp_path: Path, name: str
) -> None:
    chaos = Path(sys.executable).parent / "chaos"
    journal = tmp_path / "journal.json"
    result = subprocess.run(
        [
            str(chaos),
            "run",
            "--journal-path",
            str(journal),
            str(SHIPPED_EXPERIMENTS / f"{name}.yaml"),
        ],
        env=drill_environment(scratch_lab),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert journal.is_file(), result.stderr
    record = json.loads(journal.read_text())
    assert record["status"] == "completed", result.stderr
    assert record["steady_states"]["before"]["steady_state_met"] is True
    method = record["run"]
    assert method and all(run["status"] == "succeeded" for run in method), method
    output = method[0]["output"]
    assert output["drillkit_injected_at"] is not None, "the fault took effect"
    assert all(run["status"] == "succeeded" for run in record.get("rollbacks", []))
    with scratch_lab.connect() as cluster:
        assert not [n.name for n in cluster.nodes() if n.unschedulable], "rolled back"

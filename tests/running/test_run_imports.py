"""A run imports what it uses: a plain experiment that touches no cluster pays for no cloud,
no restore engine, no lab and no scheduler.

Each of those costs a ``drill run`` tenths of a second and tens of MiB before its first
activity; they are imported when a drill names a fault, a cluster or a schedule that
needs them. The run is the real command in a subprocess; a wrapper lists, as the
process ends, the modules it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.running.test_drill_run import DRILLS, environment

# Run drill as ``python -m drillkit.cli`` does, then write sys.modules' names to a file.
WRAPPER = """
import atexit, json, runpy, sys
listing = sys.argv.pop(1)
atexit.register(lambda: open(listing, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "drill"
runpy.run_module("drillkit.cli", run_name="__main__")
"""

# The document bench/plain_run.py times: a run that touches no cluster.
PLAIN_EXPERIMENT = DRILLS / "no-cluster-experiment.json"

NOT_NEEDED = (
    "boto3",
    "botocore",
    "s3transfer",
    "sqlalchemy",
    "apscheduler",
    "drillkit.faults.backup",
    "drillkit.faults.etcd",
    "drillkit.faults.platforms",
    "drillkit.restoring",
    "drillkit.lab.cluster",
    "drillkit.evidence.export",
    "drillkit.evidence.controls",
    "drillkit.scheduling",
)


def test_a_plain_experiment_imports_no_cloud_restore_lab_or_scheduler(tmp_path: Path) -> None:
    experiment = PLAIN_EXPERIMENT
    listing = tmp_path / "modules.json"
    arguments = ["run", str(experiment), "--output", "json"]
    arguments += ["--reports-dir", str(tmp_path / "reports")]

    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(listing), *arguments],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr  # no objective declared: unjudged
    assert json.loads(result.stdout)["status"] == "completed"
    imported = set(json.loads(listing.read_text()))
    assert "drillkit.reporting.chart" in imported  # the report and its chart were drawn
    assert [m for m in NOT_NEEDED if m in imported] == []

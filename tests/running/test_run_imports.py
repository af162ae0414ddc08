"""A run imports what it uses: a plain experiment that touches no cluster pays for no
Kubernetes client, no cloud, no restore engine, no lab and no scheduler.

Each of those costs a ``drill run`` tenths of a second and tens of MiB before its first
activity; they are imported when a drill names a fault, a cluster or a schedule that
needs them. The run is the real command in a subprocess; a wrapper lists, as the
process ends, the modules it imported.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import drill_command
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
    "kubernetes",
    "drillkit.drivers.kubernetes",
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


def test_a_plain_experiment_imports_no_kubernetes_cloud_restore_lab_or_scheduler(
    tmp_path: Path,
) -> None:
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


def test_a_plain_experiment_neither_contacts_nor_names_the_cluster_a_kubeconfig_points_at(
    tmp_path: Path,
) -> None:
    # A loopback listener standing for whatever cluster the user's kubeconfig names.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "prod",
                        "cluster": {"server": f"https://127.0.0.1:{listener.getsockname()[1]}"},
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "u"}}],
                "current-context": "prod",
            }
        )
    )
    try:
        result = subprocess.run(
            drill_command(
                *("run", str(PLAIN_EXPERIMENT), "-o", "json"),
                *("--reports-dir", str(tmp_path / "reports")),
            ),
            env=environment(tmp_path, KUBECONFIG=str(kubeconfig)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        try:
            listener.accept()[0].close()
            contacted = True
        except BlockingIOError:
            contacted = False
    finally:
        listener.close()

    assert result.returncode == 1, result.stderr
    assert not contacted, "the run connected to a cluster it does not act on"
    report_dir = Path(json.loads(result.stdout)["report_dir"])
    scope = json.loads((report_dir / "report.json").read_text())["scope"]
    assert (scope["cluster_server"], scope["kubernetes_version"]) == (None, None)

"""``drill run etcd-restore`` with every command on the host going through a real sshd.

This is how the drill runs against a real control plane: the experiment declares
an ``etcd`` target with an SSH executor instead of naming a lab. The host is this
machine (sshd on loopback, ``tests.sshd``), so the shipped runbook and its
``drill lab component`` commands work unchanged; an SSH session does not carry the
test's environment, so the executor declares where drillkit's state and the lab
binaries are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from drillkit.lab import build
from drillkit.lab.cluster import Lab
from tests.drills.support import DrillResult, run_drill, shipped, write_variant
from tests.helpers import wait_until
from tests.sshd import SshServer
from tests.sshd import sshd as sshd

pytestmark = pytest.mark.lab


def ssh_variant(directory: Path, lab: Lab, server: SshServer, drillkit_home: Path) -> Path:
    """The shipped drill, its target declared as an ``etcd`` mapping reached over SSH."""
    drill, experiment = shipped("etcd-restore")
    configuration = experiment["configuration"]
    configuration["etcd"] = {
        "members": [
            {
                "name": member.name,
                "data_dir": str(member.data_dir),
                "peer_url": member.peer_url,
                "client_url": member.client_url,
                "component": member.component,
            }
            for member in lab.etcd_members()
        ],
        "executor": {
            "type": "ssh",
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "identity_file": str(server.identity_file),
            "known_hosts_file": str(server.known_hosts_file),
            # etcdctl and etcdutl; `drill` itself, for `drill lab component`.
            "path": [str(build.binaries_dir()), str(Path(sys.executable).parent)],
            # Where `drill lab component` finds the lab and the binaries it starts.
            "environment": {
                "DRILLKIT_HOME": str(drillkit_home),
                "DRILLKIT_CACHE": str(build.cache_root()),
            },
        },
        "variables": {"lab": lab.shape.name, "snapshots": str(lab.directory / "snapshots")},
    }
    return write_variant(directory, "etcd-restore-ssh", drill=drill, experiment=experiment)


def logins(server: SshServer) -> int:
    return server.log_file.read_text().count(f"Accepted publickey for {server.user} ")


def timeline(result: DrillResult) -> list[dict[str, Any]]:
    lines = (result.report_dir / "timeline.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_the_restore_runbook_runs_over_ssh_and_brings_the_control_plane_back(
    scratch_lab: Lab, sshd: SshServer, drillkit_home: Path, tmp_path: Path
) -> None:
    variant = ssh_variant(tmp_path / "drills", scratch_lab, sshd, drillkit_home)
    logins_before = logins(sshd)

    result = run_drill(scratch_lab, variant, tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    steps = [e for e in timeline(result) if e["kind"] == "procedure_step"]
    assert {s["phase"] for s in steps} == {"kill", "stop", "restore", "start"}
    assert all(s["executor"] == f"ssh {sshd.user}@127.0.0.1:{sshd.port}" for s in steps), [
        s["executor"] for s in steps
    ]
    assert all(s["exit_code"] == 0 for s in steps)
    # The snapshot was taken over SSH as well, into the lab's directory on the host.
    snapshot = result.journal()["run"][0]["output"]["snapshot"]
    assert Path(snapshot["path"]).parent == scratch_lab.directory / "snapshots"
    rpo = result.report()["measurements"]["rpo"]
    assert rpo["seconds"] is not None
    assert rpo["markers_lost"] > 0
    # Every step was a session of this sshd, logged in with the test's key.
    assert logins(sshd) - logins_before >= len(steps)
    assert not list(scratch_lab.directory.glob("etcd.drillkit-kept-*"))
    with scratch_lab.connect() as cluster:
        assert cluster.api_server_ready()

        def web_available() -> bool:
            ready, desired = cluster.deployment_ready_replicas("shop", "web")
            return ready == desired > 0

        wait_until("shop/web to be available again", web_available)

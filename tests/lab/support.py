"""Helpers for tests on a lab's real node: its kubectl, the processes of its pods, and a
PersistentVolume on its file system."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from drillkit.lab import build, node
from drillkit.lab.cluster import Lab

CGROUPS = Path("/sys/fs/cgroup")


def kubectl(
    lab: Lab, *arguments: str, given: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The lab's kubectl as its administrator; ``given`` is its standard input."""
    command = [str(build.binaries_dir() / "kubectl"), "--kubeconfig", str(lab.kubeconfig)]
    return subprocess.run(
        [*command, "--context", lab.admin_context, *arguments],
        input=given,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def kubectl_json(lab: Lab, *arguments: str) -> dict[str, Any]:
    listed = kubectl(lab, *arguments, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    return dict(json.loads(listed.stdout))


def pod_processes(lab: Lab) -> dict[int, str]:
    """pid -> command line of every process in a pod of the lab's real node (in its
    kubelet's cgroup root)."""
    assert lab.real_node is not None
    found = {}
    for procs in (CGROUPS / "pids" / lab.real_node.cgroup_name).rglob("cgroup.procs"):
        for line in procs.read_text().split():
            try:
                command = Path(f"/proc/{line}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            found[int(line)] = command.replace(b"\0", b" ").decode().strip()
    return found


def real_node_state(lab: Lab) -> dict[str, Any]:
    (item,) = kubectl_json(lab, "get", "nodes", "-l", f"{node.REAL_NODE_LABEL}=true")["items"]
    return dict(item)


def host_volume(directory: Path, volume: str, claim: str, namespace: str) -> list[dict[str, Any]]:
    """PersistentVolume ``volume`` on the real node's file system (``directory``), and the
    claim ``namespace/claim`` bound to it."""
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                # Whichever mode the claim asks for: one node shares one directory.
                "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": claim},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]

"""A lab with a real node (``drill lab up --real-nodes 1``): kubelet, containerd and runc on
this machine, joined to the lab's control plane.

One lab for the module: the tests read it, run drills on it, run drillkit's own image on it
from an exported CronJob, and the last takes it down and looks for anything left behind.
While they run, every TCP connection of the lab's processes and of the node's pods is
collected, and none may leave this machine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drillkit.lab import node
from drillkit.lab.cluster import Lab
from tests.conftest import start_lab
from tests.drills.support import REPOSITORY, drill_environment, run_cli, run_drill
from tests.helpers import log_progress, wait_until
from tests.image.archive import TAG
from tests.lab.support import (
    CGROUPS,
    host_volume,
    kubectl,
    kubectl_json,
    pod_processes,
    real_node_state,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def real_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    lab = start_lab(f"real-{uuid.uuid4().hex[:6]}", zones=1, nodes_per_zone=2, real_nodes=1)
    yield lab
    lab.down(log_progress)
    lab.purge()


@pytest.fixture(scope="module")
def connections(real_lab: Lab) -> Iterator[set[tuple[str, str]]]:
    """(process, remote address) of every connection seen in the module's lab and pods."""
    seen: set[tuple[str, str]] = set()
    yield seen


def lab_processes(lab: Lab) -> dict[int, str]:
    pids = {c.pid(): c.name for c in lab.components()}
    return {pid: name for pid, name in pids.items() if pid is not None}


def remote_addresses(pid: int) -> set[str]:
    """The remote addresses of the TCP connections one process holds (by its sockets'
    inodes in its network namespace's tables); listening sockets have none."""
    try:
        inodes = {
            os.readlink(fd).removeprefix("socket:[").removesuffix("]")
            for fd in Path(f"/proc/{pid}/fd").iterdir()
            if os.readlink(fd).startswith("socket:[")
        }
    except (FileNotFoundError, ProcessLookupError):
        return set()
    remotes = set()
    for table, family in (("tcp", 4), ("tcp6", 6)):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if inode in inodes and state != "0A":  # 0A: LISTEN
                remotes.add(_address(remote.split(":")[0], family))
    return remotes


def _address(hexadecimal: str, family: int) -> str:
    raw = bytes.fromhex(hexadecimal)
    # /proc/net/tcp prints each 32-bit word in host (little-endian) order.
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    packed = b"".join(words)
    return str(ipaddress.IPv4Address(packed) if family == 4 else ipaddress.IPv6Address(packed))


def own_addresses() -> set[str]:
    """This machine's own addresses, of every interface."""
    listed = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True)
    return {a["local"] for link in json.loads(listed.stdout) for a in link.get("addr_info", [])}


def collect_connections(lab: Lab, seen: set[tuple[str, str]]) -> None:
    for pid, name in {**lab_processes(lab), **pod_processes(lab)}.items():
        seen.update((name, remote) for remote in remote_addresses(pid))


def test_the_real_node_joins_tainted_and_runs_web_real_in_a_real_container(
    real_lab: Lab, connections: set[tuple[str, str]]
) -> None:
    state = real_node_state(real_lab)
    assert state["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    assert {"key": node.REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"} in state["spec"][
        "taints"
    ]
    pods = kubectl_json(real_lab, "get", "pods", "-n", "shop")["items"]
    on_real = [p for p in pods if p["spec"].get("nodeName") == state["metadata"]["name"]]
    # The kwok seed stays on kwok nodes; only web-real runs on the real node.
    assert [p["metadata"]["labels"]["app"] for p in on_real] == ["web-real"]
    (container,) = on_real[0]["status"]["containerStatuses"]
    assert container["containerID"].startswith("containerd://")
    servers = [cmd for cmd in pod_processes(real_lab).values() if cmd.startswith("/labserve serve")]
    assert real_lab.real_node is not None
    address = real_lab.real_node.web_address
    assert servers == [f"/labserve serve {address}"]
    with urllib.request.urlopen(f"http://{address}/", timeout=10) as response:
        assert response.read() == b"ok\n"
    # The API server reaches the kubelet (logs) by the node's host name, on loopback.
    logs = kubectl(real_lab, "logs", "-n", "shop", "deployment/web-real")
    assert logs.returncode == 0, logs.stderr
    assert f"serving on {address}" in logs.stdout
    status = run_cli(
        drill_environment(real_lab), "lab", "status", "--name", real_lab.shape.name, "-o", "json"
    )
    (document,) = json.loads(status.stdout)
    assert document["real_nodes"] == [{"name": state["metadata"]["name"], "ready": True}]
    assert {c["name"] for c in document["components"]} >= {"containerd", "kubelet"}
    collect_connections(real_lab, connections)


def test_pod_kill_real_recovers_only_after_a_new_container_started(
    real_lab: Lab, tmp_path: Path, connections: set[tuple[str, str]]
) -> None:
    before = {
        pid for pid, cmd in pod_processes(real_lab).items() if cmd.startswith("/labserve serve")
    }

    result = run_drill(real_lab, REPOSITORY / "drills" / "pod-kill-real.yaml", tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    timeline = result.timeline()
    (fault,) = [e for e in timeline if e["kind"] == "fault_injected"]
    recovery = result.report()["recovery"]
    assert recovery["disruption_observed"] is True
    recovered = fault["monotonic"] + recovery["t_restored_seconds"]
    (server,) = [
        pid
        for pid, cmd in pod_processes(real_lab).items()
        if cmd.startswith("/labserve serve") and pid not in before
    ]
    started = process_start_monotonic(server)
    # The replacement's process started after the fault and before the drill saw the
    # workload recovered: the RTO includes a real container's start. /proc counts process
    # starts in clock ticks, hence the one-tick allowance.
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert fault["monotonic"] - tick <= started <= recovered
    collect_connections(real_lab, connections)


def process_start_monotonic(pid: int) -> float:
    """When a process started, on this process's monotonic clock."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    since_boot = ticks / os.sysconf("SC_CLK_TCK")
    # /proc's start times count from boot (CLOCK_BOOTTIME); the timeline's from
    # CLOCK_MONOTONIC. They differ by the time the machine was suspended.
    offset = time.clock_gettime(time.CLOCK_BOOTTIME) - time.monotonic()
    return since_boot - offset


def test_a_cronjob_runs_drillkit_s_image_on_the_real_node_and_keeps_its_evidence(
    real_lab: Lab, image_archive: Path, tmp_path: Path, connections: set[tuple[str, str]]
) -> None:
    environment = drill_environment(real_lab)
    name = real_lab.shape.name
    loaded = run_cli(environment, "lab", "load-image", str(image_archive), "--name", name)
    assert loaded.returncode == 0, loaded.stderr
    database = f"sqlite:///{tmp_path / 'scheduler.db'}"
    drills = str(REPOSITORY / "drills")
    added = run_cli(
        environment, "schedule", "add", "pod-kill", "--drills-dir", drills,
        "--cron", "0 3 1 1 *", "--database", database,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    manifests = tmp_path / "cronjobs.yaml"
    exported = run_cli(
        environment, "schedule", "export", "pod-kill", "--drills-dir", drills,
        "--database", database, "--image", TAG, "--api-server", real_lab.api_server_url,
        "--node-selector", f"{node.REAL_NODE_LABEL}=true",
        "--toleration", f"{node.REAL_NODE_LABEL}=true:NoSchedule",
        "--reports-claim", "drill-evidence", "--output-file", str(manifests),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    os.chown(evidence, 65532, 65532)
    applied = kubectl(real_lab, "apply", "-f", str(manifests))
    assert applied.returncode == 0, applied.stderr
    claim = kubectl(
        real_lab,
        "apply",
        "-f",
        "-",
        given=yaml.safe_dump_all(
            host_volume(evidence, f"evidence-{name}", "drill-evidence", "drillkit")
        ),
    )
    assert claim.returncode == 0, claim.stderr

    created = kubectl(
        real_lab, "create", "job", "-n", "drillkit", "pod-kill-now", "--from=cronjob/drill-pod-kill"
    )
    assert created.returncode == 0, created.stderr

    def finished() -> str | None:
        collect_connections(real_lab, connections)
        job = kubectl_json(real_lab, "get", "job", "-n", "drillkit", "pod-kill-now")
        for condition in job["status"].get("conditions", []):
            if condition["status"] == "True" and condition["type"] in ("Complete", "Failed"):
                return str(condition["type"])
        return None

    outcome = wait_until("the CronJob's Job to finish", finished, timeout=300)
    logs = kubectl(real_lab, "logs", "-n", "drillkit", "job/pod-kill-now")
    assert outcome == "Complete", logs.stdout + logs.stderr
    (pod,) = kubectl_json(real_lab, "get", "pods", "-n", "drillkit", "-l", "job-name=pod-kill-now")[
        "items"
    ]
    assert pod["spec"]["nodeName"] == real_node_state(real_lab)["metadata"]["name"]
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    summary = json.loads(logs.stdout.strip().splitlines()[-1])
    assert summary["verdict"] == "met"
    # The report and the ledger outlive the pod, on the claim.
    (report,) = (evidence / "reports" / "pod-kill").glob("*/report.json")
    assert json.loads(report.read_text())["verdict"] == "met"
    ledgers = list(evidence.rglob("ledger.jsonl"))
    assert ledgers and any(summary["run_id"] in path.read_text() for path in ledgers)


def test_no_connection_of_the_lab_or_its_pods_left_this_machine(
    real_lab: Lab, connections: set[tuple[str, str]]
) -> None:
    collect_connections(real_lab, connections)
    allowed = own_addresses()
    # The tests before this one saw the lab and its pods at work: the set is not empty.
    assert {name for name, _ in connections} >= {"kube-apiserver", "kubelet"}
    outside = {
        (name, remote)
        for name, remote in connections
        if not ipaddress.ip_address(remote).is_loopback and remote not in allowed
    }
    assert outside == set()


def test_down_leaves_no_process_mount_cgroup_or_file_of_the_real_node(real_lab: Lab) -> None:
    real_node = real_lab.real_node
    assert real_node is not None
    assert pod_processes(real_lab)

    real_lab.down(log_progress)

    assert not any((h / real_node.cgroup_name).exists() for h in CGROUPS.iterdir())
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(real_node.directory) not in mounts and str(real_node.run_dir) not in mounts
    assert not real_node.directory.exists() and not real_node.run_dir.exists()
    leftovers = [
        pid
        for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
        if _mentions(pid, (str(real_lab.directory), str(real_node.run_dir), "/labserve"))
    ]
    assert leftovers == []
    assert not Path("/sys/class/net", real_node.bridge).exists()


def _mentions(pid: int, texts: tuple[str, ...]) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(text in command for text in texts)

"""Labs of their own: outages, etcd restores, restarts, teardown, loopback only."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from drillkit.errors import LabError
from drillkit.lab import build
from drillkit.lab.cluster import Lab
from tests.helpers import drill_command, wait_until

pytestmark = pytest.mark.lab

UNREACHABLE_TAINTS = {
    "node.kubernetes.io/unreachable:NoSchedule",
    "node.kubernetes.io/unreachable:NoExecute",
}


def test_stopping_a_zones_kwok_is_detected_by_node_lifecycle_and_restart_recovers(
    scratch_lab: Lab,
) -> None:
    kwok_a = scratch_lab.zone_component("zone-a")
    with scratch_lab.connect() as cluster:
        kwok_a.kill()

        def zone_a_lost() -> bool:
            nodes = [n for n in cluster.nodes() if n.zone == "zone-a"]
            return all(not n.ready and set(n.taints) >= UNREACHABLE_TAINTS for n in nodes)

        wait_until("zone-a nodes NotReady with unreachable taints", zone_a_lost)
        others = [n for n in cluster.nodes() if n.zone != "zone-a"]
        assert all(n.ready and not n.taints for n in others)

        assert scratch_lab.start_zones(["zone-a"], cluster) == ["kwok-zone-a"]

        def zone_a_back() -> bool:
            nodes = [n for n in cluster.nodes() if n.zone == "zone-a"]
            return all(n.ready and not (UNREACHABLE_TAINTS & set(n.taints)) for n in nodes)

        wait_until("zone-a nodes Ready again without taints", zone_a_back)


def test_etcd_snapshot_restore_brings_back_the_snapshots_objects(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    binaries = build.binaries_dir()
    endpoint = f"http://127.0.0.1:{scratch_lab.config.ports['etcd-client']}"
    peer = f"http://127.0.0.1:{scratch_lab.config.ports['etcd-peer']}"
    snapshot = tmp_path / "snapshot.db"

    def configmap(name: str) -> client.V1ConfigMap:
        return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"k": name})

    with scratch_lab.connect() as cluster:
        cluster.core.create_namespaced_config_map("default", configmap("before-snapshot"))
        # Saved online: the API server keeps serving while etcdctl streams the snapshot.
        subprocess.run(
            [binaries / "etcdctl", f"--endpoints={endpoint}", "snapshot", "save", snapshot],
            check=True,
            capture_output=True,
        )
        cluster.core.create_namespaced_config_map("default", configmap("after-snapshot"))
        assert cluster.core.list_namespace().items

    # The documented order: stop the API server and etcd, restore into a fresh
    # data directory with a bumped revision, swap, start etcd, then everything else.
    components = scratch_lab.components()
    for component in reversed(components):
        component.stop()
    restored = scratch_lab.directory / "etcd.restored"
    subprocess.run(
        [
            binaries / "etcdutl",
            "snapshot",
            "restore",
            snapshot,
            f"--data-dir={restored}",
            "--name=etcd-0",
            f"--initial-cluster=etcd-0={peer}",
            f"--initial-advertise-peer-urls={peer}",
            "--bump-revision=1000000000",
            "--mark-compacted",
        ],
        check=True,
        capture_output=True,
    )
    data = scratch_lab.directory / "etcd"
    data.rename(scratch_lab.directory / "etcd.old")
    restored.rename(data)
    for component in components:
        component.start()
        component.wait_ready()

    with scratch_lab.connect() as cluster:
        names = {c.metadata.name for c in cluster.core.list_namespaced_config_map("default").items}
        assert "before-snapshot" in names
        assert "after-snapshot" not in names
        wait_until(
            "all 6 nodes Ready after the restore", lambda: all(n.ready for n in cluster.nodes())
        )


def test_up_on_a_running_lab_is_a_no_op_and_a_dead_component_is_restarted(
    scratch_lab: Lab,
) -> None:
    pids = {c.name: c.pid() for c in scratch_lab.components()}
    assert scratch_lab.up(lambda _: None) is False
    assert {c.name: c.pid() for c in scratch_lab.components()} == pids

    scratch_lab.component("kube-scheduler").kill()
    assert scratch_lab.up(lambda _: None) is True
    status = scratch_lab.status()
    assert status.running
    assert all(c.ready for c in status.components)
    assert status.nodes_per_zone() == {"zone-a": (2, 2), "zone-b": (2, 2), "zone-c": (2, 2)}


def test_a_kwok_that_exits_while_starting_is_started_again_then_given_up_on(
    scratch_lab: Lab,
) -> None:
    kwok = scratch_lab.zone_component("zone-a")
    kubeconfig = scratch_lab.directory / "kubeconfigs" / "kwok.yaml"
    good = kubeconfig.read_text()
    kwok.kill()
    # A kwok that cannot even read its kubeconfig exits at once, every time.
    kubeconfig.write_text("not: [a kubeconfig")
    said: list[str] = []
    with scratch_lab.connect() as cluster:
        with pytest.raises(LabError, match="kwok-zone-a keeps exiting while it starts"):
            scratch_lab.start_zones(["zone-a"], cluster, said.append)
        assert said.count("kwok-zone-a exited while starting; starting it again") == 2

        kubeconfig.write_text(good)
        started = scratch_lab.start_zones(["zone-a", "zone-b"], cluster)

        assert started == ["kwok-zone-a"]
        zone_a = cluster.nodes("topology.kubernetes.io/zone=zone-a")
        assert zone_a and all(n.ready for n in zone_a)
    assert kwok.is_ready()


def test_lab_processes_use_loopback_only(scratch_lab: Lab) -> None:
    with scratch_lab.connect() as cluster:
        # Some traffic through every path: API, controllers reacting, kwok updating pods.
        pod = cluster.core.list_namespaced_pod("shop").items[0]
        cluster.core.delete_namespaced_pod(pod.metadata.name, "shop")
    pids = [c.pid() for c in scratch_lab.components()]
    addresses = set()
    for pid in pids:
        assert pid is not None
        addresses |= socket_addresses(pid)
    assert addresses, "lab processes hold TCP sockets"
    outside = {a for a in addresses if not a.is_loopback}
    assert not outside, f"lab sockets outside loopback: {outside}"


def socket_addresses(pid: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local and remote addresses of every TCP socket a process holds, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            # A listening socket (state 0A) has no peer; its "remote" reads 0.0.0.0:0.
            endpoints = [fields[1]] if fields[3] == "0A" else [fields[1], fields[2]]
            for endpoint in endpoints:
                found.add(_decode_address(endpoint.split(":")[0], width))
    return found


def _decode_address(hex_address: str, width: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) byte order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if width == 32 and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def test_cli_lab_up_status_kubeconfig_down_leaves_no_process_or_port(
    drillkit_home: Path, lab_binaries: Path
) -> None:
    drill = drill_command("lab")
    name = ["--name", "cli-lab"]
    up = subprocess.run(
        [*drill, "up", *name, "--zones", "2", "--nodes-per-zone", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert "zone-a                   1/1 nodes Ready" in up.stdout
    again = subprocess.run(
        [*drill, "up", *name, "--zones", "2", "--nodes-per-zone", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "already running" in again.stdout

    kubeconfig = subprocess.run(
        [*drill, "kubeconfig", *name], capture_output=True, text=True, check=True
    )
    path = Path(kubeconfig.stdout.strip().splitlines()[-1])
    assert path.is_file()
    lab = Lab.open("cli-lab")
    assert path == lab.kubeconfig
    pids = [c.pid() for c in lab.components()]
    ports = [p for c in lab.components() for p in c.ports]
    assert all(pids)

    down = subprocess.run([*drill, "down", *name], capture_output=True, text=True, check=False)
    assert down.returncode == 0, down.stderr
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"pid {pid} still runs"
    listening = _listening_ports()
    assert not set(ports) & listening, "a lab port is still listening after down"

    status = subprocess.run([*drill, "status", *name], capture_output=True, text=True, check=True)
    assert "stopped" in status.stdout
    subprocess.run([*drill, "down", *name, "--purge"], check=True, capture_output=True)
    assert not lab.directory.exists()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].split(":")[1], 16))
    return ports


def test_a_failed_build_names_the_module_and_package(tmp_path: Path) -> None:
    from drillkit.errors import BuildFailed

    broken = build.GoBinary(name="nothing", module="kwok", package="sigs.k8s.io/kwok/cmd/nosuch")
    with pytest.raises(BuildFailed) as failure:
        build._go_build("go", broken, tmp_path)
    message = str(failure.value)
    assert "module lab/kwok" in message
    assert "sigs.k8s.io/kwok/cmd/nosuch" in message


def test_the_runner_is_refused_what_rbac_does_not_grant_even_after_restart(
    scratch_lab: Lab,
) -> None:
    with scratch_lab.connect(admin=False) as runner, pytest.raises(ApiException) as refused:
        runner.core.list_namespaced_secret("kube-system")
    assert refused.value.status == 403

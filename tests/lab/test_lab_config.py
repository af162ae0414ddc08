"""``lab.json``, the file a lab is reopened from: written once at creation, read back by
every later command, including labs created by earlier versions. No component starts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.lab.cluster import Lab, LabShape, seed_manifests
from tests.helpers import drill_command

OLD_LAB_JSON = """{
  "shape": {
    "name": "east",
    "region": "east",
    "zones": 2,
    "nodes_per_zone": 1,
    "etcd_members": 1,
    "seed": false
  },
  "ports": {
    "etcd-client": 41001,
    "etcd-peer": 41002,
    "kube-apiserver": 41003,
    "kube-controller-manager": 41004,
    "kube-scheduler": 41005,
    "kwok-zone-a": 41006,
    "kwok-zone-b": 41007
  }
}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path))
    return tmp_path


def test_a_lab_written_before_reopens_with_its_shape_and_ports(home: Path) -> None:
    (home / "labs" / "east").mkdir(parents=True)
    (home / "labs" / "east" / "lab.json").write_text(OLD_LAB_JSON)

    lab = Lab.open("east")

    assert lab.shape == LabShape(name="east", region="east", zones=2, nodes_per_zone=1, seed=False)
    assert lab.config.ports["kube-apiserver"] == 41003
    assert lab.api_server_url == "https://127.0.0.1:41003"


def test_a_new_lab_writes_its_shape_then_its_ports(home: Path) -> None:
    lab = Lab.create(LabShape(name="east", region="east", zones=2, nodes_per_zone=1, seed=False))
    old_ports = json.loads(OLD_LAB_JSON)["ports"]

    # The same text as before, but for the free ports this lab was given and the shape's
    # newer fields, written with their defaults.
    expected = OLD_LAB_JSON.replace(
        '"seed": false', '"seed": false,\n    "seed_replicas": 6,\n    "real_nodes": 0'
    )
    for name, port in lab.config.ports.items():
        expected = expected.replace(f'"{name}": {old_ports[name]}', f'"{name}": {port}')
    assert list(lab.config.ports) == list(old_ports)
    assert (home / "labs" / "east" / "lab.json").read_text() == expected
    assert Lab.open("east").config == lab.config


def test_a_lab_with_a_real_node_gets_ports_for_its_kubelet_containerd_and_web_real(
    home: Path,
) -> None:
    lab = Lab.create(LabShape(name="real", region="real", zones=1, real_nodes=1))

    assert {"kubelet", "kubelet-healthz", "containerd-metrics", "web-real"} <= set(lab.config.ports)
    assert len(set(lab.config.ports.values())) == len(lab.config.ports)
    assert Lab.open("real").real_node is not None
    assert Lab.create(LabShape(name="kwok", region="kwok")).real_node is None


def test_a_lab_refuses_a_second_real_node(home: Path) -> None:
    with pytest.raises(InvalidInput, match="at most 1 real node"):
        Lab.create(LabShape(name="real", region="real", real_nodes=2))

    assert not (home / "labs" / "real").exists()


def test_load_image_into_a_lab_without_a_real_node_is_refused_naming_the_fix(
    home: Path, tmp_path: Path
) -> None:
    Lab.create(LabShape(name="east", region="east"))
    archive = tmp_path / "image.oci.tar"
    archive.write_bytes(b"")

    result = subprocess.run(
        drill_command("lab", "load-image", str(archive), "--name", "east"),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr == (
        "drill: error: lab 'east' has no real node to load an image into; "
        "create one with: drill lab up --name east --real-nodes 1\n"
    )


@pytest.mark.parametrize(
    ("replicas", "min_available"), [(1, 0), (2, 1), (3, 2), (6, 4), (240, 160), (3006, 2004)]
)
def test_the_seed_budget_keeps_two_thirds_of_its_replicas_and_allows_at_least_one_eviction(
    replicas: int, min_available: int
) -> None:
    by_kind = {m["kind"]: m for m in seed_manifests(replicas)}

    assert by_kind["Deployment"]["spec"]["replicas"] == replicas
    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == min_available


def test_a_seed_larger_than_the_nodes_hold_is_refused_before_the_lab_exists(home: Path) -> None:
    result = subprocess.run(
        drill_command(
            "lab", "up", "--name", "tight", "--nodes-per-zone", "2", "--seed-replicas", "49"
        ),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr == (
        "drill: error: the seed's shop/web needs 1 to 48 replicas on 3 zones x 2 nodes "
        "(8 fit on a node), not 49\n"
    )
    assert not (home / "labs" / "tight").exists()

"""``lab.json``, the file a lab is reopened from: written once at creation, read back by
every later command, including labs created by earlier versions. No component starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillkit.lab.cluster import Lab, LabShape

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

    # The same text as before, but for the free ports this lab was given.
    expected = OLD_LAB_JSON
    for name, port in lab.config.ports.items():
        expected = expected.replace(f'"{name}": {old_ports[name]}', f'"{name}": {port}')
    assert list(lab.config.ports) == list(old_ports)
    assert (home / "labs" / "east" / "lab.json").read_text() == expected
    assert Lab.open("east").config == lab.config

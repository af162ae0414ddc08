"""Which lab a connection reaches: by the API server's URL and the CA it trusts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from drillkit.drivers.kubernetes import ClusterIdentity
from drillkit.errors import InvalidInput
from drillkit.faults.clusters import ensure_distinct_regions
from drillkit.lab.cluster import Lab, LabShape, find_lab, lab_reached_by


@pytest.fixture
def labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Lab, Lab]:
    """Two lab directories (never started) with a CA each, in a state home of the test's own."""
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path / "home"))
    made = []
    for name in ("region-a", "region-b"):
        lab = Lab.create(LabShape(name=name, region=name))
        lab.ca_file.parent.mkdir(parents=True)
        lab.ca_file.write_bytes(f"-----BEGIN CERTIFICATE-----\n{name}\n".encode())
        made.append(lab)
    return made[0], made[1]


def identity_of(lab: Lab, *, ca: bytes | None = None) -> ClusterIdentity:
    digest = hashlib.sha256(ca if ca is not None else lab.ca_file.read_bytes()).hexdigest()
    return ClusterIdentity(server=lab.api_server_url, ca_sha256=digest, kube_system_uid=None)


def test_the_lab_is_the_one_whose_api_server_and_ca_the_connection_has(
    labs: tuple[Lab, Lab],
) -> None:
    region_a, _ = labs

    for lab in labs:
        found = find_lab(identity_of(lab))
        assert found is not None and found.shape.name == lab.shape.name
    # The same port with another CA: a lab recreated since, or another cluster.
    assert find_lab(identity_of(region_a, ca=b"another CA")) is None
    assert (
        find_lab(
            ClusterIdentity(server=region_a.api_server_url, ca_sha256=None, kube_system_uid=None)
        )
        is None
    )


def test_a_lab_named_elsewhere_is_refused_naming_both(labs: tuple[Lab, Lab]) -> None:
    region_a, _ = labs

    assert lab_reached_by(identity_of(region_a), named="region-a").shape.name == "region-a"
    with pytest.raises(InvalidInput, match=r"lab 'region-b' .* is lab 'region-a'"):
        lab_reached_by(identity_of(region_a), named="region-b")
    unknown = ClusterIdentity(
        server="https://127.0.0.1:1", ca_sha256="0" * 64, kube_system_uid=None
    )
    with pytest.raises(InvalidInput, match=r"https://127.0.0.1:1 is not a drill lab"):
        lab_reached_by(unknown)


def test_a_restore_into_the_region_the_disaster_stops_is_refused() -> None:
    region_a = ClusterIdentity(
        server="https://127.0.0.1:6443", ca_sha256="a" * 64, kube_system_uid="uid-a"
    )
    same_cluster_by_uid = ClusterIdentity(
        server="https://127.0.0.2:6443", ca_sha256="b" * 64, kube_system_uid="uid-a"
    )
    region_b = ClusterIdentity(
        server="https://127.0.0.1:7443", ca_sha256="b" * 64, kube_system_uid="uid-b"
    )

    ensure_distinct_regions(region_a, region_b)
    for same in (region_a, same_cluster_by_uid):
        with pytest.raises(InvalidInput, match=r"region B .* is the cluster the run measures"):
            ensure_distinct_regions(region_a, same)

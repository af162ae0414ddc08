"""Shared fixtures: one lab per test session, a namespace per test, and scratch labs.

Lab tests run against real components: the lab's etcd, kube-apiserver,
controller manager, scheduler and kwok. The binaries are built (or found in the
cache) once; the shared lab lives in a temporary DRILLKIT_HOME so a developer's
own labs are never touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from drillkit.lab import build
from drillkit.lab.cluster import Lab, LabShape
from tests.helpers import log_progress
from tests.image.archive import ensure_archive
from tests.minio import MinioServer, minio_binary, running_minio


@pytest.fixture(scope="session")
def drillkit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("drillkit-home")
    previous = os.environ.get("DRILLKIT_HOME")
    os.environ["DRILLKIT_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("DRILLKIT_HOME", None)
    else:
        os.environ["DRILLKIT_HOME"] = previous


@pytest.fixture(scope="session")
def lab_binaries() -> Path:
    """Build the lab binaries once (minutes when the cache is cold, instant when warm)."""
    return build.ensure_binaries(log_progress)


def start_lab(name: str, **shape: Any) -> Lab:
    lab = Lab.create(LabShape(name=name, region=name, **shape))
    lab.up(log_progress)
    return lab


@contextmanager
def running_lab(name: str, **shape: Any) -> Iterator[Lab]:
    """A lab of the caller's own, stopped and deleted afterwards."""
    lab = start_lab(name, **shape)
    try:
        yield lab
    finally:
        lab.down(log_progress)
        lab.purge()


@pytest.fixture(scope="session")
def lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    """The lab shared by non-destructive tests: 3 zones x 2 nodes, seeded with shop/web."""
    shared = start_lab("shared")
    yield shared
    shared.down(log_progress)


@pytest.fixture
def scratch_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    """A lab of the test's own, for destructive tests (outages, restores, kills)."""
    with running_lab(f"scratch-{uuid.uuid4().hex[:6]}") as own:
        yield own


@pytest.fixture
def namespace(lab: Lab) -> Iterator[str]:
    """A fresh namespace in the shared lab, deleted after the test; drills target it, so
    drillkit-runner may delete and evict pods there (deploy/rbac.yaml's per-namespace
    binding)."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    with lab.connect() as cluster:
        cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    lab.grant("drillkit-runner", [name])
    yield name
    with lab.connect() as cluster:
        cluster.core.delete_namespace(name)


@pytest.fixture(scope="session")
def image_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OCI archive of this tree's drillkit (scripts/image), built once per tree."""
    return ensure_archive(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """MinIO on 127.0.0.1 for the whole session, shared by the backup and evidence tests
    (built once from the Go module proxy, cached)."""
    binary = minio_binary(log_progress)
    with running_minio(binary, tmp_path_factory.mktemp("minio")) as server:
        yield server

"""Fixtures for backup tests: object stores (a directory, and S3 on moto's server on
loopback), and two labs side by side, region-a and region-b.

moto runs as its own process on 127.0.0.1 and a free port; nothing can reach AWS
(dummy credentials, no shared config files, no instance metadata).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.drivers.objectstore import LocalStore, ObjectStore, S3Store
from tests.faults.test_aws_outage import STARTUP_DEADLINE, free_port, wait_for_port


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone server on 127.0.0.1; its URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto-s3") / "server.log"
    with (
        log.open("wb") as output,
        subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as process,
    ):
        try:
            wait_for_port(port, process, STARTUP_DEADLINE)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and nothing that could send a client to real AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def s3_url(s3_endpoint: str, aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on moto; the URL of a prefix in it. DRILLKIT_S3_ENDPOINT points there."""
    monkeypatch.setenv("DRILLKIT_S3_ENDPOINT", s3_endpoint)
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    S3Store(bucket, endpoint_url=s3_endpoint).ensure_bucket()
    return f"s3://{bucket}/drills"


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each test that takes ``store`` runs against a directory and against S3."""
    if request.param == "directory":
        return LocalStore(tmp_path / "store")
    url: str = request.getfixturevalue("s3_url")
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    return S3Store(bucket, prefix, endpoint_url=os.environ["DRILLKIT_S3_ENDPOINT"])

"""Fixtures for backup tests: object stores (a directory, and S3 on a real MinIO server on
loopback), and two labs side by side, region-a and region-b.

MinIO runs as its own process on 127.0.0.1 and a free port; nothing can reach AWS
(no shared config files, no instance metadata; the credentials are MinIO's own).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from drillkit.drivers.objectstore import LocalStore, ObjectStore, S3Store
from tests.helpers import isolate_from_aws
from tests.minio import MinioServer


@pytest.fixture
def s3_endpoint(minio: MinioServer) -> str:
    return minio.endpoint


@pytest.fixture
def aws_environment(minio: MinioServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """MinIO's credentials, and nothing that could send a client to real AWS."""
    isolate_from_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", minio.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", minio.secret_key)
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def s3_url(s3_endpoint: str, aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on MinIO; the URL of a prefix in it. DRILLKIT_S3_ENDPOINT points there."""
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

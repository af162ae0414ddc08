"""Object stores, one suite against a directory and against S3 (MinIO on loopback)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from drillkit.drivers.objectstore import (
    LocalStore,
    ObjectCorrupted,
    ObjectMissing,
    ObjectStore,
    S3Store,
    open_store,
)
from drillkit.errors import InvalidInput


def test_an_object_reads_back_exactly_as_written_and_is_listed(store: ObjectStore) -> None:
    stored = store.put("backups/one.tar.gz", b"\x00archive\xff" * 100)
    store.put("backups/two.json", b"{}")
    store.put("elsewhere/three", b"3")

    assert store.get("backups/one.tar.gz") == b"\x00archive\xff" * 100
    assert stored.size == 900 and len(stored.sha256) == 64
    assert store.keys("backups/") == ["backups/one.tar.gz", "backups/two.json"]
    assert store.keys() == ["backups/one.tar.gz", "backups/two.json", "elsewhere/three"]


def test_a_missing_object_is_named(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing, match="no object backups/none"):
        store.get("backups/none")


def test_a_deleted_object_is_gone_and_deleting_again_is_harmless(store: ObjectStore) -> None:
    store.put("a/b", b"x")
    store.delete("a/b")
    store.delete("a/b")

    assert store.keys() == []
    with pytest.raises(ObjectMissing):
        store.get("a/b")


def test_a_changed_file_fails_its_digest_on_read(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("backups/x.tar.gz", b"0123456789" * 10)
    path = tmp_path / "backups" / "x.tar.gz"
    path.write_bytes(path.read_bytes()[:50])

    with pytest.raises(ObjectCorrupted, match="does not match its digest"):
        store.get("backups/x.tar.gz")


def test_an_s3_object_whose_content_changed_fails_its_digest_on_read(
    s3_url: str, s3_endpoint: str
) -> None:
    bucket, prefix = s3_url.removeprefix("s3://").split("/", 1)
    store = S3Store(bucket, prefix, endpoint_url=s3_endpoint)
    store.put("backups/x.tar.gz", b"good content")
    # Someone overwrites the object and keeps the old digest in its metadata.
    digest = store._client.head_object(Bucket=bucket, Key=f"{prefix}/backups/x.tar.gz")["Metadata"]
    store._client.put_object(
        Bucket=bucket, Key=f"{prefix}/backups/x.tar.gz", Body=b"bad content!", Metadata=digest
    )

    with pytest.raises(ObjectCorrupted, match="does not match its digest"):
        store.get("backups/x.tar.gz")


def test_store_urls_name_a_directory_or_a_bucket(tmp_path: Path, s3_url: str) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    opened = open_store(s3_url)
    assert isinstance(opened, S3Store) and opened.description == f"{s3_url}/"


@pytest.mark.parametrize("url", ["gs://bucket", "s3://", ""])
def test_an_unknown_store_url_is_one_line(url: str) -> None:
    with pytest.raises(InvalidInput, match="backup store"):
        open_store(url)


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b"])
def test_keys_cannot_leave_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid object key"):
        LocalStore(tmp_path).put(key, b"x")


def test_a_store_uses_the_credentials_of_its_time_not_those_another_client_cached(
    s3_endpoint: str, aws_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # boto3's default session keeps the credentials it first resolved. A store opened
    # later in the same process (the scheduler's, a game day's) must read its own.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # put back as it was after the test
    with monkeypatch.context() as earlier:
        earlier.setenv("AWS_ACCESS_KEY_ID", "someone-else")
        earlier.setenv("AWS_SESSION_TOKEN", "someone-elses-session")
        boto3.client("s3", endpoint_url=s3_endpoint)
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.get_credentials()  # resolved, and kept by the session

    store = S3Store("credentials-of-their-time", endpoint_url=s3_endpoint)
    store.ensure_bucket()
    store.put("k", b"v")

    assert store.get("k") == b"v"

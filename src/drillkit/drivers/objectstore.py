"""Object storage for backups: a local directory or an S3-compatible bucket.

Both stores keep opaque objects under ``/``-separated keys and the SHA-256 of
every object beside it (a ``<key>.sha256`` sidecar file locally, the object's
``sha256`` user metadata in S3). :meth:`ObjectStore.get` recomputes the digest of
what it read and raises ``ObjectCorrupted`` when it differs, so a flipped or
truncated object never reaches the caller as if it were good.

A store is named by a URL: a path or ``file:///path`` for a directory,
``s3://bucket/prefix`` for S3. The S3 endpoint (``endpoint_url``, for an
S3-compatible server such as MinIO on loopback), the region and the
credentials come from the caller or boto3's own chain (``AWS_ENDPOINT_URL_S3``,
``AWS_REGION``, ...); drillkit never handles credentials itself. The file
system's errors are translated here into ``StorageError``, botocore's by
``drivers.boto`` (as for EC2).

For evidence that must outlive whoever can write the bucket, :class:`S3Store` also
speaks S3 Object Lock: a write only for a key that does not exist yet
(``If-None-Match: *``, raising ``ObjectExists`` when another writer was first), a
retention period on each object written, the listing of every version of every
object (a versioned bucket keeps the locked original under later versions and
delete markers), and reads of one version, many in parallel.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from drillkit.drivers.boto import translate_boto_errors
from drillkit.errors import InvalidInput
from drillkit.errors import ObjectCorrupted as ObjectCorrupted
from drillkit.errors import ObjectExists as ObjectExists
from drillkit.errors import ObjectMissing as ObjectMissing
from drillkit.errors import StorageError as StorageError
from drillkit.files import write_atomically

_SIDECAR_SUFFIX = ".sha256"
_DIGEST_METADATA = "sha256"
_LOST_RACE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
"""What S3 answers a conditional write whose key exists (412), or that raced another (409)."""
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
READ_WORKERS = 16
"""Reads in flight at once for :meth:`S3Store.get_many`: enough to hide latency, few
enough to spare a small server."""


class RetentionMode(StrEnum):
    """S3 Object Lock's two modes.

    In compliance mode no one, not even the account's root user, can delete a locked
    version or shorten its retention; in governance mode users granted
    ``s3:BypassGovernanceRetention`` can.
    """

    COMPLIANCE = "COMPLIANCE"
    GOVERNANCE = "GOVERNANCE"


@dataclass(frozen=True, kw_only=True, slots=True)
class Retention:
    """How long, and how firmly, each object written is locked."""

    mode: RetentionMode
    days: int

    def until(self, now: datetime) -> datetime:
        return now + timedelta(days=self.days)


@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectVersion:
    """One version of an object, or a delete marker, as a versioned bucket lists it."""

    key: str
    """Relative to the store's prefix."""
    version_id: str
    delete_marker: bool
    last_modified: datetime


@dataclass(frozen=True, kw_only=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    """Where backups live. Keys are relative, ``/``-separated, without ``..``."""

    description: str

    def put(self, key: str, data: bytes) -> StoredObject:
        """Store ``data`` under ``key`` with its digest; replaces what was there."""
        ...

    def get(self, key: str) -> bytes:
        """The object, its digest checked; ``ObjectMissing``, ``ObjectCorrupted``."""
        ...

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object and its digest; harmless when absent."""
        ...


def open_store(url: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """The store a URL names: a path, ``file:///path`` or ``s3://bucket[/prefix]``."""
    if url.startswith("s3://"):
        parsed = urlparse(url)
        if not parsed.netloc:
            raise InvalidInput(f"backup store {url!r}: an S3 URL needs a bucket (s3://bucket/…)")
        return S3Store(parsed.netloc, parsed.path.strip("/"), endpoint_url=endpoint_url)
    if url.startswith("file://"):
        return LocalStore(Path(urlparse(url).path))
    if "://" in url or not url:
        raise InvalidInput(f"backup store {url!r}: use a directory, file:///path or s3://bucket")
    return LocalStore(Path(url).expanduser())


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ensure_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"invalid object key {key!r}")
    return key


class LocalStore:
    """A directory; objects and their sidecar digests are written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def _path(self, key: str) -> Path:
        return self.root / _ensure_key(key)

    def put(self, key: str, data: bytes) -> StoredObject:
        path = self._path(key)
        digest = sha256_of(data)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The object first: a sidecar never names content that is not there yet.
            write_atomically(path, data, mode=0o600)
            write_atomically(path.with_name(path.name + _SIDECAR_SUFFIX), f"{digest}\n".encode())
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error}") from error
        return StoredObject(key=key, size=len(data), sha256=digest)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            data = path.read_bytes()
            expected = path.with_name(path.name + _SIDECAR_SUFFIX).read_text().strip()
        except FileNotFoundError:
            raise ObjectMissing(f"no object {key} in {self.description}") from None
        except OSError as error:
            raise StorageError(f"cannot read {path}: {error}") from error
        _ensure_digest(key, self.description, data, expected)
        return data

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name.endswith(_SIDECAR_SUFFIX):
                continue
            if path.name.startswith("."):
                continue  # the temporary file of an interrupted write
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                found.append(key)
        return sorted(found)

    def delete(self, key: str) -> None:
        path = self._path(key)
        for item in (path, path.with_name(path.name + _SIDECAR_SUFFIX)):
            with contextlib.suppress(FileNotFoundError):
                item.unlink()


def _translate_s3(action: str) -> contextlib.AbstractContextManager[None]:
    return translate_boto_errors(action, service="S3", raise_as=StorageError)


class S3Store:
    """A bucket (and key prefix) of an S3-compatible service, through boto3."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.description = f"s3://{bucket}/{self.prefix}"
        endpoint = endpoint_url or os.environ.get("DRILLKIT_S3_ENDPOINT") or None
        with _translate_s3("connecting to S3"):
            # A session of its own, as EC2's: boto3's default one keeps the credentials it
            # resolved first, for the life of the process.
            self._client: Any = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                region_name=region or os.environ.get("AWS_REGION") or "us-east-1",
                config=botocore.config.Config(
                    retries={"max_attempts": 3, "mode": "standard"},
                    # One connection per reader of get_many, so none waits for another.
                    max_pool_connections=READ_WORKERS,
                ),
            )

    def ensure_bucket(self, *, object_lock: bool = False) -> None:
        """Create the bucket when it does not exist (for labs and tests); with
        ``object_lock``, created versioned with Object Lock enabled, which S3 allows only
        when a bucket is created."""
        with _translate_s3(f"creating bucket {self.bucket}"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError:
                if object_lock:
                    self._client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
                else:
                    self._client.create_bucket(Bucket=self.bucket)

    def put_new(self, key: str, data: bytes, *, retention: Retention | None = None) -> StoredObject:
        """Store ``data`` under ``key`` only if no object is there (``If-None-Match: *``).

        Raises ``ObjectExists`` when one is: another writer was first. With
        ``retention``, the version written is locked for that long.
        """
        digest = sha256_of(data)
        action = f"writing {self.description}{_ensure_key(key)}"
        with _translate_s3(action):
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + key,
                    Body=data,
                    Metadata={_DIGEST_METADATA: digest},
                    IfNoneMatch="*",
                    **_retention_arguments(retention),
                )
            except botocore.exceptions.ClientError as error:
                if _error_code(error) in _LOST_RACE_CODES:
                    raise ObjectExists(
                        f"{action}: an object is there already", code=_error_code(error)
                    ) from None
                raise
        return StoredObject(key=key, size=len(data), sha256=digest)

    def put_locked(self, key: str, data: bytes, *, retention: Retention | None) -> StoredObject:
        """Store ``data`` under ``key``, a new version locked by ``retention`` if given."""
        digest = sha256_of(data)
        with _translate_s3(f"writing {self.description}{_ensure_key(key)}"):
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                Metadata={_DIGEST_METADATA: digest},
                **_retention_arguments(retention),
            )
        return StoredObject(key=key, size=len(data), sha256=digest)

    def digest_of(self, key: str) -> str | None:
        """The digest stored with the current version of ``key``; None when it has none
        (or only a delete marker)."""
        with _translate_s3(f"reading {self.description}{_ensure_key(key)}"):
            try:
                answer = self._client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            except botocore.exceptions.ClientError as error:
                if _error_code(error) in _MISSING_CODES:
                    return None
                raise
        return str(answer.get("Metadata", {}).get(_DIGEST_METADATA, "")) or None

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a current version that is not a delete marker."""
        with _translate_s3(f"reading {self.description}{_ensure_key(key)}"):
            try:
                self._client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            except botocore.exceptions.ClientError as error:
                if _error_code(error) in _MISSING_CODES:
                    return False
                raise
        return True

    def get_version(self, key: str, version_id: str) -> bytes:
        """One version of ``key``, its digest checked; ``ObjectMissing``, ``ObjectCorrupted``."""
        where = f"{self.description}{_ensure_key(key)} (version {version_id})"
        with _translate_s3(f"reading {where}"):
            try:
                answer = self._client.get_object(
                    Bucket=self.bucket, Key=self.prefix + key, VersionId=version_id
                )
            except botocore.exceptions.ClientError as error:
                if _error_code(error) in _MISSING_CODES:
                    raise ObjectMissing(f"no object {key} version {version_id}") from None
                raise
            data: bytes = answer["Body"].read()
            expected = str(answer.get("Metadata", {}).get(_DIGEST_METADATA, ""))
        _ensure_digest(f"{key} (version {version_id})", self.description, data, expected)
        return data

    def get_many(
        self, versions: Iterable[tuple[str, str]], *, workers: int = READ_WORKERS
    ) -> dict[tuple[str, str], bytes | StorageError]:
        """Each ``(key, version id)`` read in parallel (a bounded pool of threads sharing
        one client, which boto3 allows); a version that cannot be read maps to its error."""
        wanted = list(dict.fromkeys(versions))

        def read(item: tuple[str, str]) -> bytes | StorageError:
            try:
                return self.get_version(*item)
            except StorageError as error:
                return error

        if not wanted:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted)))) as pool:
            return dict(zip(wanted, pool.map(read, wanted), strict=True))

    def versions(self, prefix: str = "") -> list[ObjectVersion]:
        """Every version and delete marker under ``prefix``, oldest first for each key.

        S3 lists the versions of one key newest first; they are turned round here so the
        first of each key is the one written first.
        """
        found: list[ObjectVersion] = []
        with _translate_s3(f"listing the versions in {self.description}"):
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                    found += [
                        ObjectVersion(
                            key=item["Key"][len(self.prefix) :],
                            version_id=str(item.get("VersionId") or "null"),
                            delete_marker=marker,
                            last_modified=_as_utc(item["LastModified"]),
                        )
                        for item in page.get(kind, [])
                    ]
        return _oldest_first(found)

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one version for good; S3 refuses while Object Lock retains it."""
        with _translate_s3(f"deleting {self.description}{_ensure_key(key)} version {version_id}"):
            self._client.delete_object(
                Bucket=self.bucket, Key=self.prefix + key, VersionId=version_id
            )

    def retention_of(self, key: str, version_id: str) -> tuple[str, datetime] | None:
        """The Object Lock mode and retain-until date of one version; None when unlocked."""
        with _translate_s3(f"reading the retention of {self.description}{_ensure_key(key)}"):
            try:
                answer = self._client.get_object_retention(
                    Bucket=self.bucket, Key=self.prefix + key, VersionId=version_id
                )
            except botocore.exceptions.ClientError as error:
                if _error_code(error) in {"NoSuchObjectLockConfiguration", *_MISSING_CODES}:
                    return None
                raise
        retention = answer.get("Retention") or {}
        if not retention:
            return None
        return str(retention["Mode"]), _as_utc(retention["RetainUntilDate"])

    def put(self, key: str, data: bytes) -> StoredObject:
        return self.put_locked(key, data, retention=None)

    def get(self, key: str) -> bytes:
        with _translate_s3(f"reading {self.description}{_ensure_key(key)}"):
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except botocore.exceptions.ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ObjectMissing(f"no object {key} in {self.description}") from None
                raise
            data: bytes = answer["Body"].read()
            expected = str(answer.get("Metadata", {}).get(_DIGEST_METADATA, ""))
        _ensure_digest(key, self.description, data, expected)
        return data

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        with _translate_s3(f"listing {self.description}"):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return sorted(found)

    def delete(self, key: str) -> None:
        with _translate_s3(f"deleting {self.description}{_ensure_key(key)}"):
            self._client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def _retention_arguments(retention: Retention | None) -> dict[str, Any]:
    if retention is None:
        return {}
    return {
        "ObjectLockMode": retention.mode.value,
        "ObjectLockRetainUntilDate": retention.until(datetime.now(UTC)),
    }


def _error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "")


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _oldest_first(versions: Sequence[ObjectVersion]) -> list[ObjectVersion]:
    # Versions and delete markers come in separate lists, each newest first per key;
    # their times order them together (ties keep the listing's order, reversed).
    indexed = list(enumerate(versions))
    indexed.sort(key=lambda pair: (pair[1].key, pair[1].last_modified, -pair[0]))
    return [version for _, version in indexed]


def _ensure_digest(key: str, where: str, data: bytes, expected: str) -> None:
    if not expected:
        raise ObjectCorrupted(f"object {key} in {where} has no stored digest; it cannot be trusted")
    actual = sha256_of(data)
    if actual != expected:
        raise ObjectCorrupted(
            f"object {key} in {where} does not match its digest: sha256 {actual[:12]}... "
            f"({len(data)} bytes), expected {expected[:12]}..."
        )

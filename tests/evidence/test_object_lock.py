"""S3 Object Lock as the evidence store meets it, against a real MinIO on loopback.

Each versioning fact the store's verification relies on is checked here against the
server rather than assumed: a write only for a new key, a locked version that cannot be
deleted, a plain delete that only adds a marker, an overwrite that only adds a version.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drillkit.drivers.objectstore import (
    ObjectExists,
    Retention,
    RetentionMode,
    S3Store,
    StorageError,
)

LOCK = Retention(mode=RetentionMode.COMPLIANCE, days=1)


def test_a_write_for_a_new_key_is_refused_when_another_writer_was_first(
    locked_bucket: S3Store,
) -> None:
    locked_bucket.put_new("ledger/000000000001", b"first", retention=LOCK)

    with pytest.raises(ObjectExists) as raised:
        locked_bucket.put_new("ledger/000000000001", b"second", retention=LOCK)

    assert raised.value.code in ("PreconditionFailed", "ConditionalRequestConflict")
    assert locked_bucket.get("ledger/000000000001") == b"first"


def test_each_version_written_is_locked_in_the_mode_and_for_the_days_given(
    locked_bucket: S3Store,
) -> None:
    before = datetime.now(UTC)
    locked_bucket.put_new("ledger/000000000001", b"entry", retention=LOCK)
    (version,) = locked_bucket.versions("ledger/")

    retention = locked_bucket.retention_of(version.key, version.version_id)

    assert retention is not None
    mode, until = retention
    assert mode == "COMPLIANCE"
    assert before + timedelta(hours=23) < until < before + timedelta(days=1, hours=1)


def test_a_locked_version_cannot_be_deleted(locked_bucket: S3Store) -> None:
    locked_bucket.put_new("ledger/000000000001", b"entry", retention=LOCK)
    (version,) = locked_bucket.versions("ledger/")

    with pytest.raises(StorageError) as raised:
        locked_bucket.delete_version(version.key, version.version_id)

    # AWS answers AccessDenied; MinIO answers InvalidRequest ("Object is WORM protected
    # and cannot be overwritten"). Either way the version stays.
    assert raised.value.code in ("AccessDenied", "InvalidRequest")
    assert locked_bucket.get_version(version.key, version.version_id) == b"entry"


def test_a_plain_delete_adds_a_marker_and_the_locked_original_stays(
    locked_bucket: S3Store,
) -> None:
    locked_bucket.put_new("ledger/000000000001", b"entry", retention=LOCK)

    locked_bucket.delete("ledger/000000000001")

    original, marker = locked_bucket.versions("ledger/")
    assert (original.delete_marker, marker.delete_marker) == (False, True)
    assert not locked_bucket.exists("ledger/000000000001")
    assert locked_bucket.get_version(original.key, original.version_id) == b"entry"


def test_an_overwrite_adds_a_version_and_the_locked_original_stays(
    locked_bucket: S3Store,
) -> None:
    locked_bucket.put_new("ledger/000000000001", b"entry", retention=LOCK)

    locked_bucket.put_locked("ledger/000000000001", b"forged", retention=None)

    original, later = locked_bucket.versions("ledger/")
    assert locked_bucket.get_version(original.key, original.version_id) == b"entry"
    assert locked_bucket.get_version(later.key, later.version_id) == b"forged"
    assert locked_bucket.get("ledger/000000000001") == b"forged"


def test_a_write_for_a_new_key_succeeds_again_over_a_delete_marker(
    locked_bucket: S3Store,
) -> None:
    locked_bucket.put_new("ledger/000000000001", b"entry", retention=LOCK)
    locked_bucket.delete("ledger/000000000001")

    locked_bucket.put_new("ledger/000000000001", b"again", retention=LOCK)

    kinds = [(v.delete_marker, v.version_id) for v in locked_bucket.versions("ledger/")]
    assert [marker for marker, _ in kinds] == [False, True, False]


def test_many_versions_are_read_in_parallel_and_each_digest_checked(
    locked_bucket: S3Store,
) -> None:
    for number in range(1, 41):
        locked_bucket.put_new(f"ledger/{number:012d}", f"entry {number}".encode(), retention=LOCK)
    versions = [(v.key, v.version_id) for v in locked_bucket.versions("ledger/")]

    read = locked_bucket.get_many([*versions, ("ledger/000000000099", "no-such-version")])

    assert [read[item] for item in versions] == [f"entry {n}".encode() for n in range(1, 41)]
    assert isinstance(read[("ledger/000000000099", "no-such-version")], StorageError)

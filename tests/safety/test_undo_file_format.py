"""Undo records are read back from the local state file and the ConfigMap exactly as
earlier versions wrote them: a crashed run's records must be revertible by the next
version, and a record list is written byte for byte as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drillkit.safety.undo import START_LAB_ZONE, UndoRecord, _parse_records, _records_text

DOCUMENTS = Path(__file__).parent / "documents"

RECORD = UndoRecord(
    run_id="20261126-093015-3fa2c1",
    action=START_LAB_ZONE,
    target=("region-a", "zone-b"),
    created_utc=datetime(2026, 11, 26, 9, 30, 15, 250000, tzinfo=UTC),
    pid=7,
    host="runner.example",
    cluster="https://127.0.0.1:6443",
)


def test_a_record_list_is_written_byte_for_byte_as_earlier_versions_wrote_it() -> None:
    assert _records_text([RECORD]) == (DOCUMENTS / "undo-records.json").read_text()


def test_a_record_list_written_by_an_earlier_version_reads_back() -> None:
    assert _parse_records((DOCUMENTS / "undo-records.json").read_text()) == [RECORD]


def test_a_bare_list_of_records_still_reads_back() -> None:
    document = json.loads((DOCUMENTS / "undo-records.json").read_text())

    assert _parse_records(json.dumps(document["records"])) == [RECORD]


@pytest.mark.parametrize(
    "document",
    [
        {"version": 2, "records": []},
        {"version": 1, "records": {}},
        {"version": 1, "records": [{"run_id": "r"}]},
        {"version": 1, "records": [{**RECORD.to_json(), "pid": "7"}]},
        {"version": 1, "records": [{**RECORD.to_json(), "host": ""}]},
        {"version": 1, "records": [{**RECORD.to_json(), "target": "zone-b"}]},
        {"version": 1, "records": [{**RECORD.to_json(), "created_utc": "2026-11-26T09:30:15"}]},
    ],
    ids=[
        "another-version",
        "records-not-a-list",
        "a-record-lacking-fields",
        "a-pid-as-text",
        "an-empty-host",
        "a-target-not-a-list",
        "a-time-without-offset",
    ],
)
def test_a_record_list_that_is_not_what_drillkit_writes_is_refused(
    document: object,
) -> None:
    with pytest.raises(ValueError):
        _parse_records(json.dumps(document))

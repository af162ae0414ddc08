"""What a Velero operation looks like in a run's journal, pinned: the backup and restore
faults return it, and reports and audits read it back as written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from drillkit.drivers.velero import VeleroOperation


def test_a_finished_operation_is_written_with_its_offsets_and_counts() -> None:
    operation = VeleroOperation(
        kind="Restore",
        name="nightly-restore-20261201",
        namespace="velero",
        phase="Completed",
        started_utc=datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC),
        completed_utc=datetime(2026, 12, 1, 9, 31, 2, 500000, tzinfo=UTC),
        items=12,
        warnings=1,
        errors=0,
    )

    assert json.dumps(operation.to_json()) == (
        '{"kind": "Restore", "name": "nightly-restore-20261201", "namespace": "velero", '
        '"phase": "Completed", "started_utc": "2026-12-01T09:30:15+00:00", '
        '"completed_utc": "2026-12-01T09:31:02.500000+00:00", "items": 12, '
        '"warnings": 1, "errors": 0}'
    )


def test_an_operation_not_yet_started_is_written_without_times() -> None:
    operation = VeleroOperation(
        kind="Backup",
        name="nightly",
        namespace="velero",
        phase="New",
        started_utc=None,
        completed_utc=None,
        items=None,
        warnings=0,
        errors=0,
    )

    assert operation.to_json() == {
        "kind": "Backup",
        "name": "nightly",
        "namespace": "velero",
        "phase": "New",
        "started_utc": None,
        "completed_utc": None,
        "items": None,
        "warnings": 0,
        "errors": 0,
    }

"""The Velero backup a region disaster proved is handed to ``restore_velero_backup``
through a small file in the state home; it reads back as earlier versions wrote it,
once, and only for the Velero namespace it was chosen in."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.errors import DrillError
from drillkit.faults.backup import (
    VeleroRestorePoint,
    _proved_velero_backup,
    _save_velero_restore_point,
    _velero_restore_point_file,
)

RUN_ID = "20261205-120000-abcdef"
WRITTEN = '{"backup": "shop-20261205", "velero_namespace": "velero"}\n'


def test_a_restore_point_is_written_byte_for_byte_as_earlier_versions_wrote_it(
    drillkit_home: Path,
) -> None:
    chosen = VeleroRestorePoint(backup="shop-20261205", velero_namespace="velero")

    path = _save_velero_restore_point(RUN_ID, chosen)

    assert path == _velero_restore_point_file(RUN_ID)
    assert path.read_text() == WRITTEN
    assert _proved_velero_backup(RUN_ID, "velero") == "shop-20261205"


def test_a_restore_point_written_by_an_earlier_version_is_read_once(drillkit_home: Path) -> None:
    path = _velero_restore_point_file(RUN_ID)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WRITTEN)

    assert _proved_velero_backup(RUN_ID, "velero") == "shop-20261205"
    assert not path.exists()
    assert _proved_velero_backup(RUN_ID, "velero") is None


def test_a_restore_point_of_another_velero_namespace_is_not_used(drillkit_home: Path) -> None:
    path = _velero_restore_point_file(RUN_ID)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WRITTEN)

    assert _proved_velero_backup(RUN_ID, "velero-b") is None


def test_an_unreadable_restore_point_is_named(drillkit_home: Path) -> None:
    path = _velero_restore_point_file(RUN_ID)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{")

    with pytest.raises(DrillError, match=f"^unreadable velero restore point {path}: "):
        _proved_velero_backup(RUN_ID, "velero")


def test_a_restore_point_lacking_its_backup_names_the_field(drillkit_home: Path) -> None:
    path = _velero_restore_point_file(RUN_ID)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"velero_namespace": "velero"}\n')

    with pytest.raises(DrillError) as unreadable:
        _proved_velero_backup(RUN_ID, "velero")

    assert str(unreadable.value) == (
        f"unreadable velero restore point {path}: backup: Field required"
    )

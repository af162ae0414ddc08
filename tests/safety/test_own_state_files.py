"""An undo record that names a state file other than its run's own is refused.

The etcd restore's state file holds commands this machine runs; a cross-region
restore's journal names what to delete. Their undo actions act only on the run's
own file in drillkit's state home, whatever path a record carries.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import drillkit.faults.etcd
import drillkit.restoring.engine
from drillkit.errors import DrillError
from drillkit.safety.undo import UndoRecord, undo_action


def record(action: str, path: Path) -> UndoRecord:
    return UndoRecord(
        run_id="20261205-120000-abcdef",
        action=action,
        target=(str(path),),
        created_utc=datetime.now(UTC),
        pid=os.getpid(),
        host=socket.gethostname(),
        cluster="https://127.0.0.1:1",
    )


@pytest.mark.parametrize(
    ("action", "refusal"),
    [
        (drillkit.faults.etcd.RESTORE_ETCD, "etcd restore state"),
        (drillkit.restoring.engine.RESTORE_BACKUP, "restore journal"),
    ],
)
def test_a_record_naming_another_file_is_refused_and_the_file_left_alone(
    action: str, refusal: str, tmp_path: Path, drillkit_home: Path
) -> None:
    planted = tmp_path / "planted.json"
    planted.write_text('{"steps": ["rm -rf /"]}')
    cluster: Any = None  # refused before the cluster is asked anything

    with pytest.raises(DrillError) as refused:
        undo_action(action).revert(record(action, planted), cluster, lambda _: None)

    assert f"is not run 20261205-120000-abcdef's {refusal}" in str(refused.value)
    assert planted.read_text() == '{"steps": ["rm -rf /"]}'

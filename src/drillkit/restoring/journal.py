"""The journal of a restore: what an interrupted one needs to be cleaned up.

A restore saves its journal (``<state home>/backup-restores/<run>.json``) before it
writes anything and again before each create: the backup, the target and every object
created so far, by identity only. ``drillkit.restoring.engine`` keeps it; the undo
record of a restore names it, so ``drill recover`` can tell a completed restore (which
stays) from an interrupted one (which is cleaned up).

Phases, in order: ``prepared`` (a disaster proved the backup; nothing written yet),
``restoring``, ``restored`` (every object written), ``available`` (workloads up), and
``cleaned`` (what it created was deleted again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import PlainSerializer, PlainValidator

from drillkit.files import state_home
from drillkit.model.backups import BackupInfo, ObjectKey
from drillkit.restoring.state_files import StateFile
from drillkit.restoring.targets import ClusterAddress

# The catalogue's own encoding of a backup and of an object's identity.
_Backup = Annotated[
    BackupInfo, PlainValidator(BackupInfo.from_json), PlainSerializer(BackupInfo.to_json)
]
_Key = Annotated[ObjectKey, PlainValidator(ObjectKey.from_json), PlainSerializer(ObjectKey.to_json)]


def restore_journal_file(run_id: str) -> Path:
    """Where the restore of run ``run_id`` keeps its journal."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return state_home() / "backup-restores" / f"{safe}.json"


@dataclass(kw_only=True)
class RestoreJournal(StateFile):
    """What an interrupted restore needs to be cleaned up; saved before each create."""

    describes: ClassVar[str] = "restore journal"
    missing: ClassVar[str] = "no restore journal at {path}"

    run_id: str
    backup: _Backup
    store: str
    target: ClusterAddress | None
    phase: str
    """prepared (nothing written yet), restoring, restored (every object written),
    available (workloads up), cleaned (an interrupted restore removed)."""
    created: list[_Key] = field(default_factory=list)
    """Objects this restore created (or was about to), in order; never their content."""

    def state_file(self) -> Path:
        return restore_journal_file(self.run_id)

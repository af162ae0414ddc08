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
from typing import Any

from drillkit.files import state_home
from drillkit.model.backups import BackupInfo, ObjectKey
from drillkit.restoring.state_files import load_state_file, save_state_file
from drillkit.restoring.targets import ClusterAddress


def restore_journal_file(run_id: str) -> Path:
    """Where the restore of run ``run_id`` keeps its journal."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return state_home() / "backup-restores" / f"{safe}.json"


@dataclass(kw_only=True)
class RestoreJournal:
    """What an interrupted restore needs to be cleaned up; saved before each create."""

    run_id: str
    backup: BackupInfo
    store: str
    target: ClusterAddress | None
    phase: str
    """prepared (nothing written yet), restoring, restored (every object written),
    available (workloads up), cleaned (an interrupted restore removed)."""
    created: list[ObjectKey] = field(default_factory=list)
    """Objects this restore created (or was about to), in order; never their content."""

    def save(self) -> Path:
        document = {
            "run_id": self.run_id,
            "backup": self.backup.to_json(),
            "store": self.store,
            "target": None
            if self.target is None
            else {"kubeconfig": self.target.kubeconfig, "context": self.target.context},
            "phase": self.phase,
            "created": [k.to_json() for k in self.created],
        }
        return save_state_file(restore_journal_file(self.run_id), document)

    @classmethod
    def load(cls, path: Path) -> RestoreJournal:
        return load_state_file(
            path, cls._from_json, what="restore journal", missing=f"no restore journal at {path}"
        )

    @classmethod
    def _from_json(cls, document: Any) -> RestoreJournal:
        target = document["target"]
        return cls(
            run_id=str(document["run_id"]),
            backup=BackupInfo.from_json(document["backup"]),
            store=str(document["store"]),
            target=None
            if target is None
            else ClusterAddress(kubeconfig=target["kubeconfig"], context=target["context"]),
            phase=str(document["phase"]),
            created=[ObjectKey.from_json(k) for k in document["created"]],
        )

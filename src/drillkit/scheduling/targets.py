"""What a schedule runs, found by name: ``drills/NAME.yaml``, ``gamedays/NAME.yaml`` or
``backups/NAME.yaml``, and what a schedule takes from that file.

Adding a schedule, applying schedule files, firing and listing all read a target's file for
the same two things: its ``schedule:`` section (the defaults of a schedule and its own
blackouts and error-budget gate) and, for a drill, whether it is marked
``safety.production``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drillkit.model.drill import Schedule
from drillkit.running.proving import load_drill
from drillkit.scheduling.backups import find_backup_plan, load_backup_plan
from drillkit.scheduling.gamedays import find_gameday_file, load_gameday
from drillkit.scheduling.launching import find_drill_file
from drillkit.scheduling.schedules import TargetKind


@dataclass(frozen=True, kw_only=True)
class TargetFile:
    """A target's file, as far as a schedule is concerned."""

    path: Path
    schedule: Schedule | None
    """The file's ``schedule:`` section."""
    production: bool = False
    """A drill marked ``safety.production``: its schedules must confirm the kube context."""


@dataclass(frozen=True, kw_only=True)
class TargetDirectories:
    """Where a schedule's targets are found by name."""

    drills_dir: Path
    gamedays_dir: Path
    backups_dir: Path

    def find(self, kind: TargetKind, name: str) -> Path:
        """The target's file; InvalidInput naming where it looked."""
        if kind is TargetKind.DRILL:
            return find_drill_file(self.drills_dir, name)
        if kind is TargetKind.GAMEDAY:
            return find_gameday_file(self.gamedays_dir, name)
        return find_backup_plan(self.backups_dir, name)

    def load(self, kind: TargetKind, name: str) -> TargetFile:
        """Read the target's file; InvalidInput names the file, line and field."""
        return load_target_file(kind, self.find(kind, name))


def load_target_file(kind: TargetKind, path: Path) -> TargetFile:
    """Read a drill, game day or backup plan file; InvalidInput names the file, line and field."""
    if kind is TargetKind.DRILL:
        drill = load_drill(path)
        return TargetFile(path=path, schedule=drill.schedule, production=drill.safety.production)
    if kind is TargetKind.GAMEDAY:
        return TargetFile(path=path, schedule=load_gameday(path).schedule)
    return TargetFile(path=path, schedule=load_backup_plan(path).schedule)

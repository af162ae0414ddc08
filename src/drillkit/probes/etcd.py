"""etcd backup probes: is there a recent, catalogued snapshot to restore from?

Stale backups are the usual reason a restore disappoints: the snapshot exists but
is days old. ``latest_snapshot_younger_than`` turns "we take snapshots every
6 hours" into a probe a steady-state hypothesis, a guard or a scheduled check can
use. It reads the catalogue (``drillkit.drivers.etcd``), so only snapshots that
passed their trial restore count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from drillkit.drivers.catalogues import newest_age
from drillkit.drivers.etcd import read_catalogue
from drillkit.drivers.executors import executor_for
from drillkit.model.durations import parse_duration
from drillkit.restoring.etcd import resolve_target, snapshot_directory


def latest_snapshot_age(
    directory: str | None = None, configuration: Mapping[str, Any] | None = None
) -> float | None:
    """Seconds since the newest catalogued snapshot was taken; None when there is none."""
    target = resolve_target(configuration)
    catalogue = read_catalogue(executor_for(target.executor), snapshot_directory(target, directory))
    return newest_age(catalogue, datetime.now(UTC))


def latest_snapshot_younger_than(
    max_age: str = "6h",
    directory: str | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """True when the newest catalogued snapshot is younger than ``max_age`` ("6h", "30m")."""
    age = latest_snapshot_age(directory, configuration)
    return age is not None and age < parse_duration(max_age).total_seconds()

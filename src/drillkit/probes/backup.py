"""Backup probes: is there a fresh backup, and is the service up in either region?

``latest_backup_younger_than`` turns "we back up every 15 minutes" into a probe a
steady-state hypothesis, a guard or a scheduled check can use; it reads the
catalogue (``drillkit.drivers.backups``), so only whole, stored backups count.

``deployment_available_in_any_region`` is the steady state of a cross-region
restore: the service is up where it is served from, region A before the disaster,
region B after the restore. A region that does not answer counts as not serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from drillkit.drivers.backups import read_catalogue
from drillkit.drivers.catalogues import newest_age
from drillkit.errors import ClusterError
from drillkit.model.durations import parse_duration
from drillkit.restoring.targets import resolve_restore_target, resolve_store, source_address


def latest_backup_age(
    store: str | None = None, configuration: Mapping[str, Any] | None = None
) -> float | None:
    """Seconds since the newest catalogued backup was taken; None when there is none."""
    return newest_age(read_catalogue(resolve_store(store, configuration)), datetime.now(UTC))


def latest_backup_younger_than(
    max_age: str = "1h",
    store: str | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """True when the newest catalogued backup is younger than ``max_age`` ("15m", "6h")."""
    age = latest_backup_age(store, configuration)
    return age is not None and age < parse_duration(max_age).total_seconds()


def deployment_available_in_any_region(
    name: str,
    namespace: str,
    kubeconfig: str | None = None,
    context: str | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """True when the Deployment has all its replicas ready in the drill's cluster or in
    the restore target (``kubeconfig``/``context``, else the configuration's)."""
    regions = [source_address(), resolve_restore_target(kubeconfig, context, configuration)]
    for region in regions:
        try:
            with region.connect() as cluster:
                ready, desired = cluster.deployment_ready_replicas(namespace, name)
        except ClusterError:
            continue  # this region does not answer or does not serve it
        if desired > 0 and ready >= desired:
            return True
    return False

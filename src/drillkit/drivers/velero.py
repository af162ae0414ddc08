"""Velero as the backup provider, for teams that already run it.

drillkit does not back up or restore anything itself here: it creates Velero's
own ``Backup`` and ``Restore`` objects (``velero.io/v1``, in Velero's namespace)
and waits on their ``status.phase`` as the Velero server moves it along, with a
deadline. What Velero does not do, drillkit adds around it: the drill, the timing
and the report.

A phase is terminal when Velero will not change it again: ``Completed`` (done),
or ``Failed``, ``PartiallyFailed``, ``FailedValidation`` (``VeleroFailed``,
naming the phase, the failure reason and the validation errors).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.dynamic.resource import Resource

from drillkit.drivers.backups import find_resource
from drillkit.drivers.kubernetes import Cluster, _translate
from drillkit.errors import ClusterError, DrillError
from drillkit.model.timeline import parse_utc

VELERO_API = "velero.io/v1"
DEFAULT_NAMESPACE = "velero"
COMPLETED = "Completed"
FAILED_PHASES = frozenset({"Failed", "PartiallyFailed", "FailedValidation"})
POLL_INTERVAL = 0.5
_MANAGED_BY = {"app.kubernetes.io/managed-by": "drillkit"}


class VeleroFailed(DrillError):
    """A Velero backup or restore ended in a failed phase, or not in time."""


@dataclass(frozen=True, kw_only=True)
class VeleroOperation:
    """A Backup or a Restore as Velero reports it."""

    kind: str
    name: str
    namespace: str
    phase: str
    started_utc: datetime | None
    completed_utc: datetime | None
    items: int | None
    """Items backed up or restored, when Velero reports progress."""
    warnings: int
    errors: int

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "phase": self.phase,
            "started_utc": self.started_utc.isoformat() if self.started_utc else None,
            "completed_utc": self.completed_utc.isoformat() if self.completed_utc else None,
            "items": self.items,
            "warnings": self.warnings,
            "errors": self.errors,
        }


def create_backup(
    cluster: Cluster,
    namespaces: Sequence[str],
    *,
    name: str | None = None,
    velero_namespace: str = DEFAULT_NAMESPACE,
    storage_location: str | None = None,
    ttl: str | None = None,
) -> str:
    """Ask Velero for a backup of ``namespaces``; the Backup's name."""
    name = name or f"drillkit-{_stamp()}"
    spec: dict[str, Any] = {"includedNamespaces": list(namespaces)}
    if storage_location:
        spec["storageLocation"] = storage_location
    if ttl:
        spec["ttl"] = ttl
    body = _object("Backup", name, velero_namespace, spec)
    with _translate(f"creating velero backup {velero_namespace}/{name}"):
        _resource(cluster, "Backup").create(body=body, namespace=velero_namespace)
    return name


def create_restore(
    cluster: Cluster,
    backup_name: str,
    *,
    name: str | None = None,
    velero_namespace: str = DEFAULT_NAMESPACE,
    namespace_map: Mapping[str, str] | None = None,
    replace_existing: bool = False,
) -> str:
    """Ask Velero to restore ``backup_name``; the Restore's name."""
    name = name or f"{backup_name}-restore-{_stamp()}"[:253]
    spec: dict[str, Any] = {
        "backupName": backup_name,
        # Velero's default leaves existing objects alone; "update" overwrites them.
        "existingResourcePolicy": "update" if replace_existing else "none",
    }
    if namespace_map:
        spec["namespaceMapping"] = dict(namespace_map)
    body = _object("Restore", name, velero_namespace, spec)
    with _translate(f"creating velero restore {velero_namespace}/{name}"):
        _resource(cluster, "Restore").create(body=body, namespace=velero_namespace)
    return name


def read_operation(
    cluster: Cluster, kind: str, name: str, velero_namespace: str = DEFAULT_NAMESPACE
) -> VeleroOperation:
    with _translate(f"reading velero {kind.lower()} {velero_namespace}/{name}"):
        item = _resource(cluster, kind).get(name=name, namespace=velero_namespace).to_dict()
    return _operation(kind, item)


def wait_for_phase(
    cluster: Cluster,
    kind: str,
    name: str,
    *,
    velero_namespace: str = DEFAULT_NAMESPACE,
    timeout: float,
) -> VeleroOperation:
    """Wait until Velero completes the Backup or Restore; ``VeleroFailed`` when it
    fails or the deadline passes (naming the last phase seen)."""
    deadline = time.monotonic() + timeout
    last: VeleroOperation | None = None
    while True:
        try:
            last = read_operation(cluster, kind, name, velero_namespace)
        except ClusterError:
            if time.monotonic() >= deadline:
                raise
        else:
            if last.phase == COMPLETED:
                return last
            if last.phase in FAILED_PHASES:
                raise VeleroFailed(_failure(kind, name, velero_namespace, last.phase, cluster))
        if time.monotonic() >= deadline:
            phase = last.phase if last else "unknown"
            raise VeleroFailed(
                f"velero {kind.lower()} {velero_namespace}/{name} not completed after "
                f"{timeout:.0f} s (phase {phase}); is the Velero server running?"
            )
        time.sleep(POLL_INTERVAL)


def latest_completed_backup(
    cluster: Cluster, velero_namespace: str = DEFAULT_NAMESPACE
) -> VeleroOperation | None:
    """The newest Completed Backup (by completion time), or None."""
    with _translate(f"listing velero backups in {velero_namespace}"):
        items = _resource(cluster, "Backup").get(namespace=velero_namespace).to_dict()["items"]
    done = [_operation("Backup", i) for i in items]
    done = [d for d in done if d.phase == COMPLETED and d.completed_utc is not None]
    return max(done, key=lambda d: d.completed_utc or datetime.min, default=None)


def _failure(kind: str, name: str, namespace: str, phase: str, cluster: Cluster) -> str:
    with _translate(f"reading velero {kind.lower()} {namespace}/{name}"):
        status = _resource(cluster, kind).get(name=name, namespace=namespace).to_dict()
    details = status.get("status") or {}
    reasons = [str(details["failureReason"])] if details.get("failureReason") else []
    reasons += [str(v) for v in details.get("validationErrors") or []]
    why = f": {'; '.join(reasons)}" if reasons else ""
    return f"velero {kind.lower()} {namespace}/{name} ended {phase}{why}"


def _operation(kind: str, item: Mapping[str, Any]) -> VeleroOperation:
    status = item.get("status") or {}
    progress = status.get("progress") or {}
    items = progress.get("itemsBackedUp" if kind == "Backup" else "itemsRestored")
    return VeleroOperation(
        kind=kind,
        name=str(item["metadata"]["name"]),
        namespace=str(item["metadata"]["namespace"]),
        phase=str(status.get("phase") or "New"),
        started_utc=_time(status.get("startTimestamp")),
        completed_utc=_time(status.get("completionTimestamp")),
        items=int(items) if items is not None else None,
        warnings=int(status.get("warnings") or 0),
        errors=int(status.get("errors") or 0),
    )


def _time(value: object) -> datetime | None:
    if not value:
        return None
    return parse_utc(str(value).replace("+00:00", "Z"))


def _resource(cluster: Cluster, kind: str) -> Resource:
    try:
        return find_resource(cluster, VELERO_API, kind)
    except ClusterError as error:
        if error.status != 404:
            raise
        raise ClusterError(
            f"the cluster serves no Velero {kind} ({VELERO_API}): are Velero's CRDs installed?",
            status=404,
        ) from None


def _object(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": VELERO_API,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(_MANAGED_BY)},
        "spec": spec,
    }


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:-3]

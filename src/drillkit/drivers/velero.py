"""Velero as the backup provider, for teams that already run it.

drillkit does not back up or restore anything itself here: it creates Velero's
own ``Backup`` and ``Restore`` objects (``velero.io/v1``, in Velero's namespace)
and waits on their ``status.phase`` as the Velero server moves it along, with a
deadline. What Velero does not do, drillkit adds around it: the drill, the timing
and the report.

A phase is terminal when Velero will not change it again: ``Completed`` (done),
or ``Failed``, ``PartiallyFailed``, ``FailedValidation`` (``VeleroFailed``,
naming the phase, the failure reason and the validation errors, else the
counts of errors and warnings).

Across regions, two Velero servers share one bucket: region A's writes a
backup there, and region B's BackupStorageLocation sync creates the matching
``Backup`` object in region B (already Completed) some time later, its sync
period; ``wait_for_synced_backup`` waits for that before a restore needs it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from kubernetes.dynamic.resource import Resource
from pydantic import PlainSerializer, TypeAdapter

from drillkit.drivers.backups import find_resource
from drillkit.drivers.kubernetes import Cluster, translate_api_errors
from drillkit.errors import ClusterError, NotFound
from drillkit.errors import VeleroFailed as VeleroFailed
from drillkit.model.timeline import parse_utc

VELERO_API = "velero.io/v1"
DEFAULT_NAMESPACE = "velero"
COMPLETED = "Completed"
FAILED_PHASES = frozenset({"Failed", "PartiallyFailed", "FailedValidation"})
POLL_INTERVAL = 0.5
_MANAGED_BY = {"app.kubernetes.io/managed-by": "drillkit"}


_OffsetTime = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]
"""Written with Python's ISO format (``+00:00``, microseconds when there are any), as
journals have always held Velero's times."""


@dataclass(frozen=True, kw_only=True)
class VeleroOperation:
    """A Backup or a Restore as Velero reports it."""

    kind: str
    name: str
    namespace: str
    phase: str
    started_utc: _OffsetTime | None
    completed_utc: _OffsetTime | None
    items: int | None
    """Items backed up or restored, when Velero reports progress."""
    warnings: int
    errors: int

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = _OPERATION.dump_python(self, mode="json")
        return document


_OPERATION: Final = TypeAdapter(VeleroOperation)


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
    with translate_api_errors(f"creating velero backup {velero_namespace}/{name}"):
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
    with translate_api_errors(f"creating velero restore {velero_namespace}/{name}"):
        _resource(cluster, "Restore").create(body=body, namespace=velero_namespace)
    return name


def read_operation(
    cluster: Cluster, kind: str, name: str, velero_namespace: str = DEFAULT_NAMESPACE
) -> VeleroOperation:
    return _operation(kind, _read(cluster, kind, name, velero_namespace))


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
    return _wait_for_completion(
        cluster,
        kind,
        name,
        velero_namespace=velero_namespace,
        timeout=timeout,
        hint="is the Velero server running?",
    )


def wait_for_synced_backup(
    cluster: Cluster,
    name: str,
    *,
    velero_namespace: str = DEFAULT_NAMESPACE,
    timeout: float,
) -> VeleroOperation:
    """Wait until this cluster's Velero lists the Backup ``name`` as Completed: a
    backup another cluster's Velero took appears here only when the
    BackupStorageLocation sync brings it over from the shared bucket."""
    # Fail at once when this cluster has no Velero at all, rather than at the deadline.
    _resource(cluster, "Backup")
    return _wait_for_completion(
        cluster,
        "Backup",
        name,
        velero_namespace=velero_namespace,
        timeout=timeout,
        hint=(
            "does this cluster's BackupStorageLocation point at the bucket the backup "
            "was written to, and does its Velero server sync it?"
        ),
    )


def latest_completed_backup(
    cluster: Cluster, velero_namespace: str = DEFAULT_NAMESPACE
) -> VeleroOperation | None:
    """The newest Completed Backup (by completion time), or None."""
    with translate_api_errors(f"listing velero backups in {velero_namespace}"):
        items = _resource(cluster, "Backup").get(namespace=velero_namespace).to_dict()["items"]
    done = [_operation("Backup", i) for i in items]
    done = [d for d in done if d.phase == COMPLETED and d.completed_utc is not None]
    return max(done, key=lambda d: d.completed_utc or datetime.min, default=None)


def _wait_for_completion(
    cluster: Cluster,
    kind: str,
    name: str,
    *,
    velero_namespace: str,
    timeout: float,
    hint: str,
) -> VeleroOperation:
    deadline = time.monotonic() + timeout
    last: VeleroOperation | None = None
    while True:
        try:
            item = _read(cluster, kind, name, velero_namespace)
        except NotFound:
            pass  # not there yet
        except ClusterError:
            # The API server briefly away may pass, until the deadline.
            if time.monotonic() >= deadline:
                raise
        else:
            last = _operation(kind, item)
            if last.phase == COMPLETED:
                return last
            if last.phase in FAILED_PHASES:
                raise VeleroFailed(_failure(last, item))
        if time.monotonic() >= deadline:
            seen = f"phase {last.phase}" if last else "not found"
            raise VeleroFailed(
                f"velero {kind.lower()} {velero_namespace}/{name} not completed after "
                f"{timeout:.0f} s ({seen}); {hint}"
            )
        time.sleep(POLL_INTERVAL)


def _read(cluster: Cluster, kind: str, name: str, velero_namespace: str) -> dict[str, Any]:
    with translate_api_errors(f"reading velero {kind.lower()} {velero_namespace}/{name}"):
        item: dict[str, Any] = (
            _resource(cluster, kind).get(name=name, namespace=velero_namespace).to_dict()
        )
    return item


def _failure(operation: VeleroOperation, item: Mapping[str, Any]) -> str:
    """Velero's own words for a failure: its reason and validation errors; else (a
    PartiallyFailed restore keeps its reasons in the bucket) the counts and where
    to read them."""
    status = item.get("status") or {}
    reasons = [str(status["failureReason"])] if status.get("failureReason") else []
    reasons += [str(v) for v in status.get("validationErrors") or []]
    if not reasons and (operation.errors or operation.warnings):
        reasons.append(
            f"{operation.errors} errors, {operation.warnings} warnings "
            f"(velero {operation.kind.lower()} describe {operation.name} --details)"
        )
    why = f": {'; '.join(reasons)}" if reasons else ""
    kind = operation.kind.lower()
    return f"velero {kind} {operation.namespace}/{operation.name} ended {operation.phase}{why}"


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
    except NotFound:
        raise NotFound(
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

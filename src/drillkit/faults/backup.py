"""Cross-region restore: back up, lose the region, restore elsewhere; as Chaos Toolkit activities.

A cross-region-restore drill's method is three actions:

1. ``take_backup``: export the protected namespaces of the drill's cluster (region
   A) into the backup store (``drillkit.drivers.backups``); nothing disrupted;
2. ``region_disaster``: prove the restore point first (the newest backup is read
   and verified completely), so a bad archive ends the drill before anything is
   touched; then lose region A: its API server stops (``api-unreachable``) or the
   whole lab does (``lab-stopped``);
3. ``restore_backup``: restore the backup into region B (another kubeconfig or
   context) with the restore engine (``drillkit.restoring``), each object announced
   in a journal before it is created, then wait for the restored workloads to be
   available.

Without a disaster, ``restore_backup`` alone is the weekly verification: restore
into a scratch namespace of a running cluster (``namespace_map``), wait, and
delete the scratch namespace again (``cleanup``).

These activities parse their arguments, find their clusters and store
(``drillkit.restoring.targets``), call the engine and report; the journal, the
restore and its cleanup are the engine's.

Undo before harm. ``region_disaster`` records, before it stops anything, how to
start region A again and where this run's restore journal will be
(``<state home>/backup-restores/<run>.json``). If the run dies, ``drill recover``
starts region A, then reads the journal (``drillkit.restoring.engine``): a restore
that completed stays; one that did not is cleaned up, every object it created
deleted (newest first) and their absence verified, so region B is never left
half-restored without saying so. Secrets are restored but never returned: outputs
name objects and count kinds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from drillkit.drivers import velero
from drillkit.drivers.backups import create_backup, ensure_none_exist, find_backup, load_backup
from drillkit.drivers.kubernetes import Cluster, ClusterIdentity
from drillkit.drivers.velero import DEFAULT_NAMESPACE as DEFAULT_VELERO_NAMESPACE
from drillkit.errors import DrillError, InvalidInput
from drillkit.faults.clusters import ensure_distinct_regions
from drillkit.faults.declarations import (
    DISRUPTS_NOTHING,
    FaultDeclaration,
    Reach,
    always,
    declare,
)
from drillkit.faults.steps import (
    AFFECTED_KEY,
    INJECTED_AT,
    RESTORE_POINT_KEY,
    RESTORED_KEY,
    STEPS_KEY,
    affected,
    instant,
    procedure_step,
)
from drillkit.files import state_home, write_atomically
from drillkit.lab.cluster import Lab, lab_reached_by
from drillkit.model.backups import CONFLICT_POLICIES, Backup, BackupInfo, RestoreResult
from drillkit.model.drill import Disruption
from drillkit.model.records import read_record
from drillkit.model.timeline import Instant, format_utc
from drillkit.restoring.engine import (
    RESTORE_BACKUP,
    RestoreStep,
    prepare_restore,
    prepared_backup,
    record_in_source_or_target,
    verify_and_restore,
)
from drillkit.restoring.targets import (
    ClusterAddress,
    resolve_restore_target,
    resolve_store,
    source_address,
)
from drillkit.safety.lock import planned_control_plane_outage
from drillkit.safety.undo import (
    Progress,
    Reverted,
    UndoRecord,
    current_run_id,
    file_safe,
    record_undo,
    reverts,
)
from drillkit.signing import keys_from_environment

logger = logging.getLogger(__name__)

START_REGION = "start-region-lab"
DISASTER_MODES: tuple[str, ...] = ("api-unreachable", "lab-stopped")
PROVIDERS: tuple[str, ...] = ("builtin", "velero")
VELERO_TIMEOUT = 1800.0
VELERO_SYNC_TIMEOUT = 300.0


# -- the activities ---------------------------------------------------------------------


@declare(DISRUPTS_NOTHING)
def take_backup(
    namespaces: list[str],
    store: str | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Back up ``namespaces`` of the drill's cluster into the store; disrupts nothing."""
    backup_store = resolve_store(store, configuration)
    signer, _ = keys_from_environment()
    with source_address().connect() as cluster:
        info = create_backup(cluster, backup_store, namespaces, signer=signer)
    return {INJECTED_AT: None, "backup": info.to_json(), "store": backup_store.description}


@declare(
    FaultDeclaration(
        reach=Reach(lab=always, region_b=True, stops_region_a=True),
        disrupts=Disruption.REGION,
    )
)
def region_disaster(
    mode: str = "api-unreachable",
    lab: str | None = None,
    store: str | None = None,
    backup: str = "latest",
    provider: str = "builtin",
    velero_namespace: str = DEFAULT_VELERO_NAMESPACE,
    velero_sync_timeout: float = VELERO_SYNC_TIMEOUT,
    conflict: str = "skip",
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Prove the restore point, then lose region A (the drill's own lab).

    The built-in provider's restore point must also be restorable: region B answers
    and lets this identity restore, and with ``conflict: fail`` (as the restore will
    use) none of the backup's objects exists there yet.

    With ``provider: velero`` the restore point is the newest Completed Velero
    Backup of region A (or the one ``backup`` names), once region B's Velero lists
    it Completed too: its BackupStorageLocation sync brings it over from the bucket
    both share, within ``velero_sync_timeout`` seconds."""
    if mode not in DISASTER_MODES:
        raise InvalidInput(
            f"region_disaster: mode must be one of {', '.join(DISASTER_MODES)}, not {mode!r}"
        )
    if provider not in PROVIDERS:
        raise InvalidInput(
            f"region_disaster: provider must be one of {', '.join(PROVIDERS)}, not {provider!r}"
        )
    # Region A is the lab the drill measures; a lab named here must be that one.
    with source_address().connect() as source:
        region_a = source.identity()
    region = lab_reached_by(region_a, named=_named_lab(lab, configuration))
    lab_name = region.shape.name
    journal_file: Path | None = None
    if provider == "velero":
        # Velero keeps the backup; region B's Velero restores only what it sees.
        target = resolve_restore_target(None, None, configuration)
        restore_point = _velero_restore_point(
            source_address(), target, backup, velero_namespace, velero_sync_timeout
        )
    else:
        backup_store = resolve_store(store, configuration)
        # Before anything destructive: the backup is whole and readable, every object,
        # and region B answers and lets this identity restore.
        _, verifier = keys_from_environment()
        chosen = load_backup(backup_store, find_backup(backup_store, backup), verifier=verifier)
        _ensure_restorable(chosen, conflict, configuration, region_a)
        restore_point = _restore_point(chosen.info, backup_store.description)
        journal_file = prepare_restore(chosen.info, backup_store.description)
    # Undo before harm, in this order: a revert runs newest first, so region A's
    # API server is back before the restore journal is read.
    with source_address().connect() as cluster:
        if journal_file is not None:
            record_undo(RESTORE_BACKUP, (str(journal_file),), cluster=cluster)
        record_undo(START_REGION, (lab_name, mode), cluster=cluster)
    planned_control_plane_outage(True)
    started = instant()
    # t_inject is the first component signalled, not the end of the stop: the region
    # serves nothing from then on, and the observer may see it gone at once.
    signalled: list[dict[str, object]] = []

    def note_signal() -> None:
        if not signalled:
            signalled.append(instant())

    if mode == "api-unreachable":
        region.component("kube-apiserver").kill(on_signalled=note_signal)
    else:
        region.down(
            lambda message: logger.info("region %s: %s", lab_name, message),
            on_signalled=note_signal,
        )
    finished = instant()
    acknowledged = signalled[0] if signalled else finished
    step = _step(
        "disaster",
        f"lose region {lab_name}",
        f"{mode}: {'kill the API server' if mode == 'api-unreachable' else 'stop every component'}",
        started,
        finished,
    )
    return {
        INJECTED_AT: acknowledged,
        AFFECTED_KEY: [affected("Region", region.shape.region, action=f"{mode} (lab {lab_name})")],
        STEPS_KEY: [step],
        RESTORE_POINT_KEY: restore_point,
        "mode": mode,
        "lab": lab_name,
    }


@declare(FaultDeclaration(blast_radius=None, reach=Reach(region_b=True)))
def restore_backup(
    store: str | None = None,
    backup: str = "latest",
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace_map: Mapping[str, str] | None = None,
    conflict: str = "skip",
    wait: bool = True,
    cleanup: bool = False,
    cluster_kinds: list[str] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore the backup (the one the disaster proved, else ``backup``) into region B.

    Only the backup's namespaces are written, plus cluster-scoped objects of the kinds
    in ``cluster_kinds`` that the backup declares (its CRDs, say)."""
    if conflict not in CONFLICT_POLICIES:
        raise InvalidInput(
            f"restore_backup: conflict must be one of {', '.join(CONFLICT_POLICIES)}, "
            f"not {conflict!r}"
        )
    backup_store = resolve_store(store, configuration)
    target = resolve_restore_target(kubeconfig, context, configuration)
    _, verifier = keys_from_environment()
    outcome = verify_and_restore(
        backup_store,
        prepared_backup(current_run_id()) or backup,
        target,
        verifier=verifier,
        namespace_map=dict(namespace_map or {}),
        conflict=conflict,
        wait=wait,
        cleanup=cleanup,
        record=record_in_source_or_target,
        progress=logger.info,
        allowed_cluster_kinds=tuple(cluster_kinds or ()),
    )
    name = outcome.backup.name
    return {
        INJECTED_AT: None,
        STEPS_KEY: [_restore_step(step) for step in outcome.steps],
        "backup": name,
        "target": target.describe(),
        "restored": outcome.result.to_json(),
        RESTORED_KEY: summarise_restore(name, target.describe(), outcome.result),
    }


@declare(DISRUPTS_NOTHING)
def take_velero_backup(
    namespaces: list[str],
    velero_namespace: str = DEFAULT_VELERO_NAMESPACE,
    storage_location: str | None = None,
    timeout: float = VELERO_TIMEOUT,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Ask the drill's cluster's Velero for a backup and wait until it completes."""
    started = instant()
    with source_address().connect() as cluster:
        name = velero.create_backup(
            cluster,
            namespaces,
            velero_namespace=velero_namespace,
            storage_location=storage_location,
        )
        done = velero.wait_for_phase(
            cluster, "Backup", name, velero_namespace=velero_namespace, timeout=timeout
        )
    return _velero_output(
        "backup", f"{velero_namespace}/{name} of {', '.join(namespaces)}", done, started
    )


@declare(FaultDeclaration(blast_radius=None, reach=Reach(region_b=True)))
def restore_velero_backup(
    backup: str = "latest",
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace_map: Mapping[str, str] | None = None,
    conflict: str = "skip",
    velero_namespace: str = DEFAULT_VELERO_NAMESPACE,
    timeout: float = VELERO_TIMEOUT,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Ask region B's Velero to restore ``backup`` and wait until it completes.
    ``latest``: the backup this run's ``region_disaster`` proved, else the newest
    Completed one. ``conflict``: skip (Velero's ``none``) or replace (``update``); a
    Velero restore is Velero's to finish or fail, never half-applied by drillkit."""
    if conflict not in ("skip", "replace"):
        raise InvalidInput(
            f"restore_velero_backup: conflict must be skip or replace, not {conflict!r}"
        )
    target = resolve_restore_target(kubeconfig, context, configuration)
    proved = _proved_velero_backup(current_run_id(), velero_namespace)
    started = instant()
    with target.connect() as cluster:
        if backup == "latest" and proved is not None:
            chosen = proved
        else:
            chosen = _velero_backup(cluster, backup, velero_namespace)
        name = velero.create_restore(
            cluster,
            chosen,
            velero_namespace=velero_namespace,
            namespace_map=namespace_map,
            replace_existing=conflict == "replace",
        )
        done = velero.wait_for_phase(
            cluster, "Restore", name, velero_namespace=velero_namespace, timeout=timeout
        )
    return _velero_output("restore", f"{velero_namespace}/{name} of {chosen}", done, started)


@declare(FaultDeclaration(blast_radius=None, reach=Reach(lab=always)))
def start_region(
    lab: str | None = None, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The rollback of ``region_disaster``: region A runs again.

    Region A is found from the drill's kubeconfig without asking its API server,
    which is down: by the API server's URL and CA."""
    with source_address().connect() as source:
        region = lab_reached_by(source.identity(ask=False), named=_named_lab(lab, configuration))
    lab_name = region.shape.name
    changes = _start_lab(lab_name, progress=logger.info)
    planned_control_plane_outage(False)
    return {"lab": lab_name, "changes": list(changes)}


def _start_lab(lab_name: str, *, progress: Progress) -> tuple[str, ...]:
    region = Lab.open(lab_name)
    api = region.component("kube-apiserver")
    if all(c.is_running() for c in region.components()):
        api.wait_ready()
        return ()
    if any(c.is_running() for c in region.components()) and not api.is_running():
        progress(f"starting the API server of lab {lab_name}")
        api.start()
        api.wait_ready()
        return (f"started the API server of lab {lab_name}",)
    progress(f"starting lab {lab_name}")
    region.up(progress)
    return (f"started lab {lab_name}",)


def _named_lab(lab: str | None, configuration: Mapping[str, Any] | None) -> str | None:
    """The lab an activity names for region A (its argument, else the configuration's)."""
    return lab or str((configuration or {}).get("lab") or "") or None


def _velero_backup(cluster: Cluster, reference: str, velero_namespace: str) -> str:
    if reference != "latest":
        return reference
    latest = velero.latest_completed_backup(cluster, velero_namespace)
    if latest is None:
        raise DrillError(f"no Completed Velero backup in namespace {velero_namespace}")
    return latest.name


def _velero_restore_point(
    source: ClusterAddress,
    target: ClusterAddress,
    reference: str,
    velero_namespace: str,
    sync_timeout: float,
) -> dict[str, object]:
    name = reference
    if reference == "latest":
        # Region A still answers: its newest backup is the one the drill (or its
        # schedule) took last, and region B's sync may not have brought it over yet.
        with source.connect() as cluster:
            name = _velero_backup(cluster, reference, velero_namespace)
    with target.connect() as cluster:
        try:
            backup = velero.wait_for_synced_backup(
                cluster, name, velero_namespace=velero_namespace, timeout=sync_timeout
            )
        except velero.VeleroFailed as error:
            raise velero.VeleroFailed(f"in region B ({target.describe()}), {error}") from None
    # Velero reads the objects between its start and its completion: what was
    # written after the start may be missing, so the backup's age counts from it.
    taken = backup.started_utc or backup.completed_utc
    if taken is None:
        raise DrillError(
            f"velero backup {velero_namespace}/{name} has no start or completion time; "
            "its age, and so the data a restore of it loses, is unknown"
        )
    # restore_velero_backup restores this backup, not whatever is newest by then.
    _save_velero_restore_point(
        current_run_id(), VeleroRestorePoint(backup=name, velero_namespace=velero_namespace)
    )
    return {
        "path": f"velero://{velero_namespace}/{name}",
        "sha256": None,  # Velero keeps the archive and its checksums in its bucket
        "taken_utc": format_utc(taken),
        "size": None,
        "name": name,
        "items": backup.items,
        "age_seconds": round((datetime.now(UTC) - taken).total_seconds(), 3),
    }


def _ensure_restorable(
    backup: Backup,
    conflict: str,
    configuration: Mapping[str, Any] | None,
    region_a: ClusterIdentity,
) -> None:
    """Region B, as the drill's configuration names it, answers, is not region A, lets
    this identity create namespaces (``drillkit-restorer``) and, under ``conflict:
    fail``, holds none of the backup's objects; a restore_backup given a cluster of its
    own is checked when it runs."""
    if conflict not in CONFLICT_POLICIES:
        raise InvalidInput(
            f"region_disaster: conflict must be one of {', '.join(CONFLICT_POLICIES)}, "
            f"not {conflict!r}"
        )
    try:
        target = resolve_restore_target(None, None, configuration)
    except InvalidInput:
        return
    with target.connect() as cluster:
        ensure_distinct_regions(region_a, cluster.identity())
        if not cluster.may("create", "namespaces"):
            raise DrillError(
                f"region B ({target.describe()}) would refuse the restore: this identity "
                "may not create namespaces there (bind drillkit-restorer, "
                "deploy/backup-rbac.yaml); region A was not touched"
            )
        if conflict == "fail":
            ensure_none_exist(cluster, backup.objects, consequence="region A was not touched")


@dataclass(frozen=True, kw_only=True)
class VeleroRestorePoint:
    """The Velero backup a run's region disaster proved, for its ``restore_velero_backup``."""

    backup: str
    velero_namespace: str


_RESTORE_POINT: Final[TypeAdapter[VeleroRestorePoint]] = TypeAdapter(VeleroRestorePoint)


def _velero_restore_point_file(run_id: str) -> Path:
    return state_home() / "velero-restore-points" / f"{file_safe(run_id)}.json"


def _save_velero_restore_point(run_id: str, chosen: VeleroRestorePoint) -> Path:
    path = _velero_restore_point_file(run_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = _RESTORE_POINT.dump_python(chosen, mode="json")
    write_atomically(path, (json.dumps(document) + "\n").encode(), mode=0o600)
    return path


def _proved_velero_backup(run_id: str, velero_namespace: str) -> str | None:
    """The backup this run's disaster proved, once: the file goes as it is read."""
    path = _velero_restore_point_file(run_id)
    try:
        chosen = read_record(_RESTORE_POINT, json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except ValueError as error:  # not JSON, or not a restore point (read_record's one line)
        raise DrillError(f"unreadable velero restore point {path}: {error}") from None
    path.unlink(missing_ok=True)
    if chosen.velero_namespace != velero_namespace:
        return None
    return chosen.backup


def _velero_output(
    phase: str, what: str, done: velero.VeleroOperation, started: dict[str, object]
) -> dict[str, Any]:
    """An activity's output once the Velero ``phase`` (backup or restore) of ``what``
    is done: the operation as one procedure step, and as Velero reports it."""
    command = f"velero {phase} {what}: {_velero_outcome(done)}"
    step = _step(phase, f"velero {phase}", command, started, instant())
    return {INJECTED_AT: None, STEPS_KEY: [step], phase: done.to_json()}


def _velero_outcome(done: velero.VeleroOperation) -> str:
    items = "an unreported number of" if done.items is None else str(done.items)
    return f"{done.phase}, {items} items, {done.warnings} warnings, {done.errors} errors"


def _restore_point(info: BackupInfo, store: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "path": f"{store.rstrip('/')}/{info.archive_key}",
        "sha256": info.sha256,
        "taken_utc": format_utc(info.taken_utc),
        "size": info.size,
        "name": info.name,
        "counts": dict(info.counts),
        "age_seconds": round(info.age_seconds(now), 3),
    }


def summarise_restore(backup: str, target: str, result: RestoreResult) -> dict[str, object]:
    """The ``RESTORED_KEY`` output of a restore, for the run's report: kinds and counts.

    Object names and contents stay out (a Secret's data above all). The counts are a
    list of pairs, not a mapping: the journal's redaction blanks the value of any key
    named like a secret, and the kind ``Secret`` is one."""
    keys = [*result.created, *result.replaced, *result.skipped]
    namespaces = {k.name if k.kind == "Namespace" else k.namespace for k in keys}
    return {
        "backup": backup,
        "target": target,
        "namespaces": sorted(n for n in namespaces if n),
        "objects_by_kind": [{"kind": k, "count": n} for k, n in result.counts().items()],
        "created": len(result.created),
        "replaced": len(result.replaced),
        "skipped": len(result.skipped),
    }


def _step(
    phase: str,
    name: str,
    command: str,
    started: dict[str, object],
    finished: dict[str, object],
) -> dict[str, object]:
    return procedure_step(
        phase=phase,
        name=name,
        command=command,
        executor="kubernetes-api",
        started=started,
        finished=finished,
    )


def _restore_step(step: RestoreStep) -> dict[str, object]:
    return _step(
        step.phase, step.name, step.command, _instant(step.started), _instant(step.finished)
    )


def _instant(moment: Instant) -> dict[str, object]:
    """An engine's instant as ``instant()`` gives one."""
    return {"monotonic": moment.monotonic, "utc": format_utc(moment.utc)}


# -- undo ---------------------------------------------------------------------------------


def _describe_start_region(target: tuple[str, ...]) -> str:
    return f"start region lab {target[0]} again (after {target[1]})"


@reverts(START_REGION, target_arity=2, describe=_describe_start_region, control_plane=True)
def _revert_start_region(record: UndoRecord, cluster: Cluster, progress: Progress) -> Reverted:
    lab_name = record.target[0]
    changes = _start_lab(lab_name, progress=progress)
    planned_control_plane_outage(False)
    # The Velero backup the run's disaster proved, left when the run died before its restore.
    _velero_restore_point_file(record.run_id).unlink(missing_ok=True)
    return Reverted(changes=changes)


# The Chaos Toolkit activities of this module (what `chaos discover` lists); the other
# public functions serve drillkit itself and are no part of the experiment file API.
__all__ = [
    "region_disaster",
    "restore_backup",
    "restore_velero_backup",
    "start_region",
    "take_backup",
    "take_velero_backup",
]

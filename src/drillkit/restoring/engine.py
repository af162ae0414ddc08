"""The restore engine: verify a backup, restore it journalled, clean up what it wrote.

One engine for both ways a backup is restored: the ``restore_backup`` activity of a
cross-region-restore drill (``drillkit.faults.backup``) and ``drill backup restore``.
:func:`verify_and_restore` reads the backup and checks every digest (and its
signature, given a verifier), then :func:`run_restore` writes only what the backup
covers into the target, in dependency order, announcing each object in the journal
(``drillkit.restoring.journal``) before it is created, and waits for the restored
workloads. A failure cleans up what this restore created and says so; a
verification restore (``cleanup``) deletes itself once it is done.

Undo before harm: before its first write a restore records an undo action
(``restore-backup``, naming its journal). ``drill recover`` reads the journal: a
restore that completed stays; one that did not is cleaned up, every object it created
deleted (newest first) and their absence verified, so a cluster is never left
half-restored without saying so. Within a drill run the record is kept in the drill's
own cluster when it answers, else the target (:func:`record_in_source_or_target`);
outside a run it is kept with the target and resolved once the restore completed
(:class:`UndoAtTarget`).

It sits above ``drillkit.safety`` (undo records), ``drillkit.lab`` and
``drillkit.drivers.backups`` (the cluster and the store), and below the faults and
the CLI, which turn its timed steps into their own output. Secrets are restored but
never returned: results name objects and count kinds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from drillkit.drivers.backups import (
    delete_object,
    find_backup,
    load_backup,
    object_exists,
    restore_objects,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.drivers.objectstore import ObjectStore
from drillkit.errors import ClusterError, DrillError
from drillkit.model.backups import (
    Backup,
    BackupInfo,
    CatalogueVerifier,
    ObjectKey,
    RestoreResult,
    ensure_within_backup,
    map_namespaces,
)
from drillkit.model.timeline import Instant
from drillkit.restoring.journal import RestoreJournal, restore_journal_file
from drillkit.restoring.targets import ClusterAddress, source_address
from drillkit.safety.undo import (
    Progress,
    Reverted,
    UndoRecord,
    current_run_id,
    own_state_file,
    record_undo,
    resolve_undo,
    reverts,
)

logger = logging.getLogger(__name__)

RESTORE_BACKUP = "restore-backup"
WORKLOAD_TIMEOUT = 300.0
CLEANUP_TIMEOUT = 120.0
_WORKLOAD_KINDS = ("Deployment", "StatefulSet")


@dataclass(frozen=True, kw_only=True)
class RestoreStep:
    """One timed part of a restore (``verify``, ``restore``, ``cleanup``), for a
    fault to report as a procedure step."""

    phase: str
    name: str
    command: str
    started: Instant
    finished: Instant


@dataclass(frozen=True, kw_only=True)
class RestoreOutcome:
    """What a restore did: the backup restored, the result, its timed steps, and what
    its cleanup deleted when it cleaned up after itself."""

    backup: BackupInfo
    result: RestoreResult
    steps: tuple[RestoreStep, ...]
    journal: Path
    cleanup: str | None = None


Recorder = Callable[[Path, ClusterAddress], None]
"""Records the undo of the restore journalled at a path into a target, before it writes."""


def verify_and_restore(
    store: ObjectStore,
    backup: BackupInfo | str,
    target: ClusterAddress,
    *,
    verifier: CatalogueVerifier | None,
    namespace_map: Mapping[str, str],
    conflict: str,
    wait: bool,
    cleanup: bool,
    record: Recorder,
    progress: Progress,
    allowed_cluster_kinds: Collection[str] = (),
) -> RestoreOutcome:
    """Read ``backup`` (a catalogue entry, or ``latest`` or a name to find in ``store``)
    and check it completely, restore it into ``target`` (:func:`run_restore`) and, with
    ``cleanup``, delete what the restore created again."""
    started = _now()
    chosen = find_backup(store, backup) if isinstance(backup, str) else backup
    loaded = load_backup(store, chosen, verifier=verifier)
    steps = [
        _finished(
            "verify",
            "verify the backup",
            f"read {loaded.info.name} from {store.description}, check every digest",
            started,
        )
    ]
    progress(f"{loaded.info.name} verified: {len(loaded.objects)} objects")
    result, restore_steps = run_restore(
        loaded,
        target,
        store=store.description,
        namespace_map=namespace_map,
        conflict=conflict,
        wait=wait,
        record=record,
        allowed_cluster_kinds=allowed_cluster_kinds,
    )
    steps += restore_steps
    journal = restore_journal_file(current_run_id())
    removed = None
    if cleanup:
        started = _now()
        with target.connect() as cluster:
            removed = cleanup_restore(cluster, RestoreJournal.load(journal), progress=progress)
        steps.append(_finished("cleanup", "delete the verification restore", removed, started))
    return RestoreOutcome(
        backup=loaded.info,
        result=result,
        steps=tuple(steps),
        journal=journal,
        cleanup=removed,
    )


def prepare_restore(backup: BackupInfo, store: str) -> Path:
    """Journal the restore of ``backup`` that a disaster is about to make necessary,
    before anything is written: a later restore in the run restores this backup."""
    journal = RestoreJournal(
        run_id=current_run_id(), backup=backup, store=store, target=None, phase="prepared"
    )
    return journal.save()


def prepared_backup(run_id: str) -> BackupInfo | None:
    """The backup run ``run_id``'s journal names, if it has one: the one its disaster
    proved (:func:`prepare_restore`), or the one it restored already."""
    path = restore_journal_file(run_id)
    return RestoreJournal.load(path).backup if path.exists() else None


def run_restore(
    backup: Backup,
    target: ClusterAddress,
    *,
    store: str,
    namespace_map: Mapping[str, str],
    conflict: str,
    wait: bool,
    record: Recorder,
    allowed_cluster_kinds: Collection[str] = (),
) -> tuple[RestoreResult, list[RestoreStep]]:
    """Restore a verified backup into ``target``, journalled; a failure cleans up what
    this restore created and says so. Returns the result and the timed steps.

    Only what the backup covers is written (``ensure_within_backup``); an archive
    holding anything else is refused before the journal or the target is touched."""
    ensure_within_backup(backup, allowed_cluster_kinds=allowed_cluster_kinds)
    journal = RestoreJournal(
        run_id=current_run_id(),
        backup=backup.info,
        store=store,
        target=target,
        phase="restoring",
    )
    path = journal.save()
    record(path, target)
    objects = map_namespaces(backup.objects, namespace_map)

    def before_create(key: ObjectKey) -> None:
        journal.created.append(key)
        journal.save()

    steps: list[RestoreStep] = []
    with target.connect() as cluster:
        started = _now()
        try:
            result = restore_objects(
                cluster, objects, conflict=conflict, before_create=before_create
            )
        except DrillError as failure:
            removed = cleanup_restore(cluster, journal, progress=logger.info)
            raise DrillError(f"{failure}; the partial restore was cleaned up: {removed}") from None
        journal.phase = "restored"
        journal.save()
        counts = ", ".join(f"{n} {k}" for k, n in result.counts().items())
        steps.append(
            _finished(
                "restore",
                "restore the objects",
                f"{len(result.created)} created, {len(result.replaced)} replaced, "
                f"{len(result.skipped)} skipped ({counts}) into {target.describe()}",
                started,
            )
        )
        if wait:
            started = _now()
            workloads = [
                o
                for o in objects
                if o["kind"] in _WORKLOAD_KINDS and o["metadata"].get("namespace")
            ]
            for item in workloads:
                kind = str(item["kind"])
                where, name = str(item["metadata"]["namespace"]), str(item["metadata"]["name"])
                _wait_available(cluster, kind, where, name)
            journal.phase = "available"
            journal.save()
            steps.append(
                _finished(
                    "restore",
                    "wait for the restored workloads",
                    f"{len(workloads)} workloads available",
                    started,
                )
            )
    return result, steps


def cleanup_restore(cluster: Cluster, journal: RestoreJournal, *, progress: Progress) -> str:
    """Delete every object the restore created, newest first, and verify they are gone."""
    created = list(dict.fromkeys(journal.created))
    # Deleting a namespace this restore created takes everything in it along; its
    # objects are not deleted one by one, the namespace goes last.
    namespaces = {k.name for k in created if k.kind == "Namespace"}
    deleted = 0
    for key in reversed(created):
        if key.namespace in namespaces:
            continue
        progress(f"deleting {key.describe()} (created by the interrupted restore)")
        deleted += delete_object(cluster, key)
    remaining = [k for k in created if k.namespace not in namespaces]

    def gone() -> bool:
        return not any(object_exists(cluster, k) for k in remaining)

    cluster.wait_for(
        "the objects of the interrupted restore to be gone", gone, timeout=CLEANUP_TIMEOUT
    )
    journal.phase = "cleaned"
    journal.save()
    return f"{deleted} of {len(created)} created objects deleted"


def record_in_source_or_target(path: Path, target: ClusterAddress) -> None:
    """Record the restore's undo where ``drill recover`` will look: the drill's own
    cluster when it answers (the record may exist from the disaster already), else the
    restore target."""
    for address in (source_address(), target):
        try:
            with address.connect() as cluster:
                record_undo(RESTORE_BACKUP, (str(path),), cluster=cluster)
            return
        except DrillError as error:
            logger.info("restore undo record not kept in %s: %s", address.describe(), error)
    raise DrillError(f"cannot record how to clean up the restore journalled in {path}")


@dataclass
class UndoAtTarget:
    """The :data:`Recorder` of a restore outside a drill run: the record lives with the
    cluster restored into, where ``drill recover`` finds it."""

    records: list[UndoRecord] = field(default_factory=list)

    def __call__(self, path: Path, target: ClusterAddress) -> None:
        with target.connect() as cluster:
            self.records.append(record_undo(RESTORE_BACKUP, (str(path),), cluster=cluster))

    def resolve(self, target: ClusterAddress, journal: Path) -> None:
        """The restore completed: nothing is left for ``drill recover`` to do."""
        with target.connect() as cluster:
            for item in self.records:
                resolve_undo(item, cluster=cluster)
        journal.unlink(missing_ok=True)


def _wait_available(cluster: Cluster, kind: str, namespace: str, name: str) -> None:
    def available() -> bool:
        ready, desired = cluster.workload_ready_replicas(kind, namespace, name)
        return ready >= desired

    cluster.wait_for(
        f"{kind.lower()} {namespace}/{name} to be available", available, timeout=WORKLOAD_TIMEOUT
    )


def _now() -> Instant:
    return Instant(monotonic=time.monotonic(), utc=datetime.now(UTC))


def _finished(phase: str, name: str, command: str, started: Instant) -> RestoreStep:
    """The step that began at ``started`` and has just finished."""
    return RestoreStep(phase=phase, name=name, command=command, started=started, finished=_now())


# -- undo ---------------------------------------------------------------------------------


def _describe_restore(target: tuple[str, ...]) -> str:
    return f"finish or clean up the restore journalled in {target[0]}"


@reverts(RESTORE_BACKUP, target_arity=1, describe=_describe_restore, control_plane=True)
def _revert_restore(record: UndoRecord, cluster: Cluster, progress: Progress) -> Reverted:
    # Only this run's own journal, in drillkit's state home, names what to delete.
    path = own_state_file(
        record,
        restore_journal_file(record.run_id),
        what="restore journal",
        refused="nothing deleted",
    )
    if not path.exists():
        return Reverted(notes=(f"no restore journal at {path}; nothing was restored",))
    journal = RestoreJournal.load(path)
    if journal.phase in ("prepared", "cleaned") or journal.target is None:
        path.unlink()
        return Reverted(notes=(f"restore of {journal.backup.name}: nothing left to clean up",))
    if journal.phase in ("restored", "available"):
        path.unlink()
        return Reverted(
            notes=(
                f"restore of {journal.backup.name} into {journal.target.describe()} had "
                f"completed ({len(journal.created)} objects created); it stays",
            )
        )
    progress(f"cleaning up the interrupted restore of {journal.backup.name}")
    try:
        with journal.target.connect() as target:
            removed = cleanup_restore(target, journal, progress=progress)
    except ClusterError as error:
        raise DrillError(
            f"the interrupted restore of {journal.backup.name} into {journal.target.describe()} "
            f"is half-applied and could not be cleaned up: {error}"
        ) from error
    path.unlink()
    return Reverted(
        changes=(
            f"interrupted restore of {journal.backup.name} cleaned up in "
            f"{journal.target.describe()}: {removed}",
        )
    )

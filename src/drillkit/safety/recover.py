"""Revert what dead runs left behind: the crash half of "undo before harm".

A run reverts its own changes when it ends, fails or is interrupted
(``revert_run``). A run killed outright (SIGKILL, power loss) cannot, so the next
``drill run``, ``drill recover`` or scheduler start calls ``recover``: it takes
every pending undo record (``drillkit.safety.undo``) whose run is no longer
alive, reverts it, verifies the revert and resolves the record. It then sweeps
for orphaned cordons, nodes annotated ``drillkit.io/cordoned-by`` by a dead run
that left no record. Everything is idempotent, so running it twice is harmless.

Records it must not act on are reported as refused and left where they are: one
that cannot be read, and a cluster-side record of an action that runs something
on this machine without the same record in this machine's state home
(``drillkit.safety.undo`` says why). Neither stops the other records' reverts.

A run is alive when it holds the cluster lock (``drillkit.safety.lock``; a lock
whose holder process is known dead on this host is not held), or when the process
that wrote its record still exists on this host and started before the record was
written (a reused pid started later). A process on another host cannot be
checked; a ``drill run`` there holds the lock while it lives, so without the lock
it is dead, while a bare ``chaos run`` there (whose
run id is ``pid-<pid>@<host>``) holds no lock and is left alone. When in doubt,
a run counts as alive: a revert postponed is better than one that undoes a live
drill's fault under its feet.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import DrillError
from drillkit.processes import process_is_alive
from drillkit.safety.lock import LOCK_NAME, LOCK_NAMESPACE, read_lock_holder
from drillkit.safety.undo import (
    CORDONED_BY,
    UNCORDON_NODES,
    Progress,
    RefusedUndo,
    Reverted,
    UndoRecord,
    describe_undo,
    local_control_plane_undo,
    resolve_undo,
    survey_undo,
    uncordon_nodes_marked_by,
    undo_action,
)

_PID_MARKER = re.compile(r"^pid-(?P<pid>\d+)@(?P<host>.+)$")


class RecoveryOutcome(StrEnum):
    """What became of one undo record (or one dead run's orphaned cordons)."""

    REVERTED = "reverted"
    """Changed back and verified; the record is resolved."""
    ALREADY_REVERTED = "already reverted"
    """Nothing left to change; the record is resolved."""
    SKIPPED = "skipped"
    """The run is alive; left alone."""
    FAILED = "failed"
    """The revert or its verification failed; the record stays for the next attempt."""
    REFUSED = "refused"
    """Unreadable, or not to be trusted; nothing done, the record stays for a person."""


@dataclass(frozen=True, kw_only=True)
class RecoveryAction:
    """One thing ``recover`` or ``revert_run`` did, or deliberately did not do."""

    run_id: str
    action: str
    target: tuple[str, ...]
    outcome: RecoveryOutcome
    details: tuple[str, ...] = ()
    orphan: bool = False
    """True for cordons found by their annotation alone, without an undo record."""
    where: str | None = None
    """For a refused record: the file or ConfigMap that holds it."""

    def describe(self) -> str:
        """One line for people: ``run X: uncordon nodes node-a-1: reverted (...)``."""
        what = describe_undo(self.action, self.target) if self.target else self.action
        source = " (orphaned cordon, no undo record)" if self.orphan else ""
        if self.where is not None:
            source = f" in {self.where}"
        detail = f" ({'; '.join(self.details)})" if self.details else ""
        return f"run {self.run_id}: {what}{source}: {self.outcome}{detail}"

    def as_leftover(self) -> str:
        """The line a run or the scheduler prints for what it found before starting."""
        match self.outcome:
            case RecoveryOutcome.SKIPPED:
                return f"left alone, its run is alive: {self.describe()}"
            case RecoveryOutcome.REFUSED:
                return f"not acted on, a person must look at it: {self.describe()}"
            case RecoveryOutcome.FAILED:
                return f"could not revert what an earlier run left: {self.describe()}"
            case _:
                return f"recovered from an earlier run: {self.describe()}"


# -- is a run alive? ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunIdentity:
    """What is known about a run that may still be alive."""

    run_id: str
    pid: int | None
    host: str | None
    recorded_utc: datetime | None
    """When the run was last known alive (its record was written); None when unknown."""

    @classmethod
    def of_record(cls, record: UndoRecord) -> RunIdentity:
        return cls(
            run_id=record.run_id, pid=record.pid, host=record.host, recorded_utc=record.created_utc
        )

    @classmethod
    def of_marker(cls, run_id: str) -> RunIdentity:
        """From a run id alone (a node annotation): ``pid-<pid>@<host>`` names a process."""
        match = _PID_MARKER.match(run_id)
        if match is None:
            return cls(run_id=run_id, pid=None, host=None, recorded_utc=None)
        return cls(run_id=run_id, pid=int(match["pid"]), host=match["host"], recorded_utc=None)


IsAlive = Callable[[RunIdentity], bool]
ProcessAlive = Callable[[int, datetime | None], bool]


def judge_alive(
    run: RunIdentity, *, lock_holder: str | None, this_host: str, process_alive: ProcessAlive
) -> bool:
    """Whether a run may still be running, by the rules in this module's docstring; pure."""
    if lock_holder is not None and lock_holder == run.run_id:
        return True
    if run.pid is None or run.host is None:
        # A drill run's id: drill runs hold the lock for their whole life.
        return False
    if run.host != this_host:
        # Nothing to check from here; only a lock-less `chaos run` could still be alive.
        return _PID_MARKER.match(run.run_id) is not None
    return process_alive(run.pid, run.recorded_utc)


def default_liveness(
    cluster: Cluster, *, lock_namespace: str = LOCK_NAMESPACE, lock_name: str = LOCK_NAME
) -> IsAlive:
    """The lock holder now, this host and its processes, as ``judge_alive`` wants them."""
    return _liveness(read_lock_holder(cluster, namespace=lock_namespace, name=lock_name))


def _liveness(lock_holder: str | None) -> IsAlive:
    """``judge_alive`` with the run holding the lock (None: free, or not to be read)."""
    host = socket.gethostname()

    def is_alive(run: RunIdentity) -> bool:
        return judge_alive(
            run, lock_holder=lock_holder, this_host=host, process_alive=process_is_alive
        )

    return is_alive


# -- recovering ---------------------------------------------------------------------------


def recover(
    cluster: Cluster,
    *,
    progress: Progress,
    is_alive: IsAlive | None = None,
    undo_dir: Path | None = None,
    lock_namespace: str = LOCK_NAMESPACE,
    lock_name: str = LOCK_NAME,
) -> list[RecoveryAction]:
    """Revert and resolve every pending undo record of a dead run, then orphaned cordons.

    Records of live runs are reported as skipped. A failed revert is reported as
    failed and its record kept; the others still run.
    """
    # First what brings the API server back (a crashed etcd restore), judged and
    # reverted from the local records alone: every other step below needs the API.
    actions = _revert_dead_runs(
        cluster,
        local_control_plane_undo(cluster, undo_dir=undo_dir),
        # No lock to read without the API server: this host's processes only.
        alive=is_alive or _liveness(None),
        cordoned_runs=set(),
        progress=progress,
        undo_dir=undo_dir,
    )
    if any(a.outcome is RecoveryOutcome.FAILED for a in actions):
        # The API server is most likely still down: say what failed, not that a
        # lease could not be read.
        return actions
    alive = is_alive or default_liveness(
        cluster, lock_namespace=lock_namespace, lock_name=lock_name
    )
    pending = survey_undo(cluster, undo_dir=undo_dir)
    actions += [_refused_action(r) for r in pending.refused]
    marked_runs = _runs_with_cordons(cluster)
    actions += _revert_dead_runs(
        cluster,
        pending.records,
        alive=alive,
        cordoned_runs=marked_runs,
        progress=progress,
        undo_dir=undo_dir,
    )
    for run_id in sorted(marked_runs - {r.run_id for r in pending.records}):
        if alive(RunIdentity.of_marker(run_id)):
            actions.append(
                _orphan_action(
                    run_id,
                    _nodes_marked_by(cluster, run_id),
                    RecoveryOutcome.SKIPPED,
                    (f"run {run_id} is still alive",),
                )
            )
            continue
        actions += _revert_run_records(
            cluster, run_id, [], sweep_cordons=True, progress=progress, undo_dir=undo_dir
        )
    return actions


def revert_run(
    cluster: Cluster, run_id: str, *, progress: Progress, undo_dir: Path | None = None
) -> list[RecoveryAction]:
    """Revert everything one run recorded, and its cordons; for the run's own end.

    ``drill run`` calls this on normal end, on error and on SIGINT/SIGTERM, after the
    experiment's rollbacks: what they already reverted is found reverted and resolved.
    """
    actions = _revert_dead_runs(
        cluster,
        local_control_plane_undo(cluster, undo_dir=undo_dir, run_id=run_id),
        alive=lambda _: False,
        cordoned_runs=set(),
        progress=progress,
        undo_dir=undo_dir,
    )
    pending = survey_undo(cluster, undo_dir=undo_dir, run_id=run_id)
    actions += [_refused_action(r) for r in pending.refused]
    return actions + _revert_run_records(
        cluster,
        run_id,
        pending.records,
        sweep_cordons=run_id in _runs_with_cordons(cluster),
        progress=progress,
        undo_dir=undo_dir,
    )


def _revert_dead_runs(
    cluster: Cluster,
    records: Sequence[UndoRecord],
    *,
    alive: IsAlive,
    cordoned_runs: set[str],
    progress: Progress,
    undo_dir: Path | None,
) -> list[RecoveryAction]:
    """Revert the records of each run that is no longer alive, run by run in the order
    the records come, sweeping the cordons of those in ``cordoned_runs`` too; the
    records of live runs are reported as skipped."""
    actions: list[RecoveryAction] = []
    for run_id in dict.fromkeys(r.run_id for r in records):
        run_records = [r for r in records if r.run_id == run_id]
        # Records of one run may come from several processes (a retried fault); the
        # run is alive while any of them is.
        if any(alive(RunIdentity.of_record(r)) for r in run_records):
            actions += [
                _action(r, RecoveryOutcome.SKIPPED, (f"run {run_id} is still alive",))
                for r in run_records
            ]
            continue
        actions += _revert_run_records(
            cluster,
            run_id,
            run_records,
            sweep_cordons=run_id in cordoned_runs,
            progress=progress,
            undo_dir=undo_dir,
        )
    return actions


def _revert_run_records(
    cluster: Cluster,
    run_id: str,
    records: Sequence[UndoRecord],
    *,
    sweep_cordons: bool,
    progress: Progress,
    undo_dir: Path | None,
) -> list[RecoveryAction]:
    actions: list[RecoveryAction] = []
    swept = False
    # Newest first, as undo goes: a later operation may depend on an earlier one.
    for record in reversed(records):
        progress(f"reverting run {run_id}: {record.describe()}")
        # The uncordon revert sweeps every node the run marked, failed or not.
        swept = swept or record.action == UNCORDON_NODES
        try:
            reverted = undo_action(record.action).revert(record, cluster, progress)
            resolve_undo(record, cluster=cluster, undo_dir=undo_dir)
        except DrillError as error:
            actions.append(_action(record, RecoveryOutcome.FAILED, (str(error),)))
            continue
        actions.append(_reverted_action(record.run_id, record.action, record.target, reverted))
    if sweep_cordons and not swept:
        # Cordons without a record (a fault that annotated without recording first).
        nodes = _nodes_marked_by(cluster, run_id)
        progress(f"reverting run {run_id}: orphaned cordons of {', '.join(nodes) or 'no nodes'}")
        try:
            reverted = uncordon_nodes_marked_by(cluster, run_id, progress=progress)
        except DrillError as error:
            actions.append(_orphan_action(run_id, nodes, RecoveryOutcome.FAILED, (str(error),)))
        else:
            if reverted.changes:
                actions.append(
                    _reverted_action(run_id, UNCORDON_NODES, nodes, reverted, orphan=True)
                )
    return actions


def _nodes_marked_by(cluster: Cluster, run_id: str) -> tuple[str, ...]:
    marker = CORDONED_BY
    return tuple(sorted(n.name for n in cluster.nodes() if n.annotations.get(marker) == run_id))


def _runs_with_cordons(cluster: Cluster) -> set[str]:
    marker = CORDONED_BY
    return {n.annotations[marker] for n in cluster.nodes() if n.annotations.get(marker)}


def _action(
    record: UndoRecord, outcome: RecoveryOutcome, details: tuple[str, ...]
) -> RecoveryAction:
    return RecoveryAction(
        run_id=record.run_id,
        action=record.action,
        target=record.target,
        outcome=outcome,
        details=details,
    )


def _orphan_action(
    run_id: str, nodes: tuple[str, ...], outcome: RecoveryOutcome, details: tuple[str, ...]
) -> RecoveryAction:
    """What became of a run's cordons found by their annotation alone."""
    return RecoveryAction(
        run_id=run_id,
        action=UNCORDON_NODES,
        target=nodes,
        outcome=outcome,
        details=details,
        orphan=True,
    )


def _refused_action(refused: RefusedUndo) -> RecoveryAction:
    record = refused.record
    return RecoveryAction(
        run_id=refused.run_id,
        action=record.action if record is not None else "undo records",
        target=record.target if record is not None else (),
        outcome=RecoveryOutcome.REFUSED,
        details=(refused.reason,),
        where=refused.where,
    )


def _reverted_action(
    run_id: str,
    action: str,
    target: tuple[str, ...],
    reverted: Reverted,
    *,
    orphan: bool = False,
) -> RecoveryAction:
    return RecoveryAction(
        run_id=run_id,
        action=action,
        target=target,
        outcome=RecoveryOutcome.REVERTED if reverted.changes else RecoveryOutcome.ALREADY_REVERTED,
        details=reverted.changes + reverted.notes,
        orphan=orphan,
    )

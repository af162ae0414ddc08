"""etcd disasters and the restore that answers them, as Chaos Toolkit activities.

An etcd-restore drill's method is three actions:

1. ``take_snapshot``: save, trial-restore and catalogue a snapshot (nothing disrupted);
2. ``etcd_disaster``: prove the restore point first (digest and trial restore), so
   a bad snapshot ends the drill before anything is touched; then crash the
   members (the procedure's ``kill`` steps) and lose their data: ``data-loss``
   moves every member's data directory away, ``corruption`` garbles the bbolt
   file in place, ``quorum-loss`` loses a majority of a cluster of three or more;
3. ``restore_etcd``: run the declared procedure (``drillkit.model.procedure``):
   stop, restore, start, each step timed and returned for the report.

The target is the experiment's configuration: ``etcd`` (an ``EtcdTargetSpec``
mapping, for real control planes, usually with an SSH executor), else the lab the
run's kubeconfig reaches (``drillkit.restoring.etcd.resolve_target``). Before the first
kill, every member must answer with the measured cluster's data
(``ensure_members_hold``). The procedure is the configuration's ``etcd_procedure``.
``etcd_disaster`` names the members it crashed under ``drillkit_affected``, and its
``t_inject`` is the end of the first kill step: the member was seen gone.

Undo before harm: the data is never deleted. Before the first kill, a restore
state file (``<state home>/etcd-restores/<run>.json``) names the members, the
directories their data was moved to and the procedure, and an undo record
points at it. If the run dies, ``drill recover`` puts the cluster back: on the
restored data when the restore phase had completed, else on the data kept from
before the disaster; then it runs the procedure's ``start`` steps. The kept
copies are removed once a restore has completed.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import PlainSerializer, PlainValidator

from drillkit.drivers.etcd import (
    Snapshot,
    check_digest,
    find_snapshot,
    save_snapshot,
    verify_snapshot,
)
from drillkit.drivers.executors import Executor, executor_for
from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import DrillError, InvalidInput
from drillkit.faults.declarations import FaultDeclaration, Reach, declare
from drillkit.faults.steps import (
    AFFECTED_KEY,
    INJECTED_AT,
    LANDED_WITHIN_KEY,
    RESTORE_POINT_KEY,
    STEPS_KEY,
    instant,
    procedure_step,
)
from drillkit.faults.steps import affected as faults_affected
from drillkit.files import state_home
from drillkit.model.drill import Disruption
from drillkit.model.procedure import (
    RUN_FIELDS,
    EtcdMemberSpec,
    EtcdTargetSpec,
    ProcedureStep,
    RestoreProcedure,
    placeholders,
)
from drillkit.restoring.etcd import (
    ensure_members_hold,
    resolve_procedure,
    resolve_target,
    snapshot_directory,
)
from drillkit.restoring.state_files import StateFile
from drillkit.safety.lock import planned_control_plane_outage
from drillkit.safety.undo import (
    Progress,
    Reverted,
    UndoRecord,
    current_run_id,
    file_safe,
    own_state_file,
    record_undo,
    reverts,
)

logger = logging.getLogger(__name__)

RESTORE_ETCD = "restore-etcd"

API_READY_TIMEOUT = 180.0

MODES: tuple[str, ...] = ("data-loss", "corruption", "quorum-loss")


class StepFailed(DrillError):
    """A procedure step failed; the message names the phase, the step and the host."""


# -- the activities ---------------------------------------------------------------------


def _the_labs_etcd(arguments: Mapping[str, object], configuration: Mapping[str, object]) -> bool:
    """Without an ``etcd`` target in the configuration, the members are the lab's."""
    return configuration.get("etcd") is None


ON_ETCD = Reach(lab=_the_labs_etcd)


@declare(FaultDeclaration(blast_radius=None, reach=ON_ETCD))
def take_snapshot(
    directory: str | None = None, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Save a snapshot from a live member, prove it by a trial restore, catalogue it.

    ``directory`` is on the executor's host; the lab's default is its ``snapshots/``.
    """
    with Cluster.from_environment() as cluster:
        target = resolve_target(configuration, cluster)
    snapshot = save_snapshot(
        executor_for(target.executor), target, snapshot_directory(target, directory)
    )
    return {INJECTED_AT: None, "snapshot": snapshot.to_json()}


@declare(
    FaultDeclaration(
        reach=Reach(lab=_the_labs_etcd, etcd_members=True), disrupts=Disruption.CONTROL_PLANE
    )
)
def etcd_disaster(
    mode: str,
    directory: str | None = None,
    snapshot: str = "latest",
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Prove the restore point, then crash etcd members and lose their data."""
    if mode not in MODES:
        raise InvalidInput(f"etcd_disaster: mode must be one of {', '.join(MODES)}, not {mode!r}")
    with Cluster.from_environment() as cluster:
        target = resolve_target(configuration, cluster)
        # Before anything destructive: the members are the measured cluster's etcd.
        ensure_members_hold(target, cluster.identity())
    procedure = resolve_procedure(configuration)
    executor = executor_for(target.executor)
    chosen = find_snapshot(executor, snapshot_directory(target, directory), snapshot)
    # Before anything destructive: the file is the one catalogued and restores.
    check_digest(executor, chosen)
    verify_snapshot(executor, target, chosen.path)
    affected = _affected_members(target, mode)
    run_id = current_run_id()
    state = RestoreState(
        run_id=run_id,
        mode=mode,
        target=target,
        procedure=procedure,
        snapshot=chosen,
        affected=tuple(m.name for m in affected),
        kept={m.name: _kept_path(m, run_id) for m in affected},
        phase="prepared",
    )
    state_file = state.save()
    with Cluster.from_environment() as cluster:
        record_undo(RESTORE_ETCD, (str(state_file),), cluster=cluster)
    planned_control_plane_outage(True)
    steps = run_phase(executor, state, "kill", procedure.kill, state.affected_members())
    # The runbook's first kill step crashes its member at some moment between its start
    # and its end (its command returns once the member is gone); which, it cannot say.
    # t_inject is the start, so the RTO is never shortened; data written until the end
    # may be lost, so the RPO counts from there.
    first = steps[0]
    for member in affected:
        _lose_data(executor, member, state.kept[member.name], mode)
    state.phase = "disaster"
    state.save()
    injected_at = datetime.now(UTC)
    return {
        INJECTED_AT: first["started"],
        LANDED_WITHIN_KEY: first["seconds"],
        AFFECTED_KEY: [
            faults_affected("EtcdMember", m.name, action=f"crashed ({mode})") for m in affected
        ],
        STEPS_KEY: steps,
        RESTORE_POINT_KEY: {
            **chosen.to_json(),
            "age_seconds": round(chosen.age_seconds(injected_at), 3),
        },
        "mode": mode,
        "members": [m.name for m in affected],
    }


@declare(FaultDeclaration(blast_radius=None, reach=ON_ETCD))
def restore_etcd(configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run the declared procedure (stop, restore, start) from this run's disaster."""
    state = RestoreState.load(restore_state_file(current_run_id()))
    executor = executor_for(state.target.executor)
    check_digest(executor, state.snapshot)
    members = list(state.target.members)
    steps = run_phase(executor, state, "stop", state.procedure.stop, members)
    # Every member is restored from the snapshot; the data of those the disaster
    # spared is copied aside first, so an interrupted restore can be undone.
    for member in members:
        if member.name not in state.kept:
            kept = _kept_path(member, state.run_id)
            _keep_copy(executor, member, kept)
            state.kept[member.name] = kept
    state.save()
    steps += run_phase(executor, state, "restore", state.procedure.restore, members)
    state.phase = "restored"
    state.save()
    steps += run_phase(executor, state, "start", state.procedure.start, members)
    with Cluster.from_environment() as cluster:
        _finish(executor, state, cluster)
    return {INJECTED_AT: None, STEPS_KEY: steps, "snapshot": state.snapshot.path}


# -- the restore state ------------------------------------------------------------------


# The snapshot catalogue's own encoding of a snapshot.
_Snapshot = Annotated[
    Snapshot, PlainValidator(Snapshot.from_json), PlainSerializer(Snapshot.to_json)
]


def restore_state_file(run_id: str) -> Path:
    return state_home() / "etcd-restores" / f"{file_safe(run_id)}.json"


@dataclass(kw_only=True)
class RestoreState(StateFile):
    """What a crashed restore needs to be finished or undone; saved at every phase."""

    describes: ClassVar[str] = "etcd restore state"
    missing: ClassVar[str] = "no etcd restore state at {path}: no disaster ran first"

    run_id: str
    mode: str
    target: EtcdTargetSpec
    procedure: RestoreProcedure
    snapshot: _Snapshot
    affected: tuple[str, ...]
    kept: dict[str, str]
    """Member name -> where its data from before the disaster was moved."""
    phase: str
    """prepared, disaster, restored (new data in place) or finished."""

    def affected_members(self) -> list[EtcdMemberSpec]:
        """The members the disaster hit."""
        return [m for m in self.target.members if m.name in self.affected]

    def state_file(self) -> Path:
        return restore_state_file(self.run_id)


# -- running the procedure --------------------------------------------------------------


def run_phase(
    executor: Executor,
    state: RestoreState,
    phase: str,
    steps: Sequence[ProcedureStep],
    members: Sequence[EtcdMemberSpec],
) -> list[dict[str, object]]:
    """Run one phase's steps in order, ``each_member`` steps once per member of
    ``members``; ``StepFailed`` at the first that fails."""
    done: list[dict[str, object]] = []
    common = {
        **state.target.variables,
        "snapshot": state.snapshot.path,
        "run_id": state.run_id,
        "initial_cluster": state.target.initial_cluster,
    }
    for step in steps:
        for fields in _step_fields(step, members, common):
            command = _render(step, fields)
            started = instant()
            result = executor.run(command, timeout=step.timeout.total_seconds())
            done.append(
                procedure_step(
                    phase=phase,
                    name=step.name,
                    member=fields.get("member"),
                    command=command,
                    executor=executor.description,
                    started=started,
                    finished=instant(),
                    seconds=result.seconds,
                    exit_code=result.exit_code,
                    output=result.output[-400:],
                )
            )
            where = f" [{fields['member']}]" if "member" in fields else ""
            logger.info(
                "%s step %r%s: %s in %.1f s",
                phase,
                step.name,
                where,
                "done" if result.ok else "FAILED",
                result.seconds,
            )
            if not result.ok:
                raise StepFailed(
                    f"{phase} step {step.name!r} failed on {executor.description}: "
                    f"{result.failure()}"
                )
    return done


def _step_fields(
    step: ProcedureStep, members: Sequence[EtcdMemberSpec], common: dict[str, str]
) -> list[dict[str, str]]:
    if not step.each_member:
        return [common]
    return [
        {
            **common,
            "member": m.name,
            "data_dir": m.data_dir,
            "peer_url": m.peer_url,
            "client_url": m.client_url,
            "component": m.component or m.name,
        }
        for m in members
    ]


def _render(step: ProcedureStep, fields: Mapping[str, str]) -> str:
    unknown = [name for name in placeholders(step.run) if name not in fields]
    if unknown:
        known = ", ".join(sorted(set(fields) | RUN_FIELDS))
        raise InvalidInput(
            f"step {step.name!r} uses {{{unknown[0]}}}, which is not defined; defined: {known}"
        )
    # Every value is one quoted word; the model refused templates that quote their
    # placeholders themselves (drillkit.model.procedure), so nothing is quoted twice.
    return step.run.format_map({name: shlex.quote(value) for name, value in fields.items()})


def _affected_members(target: EtcdTargetSpec, mode: str) -> list[EtcdMemberSpec]:
    members = list(target.members)
    if mode != "quorum-loss":
        return members
    if len(members) < 3:
        raise InvalidInput(
            f"quorum-loss needs an etcd cluster of at least three members, not {len(members)} "
            "(start the lab with: drill lab up --etcd-members 3)"
        )
    return members[: len(members) // 2 + 1]


def _kept_path(member: EtcdMemberSpec, run_id: str) -> str:
    return f"{member.data_dir}.drillkit-kept-{file_safe(run_id)}"


def _keep_copy(executor: Executor, member: EtcdMemberSpec, kept: str) -> None:
    data, away = shlex.quote(member.data_dir), shlex.quote(kept)
    result = executor.run(f"rm -rf {away} && cp -a {data} {away}", timeout=600)
    if not result.ok:
        raise DrillError(f"cannot keep a copy of etcd member {member.name}: {result.failure()}")


def _lose_data(executor: Executor, member: EtcdMemberSpec, kept: str, mode: str) -> None:
    if mode == "corruption":
        # The copy is kept for safety; the member's own bbolt file is garbled in place.
        _keep_copy(executor, member, kept)
        db = shlex.quote(f"{member.data_dir}/member/snap/db")
        command = (
            f"size=$(stat -c %s {db}) && dd if=/dev/urandom of={db} bs=4096 "
            "seek=$((size / 8192)) count=4 conv=notrunc status=none"
        )
    else:
        command = f"mv {shlex.quote(member.data_dir)} {shlex.quote(kept)}"
    result = executor.run(command, timeout=300)
    if not result.ok:
        raise DrillError(f"cannot lose the data of etcd member {member.name}: {result.failure()}")


def _finish(executor: Executor, state: RestoreState, cluster: Cluster) -> None:
    """After a completed restore: wait for the API server, drop the kept copies."""
    cluster.wait_for(
        "the API server to answer again",
        lambda: cluster.api_server_ready() or None,
        timeout=API_READY_TIMEOUT,
    )
    planned_control_plane_outage(False)
    kept = " ".join(shlex.quote(path) for path in state.kept.values())
    executor.run(f"rm -rf {kept}", timeout=300)
    state.phase = "finished"
    state.save()


# -- undo ---------------------------------------------------------------------------------


def _describe_restore(target: tuple[str, ...]) -> str:
    return f"bring etcd and the API server back ({target[0]})"


@reverts(RESTORE_ETCD, target_arity=1, describe=_describe_restore, control_plane=True)
def _revert_restore(record: UndoRecord, cluster: Cluster, progress: Progress) -> Reverted:
    # The state file's steps run on this machine: only this run's own, in drillkit's
    # state home, is ever run (safety.undo takes this action from local records only).
    path = own_state_file(
        record, restore_state_file(record.run_id), what="etcd restore state", refused="nothing run"
    )
    if not path.exists():
        return Reverted(notes=(f"no restore state at {path}; nothing to do",))
    state = RestoreState.load(path)
    if state.run_id != record.run_id:
        raise DrillError(
            f"refused: {path} holds the state of run {state.run_id}, not {record.run_id}"
        )
    if state.phase == "finished":
        path.unlink()
        return Reverted()
    executor = executor_for(state.target.executor)
    changes: list[str] = []
    if state.phase == "restored":
        changes.append("the restore had completed: etcd starts on the restored data")
    else:
        # Crash the members again (some may have been started), then put the data
        # from before the disaster back where it was.
        members = list(state.target.members)
        run_phase(executor, state, "kill", state.procedure.kill, members)
        for member in members:
            if member.name not in state.kept:
                continue
            data, kept = shlex.quote(member.data_dir), shlex.quote(state.kept[member.name])
            result = executor.run(
                f"if [ -e {kept} ]; then rm -rf {data} && mv {kept} {data}; fi", timeout=300
            )
            if not result.ok:
                raise DrillError(
                    f"cannot put back the data of etcd member {member.name}: {result.failure()}"
                )
        changes.append("the restore had not completed: etcd starts on its data from before")
    progress("starting the control plane with the procedure's start steps")
    run_phase(executor, state, "start", state.procedure.start, list(state.target.members))
    changes.append("control plane started")
    _finish(executor, state, cluster)
    path.unlink()
    return Reverted(changes=tuple(changes))


# The Chaos Toolkit activities of this module (what `chaos discover` lists); the other
# public functions serve drillkit itself and are no part of the experiment file API.
__all__ = [
    "etcd_disaster",
    "restore_etcd",
    "take_snapshot",
]

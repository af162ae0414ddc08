"""Run one drill: experiment on chaoslib, observer alongside, then measure, judge, report.

``run_drill`` is the single entry point for ``drill run``. It never raises for a
drill that ran badly: a missed objective, a deviation, an interruption or an
error inside the experiment all end in a ``RunRecord`` and a report. It raises
only when it cannot start at all (invalid files: ``InvalidInput``).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import drillkit.faults.backup  # registers the undo actions of cross-region restores
import drillkit.faults.etcd  # registers the undo action of etcd restores
import drillkit.faults.outage  # noqa: F401  (registers the undo action of cloud zone outages)
from drillkit import __version__
from drillkit.drivers.kubernetes import Cluster, default_kubeconfig
from drillkit.errors import ClusterError, DrillError
from drillkit.faults.clusters import check_clusters
from drillkit.measuring.run import measure_run
from drillkit.model.drill import Drill
from drillkit.model.measurement import RunStatus, format_seconds
from drillkit.model.run import Accountability, RunRecord, Scope, SourceFile, TouchedCluster
from drillkit.model.timeline import LockLost, RunFinished, RunStarted, TimelineEvent
from drillkit.running import chaostoolkit
from drillkit.running.capacity import WorkloadCapacity
from drillkit.running.markers import MarkerWriter, connect_marker_reader
from drillkit.running.observer import CapacitySampler, Condition, Observer
from drillkit.running.recorder import Clock, SystemClock, TimelineRecorder
from drillkit.running.redaction import Secrets, collect_secrets, redact_record
from drillkit.running.watching import WatchedCapacity, WorkloadWatches, watched_condition
from drillkit.safety.guardrails import ensure_guardrails, ensure_production_confirmed
from drillkit.safety.lock import ClusterLock
from drillkit.safety.recover import RecoveryOutcome, recover, revert_run
from drillkit.signing import SIGNING_KEY_VARIABLE


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    kubeconfig: Path | None = None
    context: str | None = None
    confirm_production: str | None = None
    """The cluster (kube context) the operator named to confirm a production drill."""
    confirmed_where: str = "named on the command line"
    """Where that confirmation was given, for the report."""
    signing_key: Path | None = None
    """The evidence key's file: the run's backup activities sign and check catalogue
    entries with it (as ``DRILL_SIGNING_KEY``), as the ledger entry of the run is signed."""


def run_drill(
    drill: Drill,
    options: RunOptions,
    *,
    on_event: Callable[[TimelineEvent], None] | None = None,
    on_message: Callable[[str], None] = lambda _: None,
    clock: Clock | None = None,
) -> RunRecord:
    """Run the drill once and return everything it produced (not yet written to disk).

    A drill that acts on Kubernetes first passes the guardrails, takes the cluster
    lock and reverts what crashed runs left behind; at its end, whatever happened,
    everything it recorded an undo for is reverted and verified, then the lock is
    released. Raises ``GuardrailViolation`` (nothing touched), ``LockHeld`` or
    ``ClusterError`` when it cannot start.
    """
    experiment_path = drill.experiment_path()
    experiment = chaostoolkit.load_experiment(experiment_path)
    context = options.context or drill.target.context
    if not uses_kubernetes(drill, experiment):
        ensure_production_confirmed(drill, confirmation=options.confirm_production, context=context)
        return _run(drill, experiment, options, on_event=on_event, clock=clock)
    with Cluster.connect(options.kubeconfig, context) as cluster:
        # Before anything else touches the cluster: a refused run changes nothing.
        ensure_production_confirmed(
            drill, confirmation=options.confirm_production, context=cluster.context_name
        )
        # Before the first change (the lock): every cluster a fault will act on is
        # the one it names, and who they are is recorded for the report.
        touched = check_touched_clusters(cluster, experiment)
        _ensure_guardrails(cluster, drill, experiment)
        run_id = new_run_id(clock)
        recorder = TimelineRecorder(clock)

        def on_lock_lost(reason: str) -> None:
            recorder.record(LockLost(at=recorder.now(), reason=reason))
            # Only while the experiment runs is there a handler to stop it with its
            # rollbacks; before or after, SIGUSR1's default would kill the process.
            if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None):
                chaostoolkit.abort_main_thread()

        lock = ClusterLock(cluster, holder=run_id, on_lost=on_lock_lost)
        lock.acquire()
        started = reverted = False

        def revert() -> str | None:
            # After the rollbacks: whatever they missed (or never ran, or could not do
            # while the API server was away) is reverted from the undo records, and
            # verified, retrying until the drill's rollback deadline.
            nonlocal reverted
            reverted = True
            return revert_until_deadline(
                cluster,
                run_id,
                deadline=drill.safety.rollback_deadline.total_seconds(),
                on_message=on_message,
            )

        try:
            for action in recover(cluster, progress=on_message):
                on_message(action.as_leftover())
            started = True
            return _run(
                drill,
                experiment,
                options,
                on_event=on_event,
                clock=clock,
                run_id=run_id,
                revert=revert,
                recorder=recorder,
                touched=touched,
            )
        finally:
            if started and not reverted:
                # The run never got to its own revert (it failed before or inside it).
                revert()
            _release(lock, on_message)


def revert_until_deadline(
    cluster: Cluster, run_id: str, *, deadline: float, on_message: Callable[[str], None]
) -> str | None:
    """Revert and verify everything the run recorded, retrying with backoff while it
    fails (the API server away, a revert not yet verified) for up to ``deadline``
    seconds. Returns None when everything is reverted, else what is still not; its undo
    records are kept for ``drill recover``."""
    give_up_at = time.monotonic() + deadline
    delay = 1.0
    while True:
        try:
            actions = revert_run(cluster, run_id, progress=lambda _: None)
        except DrillError as error:
            failures = [str(error)]
        else:
            for action in actions:
                if action.outcome not in (
                    RecoveryOutcome.ALREADY_REVERTED,
                    RecoveryOutcome.FAILED,
                ):
                    on_message(f"safety net: {action.describe()}")
            failures = [a.describe() for a in actions if a.outcome is RecoveryOutcome.FAILED]
        if not failures:
            return None
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            return (
                f"not reverted within the {format_seconds(deadline)} s rollback deadline: "
                f"{'; '.join(failures)}; the undo records are kept: run `drill recover` "
                "once the cluster answers"
            )
        on_message(f"revert failed, retrying in {delay:.0f} s: {failures[0]}")
        threading.Event().wait(min(delay, remaining))
        delay = min(delay * 2, 15.0)


def _release(lock: ClusterLock, on_message: Callable[[str], None]) -> None:
    """Release the lock; when the API server cannot be reached, the Lease expires on
    its own, and the run's record matters more than a prompt release."""
    try:
        lock.release()
    except DrillError as error:
        on_message(f"the cluster lock was not released, it expires on its own: {error}")


def _run(
    drill: Drill,
    experiment: dict[str, Any],
    options: RunOptions,
    *,
    on_event: Callable[[TimelineEvent], None] | None,
    clock: Clock | None,
    run_id: str | None = None,
    revert: Callable[[], str | None] = lambda: None,
    recorder: TimelineRecorder | None = None,
    touched: Sequence[TouchedCluster] = (),
) -> RunRecord:
    """Run the experiment and build its record. ``revert`` runs after the rollbacks and
    says what it could not revert; ``recorder`` is the run's, when others record too."""
    experiment_path = drill.experiment_path()
    # The scope as it was before the method changed anything.
    scope = describe_scope(drill, options, touched)
    recorder = recorder or TimelineRecorder(clock)
    if on_event is not None:
        recorder.subscribe(on_event)
    run_id = run_id or new_run_id(clock)
    started = recorder.record(RunStarted(at=recorder.now(), run_id=run_id, drill=drill.name))
    objectives = drill.objectives
    interval = drill.recovery.poll_interval.total_seconds()
    # The drill's own recovery probes first: a polled condition stops at the first
    # probe that fails, and "is the API server ready?" fails fast where a read waits.
    probes = [p.to_chaostoolkit() for p in drill.recovery.probes]
    probes += chaostoolkit.hypothesis_probes(experiment)
    context = options.context or drill.target.context
    watches = _watches_if_useful(probes, drill, options.kubeconfig, context)
    watched = watched_condition(probes, watches) if watches else None
    if watched is None and watches is not None:
        # A polled condition gets polled capacity too: a watch keeps showing the API
        # server's cache while etcd is down, and the two must not disagree.
        watches.stop()
        watches = None
    # Watched conditions are recorded on event receipt; polled ones at the interval.
    resolution = 0.0 if watched is not None else interval

    # A probe that fails because this API server did not answer is a gap, not a loss.
    measured_server = next((c.server for c in touched if c.role == "measured"), None)

    def make_observer(configuration: Mapping[str, Any], secrets_: Mapping[str, Any]) -> Observer:
        condition: Condition | None = watched
        if condition is None and probes:
            condition = chaostoolkit.ProbeCondition(
                "recovery condition", probes, configuration, secrets_, api_server=measured_server
            )
        guards = [
            chaostoolkit.ProbeCondition(
                f"abort condition {g.name}", [g.to_chaostoolkit()], configuration, secrets_
            )
            for g in drill.safety.abort_conditions
        ]
        capacity: CapacitySampler | None = None
        if drill.target.workloads:
            capacity = (
                WatchedCapacity(watches, drill.target.workloads)
                if watches
                else WorkloadCapacity(drill.target.workloads, options.kubeconfig, context)
            )
        observer = Observer(
            recorder=recorder,
            condition=condition,
            interval=interval,
            stable_for=objectives.stable_for.total_seconds(),
            timeout=objectives.timeout.total_seconds(),
            capacity=capacity,
            guards=guards,
            on_guard_tripped=lambda _: chaostoolkit.abort_main_thread(),
        )
        if watches is not None:
            watches.subscribe(observer.notify)
            watches.start()
        if marker_writer is not None:
            marker_writer.start()
        return observer

    marker_writer = None
    if drill.markers is not None:
        marker_cluster = Cluster.connect(options.kubeconfig, context)
        marker_writer = MarkerWriter(
            marker_cluster,
            drill.markers,
            run_id=run_id,
            recorder=recorder,
            reader=connect_marker_reader(drill.markers, options.kubeconfig, context),
        )

    def after_recovery() -> None:
        # Markers keep being written through the fault (until a restore rolls them
        # back); once the service is back (or the wait timed out), what survived is read.
        if marker_writer is not None:
            marker_writer.stop()
            marker_writer.read_back(backup_age_seconds=handler.restore_point_age)

    handler = chaostoolkit.DrillEventHandler(recorder, make_observer, after_recovery)
    error: str | None = None
    journal: dict[str, Any]
    with _activity_environment(options, run_id, context):
        try:
            journal = chaostoolkit.run_experiment(
                experiment, rollback=drill.safety.rollback, handler=handler
            )
        except DrillError as failure:
            error = str(failure)
            journal = {"status": "aborted", "deviated": False}
    if watches is not None:
        watches.stop()
    if marker_writer is not None:
        marker_writer.stop()
        marker_writer.close()
    # A lock lost while the run was still acting aborted it; one lost later, while the
    # revert waited for the API server, changes nothing the run did.
    lock_lost = any(isinstance(event, LockLost) for event in recorder.events())
    not_reverted = revert()
    status, error = _decide_status(journal, handler, error, lock_lost=lock_lost)
    if not_reverted is not None:
        # The cluster is not as the run found it: the run did not complete, whatever it
        # measured; an abort or an interruption keeps its own status.
        if status not in (RunStatus.ABORTED, RunStatus.INTERRUPTED):
            status = RunStatus.ERROR
        error = f"{error}; {not_reverted}" if error else not_reverted
    finished = recorder.record(RunFinished(at=recorder.now(), status=status))
    timeline = recorder.events()
    outcome = measure_run(
        timeline,
        objectives=objectives,
        target=drill.target,
        resolution=resolution,
        marker_interval=drill.markers.interval.total_seconds() if drill.markers else None,
        run_status=status,
    )
    evidence = drill.evidence
    record = RunRecord(
        run_id=run_id,
        drill=drill.name,
        description=drill.description,
        strategy=str(drill.strategy),
        status=status,
        outcome=outcome,
        objectives=objectives,
        resolution_seconds=resolution,
        started_utc=started.at.utc,
        ended_utc=finished.at.utc,
        duration_seconds=finished.at.monotonic - started.at.monotonic,
        scope=scope,
        accountability=Accountability(
            operator=operator_identity(),
            owner=evidence.owner if evidence else None,
            approver=evidence.approver if evidence else None,
            controls=tuple(evidence.controls) if evidence else (),
            production_confirmation=(
                f"context {options.confirm_production}, {options.confirmed_where}"
                if drill.safety.production and options.confirm_production
                else None
            ),
        ),
        drill_file=_source_file(drill.source) if drill.source else None,
        experiment_file=_source_file(experiment_path),
        tool_version=__version__,
        timeline=timeline,
        journal=chaostoolkit.strip_secrets(journal),
        error=error,
        restore=handler.restore,
    )
    # Activities print, return and fail with whatever they saw, secrets included;
    # nothing of the record leaves this function before they are replaced.
    return redact_record(record, _collect_secrets(drill, experiment, options))


def _watches_if_useful(
    probes: list[dict[str, Any]], drill: Drill, kubeconfig: Path | None, context: str | None
) -> WorkloadWatches | None:
    """Watches when the drill has Kubernetes workloads to follow and a cluster to ask."""
    if not drill.target.workloads and not any(
        str(p.get("provider", {}).get("module", "")).startswith("drillkit.probes.kubernetes")
        for p in probes
    ):
        return None
    try:
        return WorkloadWatches(kubeconfig, context)
    except ClusterError:
        return None


def new_run_id(clock: Clock | None = None) -> str:
    """Sortable by start time, unique without coordination: ``20261126-093015-3fa2c1``."""
    now = (clock or SystemClock()).utc()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


_KUBERNETES_MODULES = ("drillkit.faults", "drillkit.probes.kubernetes", "chaosk8s")


def uses_kubernetes(drill: Drill, experiment: Mapping[str, Any]) -> bool:
    """Whether the run acts on or observes a cluster (and so needs lock and guardrails)."""
    if drill.target.workloads:
        return True
    sections = [experiment.get("method", []), experiment.get("rollbacks", [])]
    sections.append((experiment.get("steady-state-hypothesis") or {}).get("probes", []))
    return any(
        str(activity.get("provider", {}).get("module", "")).startswith(_KUBERNETES_MODULES)
        for section in sections
        for activity in section
    )


def _ensure_guardrails(cluster: Cluster, drill: Drill, experiment: Mapping[str, Any]) -> None:
    nodes = cluster.nodes()
    per_zone: dict[str, int] = {}
    for node in nodes:
        per_zone[node.zone or "-"] = per_zone.get(node.zone or "-", 0) + 1

    def pods_matching(namespace: str, selector: str) -> int:
        return sum(not p.terminating for p in cluster.pods(namespace, label_selector=selector))

    ensure_guardrails(
        drill,
        experiment,
        nodes_per_zone=per_zone,
        pods_matching=pods_matching,
        nodes_matching=lambda selector: len(cluster.nodes(selector)),
    )


def operator_identity() -> str:
    """Who ran the drill: ``DRILL_OPERATOR`` when set (CI), else user@host."""
    return os.environ.get("DRILL_OPERATOR") or f"{getpass.getuser()}@{socket.gethostname()}"


def check_touched_clusters(cluster: Cluster, experiment: Mapping[str, Any]) -> list[TouchedCluster]:
    """Every cluster the experiment's faults will act on, confirmed to be the one they
    name (``drillkit.faults.clusters``); ``InvalidInput`` naming both sides if not."""
    configuration, activities = chaostoolkit.resolve_activities(experiment)
    return check_clusters(cluster, activities, configuration)


def describe_scope(
    drill: Drill, options: RunOptions, touched: Sequence[TouchedCluster] = ()
) -> Scope:
    """The cluster facts an auditor asks for; unknown when the cluster cannot be reached.
    ``touched``: the clusters the run acts on, as the pre-flight check found them."""
    context = options.context or drill.target.context
    server = version = None
    per_zone: dict[str, int] = {}
    try:
        with Cluster.connect(options.kubeconfig, context) as cluster:
            context = cluster.context_name
            server = cluster.api_client.configuration.host
            version = cluster.server_version()
            for node in cluster.nodes():
                per_zone[node.zone or "-"] = per_zone.get(node.zone or "-", 0) + 1
    except ClusterError:
        pass
    return Scope(
        context=context,
        cluster_server=server,
        kubernetes_version=version,
        namespaces=tuple(drill.target.namespaces),
        workloads=tuple(f"{w.kind}/{w.namespace}/{w.name}" for w in drill.target.workloads),
        nodes_per_zone=dict(sorted(per_zone.items())),
        clusters=tuple(touched),
    )


def _decide_status(
    journal: Mapping[str, Any],
    handler: chaostoolkit.DrillEventHandler,
    error: str | None,
    *,
    lock_lost: bool = False,
) -> tuple[RunStatus, str | None]:
    if handler.failed_fault is not None:
        return RunStatus.ERROR, handler.failed_fault
    if handler.interrupted_by == "guard" or lock_lost:
        # SIGUSR1 stops the run for a guard and for a lost lock alike; the timeline's
        # GuardTripped or LockLost says which.
        return RunStatus.ABORTED, error
    if handler.interrupted_by is not None:
        return RunStatus.INTERRUPTED, error
    if error is not None:
        return RunStatus.ERROR, error
    if handler.steady_state_before is False:
        return RunStatus.ERROR, (
            "the steady state did not hold before the fault, so nothing was injected; "
            "fix the system (or the hypothesis) first"
        )
    status = journal.get("status")
    if status == "aborted":
        return RunStatus.ERROR, "the experiment's method failed unexpectedly; see journal.json"
    if journal.get("deviated") or status == "failed":
        return RunStatus.FAILED, None
    return RunStatus.COMPLETED, None


@contextmanager
def _activity_environment(options: RunOptions, run_id: str, context: str | None) -> Iterator[None]:
    """Point every Kubernetes-speaking activity (ours and chaosk8s') at the measured
    cluster (``context``: the option's, else the drill's), tell drillkit's faults
    which run they act for (their undo markers name it) and which key signs."""
    wanted = {
        "KUBECONFIG": options.kubeconfig,
        "KUBERNETES_CONTEXT": context,
        "DRILLKIT_RUN_ID": run_id,
        SIGNING_KEY_VARIABLE: options.signing_key.expanduser().absolute()
        if options.signing_key
        else None,
    }
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        if value is not None:
            os.environ[key] = str(value)
    try:
        with default_kubeconfig(options.kubeconfig):
            yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous


def collect_run_secrets(drill: Drill, options: RunOptions) -> Secrets:
    """The secrets a run of ``drill`` could see, for whatever prints while it runs."""
    experiment = chaostoolkit.load_experiment(drill.experiment_path())
    return _collect_secrets(drill, experiment, options)


def _collect_secrets(drill: Drill, experiment: Mapping[str, Any], options: RunOptions) -> Secrets:
    return collect_secrets(
        experiment=experiment,
        drill_document=drill.model_dump(mode="json"),
        environ=os.environ,
        kubeconfig=options.kubeconfig,
    )


def _source_file(path: Path) -> SourceFile:
    return SourceFile(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())

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
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.errors import ClusterError, DrillError
from drillkit.measuring.run import measure_run
from drillkit.model.drill import Drill
from drillkit.model.measurement import RunStatus
from drillkit.model.run import Accountability, RunRecord, Scope, SourceFile
from drillkit.model.timeline import RunFinished, RunStarted, TimelineEvent
from drillkit.running import chaostoolkit
from drillkit.running.capacity import WorkloadCapacity
from drillkit.running.observer import Observer
from drillkit.running.recorder import Clock, TimelineRecorder


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    kubeconfig: Path | None = None
    context: str | None = None


def run_drill(
    drill: Drill,
    options: RunOptions,
    *,
    on_event: Callable[[TimelineEvent], None] | None = None,
    clock: Clock | None = None,
) -> RunRecord:
    """Run the drill once and return everything it produced (not yet written to disk)."""
    experiment_path = drill.experiment_path()
    experiment = chaostoolkit.load_experiment(experiment_path)
    recorder = TimelineRecorder(clock)
    if on_event is not None:
        recorder.subscribe(on_event)
    run_id = new_run_id(recorder)
    started = recorder.record(RunStarted(at=recorder.now(), run_id=run_id, drill=drill.name))
    objectives = drill.objectives
    interval = drill.recovery.poll_interval.total_seconds() if drill.recovery else 1.0

    def make_observer(configuration: Mapping[str, Any], secrets_: Mapping[str, Any]) -> Observer:
        probes = chaostoolkit.hypothesis_probes(experiment)
        if drill.recovery:
            probes += [p.to_chaostoolkit() for p in drill.recovery.probes]
        condition = (
            chaostoolkit.ProbeCondition("recovery condition", probes, configuration, secrets_)
            if probes
            else None
        )
        guards = [
            chaostoolkit.ProbeCondition(
                f"abort condition {g.name}", [g.to_chaostoolkit()], configuration, secrets_
            )
            for g in drill.safety.abort_conditions
        ]
        return Observer(
            recorder=recorder,
            condition=condition,
            interval=interval,
            stable_for=objectives.stable_for.total_seconds(),
            timeout=objectives.timeout.total_seconds(),
            capacity=capacity,
            guards=guards,
            on_guard_tripped=lambda _: chaostoolkit.abort_main_thread(),
        )

    capacity = None
    if drill.target.workloads:
        capacity = WorkloadCapacity(
            drill.target.workloads, options.kubeconfig, options.context or drill.target.context
        )
    handler = chaostoolkit.DrillEventHandler(recorder, make_observer)
    error: str | None = None
    journal: dict[str, Any]
    with _activity_environment(options, run_id):
        try:
            journal = chaostoolkit.run_experiment(
                experiment, rollback=drill.safety.rollback, handler=handler
            )
        except DrillError as failure:
            error = str(failure)
            journal = {"status": "aborted", "deviated": False}
        scope = describe_scope(drill, options)
    if capacity is not None:
        capacity.close()
    status, error = _decide_status(journal, handler, error)
    finished = recorder.record(RunFinished(at=recorder.now(), status=status))
    timeline = recorder.events()
    outcome = measure_run(
        timeline,
        objectives=objectives,
        resolution=interval,
        marker_interval=drill.markers.interval.total_seconds() if drill.markers else None,
        run_status=status,
    )
    evidence = drill.evidence
    return RunRecord(
        run_id=run_id,
        drill=drill.name,
        description=drill.description,
        strategy=str(drill.strategy),
        status=status,
        outcome=outcome,
        objectives=objectives,
        resolution_seconds=interval,
        started_utc=started.at.utc,
        ended_utc=finished.at.utc,
        duration_seconds=finished.at.monotonic - started.at.monotonic,
        scope=scope,
        accountability=Accountability(
            operator=operator_identity(),
            owner=evidence.owner if evidence else None,
            approver=evidence.approver if evidence else None,
            controls=tuple(evidence.controls) if evidence else (),
        ),
        drill_file=_source_file(drill.source) if drill.source else None,
        experiment_file=_source_file(experiment_path),
        tool_version=__version__,
        timeline=timeline,
        journal=chaostoolkit.strip_secrets(journal),
        error=error,
    )


def new_run_id(recorder: TimelineRecorder) -> str:
    """Sortable by start time, unique without coordination: ``20261126-093015-3fa2c1``."""
    return f"{recorder.clock.utc():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def operator_identity() -> str:
    """Who ran the drill: ``DRILL_OPERATOR`` when set (CI), else user@host."""
    return os.environ.get("DRILL_OPERATOR") or f"{getpass.getuser()}@{socket.gethostname()}"


def describe_scope(drill: Drill, options: RunOptions) -> Scope:
    """The cluster facts an auditor asks for; unknown when the cluster cannot be reached."""
    server = version = None
    per_zone: dict[str, int] = {}
    try:
        from drillkit.drivers.kubernetes import Cluster

        context = options.context or drill.target.context
        with Cluster.connect(options.kubeconfig, context) as cluster:
            server = cluster.api_client.configuration.host
            version = cluster.server_version()
            for node in cluster.nodes():
                per_zone[node.zone or "-"] = per_zone.get(node.zone or "-", 0) + 1
    except ClusterError:
        pass
    return Scope(
        context=options.context or drill.target.context,
        cluster_server=server,
        kubernetes_version=version,
        namespaces=tuple(drill.target.namespaces),
        workloads=tuple(f"{w.kind}/{w.namespace}/{w.name}" for w in drill.target.workloads),
        nodes_per_zone=dict(sorted(per_zone.items())),
    )


def _decide_status(
    journal: Mapping[str, Any], handler: chaostoolkit.DrillEventHandler, error: str | None
) -> tuple[RunStatus, str | None]:
    if handler.interrupted_by == "guard":
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
def _activity_environment(options: RunOptions, run_id: str) -> Iterator[None]:
    """Point every Kubernetes-speaking activity (ours and chaosk8s') at the chosen cluster,
    and tell drillkit's faults which run they act for (their undo markers name it)."""
    wanted = {
        "KUBECONFIG": options.kubeconfig,
        "KUBERNETES_CONTEXT": options.context,
        "DRILLKIT_RUN_ID": run_id,
    }
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        if value is not None:
            os.environ[key] = str(value)
    try:
        yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous


def _source_file(path: Path) -> SourceFile:
    return SourceFile(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())

"""One run of a drill as an object with a visible life: start, observe, stop, close.

``run_drill`` (``running/runner.py``) does the pre-flight (production confirmation,
the clusters the faults name, the scope, guardrails, the lock) and hands a
:class:`DrillRun` the one cluster connection the run uses; ``DrillRun.execute``
then lives through these steps, in this order:

- ``start``: ``RunStarted`` is recorded; the workload watches and the RPO marker
  writer are prepared on the run's connection.
- ``observe``: when chaoslib begins the experiment, the observer (recovery condition,
  capacity, abort conditions) is built and the markers start being written.
- ``stop``: once recovery settled (or the wait timed out), the markers stop and what
  survived is read back.
- ``close``: every watch, writer and connection the run opened is stopped and closed;
  then what the run changed is reverted and verified, and the record is built.

The run never opens a connection to the measured cluster of its own: watches,
capacity samples and markers share the one it is handed. Only a marker reader on
another cluster (``markers.read_from``) connects elsewhere.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drillkit import __version__
from drillkit.errors import DrillError
from drillkit.measuring.run import measure_run
from drillkit.model.drill import Drill
from drillkit.model.measurement import RunStatus
from drillkit.model.run import Accountability, RunRecord, Scope, SourceFile
from drillkit.model.services import promise_of
from drillkit.model.timeline import LockLost, RunFinished, RunStarted
from drillkit.running import chaostoolkit
from drillkit.running.observer import CapacitySampler, Condition, Observer
from drillkit.running.recorder import TimelineRecorder
from drillkit.running.redaction import Secrets, collect_secrets, redact_record
from drillkit.running.watching import (
    WatchedCapacity,
    WorkloadWatches,
    watchable,
    watched_condition,
)
from drillkit.signing import SIGNING_KEY_VARIABLE

if TYPE_CHECKING:
    from drillkit.drivers.kubernetes import Cluster
    from drillkit.running.markers import MarkerWriter


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
    experiment_vars: chaostoolkit.ExperimentVars = field(
        default_factory=chaostoolkit.ExperimentVars
    )
    """Values given for the experiment's configuration and secrets (``--var``,
    ``--var-file``): chaoslib runs it with them, and the pre-flight judges, and the
    redaction searches, the configuration and secrets they make."""


@dataclass(eq=False)
class DrillRun:
    """The life of one run, from ``RunStarted`` to its (redacted) ``RunRecord``.

    ``cluster`` is the measured cluster's connection (None for a drill that does not
    speak Kubernetes); the run uses it and never closes it. ``revert`` runs after
    the rollbacks and says what it could not revert (None: everything is back).
    """

    drill: Drill
    experiment: dict[str, Any]
    options: RunOptions
    _: KW_ONLY
    run_id: str
    recorder: TimelineRecorder
    scope: Scope
    cluster: Cluster | None = None
    revert: Callable[[], str | None] = lambda: None
    interval: float = field(init=False)
    probes: list[dict[str, Any]] = field(init=False)
    handler: chaostoolkit.DrillEventHandler = field(init=False, repr=False)
    _watches: WorkloadWatches | None = field(init=False, default=None, repr=False)
    _watched: Condition | None = field(init=False, default=None, repr=False)
    _capacity: CapacitySampler | None = field(init=False, default=None, repr=False)
    _markers: MarkerWriter | None = field(init=False, default=None, repr=False)
    _marker_reader: Cluster | None = field(init=False, default=None, repr=False)
    _started: RunStarted | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.interval = self.drill.recovery.poll_interval.total_seconds()
        # The drill's own recovery probes first: a polled condition stops at the first
        # probe that fails, and "is the API server ready?" fails fast where a read waits.
        self.probes = [p.to_chaostoolkit() for p in self.drill.recovery.probes]
        hypothesis = chaostoolkit.hypothesis_probes(self.experiment)
        # Without poll_hypothesis, the experiment's probes run when its strategy says:
        # only a hypothesis that watches answer is followed in between, as watches call
        # no probe of the experiment's.
        if self.drill.recovery.poll_hypothesis or all(map(watchable, hypothesis)):
            self.probes += hypothesis
        self.handler = chaostoolkit.DrillEventHandler(self.recorder, self.observe, self.stop)

    @property
    def resolution(self) -> float:
        """Watched conditions are recorded on event receipt; polled ones at the interval."""
        return 0.0 if self._watched is not None else self.interval

    def execute(self) -> RunRecord:
        """Start, run the experiment, close, revert; the record of it all.

        Whatever happens inside, what the run opened is closed and what it changed is
        reverted before this returns or raises.
        """
        error: str | None = None
        journal: dict[str, Any]
        try:
            self.start()
            with (
                activity_environment(self.options, self.run_id, self._context),
                self.handler.processes,
            ):
                try:
                    journal = chaostoolkit.run_experiment(
                        self.experiment,
                        strategies=chaostoolkit.runtime_strategies(
                            self.experiment, self.drill.safety.rollback
                        ),
                        handler=self.handler,
                        experiment_vars=self.options.experiment_vars,
                    )
                except DrillError as failure:
                    error = str(failure)
                    journal = {"status": "aborted", "deviated": False}
        finally:
            self.close()
            not_reverted = self.revert()
        return self._record(journal, error, not_reverted)

    # -- the life -------------------------------------------------------------------

    def start(self) -> None:
        """Record the start; prepare watches and markers on the run's connection."""
        self._started = self.recorder.record(
            RunStarted(at=self.recorder.now(), run_id=self.run_id, drill=self.drill.name)
        )
        if self.cluster is None:
            return
        # Only a run that acts on a cluster loads what reads one.
        from drillkit.running.capacity import WorkloadCapacity
        from drillkit.running.markers import MarkerWriter, connect_marker_reader

        if self.drill.target.workloads or any(
            str(p.get("provider", {}).get("module", "")).startswith("drillkit.probes.kubernetes")
            for p in self.probes
        ):
            self._watches = WorkloadWatches(self.cluster)
            self._watched = watched_condition(self.probes, self._watches)
            if self._watched is None:
                # A polled condition gets polled capacity too: a watch keeps showing the
                # API server's cache while etcd is down, and the two must not disagree.
                self._watches = None
        if self.drill.target.workloads:
            self._capacity = (
                WatchedCapacity(self._watches, self.drill.target.workloads)
                if self._watches is not None
                else WorkloadCapacity(self.cluster, self.drill.target.workloads)
            )
        if self.drill.markers is not None:
            self._marker_reader = connect_marker_reader(
                self.drill.markers, self.options.kubeconfig, self._context
            )
            self._markers = MarkerWriter(
                self.cluster,
                self.drill.markers,
                run_id=self.run_id,
                recorder=self.recorder,
                reader=self._marker_reader,
            )

    def observe(self, configuration: Mapping[str, Any], secrets: Mapping[str, Any]) -> Observer:
        """The observer of the experiment chaoslib is beginning, with its configuration
        and secrets; watches and markers begin here too."""
        condition = self._watched
        if condition is None and self.probes:
            # A probe that fails because this API server did not answer is a gap, not a loss.
            measured = next((c.server for c in self.scope.clusters if c.role == "measured"), None)
            condition = chaostoolkit.ProbeCondition(
                "recovery condition", self.probes, configuration, secrets, api_server=measured
            )
        guards = [
            chaostoolkit.ProbeCondition(
                f"abort condition {g.name}", [g.to_chaostoolkit()], configuration, secrets
            )
            for g in self.drill.safety.abort_conditions
        ]
        objectives = self.drill.objectives
        observer = Observer(
            recorder=self.recorder,
            condition=condition,
            interval=self.interval,
            stable_for=objectives.stable_for.total_seconds(),
            timeout=objectives.timeout.total_seconds(),
            capacity=self._capacity,
            guards=guards,
            on_guard_tripped=lambda _: chaostoolkit.abort_main_thread(),
        )
        if self._watches is not None:
            self._watches.subscribe(observer.notify)
            self._watches.start()
        if self._markers is not None:
            self._markers.start()
        return observer

    def stop(self) -> None:
        """Recovery settled (or the wait timed out): markers keep being written through
        the fault (until a restore rolls them back); now what survived is read."""
        if self._markers is not None:
            self._markers.stop()
            self._markers.read_back(backup_age_seconds=self.handler.restore_point_age)

    def close(self) -> None:
        """Stop and close everything the run opened; the run's connection stays open."""
        if self._watches is not None:
            self._watches.stop()
        if self._markers is not None:
            self._markers.stop()
        if self._marker_reader is not None:
            self._marker_reader.close()

    # -- the record -----------------------------------------------------------------

    @property
    def _context(self) -> str | None:
        return self.options.context or self.drill.target.context

    def _record(
        self, journal: Mapping[str, Any], error: str | None, not_reverted: str | None
    ) -> RunRecord:
        assert self._started is not None
        drill = self.drill
        # A lock lost while the run was still acting aborted it; one lost later, while the
        # revert waited for the API server, changes nothing the run did.
        lock_lost = any(isinstance(event, LockLost) for event in self.recorder.events())
        status, error = decide_status(journal, self.handler, error, lock_lost=lock_lost)
        if not_reverted is not None:
            # The cluster is not as the run found it: the run did not complete, whatever
            # it measured; an abort or an interruption keeps its own status.
            if status not in (RunStatus.ABORTED, RunStatus.INTERRUPTED):
                status = RunStatus.ERROR
            error = f"{error}; {not_reverted}" if error else not_reverted
        finished = self.recorder.record(RunFinished(at=self.recorder.now(), status=status))
        timeline = self.recorder.events()
        objectives = drill.objectives
        outcome = measure_run(
            timeline,
            objectives=objectives,
            target=drill.target,
            resolution=self.resolution,
            marker_interval=drill.markers.interval.total_seconds() if drill.markers else None,
            run_status=status,
        )
        evidence = drill.evidence
        options = self.options
        record = RunRecord(
            run_id=self.run_id,
            drill=drill.name,
            description=drill.description,
            strategy=str(drill.strategy),
            status=status,
            outcome=outcome,
            objectives=objectives,
            resolution_seconds=self.resolution,
            started_utc=self._started.at.utc,
            ended_utc=finished.at.utc,
            duration_seconds=finished.at.monotonic - self._started.at.monotonic,
            scope=self.scope,
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
            drill_file=SourceFile.read(drill.source) if drill.source else None,
            experiment_file=SourceFile.read(drill.experiment_path()),
            tool_version=__version__,
            timeline=timeline,
            journal=chaostoolkit.strip_secrets(journal),
            error=error,
            restore=self.handler.restore,
            promise=promise_of(drill),
        )
        # Activities print, return and fail with whatever they saw, secrets included;
        # nothing of the record leaves the run before they are replaced.
        return redact_record(record, run_secrets(drill, self.experiment, options))


def decide_status(
    journal: Mapping[str, Any],
    handler: chaostoolkit.DrillEventHandler,
    error: str | None,
    *,
    lock_lost: bool = False,
) -> tuple[RunStatus, str | None]:
    """The run's status from what chaoslib journaled and what the handler saw."""
    if handler.failed_fault is not None:
        return RunStatus.ERROR, handler.failed_fault
    if handler.interrupted_by == "guard" or lock_lost:
        # GUARD_SIGNAL stops the run for a guard and for a lost lock alike; the timeline's
        # GuardTripped or LockLost says which.
        return RunStatus.ABORTED, error
    if handler.interrupted_by is not None:
        return RunStatus.INTERRUPTED, error
    status = journal.get("status")
    if status == "interrupted":
        # Not by drillkit's signals: a control raised InterruptExecution or SystemExit,
        # or an activity called chaoslib.exit. chaos run reports it so; so does drill.
        return RunStatus.INTERRUPTED, error or (
            "the experiment interrupted itself: a control or an activity stopped it"
        )
    if error is not None:
        return RunStatus.ERROR, error
    if handler.steady_state_before is False and handler.failed_before_method is not None:
        return RunStatus.ERROR, (
            f"the steady state could not be checked before the fault "
            f"({handler.failed_before_method}), so nothing was injected; fix the probe first"
        )
    if handler.steady_state_before is False:
        return RunStatus.ERROR, (
            "the steady state did not hold before the fault, so nothing was injected; "
            "fix the system (or the hypothesis) first"
        )
    if status == "aborted":
        return RunStatus.ERROR, "the experiment's method failed unexpectedly; see journal.json"
    if journal.get("deviated") or status == "failed":
        return RunStatus.FAILED, None
    return RunStatus.COMPLETED, None


def operator_identity() -> str:
    """Who ran the drill: ``DRILL_OPERATOR`` when set (CI), else user@host."""
    return os.environ.get("DRILL_OPERATOR") or f"{getpass.getuser()}@{socket.gethostname()}"


@contextmanager
def activity_environment(options: RunOptions, run_id: str, context: str | None) -> Iterator[None]:
    """Point every Kubernetes-speaking activity (ours and chaosk8s') at the measured
    cluster (``context``: the option's, else the drill's), tell drillkit's faults
    which run they act for (their undo markers name it) and which key signs.

    Activities are Chaos Toolkit functions called by chaoslib: the process
    environment is the one channel every one of them reads; it is restored after."""
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
        with _client_pointed_at(options.kubeconfig):
            yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous


def _client_pointed_at(kubeconfig: Path | None) -> contextlib.AbstractContextManager[None]:
    """The Kubernetes client, when this process has loaded it, pointed at the run's
    kubeconfig for the run (``default_kubeconfig``), its requests bounded.

    Every run that acts on a cluster has loaded it, and so has one whose activities'
    modules import it: chaoslib imported them when it validated the experiment. A process
    that never loaded it has nothing to point, and does not pay for loading it; an
    activity that imports it later reads ``KUBECONFIG``, which the run sets."""
    if "kubernetes" not in sys.modules:
        return contextlib.nullcontext()
    from drillkit.drivers.kubernetes import default_kubeconfig

    return default_kubeconfig(kubeconfig)


def run_secrets(drill: Drill, experiment: Mapping[str, Any], options: RunOptions) -> Secrets:
    """The secrets a run of ``drill`` could see, for whatever prints or is recorded: the
    experiment's configuration and secrets as the values given for them made them."""
    return collect_secrets(
        experiment=options.experiment_vars.applied_to(experiment),
        drill_document=drill.model_dump(mode="json"),
        environ=os.environ,
        kubeconfig=options.kubeconfig,
    )

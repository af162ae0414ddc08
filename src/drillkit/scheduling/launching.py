"""Running one drill for a fire or a game-day step, and reducing the run to what they need.

``DrillLauncher.run`` finds ``drills/NAME.yaml``, runs it with ``run_drill`` (which takes
the cluster lock, checks the guardrails and rolls back), records it as ``drill run`` does
(``drillkit.evidence.recording``: report, signed ledger entry, runs killed earlier
finalised) and returns a ``DrillRunResult``. A run refused because another drill holds
the cluster lock is not an error here but ``lock_held``: a scheduler records it as a skip.

``run_drill`` handles SIGINT and SIGTERM itself, so it must run on the main thread of its
process: the scheduler daemon starts a process per fire (``drill schedule fire``) for that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import DrillError, InvalidInput
from drillkit.evidence.recording import RunRecording, finalise_interrupted_runs
from drillkit.model.drill import Drill
from drillkit.model.measurement import RunStatus
from drillkit.model.run import RunRecord
from drillkit.model.timeline import ActivityStarted, RunFinished, RunStarted, TimelineEvent
from drillkit.running.proving import load_drill
from drillkit.running.runner import RunOptions, register_undo_actions, run_drill
from drillkit.safety.lock import LockHeld
from drillkit.safety.recover import recover
from drillkit.scheduling.files import find_named_file
from drillkit.signing import SigningKey


@dataclass(frozen=True, kw_only=True)
class DrillRunResult:
    """What a fire or a game day needs to know about one drill run."""

    drill: str
    verdict: str | None = None
    """``met``, ``missed``, ``inconclusive``, ``aborted`` or ``error``; None when it did not run."""
    run_id: str | None = None
    report_dir: Path | None = None
    interrupted: bool = False
    """A signal stopped the run (its rollbacks ran)."""
    error: str | None = None
    """Why the drill could not run at all."""
    lock_held: str | None = None
    """Another drill held the cluster lock: nothing was touched."""
    record: RunRecord | None = field(default=None, compare=False, repr=False)
    """The run's whole record, for what is made from it besides the report (a JUnit
    file, a notification's RTO and RPO); None when it did not run."""

    @property
    def ran(self) -> bool:
        return self.run_id is not None


def find_drill_file(drills_dir: Path, name: str) -> Path:
    """``drills/NAME.yaml`` (or ``.yml``); InvalidInput naming where it looked."""
    return find_named_file(drills_dir, name, what="drill")


def load_named_drill(drills_dir: Path, name: str) -> Drill:
    return load_drill(find_drill_file(drills_dir, name))


@dataclass(frozen=True, kw_only=True)
class DrillLauncher:
    """Runs drills by name from one drills directory, writing reports to one directory."""

    drills_dir: Path
    reports_dir: Path
    options: RunOptions
    on_message: Callable[[str], None] = lambda _: None
    on_event: Callable[[TimelineEvent], None] | None = None
    signing_key: SigningKey | None = None
    results: list[DrillRunResult] = field(default_factory=list, compare=False)
    """What each ``run`` returned, in order: a game day's runs, for its JUnit file and
    its notification."""

    def run(self, name: str) -> DrillRunResult:
        """Run the drill ``name`` once; never raises for a drill that could not run."""
        result = self._run(name)
        self.results.append(result)
        return result

    def _run(self, name: str) -> DrillRunResult:
        try:
            drill = load_named_drill(self.drills_dir, name)
        except InvalidInput as error:
            return DrillRunResult(drill=name, verdict="error", error=str(error))

        recording = RunRecording(
            drill,
            self.options,
            self.reports_dir,
            signing_key=self.signing_key,
            on_message=self.on_message,
        )

        def on_event(event: TimelineEvent) -> None:
            recording.on_event(event)
            if isinstance(event, RunStarted):
                self.on_message(f"run {event.run_id} of drill {event.drill} started")
            elif isinstance(event, ActivityStarted) and event.activity_type == "action":
                self.on_message(f"action {event.name} started")
            elif isinstance(event, RunFinished):
                self.on_message(f"run finished: {event.status}")
            if self.on_event is not None:
                self.on_event(event)

        try:
            record = run_drill(drill, self.options, on_event=on_event, on_message=self.on_message)
        except LockHeld as error:
            return DrillRunResult(drill=name, lock_held=str(error))
        except DrillError as error:
            return DrillRunResult(drill=name, verdict="error", error=str(error))
        report_dir = recording.finish(record)
        return DrillRunResult(
            drill=name,
            verdict=record.outcome.verdict.value,
            run_id=record.run_id,
            report_dir=report_dir,
            interrupted=record.status is RunStatus.INTERRUPTED,
            error=record.error,
            record=record,
        )


def recover_leftovers(
    options: RunOptions,
    *,
    on_message: Callable[[str], None],
    reports_dir: Path | None = None,
    signing_key: SigningKey | None = None,
) -> None:
    """Revert what crashed runs left in the cluster, as a scheduler does when it starts,
    and finalise the reports of runs that died under ``reports_dir``.

    Best effort: a cluster that cannot be reached now is reported, and each fire's run
    recovers again before it changes anything.
    """
    if reports_dir is not None:
        for finalised in finalise_interrupted_runs(reports_dir, signing_key=signing_key):
            on_message(finalised.describe())
    register_undo_actions()
    try:
        with Cluster.connect(options.kubeconfig, options.context) as cluster:
            actions = recover(cluster, progress=lambda _: None)
    except DrillError as error:
        on_message(f"could not look for faults left by crashed runs: {error}")
        return
    for action in actions:
        on_message(action.as_leftover())
    if not actions:
        on_message("no faults left by crashed runs")

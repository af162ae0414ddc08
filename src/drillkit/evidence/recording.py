"""Recording runs as evidence: one path from a run to its report, its signature and its entry.

``drill run``, ``drill schedule fire``, the scheduler and game days (through
``DrillLauncher``) all record their runs here, so a signing key given to any of them
signs every entry, and a ledger that is signed once stays signed.

- :class:`RunRecording` follows one run: when it starts, the start note with the facts
  its report needs (objectives, scope, sources); while it runs, each timeline event,
  redacted, appended to ``timeline.jsonl``; when it ends, :func:`record_run`.
- :func:`record_run` writes the report directory and enters it in the ledger.
- :func:`finalise_interrupted_runs` turns what a dead run left (killed outright, or
  dead while writing its report) into a report marked interrupted, entered in the ledger
  through :func:`record_run` like any other. ``drill recover``, ``drill evidence
  adopt``, the end of every run and the scheduler's start call it.

A run is dead only when its process is known dead on this host
(:func:`~drillkit.reporting.writer.judge_liveness`): a run started on another host is
left for that host, because finalising a live run would make its real report disagree
with its ledger entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.errors import DrillError, InvalidInput
from drillkit.evidence.findings import judge_run
from drillkit.evidence.ledger import append_run
from drillkit.measuring.run import measure_run
from drillkit.model.drill import Drill, Target, WorkloadKind, WorkloadReference
from drillkit.model.measurement import Finding, Outcome, RunStatus, Severity, Verdict
from drillkit.model.run import Accountability, RunRecord, Scope, SourceFile
from drillkit.model.services import promise_of
from drillkit.model.timeline import (
    GuardTripped,
    RunFinished,
    RunInterrupted,
    RunStarted,
    TimelineEvent,
    format_utc,
    parse_utc,
)
from drillkit.reporting.writer import (
    MANIFEST_FILE_NAME,
    Liveness,
    RunFacts,
    UnfinishedRun,
    append_timeline_event,
    find_unfinished_runs,
    read_unfinished_run,
    write_run_report,
    write_run_started,
)
from drillkit.running import chaostoolkit
from drillkit.running.lifecycle import run_secrets
from drillkit.running.redaction import Secrets, redact_json, redact_record
from drillkit.running.runner import RunOptions, operator_identity
from drillkit.signing import SigningKey

_FINALISE_LOCK = ".finalise.lock"
"""Held while a dead run is finalised, so two finalisers cannot enter it twice."""


def record_run(record: RunRecord, reports_dir: Path, *, signing_key: SigningKey | None) -> Path:
    """Write the report of ``record``, sign and enter it in the ledger, open or close the
    finding of the service promise it proves (``evidence.findings``); return its directory.

    Raises DrillError naming the written report when the ledger refuses it.
    """
    report_dir = write_run_report(record, reports_dir)
    try:
        entry = append_run(reports_dir, report_dir, signing_key=signing_key)
    except DrillError as error:
        raise DrillError(
            f"the report was written to {report_dir} but not entered in the ledger: {error}; "
            "enter it with: drill evidence adopt"
        ) from error
    findings = record.outcome.findings
    judge_run(
        reports_dir,
        entry,
        reason=findings[0].text if findings else "no finding was given",
        signing_key=signing_key,
    )
    return report_dir


@dataclass(eq=False)
class RunRecording:
    """The evidence of one run of ``drill``, from its start note to its ledger entry.

    Give :meth:`on_event` to ``run_drill`` and the record it returns to :meth:`finish`.
    """

    drill: Drill
    options: RunOptions
    reports_dir: Path
    _: KW_ONLY
    signing_key: SigningKey | None = None
    on_message: Callable[[str], None] = lambda _: None
    _run_dir: Path | None = field(init=False, default=None, repr=False)
    _secrets: Secrets = field(init=False, default_factory=Secrets, repr=False)
    _appending: bool = field(init=False, default=False, repr=False)

    def on_event(self, event: TimelineEvent) -> None:
        """Note the start (before anything changes), then keep each event on disk."""
        if isinstance(event, RunStarted):
            self._secrets = self._collect_secrets()
            self._run_dir = write_run_started(
                self.reports_dir,
                drill=event.drill,
                run_id=event.run_id,
                started_utc=event.at.utc,
                facts=self._facts(),
            )
            self._appending = True
        if not self._appending or self._run_dir is None:
            return
        try:
            append_timeline_event(self._run_dir, redact_record(event, self._secrets))
        except OSError as error:
            # Losing the trace of a kill is bad; failing a drill mid-fault is worse.
            self._appending = False
            self.on_message(f"cannot keep the timeline in {self._run_dir}: {error}")

    def finish(self, record: RunRecord) -> Path:
        """Record the ended run, then finalise runs that died before they were recorded."""
        self._appending = False
        report_dir = record_run(record, self.reports_dir, signing_key=self.signing_key)
        for finalised in finalise_interrupted_runs(self.reports_dir, signing_key=self.signing_key):
            # What is left alone is drill recover's to explain, not every run's.
            if finalised.outcome in (FinaliseOutcome.FINALISED, FinaliseOutcome.FAILED):
                self.on_message(finalised.describe())
        return report_dir

    def _facts(self) -> RunFacts:
        drill = self.drill
        evidence = drill.evidence
        facts = RunFacts(
            description=drill.description,
            strategy=str(drill.strategy),
            objectives=drill.objectives,
            resolution_seconds=drill.recovery.poll_interval.total_seconds(),
            marker_interval_seconds=(
                drill.markers.interval.total_seconds() if drill.markers else None
            ),
            context=self.options.context or drill.target.context,
            namespaces=tuple(drill.target.namespaces),
            workloads=tuple(f"{w.kind}/{w.namespace}/{w.name}" for w in drill.target.workloads),
            accountability=Accountability(
                operator=operator_identity(),
                owner=evidence.owner if evidence else None,
                approver=evidence.approver if evidence else None,
                controls=tuple(evidence.controls) if evidence else (),
            ),
            drill_file=SourceFile.read(drill.source) if drill.source else None,
            experiment_file=SourceFile.read(drill.experiment_path()),
            tool_version=__version__,
            promise=promise_of(drill),
        )
        # The note is part of the report directory an auditor receives: no secrets in it.
        return RunFacts.model_validate(redact_json(facts.model_dump(mode="json"), self._secrets))

    def _collect_secrets(self) -> Secrets:
        # The same secrets the runner redacts its record with, so the timeline kept while
        # the run goes holds no more than the report written at its end.
        experiment: dict[str, Any] = {}
        with contextlib.suppress(InvalidInput):
            experiment = dict(chaostoolkit.load_experiment(self.drill.experiment_path()))
        return run_secrets(self.drill, experiment, self.options)


# -- runs that died before they were recorded ----------------------------------------------------


class FinaliseOutcome(StrEnum):
    FINALISED = "finalised"
    """Reported as interrupted and entered in the ledger."""
    RUNNING = "running"
    """Its process lives: left alone."""
    ELSEWHERE = "elsewhere"
    """Started on another host, whose processes cannot be checked from here: left alone."""
    UNREPORTABLE = "unreportable"
    """Its start note does not say what it was to measure (an older drillkit): left listed."""
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class FinalisedRun:
    """What :func:`finalise_interrupted_runs` did with one run without a complete report."""

    run_dir: Path
    outcome: FinaliseOutcome
    detail: str = ""

    def describe(self) -> str:
        run = f"run {self.run_dir.parent.name}/{self.run_dir.name}"
        match self.outcome:
            case FinaliseOutcome.FINALISED:
                return f"{run} died before its report was complete: finalised as interrupted, " + (
                    self.detail
                )
            case FinaliseOutcome.RUNNING:
                return f"{run} is still running: left alone"
            case FinaliseOutcome.ELSEWHERE:
                return f"{run} {self.detail}: left alone; run drill recover there"
            case FinaliseOutcome.UNREPORTABLE:
                return f"{run} died before its report was complete, but {self.detail}"
            case FinaliseOutcome.FAILED:
                return f"{run} could not be finalised: {self.detail}"


def finalise_interrupted_runs(
    reports_dir: Path, *, signing_key: SigningKey | None, now: datetime | None = None
) -> list[FinalisedRun]:
    """Report and enter every dead run under ``reports_dir`` that has no complete report."""
    results: list[FinalisedRun] = []
    for run_dir in find_unfinished_runs(reports_dir):
        left_alone = _left_alone(read_unfinished_run(run_dir))
        if left_alone is not None:
            results.append(left_alone)
            continue
        with _finalising(run_dir):
            # Another finaliser (a run ending, drill recover) may have been first.
            if (run_dir / MANIFEST_FILE_NAME).is_file():
                continue
            results.append(_finalise(run_dir, reports_dir, signing_key, now or datetime.now(UTC)))
    return results


def _left_alone(unfinished: UnfinishedRun) -> FinalisedRun | None:
    """Why a run without a complete report is not finalised now; None when it is dead."""
    run_dir = unfinished.run_dir
    if unfinished.liveness is Liveness.ALIVE:
        return FinalisedRun(run_dir=run_dir, outcome=FinaliseOutcome.RUNNING)
    if unfinished.liveness is Liveness.UNKNOWN:
        host = unfinished.note.host if unfinished.note else "another host"
        return FinalisedRun(
            run_dir=run_dir,
            outcome=FinaliseOutcome.ELSEWHERE,
            detail=f"started on {host}, whose processes cannot be checked from here",
        )
    return None


def _finalise(
    run_dir: Path, reports_dir: Path, signing_key: SigningKey | None, now: datetime
) -> FinalisedRun:
    record = interrupted_record(read_unfinished_run(run_dir), finalised_utc=now)
    if record is None:
        return FinalisedRun(
            run_dir=run_dir,
            outcome=FinaliseOutcome.UNREPORTABLE,
            detail="its start note does not say what it was to measure (written by an older "
            "drillkit); it stays listed as interrupted",
        )
    try:
        report_dir = record_run(record, reports_dir, signing_key=signing_key)
    except DrillError as error:
        return FinalisedRun(run_dir=run_dir, outcome=FinaliseOutcome.FAILED, detail=str(error))
    return FinalisedRun(
        run_dir=run_dir, outcome=FinaliseOutcome.FINALISED, detail=f"report {report_dir}"
    )


def interrupted_record(unfinished: UnfinishedRun, *, finalised_utc: datetime) -> RunRecord | None:
    """The record of a dead run, from what it left, with status interrupted.

    None when its start note holds no facts (objectives, scope, sources): without them
    a report would have to invent what the run was to measure.
    """
    note = unfinished.note
    facts = note.facts if note is not None else None
    if note is None or facts is None:
        return None
    timeline = unfinished.timeline
    started_utc = parse_utc(note.started_utc)
    last = timeline[-1] if timeline else None
    starts = [event.at.monotonic for event in timeline if isinstance(event, RunStarted)]
    first = min(starts, default=timeline[0].at.monotonic if timeline else 0.0)

    findings = [_why_interrupted(unfinished, finalised_utc)]
    try:
        outcome = measure_run(
            timeline,
            objectives=facts.objectives,
            target=_target_of(facts),
            resolution=facts.resolution_seconds,
            marker_interval=facts.marker_interval_seconds,
            run_status=RunStatus.INTERRUPTED,
            # Nothing was observed after the last event the run kept.
            observed_until=last.at.monotonic if last is not None else None,
        )
    except ValueError as error:
        outcome = Outcome(verdict=Verdict.ABORTED)
        findings.append(
            Finding(severity=Severity.WARNING, text=f"its timeline cannot be measured: {error}")
        )
    measured = list(outcome.findings)
    stopped_by = any(isinstance(event, GuardTripped | RunInterrupted) for event in timeline)
    if measured and not stopped_by:
        # Without a guard or a signal on the timeline, the verdict's first finding is its
        # generic "interrupted by signal"; the finding above says what really happened.
        measured.pop(0)
    findings += measured
    if unfinished.problems:
        findings.append(
            Finding(
                severity=Severity.WARNING,
                text="what the run left was incomplete: " + "; ".join(unfinished.problems),
            )
        )
    return RunRecord(
        run_id=unfinished.run_dir.name,
        drill=unfinished.run_dir.parent.name,
        description=facts.description,
        strategy=facts.strategy,
        status=RunStatus.INTERRUPTED,
        outcome=replace(outcome, verdict=Verdict.ABORTED, findings=tuple(findings)),
        objectives=facts.objectives,
        resolution_seconds=facts.resolution_seconds,
        started_utc=started_utc,
        ended_utc=last.at.utc if last is not None else started_utc,
        duration_seconds=max(0.0, last.at.monotonic - first) if last is not None else 0.0,
        scope=Scope(
            context=facts.context,
            cluster_server=None,
            kubernetes_version=None,
            namespaces=facts.namespaces,
            workloads=facts.workloads,
        ),
        accountability=facts.accountability,
        drill_file=facts.drill_file,
        experiment_file=facts.experiment_file,
        tool_version=facts.tool_version,
        timeline=timeline,
        journal=unfinished.journal,
        promise=facts.promise,
    )


def _why_interrupted(unfinished: UnfinishedRun, finalised_utc: datetime) -> Finding:
    when = format_utc(finalised_utc)
    finished = [event for event in unfinished.timeline if isinstance(event, RunFinished)]
    if finished:
        return Finding(
            severity=Severity.FAILURE,
            text=f"the run ended ({finished[-1].status.value}) but drillkit died while writing "
            f"its report, which never got its manifest; rewritten as interrupted on {when} from "
            "what was written: a report that was cut short is no evidence that the objectives "
            "were met",
        )
    last = unfinished.timeline[-1].at.utc if unfinished.timeline else None
    seen = f"; its last recorded event was at {format_utc(last)}" if last is not None else ""
    return Finding(
        severity=Severity.FAILURE,
        text="the run was killed (its process died without ending the run: SIGKILL, a crash "
        f"or a power loss) before it wrote its report{seen}. Its rollbacks did not complete; "
        "drill recover or the next drill run reverts what it recorded. Reported as "
        f"interrupted on {when} from the events it recorded until then",
    )


@contextlib.contextmanager
def _finalising(run_dir: Path) -> Iterator[None]:
    # A hidden file: the ledger, verify and export leave hidden files out of a run.
    descriptor = os.open(run_dir / _FINALISE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _target_of(facts: RunFacts) -> Target:
    """The drill's target as its start note kept it (workloads as ``Kind/namespace/name``)."""
    workloads = []
    for text in facts.workloads:
        kind, namespace, name = text.split("/", 2)
        workloads.append(WorkloadReference(kind=WorkloadKind(kind), namespace=namespace, name=name))
    return Target(context=facts.context, namespaces=facts.namespaces, workloads=tuple(workloads))

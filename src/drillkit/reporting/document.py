"""``report.json``: the versioned, machine-readable document of one run, and reading it back.

Everything measured goes here (DESIGN section 5); ``report.md`` and ``report.html`` are
rendered from the same :class:`ReportDocument`, so the three never disagree. The
document is modelled with pydantic rather than assembled as loose dicts so that its
JSON Schema (``schemas/report.schema.json``) is generated from the same code that
writes it and cannot drift from it.

The shape is a public interface: the CLI's ``--output json`` and users' CI scripts read
``measurements.rto.seconds`` and ``measurements.rto.bound``. Adding a field is a
schema-version change; renaming or removing one breaks readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Final, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drillkit.errors import InvalidInput
from drillkit.model.durations import format_duration
from drillkit.model.measurement import (
    Bound,
    Finding,
    Measurement,
    RunStatus,
    Severity,
    Verdict,
)
from drillkit.model.records import json_schema_of, write_json_schema
from drillkit.model.run import Promise, RestoreSummary, RunRecord, SourceFile
from drillkit.model.timeline import FaultInjected, RunStarted, format_utc, parse_utc

REPORT_SCHEMA_VERSION: Final = "1.4"
"""Bumped whenever the document's shape changes; readers refuse versions they do not know."""
READABLE_SCHEMA_VERSIONS: Final = ("1.0", "1.1", "1.2", "1.3", "1.4")
"""What this version reads: 1.1 added ``restore``, so a 1.0 document reads as one without;
1.2 added ``scope.clusters`` (empty in older documents), ``accountability.production_confirmation``
and the verdict ``unjudged``; 1.3 added ``promise`` (null in older documents)."""

REPORT_FILE_NAME: Final = "report.json"


# Monotonic differences carry float noise (12.3 - 10.1 = 2.2000000000000006); a
# microsecond is far below any observer's resolution, so rounding to it loses nothing.
_DIGITS: Final = 6

UtcTimestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        description="RFC 3339 UTC time with milliseconds, e.g. 2025-03-01T09:00:10.000Z.",
    ),
]


class _Document(BaseModel):
    # Strict on read-back: a field this version does not know means the file is not
    # what this version wrote, and the schema says so with additionalProperties false.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectiveDocument(_Document):
    """One declared target or window, in seconds and as written in the drill."""

    seconds: float
    text: str = Field(description="The duration as a drill file writes it, e.g. 30s or 1h30m.")


class ObjectivesDocument(_Document):
    """What the team promised, and the windows the measurement used."""

    rto: ObjectiveDocument | None = Field(description="Null when the drill declares no RTO.")
    rpo: ObjectiveDocument | None = Field(description="Null when the drill declares no RPO.")
    stable_for: ObjectiveDocument = Field(
        description="How long the recovery condition had to hold to count as restored."
    )
    timeout: ObjectiveDocument = Field(
        description="How long the run waited for recovery before reporting a lower bound."
    )


class FindingDocument(_Document):
    """One sentence of the report, with numbers."""

    severity: Severity
    text: str


class MeasurementDocument(_Document):
    """One measured duration with its resolution and whether it is exact or a lower bound."""

    seconds: float | None = Field(description="Null when the value was not measured.")
    resolution_seconds: float | None = Field(
        description="How coarse the observations were (0 for watches, else the interval); "
        "null when nothing was observed."
    )
    bound: Bound | None = Field(
        description="exact, or lower when the true value is at least `seconds`; "
        "null when `seconds` is null."
    )
    note: str = Field(description="Why the value is a bound or was not measured; may be empty.")
    objective_seconds: float | None = Field(description="The target, null when none applies.")
    met: bool | None = Field(
        description="Whether the value meets the target; null when there is no target or the "
        "measurement cannot tell (not measured, or a lower bound below the target)."
    )


class RpoMeasurementDocument(MeasurementDocument):
    """RPO, plus what the data markers showed."""

    markers_written_before_inject: int | None
    markers_lost: int | None = Field(
        description="Markers written at or before the fault that were not found after recovery; "
        "null when they were not read back (the loss is unknown)."
    )
    newest_surviving_sequence: int | None
    backup_age_seconds: float | None = Field(
        description="For backup-based recovery: the age of the backup in use at the fault."
    )


class WorkloadCapacityDocument(_Document):
    """The low point of one targeted workload after the fault."""

    workload: str
    lowest_ready: int
    desired: int


class CapacityMeasurementDocument(MeasurementDocument):
    """Time until every targeted workload had all its desired replicas ready again."""

    workloads: list[WorkloadCapacityDocument]


class MeasurementsDocument(_Document):
    """The measured values; the keys and their `seconds`/`bound` are a stable interface."""

    rto: MeasurementDocument
    rpo: RpoMeasurementDocument
    time_to_full_capacity: CapacityMeasurementDocument


class RecoveryDocument(_Document):
    """When the fault took effect and when the recovery condition was lost and restored."""

    injected_utc: UtcTimestamp | None = Field(
        description="Wall-clock time of t_inject; null when the fault never took effect."
    )
    disruption_observed: bool | None = Field(
        description="Whether the recovery condition was ever seen false after the fault."
    )
    t_lost_seconds: float | None = Field(description="Seconds after t_inject; null if never lost.")
    t_restored_seconds: float | None = Field(
        description="Seconds after t_inject; null if not restored before the run stopped looking."
    )
    t_full_capacity_seconds: float | None = Field(description="Seconds after t_inject.")


class RestoreDocument(_Document):
    """What the drill's backup restore wrote into its target: kinds and counts, never content."""

    backup: str = Field(description="The backup restored, by name.")
    target: str = Field(description="Where it was restored: the kube context and kubeconfig.")
    namespaces: list[str] = Field(
        description="The namespaces restored into, after any namespace mapping."
    )
    objects_by_kind: dict[str, int] = Field(
        description='Objects restored (created or replaced) by kind, e.g. {"Deployment": 1}.'
    )
    created: int = Field(ge=0, description="Objects the restore created.")
    replaced: int = Field(
        ge=0, description="Objects that existed and were replaced (conflict policy replace)."
    )
    skipped: int = Field(
        ge=0, description="Objects that existed and were left alone (conflict policy skip)."
    )


class ClusterDocument(_Document):
    """One cluster the run acted on, as it answered before the first change."""

    role: str = Field(
        description="measured (the drill's own cluster), region B (restore target), "
        "etcd member NAME, ..."
    )
    server: str = Field(description="The API server URL (an etcd member's client URL).")
    ca_sha256: str | None = Field(
        description="SHA-256 (hex) of the CA the connection trusted; null when none."
    )
    kube_system_uid: str | None = Field(
        description="UID of the kube-system namespace, which names one cluster; null when "
        "the drill's identity may not read it."
    )


class ScopeDocument(_Document):
    """What the drill ran against."""

    context: str | None
    cluster_server: str | None
    kubernetes_version: str | None
    namespaces: list[str]
    workloads: list[str]
    nodes_per_zone: dict[str, int]
    clusters: list[ClusterDocument] = Field(
        default_factory=list,
        description="Every cluster the run acted on, checked and recorded before its first "
        "change (absent from documents before version 1.2).",
    )


class AccountabilityDocument(_Document):
    """Who ran the drill, who approved it, and which controls it gives evidence for."""

    operator: str
    owner: str | None
    approver: str | None
    controls: list[str]
    production_confirmation: str | None = Field(
        default=None,
        description="For a production drill: the cluster the operator named to confirm it.",
    )


class SourceFileDocument(_Document):
    """A drill or experiment file as it was when the run started."""

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PromisedObjectivesDocument(_Document):
    """What the service file promised for one kind of disruption when the run started."""

    disruption: str
    rto_seconds: float | None
    rpo_seconds: float | None
    prove_every_seconds: float


class PromiseDocument(_Document):
    """The service promise the run proves, as the service file stated it at the start."""

    service: str
    disruption: str = Field(description="pod, node, zone, region, control-plane, ...")
    owners: list[str]
    rto_seconds: float | None = Field(description="The RTO promised; null when none.")
    rpo_seconds: float | None = Field(description="The RPO promised; null when none.")
    prove_every_seconds: float = Field(description="How often a drill must prove it.")
    service_file: SourceFileDocument
    service_objectives: list[PromisedObjectivesDocument] | None = Field(
        default=None,
        description="Every disruption the service file promised to survive, and what it "
        "promised (absent from documents before version 1.4).",
    )


class SourcesDocument(_Document):
    """The files the run was made from, with digests an auditor can compare."""

    drill: SourceFileDocument | None
    experiment: SourceFileDocument


class ReportDocument(_Document):
    """report.json: everything one drillkit run measured and concluded."""

    model_config = ConfigDict(title="drillkit run report")

    schema_version: Literal["1.0", "1.1", "1.2", "1.3", "1.4"]
    run_id: str
    drill: str
    description: str
    strategy: str = Field(description="The DR strategy class, e.g. backup-restore.")
    status: RunStatus = Field(description="How the run ended, as the runner saw it.")
    verdict: Verdict
    findings: list[FindingDocument]
    objectives: ObjectivesDocument
    measurements: MeasurementsDocument
    recovery: RecoveryDocument
    restore: RestoreDocument | None = Field(
        default=None,
        description="The backup restore the run completed (the last, should it restore twice); "
        "null for drills that restore no backup (absent from version 1.0 documents).",
    )
    scope: ScopeDocument
    accountability: AccountabilityDocument
    promise: PromiseDocument | None = Field(
        default=None,
        description="The service promise the drill proves; null when it names none (absent "
        "from documents before version 1.3).",
    )
    sources: SourcesDocument
    tool_version: str
    started_utc: UtcTimestamp
    ended_utc: UtcTimestamp
    duration_seconds: float = Field(description="Monotonic duration of the whole run.")
    error: str | None = Field(description="Why the run could not proceed, when status is error.")


def render_report_document(record: RunRecord) -> ReportDocument:
    """Build the report document of a finished run."""
    outcome = record.outcome
    objectives = record.objectives
    recovery = outcome.recovery
    capacity = outcome.capacity
    rpo = outcome.rpo
    rto_target = _seconds_of(objectives.rto)
    rpo_target = _seconds_of(objectives.rpo)
    t_inject = recovery.t_inject if recovery is not None else None

    rto = MeasurementDocument(
        **(
            _measured(recovery.rto, rto_target)
            if recovery is not None
            else _unmeasured(rto_target, "not measured: the run observed no recovery condition")
        )
    )
    if rpo is not None:
        rpo_document = RpoMeasurementDocument(
            **_measured(rpo.rpo, rpo_target),
            markers_written_before_inject=rpo.markers_written_before_inject,
            markers_lost=rpo.markers_lost,
            newest_surviving_sequence=rpo.newest_surviving_sequence,
            backup_age_seconds=_round(rpo.backup_age_seconds),
        )
    else:
        rpo_document = RpoMeasurementDocument(
            **_unmeasured(rpo_target, "not measured: the drill writes no data markers"),
            markers_written_before_inject=None,
            markers_lost=None,
            newest_surviving_sequence=None,
            backup_age_seconds=None,
        )
    capacity_document = CapacityMeasurementDocument(
        **(
            _measured(capacity.time_to_full_capacity, None)
            if capacity is not None
            else _unmeasured(None, "not measured: no replica counts were observed")
        ),
        workloads=[
            WorkloadCapacityDocument(
                workload=low.workload, lowest_ready=low.lowest_ready, desired=low.desired
            )
            for low in (capacity.workloads if capacity is not None else ())
        ],
    )
    t_full_capacity = capacity.t_full_capacity if capacity is not None else None

    return ReportDocument(
        schema_version=REPORT_SCHEMA_VERSION,
        run_id=record.run_id,
        drill=record.drill,
        description=record.description,
        strategy=record.strategy,
        status=record.status,
        verdict=outcome.verdict,
        findings=[_render_finding(finding) for finding in outcome.findings],
        objectives=ObjectivesDocument(
            rto=_render_objective(objectives.rto),
            rpo=_render_objective(objectives.rpo),
            stable_for=ObjectiveDocument(
                seconds=objectives.stable_for.total_seconds(),
                text=format_duration(objectives.stable_for),
            ),
            timeout=ObjectiveDocument(
                seconds=objectives.timeout.total_seconds(),
                text=format_duration(objectives.timeout),
            ),
        ),
        measurements=MeasurementsDocument(
            rto=rto, rpo=rpo_document, time_to_full_capacity=capacity_document
        ),
        recovery=RecoveryDocument(
            injected_utc=_find_injection_utc(record, t_inject),
            disruption_observed=recovery.disruption_observed if recovery is not None else None,
            t_lost_seconds=_since(recovery.t_lost if recovery else None, t_inject),
            t_restored_seconds=_since(recovery.t_restored if recovery else None, t_inject),
            t_full_capacity_seconds=_since(t_full_capacity, t_inject),
        ),
        restore=_render_restore(record.restore) if record.restore is not None else None,
        scope=ScopeDocument(
            context=record.scope.context,
            cluster_server=record.scope.cluster_server,
            kubernetes_version=record.scope.kubernetes_version,
            namespaces=list(record.scope.namespaces),
            workloads=list(record.scope.workloads),
            nodes_per_zone=dict(sorted(record.scope.nodes_per_zone.items())),
            clusters=[
                ClusterDocument(
                    role=c.role,
                    server=c.server,
                    ca_sha256=c.ca_sha256,
                    kube_system_uid=c.kube_system_uid,
                )
                for c in record.scope.clusters
            ],
        ),
        accountability=AccountabilityDocument(
            operator=record.accountability.operator,
            owner=record.accountability.owner,
            approver=record.accountability.approver,
            controls=list(record.accountability.controls),
            production_confirmation=record.accountability.production_confirmation,
        ),
        promise=_render_promise(record.promise) if record.promise is not None else None,
        sources=SourcesDocument(
            drill=_render_source(record.drill_file) if record.drill_file else None,
            experiment=_render_source(record.experiment_file),
        ),
        tool_version=record.tool_version,
        started_utc=format_utc(record.started_utc),
        ended_utc=format_utc(record.ended_utc),
        duration_seconds=round(record.duration_seconds, _DIGITS),
        error=record.error,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class TimeOrigin:
    """The moment a report counts seconds from: ``t_inject``, or the run start without one."""

    monotonic: float
    is_fault: bool
    """True when the origin is ``t_inject``; False when the fault never took effect."""


def find_time_origin(record: RunRecord) -> TimeOrigin:
    """Where the timeline table and the chart put zero, on the monotonic clock."""
    recovery = record.outcome.recovery
    if recovery is not None and recovery.t_inject is not None:
        return TimeOrigin(monotonic=recovery.t_inject, is_fault=True)
    # An outcome without a recovery measurement (a run that errored) may still have a
    # fault on its timeline; the reader wants times relative to it all the same.
    injections = [e.at.monotonic for e in record.timeline if isinstance(e, FaultInjected)]
    if injections:
        return TimeOrigin(monotonic=min(injections), is_fault=True)
    starts = [e.at.monotonic for e in record.timeline if isinstance(e, RunStarted)]
    first = min(starts or [e.at.monotonic for e in record.timeline], default=0.0)
    return TimeOrigin(monotonic=first, is_fault=False)


def render_report_json(record: RunRecord) -> dict[str, object]:
    """The ``report.json`` document of a run as JSON-ready data (enums as their values)."""
    return render_report_document(record).model_dump(mode="json")


def render_report_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of ``report.json``, generated from the models."""
    return json_schema_of(ReportDocument)


def write_report_schema(path: Path) -> None:
    """Write the JSON Schema of ``report.json`` to ``path`` (``schemas/report.schema.json``)."""
    write_json_schema(path, render_report_schema())


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportSummary:
    """One line of ``drill report list``: a run read back from its ``report.json``.

    A report that cannot be read is still listed (a run never silently disappears):
    its ``problem`` says why, and every field that would come from the file is None.
    """

    run_id: str
    drill: str
    report_dir: Path
    verdict: Verdict | None
    status: RunStatus | None
    started_utc: datetime | None
    rto_seconds: float | None
    rto_bound: Bound | None
    rpo_seconds: float | None
    rpo_bound: Bound | None
    problem: str | None = None
    """Why ``report.json`` could not be read; None for a readable report."""
    running: bool = False
    """A run that started and has not written its report yet, and whose process lives."""
    location: str | None = None
    """Where the report is when it is not ``report_dir`` on this machine: its URL in the
    evidence store, whose reports are named by ``report_dir`` relative to it."""

    @property
    def shown_location(self) -> str:
        """Where the report is, as people and scripts are told."""
        return self.location or str(self.report_dir)

    @property
    def verdict_text(self) -> str:
        """The verdict for display: its value, ``running``, ``interrupted`` (a run killed
        before it could write its report) or ``unreadable``."""
        if self.verdict is not None:
            return self.verdict.value
        if self.running:
            return "running"
        return "interrupted" if self.status is RunStatus.INTERRUPTED else "unreadable"


def read_report_document(path: Path) -> ReportDocument:
    """Read and validate a ``report.json``; raise InvalidInput naming the file if it is not one."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the report: {error.strerror or error}") from error
    return parse_report_document(data, shown=str(path))


def parse_report_document(content: bytes, *, shown: str) -> ReportDocument:
    """Validate the bytes of a ``report.json`` read from ``shown`` (a path or a URL, for
    messages); raise InvalidInput naming it if they are not a report."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{shown}: not a report: the file is not UTF-8 text") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{shown}: broken report: invalid JSON at line {error.lineno}: {error.msg}"
        ) from error
    if not isinstance(data, dict):
        raise InvalidInput(f"{shown}: not a report: expected a JSON object")
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise InvalidInput(
            f"{shown}: unknown report schema version {version!r}; "
            f"this drillkit reads versions {', '.join(READABLE_SCHEMA_VERSIONS)}"
        )
    try:
        return ReportDocument.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
        raise InvalidInput(f"{shown}: broken report: {where}: {first['msg']}{more}") from error


def read_report_summary(report_dir: Path) -> ReportSummary:
    """Summarise the report in ``report_dir``; raise InvalidInput naming the file if broken."""
    return summarise_report(read_report_document(report_dir / REPORT_FILE_NAME), report_dir)


def summarise_report(
    document: ReportDocument, report_dir: Path, *, location: str | None = None
) -> ReportSummary:
    """The line ``drill report list`` shows for a report read from ``report_dir``."""
    rto = document.measurements.rto
    rpo = document.measurements.rpo
    return ReportSummary(
        run_id=document.run_id,
        drill=document.drill,
        report_dir=report_dir,
        verdict=document.verdict,
        status=document.status,
        started_utc=parse_utc(document.started_utc),
        rto_seconds=rto.seconds,
        rto_bound=rto.bound,
        rpo_seconds=rpo.seconds,
        rpo_bound=rpo.bound,
        location=location,
    )


class _MeasurementFields(TypedDict):
    # The fields every measurement document shares, so each kind adds only its own.
    seconds: float | None
    resolution_seconds: float | None
    bound: Bound | None
    note: str
    objective_seconds: float | None
    met: bool | None


def _measured(measurement: Measurement, target: float | None) -> _MeasurementFields:
    seconds = _round(measurement.seconds)
    return _MeasurementFields(
        seconds=seconds,
        resolution_seconds=_round(measurement.resolution_seconds),
        # The model says a bound means nothing without a value; null says so to a reader.
        bound=measurement.bound if seconds is not None else None,
        note=measurement.note,
        objective_seconds=target,
        met=_judge_met(seconds, measurement.bound, target),
    )


def _unmeasured(target: float | None, note: str) -> _MeasurementFields:
    return _MeasurementFields(
        seconds=None,
        resolution_seconds=None,
        bound=None,
        note=note,
        objective_seconds=target,
        met=None,
    )


def _judge_met(seconds: float | None, bound: Bound, target: float | None) -> bool | None:
    # The same rule as drillkit.measuring.verdict, per row of the objective table: a lower
    # bound at or past the target is a miss; below it, it cannot show the target was met.
    if seconds is None or target is None:
        return None
    if bound is Bound.LOWER:
        return False if seconds >= target else None
    return seconds <= target


def _render_objective(value: timedelta | None) -> ObjectiveDocument | None:
    if value is None:
        return None
    return ObjectiveDocument(seconds=value.total_seconds(), text=format_duration(value))


def _render_finding(finding: Finding) -> FindingDocument:
    return FindingDocument(severity=finding.severity, text=finding.text)


def _render_restore(restore: RestoreSummary) -> RestoreDocument:
    return RestoreDocument(
        backup=restore.backup,
        target=restore.target,
        namespaces=list(restore.namespaces),
        objects_by_kind={
            k.kind: k.count for k in sorted(restore.objects_by_kind, key=lambda k: k.kind)
        },
        created=restore.created,
        replaced=restore.replaced,
        skipped=restore.skipped,
    )


def _render_source(source: SourceFile) -> SourceFileDocument:
    # hashlib gives lowercase hex; other tools (sha256sum -b on some systems) may not.
    return SourceFileDocument(path=source.path, sha256=source.sha256.lower())


def _render_promise(promise: Promise) -> PromiseDocument:
    return PromiseDocument(
        service=promise.service,
        disruption=promise.disruption,
        owners=list(promise.owners),
        rto_seconds=_seconds_of(promise.rto),
        rpo_seconds=_seconds_of(promise.rpo),
        prove_every_seconds=promise.prove_every.total_seconds(),
        service_file=_render_source(promise.service_file),
        service_objectives=[
            PromisedObjectivesDocument(
                disruption=objectives.disruption,
                rto_seconds=_seconds_of(objectives.rto),
                rpo_seconds=_seconds_of(objectives.rpo),
                prove_every_seconds=objectives.prove_every.total_seconds(),
            )
            for objectives in promise.service_objectives
        ]
        or None,
    )


def _find_injection_utc(record: RunRecord, t_inject: float | None) -> str | None:
    # The outcome keeps t_inject on the monotonic clock only; its wall-clock twin is on
    # the FaultInjected event that defined it (the earliest one).
    injections = [event for event in record.timeline if isinstance(event, FaultInjected)]
    if t_inject is None or not injections:
        return None
    first = min(injections, key=lambda event: event.at.monotonic)
    return format_utc(first.at.utc)


def _since(moment: float | None, t_inject: float | None) -> float | None:
    if moment is None or t_inject is None:
        return None
    return _round(moment - t_inject)


def _seconds_of(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _round(seconds: float | None) -> float | None:
    return round(seconds, _DIGITS) if seconds is not None else None

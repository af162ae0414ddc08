"""The JSON documents ``drill ... -o json`` prints: one typed shape per command, and the JSON
Schemas in ``schemas/cli/`` generated from them.

The shapes are a public interface, as ``report.json``'s is: scripts read them. Adding a
field is compatible; renaming or removing one, or changing its type, breaks readers. Every
shape is a ``TypedDict`` so that the commands build plain dicts that mypy checks against it,
and so that pydantic generates its schema (``render_schemas``); a test keeps the committed
files equal to what these types generate, and validates each command's output against its
file. Commands import this module for typing only: pydantic is not loaded for ``--help``.

A command whose JSON is a file drillkit writes anyway shares that file's schema:
``drill report show -o json`` prints ``report.json`` (``schemas/report.schema.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from drillkit.evidence.controls import Control
from drillkit.evidence.recording import FinaliseOutcome
from drillkit.evidence.verify import ProblemKind
from drillkit.measuring.readiness import ProofState
from drillkit.model.drill import Drill, Strategy
from drillkit.model.measurement import Bound, RunStatus, Verdict
from drillkit.model.records import json_schema_of, write_json_schema
from drillkit.model.services import Service
from drillkit.reporting.document import MeasurementsDocument
from drillkit.safety.recover import RecoveryOutcome
from drillkit.scheduling.gamedays import GameDay, GameDayVerdict, StepResult

_CLOSED = ConfigDict(extra="forbid")

UtcTime = Annotated[str, Field(description="ISO 8601 UTC time, such as 2025-03-01T09:00:10+00:00.")]


# -- drill files -------------------------------------------------------------------------------


@with_config(_CLOSED)
class ListedDrill(TypedDict):
    """One drill of ``drill list``; a file that does not load has only its problem."""

    name: str
    file: str
    strategy: Strategy | None
    rto_seconds: float | None
    rpo_seconds: float | None
    description: str | None
    problem: str | None


@with_config(_CLOSED)
class ValidatedFile(TypedDict):
    """One file ``drill validate`` checked."""

    file: str
    kind: Literal["drill", "experiment", "service"]
    drill: str | None
    """The drill's (or service's) name, for a file that loads."""
    problems: list[str]
    """Every problem found in the file, each ``FILE:LINE:COLUMN: field: problem``; empty
    when it is valid."""


@with_config(_CLOSED)
class Validation(TypedDict):
    """``drill validate -o json``: valid is false when any file has a problem (exit 2)."""

    valid: bool
    files: list[ValidatedFile]


@with_config(_CLOSED)
class ShownDrill(TypedDict):
    """``drill show -o json``: the drill as ``drill run`` will use it, every default filled."""

    source: str | None
    """The drill file; None for a plain experiment, which has a drill built around it."""
    drill: Drill
    service: Service | None
    """The service the drill proves (``proves``), as its file states it; None when none."""
    disruption_derived: str | None
    """How the disruption it proves was derived from its method's faults (``derived from
    fault drain-zone-a``); None when the drill file names it, or proves nothing."""


# -- runs ----------------------------------------------------------------------------------------


@with_config(_CLOSED)
class RunSummary(TypedDict):
    """``drill run -o json``: the run's outcome; the rest is in report_dir/report.json."""

    run_id: str
    drill: str
    verdict: Verdict
    status: RunStatus
    report_dir: str
    measurements: MeasurementsDocument
    findings: list[str]


@with_config(_CLOSED)
class RunPlanDocument(TypedDict):
    """``drill run --dry-run -o json``: what the run would do; nothing was changed.

    violations name what the guardrails refuse (exit 2); warnings, faults that would
    affect none of the drill's targets (the run would be inconclusive)."""

    drill: str
    dry_run: Literal[True]
    experiment: str
    title: str
    cluster: str | None
    namespaces: list[str]
    objectives: dict[str, Any]
    steady_state: list[str]
    method: list[str]
    targets: list[str]
    rollbacks: list[str]
    rollback_strategy: str
    notes: list[str]
    warnings: list[str]
    violations: list[str]


# -- reports and evidence ------------------------------------------------------------------------


@with_config(_CLOSED)
class ListedReport(TypedDict):
    """One run of ``drill report list``, newest first; verdict is null for a run without a
    complete report (state says running, interrupted or unreadable, problem why)."""

    run_id: str
    drill: str
    report_dir: str
    started_utc: UtcTime | None
    state: str
    """The verdict, or running, interrupted or unreadable: the text form's VERDICT column."""
    verdict: Verdict | None
    status: RunStatus | None
    rto_seconds: float | None
    rto_bound: Bound | None
    rpo_seconds: float | None
    rpo_bound: Bound | None
    problem: str | None


@with_config(_CLOSED)
class TrendPointDocument(TypedDict):
    run_id: str
    started_utc: UtcTime
    verdict: str
    rto_seconds: float | None
    rpo_seconds: float | None


@with_config(_CLOSED)
class DrillTrendDocument(TypedDict):
    """One drill of ``drill report trend -o json``."""

    drill: str
    runs: int
    met: int
    pass_rate: float | None
    mttr_seconds: float | None
    recovered_runs: int
    unrecovered_runs: int
    worst_rto_seconds: float | None
    points: list[TrendPointDocument]


@with_config(_CLOSED)
class ProblemDocument(TypedDict):
    kind: ProblemKind
    message: str
    line: int | None
    run: str | None
    file: str | None


@with_config(_CLOSED)
class VerificationDocument(TypedDict):
    """``drill evidence verify -o json``: intact is false when anything changed (exit 1)."""

    intact: bool
    ledger: str
    entries: int
    runs: int
    skips: int
    gamedays: int
    findings: int
    """Finding entries: a finding opened, noted or closed."""
    runs_checked: int
    head: str | None
    """SEQ:DIGEST of the last entry, to keep and give back with --head."""
    problems: list[ProblemDocument]
    notices: list[str]


@with_config(_CLOSED)
class ExportDocument(TypedDict):
    """``drill evidence export -o json``: the bundle written."""

    bundle: str
    format: NotRequired[Literal["bundle", "oscal"]]
    """``oscal``: the bundle holds the OSCAL assessment results and POA&M only."""
    runs: int
    skips: int
    gamedays: int
    files: int
    bytes: int
    head: str | None
    signed_by: str | None
    findings: NotRequired[int]
    """With ``--format oscal``: the assessment results' findings (a run and a control)."""
    poam_items: NotRequired[int]
    """With ``--format oscal``: the POA&M's items (the drill findings open)."""


@with_config(_CLOSED)
class SyncedEntry(TypedDict):
    """One local entry entered in the evidence store by ``drill evidence sync``."""

    local_seq: int
    store_seq: int


@with_config(_CLOSED)
class SyncDocument(TypedDict):
    """``drill evidence sync -o json``: what was pushed to the evidence store."""

    store: str
    pushed: list[SyncedEntry]
    present: int
    """Local entries the store held already."""


# -- recovery and the lab ------------------------------------------------------------------------


@with_config(_CLOSED)
class RecoveryActionDocument(TypedDict):
    run_id: str
    action: str
    target: list[str]
    outcome: RecoveryOutcome
    details: list[str]
    orphan: bool
    where: str | None
    summary: str


@with_config(_CLOSED)
class FinalisedRunDocument(TypedDict):
    run_dir: str
    outcome: FinaliseOutcome
    detail: str
    summary: str


@with_config(_CLOSED)
class RecoveryDocument(TypedDict):
    """``drill recover -o json``: what was reverted, the dead runs reported, and the error
    that stopped it (the cluster unreachable), also on stderr; the exit code is as without."""

    actions: list[RecoveryActionDocument]
    finalised: list[FinalisedRunDocument]
    error: str | None


@with_config(_CLOSED)
class ComponentDocument(TypedDict):
    name: str
    pid: int | None
    ready: bool
    ports: list[int]
    resident_bytes: int | None
    """The process's memory resident in RAM (RSS); null when it is not running."""


@with_config(_CLOSED)
class ZoneDocument(TypedDict):
    zone: str
    ready_nodes: int
    nodes: int


@with_config(_CLOSED)
class RealNodeDocument(TypedDict):
    """A real node of a lab (``drill lab up --real-nodes``)."""

    name: str
    ready: bool


@with_config(_CLOSED)
class LabDocument(TypedDict):
    """One lab of ``drill lab status -o json`` (a list; empty without labs)."""

    name: str
    state: Literal["running", "stopped", "degraded"]
    region: str
    api_server: str
    directory: str
    kubeconfig: str
    components: list[ComponentDocument]
    zones: list[ZoneDocument]
    real_nodes: list[RealNodeDocument]


# -- game days, backups, schedules -----------------------------------------------------------------


@with_config(_CLOSED)
class ListedGameDay(TypedDict):
    """One game day of ``drill gameday list``; a file that does not load has only its problem."""

    name: str
    file: str
    gameday: GameDay | None
    problem: str | None


@with_config(_CLOSED)
class GameDayAccountability(TypedDict):
    operator: str
    owner: str | None
    approver: str | None
    controls: list[str]


@with_config(_CLOSED)
class GameDayDrills(TypedDict):
    total: int
    ran: int
    by_status: dict[str, int]


@with_config(_CLOSED)
class GameDayRun(TypedDict):
    """``drill gameday run -o json``: the game day's ``gameday.json`` and where it is."""

    schema_version: int
    gameday_id: str
    gameday: str
    description: str
    verdict: GameDayVerdict
    started_utc: str
    ended_utc: str
    duration_seconds: float
    unattended: bool
    stopped: str | None
    accountability: GameDayAccountability
    drills: GameDayDrills
    steps: list[StepResult]
    tool_version: str
    report_dir: str


@with_config(_CLOSED)
class BackupDocument(TypedDict):
    """A backup's catalogue entry, its signature aside: ``drill backup create -o json``, and
    each of ``drill backup list -o json``."""

    name: str
    taken_utc: str
    size: int
    sha256: str
    namespaces: list[str]
    counts: dict[str, int]
    source: str
    skipped: list[str]
    plan: str | None
    cluster_kinds: list[str]


@with_config(_CLOSED)
class VerifiedBackup(BackupDocument):
    """``drill backup verify -o json``: the entry of the backup whose every digest (and
    signature, with a key) checked; a failure exits 3 with one line on stderr."""

    verified: Literal[True]


@with_config(_CLOSED)
class RestoredObjects(TypedDict):
    counts: dict[str, int]
    """Restored (created or replaced) objects by kind."""
    created: int
    replaced: int
    skipped: list[str]


@with_config(_CLOSED)
class RestoreDocument(TypedDict):
    """``drill backup restore -o json``."""

    backup: str
    restored: RestoredObjects
    cleanup: NotRequired[str]
    """With --cleanup: what deleting the verification restore removed."""


@with_config(_CLOSED)
class FireDocument(TypedDict):
    """One fire: ``drill schedule fire -o json``, and each of ``drill schedule history``."""

    schedule: str
    kind: Literal["drill", "gameday", "backup"]
    target: str
    fire_time: UtcTime
    scheduler: str
    outcome: str
    skip_kind: str | None
    reason: str | None
    run_id: str | None
    verdict: str | None
    report_dir: str | None
    recorded_at: UtcTime
    finished_at: UtcTime | None
    summary: str


@with_config(_CLOSED)
class ScheduleDocument(TypedDict):
    """One schedule of ``drill schedule list -o json``."""

    name: str
    kind: Literal["drill", "gameday", "backup"]
    target: str
    cron: str
    timezone: str
    jitter_seconds: float
    misfire_grace_seconds: float
    coalesce: bool
    paused: bool
    next_fires: list[UtcTime]
    last_fire: FireDocument | None
    source: str | None
    """The schedule file it was applied from; None for one added by hand."""
    next_fires_blackouts: list[BlackoutWindow | None]
    """For each of ``next_fires``, the blackout it falls in (it will be skipped), or None."""
    next_fire_outside_blackouts: UtcTime | None
    blackouts_unknown: str | None
    """Why the blackouts could not be read (a target file that does not load), if so."""


@with_config(_CLOSED)
class BlackoutWindow(TypedDict):
    """A blackout window a fire falls in."""

    name: str
    start: UtcTime
    end: UtcTime


@with_config(_CLOSED)
class FieldChange(TypedDict):
    field: str
    before: str
    after: str


@with_config(_CLOSED)
class AppliedSchedule(TypedDict):
    """One schedule in the plan of ``drill schedule apply``."""

    name: str
    change: Literal["added", "changed", "removed", "unchanged", "kept"]
    summary: str
    source: str | None
    """The file it is (or was) declared in; None for one added by hand."""
    fields: list[FieldChange]


@with_config(_CLOSED)
class ApplyDocument(TypedDict):
    """``drill schedule apply -o json``: the plan, applied unless ``dry_run``."""

    dry_run: bool
    changes: list[AppliedSchedule]


@with_config(_CLOSED)
class ManifestList(TypedDict):
    """``drill schedule export -o json``: the manifests as one Kubernetes List, for
    ``kubectl apply -f``."""

    apiVersion: Literal["v1"]
    kind: Literal["List"]
    items: list[dict[str, Any]]


# -- findings ------------------------------------------------------------------------------------


@with_config(_CLOSED)
class FindingNoteDocument(TypedDict):
    recorded_utc: str
    owner: str | None
    remediation: str | None
    due: str | None
    """YYYY-MM-DD."""
    text: str


@with_config(_CLOSED)
class FindingDocument(TypedDict):
    """One finding of ``drill finding list|show -o json``; owner and due are the newest
    note's."""

    id: str
    service: str
    disruption: str
    state: Literal["open", "closed"]
    opened_utc: str
    opened_by: str
    """``<drill>/<run id>`` of the run that did not meet the promise."""
    reason: str
    closed_utc: str | None
    closed_by: str | None
    owner: str | None
    due: str | None
    notes: list[FindingNoteDocument]


@with_config(_CLOSED)
class ProvingRunDocument(TypedDict):
    run: str
    """``<drill>/<run id>``."""
    ended_utc: str
    verdict: Verdict
    rto_seconds: float | None
    rpo_seconds: float | None


@with_config(_CLOSED)
class PromiseReadinessDocument(TypedDict):
    """One disruption of a service: its promise, where it stands, the points it keeps."""

    disruption: str
    state: ProofState
    points: float
    share: float
    reason: str | None
    """Why the share was lost, in one line; null when kept."""
    rto_objective_seconds: float | None
    rpo_objective_seconds: float | None
    prove_every_seconds: float
    last_met: ProvingRunDocument | None
    newest: ProvingRunDocument | None
    open_findings: list[str]


@with_config(_CLOSED)
class ReadinessDocument(TypedDict):
    """One service of ``drill readiness -o json``: 100 less every deduction is its score."""

    service: str
    score: float
    assessed_utc: str
    deductions: list[str]
    promises: list[PromiseReadinessDocument]


SCHEMAS: Final[dict[str, Any]] = {
    "list": list[ListedDrill],
    "validate": Validation,
    "show": ShownDrill,
    "run": RunSummary,
    "run-dry-run": RunPlanDocument,
    "recover": RecoveryDocument,
    "report-list": list[ListedReport],
    "report-trend": list[DrillTrendDocument],
    "evidence-verify": VerificationDocument,
    "evidence-export": ExportDocument,
    "evidence-sync": SyncDocument,
    "evidence-controls": list[Control],
    "lab-status": list[LabDocument],
    "gameday-list": list[ListedGameDay],
    "gameday-run": GameDayRun,
    "backup-create": BackupDocument,
    "backup-list": list[BackupDocument],
    "backup-verify": VerifiedBackup,
    "backup-restore": RestoreDocument,
    "schedule-list": list[ScheduleDocument],
    "schedule-apply": ApplyDocument,
    "schedule-history": list[FireDocument],
    "schedule-fire": FireDocument,
    "schedule-export": ManifestList,
    "finding-list": list[FindingDocument],
    "finding-show": FindingDocument,
    "readiness": list[ReadinessDocument],
}
"""Schema file name (without ``.schema.json``) -> the type of its document."""


def render_schema(name: str) -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of one command's document, generated from its type."""
    return json_schema_of(SCHEMAS[name])


def write_schemas(directory: Path) -> None:
    """Write every command's schema as ``directory/<name>.schema.json`` (``schemas/cli``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        write_json_schema(directory / f"{name}.schema.json", render_schema(name))

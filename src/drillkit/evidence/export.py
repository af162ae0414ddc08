"""``drill evidence export``: one zip that answers an auditor's request for a period.

"Show me every DR test of the period, its scope, the objective and the actual result,
and prove none was altered or left out." The bundle holds:

- ``index.html`` and ``index.csv``: one row per run (date, drill, scope, DR strategy,
  RTO and RPO target and actual, verdict, findings, operator, approver, controls), the
  controls each run is evidence for, described from the catalogue
  (:mod:`drillkit.evidence.controls`), and the scheduled runs that were skipped;
- ``runs/<drill>/<run-id>/``: the files each run's ledger entry records, byte for byte
  (checked against their digests as they are copied, never read through a link);
- ``runs/gamedays/<name>/<id>/``: the same for each game day of the period, listed in
  the index with the ledger entries of its drill runs;
- ``ledger.jsonl``: the contiguous slice of the ledger covering the period, plus the
  entry before it, whose digest the slice's first ``prev`` names; ``ledger.head``: the
  head at export time;
- ``manifest.json``: the SHA-256 of every other file, the period, the filter and the
  ledger head as ``SEQ:DIGEST`` (keep it: ``drill evidence verify --head`` checks later
  that the ledger still holds that entry unchanged); ``manifest.sig`` when a signing key
  is configured.

Nothing is exported from a ledger that does not verify: the export runs
:func:`~drillkit.evidence.verify.verify_ledger` first and refuses on any problem.
The zip is written to a temporary file beside the target and renamed, so a bundle
is whole or absent.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from drillkit import __version__
from drillkit.errors import DrillError, InvalidInput
from drillkit.evidence.controls import Catalogue, Control
from drillkit.evidence.ledger import (
    HEAD_FILE_NAME,
    LEDGER_FILE_NAME,
    GameDayEntry,
    LedgerHead,
    LedgerLine,
    RunEntry,
    SkipEntry,
    encode_canonical,
)
from drillkit.evidence.sources import EvidenceSource, LocalEvidence, RecordedFile, recorded_files
from drillkit.evidence.verify import Verification
from drillkit.files import sync_directory
from drillkit.model.measurement import format_measured, format_seconds
from drillkit.model.timeline import format_utc, parse_utc
from drillkit.reporting.document import (
    REPORT_FILE_NAME,
    MeasurementDocument,
    ObjectiveDocument,
    ReportDocument,
    parse_report_document,
)
from drillkit.reporting.templating import template_environment
from drillkit.running.redaction import Secrets, collect_environment_secrets, redact_text
from drillkit.signing import ALGORITHM, SigningKey, VerifyKey

BUNDLE_FORMAT: Final = "drillkit-evidence-bundle"
BUNDLE_VERSION: Final = 1
CSV_COLUMNS: Final = (
    "date_utc",
    "drill",
    "run_id",
    "scope",
    "strategy",
    "rto_target_seconds",
    "rto_actual_seconds",
    "rto_bound",
    "rpo_target_seconds",
    "rpo_actual_seconds",
    "rpo_bound",
    "verdict",
    "findings",
    "operator",
    "approver",
    "controls",
    "ledger_entry",
    "report",
)
_NOT_APPLICABLE: Final = "—"
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


class TamperingFound(DrillError):
    """The ledger or a report did not verify; the message names what."""

    exit_code = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexRow:
    """One run of the bundle, as the index shows it."""

    date_utc: str
    drill: str
    run_id: str
    scope: str
    strategy: str
    rto_target: str
    rto_actual: str
    rto_target_seconds: float | None
    rto_actual_seconds: float | None
    rto_bound: str
    rpo_target: str
    rpo_actual: str
    rpo_target_seconds: float | None
    rpo_actual_seconds: float | None
    rpo_bound: str
    verdict: str
    findings: tuple[str, ...]
    operator: str
    approver: str
    controls: tuple[str, ...]
    ledger_entry: int
    report: str
    """The run's ``report.html`` inside the bundle."""
    adopted: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class SkipRow:
    scheduled_for: str
    drill: str
    reason: str
    schedule: str
    ledger_entry: int


@dataclass(frozen=True, kw_only=True, slots=True)
class GameDayRow:
    """One game day of the bundle: its drill runs are rows of their own."""

    started_utc: str
    name: str
    gameday_id: str
    verdict: str
    runs: tuple[str, ...]
    """``<drill>/<run-id> (entry N)`` of each drill run it made."""
    ledger_entry: int
    report: str
    """Its ``gameday.html`` inside the bundle."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ControlSummary:
    """A control and the runs of the period that are evidence for it."""

    control: Control | None
    id: str
    runs: int
    verdicts: dict[str, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportResult:
    path: Path
    runs: int
    skips: int
    gamedays: int
    files: int
    bytes: int
    head: LedgerHead | None
    signed_by: str | None


def export_bundle(
    evidence: Path | EvidenceSource,
    output: Path,
    *,
    start: datetime,
    end: datetime,
    catalogue: Catalogue,
    controls: Sequence[str] = (),
    signing_key: SigningKey | None = None,
    verify_key: VerifyKey | None = None,
    include_pdf: bool = False,
    now: datetime | None = None,
) -> ExportResult:
    """Write the evidence bundle of runs started in ``[start, end)`` to ``output`` (a zip).

    ``evidence`` is a reports directory or any other :class:`EvidenceSource` (the fleet's
    store): the bundle is the same. ``controls`` keeps only runs that are evidence for
    one of these controls (by id or alias). Raises TamperingFound when the ledger does
    not verify, InvalidInput for an empty or inverted period or an unknown control.
    """
    period = read_period(
        evidence,
        start=start,
        end=end,
        catalogue=catalogue,
        controls=controls,
        verify_key=verify_key,
    )
    source, verification, lines, in_period = (
        period.source,
        period.verification,
        period.lines,
        period.in_period,
    )
    rows, wanted, secrets = period.rows, period.wanted, period.secrets
    generated = now or datetime.now(UTC)
    skips = [_skip_row(line, secrets) for line in in_period if isinstance(line.entry, SkipEntry)]
    exported = {row.ledger_entry for row in rows}
    gameday_entries = [
        line.entry
        for line in in_period
        if isinstance(line.entry, GameDayEntry)
        # With a control filter, a game day goes with the runs it made.
        and (not wanted or any(run.seq in exported for run in line.entry.runs))
    ]
    gamedays = [_gameday_row(entry) for entry in gameday_entries]
    slice_lines = _ledger_slice(lines, in_period)

    # Exactly the files each entry records, from the directory the entry names: never
    # what else a run directory holds, never through a link. They are streamed from
    # disk into the zip and checked against their recorded digests on the way.
    files: dict[str, bytes | RecordedFile] = {}
    for line in in_period:
        if isinstance(line.entry, RunEntry) and line.entry.seq in exported:
            files.update(recorded_files(line.entry.report))
    for gameday in gameday_entries:
        # Under runs/ like in the reports tree, so its relative links to the drill
        # reports resolve inside the bundle too.
        files.update(recorded_files(gameday.report))
    files[LEDGER_FILE_NAME] = b"".join(line.raw + b"\n" for line in slice_lines)
    head = source.read_head()
    if head is not None:
        files[HEAD_FILE_NAME] = head

    context = _IndexContext(
        start=start,
        end=end,
        generated=generated,
        rows=rows,
        skips=skips,
        gamedays=gamedays,
        controls=_summarise_controls(rows, catalogue, wanted),
        filter=sorted(wanted),
        verification=verification,
        slice_lines=slice_lines,
        signed_by=signing_key.fingerprint if signing_key else None,
    )
    index_html = render_index_html(context)
    files["index.html"] = index_html.encode("utf-8")
    files["index.csv"] = render_index_csv(rows).encode("utf-8")
    if include_pdf:
        from drillkit.reporting.pdf import render_pdf

        files["index.pdf"] = render_pdf(
            index_html, title=f"drillkit evidence {_day(start)} to {_day_before(end)}"
        )
    manifest = _render_manifest(context, files)
    files["manifest.json"] = manifest
    if signing_key is not None:
        signature = {"key": signing_key.fingerprint, ALGORITHM: signing_key.sign(manifest)}
        files["manifest.sig"] = encode_canonical(signature) + b"\n"
    size = write_zip(output, files, generated, source)
    return ExportResult(
        path=output,
        runs=len(rows),
        skips=len(skips),
        gamedays=len(gamedays),
        files=len(files),
        bytes=size,
        head=verification.head,
        signed_by=context.signed_by,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class PeriodEvidence:
    """The verified ledger and the runs of a period that an export is made of."""

    source: EvidenceSource
    verification: Verification
    lines: Sequence[LedgerLine]
    """The whole ledger."""
    in_period: Sequence[LedgerLine]
    """The runs, skips and game days of the period, in ledger order."""
    documents: Mapping[int, ReportDocument]
    """The report of each run of the period, by ledger line number."""
    rows: Sequence[IndexRow]
    """The runs of the period, kept by the control filter."""
    wanted: set[str]
    """The control filter, as catalogue ids; empty for none."""
    secrets: Secrets

    def document(self, line: LedgerLine) -> ReportDocument:
        """The report of a run entry's line, of the period or not."""
        if line.number in self.documents:
            return self.documents[line.number]
        return read_documents(self.source, [line])[line.number]


def read_period(
    evidence: Path | EvidenceSource,
    *,
    start: datetime,
    end: datetime,
    catalogue: Catalogue,
    controls: Sequence[str] = (),
    verify_key: VerifyKey | None = None,
) -> PeriodEvidence:
    """Verify the evidence (a reports directory or the fleet's store) and read the runs
    started in ``[start, end)`` that are evidence for one of ``controls`` (all runs when
    empty). Raises TamperingFound when the ledger does not verify, InvalidInput for an
    empty or inverted period or an unknown control."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise InvalidInput("the period must have a start before its end, both with a time zone")
    wanted = _resolve_controls(catalogue, controls)
    source = LocalEvidence(evidence) if isinstance(evidence, Path) else evidence
    verification = source.verify(
        since=start, keys=[verify_key] if verify_key is not None else [], anchors=()
    )
    if not verification.intact:
        first = verification.problems[0].message
        more = len(verification.problems) - 1
        raise TamperingFound(
            f"the evidence does not verify, nothing was exported: {first}"
            + (f" (and {more} more problems; run: drill evidence verify)" if more else "")
        )
    lines = source.read_lines()
    in_period = [line for line in lines if _in_period(line, start, end)]
    documents = read_documents(source, in_period)
    secrets = collect_environment_secrets(os.environ)
    rows = [
        index_row(line, documents[line.number], catalogue, secrets)
        for line in in_period
        if isinstance(line.entry, RunEntry)
    ]
    if wanted:
        rows = [row for row in rows if wanted.intersection(row.controls)]
    return PeriodEvidence(
        source=source,
        verification=verification,
        lines=lines,
        in_period=in_period,
        documents=documents,
        rows=rows,
        wanted=wanted,
        secrets=secrets,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class _IndexContext:
    start: datetime
    end: datetime
    generated: datetime
    rows: Sequence[IndexRow]
    skips: Sequence[SkipRow]
    gamedays: Sequence[GameDayRow]
    controls: Sequence[ControlSummary]
    filter: Sequence[str]
    verification: Verification
    slice_lines: Sequence[LedgerLine]
    signed_by: str | None

    @property
    def head_anchor(self) -> str:
        head = self.verification.head
        return f"{head.seq}:{head.digest}" if head is not None else ""


def render_index_csv(rows: Iterable[IndexRow]) -> str:
    """``index.csv``: one row per run, numbers in seconds, text safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.date_utc,
                _cell(row.drill),
                row.run_id,
                _cell(row.scope),
                _cell(row.strategy),
                _number(row.rto_target_seconds),
                _number(row.rto_actual_seconds),
                row.rto_bound,
                _number(row.rpo_target_seconds),
                _number(row.rpo_actual_seconds),
                row.rpo_bound,
                row.verdict,
                _cell("; ".join(row.findings)),
                _cell(row.operator),
                _cell(row.approver),
                _cell(" ".join(row.controls)),
                str(row.ledger_entry),
                row.report,
            ]
        )
    return buffer.getvalue()


def render_index_html(context: _IndexContext) -> str:
    """``index.html``: the period at a glance, controls, every run, skips and integrity."""
    verdicts = Counter(row.verdict for row in context.rows)
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            period_start=_day(context.start),
            period_end=_day_before(context.end),
            generated=format_utc(context.generated),
            rows=context.rows,
            skips=context.skips,
            gamedays=context.gamedays,
            controls=context.controls,
            filter=context.filter,
            verdicts=sorted(verdicts.items()),
            pass_rate=_percent(verdicts.get("met", 0), len(context.rows)),
            verification=context.verification,
            head_anchor=context.head_anchor,
            slice_first=context.slice_lines[0].number if context.slice_lines else None,
            slice_last=context.slice_lines[-1].number if context.slice_lines else None,
            signed_by=context.signed_by,
            tool_version=__version__,
        )
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return template_environment("drillkit.evidence")


def _resolve_controls(catalogue: Catalogue, names: Sequence[str]) -> set[str]:
    wanted: set[str] = set()
    for name in names:
        control = catalogue.find(name)
        if control is None:
            known = ", ".join(control.id for control in catalogue.controls)
            raise InvalidInput(
                f"unknown control {name!r}; the catalogue has {known} "
                "(add your own with --controls FILE)"
            )
        wanted.add(control.id)
    return wanted


def _in_period(line: LedgerLine, start: datetime, end: datetime) -> bool:
    entry = line.entry
    if isinstance(entry, RunEntry | GameDayEntry):
        moment = entry.started_utc
    elif isinstance(entry, SkipEntry):
        moment = entry.scheduled_for
    else:
        return False
    try:
        return start <= parse_utc(moment) < end
    except ValueError:
        return False


def read_documents(
    source: EvidenceSource, lines: Sequence[LedgerLine]
) -> dict[int, ReportDocument]:
    """The report documents of the run entries among ``lines``, by line number, each
    checked against the digest its entry recorded."""
    runs = [line for line in lines if isinstance(line.entry, RunEntry)]
    wanted = [
        RecordedFile(directory=line.entry.report.dir, name=REPORT_FILE_NAME, sha256=digest)
        for line in runs
        if isinstance(line.entry, RunEntry)
        and (digest := line.entry.report.files.get(REPORT_FILE_NAME)) is not None
    ]
    contents = {
        recorded.directory: b"".join(chunks)
        for recorded, chunks in zip(wanted, source.read_files(wanted), strict=True)
    }
    documents: dict[int, ReportDocument] = {}
    for line in runs:
        assert isinstance(line.entry, RunEntry)
        directory = line.entry.report.dir
        if directory not in contents:
            raise TamperingFound(
                f"the ledger entry for {directory!r} records no {REPORT_FILE_NAME}"
            )
        documents[line.number] = parse_report_document(
            contents[directory], shown=f"{source.location}/{directory}/{REPORT_FILE_NAME}"
        )
    return documents


def index_row(
    line: LedgerLine, document: ReportDocument, catalogue: Catalogue, secrets: Secrets
) -> IndexRow:
    """A run entry's line and its report, as the index (and the OSCAL export) show it."""
    entry = line.entry
    assert isinstance(entry, RunEntry)
    rto = document.measurements.rto
    rpo = document.measurements.rpo
    scope = document.scope
    parts = [
        f"context {scope.context}" if scope.context else "",
        f"cluster {scope.cluster_server}" if scope.cluster_server else "",
        f"Kubernetes {scope.kubernetes_version}" if scope.kubernetes_version else "",
        f"namespaces {', '.join(scope.namespaces)}" if scope.namespaces else "",
        f"workloads {', '.join(scope.workloads)}" if scope.workloads else "",
    ]
    return IndexRow(
        date_utc=document.started_utc,
        drill=document.drill,
        run_id=document.run_id,
        scope=redact_text("; ".join(part for part in parts if part), secrets),
        strategy=document.strategy,
        rto_target=_objective_text(document.objectives.rto),
        rto_actual=_actual_text(rto),
        rto_target_seconds=document.objectives.rto.seconds if document.objectives.rto else None,
        rto_actual_seconds=rto.seconds,
        rto_bound=rto.bound.value if rto.bound is not None else "",
        rpo_target=_objective_text(document.objectives.rpo),
        rpo_actual=_actual_text(rpo),
        rpo_target_seconds=document.objectives.rpo.seconds if document.objectives.rpo else None,
        rpo_actual_seconds=rpo.seconds,
        rpo_bound=rpo.bound.value if rpo.bound is not None else "",
        verdict=document.verdict.value,
        findings=tuple(redact_text(finding.text, secrets) for finding in document.findings),
        operator=redact_text(document.accountability.operator, secrets),
        approver=redact_text(document.accountability.approver or "", secrets),
        controls=tuple(
            sorted({catalogue.canonical_id(name) for name in document.accountability.controls})
        ),
        ledger_entry=entry.seq,
        report=f"runs/{entry.report.dir}/report.html",
        adopted=entry.adopted,
    )


def _skip_row(line: LedgerLine, secrets: Secrets) -> SkipRow:
    entry = line.entry
    assert isinstance(entry, SkipEntry)
    return SkipRow(
        scheduled_for=entry.scheduled_for,
        drill=entry.drill,
        reason=redact_text(entry.reason, secrets),
        schedule=entry.schedule or "",
        ledger_entry=entry.seq,
    )


def _gameday_row(entry: GameDayEntry) -> GameDayRow:
    return GameDayRow(
        started_utc=entry.started_utc,
        name=entry.gameday,
        gameday_id=entry.gameday_id,
        verdict=entry.verdict,
        runs=tuple(
            f"{run.dir} (entry {run.seq})" if run.seq is not None else f"{run.dir} (no entry)"
            for run in entry.runs
        ),
        ledger_entry=entry.seq,
        report=f"runs/{entry.report.dir}/gameday.html",
    )


def _summarise_controls(
    rows: Sequence[IndexRow], catalogue: Catalogue, wanted: set[str]
) -> list[ControlSummary]:
    by_control: dict[str, Counter[str]] = {identifier: Counter() for identifier in sorted(wanted)}
    for row in rows:
        for identifier in row.controls:
            if not wanted or identifier in wanted:
                by_control.setdefault(identifier, Counter())[row.verdict] += 1
    return [
        ControlSummary(
            control=catalogue.find(identifier),
            id=identifier,
            runs=sum(verdicts.values()),
            verdicts=dict(sorted(verdicts.items())),
        )
        for identifier, verdicts in sorted(by_control.items())
    ]


def _ledger_slice(lines: Sequence[LedgerLine], in_period: Sequence[LedgerLine]) -> list[LedgerLine]:
    # Contiguous, so that nothing between the first and the last entry of the period can
    # be missing unnoticed, and one line earlier, whose digest the first entry links to.
    if not in_period:
        return []
    first = max(in_period[0].number - 1, 1)
    last = in_period[-1].number
    return [line for line in lines if first <= line.number <= last]


class _Period(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: str = Field(alias="from")
    end: str = Field(alias="to")


class _LedgerSlice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    first_line: int | None
    last_line: int | None


class _Verified(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    entries: int
    runs_checked: int
    problems: int


class _LedgerSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    head: str | None
    """``SEQ:DIGEST`` of the ledger's head, as ``verify`` prints it."""
    slice: _LedgerSlice
    verified: _Verified


class BundleManifest(BaseModel):
    """``manifest.json`` of a bundle: what it holds, the period, the ledger and every digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str
    version: int
    generated_utc: str
    tool_version: str
    period: _Period
    controls: list[str]
    runs: int
    skips: int
    gamedays: int
    ledger: _LedgerSummary
    signed_by: str | None
    files: dict[str, str]


def _render_manifest(context: _IndexContext, files: dict[str, bytes | RecordedFile]) -> bytes:
    head = context.verification.head
    slice_lines = context.slice_lines
    manifest = BundleManifest(
        format=BUNDLE_FORMAT,
        version=BUNDLE_VERSION,
        generated_utc=format_utc(context.generated),
        tool_version=__version__,
        period=_Period.model_validate(
            {"from": format_utc(context.start), "to": format_utc(context.end)}
        ),
        controls=list(context.filter),
        runs=len(context.rows),
        skips=len(context.skips),
        gamedays=len(context.gamedays),
        ledger=_LedgerSummary(
            head=f"{head.seq}:{head.digest}" if head is not None else None,
            slice=_LedgerSlice(
                first_line=slice_lines[0].number if slice_lines else None,
                last_line=slice_lines[-1].number if slice_lines else None,
            ),
            verified=_Verified(
                entries=context.verification.entries,
                runs_checked=context.verification.runs_checked,
                problems=len(context.verification.problems),
            ),
        ),
        signed_by=context.signed_by,
        files={name: _digest(source) for name, source in sorted(files.items())},
    )
    document = manifest.model_dump(mode="json", by_alias=True)
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_zip(
    output: Path,
    files: dict[str, bytes | RecordedFile],
    generated: datetime,
    source: EvidenceSource,
) -> int:
    """Write ``files`` to the zip ``output`` whole or not at all, report files read from
    ``source``; its size in bytes."""
    # Members in a fixed order with the export's own time, so the same export of the
    # same ledger gives the same bytes.
    stamp = generated.astimezone(UTC).timetuple()[:6]
    order = sorted(files, key=_member_order)
    recorded = [member for name in order if isinstance(member := files[name], RecordedFile)]
    # Report files are streamed from where they are into the zip, each checked against
    # its recorded digest on the way: a mismatch fails the whole export (the temporary
    # zip is removed) instead of shipping unvouched bytes.
    contents = source.read_files(recorded)
    directory = output.parent if str(output.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(dir=directory, prefix=f".{output.name}.")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
                for name in order:
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    member = files[name]
                    if isinstance(member, RecordedFile):
                        with bundle.open(info, "w") as writer:
                            for chunk in next(contents):
                                writer.write(chunk)
                    else:
                        bundle.writestr(info, member)
            stream.flush()
            os.fchmod(stream.fileno(), 0o644)
            os.fsync(stream.fileno())
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(directory)
    return output.stat().st_size


def _digest(source: bytes | RecordedFile) -> str:
    if isinstance(source, RecordedFile):
        return source.sha256
    return hashlib.sha256(source).hexdigest()


def _member_order(name: str) -> tuple[int, str]:
    # The index first, so a reader listing the zip sees where to start.
    first = ("index.html", "index.csv", "index.pdf", "manifest.json", "manifest.sig")
    return (first.index(name), name) if name in first else (len(first), name)


def _objective_text(objective: ObjectiveDocument | None) -> str:
    if objective is None:
        return _NOT_APPLICABLE
    return f"{format_seconds(objective.seconds)} s"


def _actual_text(measurement: MeasurementDocument) -> str:
    return format_measured(
        measurement.seconds, measurement.bound, resolution=measurement.resolution_seconds
    )


def _number(value: float | None) -> str:
    return "" if value is None else format_seconds(value) if value == int(value) else repr(value)


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else _NOT_APPLICABLE


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _day_before(end: datetime) -> str:
    # The period is half-open; people read "to 31 March" for an end of 1 April 00:00.
    return _day(end - timedelta(microseconds=1))

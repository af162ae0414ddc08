"""``report.md`` and ``report.html``: the run report for people, from the same document as JSON.

Both lead with the answer (the verdict, objective against actual, the findings), then
say what was tested and by whom (the facts an auditor asks for), then show the chart
and the full timeline. They are rendered from :class:`~drillkit.reporting.document.
ReportDocument` plus the timeline, so the numbers are the ones in ``report.json``.

The timeline table shows what happened, not every poll: consecutive observations of
one thing (the recovery condition from one source, one workload's replicas, the data
markers) that saw the same value collapse into one span row ("holds: 6/6 ready from
+0.8 s to +10.8 s, 11 observations"). Every other event (the fault, activities,
rollbacks, guard trips) and every change of an observed value stays a row of its own,
and a span never straddles such an event. ``timeline.jsonl`` keeps every event.

When the run observed nothing (a plain Chaos Toolkit experiment that touches no
cluster), there is nothing to chart: the report says so, and matplotlib is not loaded.

The HTML page is self-contained evidence: inline CSS, the chart as inline SVG, no
script and no external address, so it opens the same offline in ten years. Every value
from the run (drill descriptions, probe details, error text) is escaped: HTML by
jinja2's autoescape, Markdown by :func:`_escape_markdown`. A Content-Security-Policy
forbids scripts, so even a mistake in escaping could not run code in a reader's browser.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Final

import jinja2
from markupsafe import Markup

from drillkit.model.measurement import Bound, format_measured, format_seconds
from drillkit.model.run import RunRecord
from drillkit.model.services import describe_promise
from drillkit.model.timeline import (
    ActivityCompleted,
    ActivityStarted,
    CapacityObserved,
    ConditionObserved,
    ConditionUnobserved,
    FaultInjected,
    GuardTripped,
    LockLost,
    MarkersRead,
    MarkerWritten,
    ProcedureStepRun,
    RollbackCompleted,
    RollbackStarted,
    RunFinished,
    RunInterrupted,
    RunStarted,
    SteadyStateVerified,
    TimelineEvent,
    format_utc,
)
from drillkit.reporting.chart import has_observations, render_condition_chart
from drillkit.reporting.document import (
    MeasurementDocument,
    ObjectiveDocument,
    ReportDocument,
    find_time_origin,
    render_report_document,
)
from drillkit.reporting.templating import page_environment, template_environment

_NOT_APPLICABLE: Final = "—"

# Characters that start Markdown syntax inside a table cell or a line of text; "<" and
# ">" become entities so a renderer that passes raw HTML through shows them as text.
_MARKDOWN_ESCAPES: Final = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "#": "\\#",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\r": " ",
        "\n": " ",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectiveRow:
    """One row of the objective-versus-actual table, already in words."""

    name: str
    target: str
    measured: str
    resolution: str
    bound: str
    met: str
    met_class: str
    """CSS class of the met cell: ``yes``, ``no``, ``unknown`` or ``none`` (no objective)."""
    note: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineRow:
    """One event of the timeline table."""

    utc: str
    offset: str
    """Seconds since the fault was injected (or the run started), signed."""
    event: str
    detail: str


def render_markdown(record: RunRecord) -> str:
    """``report.md`` of a run: summary first, then scope, timeline (the chart is in HTML)."""
    return _render("report.md.j2", record, chart=None)


def render_html(record: RunRecord) -> str:
    """``report.html`` of a run: a self-contained page with inline CSS and an inline SVG chart."""
    # The chart is trusted as markup: matplotlib draws its only text from the record
    # (drill name, run id) as glyph paths and escapes it in comments, and the chart
    # escapes its aria-label. Everything else passes through autoescape.
    chart = Markup(render_condition_chart(record)) if has_observations(record) else None
    return _render("report.html.j2", record, chart=chart)


def _render(template_name: str, record: RunRecord, *, chart: Markup | None) -> str:
    document = render_report_document(record)
    environment = page_environment() if template_name.endswith(".html.j2") else _md_environment()
    template = environment.get_template(template_name)
    origin = find_time_origin(record)
    return template.render(
        report=document,
        objective_rows=_render_objective_rows(document),
        timeline_rows=[
            _render_timeline_span(span, origin.monotonic)
            for span in group_repeated_observations(_ordered(record))
        ],
        offset_label="since fault" if origin.is_fault else "since start",
        chart=chart,
        observed=has_observations(record),
        seconds=_render_seconds,
        promise=describe_promise(record.promise) if record.promise else None,
    )


@functools.cache
def _md_environment() -> jinja2.Environment:
    environment = template_environment("drillkit.reporting", autoescape=False)
    environment.filters["md"] = _escape_markdown
    return environment


def _escape_markdown(value: object) -> str:
    return "" if value is None else str(value).translate(_MARKDOWN_ESCAPES)


def _render_objective_rows(document: ReportDocument) -> list[ObjectiveRow]:
    measurements = document.measurements
    return [
        _render_objective_row("RTO (service)", measurements.rto, document.objectives.rto),
        _render_objective_row("RPO (data loss)", measurements.rpo, document.objectives.rpo),
        _render_objective_row("Time to full capacity", measurements.time_to_full_capacity, None),
    ]


def _render_objective_row(
    name: str, measurement: MeasurementDocument, objective: ObjectiveDocument | None
) -> ObjectiveRow:
    seconds = measurement.seconds
    measured = format_measured(seconds, measurement.bound)

    if measurement.resolution_seconds is None or seconds is None:
        resolution = _NOT_APPLICABLE
    elif measurement.resolution_seconds == 0:
        resolution = "event receipt (watch)"
    else:
        # Not "±": observations see a change late, never early, so the true value lies
        # up to one resolution below the measured one.
        resolution = _render_seconds(measurement.resolution_seconds)

    if objective is None:
        met, met_class = "no objective", "none"
    elif measurement.met is True:
        met, met_class = "yes", "yes"
    elif measurement.met is False:
        met, met_class = "no", "no"
    else:
        met, met_class = "cannot tell", "unknown"

    return ObjectiveRow(
        name=name,
        target=_render_objective(objective),
        measured=measured,
        resolution=resolution,
        bound=_render_bound(measurement.bound),
        met=met,
        met_class=met_class,
        note=measurement.note,
    )


def _render_objective(objective: ObjectiveDocument | None) -> str:
    if objective is None:
        return _NOT_APPLICABLE
    # "60 s (1m)": seconds compare with the measured column, and the drill's own spelling
    # helps find the line in the drill file; "30 s (30s)" would help nobody.
    seconds = format_seconds(objective.seconds)
    spelled = f" ({objective.text})" if objective.text != f"{seconds}s" else ""
    return f"{seconds} s{spelled}"


def _render_bound(bound: Bound | None) -> str:
    if bound is Bound.EXACT:
        return "exact"
    if bound is Bound.LOWER:
        return "lower bound"
    return _NOT_APPLICABLE


def _render_seconds(seconds: float | None) -> str:
    return _NOT_APPLICABLE if seconds is None else f"{format_seconds(seconds)} s"


def _ordered(record: RunRecord) -> list[TimelineEvent]:
    # sorted() is stable: events recorded at the same instant keep the order they happened.
    return sorted(record.timeline, key=lambda event: event.at.monotonic)


def group_repeated_observations(
    events: Sequence[TimelineEvent],
) -> list[list[TimelineEvent]]:
    """``events`` (in time order) as the rows of the timeline table: consecutive
    observations of one thing that saw the same value grouped, every other event alone.

    Observations of different things interleave (the condition is polled while replicas
    change), so each thing keeps its own open group; any event that is not a repeatable
    observation closes them all, so that no span straddles the fault, an activity or a
    rollback.
    """
    groups: list[list[TimelineEvent]] = []
    open_groups: dict[Hashable, tuple[Hashable, list[TimelineEvent]]] = {}
    for event in events:
        repeat = _repeat_key(event)
        if repeat is None:
            open_groups.clear()
            groups.append([event])
            continue
        series, value = repeat
        current = open_groups.get(series)
        if current is not None and current[0] == value:
            current[1].append(event)
            continue
        group = [event]
        groups.append(group)
        open_groups[series] = (value, group)
    return groups


def _repeat_key(event: TimelineEvent) -> tuple[Hashable, Hashable] | None:
    # What is observed (the series) and what was seen (the value); None for an event
    # that matters on its own. A gap in contact belongs to its condition's series, so
    # it ends a span of that condition's observations.
    match event:
        case ConditionObserved(holds=holds, source=source, detail=detail):
            return ("condition", source), (holds, detail)
        case ConditionUnobserved(source=source, detail=detail):
            return ("condition", source), (None, detail)
        case CapacityObserved(workload=workload, ready=ready, desired=desired):
            return ("capacity", workload), (ready, desired)
        case MarkerWritten():
            # Each marker has its own sequence, but writing them is routine: the markers
            # read back after recovery are what the RPO rests on.
            return ("markers",), None
        case _:
            return None


def _render_timeline_span(span: Sequence[TimelineEvent], origin: float) -> TimelineRow:
    first, last = span[0], span[-1]
    row = _render_timeline_row(first, origin)
    if len(span) == 1:
        return row
    if isinstance(first, MarkerWritten) and isinstance(last, MarkerWritten):
        what, counted = f"sequences {first.sequence} to {last.sequence}", "markers"
    else:
        what, counted = row.detail, "observations"
    return dataclasses.replace(
        row,
        detail=f"{what} from {row.offset} s to {_render_offset(last, origin)} s, "
        f"{len(span)} {counted}",
    )


def _render_timeline_row(event: TimelineEvent, origin: float) -> TimelineRow:
    name, detail = _describe_event(event)
    return TimelineRow(
        utc=format_utc(event.at.utc),
        offset=_render_offset(event, origin),
        event=name,
        detail=detail,
    )


def _render_offset(event: TimelineEvent, origin: float) -> str:
    offset = event.at.monotonic - origin
    sign = "-" if offset < 0 else "+"
    return f"{sign}{format_seconds(abs(round(offset, 3)))}"


def _describe_event(event: TimelineEvent) -> tuple[str, str]:
    """An event in words: what happened, and the particulars."""
    match event:
        case RunStarted(run_id=run_id, drill=drill):
            return "run started", f"run {run_id} of drill {drill}"
        case SteadyStateVerified(holds=holds):
            return "steady state verified", "holds" if holds else "deviated"
        case FaultInjected(activity=activity, detail=detail):
            return "fault injected", _join(activity, detail)
        case ConditionObserved(holds=holds, source=source, detail=detail):
            state = "holds" if holds else "lost"
            return "condition observed", _join(f"{state} ({source})", detail)
        case ConditionUnobserved(source=source, detail=detail):
            return "condition not observed", _join(source, detail)
        case CapacityObserved(workload=workload, ready=ready, desired=desired):
            return "replicas observed", f"{workload}: {ready} of {desired} ready"
        case MarkerWritten(sequence=sequence):
            return "marker written", f"sequence {sequence}"
        case MarkersRead(newest_sequence=newest, backup_age_seconds=backup_age):
            found = f"newest surviving sequence {newest}" if newest is not None else "none survived"
            age = f"backup {format_seconds(backup_age)} s old" if backup_age is not None else ""
            return "markers read", _join(found, age)
        case ProcedureStepRun(
            phase=phase, name=name, command=command, member=member, seconds=seconds
        ):
            where = f" [{member}]" if member else ""
            return f"{phase} step", f"{name}{where}: {format_seconds(seconds)} s, `{command}`"
        case ActivityStarted(name=name, activity_type=activity_type):
            return f"{activity_type} started", name
        case ActivityCompleted(name=name, activity_type=activity_type, status=status, error=error):
            return f"{activity_type} completed", _join(f"{name}: {status}", error or "")
        case RollbackStarted():
            return "rollback started", ""
        case RollbackCompleted(status=status):
            return "rollback completed", status
        case GuardTripped(name=name, detail=detail):
            return "guard tripped", _join(name, detail)
        case LockLost(reason=reason):
            return "cluster lock lost", reason
        case RunInterrupted(signal=signal):
            return "run interrupted", signal
        case RunFinished(status=status):
            return "run finished", status.value


def _join(first: str, second: str) -> str:
    return f"{first}: {second}" if first and second else first or second

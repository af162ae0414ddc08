"""Trends across runs: RTO and RPO over time, pass rate and MTTR per drill.

One report answers "did this drill meet its objectives today?"; a trend answers "is
recovery getting slower?" and "how often do we meet what we promised?". This module
reads the ``report.json`` of every run, groups runs by drill and computes, per drill:

- **pass rate**: runs whose verdict is ``met`` over all runs, including runs that missed,
  were aborted, errored or were killed before writing a report (a run that did not pass
  is not left out of the denominator);
- **MTTR** (mean time to recovery): the mean RTO over runs in which the service was
  disrupted and recovered, measured exactly. Runs that were never disrupted (RTO 0)
  would flatter it and runs that never recovered (RTO only a lower bound) cannot be
  averaged, so both are left out and counted beside it;
- the series of RTO and RPO values with their objectives, drawn as an inline SVG chart
  (matplotlib, imported inside the function as in :mod:`drillkit.reporting.chart`).

Runs that ended in error measured nothing trustworthy: they count against the pass
rate, and are counted apart, never as runs that "saw no disruption".

The chart is read at a glance, so its value axis is scaled to the runs, not to the
objective: RTOs of a few seconds drawn against an objective of 15 minutes would all sit
on the x axis. A linear axis keeps zero (a run that saw no disruption) and keeps the
distances between runs honest, which a log axis would not; when the objective is far
above the runs (:func:`scale_value_axis`), it is drawn as a labelled line at the top
edge saying it lies above the scale. A single run's date axis spans two days around
it (:func:`date_window`), not the years matplotlib picks for an empty range.

:func:`measure_trend` is pure; :func:`load_trend_points` reads the reports.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from drillkit.errors import InvalidInput
from drillkit.model.measurement import RunStatus, format_measured, format_seconds
from drillkit.model.timeline import format_utc, parse_utc
from drillkit.reporting.document import ReportDocument, ReportSummary
from drillkit.reporting.figures import add_legend, render_svg_element, reproducible_drawing
from drillkit.reporting.templating import page_environment

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_HASH_SALT: Final = "drillkit-trend"
_VERDICT_COLOURS: Final = {
    "met": "#1a7f37",
    "missed": "#cf222e",
    "inconclusive": "#9a6700",
    "aborted": "#bc4c00",
    "error": "#6e1111",
    "interrupted": "#6e7781",
}
_RTO_COLOUR: Final = "#1f4e9c"
_RPO_COLOUR: Final = "#8250df"
OBJECTIVE_COLOUR: Final = "#e8590c"
"""The objective's line: a colour no run, verdict or page text uses."""
_OFF_SCALE_FACTOR: Final = 4.0
"""An objective this many times above the slowest run would flatten the runs: off scale."""
_HEADROOM: Final = 1.15
_SINGLE_RUN_PADDING_DAYS: Final = 1.0
_NOT_APPLICABLE: Final = "—"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ERROR: Final = "error"


@dataclass(frozen=True, kw_only=True, slots=True)
class TrendPoint:
    """One run of a drill, as a trend needs it."""

    run_id: str
    started_utc: datetime
    verdict: str
    """The verdict, or ``interrupted`` for a run killed before it wrote its report."""
    rto_seconds: float | None = None
    rto_bound: str | None = None
    rto_objective: float | None = None
    rpo_seconds: float | None = None
    rpo_bound: str | None = None
    rpo_objective: float | None = None
    disruption_observed: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DrillTrend:
    """A drill's runs, oldest first, and what they add up to."""

    drill: str
    points: tuple[TrendPoint, ...]
    runs: int
    met: int
    pass_rate: float | None
    """``met / runs`` between 0 and 1; None without runs."""
    mttr_seconds: float | None
    """Mean RTO over ``recovered_runs``; None when no run recovered from a disruption."""
    recovered_runs: int
    undisrupted_runs: int
    """Runs measured without a disruption (RTO 0); runs that ended in error are not."""
    unrecovered_runs: int
    """Runs whose RTO is only a lower bound: not recovered before the timeout."""
    error_runs: int
    """Runs that ended in error: nothing they measured is counted as seen."""
    worst_rto_seconds: float | None
    rto_objective: float | None
    """The objective of the newest run that declares one."""
    rpo_objective: float | None


def measure_trend(drill: str, points: Iterable[TrendPoint]) -> DrillTrend:
    """Pass rate, MTTR and the series of one drill's runs (pure)."""
    ordered = tuple(sorted(points, key=lambda point: (point.started_utc, point.run_id)))
    met = sum(1 for point in ordered if point.verdict == "met")
    recovered = [
        point.rto_seconds
        for point in ordered
        if point.rto_seconds is not None
        and point.rto_bound == "exact"
        and point.disruption_observed is True
    ]
    measured_rto = [point.rto_seconds for point in ordered if point.rto_seconds is not None]
    return DrillTrend(
        drill=drill,
        points=ordered,
        runs=len(ordered),
        met=met,
        pass_rate=met / len(ordered) if ordered else None,
        mttr_seconds=statistics.fmean(recovered) if recovered else None,
        recovered_runs=len(recovered),
        undisrupted_runs=sum(
            1 for point in ordered if point.disruption_observed is False and point.verdict != _ERROR
        ),
        unrecovered_runs=sum(1 for point in ordered if point.rto_bound == "lower"),
        error_runs=sum(1 for point in ordered if point.verdict == _ERROR),
        worst_rto_seconds=max(measured_rto) if measured_rto else None,
        rto_objective=_latest(point.rto_objective for point in ordered),
        rpo_objective=_latest(point.rpo_objective for point in ordered),
    )


def load_trend_points(
    summaries: Iterable[ReportSummary],
    read_document: Callable[[ReportSummary], ReportDocument],
    drill: str | None = None,
    *,
    since: datetime | None = None,
    where: str,
) -> dict[str, list[TrendPoint]]:
    """The listed runs (of ``drill``, started since ``since``), by drill; each readable
    report is read with ``read_document``, wherever the runs are (``where``, for messages).

    Killed runs (a start note, no report) count as ``interrupted``; a report that cannot
    be read is skipped, as ``drill report list`` shows it.
    """
    by_drill: dict[str, list[TrendPoint]] = {}
    for summary in summaries:
        if summary.running or summary.started_utc is None:
            continue
        if since is not None and summary.started_utc < since:
            continue
        if summary.status is RunStatus.INTERRUPTED and summary.verdict is None:
            point = TrendPoint(
                run_id=summary.run_id, started_utc=summary.started_utc, verdict="interrupted"
            )
        elif summary.problem is None:
            point = _read_point(read_document(summary))
        else:
            continue
        by_drill.setdefault(summary.drill, []).append(point)
    if drill is not None and not by_drill:
        raise InvalidInput(f"no runs of drill {drill!r} in {where}")
    return by_drill


def measure_trends(points: dict[str, list[TrendPoint]]) -> list[DrillTrend]:
    """One trend per drill, by drill name."""
    return [measure_trend(drill, points[drill]) for drill in sorted(points)]


def render_trend_html(trends: Sequence[DrillTrend], *, generated: datetime) -> str:
    """A self-contained page: a summary table, then per drill a chart and its runs."""
    template = page_environment().get_template("trend.html.j2")
    return template.render(
        trends=trends,
        charts={trend.drill: Markup(render_trend_chart(trend)) for trend in trends},
        generated=format_utc(generated),
        seconds=_seconds,
        percent=_percent,
        measured=format_measured,
    )


def render_trend_chart(trend: DrillTrend) -> str:
    """RTO (and RPO, when any run measured it) of one drill over time, as ``<svg>``."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    has_rpo = any(point.rpo_seconds is not None for point in trend.points)
    window = date_window([point.started_utc for point in trend.points])
    with reproducible_drawing(_HASH_SALT):
        figure = Figure(figsize=(9.0, 5.4 if has_rpo else 3.2), layout="constrained")
        panels: list[Axes] = (
            list(figure.subplots(2, 1, sharex=True)) if has_rpo else [figure.subplots(1, 1)]
        )
        figure.suptitle(f"{trend.drill}: measured RTO{' and RPO' if has_rpo else ''} per run")
        series = [("RTO", _RTO_COLOUR, "rto")]
        if has_rpo:
            series.append(("RPO", _RPO_COLOUR, "rpo"))
        for axes, (name, colour, key) in zip(panels, series, strict=True):
            _draw_series(axes, trend.points, name, colour, key, window)
        panels[-1].set_xlim(*window)
        # matplotlib's date locator and formatter are untyped; they only label the x axis.
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        panels[-1].xaxis.set_major_locator(locator)
        formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        panels[-1].xaxis.set_major_formatter(formatter)
        return render_svg_element(figure, f"Chart: RTO and RPO of {trend.drill} per run over time")


def date_window(moments: Sequence[datetime]) -> tuple[float, float]:
    """The date axis (matplotlib date numbers) that shows every run of ``moments``.

    Runs at a single moment get a day either side: left to itself, matplotlib spreads
    an empty range over years.
    """
    if not moments:
        now = _date_number(_EPOCH)
        return now - _SINGLE_RUN_PADDING_DAYS, now + _SINGLE_RUN_PADDING_DAYS
    first, last = _date_number(min(moments)), _date_number(max(moments))
    if last - first < 1 / 24:
        middle = (first + last) / 2
        return middle - _SINGLE_RUN_PADDING_DAYS, middle + _SINGLE_RUN_PADDING_DAYS
    # A margin so that the first and the last run are not drawn on the frame.
    margin = (last - first) * 0.05
    return first - margin, last + margin


def scale_value_axis(
    highest_value: float | None, highest_objective: float | None
) -> tuple[float, bool]:
    """The top of a panel's value axis, and whether the objective is drawn on that scale.

    The axis is scaled to the runs; the objective joins the scale when it is within
    :data:`_OFF_SCALE_FACTOR` of the slowest run, else it is off scale (drawn at the top
    edge). A panel without runs is scaled to its objective.
    """
    if highest_value is None:
        return (highest_objective or 1.0) * _HEADROOM, highest_objective is not None
    # Runs that all saw no disruption (0 s) still need an axis to stand on.
    runs_top = highest_value if highest_value > 0 else 1.0
    if highest_objective is None:
        return runs_top * _HEADROOM, False
    if highest_objective <= _OFF_SCALE_FACTOR * runs_top:
        return max(runs_top, highest_objective) * _HEADROOM, True
    # Room above the slowest run for the off-scale objective's line and label.
    return runs_top * 1.35, False


def _draw_series(
    axes: Axes,
    points: Sequence[TrendPoint],
    name: str,
    colour: str,
    key: str,
    window: tuple[float, float],
) -> None:
    values = [
        (
            _date_number(point.started_utc),
            getattr(point, f"{key}_seconds"),
            getattr(point, f"{key}_bound"),
        )
        for point in points
        if getattr(point, f"{key}_seconds") is not None
    ]
    objectives = [
        (_date_number(point.started_utc), getattr(point, f"{key}_objective"))
        for point in points
        if getattr(point, f"{key}_objective") is not None
    ]
    top, objective_on_scale = scale_value_axis(
        max((seconds for _, seconds, _ in values), default=None),
        max((seconds for _, seconds in objectives), default=None),
    )
    # The axes' background carries an id, so tests and readers can find the plot area.
    axes.patch.set_gid(f"{key}-plot-area")
    if values:
        axes.plot(
            [moment for moment, _, _ in values],
            [seconds for _, seconds, _ in values],
            # A pale line between runs, each run a solid dot: every run stands out.
            color=_tint(colour, 0.45),
            linewidth=1.2,
            marker="o",
            markersize=6,
            markerfacecolor=colour,
            markeredgecolor=colour,
            label=f"{name} measured",
            gid=f"{key}-series",
        )
        bounds = [(moment, seconds) for moment, seconds, bound in values if bound == "lower"]
        if bounds:
            axes.scatter(
                [moment for moment, _ in bounds],
                [seconds for _, seconds in bounds],
                marker="^",
                s=60,
                color=_VERDICT_COLOURS["missed"],
                zorder=3,
                label="not recovered (at least)",
            )
    else:
        axes.text(0.5, 0.5, f"no {name} measured", transform=axes.transAxes, ha="center")
    if objectives:
        _draw_objective(
            axes, objectives, name, points, window=window, top=top, on_scale=objective_on_scale
        )
    axes.set_ylabel(f"{name} (seconds)")
    # Below zero by a margin: a run that saw no disruption is a dot above the x axis, not
    # half hidden behind it.
    axes.set_ylim(-0.05 * top, top)
    axes.grid(color="#dddddd", linewidth=0.6)
    add_legend(axes)


def _draw_objective(
    axes: Axes,
    objectives: list[tuple[float, float]],
    name: str,
    points: Sequence[TrendPoint],
    *,
    window: tuple[float, float],
    top: float,
    on_scale: bool,
) -> None:
    if on_scale:
        # From the left edge when the oldest run declares it, to the right edge: a single
        # run's objective is a line too, not a step of one point that draws nothing.
        if objectives[0][0] == _date_number(points[0].started_utc):
            objectives = [(window[0], objectives[0][1]), *objectives[1:]]
        line = [*objectives, (window[1], objectives[-1][1])]
        label = f"objective {format_seconds(objectives[-1][1])} s"
    else:
        # Pinned just under the top edge: where it would be, were the axis tall enough.
        line = [(window[0], top * 0.96), (window[1], top * 0.96)]
        lowest = min(seconds for _, seconds in objectives)
        highest = max(seconds for _, seconds in objectives)
        spelled = format_seconds(highest)
        if lowest != highest:
            spelled = f"{format_seconds(lowest)} to {spelled}"
        label = f"\u2191 objective {spelled} s, above this scale"
    axes.step(
        [moment for moment, _ in line],
        [seconds for _, seconds in line],
        where="post",
        color=OBJECTIVE_COLOUR,
        linestyle=(0, (6, 3)),
        linewidth=1.8,
        label=f"{name} objective",
        gid=f"{name.lower()}-objective",
    )
    # Named on the chart itself, at the right end: above the line, or below it at the edge.
    axes.annotate(
        label,
        xy=(1.0, line[-1][1]),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3 if on_scale else -3),
        textcoords="offset points",
        ha="right",
        va="bottom" if on_scale else "top",
        color=OBJECTIVE_COLOUR,
    )


def _tint(colour: str, strength: float) -> str:
    # ``colour`` mixed with white: ``strength`` 1 is the colour itself, 0 is white.
    channels = [int(colour[index : index + 2], 16) for index in (1, 3, 5)]
    mixed = [round(255 - (255 - channel) * strength) for channel in channels]
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def _date_number(moment: datetime) -> float:
    # matplotlib's date axis counts days since its epoch (1970-01-01 UTC by default).
    return (moment - _EPOCH).total_seconds() / 86400


def _read_point(document: ReportDocument) -> TrendPoint:
    rto = document.measurements.rto
    rpo = document.measurements.rpo
    return TrendPoint(
        run_id=document.run_id,
        started_utc=parse_utc(document.started_utc),
        verdict=document.verdict.value,
        rto_seconds=rto.seconds,
        rto_bound=rto.bound.value if rto.bound is not None else None,
        rto_objective=rto.objective_seconds,
        rpo_seconds=rpo.seconds,
        rpo_bound=rpo.bound.value if rpo.bound is not None else None,
        rpo_objective=rpo.objective_seconds,
        disruption_observed=document.recovery.disruption_observed,
    )


def _latest(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return known[-1] if known else None


def _seconds(value: float | None) -> str:
    return _NOT_APPLICABLE if value is None else f"{format_seconds(value)} s"


def _percent(value: float | None) -> str:
    return _NOT_APPLICABLE if value is None else f"{100 * value:.0f} %"

"""The chart of a report: the recovery condition over time, as an inline SVG.

A reader of ``report.html`` should see at a glance when the fault hit, how long the
service was down and when it came back; the numbers in the tables say the same thing
precisely. The top panel steps between "holds" and "lost" as the observer saw the
recovery condition, with the lost periods shaded and vertical markers for the fault,
the measured loss and restore, and the rollback. A second panel shows ready replicas
per targeted workload when the run sampled them.

The x axis is seconds relative to ``t_inject`` (the run start when the fault never
took effect), computed from monotonic readings only. The SVG is self-contained and
reproducible (:mod:`drillkit.reporting.figures`).

A run that observed nothing (:func:`has_observations`: a plain Chaos Toolkit experiment
touching no cluster) has nothing to chart; the report says so instead of drawing empty
axes.

matplotlib is imported inside the function: it is slow to import (a few tenths of a
second: ``drill --help`` must stay fast, and a run that charts nothing must not pay it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from drillkit.model.run import RunRecord
from drillkit.model.timeline import (
    CapacityObserved,
    ConditionObserved,
    FaultInjected,
    GuardTripped,
    RollbackStarted,
    RunInterrupted,
)
from drillkit.reporting.document import find_time_origin
from drillkit.reporting.figures import add_legend, render_svg_element, reproducible_drawing

_HASH_SALT: Final = "drillkit"
_CONDITION_COLOUR: Final = "#1f4e9c"
_LOST_COLOUR: Final = "#c62828"
_MARKER_STYLES: Final = {
    "fault injected": ("#c62828", "-"),
    "condition lost": ("#ef6c00", "--"),
    "restored": ("#2e7d32", "--"),
    "rollback": ("#616161", ":"),
    "guard tripped": ("#6a1b9a", "-."),
    "interrupted": ("#6a1b9a", "-."),
}
_WORKLOAD_COLOURS: Final = ("#1f4e9c", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457")


@dataclass(frozen=True, kw_only=True, slots=True)
class _ChartData:
    """What the chart draws, in seconds relative to the origin; built without matplotlib."""

    origin_label: str
    start: float
    end: float
    condition: Sequence[tuple[float, int]]
    lost_spans: Sequence[tuple[float, float]]
    markers: Sequence[tuple[str, float]]
    capacity: dict[str, list[tuple[float, int, int]]]


def has_observations(record: RunRecord) -> bool:
    """Whether ``record`` observed anything the chart draws: the condition or replicas."""
    return any(isinstance(event, ConditionObserved | CapacityObserved) for event in record.timeline)


def render_condition_chart(record: RunRecord) -> str:
    """The recovery condition of ``record`` over time as an ``<svg>`` element string."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    data = _collect_chart_data(record)
    with reproducible_drawing(_HASH_SALT):
        # A bare Figure, not pyplot: no global figure registry, no backend to select,
        # nothing left open when the function returns.
        has_capacity = bool(data.capacity)
        figure = Figure(figsize=(9.0, 5.6 if has_capacity else 3.4), layout="constrained")
        if has_capacity:
            condition_axes, capacity_axes = figure.subplots(
                2, 1, sharex=True, height_ratios=(1.0, 1.2)
            )
        else:
            condition_axes = figure.subplots(1, 1)
            capacity_axes = None

        figure.suptitle(f"Recovery condition of {record.drill}, run {record.run_id}")
        if data.condition:
            xs = [moment for moment, _ in data.condition] + [data.end]
            ys = [value for _, value in data.condition] + [data.condition[-1][1]]
            # The gid becomes the SVG group's id, so tests and readers can find the line.
            condition_axes.step(
                xs,
                ys,
                where="post",
                color=_CONDITION_COLOUR,
                linewidth=1.8,
                label="condition",
                gid="recovery-condition",
            )
        else:
            condition_axes.text(
                0.5, 0.5, "no observations", transform=condition_axes.transAxes, ha="center"
            )
        for index, (begin, finish) in enumerate(data.lost_spans):
            condition_axes.axvspan(
                begin,
                finish,
                color=_LOST_COLOUR,
                alpha=0.12,
                linewidth=0,
                label="lost" if index == 0 else None,
            )
        condition_axes.set_ylim(-0.15, 1.15)
        condition_axes.set_yticks([0, 1], labels=["lost", "holds"])
        condition_axes.set_xlim(data.start, data.end)
        condition_axes.grid(axis="x", color="#dddddd", linewidth=0.6)

        for axes in (condition_axes, capacity_axes):
            if axes is None:
                continue
            labelled: set[str] = set()
            for label, moment in data.markers:
                colour, style = _MARKER_STYLES[label]
                axes.axvline(
                    moment,
                    color=colour,
                    linestyle=style,
                    linewidth=1.2,
                    # Only the top panel's legend names the markers, and each name once.
                    label=label if axes is condition_axes and label not in labelled else None,
                )
                labelled.add(label)
        # A run that stopped before anything was observed has no legend; the panel's
        # "no observations" says it instead.
        add_legend(condition_axes)

        if capacity_axes is not None:
            for index, (workload, samples) in enumerate(sorted(data.capacity.items())):
                colour = _WORKLOAD_COLOURS[index % len(_WORKLOAD_COLOURS)]
                xs = [moment for moment, _, _ in samples] + [data.end]
                ready = [count for _, count, _ in samples] + [samples[-1][1]]
                desired = [count for _, _, count in samples] + [samples[-1][2]]
                capacity_axes.step(
                    xs,
                    ready,
                    where="post",
                    color=colour,
                    label=workload,
                    gid=f"ready-replicas-{index}",
                )
                capacity_axes.step(
                    xs, desired, where="post", color=colour, linestyle=":", linewidth=0.9
                )
            capacity_axes.set_ylabel("ready replicas\n(dotted: desired)")
            capacity_axes.set_ylim(bottom=0)
            capacity_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            capacity_axes.grid(axis="x", color="#dddddd", linewidth=0.6)
            add_legend(capacity_axes)
            capacity_axes.set_xlabel(f"seconds since {data.origin_label}")
        else:
            condition_axes.set_xlabel(f"seconds since {data.origin_label}")

        return render_svg_element(
            figure,
            f"Chart: recovery condition of {record.drill} over time, in seconds since "
            f"{data.origin_label}",
        )


def _collect_chart_data(record: RunRecord) -> _ChartData:
    timeline = sorted(record.timeline, key=lambda event: event.at.monotonic)
    recovery = record.outcome.recovery
    time_origin = find_time_origin(record)
    origin = time_origin.monotonic
    origin_label = "fault injected" if time_origin.is_fault else "run start"

    condition: list[tuple[float, int]] = []
    capacity: dict[str, list[tuple[float, int, int]]] = {}
    markers: list[tuple[str, float]] = []
    for event in timeline:
        moment = event.at.monotonic - origin
        match event:
            case ConditionObserved(holds=holds):
                condition.append((moment, 1 if holds else 0))
            case CapacityObserved(workload=workload, ready=ready, desired=desired):
                capacity.setdefault(workload, []).append((moment, ready, desired))
            case FaultInjected():
                markers.append(("fault injected", moment))
            case RollbackStarted():
                markers.append(("rollback", moment))
            case GuardTripped():
                markers.append(("guard tripped", moment))
            case RunInterrupted():
                markers.append(("interrupted", moment))
            case _:
                pass
    if recovery is not None and recovery.t_lost is not None:
        markers.append(("condition lost", recovery.t_lost - origin))
    if recovery is not None and recovery.t_restored is not None:
        markers.append(("restored", recovery.t_restored - origin))

    moments = [event.at.monotonic - origin for event in timeline] or [0.0]
    start, end = min(0.0, *moments), max(0.0, *moments)
    if end <= start:
        # A run with a single instant still needs a visible axis.
        end = start + 1.0
    return _ChartData(
        origin_label=origin_label,
        start=start,
        end=end,
        condition=condition,
        lost_spans=_find_lost_spans(condition, end),
        markers=sorted(markers, key=lambda marker: marker[1]),
        capacity=capacity,
    )


def _find_lost_spans(
    condition: Sequence[tuple[float, int]], end: float
) -> list[tuple[float, float]]:
    # As the observer saw it: lost from a false observation until the next true one.
    spans: list[tuple[float, float]] = []
    lost_since: float | None = None
    for moment, value in condition:
        if value == 0 and lost_since is None:
            lost_since = moment
        elif value == 1 and lost_since is not None:
            spans.append((lost_since, moment))
            lost_since = None
    if lost_since is not None:
        spans.append((lost_since, end))
    return spans

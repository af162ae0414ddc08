"""The readiness page: ``drill readiness --output-file readiness.html`` (or ``.pdf``).

``drill readiness`` answers "is this service DR-ready?" in a terminal; the page answers
it for a review or an audit file. Per service: its score and every deduction line, a row
per disruption it promises to survive (state, promise, last met run, points), and per
disruption a chart of the measured RTO (and RPO) of every run that proved it, over time,
against the objective the service promises now (the one readiness judges by).

The charts are the trend page's (:func:`drillkit.reporting.trend.render_trend_chart`):
each proving run is a trend point at the moment it ended, so scaling, the off-scale
objective and reproducible SVG come with them. The page renders through the reporting
package's one HTML environment and shares the trend page's style.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup

from drillkit.measuring.readiness import (
    PromiseReadiness,
    ProvingRun,
    ServiceReadiness,
    describe_objectives,
    format_points,
)
from drillkit.model.measurement import format_seconds
from drillkit.model.timeline import format_utc
from drillkit.reporting.templating import page_environment
from drillkit.reporting.trend import TrendPoint, measure_trend, render_trend_chart


def render_readiness_html(
    assessed: Sequence[ServiceReadiness], runs: Sequence[ProvingRun], *, generated: datetime
) -> str:
    """A self-contained page of each service's readiness; ``runs`` are the proving runs
    of the ledger (those of other services are ignored)."""
    proving = {
        (service.service, promise.disruption): _runs_of(service.service, promise.disruption, runs)
        for service in assessed
        for promise in service.promises
    }
    charts = {
        (service.service, promise.disruption): _chart(
            service.service, promise, proving[(service.service, promise.disruption)]
        )
        for service in assessed
        for promise in service.promises
    }
    return (
        page_environment()
        .get_template("readiness.html.j2")
        .render(
            services=assessed,
            charts=charts,
            runs=proving,
            generated=format_utc(generated),
            objectives=describe_objectives,
            points=format_points,
            seconds=_seconds,
        )
    )


def _chart(service: str, promise: PromiseReadiness, runs: Sequence[ProvingRun]) -> Markup | None:
    # The runs are trend points at the moment they ended, judged against the objective
    # the service promises now, as readiness judges them.
    if not runs:
        return None
    rto = promise.promise.rto
    rpo = promise.promise.rpo
    trend = measure_trend(
        f"{service} {promise.disruption}",
        [
            TrendPoint(
                run_id=run.run,
                started_utc=run.ended,
                verdict=run.verdict.value,
                rto_seconds=run.rto_seconds,
                rto_objective=rto.total_seconds() if rto is not None else None,
                rpo_seconds=run.rpo_seconds,
                rpo_objective=rpo.total_seconds() if rpo is not None else None,
            )
            for run in runs
        ],
    )
    # matplotlib draws the chart's only text (service, disruption) as glyph paths.
    return Markup(render_trend_chart(trend))


def _runs_of(service: str, disruption: str, runs: Sequence[ProvingRun]) -> list[ProvingRun]:
    return sorted(
        (run for run in runs if (run.service, run.disruption) == (service, disruption)),
        key=lambda run: run.ended,
    )


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{format_seconds(value)} s"

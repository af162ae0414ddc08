"""Charts as a person sees them: headless Chromium takes a screenshot, and what must be
read at a glance must be visibly drawn (its colour covers a good number of pixels, each
run is a dot of its own inside the plot area)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from drillkit.reporting.human import render_html
from drillkit.reporting.trend import TrendPoint, measure_trend, render_trend_chart
from tests.reporting.conftest import make_record
from tests.reporting.pictures import (
    colour_mask,
    count_blobs,
    pixels_of,
    screenshot,
    svg_markers,
    svg_rectangle,
)

CONDITION_COLOUR = np.array([0x1F, 0x4E, 0x9C]) / 255
RTO_COLOUR = CONDITION_COLOUR
OBJECTIVE_COLOUR = np.array([0xE8, 0x59, 0x0C]) / 255
# An SVG sized in points drawn at one device pixel per CSS pixel: 96 / 72 pixels a point.
PIXELS_PER_POINT = 96 / 72
DAY = datetime(2025, 3, 1, 9, tzinfo=UTC)


def test_the_chart_is_drawn_in_the_rendered_report(tmp_path: Path) -> None:
    html = render_html(make_record("met"))
    with_chart = tmp_path / "with-chart.html"
    with_chart.write_text(html, encoding="utf-8")
    without_chart = tmp_path / "without-chart.html"
    without_chart.write_text(re.sub(r"<svg.*?</svg>", "", html, flags=re.S), encoding="utf-8")

    drawn = pixels_of(screenshot(with_chart, tmp_path / "a.png", tmp_path / "p1"), CONDITION_COLOUR)
    bare = pixels_of(
        screenshot(without_chart, tmp_path / "b.png", tmp_path / "p2"), CONDITION_COLOUR
    )

    assert drawn > 500, f"only {drawn} pixels of the recovery-condition line are visible"
    assert bare < 50, "the colour counted must come from the chart"


def fast_service(rtos: tuple[float, ...], objectives: tuple[float, ...]) -> list[TrendPoint]:
    """Runs a day apart that recovered in seconds, against objectives of minutes."""
    return [
        TrendPoint(
            run_id=f"run-{day}",
            started_utc=DAY + timedelta(days=day),
            verdict="met",
            rto_seconds=rto,
            rto_bound="exact",
            rto_objective=objective,
            disruption_observed=True,
        )
        for day, (rto, objective) in enumerate(zip(rtos, objectives, strict=True))
    ]


@pytest.mark.parametrize(
    ("rtos", "objectives"),
    [
        pytest.param((0.4,), (300.0,), id="a single run"),
        pytest.param(
            (0.1, 0.4, 1.2, 5.0, 2.0), (300.0, 300.0, 900.0, 900.0, 900.0), id="five runs"
        ),
        pytest.param((12.0, 20.0, 9.0), (30.0, 30.0, 30.0), id="an objective on the scale"),
    ],
)
def test_the_trend_chart_shows_the_objective_and_every_run_inside_the_plot(
    tmp_path: Path, rtos: tuple[float, ...], objectives: tuple[float, ...]
) -> None:
    svg = render_trend_chart(measure_trend("checkout", fast_service(rtos, objectives)))
    page = tmp_path / "chart.html"
    page.write_text(f'<!DOCTYPE html><html><body style="margin:0">{svg}</body></html>')

    picture = screenshot(page, tmp_path / "chart.png", tmp_path / "profile", size="1000,400")

    area = svg_rectangle(svg, "rto-plot-area")
    dots = svg_markers(svg, "rto-series")
    assert len(dots) == len(rtos)
    for x, y in dots:
        # Inside the plot, and clear of its bottom edge (the x axis) by 3 % of its height.
        assert area.contains(x, y), f"a run is drawn outside the plot area: {(x, y)}, {area}"
        assert y < area.bottom - 0.03 * (area.bottom - area.top), "a run sits on the x axis"
    # In the picture, within the plot area: one dot per run, and the objective's line.
    top, bottom = (round(edge * PIXELS_PER_POINT) for edge in (area.top, area.bottom))
    left, right = (round(edge * PIXELS_PER_POINT) for edge in (area.left, area.right))
    plot = picture[top:bottom, left:right]
    assert count_blobs(colour_mask(plot, RTO_COLOUR)) == len(rtos)
    drawn = pixels_of(plot, OBJECTIVE_COLOUR)
    assert drawn > 200, f"only {drawn} pixels of the objective's line are visible"

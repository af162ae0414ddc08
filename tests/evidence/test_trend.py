"""Trends: pass rate and MTTR per drill (pure, table-driven), and the page with its charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.evidence.sources import LocalEvidence, trend_points_of
from drillkit.reporting.trend import (
    TrendPoint,
    date_window,
    measure_trend,
    measure_trends,
    render_trend_html,
    scale_value_axis,
)
from tests.cli_schemas import assert_matches_schema
from tests.evidence.conftest import record_runs

DAY = datetime(2025, 3, 1, tzinfo=UTC)


def point(day: int, verdict: str, rto: float | None = None, **fields: object) -> TrendPoint:
    return TrendPoint(
        run_id=f"run-{day}",
        started_utc=DAY + timedelta(days=day),
        verdict=verdict,
        rto_seconds=rto,
        rto_bound=fields.pop("bound", "exact" if rto is not None else None),  # type: ignore[arg-type]
        disruption_observed=fields.pop("disrupted", None if rto is None else rto > 0),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("points", "pass_rate", "mttr", "recovered", "undisrupted", "unrecovered"),
    [
        ([], None, None, 0, 0, 0),
        ([point(0, "met", 20), point(1, "met", 40)], 1.0, 30.0, 2, 0, 0),
        # A run with no disruption (RTO 0) would flatter the mean; it is counted apart.
        ([point(0, "met", 20), point(1, "met", 0.0)], 1.0, 20.0, 1, 1, 0),
        # Not recovered by the timeout: only a lower bound, never averaged.
        ([point(0, "met", 20), point(1, "missed", 600, bound="lower")], 0.5, 20.0, 1, 0, 1),
        # Killed and errored runs are runs that did not pass.
        ([point(0, "met", 10), point(1, "interrupted"), point(2, "error")], 1 / 3, 10.0, 1, 0, 0),
        # A run that ended in error saw nothing: it is no run without a disruption.
        ([point(0, "met", 10), point(1, "error", disrupted=False)], 0.5, 10.0, 1, 0, 0),
        ([point(0, "met", 0.0), point(1, "error", 0.0)], 0.5, None, 0, 1, 0),
        ([point(0, "missed", 90)], 0.0, 90.0, 1, 0, 0),
    ],
)
def test_pass_rate_and_mttr(
    points: list[TrendPoint],
    pass_rate: float | None,
    mttr: float | None,
    recovered: int,
    undisrupted: int,
    unrecovered: int,
) -> None:
    trend = measure_trend("d", points)

    assert trend.pass_rate == (pytest.approx(pass_rate) if pass_rate is not None else None)
    assert trend.mttr_seconds == mttr
    assert (trend.recovered_runs, trend.undisrupted_runs, trend.unrecovered_runs) == (
        recovered,
        undisrupted,
        unrecovered,
    )
    assert trend.runs == len(points)


def test_runs_that_ended_in_error_are_counted_apart_not_as_undisrupted() -> None:
    trend = measure_trend(
        "d",
        [point(0, "met", 20), point(1, "error", disrupted=False), point(2, "met", 0.0)],
    )

    page = render_trend_html([trend], generated=DAY)

    assert trend.error_runs == 1
    assert trend.undisrupted_runs == 1
    assert "; 1 saw no disruption; 1 ended in error, not measured." in page


@pytest.mark.parametrize(
    ("highest_value", "highest_objective", "top", "on_scale"),
    [
        # Seconds against minutes: scaled to the runs, the objective off the scale.
        (5.0, 900.0, 5.0 * 1.35, False),
        (0.4, 300.0, 0.4 * 1.35, False),
        # Within four times the slowest run, the objective shares the scale.
        (12.0, 30.0, 30.0 * 1.15, True),
        (40.0, 30.0, 40.0 * 1.15, True),
        # Runs that saw no disruption still stand on an axis of a second.
        (0.0, 300.0, 1.35, False),
        (0.0, 2.0, 2.0 * 1.15, True),
        (3.0, None, 3.0 * 1.15, False),
        # Nothing measured: the objective alone.
        (None, 300.0, 300.0 * 1.15, True),
        (None, None, 1.15, False),
    ],
)
def test_the_value_axis_is_scaled_to_the_runs(
    highest_value: float | None, highest_objective: float | None, top: float, on_scale: bool
) -> None:
    assert scale_value_axis(highest_value, highest_objective) == (pytest.approx(top), on_scale)


def test_a_single_run_is_drawn_in_a_window_of_two_days_and_several_with_a_margin() -> None:
    # matplotlib's date numbers: days since 1970-01-01.
    moment = (DAY - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400

    assert date_window([DAY]) == (pytest.approx(moment - 1), pytest.approx(moment + 1))
    assert date_window([DAY, DAY + timedelta(minutes=5)])[1] - date_window([DAY])[0] < 2.01
    first, last = date_window([DAY, DAY + timedelta(days=10)])
    assert (first, last) == (pytest.approx(moment - 0.5), pytest.approx(moment + 10.5))


def test_points_are_ordered_oldest_first_and_the_newest_objective_wins() -> None:
    trend = measure_trend(
        "d",
        [point(2, "met", 10, rto_objective=60.0), point(0, "met", 20, rto_objective=30.0)],
    )

    assert [p.run_id for p in trend.points] == ["run-0", "run-2"]
    assert trend.rto_objective == 60.0
    assert trend.worst_rto_seconds == 20


def test_points_are_read_from_the_reports_by_drill(tmp_path: Path) -> None:
    record_runs(tmp_path, 6)

    points = trend_points_of(LocalEvidence(tmp_path))
    trends = measure_trends(points)

    assert [t.drill for t in trends] == ["pod-kill", "zone-failure"]
    zone = trends[1]
    assert [p.verdict for p in zone.points] == ["met", "met", "met"]
    assert zone.points[1].rpo_seconds == 4.0
    assert zone.rto_objective == 30.0


def test_since_keeps_later_runs_and_an_unknown_drill_is_an_error(tmp_path: Path) -> None:
    from drillkit.errors import InvalidInput

    record_runs(tmp_path, 6)

    later = trend_points_of(LocalEvidence(tmp_path), "pod-kill", since=DAY + timedelta(days=2))

    assert sorted(p.run_id for p in later["pod-kill"]) == [
        "20250304-090000-000003",
        "20250306-090000-000005",
    ]
    with pytest.raises(InvalidInput, match="no runs of drill 'nope'"):
        trend_points_of(LocalEvidence(tmp_path), "nope")


def test_the_page_has_a_chart_per_drill_and_no_external_address(tmp_path: Path) -> None:
    record_runs(tmp_path, 6)
    trends = measure_trends(trend_points_of(LocalEvidence(tmp_path)))

    page = render_trend_html(trends, generated=DAY)

    assert page.count("<svg") == 2
    assert 'id="rto-series' in page
    assert 'id="rpo-series' in page
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org/", "")


def test_drill_report_trend_prints_a_table_and_writes_the_page(tmp_path: Path) -> None:
    record_runs(tmp_path, 8)
    page = tmp_path / "out" / "trend.html"

    result = CliRunner().invoke(
        cli, ["report", "trend", "--reports-dir", str(tmp_path), "--output-file", str(page)]
    )

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["DRILL", "RUNS", "PASS", "MTTR", "WORST", "RTO", "RTO", "OBJ"]
    # pod-kill's runs missed or were aborted; zone-failure's all met.
    assert lines[1].split()[:3] == ["pod-kill", "4", "0%"]
    assert lines[2].split()[:3] == ["zone-failure", "4", "100%"]
    assert page.read_text().count("<svg") == 2


def test_drill_report_trend_json_gives_one_object_per_drill(tmp_path: Path) -> None:
    record_runs(tmp_path, 4)

    result = CliRunner().invoke(
        cli,
        ["report", "trend", "zone-failure", "--reports-dir", str(tmp_path), "-o", "json"],
    )

    assert result.exit_code == 0, result.output
    (trend,) = assert_matches_schema("report-trend", result.output)
    assert (trend["drill"], trend["runs"], trend["pass_rate"]) == ("zone-failure", 2, 1.0)
    assert [p["rto_seconds"] for p in trend["points"]] == [20.0, 20.0]


def test_drill_report_trend_pdf_writes_the_pdf_beside_the_page(tmp_path: Path) -> None:
    record_runs(tmp_path, 2)
    page = tmp_path / "out" / "trend.html"

    result = CliRunner().invoke(
        cli,
        ["report", "trend", "--reports-dir", str(tmp_path), "--output-file", str(page), "--pdf"],
    )

    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"charts: {page}\npdf: {page.with_suffix('.pdf')}\n")
    assert page.with_suffix(".pdf").read_bytes().startswith(b"%PDF-")

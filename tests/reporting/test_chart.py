"""The condition chart: a well-formed inline SVG that draws the timeline it was given."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from drillkit.model.timeline import CapacityObserved, ConditionObserved
from drillkit.reporting.chart import has_observations, render_condition_chart
from drillkit.reporting.human import render_html, render_markdown
from tests.reporting.conftest import make_record, make_timeline

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[2]


def find_group(root: ElementTree.Element, group_id: str) -> ElementTree.Element | None:
    return next((group for group in root.iter(f"{SVG}g") if group.get("id") == group_id), None)


def step_line_path(svg: str) -> str:
    root = ElementTree.fromstring(svg)
    group = find_group(root, "recovery-condition")
    assert group is not None, "the chart has no recovery-condition line"
    path = group.find(f"{SVG}path")
    assert path is not None
    return path.get("d", "")


def test_the_chart_is_an_svg_element_that_parses_as_xml() -> None:
    svg = render_condition_chart(make_record("met"))

    root = ElementTree.fromstring(svg)

    assert root.tag == f"{SVG}svg"
    # Embedded in HTML, so no XML prolog and no DOCTYPE naming a DTD by its address.
    assert svg.startswith("<svg ")
    assert "<!DOCTYPE" not in svg


def test_the_chart_draws_the_recovery_condition_as_a_step_line() -> None:
    path = step_line_path(render_condition_chart(make_record("met")))

    # A step line: holds, lost at +2 s, holds again at +20 s, held to the end; each
    # change of state is a vertical segment, so the path has several line-to commands.
    assert path.startswith("M ")
    assert path.count("L ") >= 5


def test_the_chart_changes_when_the_timeline_changes() -> None:
    recovered_at_30 = step_line_path(render_condition_chart(make_record("met")))
    recovered_at_50 = step_line_path(render_condition_chart(make_record("missed")))

    assert recovered_at_30 != recovered_at_50


def test_the_same_run_renders_to_the_same_bytes() -> None:
    # No date, no random ids: a report rendered twice is byte-for-byte the same.
    assert render_condition_chart(make_record("met")) == render_condition_chart(make_record("met"))


def test_ready_replicas_get_a_panel_of_their_own_with_one_line_per_workload() -> None:
    root = ElementTree.fromstring(render_condition_chart(make_record("met")))

    assert find_group(root, "ready-replicas-0") is not None
    assert find_group(root, "ready-replicas-1") is not None
    assert find_group(root, "ready-replicas-2") is None


def test_a_run_without_replica_counts_has_no_replica_panel() -> None:
    timeline = [event for event in make_timeline("met") if not isinstance(event, CapacityObserved)]

    root = ElementTree.fromstring(render_condition_chart(make_record(timeline=timeline)))

    assert find_group(root, "recovery-condition") is not None
    assert find_group(root, "ready-replicas-0") is None


def test_without_a_fault_the_chart_counts_from_the_run_start() -> None:
    svg = render_condition_chart(make_record("never-injected"))

    root = ElementTree.fromstring(svg)
    assert "in seconds since run start" in root.get("aria-label", "")


def test_the_chart_refers_to_nothing_but_the_svg_namespaces() -> None:
    svg = render_condition_chart(make_record("interrupted"))

    assert set(re.findall(r"https?://[^\s\"'<]+", svg)) == {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    # Glyphs are drawn as paths, so no font has to be found or fetched.
    assert "font-family" not in svg and "@font-face" not in svg


def test_drill_names_are_drawn_as_text_not_parsed_as_math() -> None:
    # "$" would start matplotlib's mathtext, and an unbalanced "\frac" would raise.
    record = make_record(drill="cost-$\\frac{-drill", run_id="run-$1")

    root = ElementTree.fromstring(render_condition_chart(record))

    assert root.tag == f"{SVG}svg"


def test_a_run_with_no_observations_gets_no_chart_and_the_report_says_why() -> None:
    """A run that observed nothing (a plain Chaos Toolkit experiment touching no cluster)
    has nothing to chart. Its report used to carry empty axes saying "no observations";
    it now says in a line why there is no chart, and the run does not load matplotlib
    to draw nothing. Every run that observed anything keeps its chart."""
    unobserved = [
        event
        for event in make_timeline("met")
        if not isinstance(event, ConditionObserved | CapacityObserved)
    ]
    for timeline in ((), unobserved):
        record = dataclasses.replace(make_record("met"), timeline=tuple(timeline))

        page = render_html(record)

        assert not has_observations(record)
        assert "<svg" not in page
        assert "Nothing was observed, so there is no chart." in page
        assert "Nothing was observed, so there is no chart." in render_markdown(record)


def test_a_run_that_observed_only_replicas_keeps_its_chart() -> None:
    timeline = [e for e in make_timeline("met") if not isinstance(e, ConditionObserved)]
    record = make_record(timeline=timeline)

    page = render_html(record)

    assert has_observations(record)
    assert page.count("<svg") == 1
    assert "no chart" not in page
    assert "is in `report.html` beside this file" in render_markdown(record)


def test_a_report_that_charts_nothing_does_not_import_matplotlib(tmp_path: Path) -> None:
    script = (
        "import dataclasses, sys\n"
        "from pathlib import Path\n"
        "from drillkit.reporting.writer import write_run_report\n"
        "from tests.reporting.conftest import make_record\n"
        "record = make_record('met')\n"
        "record = dataclasses.replace(record, timeline=record.timeline[:1])\n"
        "write_run_report(record, Path(sys.argv[1]))\n"
        "print(sorted(m for m in ('matplotlib', 'numpy') if m in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert result.stdout.strip() == "[]"

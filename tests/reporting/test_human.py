"""report.md and report.html: summary first, the numbers with their resolution, safe to open."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from drillkit.model.measurement import RunStatus
from drillkit.model.run import RunRecord
from drillkit.model.timeline import ConditionObserved, MarkersRead
from drillkit.reporting.human import render_html, render_markdown
from tests.reporting.conftest import (
    DRILL_SHA,
    EXPERIMENT_SHA,
    SHOP_RESTORE,
    at,
    make_record,
    make_timeline,
)

HOSTILE = "<script>alert('pwned')</script> & <img src=x onerror=alert(1)> | *bold* [link](x)"
ALLOWED_ADDRESSES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


class _ReferenceCollector(HTMLParser):
    """Every attribute value and every style block of a page, where a fetch could hide."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self.tags: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def collect_references(page: str) -> _ReferenceCollector:
    collector = _ReferenceCollector()
    collector.feed(page)
    collector.close()
    return collector


def hostile_record() -> RunRecord:
    timeline = [
        *make_timeline("met"),
        ConditionObserved(at=at(44), holds=True, source="probe", detail=HOSTILE),
    ]
    return make_record(
        description=HOSTILE, timeline=sorted(timeline, key=lambda event: event.at.monotonic)
    )


def test_markdown_leads_with_the_verdict_then_objectives_findings_scope_and_timeline() -> None:
    markdown = render_markdown(make_record("met"))

    assert markdown.startswith("# Drill report: zone-failure\n\n**Verdict: MET** (completed)")
    order = [
        "## Objectives and actuals",
        "## Findings",
        "## Scope and accountability",
        "## Timeline",
    ]
    positions = [markdown.index(heading) for heading in order]
    assert positions == sorted(positions)


def test_markdown_gives_objective_measured_resolution_bound_and_met_per_measure() -> None:
    markdown = render_markdown(make_record("markers"))

    assert "| RTO (service) | 30 s | 20 s | event receipt (watch) | exact | yes |" in markdown
    assert "| RPO (data loss) | 5 s | 4 s | 2 s | exact | yes |" in markdown
    assert (
        "| Time to full capacity | — | 23 s | event receipt (watch) | exact | no objective |"
        in (markdown)
    )
    assert "2 of 5 written before the fault were lost" in markdown


def test_markers_never_read_back_are_reported_as_unknown_not_as_none_lost() -> None:
    unread = [e for e in make_timeline("markers") if not isinstance(e, MarkersRead)]
    record = make_record("markers", timeline=unread)

    markdown = render_markdown(record)
    assert "5 written before the fault, not read back: their loss is unknown" in markdown
    assert "were lost" not in markdown
    assert "not read back: their loss is unknown" in render_html(record)


def test_a_lower_bound_is_shown_as_at_least_and_cannot_show_the_objective_met() -> None:
    markdown = render_markdown(make_record("interrupted"))

    assert "**Verdict: ABORTED** (interrupted)" in markdown
    assert (
        "| RTO (service) | 30 s | ≥ 10 s | event receipt (watch) | lower bound | cannot tell |"
        in (markdown)
    )
    assert "interrupted by signal SIGINT" in markdown


def test_a_missed_objective_says_no_and_the_finding_gives_the_numbers() -> None:
    markdown = render_markdown(make_record("missed"))

    assert "| RTO (service) | 30 s | 40 s | event receipt (watch) | exact | no |" in markdown
    assert "- **failure**: RTO 40 s exceeded the 30 s objective" in markdown


def test_markdown_records_scope_and_accountability() -> None:
    markdown = render_markdown(make_record("met"))

    for expected in (
        "| Kube context | lab-shared |",
        "| Cluster | https://127.0.0.1:6443 |\n| Cluster touched: measured | "
        f"https://127.0.0.1:6443, CA sha256 {'ab' * 32}, "
        "kube-system UID 5f0c3b1e-0000-4000-8000-000000000001 |\n| Kubernetes version",
        "| Kubernetes version | v1.31.2 |",
        "| Nodes per zone | zone-a: 2, zone-b: 2, zone-c: 2 |",
        "| Workloads | shop/web, shop/db |",
        "| DR strategy | active-active |",
        "| Operator | alice@example.com |",
        "| Approver | bob@example.com |",
        "| Controls | SOC2-A1.3, ISO27001-A.5.30 |",
        "| Tool version | drillkit 0.1.0 |",
        f"(sha256 `{DRILL_SHA}`)",
        f"(sha256 `{EXPERIMENT_SHA}`)",
        "| Objectives | RTO 30s, RPO none, stable for 10s, timeout 1m |",
    ):
        assert expected in markdown


def test_markdown_of_a_restore_drill_tables_the_restored_objects_by_kind_with_totals() -> None:
    markdown = render_markdown(dataclasses.replace(make_record("met"), restore=SHOP_RESTORE))

    section = markdown[markdown.index("## Restored objects") :]
    section = section[: section.index("\n## ")]
    assert "Backup backup-20250301-085500-3c1d restored into region-b of " in section
    assert "(namespaces shop): 5 created, 1 replaced, 2 skipped." in section
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows == [
        "| Kind | Objects |",
        "|---|---:|",
        "| ConfigMap | 2 |",
        "| Deployment | 1 |",
        "| Namespace | 1 |",
        "| PersistentVolumeClaim | 1 |",
        "| Secret | 1 |",
        "| **Total restored** | **6** |",
    ]
    # After the answer (objectives, findings), before who ran it.
    order = ["## Findings", "## Restored objects", "## Scope and accountability"]
    positions = [markdown.index(heading) for heading in order]
    assert positions == sorted(positions)


def test_a_drill_that_restores_no_backup_has_no_restored_objects_section() -> None:
    assert "Restored objects" not in render_markdown(make_record("met"))
    assert "Restored objects" not in render_html(make_record("met"))


def test_the_timeline_gives_utc_and_seconds_since_the_fault() -> None:
    markdown = render_markdown(make_record("met"))

    assert "| UTC | s since fault | Event | Detail |" in markdown
    assert "| 2025-03-01T09:00:00.000Z | -10 | run started |" in markdown
    assert "| 2025-03-01T09:00:10.000Z | +0 | fault injected | drain-zone: first eviction" in (
        markdown
    )
    assert "| 2025-03-01T09:00:12.000Z | +2 | condition observed | lost (watch:shop/web) |" in (
        markdown
    )


def test_without_a_fault_the_timeline_counts_from_the_run_start() -> None:
    markdown = render_markdown(make_record("never-injected"))

    assert "**Verdict: INCONCLUSIVE**" in markdown
    assert "| UTC | s since start | Event | Detail |" in markdown
    assert "| 2025-03-01T09:00:00.000Z | +0 | run started |" in markdown


def test_hostile_text_cannot_inject_markup_into_the_markdown() -> None:
    markdown = render_markdown(hostile_record())

    assert "<script>" not in markdown
    assert "<img" not in markdown
    assert "&lt;script&gt;" in markdown
    # A pipe in a cell would split the timeline table.
    assert "\\| \\*bold\\* \\[link\\](x)" in markdown


def test_html_leads_with_the_verdict_in_its_colour() -> None:
    page = render_html(make_record("missed"))

    assert page.startswith("<!DOCTYPE html>")
    assert '<span class="verdict verdict-missed">missed</span>' in page
    order = ["Objectives and actuals", "Findings", "Scope and accountability", "<svg", "Timeline"]
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_html_gives_the_numbers_with_their_resolution_findings_and_scope() -> None:
    page = render_html(make_record("markers"))

    assert '<td class="number">20 s</td>' in page
    assert '<td class="number">4 s</td>' in page
    assert '<td class="number">2 s</td>' in page
    assert '<td class="met-yes">yes</td>' in page
    assert "RPO 4 s met the 5 s objective" in page
    assert "lab-shared" in page
    assert "zone-a: 2, zone-b: 2, zone-c: 2" in page
    assert "alice@example.com" in page
    assert f"sha256 {EXPERIMENT_SHA}" in page


def test_html_of_a_restore_drill_tables_the_restored_objects_by_kind_with_totals() -> None:
    page = render_html(dataclasses.replace(make_record("met"), restore=SHOP_RESTORE))

    section = page[page.index("<h2>Restored objects</h2>") :]
    section = section[: section.index("</section>")]
    assert "<code>backup-20250301-085500-3c1d</code> restored into region-b of " in section
    assert "5 created, 1 replaced, 2 skipped" in section
    cells = re.findall(r"<tr><td>([^<]+)</td><td class=\"number\">(\d+)</td></tr>", section)
    assert cells == [
        ("ConfigMap", "2"),
        ("Deployment", "1"),
        ("Namespace", "1"),
        ("PersistentVolumeClaim", "1"),
        ("Secret", "1"),
    ]
    assert '<th scope="row">Total restored</th><td class="number">6</td>' in section


def test_html_shows_why_a_run_could_not_proceed() -> None:
    record = dataclasses.replace(
        make_record("met"), status=RunStatus.ERROR, error="cluster unreachable"
    )

    page = render_html(record)

    assert '<div class="error-box"><strong>Error:</strong> cluster unreachable</div>' in page


def test_html_references_nothing_outside_itself() -> None:
    page = render_html(make_record("met"))
    references = collect_references(page)

    # Nothing that could make a browser fetch: no script, link, img, iframe, object.
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(references.tags)
    fetching = [
        (tag, name, value)
        for tag, name, value in references.attributes
        if re.search(r"https?:|//", value) and value not in ALLOWED_ADDRESSES
    ]
    assert fetching == []
    assert not any("url(" in style or "@import" in style for style in references.styles)
    # The only addresses in the text at all: the SVG namespaces, and the cluster's API
    # server, shown as text in the scope table because an auditor asks which cluster.
    addresses = set(re.findall(r"https?://[^\s\"'<]+", page))
    assert addresses == ALLOWED_ADDRESSES | {"https://127.0.0.1:6443"}


def test_hostile_text_is_escaped_in_the_html() -> None:
    page = render_html(hostile_record())

    assert "<script>" not in page
    assert "<img" not in page
    assert page.count("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;") == 2
    assert "script" not in collect_references(page).tags


def test_html_forbids_scripts_even_if_escaping_failed() -> None:
    page = render_html(make_record("met"))

    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: make_record("missed"), id="missed"),
        pytest.param(lambda: make_record("never-injected"), id="never injected"),
        pytest.param(hostile_record, id="hostile text"),
    ],
)
def test_html_opens_in_headless_chromium_without_console_messages(
    tmp_path: Path, make: Callable[[], RunRecord]
) -> None:
    record = make()
    page = tmp_path / "report.html"
    page.write_text(render_html(record), encoding="utf-8")

    completed = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "Recovery condition over time" in completed.stdout
    # Chromium logs every console message (errors, CSP violations) as INFO:CONSOLE.
    console = [line for line in completed.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []

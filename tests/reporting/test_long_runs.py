"""A long run reads at a glance: repeated observations collapse into spans in the
timeline table, so its PDF stays a few pages, while ``timeline.jsonl`` keeps every event.

The run polls its recovery condition every second for 83 s, as the observer does:
held 6/6 before the fault, lost for 15 s, then held again, with replica counts and
marker writes beside it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from drillkit.model.measurement import RunStatus
from drillkit.model.timeline import (
    ActivityStarted,
    ConditionObserved,
    FaultInjected,
    MarkerWritten,
    RollbackCompleted,
    RollbackStarted,
    RunFinished,
    RunStarted,
    SteadyStateVerified,
    TimelineEvent,
)
from drillkit.reporting.human import render_html, render_markdown
from drillkit.reporting.pdf import render_pdf
from drillkit.reporting.writer import write_run_report
from tests.reporting.conftest import at, make_record, ready

SOURCE = "watch:shop/web"


def polled(offset: float, holds: bool, detail: str) -> ConditionObserved:
    return ConditionObserved(at=at(offset), holds=holds, source=SOURCE, detail=detail)


def long_timeline() -> list[TimelineEvent]:
    """83 s of polls a second apart; the fault at +20 s, lost from +25 s to +39 s."""
    events: list[TimelineEvent] = [
        RunStarted(at=at(0), run_id="20250301-090000-ab12", drill="zone-failure"),
        ready(0.5, "shop/web", 6, desired=6),
        SteadyStateVerified(at=at(0.6), holds=True),
        ActivityStarted(at=at(19.5), name="drain-zone", activity_type="action"),
        FaultInjected(at=at(20), activity="drain-zone", detail="first eviction accepted"),
        ready(24.5, "shop/web", 3, desired=6),
        ready(41.5, "shop/web", 6, desired=6),
        RollbackStarted(at=at(84)),
        RollbackCompleted(at=at(85), status="succeeded"),
        RunFinished(at=at(86), status=RunStatus.COMPLETED),
    ]
    for second in range(1, 84):
        offset = second + 0.8
        if 25 <= second < 40:
            events.append(polled(offset, False, "3/6 ready"))
        else:
            events.append(polled(offset, True, "6/6 ready"))
    events += [
        MarkerWritten(at=at(2.0 * sequence + 0.3), sequence=sequence) for sequence in range(1, 9)
    ]
    return sorted(events, key=lambda event: event.at.monotonic)


def timeline_rows(page: str) -> list[str]:
    table = page[page.index('<table class="timeline">') :]
    table = table[: table.index("</table>")]
    body = table[table.index("<tbody>") :]
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


def pages_of(pdf: Path) -> int:
    info = subprocess.run(
        ["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return int(re.search(r"^Pages:\s+(\d+)$", info, flags=re.M).group(1))  # type: ignore[union-attr]


def test_a_long_run_shows_its_polls_as_a_few_span_rows() -> None:
    record = make_record("markers", timeline=long_timeline())
    assert len(record.timeline) > 100

    rows = timeline_rows(render_html(record))

    # Every event that matters is a row, each value the condition took is one span row.
    assert len(rows) <= 20, f"{len(rows)} timeline rows for {len(record.timeline)} events"
    text = "\n".join(rows)
    assert "fault injected" in text
    assert "rollback started" in text
    assert "holds (watch:shop/web): 6/6 ready from -18.2 s to -1.2 s, 18 observations" in text
    assert "lost (watch:shop/web): 3/6 ready from +5.8 s to +19.8 s, 15 observations" in text
    assert "holds (watch:shop/web): 6/6 ready from +20.8 s to +63.8 s, 44 observations" in text
    assert "sequences 1 to 8 from -17.7 s to -3.7 s, 8 markers" in text


def test_the_markdown_timeline_has_the_same_span_rows() -> None:
    markdown = render_markdown(make_record("markers", timeline=long_timeline()))

    timeline = markdown[markdown.index("## Timeline") :]
    rows = [line for line in timeline.splitlines() if line.startswith("| 2025-")]
    assert len(rows) <= 20
    assert (
        "| 2025-03-01T09:00:25.800Z | +5.8 | condition observed | "
        "lost (watch:shop/web): 3/6 ready from +5.8 s to +19.8 s, 15 observations |"
    ) in rows


def test_a_long_run_prints_on_a_few_pages(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(render_html(make_record("markers", timeline=long_timeline()))))

    assert pages_of(pdf) <= 4


def test_the_timeline_file_keeps_every_event_of_a_long_run(tmp_path: Path) -> None:
    record = make_record("markers", timeline=long_timeline())

    run_dir = write_run_report(record, tmp_path)

    lines = (run_dir / "timeline.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(record.timeline)
    assert sum(json.loads(line)["kind"] == "condition_observed" for line in lines) == 83

"""Every way of tampering with the evidence is caught, and the message names what changed.

The tests really tamper: they flip bytes of report files and ledger lines, delete run
directories and ledger lines, swap and duplicate lines, cut the ledger short and roll
its head back, then run the real verification.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from drillkit.evidence.ledger import witness_path, witness_record_path
from drillkit.evidence.verify import ProblemKind, Verification, parse_anchor, verify_ledger
from tests.evidence.conftest import (
    flip_byte,
    ledger_lines,
    record_runs,
    record_skip,
    run_id_of,
    write_ledger_lines,
    write_run,
)

REPORT_FILES = (
    "report.json",
    "report.md",
    "report.html",
    "journal.json",
    "timeline.jsonl",
    "manifest.json",
)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Five runs (two drills) and a skip, entered in the ledger: six lines."""
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 3)
    record_skip(reports_dir, 3)
    record_runs_from(reports_dir, 3, 5)
    return reports_dir


def record_runs_from(reports_dir: Path, first: int, last: int) -> None:
    from drillkit.evidence.ledger import append_run
    from tests.evidence.conftest import RECORDED

    for index in range(first, last):
        drill = ("zone-failure", "pod-kill")[index % 2]
        append_run(reports_dir, write_run(reports_dir, index, drill=drill), now=RECORDED)


def run_dirs(reports_dir: Path) -> list[Path]:
    return sorted(path for path in reports_dir.glob("*/*") if path.is_dir())


def messages(result: Verification) -> str:
    return "\n".join(problem.message for problem in result.problems)


def test_an_untouched_ledger_and_its_reports_verify(reports: Path) -> None:
    result = verify_ledger(reports)

    assert result.intact, messages(result)
    assert (result.entries, result.runs, result.skips, result.runs_checked) == (6, 5, 1, 5)
    assert result.head is not None and result.head.seq == 6
    assert result.notices == ()


@pytest.mark.parametrize("name", REPORT_FILES)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipping_one_byte_of_any_report_file_names_the_run_and_the_file(
    reports: Path, name: str, where: str
) -> None:
    run_dir = run_dirs(reports)[1]
    path = run_dir / name
    size = path.stat().st_size
    flip_byte(path, {"first": 0, "middle": size // 2, "last": size - 1}[where])

    result = verify_ledger(reports)

    run = f"{run_dir.parent.name}/{run_dir.name}"
    assert [(p.kind, p.run, p.file) for p in result.problems] == [
        (ProblemKind.FILE_ALTERED, run, name)
    ]
    assert f"run {run} (ledger line " in result.problems[0].message
    assert f"{name} was altered" in result.problems[0].message


def test_the_start_note_beside_a_report_is_vouched_for_too(tmp_path: Path) -> None:
    from drillkit.evidence.ledger import append_run
    from drillkit.reporting.writer import write_run_started
    from tests.reporting.conftest import UTC_ORIGIN

    reports_dir = tmp_path / "reports"
    write_run_started(
        reports_dir, drill="zone-failure", run_id="20250301-090000-000000", started_utc=UTC_ORIGIN
    )
    run_dir = write_run(reports_dir, 0)
    append_run(reports_dir, run_dir)
    flip_byte(run_dir / "started.json", 3)

    result = verify_ledger(reports_dir)

    assert [(p.kind, p.file) for p in result.problems] == [
        (ProblemKind.FILE_ALTERED, "started.json")
    ]


def test_a_removed_report_file_is_named(reports: Path) -> None:
    run_dir = run_dirs(reports)[0]
    (run_dir / "report.md").unlink()

    result = verify_ledger(reports)

    assert [(p.kind, p.file) for p in result.problems] == [(ProblemKind.FILE_MISSING, "report.md")]
    assert "report.md is missing" in result.problems[0].message


def test_a_deleted_run_directory_is_named(reports: Path) -> None:
    run_dir = run_dirs(reports)[2]
    shutil.rmtree(run_dir)

    result = verify_ledger(reports)

    run = f"{run_dir.parent.name}/{run_dir.name}"
    assert [(p.kind, p.run) for p in result.problems] == [(ProblemKind.RUN_REMOVED, run)]
    assert "the run was removed" in result.problems[0].message


def test_a_run_deleted_with_its_ledger_line_shows_as_a_gap_in_the_chain(reports: Path) -> None:
    # The line goes; the report directory stays.
    lines = ledger_lines(reports)
    del lines[1]
    write_ledger_lines(reports, lines)

    result = verify_ledger(reports)

    kinds = [p.kind for p in result.problems]
    assert ProblemKind.ENTRY_REMOVED in kinds
    removed = next(p for p in result.problems if p.kind is ProblemKind.ENTRY_REMOVED)
    assert removed.message.startswith("entry 2 is missing from the ledger: entry 3 on line 2")
    # Its report directory is still there, so it is also reported as left out, by name.
    left_out = [p.run for p in result.problems if p.kind is ProblemKind.LEFT_OUT]
    assert left_out == ["pod-kill/20250302-090000-000001"]


def test_a_run_deleted_with_its_line_and_directory_still_leaves_a_gap(reports: Path) -> None:
    lines = ledger_lines(reports)
    del lines[2]
    write_ledger_lines(reports, lines)
    shutil.rmtree(reports / "zone-failure" / "20250303-090000-000002")

    result = verify_ledger(reports)

    assert [p.kind for p in result.problems] == [ProblemKind.ENTRY_REMOVED]
    assert "entry 3 is missing" in result.problems[0].message


@pytest.mark.parametrize(("first", "second"), [(1, 2), (0, 4), (3, 5)])
def test_swapping_two_entries_is_reported_as_reordering_naming_both_lines(
    reports: Path, first: int, second: int
) -> None:
    lines = ledger_lines(reports)
    lines[first], lines[second] = lines[second], lines[first]
    write_ledger_lines(reports, lines)

    result = verify_ledger(reports)

    assert [p.kind for p in result.problems] == [ProblemKind.REORDERED]
    message = result.problems[0].message
    assert f"line {first + 1} holds entry {second + 1}" in message
    assert f"line {second + 1} holds entry {first + 1}" in message


def test_a_duplicated_line_is_reported(reports: Path) -> None:
    lines = ledger_lines(reports)
    lines.insert(3, lines[2])
    write_ledger_lines(reports, lines)

    result = verify_ledger(reports)

    assert ProblemKind.DUPLICATED in [p.kind for p in result.problems]
    assert "entry 3 appears twice, on lines 3 and 4" in messages(result)


@pytest.mark.parametrize("removed", [1, 2, 6])
def test_cutting_whole_lines_off_the_end_is_caught_by_the_head(reports: Path, removed: int) -> None:
    lines = ledger_lines(reports)
    write_ledger_lines(reports, lines[: len(lines) - removed])

    result = verify_ledger(reports)

    truncated = [p for p in result.problems if p.kind is ProblemKind.TRUNCATED]
    assert len(truncated) == 1
    kept = 6 - removed
    assert f"the ledger ends at entry {kept} but ledger.head records entry 6" in (
        truncated[0].message
    )


def test_cutting_the_ledger_in_the_middle_of_a_line_names_that_line(reports: Path) -> None:
    content = (reports / "ledger.jsonl").read_bytes()
    (reports / "ledger.jsonl").write_bytes(content[: len(content) - 40])

    result = verify_ledger(reports)

    assert any(
        p.kind is ProblemKind.TRUNCATED and p.line == 6 and "line 6 is cut off" in p.message
        for p in result.problems
    ), messages(result)


def test_a_truncated_ledger_with_its_head_rolled_back_is_caught_by_the_witness(
    reports: Path,
) -> None:
    # The head as it was after entry 4, kept by someone who then cuts entries 5 and 6
    # and puts the old head back: ledger and ledger.head agree, the witness does not.
    lines = ledger_lines(reports)
    from drillkit.evidence.ledger import digest_bytes

    old_digest = digest_bytes(lines[3].rstrip(b"\n"))
    head = (reports / "ledger.head").read_text()
    write_ledger_lines(reports, lines[:4])
    current = verify_ledger(reports).head
    assert current is not None
    (reports / "ledger.head").write_text(
        head.replace(f'"seq":{current.seq}', '"seq":4').replace(current.digest, old_digest)
    )

    result = verify_ledger(reports)

    truncated = [p for p in result.problems if p.kind is ProblemKind.TRUNCATED]
    assert len(truncated) == 1
    assert "the witness" in truncated[0].message
    assert "records entry 6" in truncated[0].message


def test_without_a_witness_a_head_kept_by_the_auditor_catches_the_truncation(
    reports: Path,
) -> None:
    kept = verify_ledger(reports).head
    assert kept is not None
    # A forger cuts the last run: its ledger line, its report directory, the witness
    # and the state directory's note that it kept one (as a reset state directory, or
    # a ledger carried to another machine, would be), and writes a head that matches
    # the shorter ledger.
    lines = ledger_lines(reports)
    write_ledger_lines(reports, lines[:5])
    shutil.rmtree(reports / "zone-failure" / run_id_of(4))
    witness_path(reports).unlink()
    witness_record_path(reports).unlink()
    from drillkit.evidence.ledger import digest_bytes

    (reports / "ledger.head").write_text(
        json.dumps(
            {
                "digest": digest_bytes(lines[4].rstrip(b"\n")),
                "seq": 5,
                "v": 1,
                "updated_utc": "2025-06-30T12:00:00.000Z",
            }
        )
    )
    assert verify_ledger(reports).intact, "without an outside head, a clean cut is invisible"

    result = verify_ledger(reports, anchors=[parse_anchor(f"{kept.seq}:{kept.digest}")])

    assert [p.kind for p in result.problems] == [ProblemKind.TRUNCATED]
    assert "the head you gave" in result.problems[0].message


def test_a_missing_head_is_reported(reports: Path) -> None:
    (reports / "ledger.head").unlink()

    result = verify_ledger(reports)

    assert [p.kind for p in result.problems] == [ProblemKind.HEAD]
    assert "ledger.head is missing" in result.problems[0].message


def test_a_report_directory_never_entered_is_reported_as_left_out(reports: Path) -> None:
    write_run(reports, 9, drill="zone-outage")

    result = verify_ledger(reports)

    assert [(p.kind, p.run) for p in result.problems] == [
        (ProblemKind.LEFT_OUT, "zone-outage/20250310-090000-000009")
    ]


def test_a_killed_run_without_a_report_is_a_notice_not_tampering(reports: Path) -> None:
    from drillkit.reporting.writer import write_run_started
    from tests.reporting.conftest import UTC_ORIGIN

    note = write_run_started(
        reports, drill="zone-failure", run_id="20250320-090000-dead00", started_utc=UTC_ORIGIN
    )
    # A start note naming a process that does not exist: the run was killed.
    (note / "started.json").write_text(
        '{"run_id": "20250320-090000-dead00", "drill": "zone-failure", "pid": 0, '
        '"host": "elsewhere", "started_utc": "2025-03-20T09:00:00.000Z"}'
    )

    result = verify_ledger(reports)

    assert result.intact
    assert any("20250320-090000-dead00 started but wrote no report" in n for n in result.notices)


def test_since_limits_the_rereading_of_report_files_not_the_chain(reports: Path) -> None:
    from datetime import timedelta

    from tests.reporting.conftest import UTC_ORIGIN

    flip_byte(run_dirs(reports)[0] / "report.md", 10)
    lines = ledger_lines(reports)
    lines[0], lines[1] = lines[1], lines[0]
    write_ledger_lines(reports, lines)

    result = verify_ledger(reports, since=UTC_ORIGIN + timedelta(days=3))

    assert result.runs_checked == 2
    assert [p.kind for p in result.problems] == [ProblemKind.REORDERED]


def line_positions(content: bytes) -> list[tuple[int, int]]:
    """(offset, line number) of every byte of the ledger."""
    positions = []
    line = 1
    for offset, byte in enumerate(content):
        positions.append((offset, line))
        if byte == ord("\n"):
            line += 1
    return positions


def test_flipping_any_single_byte_of_any_ledger_line_names_that_line(tmp_path: Path) -> None:
    # Exhaustive over a small ledger (two runs and a skip): every byte, one at a time.
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 2)
    record_skip(reports_dir, 2)
    ledger = reports_dir / "ledger.jsonl"
    original = ledger.read_bytes()

    unnamed = []
    for offset, line in line_positions(original):
        flip_byte(ledger, offset)
        result = verify_ledger(reports_dir)
        if result.intact or line not in {p.line for p in result.problems}:
            unnamed.append((offset, line, messages(result)))
        ledger.write_bytes(original)

    assert not unnamed, f"{len(unnamed)} flips not traced to their line, e.g. {unnamed[:3]}"


def test_an_altered_last_line_is_named_through_the_head(reports: Path) -> None:
    lines = ledger_lines(reports)
    lines[-1] = lines[-1].replace(b'"verdict":"met"', b'"verdict":"xet"')
    assert b"xet" in lines[-1]
    write_ledger_lines(reports, lines)

    result = verify_ledger(reports)

    assert [(p.kind, p.line) for p in result.problems] == [(ProblemKind.LINE_ALTERED, 6)]
    assert "differs from the entry ledger.head records" in result.problems[0].message

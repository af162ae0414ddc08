"""The report directory: every file written whole, a manifest that matches, finding runs again."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.files import sha256_file, write_atomically
from drillkit.model.measurement import Outcome, RunStatus, Verdict
from drillkit.model.timeline import event_from_json
from drillkit.reporting import writer
from drillkit.reporting.document import render_report_json
from drillkit.reporting.writer import find_report, list_reports, write_run_report
from tests.reporting.conftest import UTC_ORIGIN, make_record

REPORT_FILES = {
    "report.json",
    "report.md",
    "report.html",
    "journal.json",
    "timeline.jsonl",
    "manifest.json",
}


def write_run(
    reports_dir: Path, run_id: str, *, minutes_later: int = 0, drill: str = "zone-failure"
) -> Path:
    record = make_record(
        run_id=run_id, drill=drill, started_utc=UTC_ORIGIN + timedelta(minutes=minutes_later)
    )
    return write_run_report(record, reports_dir)


def test_a_run_report_directory_holds_every_file_and_nothing_else(tmp_path: Path) -> None:
    run_dir = write_run_report(make_record("met"), tmp_path / "reports")

    assert run_dir == tmp_path / "reports" / "zone-failure" / "20250301-090000-ab12"
    # No temporary file survives: they are named .<name>.<random>.tmp beside the target.
    assert {path.name for path in run_dir.iterdir()} == REPORT_FILES


def test_the_manifest_holds_the_digest_of_every_other_file(tmp_path: Path) -> None:
    run_dir = write_run_report(make_record("met"), tmp_path)

    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))

    assert manifest["algorithm"] == "sha256"
    assert set(manifest["files"]) == REPORT_FILES - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((run_dir / name).read_bytes()).hexdigest() == digest


def test_report_json_is_the_rendered_document(tmp_path: Path) -> None:
    record = make_record("markers")

    run_dir = write_run_report(record, tmp_path)

    written = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert written == render_report_json(record)


def test_the_timeline_file_reads_back_as_the_recorded_events(tmp_path: Path) -> None:
    record = make_record("markers")

    run_dir = write_run_report(record, tmp_path)

    lines = (run_dir / "timeline.jsonl").read_text(encoding="utf-8").splitlines()
    assert tuple(event_from_json(json.loads(line)) for line in lines) == record.timeline


def test_the_manifest_bytes_stay_those_earlier_versions_wrote(tmp_path: Path) -> None:
    # The ledger chains the digest of these bytes: they must not change by one byte.
    run_dir = write_run_report(make_record("met"), tmp_path)

    digests = {
        name: sha256_file(run_dir / name) for name in sorted(REPORT_FILES - {"manifest.json"})
    }
    listed = ",\n".join(f'    "{name}": "{digest}"' for name, digest in digests.items())
    assert (run_dir / "manifest.json").read_bytes() == (
        '{\n  "algorithm": "sha256",\n  "files": {\n' + listed + "\n  }\n}\n"
    ).encode("utf-8")


def test_the_journal_is_stored_with_sorted_keys_and_odd_values_in_words(tmp_path: Path) -> None:
    run_dir = write_run_report(make_record("met"), tmp_path)

    text = (run_dir / "journal.json").read_text(encoding="utf-8")
    journal = json.loads(text)

    assert list(journal) == sorted(journal)
    # The journal holds a datetime, which JSON cannot; it is kept as text, not dropped.
    assert journal["start"] == "2025-03-01 09:00:00+00:00"
    assert text.startswith('{\n  "chaoslib-version"')


def test_the_journal_bytes_stay_those_earlier_versions_wrote(tmp_path: Path) -> None:
    # The manifest, and through it the ledger, chains these bytes: a journal must be
    # written exactly as before, whatever odd values the activities returned.
    journal = {
        "status": "completed",
        "start": UTC_ORIGIN,
        "run": [
            {
                "output": {
                    "pods": ("web-1", "web-2"),
                    "zones": {"zone-a"},
                    "delay": timedelta(seconds=1.5),
                    "verdict": Verdict.MET,
                    "bytes": b"\x00",
                    "ratio": 2.5,
                    "left": None,
                },
                "status": "succeeded",
                "name": "drain-zone café",
            }
        ],
        "deviated": False,
        "duration": 12,
    }
    record = dataclasses.replace(make_record("met"), journal=journal)

    run_dir = write_run_report(record, tmp_path)

    assert (run_dir / "journal.json").read_bytes() == (
        b'{\n  "deviated": false,\n  "duration": 12,\n  "run": [\n    {\n'
        b'      "name": "drain-zone caf\xc3\xa9",\n      "output": {\n'
        b'        "bytes": "b\'\\\\x00\'",\n'
        b'        "delay": "0:00:01.500000",\n        "left": null,\n        "pods": [\n'
        b'          "web-1",\n          "web-2"\n        ],\n        "ratio": 2.5,\n'
        b'        "verdict": "met",\n'
        b'        "zones": "{\'zone-a\'}"\n      },\n      "status": "succeeded"\n    }\n  ],\n'
        b'  "start": "2025-03-01 09:00:00+00:00",\n  "status": "completed"\n}\n'
    )


def test_the_journal_of_an_unfinished_run_reads_back_as_written(tmp_path: Path) -> None:
    run_dir = write_run_report(make_record("met"), tmp_path)
    (run_dir / "manifest.json").unlink()

    unfinished = writer.read_unfinished_run(run_dir)

    assert unfinished.journal == json.loads((run_dir / "journal.json").read_bytes())
    assert unfinished.journal["start"] == "2025-03-01 09:00:00+00:00"


def test_a_journal_that_is_not_an_object_is_a_problem_of_the_unfinished_run(
    tmp_path: Path,
) -> None:
    run_dir = write_run_report(make_record("met"), tmp_path)
    (run_dir / "manifest.json").unlink()
    (run_dir / "journal.json").write_text("[1, 2]\n", encoding="utf-8")

    unfinished = writer.read_unfinished_run(run_dir)

    assert unfinished.journal == {}
    assert any(problem.startswith("journal.json cannot be read") for problem in unfinished.problems)


def test_writing_a_run_again_replaces_its_files_and_leaves_no_temporary_files(
    tmp_path: Path,
) -> None:
    write_run_report(make_record("missed"), tmp_path)

    run_dir = write_run_report(make_record("met"), tmp_path)

    assert {path.name for path in run_dir.iterdir()} == REPORT_FILES
    assert json.loads((run_dir / "report.json").read_text(encoding="utf-8"))["verdict"] == "met"


def test_an_atomic_write_that_fails_keeps_the_old_file_and_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    write_atomically(target, b"old")

    def fail_to_sync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail_to_sync)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, b"new")

    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["report.json"]


def test_report_files_are_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "report.md"

    write_atomically(target, b"# report\n")

    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_bytes() == b"# report\n"


def test_sha256_file_is_the_digest_of_the_bytes(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.write_bytes(b"evidence")

    assert sha256_file(target) == hashlib.sha256(b"evidence").hexdigest()


@pytest.mark.parametrize("run_id", ["", ".", "..", "../escape", "a/b", ".hidden"])
def test_a_run_id_that_would_leave_the_reports_directory_is_refused(
    tmp_path: Path, run_id: str
) -> None:
    with pytest.raises(InvalidInput, match="cannot name a report directory"):
        write_run_report(make_record("met", run_id=run_id), tmp_path / "reports")

    assert not (tmp_path / "escape").exists()


def test_reports_are_listed_newest_first_across_drills(tmp_path: Path) -> None:
    write_run(tmp_path, "20250301-0900-aaaa", minutes_later=0)
    write_run(tmp_path, "20250301-0920-cccc", minutes_later=20, drill="etcd-restore")
    write_run(tmp_path, "20250301-0910-bbbb", minutes_later=10)

    summaries = list_reports(tmp_path)

    assert [summary.run_id for summary in summaries] == [
        "20250301-0920-cccc",
        "20250301-0910-bbbb",
        "20250301-0900-aaaa",
    ]
    assert summaries[0].drill == "etcd-restore"
    assert summaries[0].verdict is Verdict.MET
    assert summaries[0].rto_seconds == 20.0


def test_reports_can_be_listed_for_one_drill(tmp_path: Path) -> None:
    write_run(tmp_path, "20250301-0900-aaaa")
    write_run(tmp_path, "20250301-0920-cccc", drill="etcd-restore")

    summaries = list_reports(tmp_path, drill="etcd-restore")

    assert [summary.run_id for summary in summaries] == ["20250301-0920-cccc"]
    assert list_reports(tmp_path, drill="never-ran") == []


def test_listing_a_reports_directory_that_does_not_exist_yet_finds_nothing(tmp_path: Path) -> None:
    assert list_reports(tmp_path / "reports") == []


def test_directories_without_a_report_are_not_listed(tmp_path: Path) -> None:
    write_run(tmp_path, "20250301-0900-aaaa")
    (tmp_path / "zone-failure" / "scratch").mkdir()
    (tmp_path / "README.md").write_text("run output\n", encoding="utf-8")

    assert [summary.run_id for summary in list_reports(tmp_path)] == ["20250301-0900-aaaa"]


def test_a_broken_report_is_listed_as_unreadable_and_does_not_hide_the_others(
    tmp_path: Path,
) -> None:
    write_run(tmp_path, "20250301-0900-aaaa")
    broken = write_run(tmp_path, "20250301-0910-bbbb", minutes_later=10)
    (broken / "report.json").write_text('{"schema_version": "1.0", "run_', encoding="utf-8")

    summaries = {summary.run_id: summary for summary in list_reports(tmp_path)}

    assert set(summaries) == {"20250301-0900-aaaa", "20250301-0910-bbbb"}
    unreadable = summaries["20250301-0910-bbbb"]
    assert unreadable.verdict is None
    assert unreadable.verdict_text == "unreadable"
    assert unreadable.drill == "zone-failure"
    assert unreadable.problem is not None
    assert str(broken / "report.json") in unreadable.problem
    assert summaries["20250301-0900-aaaa"].problem is None


def test_a_report_is_found_by_its_run_id_or_a_unique_prefix(tmp_path: Path) -> None:
    first = write_run(tmp_path, "20250301-0900-aaaa")
    second = write_run(tmp_path, "20250302-0900-bbbb", drill="etcd-restore")

    assert find_report(tmp_path, "20250301-0900-aaaa") == first
    assert find_report(tmp_path, "20250302") == second


def test_an_exact_run_id_wins_over_longer_ids_it_is_a_prefix_of(tmp_path: Path) -> None:
    exact = write_run(tmp_path, "20250301-0900")
    write_run(tmp_path, "20250301-0900-retry")

    assert find_report(tmp_path, "20250301-0900") == exact


def test_an_ambiguous_prefix_is_refused_naming_the_candidates(tmp_path: Path) -> None:
    write_run(tmp_path, "20250301-0900-aaaa")
    write_run(tmp_path, "20250301-0910-bbbb")

    with pytest.raises(InvalidInput) as raised:
        find_report(tmp_path, "20250301")

    assert "ambiguous" in str(raised.value)
    assert "zone-failure/20250301-0900-aaaa" in str(raised.value)
    assert "zone-failure/20250301-0910-bbbb" in str(raised.value)


def test_a_run_id_that_matches_nothing_is_refused(tmp_path: Path) -> None:
    write_run(tmp_path, "20250301-0900-aaaa")

    with pytest.raises(InvalidInput, match="no report with run id '2024'"):
        find_report(tmp_path, "2024")


def test_latest_is_the_newest_readable_report(tmp_path: Path) -> None:
    older = write_run(tmp_path, "20250301-0900-aaaa")
    newer = write_run(tmp_path, "20250301-0910-bbbb", minutes_later=10)
    other_drill = write_run(tmp_path, "20250301-0905-cccc", minutes_later=5, drill="etcd-restore")

    assert find_report(tmp_path, "latest") == newer
    assert find_report(tmp_path, "latest", drill="etcd-restore") == other_drill

    (newer / "report.json").write_text("not json", encoding="utf-8")
    assert find_report(tmp_path, "latest", drill="zone-failure") == older


def test_latest_with_no_reports_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no readable reports"):
        find_report(tmp_path, "latest")


def test_a_run_that_could_not_start_still_gets_a_complete_report(tmp_path: Path) -> None:
    # A run never silently disappears: an error before the first event is reported too.
    record = dataclasses.replace(
        make_record("met"),
        timeline=(),
        status=RunStatus.ERROR,
        outcome=Outcome(verdict=Verdict.ERROR),
        error="cluster unreachable: connection refused",
    )

    run_dir = write_run_report(record, tmp_path)

    assert {path.name for path in run_dir.iterdir()} == REPORT_FILES
    assert (run_dir / "timeline.jsonl").read_bytes() == b""
    summary = list_reports(tmp_path)[0]
    assert (summary.verdict, summary.rto_seconds, summary.problem) == (Verdict.ERROR, None, None)


def test_a_rewrite_that_fails_midway_leaves_no_manifest_vouching_for_mixed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = write_run_report(make_record("missed"), tmp_path)

    def fail_to_render(record: object) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(writer, "render_html", fail_to_render)
    with pytest.raises(RuntimeError):
        write_run_report(make_record("met"), tmp_path)

    # report.json is already the new one, report.html still the old one: without a
    # manifest the directory does not claim to be a complete report.
    assert not (run_dir / "manifest.json").exists()
    assert not [path for path in run_dir.iterdir() if path.name.startswith(".")]


def test_a_runs_timeline_is_kept_as_it_grows_and_a_torn_last_line_is_left_out_and_named(
    tmp_path: Path,
) -> None:
    record = make_record(run_id="20250301-090000-aaaaaa")
    run_dir = writer.write_run_started(
        tmp_path, drill=record.drill, run_id=record.run_id, started_utc=datetime.now(UTC)
    )
    for event in record.timeline[:5]:
        writer.append_timeline_event(run_dir, event)
    # A kill in the middle of a write leaves a torn last line.
    with (run_dir / "timeline.jsonl").open("a") as stream:
        stream.write('{"kind": "condition_obs')

    unfinished = writer.read_unfinished_run(run_dir)

    assert unfinished.timeline == tuple(sorted(record.timeline[:5], key=lambda e: e.at.monotonic))
    assert unfinished.problems == ("1 line(s) of timeline.jsonl could not be read",)
    assert unfinished.note is not None and unfinished.note.run_id == record.run_id
    # This process wrote the note and lives: the run is still going.
    assert unfinished.liveness is writer.Liveness.ALIVE
    assert not unfinished.partial_report


def test_latest_is_never_a_run_that_is_still_going(tmp_path: Path) -> None:
    finished = write_run(tmp_path, "20250301-090000-aaaaaa")
    writer.write_run_started(
        tmp_path,
        drill="zone-failure",
        run_id="20250301-100000-bbbbbb",
        started_utc=datetime.now(UTC),
    )

    assert find_report(tmp_path, "latest") == finished

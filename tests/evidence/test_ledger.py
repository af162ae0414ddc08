"""Appending to the ledger: the chain, the head and its witness, crashes, concurrency, skips."""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from drillkit.errors import DrillError, InvalidInput
from drillkit.evidence.ledger import (
    GENESIS,
    LedgerMismatch,
    RunEntry,
    SkipEntry,
    adopt_runs,
    append_run,
    append_skip,
    digest_bytes,
    digest_regular,
    encode_canonical,
    find_run_dirs,
    read_head,
    read_ledger,
    witness_path,
)
from drillkit.evidence.verify import ProblemKind, verify_ledger
from tests.evidence.conftest import RECORDED, ledger_lines, record_runs, record_skip, write_run
from tests.reporting.conftest import UTC_ORIGIN


def test_each_entry_links_to_the_digest_of_the_line_before(tmp_path: Path) -> None:
    record_runs(tmp_path, 3)

    lines = [line.rstrip(b"\n") for line in ledger_lines(tmp_path)]
    entries = [json.loads(line) for line in lines]

    assert [entry["seq"] for entry in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS
    assert entries[1]["prev"] == digest_bytes(lines[0])
    assert entries[2]["prev"] == digest_bytes(lines[1])


def test_a_run_entry_holds_what_the_report_says_and_the_digest_of_every_file(
    tmp_path: Path,
) -> None:
    run_dir = write_run(tmp_path, 0, variant="markers")

    entry = append_run(tmp_path, run_dir, now=RECORDED)

    report = json.loads((run_dir / "report.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (entry.run_id, entry.drill, entry.verdict) == (
        report["run_id"],
        report["drill"],
        report["verdict"],
    )
    assert entry.started_utc == report["started_utc"]
    assert entry.measurements.rto.seconds == report["measurements"]["rto"]["seconds"]
    assert entry.measurements.rpo.objective_seconds == 5.0
    assert entry.report.dir == f"zone-failure/{run_dir.name}"
    assert entry.report.files == manifest["files"]
    assert entry.report.manifest_sha256 == digest_bytes((run_dir / "manifest.json").read_bytes())
    assert entry.recorded_utc == "2025-06-30T12:00:00.000Z"


def test_lines_are_canonical_json_so_the_same_entry_has_the_same_bytes(tmp_path: Path) -> None:
    record_runs(tmp_path, 2)
    record_skip(tmp_path, 5)

    for line in ledger_lines(tmp_path):
        assert line.endswith(b"\n")
        assert encode_canonical(json.loads(line)) == line.rstrip(b"\n")


def test_the_head_and_its_witness_name_the_newest_entry(
    tmp_path: Path, drillkit_home: Path
) -> None:
    record_runs(tmp_path, 2)

    head = read_head(tmp_path / "ledger.head")
    witness = read_head(witness_path(tmp_path))

    last = ledger_lines(tmp_path)[-1].rstrip(b"\n")
    assert head is not None and (head.seq, head.digest) == (2, digest_bytes(last))
    assert witness == head
    assert witness_path(tmp_path).is_relative_to(drillkit_home)


def test_a_skip_is_recorded_with_its_reason_and_schedule(tmp_path: Path) -> None:
    entry = append_skip(
        tmp_path,
        drill="zone-failure",
        reason="blackout window\n change-freeze",
        scheduled_for=UTC_ORIGIN + timedelta(hours=3),
        schedule="weekly",
        now=RECORDED,
    )

    assert isinstance(entry, SkipEntry)
    assert (entry.seq, entry.drill, entry.schedule) == (1, "zone-failure", "weekly")
    assert entry.scheduled_for == "2025-03-01T12:00:00.000Z"
    assert entry.reason == "blackout window change-freeze"
    assert verify_ledger(tmp_path).intact


def test_a_skip_needs_a_time_zone(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        append_skip(tmp_path, drill="d", reason="r", scheduled_for=datetime(2025, 3, 1))


def test_secrets_in_a_skip_reason_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_TOKEN", "prom-token-7f3a9c")
    append_skip(
        tmp_path,
        drill="checkout",
        reason="error budget unknown: GET https://sre:hunter2hunter2@prom.example/api "
        "failed with bearer prom-token-7f3a9c",
        scheduled_for=UTC_ORIGIN,
    )

    content = (tmp_path / "ledger.jsonl").read_text()
    assert "hunter2hunter2" not in content
    assert "prom-token-7f3a9c" not in content
    assert "https://sre:[redacted]@prom.example/api" in content


def test_a_report_changed_after_its_manifest_is_refused(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, 0)
    (run_dir / "report.md").write_text("edited\n")

    with pytest.raises(DrillError, match=r"report\.md no longer matches manifest\.json"):
        append_run(tmp_path, run_dir)
    assert read_ledger(tmp_path) == []


def test_an_incomplete_report_is_refused(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, 0)
    (run_dir / "manifest.json").unlink()

    with pytest.raises(InvalidInput, match="incomplete"):
        append_run(tmp_path, run_dir)


def test_a_manifest_without_its_files_is_refused_naming_what_it_lacks(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, 0)
    (run_dir / "manifest.json").write_text('{"algorithm": "sha256"}\n')

    with pytest.raises(InvalidInput, match=r"not a report manifest \(files: Field required\)"):
        append_run(tmp_path, run_dir)
    assert read_ledger(tmp_path) == []


def test_a_directory_outside_the_reports_directory_is_refused(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "elsewhere", 0)

    with pytest.raises(InvalidInput, match="not a run directory inside"):
        append_run(tmp_path / "reports", run_dir)


def test_a_line_torn_by_a_crash_before_the_head_moved_is_cut_off(tmp_path: Path) -> None:
    record_runs(tmp_path, 2)
    ledger = tmp_path / "ledger.jsonl"
    complete = ledger.read_bytes()
    # A crash in the middle of writing entry 3: its bytes are there, its newline and
    # the head update are not.
    with ledger.open("ab") as stream:
        stream.write(b'{"drill":"zone-failure","kind":"run","prev":"ab')

    record_skip(tmp_path, 9)

    assert ledger.read_bytes().startswith(complete)
    entries = [line.entry for line in read_ledger(tmp_path)]
    assert [entry.seq for entry in entries if entry is not None] == [1, 2, 3]
    assert verify_ledger(tmp_path).intact


def test_a_torn_line_the_head_does_not_vouch_for_is_kept_and_the_append_refused(
    tmp_path: Path,
) -> None:
    record_runs(tmp_path, 2)
    ledger = tmp_path / "ledger.jsonl"
    # The head names entry 1 while the ledger holds 2 and then garbage: this is not a
    # write of ours that a crash tore, so nothing may be cut, and nothing appended
    # after it (that would move the head and the witness past the evidence).
    first_line = ledger.read_bytes().split(b"\n")[0]
    head = json.loads((tmp_path / "ledger.head").read_bytes())
    head.update(seq=1, digest=digest_bytes(first_line))
    (tmp_path / "ledger.head").write_bytes(encode_canonical(head) + b"\n")
    with ledger.open("ab") as stream:
        stream.write(b"not an entry")
    before = ledger.read_bytes()

    with pytest.raises(LedgerMismatch, match="refusing to append"):
        append_skip(tmp_path, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

    assert ledger.read_bytes() == before
    result = verify_ledger(tmp_path)
    assert any(
        problem.kind is ProblemKind.TRUNCATED and problem.line == 3 for problem in result.problems
    )


def _append_skips(reports_dir: str, worker: int, count: int) -> None:
    for number in range(count):
        append_skip(
            Path(reports_dir),
            drill=f"drill-{worker}",
            reason=f"skip {number} of worker {worker}",
            scheduled_for=UTC_ORIGIN + timedelta(minutes=number),
        )


def test_concurrent_appends_from_several_processes_never_fork_the_chain(tmp_path: Path) -> None:
    workers, per_worker = 4, 25
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(_append_skips, str(tmp_path), worker, per_worker)
            for worker in range(workers)
        ]
        for future in futures:
            future.result()

    lines = read_ledger(tmp_path)
    assert [line.entry.seq for line in lines if line.entry] == list(
        range(1, workers * per_worker + 1)
    )
    result = verify_ledger(tmp_path)
    assert result.intact, [problem.message for problem in result.problems]
    assert result.head is not None and result.head.seq == workers * per_worker


def test_adopting_enters_reports_the_ledger_lacks_oldest_first(tmp_path: Path) -> None:
    record_runs(tmp_path, 1)
    later = write_run(tmp_path, 5)
    earlier = write_run(tmp_path, 3)
    assert not verify_ledger(tmp_path).intact

    adopted = adopt_runs(tmp_path, now=RECORDED)

    assert [entry.report.dir for entry in adopted] == [
        f"zone-failure/{earlier.name}",
        f"zone-failure/{later.name}",
    ]
    assert all(entry.adopted for entry in adopted)
    assert verify_ledger(tmp_path).intact
    assert adopt_runs(tmp_path) == []


def test_entries_read_back_as_their_models(tmp_path: Path) -> None:
    record_runs(tmp_path, 1)
    record_skip(tmp_path, 1)

    kinds = [type(line.entry) for line in read_ledger(tmp_path)]

    assert kinds == [RunEntry, SkipEntry]


@pytest.mark.parametrize("size", [0, 1, 1024 * 1024, 5 * 1024 * 1024 // 2])
def test_a_report_file_digest_is_its_sha256_at_any_size(tmp_path: Path, size: int) -> None:
    content = (b"drillkit " * (size // 9 + 1))[:size]
    (tmp_path / "report.html").write_bytes(content)
    directory = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        digest = digest_regular("report.html", dir_fd=directory, shown="report.html")
    finally:
        os.close(directory)

    assert digest == hashlib.sha256(content).hexdigest()


def test_parsing_the_ledger_leaves_the_cycle_collector_as_it_was(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    assert gc.isenabled()

    assert len(read_ledger(reports)) == 2
    assert gc.isenabled()

    gc.disable()
    try:
        assert len(read_ledger(reports)) == 2
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_run_directories_are_found_by_name_without_hidden_ones_or_stray_files(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    for index, drill in [(2, "pod-kill"), (1, "zone-failure"), (0, "pod-kill")]:
        write_run(reports, index, drill=drill)
    (reports / ".hidden" / "20250301-090000-000000").mkdir(parents=True)
    (reports / ".hidden" / "20250301-090000-000000" / "report.json").write_text("{}")
    (reports / "pod-kill" / "not-a-run").mkdir()
    (reports / "pod-kill" / "stray.txt").write_text("")
    (reports / "notes.txt").write_text("")

    found = find_run_dirs(reports)

    assert [path.relative_to(reports).as_posix() for path in found] == [
        "pod-kill/20250301-090000-000000",
        "pod-kill/20250303-090000-000002",
        "zone-failure/20250302-090000-000001",
    ]
    assert found[0] == reports / "pod-kill" / "20250301-090000-000000"

"""The evidence is never read through a link or from a special file.

A symbolic link inside the reports tree lets someone point the ledger, its head or a
report file at bytes of their choosing while the files the chain vouches for stay put;
a FIFO in place of the ledger made ``verify`` wait forever. Every file of the evidence
is opened without following links and must be a regular file. The witness of the head
is kept in drillkit's state directory under a key that nothing inside ``reports/`` can
change, and a witness that this machine kept and that has gone is a problem.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.evidence.ledger import (
    LedgerMismatch,
    append_skip,
    digest_bytes,
    seal,
    witness_path,
)
from drillkit.evidence.verify import ProblemKind, verify_ledger
from drillkit.signing import generate_key_pair
from tests.evidence.conftest import ledger_lines, record_runs, run_id_of
from tests.evidence.test_cli import drill_command
from tests.reporting.conftest import UTC_ORIGIN


def drill(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*drill_command(), *arguments], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_truncated_ledger_behind_a_symlink_does_not_verify(tmp_path: Path, signed: bool) -> None:
    # The auditor's reproduction: the ledger moved elsewhere and linked back, its last
    # entry and run cut, the head rewritten (and re-signed, with the key) to match.
    key = generate_key_pair(tmp_path / "key.pem")[0] if signed else None
    reports = tmp_path / "reports"
    record_runs(reports, 3, signing_key=key)
    elsewhere = tmp_path / "elsewhere.jsonl"
    kept = ledger_lines(reports)[:2]
    elsewhere.write_bytes(b"".join(kept))
    (reports / "ledger.jsonl").unlink()
    (reports / "ledger.jsonl").symlink_to(elsewhere)
    shutil.rmtree(next(reports.glob(f"*/{run_id_of(2)}")))
    head = {"v": 1, "seq": 2, "digest": digest_bytes(kept[-1].rstrip(b"\n"))}
    head["updated_utc"] = "2025-06-30T12:00:00.000Z"
    (reports / "ledger.head").write_bytes(seal(head, key) + b"\n")

    with pytest.raises(InvalidInput, match="symbolic link"):
        verify_ledger(reports, verify_key=key.verify_key if key else None)
    result = drill("evidence", "verify", "--reports-dir", str(reports))
    assert result.returncode == 2, result.stdout
    assert "INTACT" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    assert "ledger.jsonl is a symbolic link" in result.stderr


def test_an_append_through_a_symlinked_ledger_is_refused(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    elsewhere = tmp_path / "elsewhere.jsonl"
    (reports / "ledger.jsonl").rename(elsewhere)
    (reports / "ledger.jsonl").symlink_to(elsewhere)
    before = elsewhere.read_bytes()

    with pytest.raises(InvalidInput, match="symbolic link"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

    assert elsewhere.read_bytes() == before


def test_a_symlinked_head_is_a_problem_and_refused_by_appends(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    copy = tmp_path / "head-copy"
    copy.write_bytes((reports / "ledger.head").read_bytes())
    (reports / "ledger.head").unlink()
    (reports / "ledger.head").symlink_to(copy)

    result = verify_ledger(reports)

    assert ProblemKind.HEAD in [problem.kind for problem in result.problems]
    with pytest.raises(LedgerMismatch, match="symbolic link"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)


def test_a_report_file_replaced_by_a_link_to_the_same_bytes_is_a_problem(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = record_runs(reports, 2)[1]
    copy = tmp_path / "report-copy.md"
    copy.write_bytes((run_dir / "report.md").read_bytes())
    (run_dir / "report.md").unlink()
    (run_dir / "report.md").symlink_to(copy)

    result = verify_ledger(reports)

    assert [(problem.kind, problem.file) for problem in result.problems] == [
        (ProblemKind.NOT_REGULAR, "report.md")
    ]
    assert "report.md is a symbolic link" in result.problems[0].message


def test_a_run_directory_replaced_by_a_link_is_a_problem(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = record_runs(reports, 2)[0]
    moved = tmp_path / "moved-run"
    run_dir.rename(moved)
    run_dir.symlink_to(moved)

    result = verify_ledger(reports)

    assert [problem.kind for problem in result.problems] == [ProblemKind.NOT_REGULAR]
    assert f"{run_dir} is a symbolic link" in result.problems[0].message


def test_the_witness_does_not_depend_on_where_the_ledger_file_points(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 1)
    before = witness_path(reports)
    elsewhere = tmp_path / "elsewhere.jsonl"
    (reports / "ledger.jsonl").rename(elsewhere)
    (reports / "ledger.jsonl").symlink_to(elsewhere)

    assert witness_path(reports) == before


def test_a_removed_witness_is_a_problem_when_this_machine_kept_one(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 3)
    witness_path(reports).unlink()

    result = verify_ledger(reports)

    assert [problem.kind for problem in result.problems] == [ProblemKind.HEAD]
    assert "witness" in result.problems[0].message
    with pytest.raises(LedgerMismatch, match="witness"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)


def test_a_ledger_from_another_machine_without_a_witness_is_only_a_note(
    tmp_path: Path, drillkit_home: Path
) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    shutil.rmtree(drillkit_home)

    result = verify_ledger(reports)

    assert result.intact
    assert any("no witness copy of the head" in notice for notice in result.notices)


@pytest.mark.parametrize("name", ["ledger.jsonl", "ledger.head"])
def test_a_fifo_in_place_of_the_ledger_or_head_does_not_hang_verify(
    tmp_path: Path, name: str
) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 1)
    (reports / name).unlink()
    os.mkfifo(reports / name)

    result = drill("evidence", "verify", "--reports-dir", str(reports))

    assert result.returncode in (1, 2)
    assert "INTACT" not in result.stdout
    if name == "ledger.jsonl":
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "ledger.jsonl is not a regular file (a FIFO)" in result.stderr


def test_a_fifo_in_place_of_a_report_file_does_not_hang_verify(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = record_runs(reports, 1)[0]
    (run_dir / "journal.json").unlink()
    os.mkfifo(run_dir / "journal.json")

    result = drill("evidence", "verify", "--reports-dir", str(reports), "--output", "json")

    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(problem["file"], problem["kind"]) for problem in problems] == [
        ("journal.json", ProblemKind.NOT_REGULAR.value)
    ]


def test_a_fifo_in_place_of_the_ledger_refuses_an_append(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    os.mkfifo(reports / "ledger.jsonl")

    with pytest.raises(InvalidInput, match="not a regular file"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

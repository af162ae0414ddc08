"""An append never hides what was done to the ledger's end.

Appending continues the chain from the ledger's last line and moves the head and its
witness. If the end was cut off or rewritten, continuing from it would overwrite the
very records that show it: so an append first checks that the ledger still ends where
its head and witness left it, and refuses otherwise, touching nothing (as a digest
chain refuses to continue from a state its last digest does not match).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from drillkit.evidence.ledger import (
    LedgerMismatch,
    append_run,
    append_skip,
    digest_bytes,
    encode_canonical,
)
from drillkit.evidence.verify import ProblemKind, verify_ledger
from drillkit.signing import generate_key_pair
from tests.evidence.conftest import (
    RECORDED,
    ledger_lines,
    record_runs,
    run_id_of,
    write_ledger_lines,
    write_run,
)
from tests.evidence.test_cli import drill_command
from tests.reporting.conftest import UTC_ORIGIN


def delete_last_run(reports: Path, index: int) -> None:
    """Cut the last ledger line and remove its run directory, as someone hiding a run would."""
    write_ledger_lines(reports, ledger_lines(reports)[:-1])
    shutil.rmtree(next(reports.glob(f"*/{run_id_of(index)}")))


def snapshot(reports: Path) -> dict[str, bytes]:
    return {name: (reports / name).read_bytes() for name in ("ledger.jsonl", "ledger.head")}


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_an_append_after_the_last_entry_was_deleted_refuses_and_verify_still_sees_it(
    tmp_path: Path, signed: bool
) -> None:
    key = generate_key_pair(tmp_path / "key.pem")[0] if signed else None
    reports = tmp_path / "reports"
    record_runs(reports, 3, signing_key=key)
    delete_last_run(reports, 2)
    before = snapshot(reports)

    with pytest.raises(LedgerMismatch, match=r"the ledger ends at entry 2 but ledger\.head"):
        append_run(reports, write_run(reports, 7), signing_key=key, now=RECORDED)

    assert snapshot(reports) == before
    result = verify_ledger(reports, verify_key=key.verify_key if key else None)
    assert ProblemKind.TRUNCATED in [problem.kind for problem in result.problems]


def test_an_append_refuses_when_only_the_witness_remembers_the_deleted_entry(
    tmp_path: Path,
) -> None:
    # The forger also rolls ledger.head back to the shorter ledger; the witness, outside
    # the reports tree, still records entry 3.
    reports = tmp_path / "reports"
    record_runs(reports, 3)
    delete_last_run(reports, 2)
    last = ledger_lines(reports)[-1].rstrip(b"\n")
    head = json.loads((reports / "ledger.head").read_bytes())
    head.update(seq=2, digest=digest_bytes(last))
    (reports / "ledger.head").write_bytes(encode_canonical(head) + b"\n")

    with pytest.raises(LedgerMismatch, match="the witness"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

    result = verify_ledger(reports)
    assert [problem.kind for problem in result.problems] == [ProblemKind.TRUNCATED]


def test_a_rewritten_last_line_is_not_continued(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 3)
    lines = ledger_lines(reports)
    last = json.loads(lines[-1])
    last["verdict"] = "missed" if last["verdict"] == "met" else "met"
    write_ledger_lines(reports, [*lines[:-1], encode_canonical(last) + b"\n"])

    with pytest.raises(LedgerMismatch, match=r"entry 3 differs from the one ledger\.head records"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)


def test_a_torn_line_repair_does_not_trust_a_rewritten_head(tmp_path: Path) -> None:
    # Entry 3 is cut in the middle and ledger.head rewritten to name entry 2, so it
    # looks like a write torn by a crash; the witness says entry 3 was complete.
    reports = tmp_path / "reports"
    record_runs(reports, 3)
    lines = ledger_lines(reports)
    write_ledger_lines(reports, [*lines[:2], lines[2][:40]])
    head = json.loads((reports / "ledger.head").read_bytes())
    head.update(seq=2, digest=digest_bytes(lines[1].rstrip(b"\n")))
    (reports / "ledger.head").write_bytes(encode_canonical(head) + b"\n")
    before = snapshot(reports)

    with pytest.raises(LedgerMismatch, match="the witness"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

    assert snapshot(reports) == before
    assert not verify_ledger(reports).intact


def test_an_emptied_ledger_is_not_started_again(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    (reports / "ledger.jsonl").write_bytes(b"")

    with pytest.raises(LedgerMismatch, match="the ledger ends at entry 0"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)


def test_an_append_after_an_interrupted_one_goes_on(tmp_path: Path) -> None:
    # A crash after entry 3 reached the disk and before the head and witness moved:
    # they name entry 2, which entry 3 links to. That is ours, not tampering.
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    head = (reports / "ledger.head").read_bytes()
    from drillkit.evidence.ledger import witness_path

    witness = witness_path(reports)
    assert witness is not None
    witness_bytes = witness.read_bytes()
    append_run(reports, write_run(reports, 2), now=RECORDED)
    (reports / "ledger.head").write_bytes(head)
    witness.write_bytes(witness_bytes)

    skip = append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

    assert skip.seq == 4
    assert verify_ledger(reports).intact


def test_drill_evidence_adopt_refuses_a_truncated_ledger_with_one_line_and_exit_3(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 3)
    delete_last_run(reports, 2)
    write_run(reports, 7)

    result = subprocess.run(
        [*drill_command(), "evidence", "adopt", "--reports-dir", str(reports)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "refusing to append" in result.stderr
    assert not verify_ledger(reports).intact


def test_a_first_append_torn_by_a_crash_is_cut_and_the_ledger_starts(tmp_path: Path) -> None:
    # The very first append died mid-line: no head or witness exists yet to disagree.
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "ledger.jsonl").write_bytes(b'{"drill":"zone-failure","kind":"ru')

    skip = append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

    assert skip.seq == 1
    assert verify_ledger(reports).intact


def test_a_ledger_without_its_head_is_not_continued(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    (reports / "ledger.head").unlink()

    with pytest.raises(LedgerMismatch, match="is missing"):
        append_skip(reports, drill="zone-failure", reason="r", scheduled_for=UTC_ORIGIN)

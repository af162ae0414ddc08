"""Ed25519 signatures: a signed ledger verifies with its key, and with no other."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.evidence.ledger import read_ledger
from drillkit.evidence.verify import ProblemKind, verify_ledger
from drillkit.signing import generate_key_pair, load_signing_key, load_verify_key
from tests.evidence.conftest import forge_verdict, record_runs, record_skip


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "signing-key.pem"
    generate_key_pair(path)
    return path


def test_keygen_writes_a_private_key_only_its_owner_can_read_and_a_public_key(
    key_path: Path,
) -> None:
    public = key_path.with_name("signing-key.pem.pub")

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()
    assert b"BEGIN PUBLIC KEY" in public.read_bytes()
    assert load_verify_key(public).fingerprint == load_signing_key(key_path).fingerprint


def test_keygen_never_overwrites_a_key(key_path: Path) -> None:
    with pytest.raises(InvalidInput, match="already exists"):
        generate_key_pair(key_path)


def test_openssl_reads_the_keys(key_path: Path) -> None:
    # Auditors can check signatures without drillkit.
    result = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", f"{key_path}.pub", "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "ED25519" in result.stdout


def test_a_private_key_readable_by_others_is_refused(key_path: Path) -> None:
    os.chmod(key_path, 0o644)

    with pytest.raises(InvalidInput, match="chmod 600"):
        load_signing_key(key_path)


def test_a_file_that_is_not_a_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("not a key")
    path.chmod(0o600)

    with pytest.raises(InvalidInput, match=str(path)):
        load_signing_key(path)


def test_a_signed_ledger_verifies_with_its_key(tmp_path: Path, key_path: Path) -> None:
    key = load_signing_key(key_path)
    record_runs(tmp_path, 3, signing_key=key)
    record_skip(tmp_path, 4, signing_key=key)

    result = verify_ledger(tmp_path, verify_key=load_verify_key(Path(f"{key_path}.pub")))

    assert result.intact, [problem.message for problem in result.problems]
    assert all(line.entry and line.entry.sig for line in read_ledger(tmp_path))
    assert result.head is not None and result.head.sig is not None


def test_signature_verification_fails_with_a_different_key(tmp_path: Path, key_path: Path) -> None:
    record_runs(tmp_path, 2, signing_key=load_signing_key(key_path))
    other_path = tmp_path / "other" / "key.pem"
    other, _ = generate_key_pair(other_path)

    result = verify_ledger(tmp_path, verify_key=other.verify_key)

    assert not result.intact
    assert {problem.kind for problem in result.problems} == {ProblemKind.BAD_SIGNATURE}
    assert [problem.line for problem in result.problems if problem.line] == [1, 2]
    assert f"not by the given key {other.fingerprint}" in result.problems[0].message


def test_an_unsigned_ledger_fails_when_a_key_is_given(tmp_path: Path, key_path: Path) -> None:
    record_runs(tmp_path, 2)

    result = verify_ledger(tmp_path, verify_key=load_signing_key(key_path).verify_key)

    assert [problem.kind for problem in result.problems] == [ProblemKind.UNSIGNED]
    assert "ledger.head is not signed" in result.problems[0].message


def test_entries_from_before_signing_was_switched_on_may_be_unsigned(
    tmp_path: Path, key_path: Path
) -> None:
    key = load_signing_key(key_path)
    record_runs(tmp_path, 2)
    record_skip(tmp_path, 3, signing_key=key)
    record_skip(tmp_path, 4, signing_key=key)

    result = verify_ledger(tmp_path, verify_key=key.verify_key)

    assert result.intact, [problem.message for problem in result.problems]
    assert "ledger lines 1-2 are not signed" in result.notices[0]


def test_a_signature_stripped_from_a_later_entry_is_named(tmp_path: Path, key_path: Path) -> None:
    import json

    from drillkit.evidence.ledger import encode_canonical
    from tests.evidence.conftest import ledger_lines, write_ledger_lines

    key = load_signing_key(key_path)
    record_runs(tmp_path, 3, signing_key=key)
    lines = ledger_lines(tmp_path)
    stripped = json.loads(lines[1])
    del stripped["sig"]
    lines[1] = encode_canonical(stripped) + b"\n"
    write_ledger_lines(tmp_path, lines)

    result = verify_ledger(tmp_path, verify_key=key.verify_key)

    assert (ProblemKind.UNSIGNED, 2) in {(p.kind, p.line) for p in result.problems}


def test_a_recomputed_chain_fools_the_hashes_but_not_the_signatures(
    tmp_path: Path, key_path: Path
) -> None:
    key = load_signing_key(key_path)
    record_runs(tmp_path, 3, signing_key=key)
    # Run 2 missed its objective; someone makes it "met" and recomputes every digest.
    forge_verdict(tmp_path, line_index=1)

    unsigned_view = verify_ledger(tmp_path)
    signed_view = verify_ledger(tmp_path, verify_key=key.verify_key)

    assert unsigned_view.intact, "a chain alone cannot stop whoever recomputes it"
    named = {(problem.kind, problem.line) for problem in signed_view.problems}
    assert (ProblemKind.UNSIGNED, 2) in named
    assert (ProblemKind.BAD_SIGNATURE, 3) in named


def test_a_signed_entry_altered_after_signing_is_named(tmp_path: Path, key_path: Path) -> None:
    key = load_signing_key(key_path)
    record_runs(tmp_path, 2, signing_key=key)
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(ledger.read_bytes().replace(b'"verdict":"missed"', b'"verdict":"met"', 1))

    result = verify_ledger(tmp_path, verify_key=key.verify_key)

    assert any(
        problem.kind is ProblemKind.BAD_SIGNATURE
        and problem.line == 2
        and "altered after signing" in problem.message
        for problem in result.problems
    )

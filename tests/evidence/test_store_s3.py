"""The evidence store on a real MinIO with Object Lock: racing runners, locked entries,
forged entries, a runner killed mid-way, and signatures of several runners."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import boto3
import pytest

from drillkit.drivers.objectstore import Retention, RetentionMode, S3Store, StorageError
from drillkit.evidence.ledger import RunEntry, digest_bytes, encode_canonical
from drillkit.evidence.store import (
    EvidenceStore,
    entry_key,
    sync_ledger,
    verify_store,
    witness_file,
)
from drillkit.evidence.verify import ProblemKind, Verification
from drillkit.signing import SigningKey, generate_key_pair
from tests.evidence.conftest import record_runs

LOCK = Retention(mode=RetentionMode.COMPLIANCE, days=1)
ROOT = Path(__file__).resolve().parents[2]
RUNNERS = 4
RUNS_EACH = 25


def open_store(url: str) -> EvidenceStore:
    return EvidenceStore(url, retention=LOCK)


def messages(result: Verification) -> list[str]:
    return [problem.message for problem in result.problems]


def start_runner(arguments: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.evidence.store_runner", *arguments],
        cwd=ROOT,
        env={**os.environ, "DRILLKIT_HOME": str(home), "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_runners(runners: list[subprocess.Popen[str]]) -> None:
    """Kill (by PID) any runner still alive, and close every pipe."""
    for runner in runners:
        if runner.poll() is None:
            runner.kill()
        runner.wait()
        for stream in (runner.stdin, runner.stdout):
            if stream is not None:
                stream.close()


def read_word(stream: IO[str] | None) -> str:
    # A blocking read of one line: the child prints it, or exits and it is empty.
    assert stream is not None
    return stream.readline().strip()


def test_four_runners_appending_25_runs_each_at_once_make_one_chain_of_100(
    evidence_url: str, tmp_path: Path
) -> None:
    runners = [
        start_runner(
            ["append", evidence_url, str(tmp_path / f"runner-{n}" / "reports"), f"drill-{n}", "25"],
            tmp_path / f"runner-{n}" / "home",
        )
        for n in range(RUNNERS)
    ]
    for n in range(RUNNERS):
        (tmp_path / f"runner-{n}" / "reports").mkdir(parents=True, exist_ok=True)
    try:
        assert [read_word(runner.stdout) for runner in runners] == ["ready"] * RUNNERS
        for runner in runners:
            assert runner.stdin is not None
            runner.stdin.write("go\n")
            runner.stdin.flush()
        assert [read_word(runner.stdout) for runner in runners] == ["done"] * RUNNERS
        assert [runner.wait(timeout=120) for runner in runners] == [0] * RUNNERS
    finally:
        stop_runners(runners)

    store = open_store(evidence_url)
    entries = store.read_entries()
    result = verify_store(store)

    assert messages(result) == []
    assert sorted(entries.lines) == list(range(1, RUNNERS * RUNS_EACH + 1))
    assert all(not later for later in entries.later.values())
    runs = [line.entry for line in entries.lines.values() if isinstance(line.entry, RunEntry)]
    assert {run.runner for run in runs} == {f"drill-{n}" for n in range(RUNNERS)}
    for n in range(RUNNERS):
        # Each runner's entries keep its own order.
        origins = [run.origin.seq for run in runs if run.runner == f"drill-{n}" and run.origin]
        assert origins == list(range(1, RUNS_EACH + 1))
    assert result.entries == result.runs == RUNNERS * RUNS_EACH


def test_a_locked_entry_cannot_be_deleted_and_a_delete_marker_or_overwrite_is_reported(
    evidence_url: str, locked_bucket: S3Store, tmp_path: Path
) -> None:
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 3)
    store = open_store(evidence_url)
    sync_ledger(store, reports_dir, signing_key=None)
    raw = S3Store(locked_bucket.bucket, "fleet")
    first, *_ = raw.versions(entry_key(1))

    with pytest.raises(StorageError) as refused_delete:
        raw.delete_version(first.key, first.version_id)
    with pytest.raises(StorageError) as refused_overwrite:
        raw.put_new(entry_key(3), b"{}", retention=None)
    raw.delete(entry_key(2))
    raw.put_locked(entry_key(3), raw.get(entry_key(3)).replace(b'"run"', b'"run" '), retention=None)

    assert refused_delete.value.code in ("AccessDenied", "InvalidRequest")
    assert refused_overwrite.value.code in ("PreconditionFailed", "ConditionalRequestConflict")
    result = verify_store(store)
    assert messages(result) == [
        "entry 2 has a delete marker; its locked original is still there",
        "entry 3 was overwritten after it was written: 2 versions; it is judged on its original",
    ]
    assert [p.kind for p in result.problems] == [
        ProblemKind.DELETE_MARKER,
        ProblemKind.OVERWRITTEN,
    ]
    # The chain is judged on the originals, which are all there.
    assert result.entries == 3


def test_a_forged_entry_that_wins_a_number_with_a_wrong_predecessor_is_named(
    evidence_url: str, locked_bucket: S3Store, tmp_path: Path, s3_environment: str
) -> None:
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 3)
    store = open_store(evidence_url)
    sync_ledger(store, reports_dir, signing_key=None)
    raw = S3Store(locked_bucket.bucket, "fleet")
    forged = {
        "v": 1,
        "seq": 4,
        "kind": "skip",
        "prev": digest_bytes(raw.get(entry_key(2))),
        "recorded_utc": "2025-07-01T00:00:00Z",
        "drill": "zone-failure",
        "scheduled_for": "2025-07-01T00:00:00Z",
        "reason": "forged",
    }
    body = encode_canonical(forged)
    boto3.client("s3", endpoint_url=s3_environment).put_object(
        Bucket=locked_bucket.bucket,
        Key=f"fleet/{entry_key(4)}",
        Body=body,
        Metadata={"sha256": digest_bytes(body)},
        IfNoneMatch="*",
    )

    result = verify_store(store)

    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.kind is ProblemKind.LINE_ALTERED
    assert problem.line == 4
    assert problem.message.startswith("entry 4 does not link to entry 3: its prev is ")
    assert problem.message.endswith("it was forged")


def test_a_runner_killed_between_its_upload_and_its_entry_leaves_a_report_not_entered(
    evidence_url: str, tmp_path: Path
) -> None:
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 2)
    store = open_store(evidence_url)
    sync_ledger(store, reports_dir, signing_key=None)
    (tmp_path / "killed" / "reports").mkdir(parents=True)
    runner = start_runner(
        ["upload-and-block", evidence_url, str(tmp_path / "killed" / "reports")],
        tmp_path / "killed" / "home",
    )
    try:
        assert read_word(runner.stdout) == "uploaded"
        os.kill(runner.pid, signal.SIGKILL)
        assert runner.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_runners([runner])

    result = verify_store(store)

    assert messages(result) == []
    assert result.entries == 2
    not_entered = [notice for notice in result.notices if "not entered" in notice]
    assert len(not_entered) == 1
    assert not_entered[0].startswith("run killed/")


def test_entries_of_two_runners_verify_with_both_keys_and_one_key_names_the_other(
    evidence_url: str, tmp_path: Path
) -> None:
    keys: list[SigningKey] = []
    for name in ("a", "b"):
        key, _ = generate_key_pair(tmp_path / f"{name}.pem")
        keys.append(key)
        reports_dir = tmp_path / name / "reports"
        record_runs(reports_dir, 2, drills=(f"drill-{name}",))
        sync_ledger(open_store(evidence_url), reports_dir, signing_key=key)
    store = open_store(evidence_url)

    both = verify_store(store, verify_keys=[key.verify_key for key in keys])
    only_a = verify_store(store, verify_keys=[keys[0].verify_key])

    assert messages(both) == []
    assert both.entries == 4
    assert [(p.kind, p.line) for p in only_a.problems] == [
        (ProblemKind.BAD_SIGNATURE, 3),
        (ProblemKind.BAD_SIGNATURE, 4),
    ]
    assert f"is signed by key {keys[1].fingerprint}, not by the given key" in (
        only_a.problems[0].message
    )


def test_a_witness_that_saw_more_entries_than_the_store_holds_is_a_truncation(
    evidence_url: str, tmp_path: Path
) -> None:
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 2)
    store = open_store(evidence_url)
    sync_ledger(store, reports_dir, signing_key=None)
    witness = witness_file(store.url)
    head = json.loads(witness.read_bytes())
    witness.write_bytes(encode_canonical({**head, "seq": 5}) + b"\n")

    result = verify_store(store)

    assert [p.kind for p in result.problems] == [ProblemKind.TRUNCATED]
    assert messages(result)[0].startswith("the store ends at entry 2 but the witness ")
    assert messages(result)[0].endswith("records entry 5: its end is gone")

"""``drill evidence sync`` and ``drill run --evidence`` against a real MinIO with Object Lock,
and ``drill evidence verify --evidence`` over what they entered."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli, main
from drillkit.evidence.ledger import (
    FindingAction,
    FindingEntry,
    RunEntry,
    append_finding,
    read_ledger,
)
from drillkit.evidence.recording import record_run
from drillkit.evidence.store import EvidenceStore
from tests.evidence.conftest import flip_byte, run_id_of
from tests.helpers import drill_command, free_port
from tests.reporting.conftest import UTC_ORIGIN, make_record
from tests.running.test_drill_run import DRILLS, environment

LOCKED = ("--retention-mode", "compliance", "--retention-days", "1")


def record_local_runs(reports_dir: Path, count: int) -> list[Path]:
    """``count`` runs recorded as ``drill run`` records them: report, then ledger entry."""
    return [
        record_run(
            make_record(
                "met",
                run_id=run_id_of(index),
                drill="pod-kill",
                started_utc=UTC_ORIGIN + timedelta(days=index),
            ),
            reports_dir,
            signing_key=None,
        )
        for index in range(count)
    ]


def invoke(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(arguments), catch_exceptions=False)
    return result.exit_code, result.output


def test_sync_pushes_a_local_ledger_once_and_the_store_then_verifies_intact(
    evidence_url: str, tmp_path: Path
) -> None:
    reports_dir = tmp_path / "reports"
    record_local_runs(reports_dir, 3)
    sync = ("evidence", "sync", "--reports-dir", str(reports_dir), "--evidence", evidence_url)

    first_code, first = invoke(*sync, *LOCKED, "-o", "json")
    second_code, second = invoke(*sync, *LOCKED, "-o", "json")
    verify_code, verified = invoke("evidence", "verify", "--evidence", evidence_url, "-o", "json")

    assert (first_code, second_code, verify_code) == (0, 0, 0)
    assert json.loads(first)["pushed"] == [{"local_seq": n, "store_seq": n} for n in (1, 2, 3)]
    assert json.loads(second) == {"store": evidence_url, "pushed": [], "present": 3}
    document = json.loads(verified)
    assert (document["intact"], document["entries"], document["runs"]) == (True, 3, 3)
    assert document["ledger"] == f"{evidence_url}/ledger/"
    local = [line.digest for line in read_ledger(reports_dir)]
    stored = EvidenceStore(evidence_url).read_entries().lines.values()
    assert [line.entry.origin.digest for line in stored if line.entry and line.entry.origin] == (
        local
    )


def test_sync_refuses_a_local_ledger_that_does_not_verify(
    evidence_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports_dir = tmp_path / "reports"
    (run_dir,) = record_local_runs(reports_dir, 1)
    flip_byte(run_dir / "report.json", 10)

    with pytest.raises(SystemExit) as exited:
        main(["evidence", "sync", "--reports-dir", str(reports_dir), "--evidence", evidence_url])

    assert exited.value.code == 1
    output = capsys.readouterr()
    assert output.out == ""
    assert len(output.err.strip().splitlines()) == 1
    assert "does not verify" in output.err
    assert EvidenceStore(evidence_url).read_entries().lines == {}


def test_an_evidence_option_that_is_not_an_s3_url_is_refused_naming_it(tmp_path: Path) -> None:
    code, output = invoke("evidence", "verify", "--evidence", str(tmp_path))

    assert code == 2
    assert "--evidence" in output
    assert "expected s3://bucket/prefix" in output


def plain_run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = environment(tmp_path)
    for name in [name for name in env if name.lower().endswith("_proxy")]:
        del env[name]
    return subprocess.run(
        drill_command(
            "run",
            str(DRILLS / "no-cluster-experiment.json"),
            "--reports-dir",
            str(tmp_path / "reports"),
            *arguments,
        ),
        env={**env, "DRILLKIT_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_drill_run_with_an_evidence_store_enters_its_report_there(
    evidence_url: str, tmp_path: Path
) -> None:
    result = plain_run(tmp_path, "--evidence", evidence_url, *LOCKED)

    assert f"entered in the evidence store {evidence_url} as entry 1" in result.stderr
    (line,) = EvidenceStore(evidence_url).read_entries().lines.values()
    (local,) = read_ledger(tmp_path / "reports")
    assert isinstance(line.entry, RunEntry) and isinstance(local.entry, RunEntry)
    assert line.entry.report == local.entry.report
    assert line.entry.origin is not None and line.entry.origin.digest == local.digest
    assert line.entry.runner


def test_drill_run_keeps_its_local_report_when_the_store_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_environment: str
) -> None:
    # A loopback port with nothing listening.
    monkeypatch.setenv("DRILLKIT_S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")

    result = plain_run(tmp_path, "--evidence", "s3://nowhere/fleet", *LOCKED)

    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert "not in the evidence store s3://nowhere/fleet" in warnings[0]
    assert "drill evidence sync --evidence s3://nowhere/fleet" in warnings[0]
    (local,) = read_ledger(tmp_path / "reports")
    assert local.entry is not None
    assert os.path.isdir(tmp_path / "reports" / local.entry.report.dir)


def test_sync_carries_findings_as_it_carries_runs(evidence_url: str, tmp_path: Path) -> None:
    reports_dir = tmp_path / "reports"
    record_local_runs(reports_dir, 1)
    (run,) = [line.entry for line in read_ledger(reports_dir) if isinstance(line.entry, RunEntry)]
    opened = append_finding(
        reports_dir, finding=None, action=FindingAction.OPENED, service="shop",
        disruption="zone", text="missed: RTO 400 s exceeds the 5m objective", run=run,
    )  # fmt: skip

    code, _ = invoke(
        "evidence", "sync", "--reports-dir", str(reports_dir), "--evidence", evidence_url, *LOCKED
    )
    verify_code, verified = invoke("evidence", "verify", "--evidence", evidence_url, "-o", "json")

    assert (code, verify_code) == (0, 0)
    assert json.loads(verified)["entries"] == 2
    stored = [line.entry for line in EvidenceStore(evidence_url).read_entries().lines.values()]
    (finding,) = [entry for entry in stored if isinstance(entry, FindingEntry)]
    assert (finding.finding, finding.action, finding.service) == (opened.finding, "opened", "shop")
    assert finding.origin is not None and finding.origin.seq == opened.seq

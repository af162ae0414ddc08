"""Reading the evidence store as the reports directory is read, on a real MinIO: ``drill
evidence export`` and ``drill report list|show|trend`` with ``--evidence``, and the
witness every reader keeps of the newest entry it saw."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli, main
from drillkit.drivers.objectstore import S3Store
from drillkit.evidence.ledger import RunEntry, append_run, digest_bytes, read_ledger
from drillkit.evidence.store import EvidenceStore, entry_key, sync_ledger, verify_store
from drillkit.evidence.verify import ProblemKind
from tests.cli_schemas import assert_matches_schema
from tests.evidence.conftest import RECORDED, record_runs, record_skip, run_id_of, write_run
from tests.evidence.test_store_s3 import LOCK, open_store

PERIOD = ("--from", "2025-01-01", "--to", "2025-12-31")


def invoke(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(arguments), catch_exceptions=False)
    return result.exit_code, result.output


def fleet_of_two(evidence_url: str, tmp_path: Path) -> dict[str, Path]:
    """Two runners' local reports, each entered in the store: runner a with runs 0-2 of
    zone-failure and a skip, then runner b with runs 10 and 11 of pod-kill."""
    runners = {name: tmp_path / name / "reports" for name in ("a", "b")}
    record_runs(runners["a"], 3, drills=("zone-failure",))
    record_skip(runners["a"], 5)
    sync_ledger(open_store(evidence_url), runners["a"], signing_key=None)
    for index in (10, 11):
        append_run(runners["b"], write_run(runners["b"], index, drill="pod-kill"), now=RECORDED)
    sync_ledger(open_store(evidence_url), runners["b"], signing_key=None)
    return runners


def test_an_export_from_the_store_ships_every_runner_s_reports_byte_for_byte(
    evidence_url: str, tmp_path: Path
) -> None:
    runners = fleet_of_two(evidence_url, tmp_path)
    bundle = tmp_path / "fleet.zip"

    code, output = invoke(
        "evidence", "export", "--evidence", evidence_url, *PERIOD,
        "--output-file", str(bundle), "-o", "json",
    )  # fmt: skip

    assert code == 0, output
    document = assert_matches_schema("evidence-export", output)
    assert (document["runs"], document["skips"]) == (5, 1)
    head = open_store(evidence_url).read_entries().lines[6]
    assert document["head"] == f"6:{head.digest}"
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        for reports_dir in runners.values():
            for line in read_ledger(reports_dir):
                if not isinstance(line.entry, RunEntry):
                    continue
                directory = reports_dir / line.entry.report.dir
                for name in (*line.entry.report.files, "manifest.json"):
                    member = f"runs/{line.entry.report.dir}/{name}"
                    assert archive.read(member) == (directory / name).read_bytes()
        stored = [
            line.raw for _, line in sorted(open_store(evidence_url).read_entries().lines.items())
        ]
        assert archive.read("ledger.jsonl") == b"".join(raw + b"\n" for raw in stored)
        manifest = json.loads(archive.read("manifest.json"))
    assert "ledger.head" not in names
    assert manifest["ledger"]["head"] == document["head"]
    assert sum(1 for name in names if name.endswith("/report.json")) == 5


def test_an_export_from_the_store_refuses_a_report_object_that_fails_its_digest(
    tmp_path: Path, s3_environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    reports_dir = tmp_path / "reports"
    (run_dir,) = record_runs(reports_dir, 1)
    # A bucket without Object Lock, where a report object can be replaced by one whose
    # content is not what its stored SHA-256 says.
    plain = S3Store(f"unlocked-{uuid.uuid4().hex[:8]}", endpoint_url=s3_environment)
    plain.ensure_bucket()
    url = f"s3://{plain.bucket}/fleet"
    sync_ledger(EvidenceStore(url, retention=None), reports_dir, signing_key=None)
    key = f"fleet/reports/zone-failure/{run_dir.name}/report.html"
    boto3.client("s3", endpoint_url=s3_environment).put_object(
        Bucket=plain.bucket,
        Key=key,
        Body=b"<html>altered</html>",
        Metadata={"sha256": digest_bytes((run_dir / "report.html").read_bytes())},
    )
    bundle = tmp_path / "refused.zip"

    with pytest.raises(SystemExit) as exited:
        main(["evidence", "export", "--evidence", url, *PERIOD, "--output-file", str(bundle)])

    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert "nothing was exported" in error
    assert "report.html cannot be trusted" in error
    assert "does not match its digest" in error
    assert not bundle.exists()
    assert list(tmp_path.glob(".refused.zip.*")) == []


def test_report_list_shows_every_runner_s_entered_runs_from_the_store(
    evidence_url: str, tmp_path: Path
) -> None:
    fleet_of_two(evidence_url, tmp_path)

    code, output = invoke("report", "list", "--evidence", evidence_url, "-o", "json")
    pod_code, pod_output = invoke("report", "list", "pod-kill", "--evidence", evidence_url)

    assert code == pod_code == 0
    listed = assert_matches_schema("report-list", output)
    assert [(run["drill"], run["run_id"]) for run in listed] == [
        ("pod-kill", run_id_of(11)),
        ("pod-kill", run_id_of(10)),
        ("zone-failure", run_id_of(2)),
        ("zone-failure", run_id_of(1)),
        ("zone-failure", run_id_of(0)),
    ]
    assert listed[0]["report_dir"] == f"{evidence_url}/reports/pod-kill/{run_id_of(11)}"
    assert all(run["problem"] is None for run in listed)
    assert [line.split()[0] for line in pod_output.splitlines()[1:]] == [
        run_id_of(11),
        run_id_of(10),
    ]


def test_report_show_reads_a_run_s_report_from_the_store_checked_against_its_entry(
    evidence_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runners = fleet_of_two(evidence_url, tmp_path)
    newest = runners["b"] / "pod-kill" / run_id_of(11)
    older = runners["a"] / "zone-failure" / run_id_of(1)
    monkeypatch.setenv("DRILL_EVIDENCE", evidence_url)

    json_code, shown = invoke("report", "show", "latest", "-o", "json")
    text_code, text = invoke("report", "show", run_id_of(1))
    path_code, path = invoke("report", "show", run_id_of(10), "--path")

    assert (json_code, text_code, path_code) == (0, 0, 0)
    assert shown.rstrip() == (newest / "report.json").read_text().rstrip()
    assert text.startswith((older / "report.md").read_text().rstrip())
    assert f"(HTML: {evidence_url}/reports/zone-failure/{run_id_of(1)}/report.html)" in text
    assert path.strip() == f"{evidence_url}/reports/pod-kill/{run_id_of(10)}"


def test_report_trend_measures_the_runs_of_the_store(evidence_url: str, tmp_path: Path) -> None:
    fleet_of_two(evidence_url, tmp_path)
    page = tmp_path / "trend.html"

    code, output = invoke(
        "report", "trend", "--evidence", evidence_url, "--output-file", str(page), "-o", "json"
    )

    assert code == 0, output
    trends = {trend["drill"]: trend for trend in assert_matches_schema("report-trend", output)}
    assert {drill: trend["runs"] for drill, trend in trends.items()} == {
        "pod-kill": 2,
        "zone-failure": 3,
    }
    assert page.read_text().count("<svg") == 2


def test_a_reader_that_saw_the_end_finds_it_cut_off_by_deleting_the_newest_entries(
    s3_environment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without Object Lock (as after retention lapsed), entries can be deleted for good.
    plain = S3Store(f"unlocked-{uuid.uuid4().hex[:8]}", endpoint_url=s3_environment)
    plain.ensure_bucket()
    url = f"s3://{plain.bucket}/fleet"
    auditor_home, runner_home = tmp_path / "auditor-home", tmp_path / "runner-home"
    monkeypatch.setenv("DRILLKIT_HOME", str(runner_home))
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 5)
    sync_ledger(EvidenceStore(url, retention=None), reports_dir, signing_key=None)
    monkeypatch.setenv("DRILLKIT_HOME", str(auditor_home))
    seen = verify_store(EvidenceStore(url, retention=None))
    raw = S3Store(plain.bucket, "fleet", endpoint_url=s3_environment)
    for number in (4, 5):
        for version in raw.versions(entry_key(number)):
            raw.delete_version(version.key, version.version_id)

    cut = verify_store(EvidenceStore(url, retention=None))

    assert seen.intact and seen.head is not None and seen.head.seq == 5
    assert [problem.kind for problem in cut.problems] == [ProblemKind.TRUNCATED]
    assert cut.problems[0].message == (
        "the store ends at entry 3 but the witness "
        f"{auditor_home}/evidence/witness/{_witness_name(url)} records entry 5: its end is gone"
    )


def test_a_store_whose_end_was_never_seen_on_this_machine_is_noted_not_judged(
    evidence_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 2)
    sync_ledger(open_store(evidence_url), reports_dir, signing_key=None)
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path / "fresh-home"))

    first = verify_store(EvidenceStore(evidence_url, retention=LOCK))
    second = verify_store(EvidenceStore(evidence_url, retention=LOCK))

    assert first.intact and second.intact
    assert any("no witness of this store on this machine" in notice for notice in first.notices)
    assert not any("no witness" in notice for notice in second.notices)


def _witness_name(url: str) -> str:
    from drillkit.evidence.store import witness_file

    return witness_file(url).name

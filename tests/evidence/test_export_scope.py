"""A bundle ships exactly what the ledger recorded, from where the ledger says, and no more.

Export once copied whatever a run directory held (following links) from the directory
named by the run's ``report.json``; a link put beside a report carried the signing key
into the bundle, and a ``run_id`` of ``../..`` entered by ``adopt`` pulled files from
outside the reports tree under member names that escape the extraction directory.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.export import TamperingFound, export_bundle
from drillkit.evidence.ledger import adopt_runs, append_run, read_ledger
from drillkit.evidence.verify import ProblemKind, verify_ledger
from drillkit.signing import generate_key_pair
from tests.evidence.conftest import RECORDED, record_runs, write_run
from tests.reporting.conftest import UTC_ORIGIN

START = UTC_ORIGIN.replace(hour=0)


def export(reports: Path, output: Path) -> zipfile.ZipFile:
    export_bundle(
        reports,
        output,
        start=START,
        end=START + timedelta(days=30),
        catalogue=load_catalogue(),
        now=RECORDED,
    )
    return zipfile.ZipFile(output)


def rewrite_report(run_dir: Path, **changes: str) -> None:
    """Change fields of report.json and update its manifest, as a forger would."""
    report = json.loads((run_dir / "report.json").read_text())
    report.update(changes)
    (run_dir / "report.json").write_text(json.dumps(report))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["files"]["report.json"] = hashlib.sha256(
        (run_dir / "report.json").read_bytes()
    ).hexdigest()
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def test_a_link_to_the_signing_key_put_in_a_run_directory_never_reaches_a_bundle(
    tmp_path: Path,
) -> None:
    key_path = tmp_path / "signing-key.pem"
    generate_key_pair(key_path)
    reports = tmp_path / "reports"
    run_dir = record_runs(reports, 2)[1]
    (run_dir / "notes.pem").symlink_to(key_path)

    result = verify_ledger(reports)
    assert [(problem.kind, problem.file) for problem in result.problems] == [
        (ProblemKind.FILE_ADDED, "notes.pem")
    ]
    with pytest.raises(TamperingFound, match=r"notes\.pem"):
        export(reports, tmp_path / "bundle.zip")
    assert not (tmp_path / "bundle.zip").exists()


def test_a_file_added_after_the_entry_is_a_problem_not_a_note(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = record_runs(reports, 1)[0]
    (run_dir / "extra.txt").write_text("added later")

    result = verify_ledger(reports)

    assert [(problem.kind, problem.file) for problem in result.problems] == [
        (ProblemKind.FILE_ADDED, "extra.txt")
    ]


def test_a_run_directory_holding_a_link_is_not_entered(tmp_path: Path) -> None:
    key_path = tmp_path / "signing-key.pem"
    generate_key_pair(key_path)
    reports = tmp_path / "reports"
    run_dir = write_run(reports, 0)
    (run_dir / "notes.pem").symlink_to(key_path)

    with pytest.raises(InvalidInput, match=r"notes\.pem is a symbolic link"):
        append_run(reports, run_dir)

    assert read_ledger(reports) == []


@pytest.mark.parametrize("run_id", ["../../outside", "/etc", "20250301-090000-000999"])
def test_adopt_refuses_a_report_whose_run_id_does_not_name_its_directory(
    tmp_path: Path, run_id: str
) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 1)
    run_dir = write_run(reports, 3)
    rewrite_report(run_dir, run_id=run_id)

    with pytest.raises(InvalidInput, match="do not name its directory"):
        adopt_runs(reports)

    assert len(read_ledger(reports)) == 1


def test_a_bundle_holds_exactly_the_files_each_entry_records_under_safe_names(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 3)
    # A hidden file is not part of a report and is not entered, nor exported.
    hidden = next(reports.glob("*/*")) / ".cache"
    hidden.write_text("not evidence")

    bundle = export(reports, tmp_path / "bundle.zip")

    expected = set()
    for line in read_ledger(reports):
        entry = line.entry
        assert entry is not None and entry.kind == "run"
        names = {"manifest.json", *entry.report.files}
        expected |= {f"runs/{entry.report.dir}/{name}" for name in names}
    members = {name for name in bundle.namelist() if name.startswith("runs/")}
    assert members == expected
    for name in bundle.namelist():
        assert not name.startswith("/") and ".." not in name.split("/"), name

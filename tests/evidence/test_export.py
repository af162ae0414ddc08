"""The evidence bundle: what an auditor receives for a period, and that it checks out."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from drillkit.errors import InvalidInput
from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.export import CSV_COLUMNS, BundleManifest, TamperingFound, export_bundle
from drillkit.evidence.ledger import GENESIS, parse_ledger, read_ledger
from drillkit.evidence.sources import LocalEvidence
from drillkit.signing import generate_key_pair
from tests.evidence.conftest import RECORDED, flip_byte, record_runs, record_skip
from tests.reporting.conftest import UTC_ORIGIN

START = UTC_ORIGIN.replace(hour=0)
"""2025-03-01 00:00 UTC: run ``i`` started at 09:00 on day ``i`` after it."""


def export(
    reports_dir: Path, output: Path, first_day: int, last_day: int, **options: object
) -> zipfile.ZipFile:
    export_bundle(
        reports_dir,
        output,
        start=START + timedelta(days=first_day),
        end=START + timedelta(days=last_day + 1),
        catalogue=options.pop("catalogue", load_catalogue()),  # type: ignore[arg-type]
        now=RECORDED,
        **options,  # type: ignore[arg-type]
    )
    return zipfile.ZipFile(output)


def read_csv(bundle: zipfile.ZipFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(bundle.read("index.csv").decode("utf-8"))))


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Eight runs on days 0-7 (zone-failure on even days, pod-kill on odd) and a skip."""
    reports_dir = tmp_path / "reports"
    record_runs(reports_dir, 8)
    record_skip(reports_dir, 2)
    return reports_dir


def test_the_bundle_holds_the_index_the_runs_of_the_period_the_ledger_and_a_manifest(
    reports: Path, tmp_path: Path
) -> None:
    bundle = export(reports, tmp_path / "q1.zip", 2, 5)

    names = bundle.namelist()
    assert names[:3] == ["index.html", "index.csv", "manifest.json"]
    runs = sorted({"/".join(name.split("/")[1:3]) for name in names if name.startswith("runs/")})
    assert runs == [
        "pod-kill/20250304-090000-000003",
        "pod-kill/20250306-090000-000005",
        "zone-failure/20250303-090000-000002",
        "zone-failure/20250305-090000-000004",
    ]
    assert "ledger.jsonl" in names and "ledger.head" in names
    assert bundle.testzip() is None


def test_index_csv_has_one_row_per_run_with_what_an_auditor_asks(
    reports: Path, tmp_path: Path
) -> None:
    rows = read_csv(export(reports, tmp_path / "q1.zip", 0, 7))

    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == 8
    first = rows[0]
    assert first["date_utc"] == "2025-03-01T09:00:00.000Z"
    assert (first["drill"], first["strategy"], first["verdict"]) == (
        "zone-failure",
        "active-active",
        "met",
    )
    assert (first["rto_target_seconds"], first["rto_actual_seconds"], first["rto_bound"]) == (
        "30",
        "20",
        "exact",
    )
    assert "namespaces shop" in first["scope"]
    assert (first["operator"], first["approver"]) == ("alice@example.com", "bob@example.com")
    assert first["controls"] == "ISO27001-A.5.30 SOC2-A1.3"
    assert first["findings"].startswith("RTO 20 s met the 30 s objective")
    assert rows[1]["verdict"] == "missed"
    markers = rows[2]
    assert (markers["rpo_target_seconds"], markers["rpo_actual_seconds"]) == ("5", "4")
    assert rows[3]["rto_bound"] == "lower"


def test_every_file_of_the_bundle_matches_its_manifest(reports: Path, tmp_path: Path) -> None:
    bundle = export(reports, tmp_path / "q1.zip", 0, 7)

    manifest = json.loads(bundle.read("manifest.json"))
    members = set(bundle.namelist()) - {"manifest.json"}

    assert set(manifest["files"]) == members
    for name in members:
        assert hashlib.sha256(bundle.read(name)).hexdigest() == manifest["files"][name]
    assert manifest["period"] == {
        "from": "2025-03-01T00:00:00.000Z",
        "to": "2025-03-09T00:00:00.000Z",
    }
    assert manifest["ledger"]["head"].startswith("9:")


def test_the_manifest_bytes_stay_those_earlier_versions_wrote(
    reports: Path, tmp_path: Path
) -> None:
    # A signature covers these bytes: their layout must not change by one byte.
    bundle = export(reports, tmp_path / "q1.zip", 0, 7)

    manifest = json.loads(bundle.read("manifest.json"))
    files = ",\n".join(f'    "{name}": "{digest}"' for name, digest in manifest["files"].items())
    ledger = manifest["ledger"]
    expected = (
        "{\n"
        '  "controls": [],\n'
        '  "files": {\n' + files + "\n  },\n"
        '  "format": "drillkit-evidence-bundle",\n'
        '  "gamedays": 0,\n'
        f'  "generated_utc": "{manifest["generated_utc"]}",\n'
        '  "ledger": {\n'
        f'    "head": "{ledger["head"]}",\n'
        '    "slice": {\n'
        '      "first_line": 1,\n'
        f'      "last_line": {ledger["slice"]["last_line"]}\n'
        "    },\n"
        '    "verified": {\n'
        f'      "entries": {ledger["verified"]["entries"]},\n'
        '      "problems": 0,\n'
        f'      "runs_checked": {ledger["verified"]["runs_checked"]}\n'
        "    }\n"
        "  },\n"
        '  "period": {\n'
        '    "from": "2025-03-01T00:00:00.000Z",\n'
        '    "to": "2025-03-09T00:00:00.000Z"\n'
        "  },\n"
        '  "runs": 8,\n'
        '  "signed_by": null,\n'
        f'  "skips": {manifest["skips"]},\n'
        f'  "tool_version": "{manifest["tool_version"]}",\n'
        '  "version": 1\n'
        "}\n"
    )
    assert bundle.read("manifest.json") == expected.encode("utf-8")
    assert list(manifest["files"]) == sorted(manifest["files"])
    read_back = BundleManifest.model_validate_json(bundle.read("manifest.json"))
    assert read_back.period.start == "2025-03-01T00:00:00.000Z"
    assert read_back.files == manifest["files"]


def test_the_ledger_slice_is_contiguous_and_chains_to_the_run_files(
    reports: Path, tmp_path: Path
) -> None:
    bundle = export(reports, tmp_path / "q1.zip", 3, 5)

    lines = parse_ledger(bundle.read("ledger.jsonl"))
    entries = [line.entry for line in lines]
    assert all(entry is not None for entry in entries)
    # Runs 3-5 are entries 4-6; entry 3 comes first, as the anchor of entry 4's link.
    assert [entry.seq for entry in entries if entry] == [3, 4, 5, 6]
    for before, after in itertools.pairwise(lines):
        assert after.entry is not None and after.entry.prev == before.digest
    for entry in entries[1:]:
        assert entry is not None and entry.kind == "run"
        for name, digest in entry.report.files.items():
            data = bundle.read(f"runs/{entry.report.dir}/{name}")
            assert hashlib.sha256(data).hexdigest() == digest


def test_a_ledger_slice_from_the_start_begins_at_the_genesis(reports: Path, tmp_path: Path) -> None:
    bundle = export(reports, tmp_path / "q1.zip", 0, 1)

    first = parse_ledger(bundle.read("ledger.jsonl"))[0].entry
    assert first is not None and (first.seq, first.prev) == (1, GENESIS)


def test_skips_of_the_period_are_listed(reports: Path, tmp_path: Path) -> None:
    bundle = export(reports, tmp_path / "q1.zip", 0, 7)

    page = bundle.read("index.html").decode()
    assert "weekly-zone-failure" in page
    assert "change freeze" in page


def test_a_control_filter_keeps_the_runs_that_are_evidence_for_it(
    reports: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "controls.yaml"
    extra.write_text(
        "controls:\n"
        "  - id: DORA-11.6\n"
        "    framework: EU DORA\n"
        "    reference: Art. 11(6)\n"
        "    title: Testing of ICT business continuity plans\n"
        "    aliases: [SOC2-A1.3]\n"
    )
    catalogue = load_catalogue([extra])

    by_alias = read_csv(export(reports, tmp_path / "a.zip", 0, 7, controls=["a1.3"]))
    user_control = export(
        reports, tmp_path / "b.zip", 0, 7, controls=["DORA-11.6"], catalogue=catalogue
    )

    assert len(by_alias) == 8
    assert len(read_csv(user_control)) == 8
    assert "Testing of ICT business continuity plans" in user_control.read("index.html").decode()


def test_the_index_quotes_what_a_control_requires_beside_what_the_runs_show(
    reports: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "controls.yaml"
    extra.write_text(
        "controls:\n"
        "  - id: ACME-DR-2\n"
        "    framework: ACME resilience policy\n"
        "    reference: DR-2\n"
        "    title: Tier-1 services survive a zone loss\n"
        '    requirement: "Recover from a zone loss within 15 minutes & report it."\n'
        "    evidence: The run drained a zone.\n"
        "    aliases: [SOC2-A1.3]\n"
    )

    bundle = export(reports, tmp_path / "a.zip", 0, 7, catalogue=load_catalogue([extra]))

    page = bundle.read("index.html").decode()
    assert (
        '<blockquote class="requirement">Recover from a zone loss within 15 minutes '
        "&amp; report it.</blockquote>"
    ) in page


def test_an_unknown_control_is_refused_naming_the_catalogue(reports: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"unknown control 'PCI-12\.10'.*SOC2-A1\.3"):
        export(reports, tmp_path / "a.zip", 0, 7, controls=["PCI-12.10"])


def test_a_broken_catalogue_file_is_named_with_its_field(tmp_path: Path) -> None:
    extra = tmp_path / "controls.yaml"
    extra.write_text("controls:\n  - id: X\n    framework: F\n    reference: R\n")

    with pytest.raises(
        InvalidInput,
        match=r"controls.yaml:2:5: controls\[0\].title: missing required field 'title'",
    ):
        load_catalogue([extra])


def test_nothing_is_exported_from_evidence_that_does_not_verify(
    reports: Path, tmp_path: Path
) -> None:
    run_dir = next((reports / "pod-kill").iterdir())
    flip_byte(run_dir / "report.json", 50)
    output = tmp_path / "q1.zip"

    with pytest.raises(TamperingFound, match=r"report\.json was altered") as raised:
        export(reports, output, 0, 7)

    assert raised.value.exit_code == 1
    assert not output.exists()
    assert list(tmp_path.glob(".q1.zip*")) == []


def test_a_signed_bundle_carries_a_manifest_signature_by_the_key(
    reports: Path, tmp_path: Path
) -> None:
    key, _ = generate_key_pair(tmp_path / "key.pem")

    bundle = export(reports, tmp_path / "q1.zip", 0, 7, signing_key=key)

    signature = json.loads(bundle.read("manifest.sig"))
    assert signature["key"] == key.fingerprint
    assert key.verify_key.verify(signature["ed25519"], bundle.read("manifest.json"))
    other, _ = generate_key_pair(tmp_path / "other.pem")
    assert not other.verify_key.verify(signature["ed25519"], bundle.read("manifest.json"))


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_defused(
    tmp_path: Path,
) -> None:
    from drillkit.evidence.export import IndexRow, render_index_csv

    row = IndexRow(
        date_utc="2025-03-01T09:00:00.000Z",
        drill="d",
        run_id="r",
        scope='=HYPERLINK("http://x")',
        strategy="active-active",
        rto_target="",
        rto_actual="",
        rto_target_seconds=None,
        rto_actual_seconds=0.25,
        rto_bound="exact",
        rpo_target="",
        rpo_actual="",
        rpo_target_seconds=None,
        rpo_actual_seconds=None,
        rpo_bound="",
        verdict="met",
        findings=("+1 finding",),
        operator="@ops",
        approver="-",
        controls=(),
        ledger_entry=1,
        report="runs/d/r/report.html",
        adopted=False,
    )

    parsed = next(csv.DictReader(io.StringIO(render_index_csv([row]))))

    assert parsed["scope"] == '\'=HYPERLINK("http://x")'
    assert (parsed["findings"], parsed["operator"], parsed["approver"]) == (
        "'+1 finding",
        "'@ops",
        "'-",
    )
    assert parsed["rto_actual_seconds"] == "0.25"


def test_the_same_export_twice_gives_the_same_bytes(reports: Path, tmp_path: Path) -> None:
    export(reports, tmp_path / "a.zip", 0, 7)
    export(reports, tmp_path / "b.zip", 0, 7)

    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_an_empty_or_inverted_period_is_refused(reports: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="start before its end"):
        export_bundle(
            reports,
            tmp_path / "x.zip",
            start=datetime(2025, 3, 2, tzinfo=UTC),
            end=datetime(2025, 3, 1, tzinfo=UTC),
            catalogue=load_catalogue(),
        )


def test_index_html_renders_in_headless_chromium(reports: Path, tmp_path: Path) -> None:
    bundle = export(reports, tmp_path / "q1.zip", 0, 7)
    bundle.extractall(tmp_path / "unpacked")
    page = tmp_path / "unpacked" / "index.html"
    base = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1400,1600",
    ]

    dom = subprocess.run(
        [*base, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    png = tmp_path / "index.png"
    subprocess.run(
        [
            *base,
            f"--user-data-dir={tmp_path / 'profile-shot'}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )

    # The browser parsed every run into the table.
    assert dom.count('<span class="verdict verdict-') >= 8
    assert "20250308-090000-000007" in dom
    # And drew it: the green of "met" verdicts and dark text are on the screen.
    picture = np.asarray(image.imread(png))[:, :, :3]
    met_green = np.array([0x1A, 0x7F, 0x37]) / 255
    assert int((np.abs(picture - met_green).max(axis=2) < 0.06).sum()) > 200
    assert int((picture.max(axis=2) < 0.2).sum()) > 5000


def test_the_entries_read_after_a_verification_are_the_ones_it_verified(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 2)
    source = LocalEvidence(reports)
    assert source.read_lines() == read_ledger(reports)

    assert source.verify(since=None, keys=(), anchors=()).intact
    record_skip(reports, 5)

    assert [line.raw for line in source.read_lines()] == [
        line.raw for line in read_ledger(reports)[:2]
    ]

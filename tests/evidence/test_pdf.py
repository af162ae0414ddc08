"""PDFs as a person sees them: poppler's pdftoppm renders the pages to PNG and the pictures
are checked for what must be visible (the verdict badge, the chart, the index table)."""

from __future__ import annotations

import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from matplotlib import image

from drillkit.cli.main import cli
from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.export import export_bundle
from drillkit.reporting.human import render_html
from drillkit.reporting.pdf import render_pdf
from tests.evidence.conftest import RECORDED, record_runs
from tests.reporting.conftest import UTC_ORIGIN, make_record

MET_GREEN = np.array([0x1A, 0x7F, 0x37]) / 255
MISSED_RED = np.array([0xCF, 0x22, 0x2E]) / 255
CONDITION_BLUE = np.array([0x1F, 0x4E, 0x9C]) / 255


def render_pages(pdf: Path, directory: Path) -> list[np.ndarray]:
    """Every page of ``pdf`` as an RGB picture, at 60 dpi."""
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(pdf), str(directory / "page")],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pages = sorted(directory.glob("page-*.png"))
    return [np.asarray(image.imread(page))[:, :, :3] for page in pages]


def pixels_of(picture: np.ndarray, colour: np.ndarray) -> int:
    return int((np.abs(picture - colour).max(axis=2) < 0.08).sum())


def text_of(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_a_run_report_pdf_shows_the_verdict_first_and_the_chart(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(render_html(make_record("met")), title="zone-failure run"))

    pages = render_pages(pdf, tmp_path)

    assert pdf.read_bytes().startswith(b"%PDF-")
    assert len(pages) >= 2
    # The green MET badge is on the first page, big enough to see.
    assert pixels_of(pages[0], MET_GREEN) > 800
    # The recovery-condition line of the chart is drawn on some page.
    assert max(pixels_of(page, CONDITION_BLUE) for page in pages) > 150
    text = text_of(pdf)
    assert "Drill report: zone-failure" in text
    assert "page 1 of" in text


def test_a_missed_run_shows_a_red_badge(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(render_html(make_record("missed"))))

    first = render_pages(pdf, tmp_path)[0]

    # The green left of informational findings is a thin border; the badge is red.
    assert pixels_of(first, MISSED_RED) > 800
    assert pixels_of(first, MISSED_RED) > 5 * pixels_of(first, MET_GREEN)


def test_the_bundle_index_pdf_lists_every_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 6)
    output = tmp_path / "bundle.zip"
    export_bundle(
        reports,
        output,
        start=UTC_ORIGIN - timedelta(hours=9),
        end=UTC_ORIGIN + timedelta(days=10),
        catalogue=load_catalogue(),
        include_pdf=True,
        now=RECORDED,
    )
    pdf = tmp_path / "index.pdf"
    pdf.write_bytes(zipfile.ZipFile(output).read("index.pdf"))

    pages = render_pages(pdf, tmp_path)
    text = text_of(pdf)

    assert pages and all(page.shape[1] > page.shape[0] for page in pages), "A4 landscape"
    assert sum(pixels_of(page, MET_GREEN) for page in pages) > 30
    assert "Disaster-recovery test evidence" in text
    # Run ids may wrap inside their narrow column; each run's start day does not.
    for day in range(1, 7):
        assert f"2025-03-0{day}" in text
    assert text.count("MET") + text.count("MISSED") + text.count("ABORTED") >= 6


def test_drill_report_pdf_writes_the_pdf_of_a_run_outside_its_report_directory(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    (run_dir,) = record_runs(reports, 1)
    target = tmp_path / "out" / "run.pdf"

    result = CliRunner().invoke(
        cli, ["report", "pdf", run_dir.name, "--reports-dir", str(reports), "-o", str(target)]
    )

    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"%PDF-")
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "journal.json",
        "manifest.json",
        "report.html",
        "report.json",
        "report.md",
        "timeline.jsonl",
    ]

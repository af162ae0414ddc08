"""PDFs as a person sees them: poppler's pdftoppm renders the pages to PNG and the pictures
are checked for what must be visible (the verdict badge, the chart, the index table)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from matplotlib import image

from drillkit.cli.main import cli
from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.export import export_bundle
from drillkit.evidence.ledger import append_run
from drillkit.reporting.human import render_html
from drillkit.reporting.pdf import render_pdf
from drillkit.reporting.trend import TrendPoint, measure_trend, render_trend_html
from tests.evidence.conftest import RECORDED, record_runs, write_run
from tests.reporting.conftest import UTC_ORIGIN, make_record
from tests.reporting.pictures import pdf_page_width, pdf_words

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


def exported_index(reports: Path, tmp_path: Path, name: str) -> Path:
    """The bundle index ``name`` (``index.html`` or ``index.pdf``) of every run in ``reports``."""
    output = tmp_path / "bundle.zip"
    export_bundle(
        reports,
        output,
        start=UTC_ORIGIN - timedelta(hours=9),
        end=UTC_ORIGIN + timedelta(days=10),
        catalogue=load_catalogue(),
        include_pdf=name.endswith(".pdf"),
        now=RECORDED,
    )
    index = tmp_path / name
    index.write_bytes(zipfile.ZipFile(output).read(name))
    return index


def test_the_bundle_index_pdf_lists_every_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 6)
    pdf = exported_index(reports, tmp_path, "index.pdf")

    pages = render_pages(pdf, tmp_path)
    text = text_of(pdf)

    assert pages and all(page.shape[1] > page.shape[0] for page in pages), "A4 landscape"
    assert sum(pixels_of(page, MET_GREEN) for page in pages) > 30
    assert "Disaster-recovery test evidence" in text
    # No run's start day or run id is broken across lines, whatever its column's width.
    for day in range(1, 7):
        assert f"2025-03-0{day}" in text
        assert f"2025030{day}-090000-00000{day - 1}" in text
    assert text.count("MET") + text.count("MISSED") + text.count("ABORTED") >= 6


def bundle_index_html(tmp_path: Path) -> Path:
    """The index page of a bundle of six runs, as the PDF renders it."""
    reports = tmp_path / "reports"
    record_runs(reports, 6)
    return exported_index(reports, tmp_path, "index.html")


def fontconfig_whose_fallback_is(tmp_path: Path, family: str, fonts: list[Path]) -> Path:
    """A fontconfig file knowing only ``fonts``, where any family it lacks (system-ui,
    Arial, sans-serif, monospace ...) becomes ``family``: another machine's defaults."""
    directory = tmp_path / "fonts"
    directory.mkdir()
    for font in fonts:
        (directory / font.name).symlink_to(font)
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{directory}</dir><cachedir>{tmp_path / 'cache'}</cachedir>"
        '<match target="pattern"><edit name="family" mode="append_last">'
        f"<string>{family}</string></edit></match></fontconfig>\n"
    )
    return config


def render_with_fonts(page: Path, pdf: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """``render_pdf`` of ``page`` in a process whose fontconfig is ``config``."""
    script = (
        "import sys; from pathlib import Path\n"
        "from drillkit.reporting.pdf import render_pdf\n"
        "Path(sys.argv[2]).write_bytes(render_pdf(Path(sys.argv[1]).read_text()))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(page), str(pdf)],
        env=dict(os.environ, FONTCONFIG_FILE=str(config)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def fonts_of(pdf: Path) -> set[str]:
    """The families embedded in ``pdf``, without the subset prefix (ABCDEF+)."""
    listing = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    return {line.split()[0].partition("+")[2] for line in listing}


DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def test_the_pdf_names_its_fonts_and_breaks_no_token_where_the_fallback_font_differs(
    tmp_path: Path,
) -> None:
    page = bundle_index_html(tmp_path)
    # A wider fallback than the named font: where it was used, dates split mid-token.
    config = fontconfig_whose_fallback_is(tmp_path, "DejaVu Serif", sorted(DEJAVU.glob("*.ttf")))
    pdf = tmp_path / "index.pdf"

    rendered = render_with_fonts(page, pdf, config)

    assert rendered.returncode == 0, rendered.stderr
    assert fonts_of(pdf) <= {"DejaVu-Sans", "DejaVu-Sans-Bold", "DejaVu-Sans-Mono"}
    text = text_of(pdf)
    for day in range(1, 7):
        assert f"2025-03-0{day}" in text
        assert f"2025030{day}-090000-00000{day - 1}" in text


def test_without_the_named_fonts_the_pdf_is_refused_naming_the_debian_package(
    tmp_path: Path,
) -> None:
    page = bundle_index_html(tmp_path)
    config = fontconfig_whose_fallback_is(
        tmp_path, "DejaVu Serif", sorted(DEJAVU.glob("DejaVuSerif*.ttf"))
    )
    pdf = tmp_path / "index.pdf"

    rendered = render_with_fonts(page, pdf, config)

    assert rendered.returncode != 0
    assert "DejaVu Sans" in rendered.stderr
    assert "fonts-dejavu-core" in rendered.stderr
    assert not pdf.exists()


def test_drill_report_pdf_writes_the_pdf_of_a_run_outside_its_report_directory(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    (run_dir,) = record_runs(reports, 1)
    target = tmp_path / "out" / "run.pdf"

    result = CliRunner().invoke(
        cli,
        [
            "report",
            "pdf",
            run_dir.name,
            "--reports-dir",
            str(reports),
            "--output-file",
            str(target),
        ],
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


# The pages' print rules: @page margins of 14 mm (run report, trend page).
MARGIN_POINTS = 14 / 25.4 * 72


def test_the_trend_pdf_fits_every_column_within_the_page(tmp_path: Path) -> None:
    verdicts = ("met", "met", "error", "met", "inconclusive")
    points = [
        TrendPoint(
            run_id=f"20250301-090000-{day:04x}",
            started_utc=UTC_ORIGIN + timedelta(days=day),
            verdict=verdict,
            rto_seconds=None if verdict == "error" else 0.1 + day,
            rto_bound=None if verdict == "error" else "exact",
            rto_objective=900.0,
            disruption_observed=verdict != "error",
        )
        for day, verdict in enumerate(verdicts)
    ]
    trends = [measure_trend("zone-failure-in-the-second-region", points)]
    pdf = tmp_path / "trend.pdf"
    pdf.write_bytes(render_pdf(render_trend_html(trends, generated=RECORDED)))

    right_edge = pdf_page_width(pdf) - MARGIN_POINTS
    beyond = [text for _, box, text in pdf_words(pdf) if box.right > right_edge + 0.5]

    assert not beyond, f"cut off at the right edge of the page: {beyond}"
    assert "INCONCLUSIVE" in text_of(pdf)


def test_no_word_of_the_bundle_index_pdf_overlaps_another(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record_runs(reports, 4)
    # The longest verdict, in the narrow verdict column, beside a finding.
    inconclusive = write_run(reports, 4, variant="never-injected")
    append_run(reports, inconclusive, now=RECORDED)
    pdf = exported_index(reports, tmp_path, "index.pdf")

    words = pdf_words(pdf)
    overlapping = [
        (first, second)
        for index, (page, box, first) in enumerate(words)
        for other_page, other_box, second in words[index + 1 :]
        # Touching boxes are fine; shared area beyond a hair's breadth is text on text.
        if page == other_page and box.intersects(other_box.shrunk(0.3))
    ]

    assert "INCONCLUSIVE" in [text for _, _, text in words]
    assert not overlapping, f"words drawn over each other: {overlapping}"

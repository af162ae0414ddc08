"""``drill readiness --output-file``: the readiness page as Chromium draws it, and its PDF.

The runs are written by the report writer, entered in a real ledger and judged by the
findings code, as ``drill run`` does for a drill that proves a service promise.
"""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.model.run import Promise, SourceFile
from tests.evidence.conftest import enter_proving_run
from tests.evidence.test_pdf import render_pages, text_of
from tests.reporting.conftest import Variant
from tests.reporting.pictures import colour_mask, count_blobs, pixels_of, screenshot

RTO_BLUE = np.array([0x1F, 0x4E, 0x9C]) / 255
OBJECTIVE_ORANGE = np.array([0xE8, 0x59, 0x0C]) / 255


def write_service(tmp_path: Path) -> Path:
    """services/shop.yaml: pod and zone promised within 30 s, node never proven."""
    services = tmp_path / "services"
    services.mkdir()
    (services / "shop.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "shop",
                "owners": ["platform-team"],
                "workloads": [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
                "objectives": {
                    "zone": {"rto": "30s", "prove_every": "90d"},
                    "pod": {"rto": "30s", "prove_every": "30d"},
                    "node": {"rto": "30s", "prove_every": "90d"},
                },
            },
            sort_keys=False,
        )
    )
    return services / "shop.yaml"


def prove(
    reports_dir: Path, service_file: Path, day: int, disruption: str, variant: Variant
) -> None:
    """A run on ``day`` proving shop's ``disruption`` promise, entered and judged."""
    promise = Promise(
        service="shop",
        disruption=disruption,
        owners=("platform-team",),
        rto=timedelta(seconds=30),
        rpo=None,
        prove_every=timedelta(days=90 if disruption == "zone" else 30),
        service_file=SourceFile.read(service_file),
    )
    enter_proving_run(reports_dir, promise, day, variant)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Zone met on days 0, 2 and 4 (a miss on day 1 opened a finding, day 2 closed it);
    pod missed on day 3, its finding still open; node never proven."""
    service_file = write_service(tmp_path)
    reports_dir = tmp_path / "reports"
    for day, disruption, variant in [
        (0, "zone", "met"),
        (1, "zone", "missed"),
        (2, "zone", "met"),
        (3, "pod", "missed"),
        (4, "zone", "met"),
    ]:
        prove(reports_dir, service_file, day, disruption, variant)  # type: ignore[arg-type]
    return tmp_path


def readiness_page(project: Path, name: str) -> tuple[Path, str]:
    """``drill readiness shop --output-file NAME``: the page and what was printed."""
    page = project / name
    result = CliRunner().invoke(
        cli,
        [
            "readiness", "shop", "--at", "2025-03-10",
            "--services-dir", str(project / "services"),
            "--reports-dir", str(project / "reports"),
            "--output-file", str(page),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return page, result.output


def rendered_text(page: Path, profile: Path) -> str:
    """The page's text after Chromium parsed and laid it out (its DOM, tags removed)."""
    dom = subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={profile}", "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_the_readiness_page_shows_the_score_each_deduction_and_a_chart_per_proven_disruption(
    project: Path, tmp_path: Path
) -> None:
    page, printed = readiness_page(project, "readiness.html")

    deductions = [line.strip() for line in printed.splitlines() if line.startswith("  -")]
    assert len(deductions) == 2
    assert deductions[0].startswith("-33.3 pod: finding F")
    assert deductions[1] == "-33.3 node: never proven"
    assert printed.splitlines()[-1] == f"page: {page}"

    text = rendered_text(page, tmp_path / "profile-dom")
    assert "shop" in text and "33.3/100" in text
    for line in deductions:
        assert line in text
    assert "No run has proven it yet." in text

    html = page.read_text()
    assert html.count("<svg") == 2, "a chart for zone and one for pod, none for node"
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<svg.*?</svg>", "", html, flags=re.S))
    picture = screenshot(page, tmp_path / "page.png", tmp_path / "profile-a")
    without = screenshot(bare, tmp_path / "bare.png", tmp_path / "profile-b")

    # The runs are drawn (four zone runs, one pod run: a dot each) with the objective.
    assert pixels_of(picture, RTO_BLUE) > 400
    assert count_blobs(colour_mask(picture, RTO_BLUE)) >= 5
    assert pixels_of(picture, OBJECTIVE_ORANGE) > 300
    assert pixels_of(without, RTO_BLUE) < 50, "the colours counted must come from the charts"


def test_the_readiness_pdf_is_the_same_page_for_print(project: Path, tmp_path: Path) -> None:
    pdf, _ = readiness_page(project, "readiness.pdf")

    assert pdf.read_bytes().startswith(b"%PDF-")
    text = re.sub(r"\s+", " ", text_of(pdf))
    assert "DR readiness" in text and "-33.3 node: never proven" in text
    pages = render_pages(pdf, tmp_path)
    # At 60 dpi a run's dot is some 17 pixels: the five runs are drawn.
    assert sum(int((np.abs(page - RTO_BLUE).max(axis=2) < 0.08).sum()) for page in pages) > 60


def test_a_page_that_is_neither_html_nor_pdf_is_refused(project: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "readiness", "--services-dir", str(project / "services"),
            "--reports-dir", str(project / "reports"), "--output-file", str(project / "r.png"),
        ],
    )  # fmt: skip

    assert result.exit_code == 2
    assert "neither .html nor .pdf" in result.output
    assert not (project / "r.png").exists()

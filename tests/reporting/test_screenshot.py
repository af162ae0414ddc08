"""The HTML report as a person sees it: headless Chromium takes a screenshot, and the
chart must be visibly drawn (its lines' colour covers a good number of pixels)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from matplotlib import image

from drillkit.reporting.human import render_html
from tests.reporting.conftest import make_record

CONDITION_COLOUR = np.array([0x1F, 0x4E, 0x9C]) / 255


def screenshot(page: Path, png: Path, profile: Path) -> np.ndarray:
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            "--window-size=1200,2600",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return np.asarray(image.imread(png))


def pixels_of(picture: np.ndarray, colour: np.ndarray) -> int:
    distance = np.abs(picture[:, :, :3] - colour).max(axis=2)
    return int((distance < 0.06).sum())


def test_the_chart_is_drawn_in_the_rendered_report(tmp_path: Path) -> None:
    html = render_html(make_record("met"))
    with_chart = tmp_path / "with-chart.html"
    with_chart.write_text(html, encoding="utf-8")
    without_chart = tmp_path / "without-chart.html"
    without_chart.write_text(re.sub(r"<svg.*?</svg>", "", html, flags=re.S), encoding="utf-8")

    drawn = pixels_of(screenshot(with_chart, tmp_path / "a.png", tmp_path / "p1"), CONDITION_COLOUR)
    bare = pixels_of(
        screenshot(without_chart, tmp_path / "b.png", tmp_path / "p2"), CONDITION_COLOUR
    )

    assert drawn > 500, f"only {drawn} pixels of the recovery-condition line are visible"
    assert bare < 50, "the colour counted must come from the chart"

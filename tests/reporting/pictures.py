"""Pages and PDFs as a person sees them: headless Chromium's screenshots, poppler's words.

Shared by the screenshot tests of the run report, the trend page and the evidence index.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import image

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def screenshot(page: Path, png: Path, profile: Path, *, size: str = "1200,2600") -> np.ndarray:
    """``page`` as headless Chromium draws it in a window of ``size`` pixels, RGB(A)."""
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={size}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return np.asarray(image.imread(png))


def colour_mask(picture: np.ndarray, colour: np.ndarray, tolerance: float = 0.06) -> np.ndarray:
    """Where ``picture`` shows ``colour`` (RGB in 0..1), within ``tolerance`` per channel."""
    return np.asarray(np.abs(picture[:, :, :3] - colour).max(axis=2) < tolerance)


def pixels_of(picture: np.ndarray, colour: np.ndarray) -> int:
    return int(colour_mask(picture, colour).sum())


def count_blobs(mask: np.ndarray, *, smallest: int = 12) -> int:
    """Separate patches of ``mask`` (touching by an edge) of at least ``smallest`` pixels."""
    unseen = {(int(row), int(column)) for row, column in zip(*np.nonzero(mask), strict=True)}
    blobs = 0
    while unseen:
        frontier = [unseen.pop()]
        size = 0
        while frontier:
            row, column = frontier.pop()
            size += 1
            for neighbour in (
                (row + 1, column),
                (row - 1, column),
                (row, column + 1),
                (row, column - 1),
            ):
                if neighbour in unseen:
                    unseen.remove(neighbour)
                    frontier.append(neighbour)
        blobs += size >= smallest
    return blobs


@dataclass(frozen=True, kw_only=True)
class Box:
    """A rectangle, y growing downwards (SVG, screen and poppler's coordinates)."""

    left: float
    top: float
    right: float
    bottom: float

    def contains(self, x: float, y: float) -> bool:
        return self.left < x < self.right and self.top < y < self.bottom

    def shrunk(self, by: float) -> Box:
        return Box(
            left=self.left + by, top=self.top + by, right=self.right - by, bottom=self.bottom - by
        )

    def intersects(self, other: Box) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )


def svg_group(svg: str, group_id: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    group = next((g for g in root.iter(f"{SVG}g") if g.get("id") == group_id), None)
    assert group is not None, f"the chart has no {group_id}"
    return group


def svg_rectangle(svg: str, group_id: str) -> Box:
    """The bounding box of the path in the group ``group_id`` (a matplotlib axes' patch)."""
    path = svg_group(svg, group_id).find(f"{SVG}path")
    assert path is not None
    numbers = [float(token) for token in path.get("d", "").split() if token not in "MLZz"]
    xs, ys = numbers[0::2], numbers[1::2]
    return Box(left=min(xs), top=min(ys), right=max(xs), bottom=max(ys))


def svg_markers(svg: str, group_id: str) -> list[tuple[float, float]]:
    """Where a matplotlib line of ``group_id`` draws its markers (``<use x= y=>``)."""
    group = svg_group(svg, group_id)
    return [
        (float(use.get("x", "nan")), float(use.get("y", "nan"))) for use in group.iter(f"{SVG}use")
    ]


def pdf_words(pdf: Path) -> list[tuple[int, Box, str]]:
    """Every word of ``pdf`` as poppler reads it: its page (from 1), its box, its text."""
    xhtml = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    root = ElementTree.fromstring(xhtml)
    words = []
    for number, page in enumerate(root.iter("{http://www.w3.org/1999/xhtml}page"), start=1):
        for word in page.iter("{http://www.w3.org/1999/xhtml}word"):
            box = Box(
                left=float(word.get("xMin", "nan")),
                top=float(word.get("yMin", "nan")),
                right=float(word.get("xMax", "nan")),
                bottom=float(word.get("yMax", "nan")),
            )
            words.append((number, box, word.text or ""))
    return words


def pdf_page_width(pdf: Path) -> float:
    xhtml = subprocess.run(
        ["pdftotext", "-bbox", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    page = next(ElementTree.fromstring(xhtml).iter("{http://www.w3.org/1999/xhtml}page"))
    return float(page.get("width", "nan"))

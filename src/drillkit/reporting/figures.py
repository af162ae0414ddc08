"""Matplotlib figures as ``<svg>`` elements inside self-contained HTML pages.

The chart of a report (:mod:`drillkit.reporting.chart`) and the trend charts
(:mod:`drillkit.reporting.trend`) are drawn the same way: text as paths (no fonts to
fetch), no date or random id in the file, so the same data renders to the same bytes,
and no XML prolog with its DTD address, so the element can be embedded in HTML.

matplotlib is imported inside the functions: it is slow to import, and ``drill --help``
must stay fast.
"""

from __future__ import annotations

import contextlib
import html
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@contextlib.contextmanager
def reproducible_drawing(hash_salt: str) -> Iterator[None]:
    """Matplotlib settings under which a figure renders the same on every machine.

    Draw and save the figure inside the block: the SVG backend reads them when it saves.
    """
    import matplotlib

    with matplotlib.rc_context(
        {
            # Matplotlib's svg backend names clip paths and glyphs by hashing with this
            # salt; a fixed one makes the same figure render to the same bytes.
            "svg.hashsalt": hash_salt,
            # Glyphs as paths: the report must render the same without any font installed.
            "svg.fonttype": "path",
            # DejaVu Sans ships with matplotlib, so every machine draws the same glyphs.
            "font.family": "DejaVu Sans",
            "font.size": 9.0,
            # Drill names and workload names are data, never TeX: "$" must not start math.
            "text.parse_math": False,
            "text.usetex": False,
        }
    ):
        yield


def render_svg_element(figure: Figure, label: str) -> str:
    """``figure`` as an ``<svg>`` element string, named ``label`` for screen readers."""
    buffer = io.StringIO()
    # Date and the Dublin Core block are dropped: they change on every render and
    # carry addresses (purl.org, creativecommons.org) that a report must not contain.
    figure.savefig(
        buffer,
        format="svg",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    svg = buffer.getvalue()
    # The prolog (<?xml?> and the DOCTYPE naming the SVG 1.1 DTD by URL) is invalid
    # inside HTML; the <svg> element alone is what gets embedded.
    svg = svg[svg.index("<svg") :]
    escaped = html.escape(label, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escaped}" ', 1).strip() + "\n"


def add_legend(axes: Axes) -> None:
    """A legend beside the panel, naming what was drawn with a label."""
    # A panel with nothing labelled has nothing to name, and an empty legend() warns.
    handles, _ = axes.get_legend_handles_labels()
    if handles:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

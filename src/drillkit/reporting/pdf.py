"""PDF versions of drillkit's HTML pages (a run report, an evidence index, a trend page).

Auditors file PDFs. The HTML pages are already self-contained evidence (inline CSS, the
chart as inline SVG, no script, no external address) and carry print rules (A4 pages,
rows and figures kept whole), so the PDF is a rendering of the very same page, not a
second layout that could drift from it.

WeasyPrint renders it: a maintained HTML/CSS-to-PDF library that runs in-process on
Pango, without a browser, and draws inline SVG itself. Nothing is fetched while
rendering: a page that referred to any address (it should not) would fail rather than
reach the network. WeasyPrint is imported inside the function, as it is slow to import
and ``drill --help`` must stay fast; a machine without Pango gets one line saying so.

The PDF names its fonts, DejaVu Sans and DejaVu Sans Mono (Debian's fonts-dejavu-core),
instead of the pages' system-ui stacks: a line breaks where the glyph widths say, so a
PDF laid out with whatever font a machine falls back to would differ from one machine
to the next. A machine without them gets one line naming the package, not a PDF laid
out differently. Dates and run ids are marked ``token`` in the pages, never broken.
"""

from __future__ import annotations

from typing import Final

from drillkit.errors import DrillError

FONT: Final = "DejaVu Sans"
MONOSPACE_FONT: Final = "DejaVu Sans Mono"
FONT_PACKAGE: Final = "fonts-dejavu-core"

# A user stylesheet: !important is what lets it override the pages' own font stacks.
_PDF_STYLE: Final = """
html, body, body * { font-family: "%(font)s" !important; }
code, code *, .digest, .digest *, pre, kbd, samp { font-family: "%(mono)s" !important; }
@page {
  @bottom-left { content: "%(title)s"; font: 8pt "%(font)s"; color: #57606a; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt "%(font)s";
                  color: #57606a; }
}
"""


def render_pdf(html: str, *, title: str = "") -> bytes:
    """The PDF of a self-contained HTML page; ``title`` goes in every page's footer."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:
        raise DrillError(
            "PDF output needs WeasyPrint and the Pango library "
            f"(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0): {error}"
        ) from error
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    # Pages are self-contained; an address in one is a mistake, not a resource, and
    # must stop the rendering instead of reaching the network. data: URIs are inline.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    style = weasyprint.CSS(
        string=_PDF_STYLE % {"title": _css_string(title), "font": FONT, "mono": MONOSPACE_FONT}
    )
    try:
        document = weasyprint.HTML(string=html, url_fetcher=fetcher).render(stylesheets=[style])
        pdf: bytes = document.write_pdf()
    except FatalURLFetchingError as error:
        raise DrillError(
            f"cannot render the PDF: the page refers to an address: {error}"
        ) from error
    # The fonts are known once written; fontconfig substitutes a missing one silently.
    used = {font.family for font in document.fonts.values()}
    if used and FONT not in used:
        raise DrillError(
            f"PDF output needs the fonts {FONT} and {MONOSPACE_FONT} "
            f"(Debian: apt-get install {FONT_PACKAGE}); this machine would use "
            f"{', '.join(sorted(used))}, and lines would break differently"
        )
    return pdf


def _css_string(text: str) -> str:
    # Inside a CSS string: escape the backslash and the quote, drop line breaks.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")[:120]

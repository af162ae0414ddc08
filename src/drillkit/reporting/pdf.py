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
"""

from __future__ import annotations

from typing import Final

from drillkit.errors import DrillError

_PAGE_FOOTER: Final = """
@page {
  @bottom-left { content: "%(title)s"; font: 8pt sans-serif; color: #57606a; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt sans-serif;
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
    footer = weasyprint.CSS(string=_PAGE_FOOTER % {"title": _css_string(title)})
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    try:
        pdf: bytes = document.write_pdf(stylesheets=[footer])
    except FatalURLFetchingError as error:
        raise DrillError(
            f"cannot render the PDF: the page refers to an address: {error}"
        ) from error
    return pdf


def _css_string(text: str) -> str:
    # Inside a CSS string: escape the backslash and the quote, drop line breaks.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")[:120]

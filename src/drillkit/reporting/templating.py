"""The one way drillkit renders templates: strict Jinja over a package's ``templates``.

Reports (Markdown and HTML), the trend and readiness pages and the audit export all render
through :func:`template_environment`, so they share its rules: an undefined name fails (a
typo in a template must fail the tests, not print an empty cell in evidence), and
blocks leave no stray blank lines.
"""

from __future__ import annotations

import functools

import jinja2


def template_environment(package: str, *, autoescape: bool = True) -> jinja2.Environment:
    """A new environment over ``package``'s ``templates`` folder; HTML-escaping unless
    ``autoescape`` is False (Markdown escapes through a filter of its own)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def page_environment() -> jinja2.Environment:
    """The one HTML environment of ``drillkit.reporting``'s pages: run reports, the trend
    page and the readiness page."""
    return template_environment("drillkit.reporting")

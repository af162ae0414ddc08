"""How the CLI talks to people and scripts: progress lines, tables, colours only on a
terminal, and the JSON documents of ``-o json``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

_VERDICT_COLOURS = {"met": "green", "missed": "red", "error": "red"}


def progress_printer(prefix: str = "") -> Callable[[str], None]:
    """A progress callback that prints one line per step with the elapsed time."""
    started = time.monotonic()
    colour = sys.stderr.isatty()

    def report(message: str) -> None:
        elapsed = f"[{time.monotonic() - started:6.1f}s]"
        stamp = click.style(elapsed, dim=True) if colour else elapsed
        click.echo(f"{stamp} {prefix}{message}", err=True)

    return report


def verdict_colour(verdict: str) -> str:
    """The colour a verdict is shown in: green met, red missed or error, yellow the rest."""
    return _VERDICT_COLOURS.get(verdict, "yellow")


def echo_json(document: Any) -> None:
    """Print one JSON document, alone on stdout, as ``-o json`` gives it (one line)."""
    click.echo(json.dumps(document))

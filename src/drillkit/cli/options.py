"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

drills_dir_option = click.option(
    "--drills-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("drills"),
    show_default=True,
    envvar="DRILL_DRILLS_DIR",
    help="Where drills are found by name.",
)
reports_dir_option = click.option(
    "--reports-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    envvar="DRILL_REPORTS_DIR",
    help="Where run reports are written: <dir>/<drill>/<run-id>/.",
)
kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).",
)


def context_option(default: str = "the current one") -> Callable[[F], F]:
    """``--context``; ``default`` says in words which context is used without it."""
    return click.option("--context", default=None, help=f"Kubeconfig context (default: {default}).")


def output_option(json_gives: str) -> Callable[[F], F]:
    """``--output text|json``; ``json_gives`` says what the JSON output holds."""
    return click.option(
        "--output",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=f"json: {json_gives}",
    )

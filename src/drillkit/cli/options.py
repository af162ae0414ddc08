"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click

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

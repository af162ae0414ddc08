"""Shell completion: ``drill completion bash|zsh|fish``, and completing names from what exists.

The script is click's own (``click.shell_completion``): the shell runs ``drill`` again with
``_DRILL_COMPLETE`` set, and click answers from the ``shell_complete=`` callbacks here,
which the command modules attach to their arguments and options. They offer the drills and
game days in the directories the command line (or its environment) names, the run ids in
the reports directory, the labs on this machine and the schedules in the scheduler
database.

A callback runs on every key press: it imports what it reads only when called, and any
error gives no completions rather than a traceback in the middle of a command line. Like
``options.py``, this module is shared by the command modules, which never import each other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import click
from click.shell_completion import CompletionItem

PROG_NAME = "drill"
COMPLETE_VAR = "_DRILL_COMPLETE"
"""The environment variable click's scripts set when they ask ``drill`` for completions."""

Completer: TypeAlias = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


@click.command()
@click.argument("shell", metavar="SHELL", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(context: click.Context, shell: str) -> None:
    """Print the completion script of SHELL: bash, zsh or fish.

    It completes commands and options, and the names of the drills, game days, runs,
    labs and schedules that exist when Tab is pressed.

    \b
    Install it once, then open a new shell:
      bash: drill completion bash > ~/.local/share/bash-completion/completions/drill
            (needs the bash-completion package; or add to ~/.bashrc:
             eval "$(drill completion bash)")
      zsh:  drill completion zsh > ~/.zfunc/_drill
            (a file named _drill in a directory of $fpath; in ~/.zshrc, before
             compinit: fpath=(~/.zfunc $fpath))
      fish: drill completion fish > ~/.config/fish/completions/drill.fish
    """
    from click.shell_completion import BashComplete, FishComplete, ZshComplete

    shells = {"bash": BashComplete, "zsh": ZshComplete, "fish": FishComplete}
    root = context.find_root().command
    # As click prints it for _DRILL_COMPLETE=<shell>_source: the script, nothing added.
    click.echo(shells[shell](root, {}, PROG_NAME, COMPLETE_VAR).source(), nl=False)


def _quietly(complete: Completer) -> Completer:
    """The completer, giving no completions where it fails: what it reads may be missing,
    unreadable or half-written, and the user is typing a command line, not reading errors."""

    @functools.wraps(complete)
    def completing(
        context: click.Context, parameter: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        try:
            return complete(context, parameter, incomplete)
        except Exception:
            return []

    return completing


@_quietly
def complete_drills(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Drill names in the drills directory, then files (a drill file or an experiment)."""
    return _named_files(context.params.get("drills_dir"), incomplete)


@_quietly
def complete_gamedays(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Game day names in the game days directory, then files."""
    return _named_files(context.params.get("gamedays_dir"), incomplete)


@_quietly
def complete_schedule_targets(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """What ``drill schedule add`` schedules: a drill, or with ``--gameday`` a game day, or
    with ``--backup`` a backup plan, by name in its directory."""
    if context.params.get("gameday"):
        directory = context.params.get("gamedays_dir")
    elif context.params.get("backup"):
        directory = context.params.get("backups_dir")
    else:
        directory = context.params.get("drills_dir")
    return _matching(_names_in(directory), incomplete)


@_quietly
def complete_run_ids(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Run ids in the reports directory, and ``latest``."""
    from drillkit.reporting.writer import LATEST

    run_ids = sorted({run_dir.name for run_dir in _run_dirs(context.params.get("reports_dir"))})
    return _matching([*run_ids, LATEST], incomplete)


@_quietly
def complete_reported_drills(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Names of the drills that have runs in the reports directory."""
    run_dirs = _run_dirs(context.params.get("reports_dir"))
    return _matching(sorted({run_dir.parent.name for run_dir in run_dirs}), incomplete)


@_quietly
def complete_labs(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Names of the labs on this machine (``DRILLKIT_HOME``'s labs)."""
    from drillkit.lab.directories import lab_names

    return _matching(lab_names(), incomplete)


@_quietly
def complete_schedules(
    context: click.Context, parameter: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Names of the schedules in the scheduler database (``--database``, its environment
    variable, else the default file), opened without creating anything."""
    from drillkit.scheduling.database import Database
    from drillkit.scheduling.schedules import list_schedules

    with Database(context.params.get("database"), create=False) as database:
        names = [schedule.name for schedule in list_schedules(database)]
    return _matching(names, incomplete)


def _named_files(directory: object, incomplete: str) -> list[CompletionItem]:
    # The file item first: bash's script starts over at it, then adds the names after it,
    # and falls back to file names only when no name matches (a path being typed).
    names = _matching(_names_in(directory), incomplete)
    return [CompletionItem(incomplete, type="file"), *names]


def _names_in(directory: object) -> list[str]:
    """The names of the YAML files in a directory, as commands find them (NAME.yaml or
    NAME.yml)."""
    if not isinstance(directory, Path) or not directory.is_dir():
        return []
    return sorted({path.stem for path in directory.iterdir() if path.suffix in (".yaml", ".yml")})


def _run_dirs(reports_dir: object) -> list[Path]:
    from drillkit.reporting.writer import find_run_dirs

    # Click has read the option from the command line, its variable or its default.
    return find_run_dirs(reports_dir, None) if isinstance(reports_dir, Path) else []


def _matching(names: list[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]

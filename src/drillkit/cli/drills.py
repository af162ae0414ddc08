"""Working with drill files: ``validate``, ``list``, ``show`` and ``schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from drillkit.cli.completing import complete_drills
from drillkit.cli.options import drills_dir_option
from drillkit.cli.running import is_experiment_file, resolve_drill


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@drills_dir_option
def validate(paths: tuple[Path, ...], drills_dir: Path) -> None:
    """Check drill files and the experiments they use, without touching any cluster.

    With no PATHS, checks every drills/*.yaml. Every problem found is one line naming
    the file, line, column and field. Exit code 2 when anything is invalid.

    \b
    Examples:
      drill validate
      drill validate drills/zone-failure.yaml experiments/zone-failure.yaml
    """
    from drillkit.errors import InvalidInput
    from drillkit.model.loading import load_drill
    from drillkit.running.chaostoolkit import load_experiment

    files = list(paths) or sorted(drills_dir.glob("*.yaml"))
    if not files:
        raise InvalidInput(f"no drill files to validate in {drills_dir}")
    problems = 0
    for path in files:
        try:
            if is_experiment_file(path):
                load_experiment(path)
                click.echo(f"ok       {path} (experiment)")
            else:
                drill = load_drill(path)
                load_experiment(drill.experiment_path())
                click.echo(f"ok       {path} (drill {drill.name})")
        except InvalidInput as invalid:
            problems += 1
            for problem in invalid.problems:
                click.echo(f"invalid  {problem}", err=True)
    if problems:
        raise SystemExit(2)


@click.command(name="list")
@drills_dir_option
def list_drills(drills_dir: Path) -> None:
    """List the drills in the drills directory with their objectives."""
    from drillkit.errors import InvalidInput
    from drillkit.model.durations import format_duration
    from drillkit.model.loading import load_drill

    files = sorted(drills_dir.glob("*.yaml"))
    if not files:
        click.echo(f"no drills in {drills_dir}")
        return
    width = max(24, *(len(path.stem) for path in files))
    click.echo(f"{'DRILL':<{width}} {'STRATEGY':<14} {'RTO':>6} {'RPO':>6}  DESCRIPTION")
    for path in files:
        try:
            drill = load_drill(path)
        except InvalidInput as problem:
            click.echo(f"{path.stem:<{width}} invalid: {problem}")
            continue
        rto = format_duration(drill.objectives.rto) if drill.objectives.rto is not None else "-"
        rpo = format_duration(drill.objectives.rpo) if drill.objectives.rpo is not None else "-"
        click.echo(
            f"{drill.name:<{width}} {drill.strategy:<14} {rto:>6} {rpo:>6}  {drill.description}"
        )


@click.command()
@click.argument("name", shell_complete=complete_drills)
@drills_dir_option
def show(name: str, drills_dir: Path) -> None:
    """Show a drill with every default filled in, as drill run will use it."""
    import yaml

    drill = resolve_drill(name, drills_dir)
    document = drill.model_dump(mode="json", exclude_none=True)
    click.echo(f"# {drill.source or '(built from an experiment)'}")
    click.echo(yaml.safe_dump(document, sort_keys=False).rstrip())


@click.command()
def schema() -> None:
    """Print the JSON Schema of drill files, for editors (e.g. yaml-language-server)."""
    from drillkit.model.loading import drill_json_schema

    click.echo(json.dumps(drill_json_schema(), indent=2))

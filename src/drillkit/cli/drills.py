"""Working with drill files: ``validate``, ``list``, ``show`` and ``schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.completing import complete_drills
from drillkit.cli.options import drills_dir_option, output_option, services_dir_option
from drillkit.cli.output import echo_json
from drillkit.cli.running import is_experiment_file, resolve_drill

if TYPE_CHECKING:
    from drillkit.cli.documents import ListedDrill, ValidatedFile


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@drills_dir_option
@services_dir_option
@output_option("one object: valid, and each file with its kind, drill and problem.")
def validate(paths: tuple[Path, ...], drills_dir: Path, services_dir: Path, output: str) -> None:
    """Check drill files, the experiments they use and service files, without touching
    any cluster.

    With no PATHS, checks every drills/*.yaml and services/*.yaml. Every problem found
    is one line naming the file, line, column and field. Exit code 2 when anything is
    invalid.

    \b
    Examples:
      drill validate
      drill validate drills/zone-failure.yaml experiments/zone-failure.yaml
      drill validate -o json
    """
    from drillkit.errors import InvalidInput
    from drillkit.model.loading import load_model
    from drillkit.model.services import Service
    from drillkit.running.chaostoolkit import load_experiment
    from drillkit.running.proving import load_drill

    services = sorted(services_dir.glob("*.yaml"))
    files = list(paths) or [*sorted(drills_dir.glob("*.yaml")), *services]
    if not files:
        raise InvalidInput(f"no drill files to validate in {drills_dir}")
    checked: list[ValidatedFile] = []
    for path in files:
        experiment = is_experiment_file(path)
        service = path in services or path.resolve().parent == services_dir.resolve()
        result: ValidatedFile = {
            "file": str(path),
            "kind": "experiment" if experiment else "service" if service else "drill",
            "drill": None,
            "problems": [],
        }
        try:
            if experiment:
                load_experiment(path)
                line = f"ok       {path} (experiment)"
            elif service:
                result["drill"] = load_model(path, Service, noun="service").name
                line = f"ok       {path} (service {result['drill']})"
            else:
                drill = load_drill(path)
                load_experiment(drill.experiment_path())
                result["drill"] = drill.name
                line = f"ok       {path} (drill {drill.name})"
            if output == "text":
                click.echo(line)
        except InvalidInput as invalid:
            result["problems"] = list(invalid.problems)
            # Each problem is one line on stderr in either format, for the person watching.
            for problem in invalid.problems:
                click.echo(f"invalid  {problem}", err=True)
        checked.append(result)
    valid = all(not result["problems"] for result in checked)
    if output == "json":
        echo_json({"valid": valid, "files": checked})
    if not valid:
        raise SystemExit(2)


@click.command(name="list")
@drills_dir_option
@output_option("a list of drills: name, file, strategy, rto_seconds, rpo_seconds, problem.")
def list_drills(drills_dir: Path, output: str) -> None:
    """List the drills in the drills directory with their objectives."""
    from drillkit.errors import InvalidInput
    from drillkit.model.durations import format_duration
    from drillkit.running.proving import load_drill

    files = sorted(drills_dir.glob("*.yaml"))
    if output == "json":
        echo_json([_listed_drill(path) for path in files])
        return
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


def _listed_drill(path: Path) -> ListedDrill:
    """One drill file as ``drill list -o json`` gives it; one that does not load, with why."""
    from drillkit.errors import InvalidInput
    from drillkit.running.proving import load_drill

    try:
        drill = load_drill(path)
    except InvalidInput as problem:
        return {
            "name": path.stem,
            "file": str(path),
            "strategy": None,
            "rto_seconds": None,
            "rpo_seconds": None,
            "description": None,
            "problem": str(problem),
        }
    objectives = drill.objectives
    return {
        "name": drill.name,
        "file": str(path),
        "strategy": drill.strategy,
        "rto_seconds": objectives.rto.total_seconds() if objectives.rto is not None else None,
        "rpo_seconds": objectives.rpo.total_seconds() if objectives.rpo is not None else None,
        "description": drill.description,
        "problem": None,
    }


@click.command()
@click.argument("name", shell_complete=complete_drills)
@drills_dir_option
@output_option("one object: source (the drill file) and drill (as drill run uses it).")
def show(name: str, drills_dir: Path, output: str) -> None:
    """Show a drill with every default filled in, as drill run will use it.

    A drill that proves a service (``proves``) shows the objectives it is judged
    against: its own, and the service's for that disruption where it sets none. A
    disruption the drill file leaves out is derived from its method's faults, and
    marked so.
    """
    import yaml

    from drillkit.model.services import describe_promise, promise_of

    drill = resolve_drill(name, drills_dir)
    document = drill.model_dump(mode="json", exclude_none=True)
    service = drill.service
    if output == "json":
        # The drill as its model dumps it: the schema's drill is that model's.
        echo_json(
            {
                "source": str(drill.source) if drill.source else None,
                "drill": document,
                "service": service.model_dump(mode="json") if service else None,
                "disruption_derived": drill.disruption_derivation,
            }
        )
        return
    click.echo(f"# {drill.source or '(built from an experiment)'}")
    promise = promise_of(drill)
    if promise is not None:
        derived = drill.disruption_derivation
        click.echo(
            f"# proves: {describe_promise(promise)} ({promise.service_file.path})"
            + (f" ({derived})" if derived is not None else "")
        )
        click.echo("# objectives: the drill's own, and the service's where it sets none")
    click.echo(yaml.safe_dump(document, sort_keys=False).rstrip())


@click.command()
def schema() -> None:
    """Print the JSON Schema of drill files, for editors (e.g. yaml-language-server)."""
    from drillkit.model.loading import drill_json_schema

    click.echo(json.dumps(drill_json_schema(), indent=2))

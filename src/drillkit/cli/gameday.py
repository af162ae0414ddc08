"""``drill gameday``: run an ordered set of drills, with pauses and checkpoints, as one report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.completing import complete_gamedays
from drillkit.cli.options import (
    context_option,
    drills_dir_option,
    evidence_option,
    gamedays_dir_option,
    junit_option,
    kubeconfig_option,
    load_signing_key_option,
    output_option,
    reports_dir_option,
    retention_options,
    signing_key_option,
    webhook_option,
)
from drillkit.cli.output import echo_json, progress_printer, verdict_colour
from drillkit.cli.running import (
    EXIT_CODES,
    entering_in_evidence_store,
    send_webhooks,
    stopping_on_sigterm,
    waiter,
    write_junit_file,
)

if TYPE_CHECKING:
    from drillkit.signing import SigningKey


@click.group()
def gameday() -> None:
    """Game days: drills run in order, with pauses and manual checkpoints, reported together.

    A game day is gamedays/NAME.yaml:

    \b
      name: quarterly-resilience
      steps:
        - checkpoint: The on-call engineer is watching the dashboards
        - drill: pod-kill
        - pause: 30s
        - drill: zone-failure

    It stops at the first drill that misses its objectives (unless the step says
    continue_on_failure: true) or at a declined checkpoint. Schedule one with
    `drill schedule add NAME --gameday`.
    """


@gameday.command("run")
@click.argument("name", metavar="NAME|PATH", shell_complete=complete_gamedays)
@click.option(
    "--yes",
    "-y",
    "unattended",
    is_flag=True,
    help="Unattended: confirm every checkpoint without asking (recorded as such).",
)
@drills_dir_option
@gamedays_dir_option
@reports_dir_option
@kubeconfig_option
@context_option("the drill's, else current")
@junit_option
@webhook_option
@signing_key_option
@evidence_option
@retention_options
@output_option("machine-readable output on stdout.")
def run_gameday_command(
    name: str,
    unattended: bool,
    drills_dir: Path,
    gamedays_dir: Path,
    reports_dir: Path,
    kubeconfig: Path | None,
    context: str | None,
    junit: Path | None,
    webhooks: tuple[str, ...],
    signing_key: Path | None,
    evidence: str | None,
    retention_mode: str,
    retention_days: int,
    output: str,
) -> None:
    """Run the game day NAME (gamedays/NAME.yaml) or the file PATH now.

    Each drill runs as `drill run` would (lock, guardrails, rollback, report); the game
    day report in reports/gamedays/NAME/ID/ (gameday.json, .md, .html) aggregates them
    and is entered in the evidence ledger, linked to each drill's entry, signed with
    --signing-key. At a checkpoint you are asked to confirm; answering no stops the game
    day. With --evidence (or DRILL_EVIDENCE), every entry it appended (its drill runs,
    the findings they opened or closed, the game day) is also entered in the fleet's
    evidence store, as `drill run --evidence` does.

    \b
    Examples:
      drill gameday run quarterly-resilience
      drill gameday run quarterly-resilience --yes -o json

    Exit codes: 0 every drill met its objectives; 1 one missed, or the game day stopped
    early; 2 invalid game day; 3 a drill could not run.
    """
    import threading

    from drillkit.running.runner import RunOptions, operator_identity
    from drillkit.scheduling.gamedays import (
        find_gameday_file,
        load_gameday,
        run_gameday,
        write_gameday_report,
    )
    from drillkit.scheduling.launching import DrillLauncher, load_named_drill

    definition = load_gameday(find_gameday_file(gamedays_dir, name))
    # A broken key must stop the game day before the first drill touches anything.
    ledger_key = load_signing_key_option(signing_key)
    # Every drill is read before the first one runs: a typo in the last step must not
    # surface after the first drills already disrupted the cluster.
    for drill in definition.drills():
        load_named_drill(drills_dir, drill)
    progress = progress_printer(f"{definition.name}: ")
    launcher = DrillLauncher(
        drills_dir=drills_dir,
        reports_dir=reports_dir,
        options=RunOptions(kubeconfig=kubeconfig, context=context, signing_key=signing_key),
        on_message=progress,
        signing_key=ledger_key,
    )

    def confirm(text: str) -> bool:
        try:
            return click.confirm(f"checkpoint: {text}. Continue?", default=False, err=True)
        except click.Abort:
            return False  # no answer (end of input) is no confirmation

    with entering_in_evidence_store(
        evidence, retention_mode, retention_days, reports_dir, signing_key=ledger_key
    ):
        with stopping_on_sigterm():
            record = run_gameday(
                definition,
                run_drill=launcher.run,
                confirm=None if unattended else confirm,
                wait=waiter(threading.Event()),
                operator=operator_identity(),
                on_message=progress,
            )
        report_dir = write_gameday_report(record, reports_dir)
        _enter_gameday(reports_dir, report_dir, ledger_key)
    if junit is not None:
        from drillkit.scheduling.gamedays import judge_gameday_runs

        write_junit_file(junit, judge_gameday_runs(record, launcher.results), name=record.name)
    if webhooks:
        from drillkit.scheduling.notifications import FireEvent

        send_webhooks(webhooks, FireEvent.of_gameday(record, report_dir, launcher.results))
    if output == "json":
        from drillkit.scheduling.gamedays import render_gameday_json

        click.echo(json.dumps({**render_gameday_json(record), "report_dir": str(report_dir)}))
    else:
        click.echo()
        click.secho(
            f"game day {record.name}: {record.verdict.value.upper()}",
            bold=True,
            fg=verdict_colour(record.verdict.value),
        )
        for step in record.steps:
            detail = f" (run {step.run_id})" if step.run_id else ""
            if step.detail and not step.run_id:
                detail = f": {step.detail}"
            click.echo(f"  {step.index + 1}. {step.kind} {step.title}: {step.status.value}{detail}")
        if record.stopped:
            click.echo(f"  stopped early: {record.stopped}")
        click.echo(f"  report: {report_dir / 'gameday.md'}")
    sys.exit(EXIT_CODES.get(record.verdict.value, 1))


def _enter_gameday(reports_dir: Path, gameday_dir: Path, signing_key: SigningKey | None) -> None:
    """Add a just-written game-day report to the ledger; on failure, say where it is."""
    from drillkit.errors import DrillError
    from drillkit.evidence.ledger import append_gameday

    try:
        append_gameday(reports_dir, gameday_dir, signing_key=signing_key)
    except DrillError as error:
        raise DrillError(
            f"the game-day report was written to {gameday_dir} but not entered in the "
            f"ledger: {error}"
        ) from error


@gameday.command("list")
@gamedays_dir_option
@output_option("a list of game days: name, file, gameday (as loaded) and problem.")
def list_gamedays_command(gamedays_dir: Path, output: str) -> None:
    """List the game days in the game-days directory, with their steps."""
    from drillkit.errors import InvalidInput
    from drillkit.model.durations import format_duration
    from drillkit.scheduling.gamedays import (
        CheckpointStep,
        DrillStep,
        PauseStep,
        list_gamedays,
        load_gameday,
    )

    paths = list_gamedays(gamedays_dir)
    if not paths and output == "text":
        click.echo(f"no game days in {gamedays_dir}")
        return
    invalid = 0
    listed: list[dict[str, object]] = []
    for path in paths:
        try:
            definition = load_gameday(path)
        except InvalidInput as error:
            invalid += 1
            click.secho(f"{path.stem}: INVALID: {error}", fg="red", err=True)
            listed.append(
                {"name": path.stem, "file": str(path), "gameday": None, "problem": str(error)}
            )
            continue
        if output == "json":
            gameday_document = definition.model_dump(mode="json", exclude_none=True)
            listed.append(
                {
                    "name": definition.name,
                    "file": str(path),
                    "gameday": gameday_document,
                    "problem": None,
                }
            )
            continue
        steps = []
        for step in definition.steps:
            if isinstance(step, DrillStep):
                steps.append(step.drill)
            elif isinstance(step, PauseStep):
                steps.append(f"pause {format_duration(step.pause)}")
            elif isinstance(step, CheckpointStep):
                steps.append("checkpoint")
        click.echo(f"{definition.name:<28} {' -> '.join(steps)}")
    if output == "json":
        echo_json(listed)
    if invalid:
        sys.exit(2)

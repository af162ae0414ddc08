"""``drill run``: run one drill now and report what was measured."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.completing import complete_drills
from drillkit.cli.options import (
    context_option,
    drills_dir_option,
    evidence_option,
    junit_option,
    kubeconfig_option,
    load_signing_key_option,
    output_option,
    reports_dir_option,
    retention_options,
    signing_key_option,
    webhook_option,
)
from drillkit.cli.output import verdict_colour
from drillkit.cli.running import (
    EXIT_CODES,
    entering_in_evidence_store,
    resolve_drill,
    send_webhooks,
    write_junit_file,
)

if TYPE_CHECKING:
    from rich.live import Live

    from drillkit.cli.documents import RunPlanDocument
    from drillkit.model.drill import Drill
    from drillkit.model.run import RunRecord
    from drillkit.model.timeline import TimelineEvent
    from drillkit.running.redaction import Secrets
    from drillkit.running.runner import RunOptions


@click.command()
@click.argument("drill_name", metavar="NAME|PATH", shell_complete=complete_drills)
@drills_dir_option
@reports_dir_option
@kubeconfig_option
@context_option("the drill's, else the current context")
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="For a plain experiment: the namespace it targets (repeatable); by default the "
    "namespaces its activities name.",
)
@click.option(
    "--confirm-production",
    metavar="CONTEXT",
    help="Confirm a drill marked safety.production by naming the kube context it runs "
    "against; without it such a drill is refused (asked for on a terminal).",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY[:TYPE]=VALUE",
    help="A value for the experiment's configuration, over its own (repeatable); TYPE "
    "converts it: str (the default), int, float, bytes, bool or json. As chaos run --var.",
)
@click.option(
    "--var-file",
    "var_files",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="A JSON or YAML file of values for the experiment's configuration and secrets "
    "({configuration: {...}, secrets: {...}}), or a .env file of environment variables "
    "(repeatable); each file overrides the ones before it, --var overrides them all. As "
    "chaos run --var-file.",
)
@click.option("--dry-run", is_flag=True, help="Print what would run and change nothing.")
@junit_option
@webhook_option
@signing_key_option
@evidence_option
@retention_options
@output_option(
    "print one JSON object (run_id, verdict, report_dir, measurements); with --dry-run, the plan."
)
def run(
    drill_name: str,
    drills_dir: Path,
    reports_dir: Path,
    kubeconfig: Path | None,
    context: str | None,
    namespaces: tuple[str, ...],
    confirm_production: str | None,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    dry_run: bool,
    junit: Path | None,
    webhooks: tuple[str, ...],
    signing_key: Path | None,
    evidence: str | None,
    retention_mode: str,
    retention_days: int,
    output: str,
) -> None:
    """Run a drill now and measure its actual RTO and RPO against its objectives.

    NAME is a drill in the drills directory (drills/NAME.yaml); PATH is a drill
    file or a plain Chaos Toolkit experiment, which then targets the namespaces
    its activities name (or --namespace) and, declaring no objective, is measured
    but unjudged. Rollbacks run on success, failure and interruption (Ctrl-C or
    SIGTERM); the report is written in every case.

    \b
    Examples:
      drill run zone-failure
      drill run drills/pod-kill.yaml --context staging -o json
      drill run experiments/my-chaos-experiment.yaml --namespace shop
      drill run experiments/checkout.json --var replicas:int=3 --var-file secrets.json
      drill run zone-failure --evidence s3://dr-evidence/prod

    With --evidence (or DRILL_EVIDENCE) the report, written locally as always, is
    also uploaded to the fleet's evidence store and entered in its ledger; if the
    store cannot be reached, the local report stays and `drill evidence sync`
    pushes it later.

    Exit codes: 0 objectives met; 1 missed, inconclusive, aborted or unjudged (no
    objective declared); 2 invalid drill or options; 3 the drill could not run.
    """
    from drillkit.evidence.recording import RunRecording
    from drillkit.running.chaostoolkit import load_experiment_vars
    from drillkit.running.runner import RunOptions, collect_run_secrets, run_drill

    # First: bad values stop the command before anything is read from or done to a cluster.
    experiment_vars = load_experiment_vars(variables, var_files)
    drill = resolve_drill(drill_name, drills_dir, namespaces, experiment_vars)
    # Read before the run: a broken key must stop it before anything is touched.
    ledger_key = load_signing_key_option(signing_key)
    if dry_run:
        _print_plan(
            drill,
            RunOptions(kubeconfig=kubeconfig, context=context, experiment_vars=experiment_vars),
            output,
        )
        return
    if drill.safety.production and confirm_production is None and sys.stdin.isatty():
        # Only a person at a terminal is asked; anything else must say it on the command line.
        confirm_production = click.prompt(
            f"drill {drill.name} targets production; type the name of the kube context "
            "it runs against to confirm",
            err=True,
        )
    options = RunOptions(
        kubeconfig=kubeconfig,
        context=context,
        confirm_production=confirm_production,
        signing_key=signing_key,
        experiment_vars=experiment_vars,
    )
    # Progress goes to stderr in both formats; with -o json, stdout holds only the JSON.
    progress = LiveProgress(
        drill.name,
        collect_run_secrets(drill, options),
        stable_for=drill.objectives.stable_for.total_seconds(),
    )
    # Kept on disk as the run goes, so that even a killed run leaves evidence.
    recording = RunRecording(
        drill, options, reports_dir, signing_key=ledger_key, on_message=progress.message
    )

    def on_event(event: TimelineEvent) -> None:
        recording.on_event(event)
        progress.on_event(event)

    # What an activity prints goes with the progress: stdout is the summary's alone.
    with progress.showing_logs(), redirect_stdout(sys.stderr):
        record = run_drill(drill, options, on_event=on_event, on_message=progress.message)
    progress.close()
    with entering_in_evidence_store(
        evidence, retention_mode, retention_days, reports_dir, signing_key=ledger_key
    ):
        report_dir = recording.finish(record)
    if junit is not None:
        from drillkit.reporting.junit import judge_run

        write_junit_file(junit, [judge_run(record)], name=record.drill)
    if webhooks:
        from drillkit.scheduling.notifications import FireEvent

        send_webhooks(webhooks, FireEvent.of_run(record, report_dir))
    if output == "json":
        click.echo(json.dumps(_summary_json(record, report_dir)))
    else:
        _print_summary(record, report_dir)
    sys.exit(EXIT_CODES[record.outcome.verdict.value])


class _ProgressHandler(logging.Handler):
    def __init__(self, show: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.show = show

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # chaoslib's own line for a failed activity; the activity's completion says it.
        if record.name == "chaostoolkit" and message.startswith("  => failed: "):
            return
        self.show(message)


class LiveProgress:
    """Phase, elapsed time and the recovery condition, live on a terminal, as lines otherwise.

    After the fault, while the condition holds, the live line counts down the drill's
    ``stable_for``: the wait a recovery must last to count, which otherwise looks like a
    hang. Every line passes through the run's redaction first: CI and CronJob logs keep
    stderr as long as reports, and an activity's error may quote a secret.
    """

    def __init__(
        self,
        drill: str,
        secrets: Secrets | None = None,
        *,
        stable_for: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        live: bool | None = None,
    ) -> None:
        self.drill = drill
        self.secrets = secrets
        self.stable_for = stable_for
        self.clock = clock
        self.started = clock()
        self.phase = "starting"
        self.condition = "not observed yet"
        self.fault_seen = False
        self.held_since: float | None = None
        self.live: Live | None = None
        if sys.stderr.isatty() if live is None else live:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(
                get_renderable=self._render,
                console=Console(stderr=True),
                refresh_per_second=4,
            )
            self.live.start()

    def on_event(self, event: TimelineEvent) -> None:
        line = self._describe(event)
        if line is not None:
            self.message(line)
        if self.live is not None:
            self.live.update(self._render())

    def message(self, text: str) -> None:
        from drillkit.running.redaction import Secrets, redact_text

        text = redact_text(text, self.secrets or Secrets())
        if self.live is not None:
            self.live.console.print(f"[dim]{self._elapsed()}[/dim] {text}")
        else:
            click.echo(f"{self._elapsed()} {text}", err=True)

    @contextmanager
    def showing_logs(self) -> Iterator[None]:
        """Show what faults and probes log (retries, waits) as progress lines, and what
        chaoslib logs (an activity's failure) too, instead of on Python's last-resort
        handler: either may quote a secret, and only ``message`` redacts."""
        handler = _ProgressHandler(self.message)
        logger = logging.getLogger("drillkit")
        engine = logging.getLogger("chaostoolkit")
        logger.addHandler(handler)
        engine.addHandler(handler)
        previous, propagated = logger.level, engine.propagate
        logger.setLevel(logging.INFO)
        engine.propagate = False
        try:
            yield
        finally:
            logger.removeHandler(handler)
            engine.removeHandler(handler)
            logger.setLevel(previous)
            engine.propagate = propagated

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()

    def _elapsed(self) -> str:
        return f"[{self.clock() - self.started:7.1f}s]"

    def _render(self) -> str:
        condition = self.condition
        if self.held_since is not None and self.stable_for > 0:
            left = max(0.0, self.stable_for - (self.clock() - self.held_since))
            condition += (
                f", recovered if it holds {left:.0f} s more (stable_for {self.stable_for:g} s)"
            )
        return (
            f"{self.drill}: {self.phase} | elapsed {self.clock() - self.started:.0f} s | "
            f"recovery condition: {condition}"
        )

    def _describe(self, event: TimelineEvent) -> str | None:
        from drillkit.model import timeline as t

        match event:
            case t.RunStarted():
                self.phase = "checking steady state"
                return f"run {event.run_id} of drill {event.drill} started"
            case t.SteadyStateVerified():
                return "steady state " + ("holds" if event.holds else "does NOT hold")
            case t.ActivityStarted():
                if event.activity_type == "action":
                    self.phase = f"running {event.name}"
                    return f"action {event.name} started"
                return None
            case t.ActivityCompleted():
                if event.activity_type == "action" or event.status != "succeeded":
                    suffix = f": {event.error}" if event.error else ""
                    return f"{event.activity_type} {event.name} {event.status}{suffix}"
                return None
            case t.FaultInjected():
                self.phase = "waiting for recovery"
                self.fault_seen = True
                return f"fault injected by {event.activity} ({event.detail})"
            case t.ConditionObserved():
                state = "holds" if event.holds else f"LOST ({event.detail})"
                changed = state != self.condition
                self.condition = state
                if not changed:
                    return None
                self.held_since = self.clock() if event.holds and self.fault_seen else None
                if self.held_since is not None and self.stable_for > 0:
                    return (
                        f"recovery condition holds; recovered once it has held for "
                        f"{self.stable_for:g} s (stable_for)"
                    )
                return f"recovery condition {state}"
            case t.GuardTripped():
                return f"abort condition {event.name} tripped: {event.detail}; rolling back"
            case t.RunInterrupted():
                return f"interrupted by {event.signal}; rolling back"
            case t.RollbackStarted():
                self.phase = "rolling back"
                return "rollbacks started"
            case t.RollbackCompleted():
                return f"rollbacks {event.status}"
            case t.RunFinished():
                self.phase = "finished"
                return f"run finished: {event.status}"
        return None


def _summary_json(record: RunRecord, report_dir: Path) -> dict[str, object]:
    from drillkit.reporting.document import render_report_json

    document = render_report_json(record)
    return {
        "run_id": record.run_id,
        "drill": record.drill,
        "verdict": record.outcome.verdict.value,
        "status": record.status.value,
        "report_dir": str(report_dir),
        "measurements": document["measurements"],
        "findings": [f.text for f in record.outcome.findings],
    }


def _print_summary(record: RunRecord, report_dir: Path) -> None:
    from drillkit.model.measurement import Measurement, format_measured, format_seconds

    outcome = record.outcome
    verdict = outcome.verdict.value.upper()
    click.echo()
    click.secho(f"{record.drill}: {verdict}", bold=True, fg=verdict_colour(outcome.verdict.value))

    def describe(measurement: Measurement | None, target: float | None) -> str:
        if measurement is None:
            text = "not measured"
        else:
            text = format_measured(
                measurement.seconds, measurement.bound, resolution=measurement.resolution_seconds
            )
        if target is not None:
            text += f", objective {format_seconds(target)} s"
        return text

    objectives = record.objectives
    rto_target = objectives.rto.total_seconds() if objectives.rto is not None else None
    rpo_target = objectives.rpo.total_seconds() if objectives.rpo is not None else None
    click.echo(
        f"  RTO   {describe(outcome.recovery.rto if outcome.recovery else None, rto_target)}"
    )
    if outcome.capacity is not None:
        click.echo(f"  full capacity {describe(outcome.capacity.time_to_full_capacity, None)}")
    if outcome.rpo is not None or rpo_target is not None:
        click.echo(f"  RPO   {describe(outcome.rpo.rpo if outcome.rpo else None, rpo_target)}")
    for finding in outcome.findings:
        click.echo(f"  - {finding.text}")
    if record.error:
        click.echo(f"  error: {record.error}")
    click.echo(f"  report: {report_dir / 'report.html'}")


def _print_plan(drill: Drill, options: RunOptions, output: str) -> None:
    from drillkit.running.planning import plan_run

    plan = plan_run(drill, options)
    notes = list(plan.notes)
    if drill.safety.production:
        notes.append(
            "safety.production: the run needs --confirm-production "
            f"{options.context or drill.target.context or 'CONTEXT'}"
        )
    objectives = {k: v for k, v in drill.objectives.model_dump(mode="json").items() if v}
    if output == "json":
        document: RunPlanDocument = {
            "drill": drill.name,
            "dry_run": True,
            "experiment": str(drill.experiment_path()),
            "title": plan.title,
            "cluster": plan.cluster,
            "namespaces": list(drill.target.namespaces),
            "objectives": objectives,
            "steady_state": list(plan.steady_state_probes),
            "method": list(plan.method),
            "targets": list(plan.targets),
            "rollbacks": list(plan.rollbacks),
            "rollback_strategy": plan.rollback_strategy,
            "notes": notes,
            "warnings": list(plan.warnings),
            "violations": list(plan.violations),
        }
        click.echo(json.dumps(document))
    else:
        click.echo(f"drill {drill.name} (dry run: nothing will be changed)")
        click.echo(f"  experiment    {drill.experiment_path()}: {plan.title}")
        namespaces = ", ".join(drill.target.namespaces)
        click.echo(f"  cluster       {plan.cluster or '-'}, namespaces {namespaces}")
        click.echo("  objectives    " + ", ".join(f"{k} {v}" for k, v in objectives.items()))
        for probe in plan.steady_state_probes:
            click.echo(f"  steady state  {probe}")
        for step in plan.method:
            click.echo(f"  method {step}")
        for target in plan.targets:
            click.echo(f"  target        {target}")
        for step in plan.rollbacks:
            click.echo(f"  rollback      {step}  (strategy: {plan.rollback_strategy})")
        for note in notes:
            click.echo(f"  note          {note}")
        for warning in plan.warnings:
            click.secho(f"  WARNING       {warning}; the run would be inconclusive", fg="yellow")
    # Refusals are errors: one line each on stderr in either format, exit code 2.
    for violation in plan.violations:
        click.secho(f"  REFUSED       {violation}", fg="red", err=True)
    if plan.violations:
        raise SystemExit(2)

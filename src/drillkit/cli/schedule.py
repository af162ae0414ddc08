"""``drill schedule`` (manage recurring drills and game days) and ``drill scheduler run``."""

from __future__ import annotations

import functools
import json
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from drillkit.cli.completing import complete_schedule_targets, complete_schedules
from drillkit.cli.options import (
    context_option,
    directory_option,
    drills_dir_option,
    evidence_option,
    file_option,
    gamedays_dir_option,
    kubeconfig_option,
    load_signing_key_option,
    open_evidence_store,
    output_file_option,
    output_option,
    parse_zoned_time,
    reports_dir_option,
    retention_options,
    services_dir_option,
    signing_key_option,
)
from drillkit.cli.output import progress_printer
from drillkit.cli.running import (
    EXIT_CODES,
    entering_in_evidence_store,
    stopping_on_sigterm,
    waiter,
)

if TYPE_CHECKING:
    from drillkit.cli.documents import ManifestList
    from drillkit.running.runner import RunOptions
    from drillkit.scheduling.database import Database
    from drillkit.scheduling.firing import ScheduleForecast
    from drillkit.scheduling.history import FireRecord
    from drillkit.scheduling.notifications import Notifier
    from drillkit.scheduling.policies import ActiveBlackout
    from drillkit.scheduling.schedules import Schedule, TargetKind


class DurationType(click.ParamType[timedelta, Any]):
    """``90s``, ``10m``, ``1h30m``: durations as drill files write them."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        from drillkit.model.durations import parse_duration

        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


DURATION = DurationType()

database_option = click.option(
    "--database",
    metavar="URL",
    envvar="DRILL_SCHEDULER_DATABASE",
    default=None,
    help="Scheduler database: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB "
    "(default: a SQLite file in the drillkit state directory; env DRILL_SCHEDULER_DATABASE).",
)
backups_dir_option = directory_option(
    "--backups-dir",
    default="backups",
    envvar="DRILL_BACKUPS_DIR",
    help="Where backup plans are found by name.",
)
policy_option = file_option(
    "--policy",
    "policy_file",
    default=Path("schedule-policy.yaml"),
    show_default=True,
    envvar="DRILL_SCHEDULE_POLICY",
    help="Blackout windows and error-budget gates for every schedule (used when it exists).",
)
webhook_option = click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    envvar="DRILL_WEBHOOKS",
    help="POST a JSON message on start, verdict, skip and error (repeatable; env "
    "DRILL_WEBHOOKS, space-separated).",
)
slack_option = click.option(
    "--slack-webhook",
    "slack_webhooks",
    multiple=True,
    metavar="URL",
    envvar="DRILL_SLACK_WEBHOOKS",
    help="Slack incoming webhook for the same messages (repeatable; env DRILL_SLACK_WEBHOOKS).",
)


@dataclass(frozen=True, kw_only=True)
class FireSettings:
    """The options of a fire: where it finds its files, the cluster it acts on, whom it
    notifies, where it records and the key it signs with.

    ``drill schedule fire`` takes them, and ``drill scheduler run`` takes the same and passes
    them on to the ``drill schedule fire`` process it starts for each fire.
    """

    drills_dir: Path
    gamedays_dir: Path
    backups_dir: Path
    reports_dir: Path
    policy_file: Path
    kubeconfig: Path | None
    context: str | None
    webhooks: tuple[str, ...]
    slack_webhooks: tuple[str, ...]
    database: str | None
    signing_key: Path | None
    evidence: str | None
    retention_mode: str
    retention_days: int

    def fire_arguments(self) -> list[str]:
        """The options of a fire, as the command line of the fire process; all but the
        database, which may hold a password and goes through the environment instead."""
        arguments = [
            "--drills-dir", str(self.drills_dir.absolute()),
            "--gamedays-dir", str(self.gamedays_dir.absolute()),
            "--backups-dir", str(self.backups_dir.absolute()),
            "--reports-dir", str(self.reports_dir.absolute()),
            "--policy", str(self.policy_file.absolute()),
        ]  # fmt: skip
        if self.kubeconfig is not None:
            arguments += ["--kubeconfig", str(self.kubeconfig.absolute())]
        if self.context is not None:
            arguments += ["--context", self.context]
        for url in self.webhooks:
            arguments += ["--webhook", url]
        for url in self.slack_webhooks:
            arguments += ["--slack-webhook", url]
        if self.signing_key is not None:
            # Each fire signs its run and skips with the same key as the scheduler's own skips.
            arguments += ["--signing-key", str(self.signing_key.expanduser().absolute())]
        if self.evidence is not None:
            arguments += [
                "--evidence", self.evidence,
                "--retention-mode", self.retention_mode,
                "--retention-days", str(self.retention_days),
            ]  # fmt: skip
        return arguments

    def notifier(self) -> Notifier:
        """Sends the messages of a fire to the webhooks and Slack webhooks given."""
        from drillkit.scheduling.notifications import Notifier

        return Notifier(webhooks=self.webhooks, slack_webhooks=self.slack_webhooks)


def with_fire_options(command: Callable[..., None]) -> Callable[..., None]:
    """Adds the options of a fire to ``command``, which receives them as one
    ``settings: FireSettings``."""
    names = [field.name for field in fields(FireSettings)]

    @functools.wraps(command)
    def given_settings(**given: Any) -> None:
        settings = FireSettings(**{name: given.pop(name) for name in names})
        command(settings=settings, **given)

    decorated: Callable[..., None] = given_settings
    for option in reversed(
        (
            drills_dir_option,
            gamedays_dir_option,
            backups_dir_option,
            reports_dir_option,
            policy_option,
            kubeconfig_option,
            context_option("the drill's, else current"),
            webhook_option,
            slack_option,
            database_option,
            signing_key_option,
            evidence_option,
            retention_options,
        )
    ):
        decorated = option(decorated)
    return decorated


def _open(database_url: str | None) -> Database:
    from drillkit.scheduling.database import Database

    return Database(database_url)


def _now() -> datetime:
    return datetime.now(UTC)


@click.group()
def schedule() -> None:
    """Recurring drills, game days and backups: add, apply, list, pause, resume, remove, history.

    A schedule runs a drill (drills/NAME.yaml), a game day (gamedays/NAME.yaml) or a
    backup plan (backups/NAME.yaml) on a cron calendar in a time zone. `drill scheduler
    run` fires them; every fire is recorded, as run or as skipped with the reason
    (blackout window, error budget, missed, lock held).

    \b
    Examples:
      drill schedule add pod-kill --cron "0 10 * * TUE" --tz Europe/Berlin --jitter 10m
      drill schedule add quarterly --gameday --cron "0 9 1 */3 *"
      drill schedule add shop --backup --cron "*/15 * * * *"
      drill schedule apply --dry-run      # schedules/*.yaml kept in Git
      drill schedule list
      drill schedule history pod-kill
      drill scheduler run
    """


@schedule.command("add")
@click.argument("target", metavar="NAME", shell_complete=complete_schedule_targets)
@click.option(
    "--cron",
    help='Five-field cron expression, such as "0 10 * * TUE" (minute hour day-of-month '
    "month day-of-week), or six with a leading second; default: the file's schedule.cron.",
)
@click.option("--tz", "timezone", help="IANA time zone of the cron expression (default UTC).")
@click.option("--jitter", type=DURATION, help="Spread fires over this long after the cron time.")
@click.option(
    "--misfire-grace",
    type=DURATION,
    help="Run a fire missed by at most this long (scheduler down); later ones are recorded "
    "as missed (default 30m).",
)
@click.option(
    "--coalesce/--no-coalesce",
    default=None,
    help="Run several missed fires once (default) or each.",
)
@click.option("--gameday", is_flag=True, help="NAME is a game day in the game-days directory.")
@click.option("--backup", is_flag=True, help="NAME is a backup plan in the backups directory.")
@click.option("--as", "schedule_name", metavar="SCHEDULE", help="Schedule name (default: NAME).")
@click.option("--replace", is_flag=True, help="Replace a schedule of the same name.")
@click.option(
    "--confirm-production",
    metavar="CONTEXT",
    help="Confirm the runs of a drill marked safety.production by naming the kube context "
    "they run against; such a drill cannot be scheduled without it.",
)
@drills_dir_option
@gamedays_dir_option
@backups_dir_option
@database_option
def add(
    target: str,
    cron: str | None,
    timezone: str | None,
    jitter: timedelta | None,
    misfire_grace: timedelta | None,
    coalesce: bool | None,
    gameday: bool,
    backup: bool,
    schedule_name: str | None,
    replace: bool,
    confirm_production: str | None,
    drills_dir: Path,
    gamedays_dir: Path,
    backups_dir: Path,
    database: str | None,
) -> None:
    """Schedule the drill NAME (with --gameday the game day, with --backup the backup plan).

    Settings not given here come from the file's `schedule:` section; its blackout
    windows and error-budget gate are read again at every fire.

    \b
    Examples:
      drill schedule add pod-kill --cron "0 10 * * TUE" --tz Europe/Berlin
      drill schedule add zone-failure --cron "30 9 * * 1-5" --jitter 20m --misfire-grace 1h
      drill schedule add quarterly-resilience --gameday
      drill schedule add shop --backup --cron "*/15 * * * *"

    A backup plan names namespaces, a store and how many backups to keep; each fire
    backs them up and verifies the stored archive. A cron expression may have a
    sixth, leading second field ("*/30 * * * * *"), for labs and tests.
    """
    from pydantic import ValidationError

    from drillkit.errors import InvalidInput
    from drillkit.model.drill import Schedule as ScheduleBlock
    from drillkit.running.runner import operator_identity
    from drillkit.scheduling.backups import find_backup_plan, load_backup_plan
    from drillkit.scheduling.gamedays import find_gameday_file, load_gameday
    from drillkit.scheduling.launching import load_named_drill
    from drillkit.scheduling.schedules import ScheduleSettings, TargetKind, add_schedule

    if gameday and backup:
        raise InvalidInput("--gameday and --backup: a schedule runs one kind of target")
    kind = TargetKind.GAMEDAY if gameday else TargetKind.BACKUP if backup else TargetKind.DRILL
    if kind is TargetKind.DRILL:
        drill = load_named_drill(drills_dir, target)
        if drill.safety.production and confirm_production is None:
            raise InvalidInput(
                f"drill {target} is marked safety.production: schedule it with "
                "--confirm-production CONTEXT, naming the kube context its runs use"
            )
        source = drill.schedule
    elif kind is TargetKind.GAMEDAY:
        source = load_gameday(find_gameday_file(gamedays_dir, target)).schedule
    else:
        source = load_backup_plan(find_backup_plan(backups_dir, target)).schedule
    given: dict[str, Any] = source.model_dump() if source is not None else {}
    given.pop("blackouts", None)
    given.pop("error_budget", None)
    overrides = {
        "cron": cron,
        "timezone": timezone,
        "jitter": jitter,
        "misfire_grace": misfire_grace,
        "coalesce": coalesce,
    }
    given.update({key: value for key, value in overrides.items() if value is not None})
    if "cron" not in given:
        raise InvalidInput(
            f"{kind.value} {target!r} has no schedule.cron in its file: give --cron, "
            'such as --cron "0 10 * * TUE"'
        )
    try:
        block = ScheduleBlock.model_validate(given)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        option = {"timezone": "--tz", "misfire_grace": "--misfire-grace"}.get(
            str(first["loc"][0]), f"--{first['loc'][0]}"
        )
        message = str(first.get("ctx", {}).get("error", first["msg"]))
        raise InvalidInput(f"{option}: {message}") from None
    settings = ScheduleSettings(
        name=schedule_name or target,
        kind=kind,
        target=target,
        cron=block.cron,
        timezone=block.timezone,
        jitter=block.jitter,
        misfire_grace=block.misfire_grace,
        coalesce=block.coalesce,
        confirm_production=confirm_production,
        confirmed_by=operator_identity(),
    )
    now = _now()
    with _open(database) as db:
        stored = add_schedule(db, settings, now=now, replace=replace)
    fires = ", ".join(_show_time(t, stored) for t in stored.next_fire_times(now, 3))
    click.echo(
        f"schedule {stored.name}: {stored.kind} {stored.target}, {stored.describe_when()}, "
        f"misfire grace {_duration(stored.misfire_grace)}"
        f"{'' if stored.coalesce else ', no coalescing'}"
    )
    click.echo(f"  next fires: {fires}")


@schedule.command("list")
@click.option(
    "--next",
    "count",
    type=click.IntRange(1, 50),
    default=1,
    show_default=True,
    help="How many upcoming fire times to show.",
)
@drills_dir_option
@gamedays_dir_option
@backups_dir_option
@policy_option
@database_option
@output_option("machine-readable output on stdout.")
def list_command(
    count: int,
    drills_dir: Path,
    gamedays_dir: Path,
    backups_dir: Path,
    policy_file: Path,
    database: str | None,
    output: str,
) -> None:
    """List schedules with their next fire times and their last fire.

    A next fire inside a blackout window (of the target's file or the policy file) is
    marked with "!" and followed by a line naming the window and the first fire after it
    outside every window.
    """
    from drillkit.scheduling.firing import forecast_schedule
    from drillkit.scheduling.history import list_fires
    from drillkit.scheduling.schedules import list_schedules
    from drillkit.scheduling.targets import TargetDirectories

    now = _now()
    with _open(database) as db:
        schedules = list_schedules(db)
        last = {
            s.name: next(iter(list_fires(db, schedule=s.name, limit=1)), None) for s in schedules
        }
    targets = TargetDirectories(
        drills_dir=drills_dir, gamedays_dir=gamedays_dir, backups_dir=backups_dir
    )
    forecasts = {
        s.name: forecast_schedule(
            s, now=now, count=count, directories=targets, policy_file=policy_file
        )
        for s in schedules
    }
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "kind": s.kind.value,
                        "target": s.target,
                        "cron": s.cron,
                        "timezone": s.timezone,
                        "jitter_seconds": s.jitter.total_seconds(),
                        "misfire_grace_seconds": s.misfire_grace.total_seconds(),
                        "coalesce": s.coalesce,
                        "paused": s.paused,
                        "next_fires": [t.isoformat() for t in s.next_fire_times(now, count)],
                        "last_fire": _record_json(record) if (record := last[s.name]) else None,
                        "source": s.source,
                        "next_fires_blackouts": [
                            _blackout_json(fire.blackout) for fire in forecasts[s.name].fires
                        ],
                        "next_fire_outside_blackouts": _iso(forecasts[s.name].first_clear()),
                        "blackouts_unknown": forecasts[s.name].unknown,
                    }
                    for s in schedules
                ],
                indent=2,
            )
        )
        return
    if not schedules:
        click.echo('no schedules; add one with: drill schedule add NAME --cron "0 10 * * TUE"')
        return
    rows = []
    for s in schedules:
        forecast = forecasts[s.name]
        shown = [_show_time(f.at, s) + (" !" if f.blackout else "") for f in forecast.fires]
        record = last[s.name]
        rows.append(
            (
                s.name,
                f"{s.kind} {s.target}",
                s.describe_when(),
                "paused" if s.paused else (shown[0] if shown else "-"),
                _short(record.describe(), 70) if record else "-",
                shown[1:],
                _blackout_notes(forecast, s),
            )
        )
    headers = ("SCHEDULE", "RUNS", "WHEN", "NEXT FIRE")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + "  LAST")
    for row in rows:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + f"  {row[4]}"
        )
        for extra in row[5]:
            click.echo(" " * (sum(widths[:3]) + 6) + extra)
        for note in row[6]:
            click.echo(f"  {note}")


@schedule.command("remove")
@click.argument("name", shell_complete=complete_schedules)
@database_option
def remove(name: str, database: str | None) -> None:
    """Remove a schedule; its history stays."""
    from drillkit.scheduling.schedules import remove_schedule

    with _open(database) as db:
        removed = remove_schedule(db, name)
    click.echo(f"removed schedule {removed.name} ({removed.kind} {removed.target})")


@schedule.command("pause")
@click.argument("name", shell_complete=complete_schedules)
@database_option
def pause(name: str, database: str | None) -> None:
    """Stop firing a schedule until it is resumed; fires while paused are not made up."""
    from drillkit.scheduling.schedules import set_paused

    with _open(database) as db:
        set_paused(db, name, paused=True, now=_now())
    click.echo(f"paused schedule {name}")


@schedule.command("resume")
@click.argument("name", shell_complete=complete_schedules)
@database_option
def resume(name: str, database: str | None) -> None:
    """Fire a paused schedule again, from its next fire time on."""
    from drillkit.scheduling.schedules import set_paused

    now = _now()
    with _open(database) as db:
        resumed = set_paused(db, name, paused=False, now=now)
    fires = resumed.next_fire_times(now, 1)
    upcoming = _show_time(fires[0], resumed) if fires else "-"
    click.echo(f"resumed schedule {name}; next fire {upcoming}")


@schedule.command("apply")
@directory_option(
    "--schedules-dir",
    default="schedules",
    envvar="DRILL_SCHEDULES_DIR",
    help="The schedule files, one schedule per NAME.yaml.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--prune", is_flag=True, help="Also remove schedules added by hand that no file declares."
)
@drills_dir_option
@gamedays_dir_option
@backups_dir_option
@database_option
@output_option("the plan, one object per schedule, on stdout.")
def apply(
    schedules_dir: Path,
    dry_run: bool,
    prune: bool,
    drills_dir: Path,
    gamedays_dir: Path,
    backups_dir: Path,
    database: str | None,
    output: str,
) -> None:
    """Make the stored schedules those the schedule files declare, and show the difference.

    Each file schedules/NAME.yaml declares the schedule NAME: what it runs (drill:,
    gameday: or backup:) and any of cron, timezone, jitter, misfire_grace, coalesce,
    paused and confirm_production; what it leaves out comes from the target file's
    schedule: section. Every schedule is shown as added, changed (with the fields),
    removed, unchanged or kept.

    Apply manages the schedules made from files: one whose file is gone is removed. A
    schedule added by hand (`drill schedule add`) is kept unless --prune is given; a file
    naming it takes it over. One bad file refuses the whole apply, changing nothing. The
    scheduler reads only the database: a running one picks the change up within its
    --refresh.

    \b
    Examples:
      drill schedule apply --dry-run
      drill schedule apply --schedules-dir deploy/schedules --prune
    """
    from drillkit.running.runner import operator_identity
    from drillkit.scheduling.declared import (
        Change,
        apply_plan,
        load_schedule_files,
        plan_apply,
        read_stored,
    )
    from drillkit.scheduling.targets import TargetDirectories

    now = _now()
    targets = TargetDirectories(
        drills_dir=drills_dir, gamedays_dir=gamedays_dir, backups_dir=backups_dir
    )
    declared = load_schedule_files(
        schedules_dir, targets=targets, now=now, operator=operator_identity()
    )
    with _open(database) as db:
        stored, confirmations = read_stored(db)
        plan = plan_apply(declared, stored, confirmations=confirmations, prune=prune)
        if not dry_run:
            apply_plan(db, plan, now=now)
    if output == "json":
        changes = [
            {
                "name": item.name,
                "change": item.change.value,
                "summary": item.summary,
                "source": item.source,
                "fields": [
                    {"field": f.field, "before": f.before, "after": f.after} for f in item.fields
                ],
            }
            for item in plan.changes
        ]
        click.echo(json.dumps({"dry_run": dry_run, "changes": changes}, indent=2))
        return
    for item in plan.changes:
        click.echo(f"{item.change.value:<10} {item.describe()}")
    counts = ", ".join(
        f"{plan.count(change)} {change.value}"
        for change in Change
        if plan.count(change) or change is not Change.KEPT
    )
    click.echo(
        f"dry run, nothing changed: {counts}" if dry_run else f"applied {schedules_dir}: {counts}"
    )


@schedule.command("history")
@click.argument("name", required=False, shell_complete=complete_schedules)
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@database_option
@output_option("machine-readable output on stdout.")
def history(name: str | None, limit: int, database: str | None, output: str) -> None:
    """Every fire, newest first: ran (verdict, run id) or skipped, and why.

    This is the evidence that a schedule ran as planned, or of why it did not:
    blackout window, error budget, missed (scheduler down beyond the misfire grace),
    coalesced, lock held (another scheduler or drill), already running, stopped.
    """
    from drillkit.scheduling.history import list_fires

    with _open(database) as db:
        records = list_fires(db, schedule=name, limit=limit)
    if output == "json":
        click.echo(json.dumps([_record_json(r) for r in records], indent=2))
        return
    if not records:
        click.echo("no fires recorded yet")
        return
    click.echo(f"{'FIRE TIME (UTC)':<20} {'SCHEDULE':<22} {'SCHEDULER':<18} OUTCOME")
    for record in records:
        click.echo(
            f"{record.fire_time:%Y-%m-%d %H:%M:%S} {record.schedule:<22} "
            f"{_short(record.scheduler, 18):<18} {record.describe()}"
        )


@schedule.command("fire")
@click.argument("name", shell_complete=complete_schedules)
@click.option(
    "--target",
    metavar="KIND:NAME",
    help="What to fire when NAME is not a stored schedule: drill:NAME, gameday:NAME or "
    "backup:NAME (default: the drill NAME).",
)
@click.option(
    "--fire-time",
    metavar="TIME",
    help="The scheduled time this fire stands for, RFC 3339 (default: now). Schedulers "
    "sharing a database run each fire time of a schedule once.",
)
@click.option(
    "--scheduler-id",
    default="manual",
    show_default=True,
    help="Who fires, as recorded in the history.",
)
@with_fire_options
@output_option("machine-readable output on stdout.")
def fire_command(
    name: str,
    target: str | None,
    fire_time: str | None,
    scheduler_id: str,
    settings: FireSettings,
    output: str,
) -> None:
    """Fire a schedule now, as the scheduler would: claim, check policies, run, record.

    Blackout windows and error-budget gates are checked; a skip is recorded with its
    reason and exits 0. A run exits like `drill run`: 0 met, 1 missed, inconclusive or
    aborted, 3 error; a backup exits 0 once stored and verified, 3 if not. The scheduler
    daemon runs this command for each fire, and so do the CronJobs of `drill schedule
    export`. With --evidence (or DRILL_EVIDENCE), what the fire appends to the local
    ledger, its skip included, is entered in the fleet's evidence store too.

    \b
    Examples:
      drill schedule fire pod-kill
      drill schedule fire weekly --target gameday:quarterly-resilience -o json
    """
    from drillkit.errors import InvalidInput
    from drillkit.running.recorder import SystemClock
    from drillkit.running.runner import operator_identity
    from drillkit.scheduling.firing import FireSetup, fire, launch_target, target_policies
    from drillkit.scheduling.history import Fire
    from drillkit.scheduling.schedules import TargetKind, get_schedule

    # Read before the fire: a broken key must stop it before anything is touched.
    ledger_key = load_signing_key_option(settings.signing_key)
    # SIGTERM (a scheduler stopping, a pod deleted) stops this fire as Ctrl-C would: a
    # running drill rolls back and reports; before the drill, the skip is recorded.
    # Whatever the fire appends (its run, findings and game day, or its skip) is also
    # entered in the evidence store.
    with (
        entering_in_evidence_store(
            settings.evidence,
            settings.retention_mode,
            settings.retention_days,
            settings.reports_dir,
            signing_key=ledger_key,
        ),
        stopping_on_sigterm(),
    ):
        notifier = settings.notifier()
        when = _parse_time(fire_time) if fire_time else _now().replace(microsecond=0)
        progress = progress_printer()
        with _open(settings.database) as db:
            stored = get_schedule(db, name)
            if target is not None:
                kind, target_name = _parse_target(target)
            elif stored is not None:
                kind, target_name = stored.kind, stored.target
            else:
                kind, target_name = TargetKind.DRILL, name
            if stored is not None and (stored.kind, stored.target) != (kind, target_name):
                raise InvalidInput(
                    f"schedule {name!r} runs {stored.kind} {stored.target}, "
                    f"not {kind} {target_name}"
                )
            setup = FireSetup(
                drills_dir=settings.drills_dir.absolute(),
                gamedays_dir=settings.gamedays_dir.absolute(),
                backups_dir=settings.backups_dir.absolute(),
                reports_dir=settings.reports_dir.absolute(),
                policy_file=settings.policy_file.absolute(),
                options=_fire_options(db, name, stored is not None, settings),
                operator=operator_identity(),
                signing_key=ledger_key,
            )
            stop_waiting = threading.Event()
            record = fire(
                Fire(
                    schedule=name,
                    kind=kind,
                    target=target_name,
                    fire_time=when,
                    scheduler=scheduler_id,
                ),
                database=db,
                policies=lambda: target_policies(kind, target_name, setup),
                launch=lambda: launch_target(
                    kind, target_name, setup, on_message=progress, wait=waiter(stop_waiting)
                ),
                clock=SystemClock(),
                notifier=notifier,
                ledger=setup.reports_dir,
                signing_key=ledger_key,
            )
    _print_fire(record, output)
    if record.outcome.value == "ran":
        sys.exit(EXIT_CODES.get(record.verdict or "error", 3))
    if record.outcome.value == "error":
        sys.exit(3)


def _fire_options(
    database: Database,
    name: str,
    stored: bool,
    settings: FireSettings,
) -> RunOptions:
    """Run options of a fire; a schedule added with --confirm-production passes it on."""
    from drillkit.running.runner import RunOptions
    from drillkit.scheduling.schedules import production_confirmation

    options = RunOptions(
        kubeconfig=settings.kubeconfig, context=settings.context, signing_key=settings.signing_key
    )
    confirmation = production_confirmation(database, name) if stored else None
    if confirmation is None:
        return options
    return replace(
        options,
        confirm_production=confirmation.context,
        confirmed_where=f"named by {confirmation.confirmed_by} when schedule {name} was added",
    )


@schedule.command("export")
@click.argument("names", nargs=-1, metavar="[SCHEDULE]...", shell_complete=complete_schedules)
@click.option(
    "--kind",
    "manifest_kind",
    type=click.Choice(["cronjob"]),
    default="cronjob",
    show_default=True,
    help="cronjob: Kubernetes CronJobs with their ServiceAccount and RBAC.",
)
@click.option(
    "--image",
    default=None,
    help=(
        "Container image with drillkit installed (default: localhost/drillkit:<version>, "
        "as scripts/image tags it)."
    ),
)
@click.option(
    "--reports-claim",
    metavar="PVC",
    help="PersistentVolumeClaim for reports and the ledger (default: an emptyDir, lost with "
    "each pod, with a warning; the summary is logged).",
)
@click.option(
    "--api-server",
    default="https://kubernetes.default.svc",
    show_default=True,
    metavar="URL",
    help="The API server the pods' kubeconfig names. A loopback address (a lab's) runs the "
    "pods on the node's network (hostNetwork).",
)
@click.option(
    "--node-selector",
    "node_selectors",
    multiple=True,
    metavar="KEY=VALUE",
    help="Run the pods only on nodes with this label (repeatable).",
)
@click.option(
    "--toleration",
    "tolerations",
    multiple=True,
    metavar="KEY[=VALUE]:EFFECT",
    help="Let the pods run on nodes with this taint (repeatable), e.g. "
    "drillkit.io/real-node=true:NoSchedule.",
)
@output_file_option(default=None, help="Write the manifests here (default: stdout).")
@drills_dir_option
@gamedays_dir_option
@policy_option
@database_option
@output_option("the manifests as one Kubernetes List (kubectl apply -f takes it).", native="yaml")
def export(
    names: tuple[str, ...],
    manifest_kind: str,
    image: str | None,
    reports_claim: str | None,
    api_server: str,
    node_selectors: tuple[str, ...],
    tolerations: tuple[str, ...],
    output_file: Path | None,
    drills_dir: Path,
    gamedays_dir: Path,
    policy_file: Path,
    database: str | None,
    output: str,
) -> None:
    """Export schedules (all, or those named) as Kubernetes CronJob manifests.

    Each CronJob runs `drill schedule fire` in the cluster with the same cron
    expression and time zone, concurrencyPolicy Forbid, the misfire grace as
    startingDeadlineSeconds, and the drill's files in a ConfigMap. The output also
    holds the namespace, ServiceAccount and RBAC (deploy/rbac.yaml), the admission policy
    that keeps its node patches to cordons (deploy/node-guardrails.yaml), RoleBindings in
    the namespaces the drills target (and write RPO markers in), and an in-cluster
    kubeconfig using the ServiceAccount's token.

    A CronJob cannot carry jitter, `coalesce: false` or a production drill's confirmation:
    a warning on stderr names those each schedule uses.

    \b
    Examples:
      drill schedule export --reports-claim drill-evidence --output-file drill-cronjobs.yaml
      kubectl apply -f drill-cronjobs.yaml
      # on a lab's real node (drill lab up --real-nodes 1):
      drill schedule export pod-kill --api-server https://127.0.0.1:6443 \\
        --node-selector drillkit.io/real-node=true \\
        --toleration drillkit.io/real-node=true:NoSchedule --reports-claim drill-evidence
    """
    from drillkit.errors import InvalidInput
    from drillkit.scheduling.cronjobs import (
        DEFAULT_IMAGE,
        PodPlacement,
        describe_dropped,
        describe_storage,
        dump_manifests,
        gather_files,
        parse_label,
        parse_toleration,
        render_cronjobs,
    )
    from drillkit.scheduling.gamedays import find_gameday_file, load_gameday
    from drillkit.scheduling.launching import load_named_drill
    from drillkit.scheduling.schedules import (
        TargetKind,
        list_schedules,
        production_confirmation,
        require_schedule,
    )

    try:
        placement = PodPlacement(
            api_server=api_server,
            node_selector=dict(parse_label(text) for text in node_selectors),
            tolerations=[parse_toleration(text) for text in tolerations],
        )
    except InvalidInput as error:
        raise click.UsageError(str(error)) from None
    with _open(database) as db:
        schedules = [require_schedule(db, n) for n in names] if names else list_schedules(db)
        confirmations = {s.name: production_confirmation(db, s.name) for s in schedules}
    specs = []
    for item in schedules:
        if item.kind is TargetKind.DRILL:
            drill_names = [item.target]
        elif item.kind is TargetKind.GAMEDAY:
            drill_names = load_gameday(find_gameday_file(gamedays_dir, item.target)).drills()
        else:
            drill_names = []  # gather_files says why a backup schedule is not exported
        drills = {name: load_named_drill(drills_dir, name) for name in drill_names}
        specs.append(
            gather_files(
                item,
                drills_dir=drills_dir,
                gamedays_dir=gamedays_dir,
                policy_file=policy_file,
                drill_files={name: d.read_files() for name, d in drills.items()},
                namespaces=sorted({n for d in drills.values() for n in d.target.namespaces}),
                marker_namespaces=sorted(
                    {d.markers.store.namespace for d in drills.values() if d.markers}
                ),
            )
        )
    manifests = render_cronjobs(
        specs, image=image or DEFAULT_IMAGE, reports_claim=reports_claim, placement=placement
    )
    if output == "json":
        document: ManifestList = {"apiVersion": "v1", "kind": "List", "items": manifests}
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = dump_manifests(manifests)
    for item in schedules:
        dropped = describe_dropped(item, confirmation=confirmations[item.name])
        if dropped is not None:
            click.echo(f"drill: warning: {dropped}", err=True)
    storage = describe_storage(reports_claim)
    if storage is not None and schedules:
        click.echo(f"drill: warning: {storage}", err=True)
    if output_file is None:
        click.echo(text, nl=False)
    else:
        output_file.write_text(text)
        click.echo(f"wrote {len(specs)} CronJob(s) with their RBAC to {output_file}", err=True)


# -- the daemon ----------------------------------------------------------------------------------


@click.group()
def scheduler() -> None:
    """The scheduler daemon that fires schedules (see `drill schedule`)."""


@scheduler.command("run")
@click.option(
    "--id",
    "scheduler_id",
    default=None,
    help="This scheduler's id (default: the host name). Keep it across restarts: its jobs "
    "and their next fire times are stored under it.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9477,
    show_default=True,
    help="Loopback port for /healthz and /metrics (0: any free port).",
)
@click.option(
    "--refresh",
    type=DURATION,
    default="5s",
    show_default=True,
    help="How often schedule changes made elsewhere are picked up.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Fires of different schedules running at once (the cluster Lease still "
    "runs one drill per cluster at a time).",
)
@click.option(
    "--on-stop",
    type=click.Choice(["rollback", "finish"]),
    default="rollback",
    show_default=True,
    help="On SIGTERM or Ctrl-C: interrupt running drills so they roll back, or let them "
    "finish. A second signal interrupts them in either case.",
)
@click.option(
    "--stop-timeout",
    type=DURATION,
    default="10m",
    show_default=True,
    help="How long stopping waits for running drills before killing them.",
)
@click.option(
    "--leader-elect",
    is_flag=True,
    envvar="DRILL_LEADER_ELECT",
    help="Run as one of several replicas: only the holder of a coordination.k8s.io Lease "
    "fires, the others stand by and take over within the lease duration when it stops "
    "renewing (env DRILL_LEADER_ELECT). Uses --kubeconfig and --context.",
)
@click.option(
    "--lease-name",
    default="drillkit-scheduler",
    show_default=True,
    metavar="NAME",
    help="The Lease replicas compete for (with --leader-elect).",
)
@click.option(
    "--lease-namespace",
    default="drillkit",
    show_default=True,
    metavar="NAMESPACE",
    envvar="DRILL_LEASE_NAMESPACE",
    help="The Lease's namespace (with --leader-elect; env DRILL_LEASE_NAMESPACE).",
)
@click.option(
    "--lease-duration",
    type=DURATION,
    default="15s",
    show_default=True,
    help="How long a leader that stopped renewing keeps the Lease (with --leader-elect). "
    "It renews every third of it and stops firing once its last renewal is two thirds old.",
)
@services_dir_option
@with_fire_options
def run_scheduler(
    scheduler_id: str | None,
    port: int,
    refresh: timedelta,
    max_parallel: int,
    on_stop: str,
    stop_timeout: timedelta,
    leader_elect: bool,
    lease_name: str,
    lease_namespace: str,
    lease_duration: timedelta,
    services_dir: Path,
    settings: FireSettings,
) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    Fires each schedule on time, one process per fire, and records every fire in the
    history. Missed fires (scheduler down) run once within their misfire grace and are
    recorded as missed beyond it. Logs go to stderr; /healthz and /metrics are served on
    127.0.0.1. /metrics includes each service's readiness (drill readiness), from the
    service files in --services-dir and the ledger.

    With --evidence (or DRILL_EVIDENCE), each fire enters what it appends to the local
    ledger (its run, findings and game day, or its skip) in the fleet's evidence store,
    and so does the scheduler for the fires it records as missed.

    Several schedulers may share a PostgreSQL database (give each its own --id): each
    fire runs once, the others record "skipped: lock held". With --leader-elect they
    elect a leader instead: only the holder of the Lease drillkit/drillkit-scheduler
    fires, /healthz says "leader": true there and false on the standbys, and
    /metrics has drill_scheduler_leader. A leader that loses the Lease stops firing
    at once (a drill it started runs on) and stands by.

    \b
    Examples:
      drill scheduler run
      drill scheduler run --database postgresql://drill:secret@db/drill --id "$(hostname)"
      drill scheduler run --leader-elect --id "$POD_NAME" --context in-cluster
    """
    import logging
    import os
    import signal
    import time

    from drillkit.drivers.kubernetes import Cluster
    from drillkit.running.runner import RunOptions
    from drillkit.scheduling.daemon import DrillScheduler, FireProcesses, StatusServer
    from drillkit.scheduling.database import ensure_scheduler_id
    from drillkit.scheduling.launching import recover_leftovers
    from drillkit.scheduling.leadership import LeaderElection

    _ensure_lease_options(leader_elect, lease_duration)
    identity = ensure_scheduler_id(scheduler_id or socket.gethostname())
    # Read at start: a broken key must stop the scheduler, not each of its fires.
    ledger_key = load_signing_key_option(settings.signing_key)
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("drillkit")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log = logging.getLogger("drillkit.scheduling")

    db = _open(settings.database)
    # The database URL may hold a password: the fires get it from the environment,
    # not from their command line, which every local user can read.
    environment = dict(os.environ, DRILL_SCHEDULER_DATABASE=db.url)
    processes = FireProcesses(arguments=settings.fire_arguments(), environment=environment)
    election = (
        LeaderElection(
            Cluster.connect(settings.kubeconfig, settings.context),
            identity=identity,
            name=lease_name,
            namespace=lease_namespace,
            lease_seconds=round(lease_duration.total_seconds()),
        )
        if leader_elect
        else None
    )
    daemon = DrillScheduler(
        db,
        scheduler_id=identity,
        processes=processes,
        notifier=settings.notifier(),
        refresh_interval=refresh.total_seconds(),
        max_parallel=max_parallel,
        ledger=settings.reports_dir.absolute(),
        signing_key=ledger_key,
        services_dir=services_dir.absolute(),
        evidence=(
            open_evidence_store(
                settings.evidence, mode=settings.retention_mode, days=settings.retention_days
            )
            if settings.evidence is not None
            else None
        ),
        leadership=election,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            log.warning("second %s: interrupting running drills", signal.Signals(signum).name)
            processes.interrupt_all()
            return
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = StatusServer(daemon, port=port)
    # As `drill run` does: what a crashed run (or a killed scheduler) left is reverted first,
    # and the runs it killed are reported as interrupted.
    recover_leftovers(
        RunOptions(kubeconfig=settings.kubeconfig, context=settings.context),
        on_message=log.info,
        reports_dir=settings.reports_dir.absolute(),
        signing_key=ledger_key,
    )
    if election is not None:
        election.start()
    daemon.start()
    server.start()
    log.info(
        "scheduler %s: database %s; /healthz and /metrics on %s", identity, db.shown_url, server.url
    )
    while not stop.wait(3600):
        pass
    daemon.stop(
        on_stop="finish" if on_stop == "finish" else "rollback",
        timeout=stop_timeout.total_seconds(),
    )
    # Handed back once no fire of ours runs, so a standby takes over at once.
    if election is not None:
        election.stop()
    server.stop()
    db.close()


# -- helpers -------------------------------------------------------------------------------------


def _ensure_lease_options(leader_elect: bool, lease_duration: timedelta) -> None:
    """Refuse Lease options that would be ignored, and a Lease too short to renew."""
    source = click.get_current_context().get_parameter_source
    if not leader_elect:
        for name in ("lease_name", "lease_namespace", "lease_duration"):
            if source(name) is click.core.ParameterSource.COMMANDLINE:
                option = "--" + name.replace("_", "-")
                raise click.UsageError(f"{option} is for --leader-elect, which is not given")
    elif lease_duration < timedelta(seconds=3):
        raise click.BadParameter("at least 3s", param_hint="--lease-duration")


def _parse_target(text: str) -> tuple[TargetKind, str]:
    from drillkit.errors import InvalidInput
    from drillkit.scheduling.schedules import TargetKind

    kind, _, name = text.partition(":")
    if kind not in [k.value for k in TargetKind] or not name:
        raise InvalidInput(f"--target {text!r}: use drill:NAME, gameday:NAME or backup:NAME")
    return TargetKind(kind), name


def _parse_time(text: str) -> datetime:
    return parse_zoned_time(
        text.replace("Z", "+00:00"),
        not_a_time=f"--fire-time {text!r}: use RFC 3339, such as 2026-12-01T09:00:00Z",
        no_zone=f"--fire-time {text!r}: give a time zone offset or Z",
    )


def _show_time(moment: datetime, schedule: Schedule) -> str:
    """A fire time in the schedule's time zone, with seconds when its cron has them."""
    from zoneinfo import ZoneInfo

    clock = "%H:%M:%S" if len(schedule.cron.split()) == 6 else "%H:%M"
    return moment.astimezone(ZoneInfo(schedule.timezone)).strftime(f"%a %Y-%m-%d {clock} %Z")


def _duration(value: timedelta) -> str:
    from drillkit.model.durations import format_duration

    return format_duration(value)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _blackout_notes(forecast: ScheduleForecast, schedule: Schedule) -> list[str]:
    """``! <fire>: skipped, inside blackout ...``: a line for each fire a window skips."""
    if forecast.unknown is not None:
        return [f"? blackout windows unknown: {forecast.unknown}"]
    notes = []
    for fire in forecast.fires:
        if fire.blackout is None:
            continue
        window = fire.blackout
        clear = fire.next_clear
        notes.append(
            f"! {_show_time(fire.at, schedule)}: skipped, inside blackout {window.name!r} "
            f"({_show_time(window.start, schedule)} to {_show_time(window.end, schedule)}); "
            + (
                f"next fire outside blackouts: {_show_time(clear, schedule)}"
                if clear is not None
                else "no fire outside blackouts found"
            )
        )
    return notes


def _blackout_json(blackout: ActiveBlackout | None) -> dict[str, str] | None:
    if blackout is None:
        return None
    return {
        "name": blackout.name,
        "start": blackout.start.isoformat(),
        "end": blackout.end.isoformat(),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _record_json(record: FireRecord) -> dict[str, Any]:
    return {
        "schedule": record.schedule,
        "kind": record.kind.value,
        "target": record.target,
        "fire_time": record.fire_time.isoformat(),
        "scheduler": record.scheduler,
        "outcome": record.outcome.value,
        "skip_kind": record.skip_kind.value if record.skip_kind else None,
        "reason": record.reason,
        "run_id": record.run_id,
        "verdict": record.verdict,
        "report_dir": record.report_dir,
        "recorded_at": record.recorded_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "summary": record.describe(),
    }


def _print_fire(record: FireRecord, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(_record_json(record)))
        return
    line = f"{record.schedule}: {record.describe()}"
    if record.report_dir:
        line += f"\n  report: {record.report_dir}"
    click.echo(line)

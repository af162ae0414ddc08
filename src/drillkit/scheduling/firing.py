"""One fire of a schedule: take it, check the policies, run its target, record the outcome.

``fire`` is the same for the scheduler daemon (which starts ``drill schedule fire`` in a
process of its own for each fire), for a person firing a schedule by hand and for a
Kubernetes CronJob. In order:

1. claim the fire time in the database: a fire another scheduler took is recorded as
   "skipped: lock held" and not run again;
2. blackout windows (the target file's own, and for drills and game days the scheduling
   policy file's), read at the moment of the fire, so a late fire that now falls in a
   freeze is skipped;
3. error-budget gates, each a PromQL query against Prometheus;
4. run the drill or game day, or take the backup (``drillkit.scheduling.backups``); a run
   refused because another drill holds the cluster Lease is recorded as "skipped: lock
   held" too.

Every outcome is recorded in the history and announced to the notifier.
``forecast_schedule`` reads the same blackout windows ahead of time, for ``drill schedule
list``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.drivers.prometheus import PrometheusError, query_instant
from drillkit.errors import DrillError
from drillkit.evidence.ledger import append_gameday
from drillkit.model.drill import Blackout, ErrorBudgetGate
from drillkit.model.loading import load_model
from drillkit.running.recorder import Clock
from drillkit.running.runner import RunOptions
from drillkit.scheduling.backups import find_backup_plan, load_backup_plan, take_planned_backup
from drillkit.scheduling.database import Database
from drillkit.scheduling.gamedays import (
    find_gameday_file,
    load_gameday,
    run_gameday,
    write_gameday_report,
)
from drillkit.scheduling.history import (
    Fire,
    FireOutcome,
    FireRecord,
    claim_fire,
    record_error,
    record_finished,
    record_skip,
    record_started,
)
from drillkit.scheduling.launching import DrillLauncher
from drillkit.scheduling.notifications import (
    EventName,
    FireEvent,
    Notifier,
    RunNotice,
    notices_of,
)
from drillkit.scheduling.policies import (
    ForecastFire,
    Skip,
    SkipKind,
    find_blackout,
    forecast_fires,
    judge_error_budget,
)
from drillkit.scheduling.schedules import Schedule, TargetKind
from drillkit.scheduling.targets import TargetDirectories
from drillkit.signing import SigningKey

BACKUP_TAKEN = "taken"
"""The verdict recorded for a fire whose backup was stored and verified."""


class SchedulingPolicy(BaseModel):
    """The scheduling policy file: blackouts and gates that apply to every schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blackouts: tuple[Blackout, ...] = Field(
        default=(), description="Windows in which no scheduled drill starts, such as freezes."
    )
    error_budget: ErrorBudgetGate | None = Field(
        default=None, description="A gate that every scheduled run must pass."
    )


def load_policy_file(path: Path) -> SchedulingPolicy:
    """Read a scheduling policy file; InvalidInput names file, line and field."""
    return load_model(path, SchedulingPolicy, noun="scheduling policy")


@dataclass(frozen=True, kw_only=True)
class FirePolicies:
    """Everything that may stop a fire, gathered from the target's file and the policy file."""

    blackouts: tuple[Blackout, ...] = ()
    error_budgets: tuple[ErrorBudgetGate, ...] = ()

    @classmethod
    def combine(cls, *sources: SchedulingPolicy | None) -> FirePolicies:
        blackouts: list[Blackout] = []
        budgets: list[ErrorBudgetGate] = []
        for source in sources:
            if source is None:
                continue
            blackouts.extend(source.blackouts)
            if source.error_budget is not None:
                budgets.append(source.error_budget)
        return cls(blackouts=tuple(blackouts), error_budgets=tuple(budgets))


@dataclass(frozen=True, kw_only=True)
class LaunchOutcome:
    """What running a fire's drill or game day gave."""

    verdict: str | None = None
    run_id: str | None = None
    """The drill's run id, or the game day's id."""
    report_dir: str | None = None
    error: str | None = None
    lock_held: str | None = None
    """Nothing ran: another drill held the cluster lock."""
    runs: tuple[RunNotice, ...] = ()
    """The drill runs it made, with their RTO and RPO, for the notification of its verdict."""


BudgetReader = Callable[[ErrorBudgetGate], tuple[float | None, str | None]]


def read_error_budget(gate: ErrorBudgetGate) -> tuple[float | None, str | None]:
    """The gate's query value, or why Prometheus could not answer it."""
    try:
        return query_instant(gate.prometheus, gate.query), None
    except PrometheusError as error:
        return None, str(error)


def fire(
    fire: Fire,
    *,
    database: Database,
    policies: FirePolicies | Callable[[], FirePolicies],
    launch: Callable[[], LaunchOutcome],
    clock: Clock,
    notifier: Notifier | None = None,
    read_budget: BudgetReader = read_error_budget,
    ledger: Path | None = None,
    signing_key: SigningKey | None = None,
) -> FireRecord:
    """Run one fire through claim, blackouts, budgets and launch; return its history row.

    ``policies`` may be a function reading them from files: a file that turns out invalid
    is then recorded as an error of this fire instead of stopping the scheduler. Skips
    enter the ``ledger`` signed with ``signing_key``.
    """

    announce = _Announcer(fire, notifier, clock)
    started: FireRecord | None = None

    def skipped(skip: Skip) -> FireRecord:
        # The fire's running row, if it got that far, is completed with the skip.
        record = record_skip(
            database,
            fire,
            skip,
            now=clock.utc(),
            started=started,
            ledger=ledger,
            signing_key=signing_key,
        )
        return announce.skipped(record)

    try:
        holder = claim_fire(database, fire, now=clock.utc())
        if holder is not None:
            skip = Skip(
                kind=SkipKind.LOCK_HELD,
                reason=f"scheduler {holder!r} took the fire of {fire.fire_time.isoformat()}",
            )
            return skipped(skip)
        current = policies() if callable(policies) else policies
        skip_or_none = check_policies(current, clock=clock, read_budget=read_budget)
        if skip_or_none is not None:
            return skipped(skip_or_none)
        started = record_started(database, fire, now=clock.utc())
        announce.send("started", started)
        outcome = launch()
    except KeyboardInterrupt:
        # Stopped (SIGINT/SIGTERM) before a drill started: say so, then stop.
        skip = Skip(kind=SkipKind.STOPPED, reason="the scheduler stopped before the drill started")
        skipped(skip)
        raise
    except DrillError as error:
        reason = str(error)
        if started is None:
            return announce.send("error", record_error(database, fire, reason, now=clock.utc()))
        record = record_finished(
            database, started, now=clock.utc(), outcome=FireOutcome.ERROR, reason=reason
        )
        return announce.send("error", record)
    if outcome.lock_held is not None:
        skip = Skip(kind=SkipKind.LOCK_HELD, reason=outcome.lock_held)
        return skipped(skip)
    if outcome.run_id is None:
        record = record_finished(
            database,
            started,
            now=clock.utc(),
            outcome=FireOutcome.ERROR,
            reason=outcome.error or "the drill did not run",
        )
        return announce.send("error", record)
    record = record_finished(
        database,
        started,
        now=clock.utc(),
        outcome=FireOutcome.RAN,
        verdict=outcome.verdict,
        run_id=outcome.run_id,
        report_dir=outcome.report_dir,
        reason=outcome.error,
    )
    return announce.send("finished", record, runs=outcome.runs)


def check_policies(
    policies: FirePolicies, *, clock: Clock, read_budget: BudgetReader = read_error_budget
) -> Skip | None:
    """The first reason, at this moment, not to run; None when the fire may run."""
    blackout = find_blackout(policies.blackouts, clock.utc())
    if blackout is not None:
        return blackout.skip()
    for gate in policies.error_budgets:
        remaining, unreadable = read_budget(gate)
        skip = judge_error_budget(remaining, gate, unreadable=unreadable)
        if skip is not None:
            return skip
    return None


class _Announcer:
    """Turns history rows into notifier events."""

    def __init__(self, fire: Fire, notifier: Notifier | None, clock: Clock) -> None:
        self.fire = fire
        self.notifier = notifier
        self.clock = clock

    def skipped(self, record: FireRecord) -> FireRecord:
        return self.send("skipped", record)

    def send(
        self, event: EventName, record: FireRecord, *, runs: Sequence[RunNotice] = ()
    ) -> FireRecord:
        if self.notifier is not None and self.notifier.configured:
            self.notifier.notify(
                FireEvent.from_record(event, record, at=self.clock.utc(), runs=runs)
            )
        return record


# -- what a fire runs ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FireSetup:
    """Where a fire finds its files and sends its reports, and which cluster it acts on."""

    drills_dir: Path
    gamedays_dir: Path
    backups_dir: Path
    reports_dir: Path
    policy_file: Path | None
    options: RunOptions
    operator: str
    signing_key: SigningKey | None = None
    """Signs the ledger entries of the fire's runs and skips, and planned backups' catalogue
    entries."""


def target_policies(kind: TargetKind, target: str, setup: FireSetup) -> FirePolicies:
    """The policies of a fire of ``target`` (``read_policies``) from the setup's files."""
    directories = TargetDirectories(
        drills_dir=setup.drills_dir, gamedays_dir=setup.gamedays_dir, backups_dir=setup.backups_dir
    )
    return read_policies(kind, target, directories=directories, policy_file=setup.policy_file)


def read_policies(
    kind: TargetKind, target: str, *, directories: TargetDirectories, policy_file: Path | None
) -> FirePolicies:
    """The target file's own ``schedule`` policies plus the scheduling policy file's
    (which is for drills and game days: backups keep running through its freezes)."""
    own = directories.load(kind, target).schedule
    shared = (
        load_policy_file(policy_file)
        if kind is not TargetKind.BACKUP and policy_file is not None and policy_file.is_file()
        else None
    )
    return FirePolicies.combine(
        SchedulingPolicy(blackouts=own.blackouts, error_budget=own.error_budget) if own else None,
        shared,
    )


@dataclass(frozen=True, kw_only=True)
class ScheduleForecast:
    """A schedule's next fires, each with the blackout window that will skip it."""

    fires: tuple[ForecastFire, ...]
    unknown: str | None = None
    """Why the windows could not be read (a target file missing or invalid): the fires
    are forecast without them."""

    def first_clear(self) -> datetime | None:
        """The first upcoming fire outside every window (None when none is known)."""
        if not self.fires:
            return None
        first = self.fires[0]
        return first.next_clear if first.blackout is not None else first.at


def forecast_schedule(
    schedule: Schedule,
    *,
    now: datetime,
    count: int,
    directories: TargetDirectories,
    policy_file: Path | None,
) -> ScheduleForecast:
    """The next ``count`` fires of ``schedule`` against the blackout windows its fires
    will read: its target file's and the scheduling policy file's."""
    fire_times = schedule.next_fire_times(now, count)
    if not fire_times:
        return ScheduleForecast(fires=())
    try:
        policies = read_policies(
            schedule.kind, schedule.target, directories=directories, policy_file=policy_file
        )
    except DrillError as error:
        return ScheduleForecast(
            fires=tuple(ForecastFire(at=fire) for fire in fire_times), unknown=str(error)
        )
    forecast = forecast_fires(
        fire_times, policies.blackouts, fire_at_or_after=schedule.fire_at_or_after
    )
    return ScheduleForecast(fires=tuple(forecast))


def launch_target(
    kind: TargetKind,
    target: str,
    setup: FireSetup,
    *,
    on_message: Callable[[str], None] = lambda _: None,
    wait: Callable[[float], None],
) -> LaunchOutcome:
    """Run the drill or, unattended, the game day, and write its report; or take the backup."""
    if kind is TargetKind.BACKUP:
        plan = load_backup_plan(find_backup_plan(setup.backups_dir, target))
        taken = take_planned_backup(
            target,
            plan,
            kubeconfig=setup.options.kubeconfig,
            context=setup.options.context,
            signing_key=setup.signing_key,
        )
        on_message(f"backup {taken.describe()}")
        return LaunchOutcome(verdict=BACKUP_TAKEN, run_id=taken.backup.name)
    launcher = DrillLauncher(
        drills_dir=setup.drills_dir,
        reports_dir=setup.reports_dir,
        options=setup.options,
        on_message=on_message,
        signing_key=setup.signing_key,
    )
    if kind is TargetKind.DRILL:
        result = launcher.run(target)
        return LaunchOutcome(
            verdict=result.verdict,
            run_id=result.run_id,
            report_dir=str(result.report_dir) if result.report_dir else None,
            error=result.error,
            lock_held=result.lock_held,
            runs=notices_of(launcher.results),
        )
    gameday = load_gameday(find_gameday_file(setup.gamedays_dir, target))
    record = run_gameday(
        gameday,
        run_drill=launcher.run,
        confirm=None,
        wait=wait,
        operator=setup.operator,
        on_message=on_message,
    )
    if record.lock_held is not None:
        return LaunchOutcome(lock_held=record.lock_held)
    report_dir = write_gameday_report(record, setup.reports_dir)
    # A scheduled game day is evidence like one run by hand: entered, signed alike.
    append_gameday(setup.reports_dir, report_dir, signing_key=setup.signing_key)
    return LaunchOutcome(
        verdict=record.verdict.value,
        run_id=record.gameday_id,
        report_dir=str(report_dir),
        error=record.stopped,
        runs=notices_of(launcher.results),
    )

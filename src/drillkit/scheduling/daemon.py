"""The scheduler daemon behind ``drill scheduler run``: APScheduler, one process per fire.

``DrillScheduler`` is an APScheduler 3 ``BackgroundScheduler`` whose job store is a
``SQLAlchemyJobStore`` in the scheduler database, one table per scheduler id, so a
restarted scheduler finds its jobs and their next fire times again, and a fire it missed
while down comes due at once. The jobs mirror the ``drill_schedules`` table: ``sync`` adds,
changes, pauses and removes them, at start and every ``refresh_interval``, so schedules
changed from the command line reach a running scheduler.

Misfires are drillkit's decision, not APScheduler's: jobs have no misfire grace and no
coalescing of their own, so every due fire time reaches ``FireExecutor``, which hands them
to ``plan_fires`` with the injected clock. Missed and coalesced fires are recorded; the
others each start ``drill schedule fire`` in a process of its own (a drill run owns its
process's signals and main thread), which claims the fire, checks the policies, runs and
records. ``max_instances=1`` keeps a schedule from overlapping itself; a fire that comes due
while the previous one still runs is recorded as "skipped: already running".

Several schedulers may share one database (PostgreSQL) and one cluster: each fires every
fire, the claim in the database lets exactly one run it, and the others record
"skipped: lock held"; the cluster Lease keeps drills from overlapping across schedulers
with different databases. With leader election (``leadership``, see that module) only the
replica holding the scheduler Lease fires: the others keep their jobs in step and let due
fires pass without running or recording them, and a replica checks that it still leads
just before it starts each fire process. A standby that takes over makes up the fires it
let pass that no replica claimed (``make_up_passed_fires``): the leader died before them.

Stopping (``stop``): no new fires start; running ones are sent SIGTERM, so the drill rolls
back and writes its report (``on_stop="rollback"``), or are left to finish
(``on_stop="finish"``), both within ``stop_timeout``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import KW_ONLY, InitVar, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Final, Literal, Protocol

import sqlalchemy as sa
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_MAX_INSTANCES,
    JobSubmissionEvent,
)
from apscheduler.executors.base import BaseExecutor  # type: ignore[import-untyped]
from apscheduler.job import Job  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import PlainSerializer, TypeAdapter, ValidationError

from drillkit.errors import DrillError
from drillkit.evidence.ledger import read_ledger
from drillkit.evidence.store import EvidenceStore, push_appended
from drillkit.model.timeline import format_utc
from drillkit.running.recorder import Clock, SystemClock
from drillkit.scheduling.database import Database, job_table_name
from drillkit.scheduling.history import Fire, is_claimed, record_skip
from drillkit.scheduling.notifications import FireEvent, Notifier
from drillkit.scheduling.policies import Skip, SkipKind, plan_fires
from drillkit.scheduling.schedules import Schedule, get_schedule, list_schedules
from drillkit.signing import SigningKey

logger = logging.getLogger(__name__)

HANDOVER_WINDOW: Final = timedelta(minutes=5)
"""How long a standby keeps a fire it let pass, to make it up should it lead before any
replica took it: longer than any lease duration."""
FIRE_FUNCTION = "drillkit.scheduling.daemon:scheduled_fire"
"""What the stored jobs name as their function (APScheduler stores a reference)."""

OnStop = Literal["rollback", "finish"]


def scheduled_fire(schedule: str, revision: int) -> None:
    """The function stored jobs refer to. Fires reach ``DrillScheduler`` through its
    ``FireExecutor``, which needs the fire times this signature cannot carry."""
    raise RuntimeError(
        f"schedule {schedule!r} fired outside drillkit's scheduler; run: drill scheduler run"
    )


# -- running fires in processes ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FireSummary:
    """What the scheduler reads of the JSON line a fire process prints last
    (``drill schedule fire --output json``); the rest of the line is the history's."""

    outcome: str | None = None
    skip_kind: str | None = None
    verdict: str | None = None
    summary: str | None = None


_SUMMARY_CODEC: Final = TypeAdapter(FireSummary)


@dataclass(frozen=True, kw_only=True)
class FireResult:
    """What a fire process printed (its JSON summary) and how it exited."""

    returncode: int
    summary: FireSummary


class FireProcesses:
    """Starts ``drill schedule fire`` processes and keeps track of those still running."""

    def __init__(
        self,
        *,
        arguments: Sequence[str],
        environment: Mapping[str, str] | None = None,
        command: Sequence[str] = (sys.executable, "-m", "drillkit.cli"),
    ) -> None:
        self.command = tuple(command)
        self.arguments = tuple(arguments)
        self.environment = dict(environment if environment is not None else os.environ)
        self._running: dict[int, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    def run(self, schedule: Schedule, fire_time: datetime, scheduler_id: str) -> FireResult:
        """Fire ``schedule`` for ``fire_time`` in a child process and wait for it."""
        argv = [
            *self.command,
            "schedule",
            "fire",
            schedule.name,
            "--fire-time",
            format_utc(fire_time),
            "--scheduler-id",
            scheduler_id,
            "--output",
            "json",
            *self.arguments,
        ]
        # A session of its own: a Ctrl-C in the scheduler's terminal reaches the scheduler
        # only, which then decides whether the fire rolls back or finishes.
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment,
            start_new_session=True,
        )
        with self._lock:
            self._running[process.pid] = process
        relay = threading.Thread(
            target=_relay_lines,
            args=(process, schedule.name),
            name=f"drill-fire-log-{schedule.name}",
            daemon=True,
        )
        relay.start()
        try:
            assert process.stdout is not None
            stdout = process.stdout.read()
            returncode = process.wait()
        finally:
            relay.join()
            with self._lock:
                self._running.pop(process.pid, None)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        return FireResult(returncode=returncode, summary=_last_json_line(stdout))

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def interrupt_all(self) -> None:
        """SIGTERM every running fire: its drill stops and rolls back."""
        for process in self._snapshot():
            _signal(process, signal.SIGTERM)

    def kill_all(self) -> None:
        for process in self._snapshot():
            logger.error(
                "fire process %d did not stop in time; killing it (its undo records are "
                "reverted by the next drill run or by: drill recover)",
                process.pid,
            )
            _signal(process, signal.SIGKILL)

    def _snapshot(self) -> list[subprocess.Popen[str]]:
        with self._lock:
            return list(self._running.values())


def _signal(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)


def _relay_lines(process: subprocess.Popen[str], schedule: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        logger.info("[%s] %s", schedule, line.rstrip())


def _last_json_line(stdout: str) -> FireSummary:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        try:
            return _SUMMARY_CODEC.validate_python(value)
        except ValidationError:
            continue
    return FireSummary()


# -- the executor ----------------------------------------------------------------------------------


class FireExecutor(BaseExecutor):  # type: ignore[misc]
    """An APScheduler executor that passes a job's due fire times to ``handle`` in a thread."""

    def __init__(self, handle: Callable[[Job, list[datetime]], None], max_workers: int) -> None:
        super().__init__()
        self._handle = handle
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="drill-fire")

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def done(future: Future[None]) -> None:
            error = future.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, [])

        self._pool.submit(self._handle, job, list(run_times)).add_done_callback(done)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


# -- metrics ---------------------------------------------------------------------------------------


class SchedulerMetrics:
    """The Prometheus metrics served on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.fires = Counter(
            "drill_scheduler_fires",
            "Fires handled, by schedule and outcome (ran, skipped, error).",
            ["schedule", "outcome"],
            registry=self.registry,
        )
        self.skips = Counter(
            "drill_scheduler_skips",
            "Fires that did not run their drill, by schedule and reason.",
            ["schedule", "reason"],
            registry=self.registry,
        )
        self.verdicts = Counter(
            "drill_scheduler_verdicts",
            "Verdicts of the drills and game days that ran, by schedule.",
            ["schedule", "verdict"],
            registry=self.registry,
        )
        self.running = Gauge(
            "drill_scheduler_fires_running",
            "Fires running now.",
            registry=self.registry,
        )
        self.schedules = Gauge(
            "drill_scheduler_schedules",
            "Schedules known to this scheduler, by state.",
            ["state"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "drill_scheduler_leader",
            "1 while this scheduler fires (it holds the scheduler Lease, or elects no "
            "leader), 0 while it stands by.",
            registry=self.registry,
        )
        self.next_fire = Gauge(
            "drill_scheduler_next_fire_timestamp_seconds",
            "When each schedule fires next (Unix time).",
            ["schedule"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True)
class ReadinessCollector:
    """The DR readiness of each service (``drill readiness``), computed from the ledger and
    the service files at each scrape, so ``/metrics`` never shows a stale score."""

    services_dir: Path
    reports_dir: Path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from drillkit.evidence.findings import assess_readiness
        from drillkit.evidence.ledger import read_ledger
        from drillkit.model.loading import load_services

        def gauge(name: str, text: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"drillkit_readiness_{name}", text, labels=list(labels))

        score = gauge("score", "DR readiness score out of 100 (drill readiness).", "service")
        last_rto = gauge(
            "last_rto_seconds", "RTO of the newest run proving it.", "service", "disruption"
        )
        last_rpo = gauge(
            "last_rpo_seconds", "RPO of the newest run proving it.", "service", "disruption"
        )
        rto_objective = gauge(
            "rto_objective_seconds", "The RTO the service promises.", "service", "disruption"
        )
        rpo_objective = gauge(
            "rpo_objective_seconds", "The RPO the service promises.", "service", "disruption"
        )
        proven = gauge(
            "last_proven_timestamp_seconds",
            "When the newest run that met the promise ended (Unix time).",
            "service",
            "disruption",
        )
        findings = gauge("open_findings", "Findings open.", "service", "disruption")
        try:
            assessed = assess_readiness(
                load_services(self.services_dir),
                read_ledger(self.reports_dir),
                now=datetime.now(UTC),
            )
        except DrillError as error:
            logger.warning("readiness metrics: %s", error)
            assessed = []
        for service in assessed:
            score.add_metric([service.service], service.score)
            for promise in service.promises:
                labels = [service.service, promise.disruption]
                findings.add_metric(labels, len(promise.open_findings))
                for family, value in (
                    (rto_objective, promise.promise.rto),
                    (rpo_objective, promise.promise.rpo),
                ):
                    if value is not None:
                        family.add_metric(labels, value.total_seconds())
                newest, last_met = promise.newest, promise.last_met
                if newest is not None and newest.rto_seconds is not None:
                    last_rto.add_metric(labels, newest.rto_seconds)
                if newest is not None and newest.rpo_seconds is not None:
                    last_rpo.add_metric(labels, newest.rpo_seconds)
                if last_met is not None:
                    proven.add_metric(labels, last_met.ended.timestamp())
        yield from (score, last_rto, last_rpo, rto_objective, rpo_objective, proven, findings)


# -- the scheduler ---------------------------------------------------------------------------------


class Leadership(Protocol):
    """What the scheduler asks of leader election (``leadership.LeaderElection``)."""

    @property
    def leading(self) -> bool:
        """Whether this replica fires now."""

    @property
    def problem(self) -> str | None:
        """Why competing for the Lease failed last, None while it works."""


@dataclass(eq=False)
class DrillScheduler:
    """APScheduler over the scheduler database, firing schedules through ``FireProcesses``."""

    database: Database
    _: KW_ONLY
    scheduler_id: str
    processes: FireProcesses
    clock: Clock = field(default_factory=SystemClock)
    notifier: Notifier | None = None
    refresh_interval: float = 5.0
    max_parallel: InitVar[int] = 4
    ledger: Path | None = None
    """The reports directory whose evidence ledger records skips too."""
    signing_key: SigningKey | None = None
    """Signs the skips this scheduler enters in the ledger (its fires sign their own)."""
    services_dir: Path | None = None
    """Service files whose readiness ``/metrics`` reports, from the ``ledger``."""
    evidence: EvidenceStore | None = None
    """The fleet's evidence store, which gets the skips entered in the ``ledger`` too
    (its fires, given ``--evidence``, enter their own)."""
    leadership: Leadership | None = None
    """Whether this replica leads now, when replicas elect a leader; None: it always fires."""
    handover_window: timedelta = HANDOVER_WINDOW
    metrics: SchedulerMetrics = field(init=False, default_factory=SchedulerMetrics)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event, repr=False)
    _refresher: threading.Thread | None = field(init=False, default=None, repr=False)
    _last_sync_error: str | None = field(init=False, default=None, repr=False)
    _executor: FireExecutor = field(init=False, repr=False)
    _scheduler: BackgroundScheduler = field(init=False, repr=False)
    _passed: dict[str, set[datetime]] = field(init=False, default_factory=dict, repr=False)
    _passed_guard: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self, max_parallel: int) -> None:
        self._executor = FireExecutor(self._fire_due, max_parallel)
        if self.services_dir is not None and self.ledger is not None:
            self.metrics.registry.register(ReadinessCollector(self.services_dir, self.ledger))
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={
                "default": SQLAlchemyJobStore(
                    engine=self.database.engine, tablename=job_table_name(self.scheduler_id)
                )
            },
            executors={"default": self._executor},
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        )
        self._scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self.metrics.leader.set_function(lambda: float(self.leading))

    @property
    def leading(self) -> bool:
        """Whether this scheduler fires now: it leads, or elects no leader."""
        return self.leadership is None or self.leadership.leading

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the stored jobs, bring them in line with the schedules, then start firing."""
        # Paused first: the jobs are synced before anything is processed, so a schedule
        # removed while the scheduler was down does not fire once on start.
        self._scheduler.start(paused=True)
        self.sync()
        self._scheduler.resume()
        self._refresher = threading.Thread(
            target=self._refresh_until_stopped, name="drill-scheduler-refresh", daemon=True
        )
        self._refresher.start()
        logger.info("scheduler %s started with %d schedule(s)", self.scheduler_id, len(self.jobs()))

    def wakeup(self) -> None:
        """Look for due fires now (after the clock moved, or a schedule changed)."""
        self._scheduler.wakeup()

    def stop(self, *, on_stop: OnStop = "rollback", timeout: float = 600.0) -> None:
        """Stop firing; let running fires roll back or finish, within ``timeout`` seconds."""
        self._stopping.set()
        # Shutting APScheduler down waits for a pass over the due jobs in progress, so no
        # fire is submitted after this; fires already submitted go on in our pool.
        self._scheduler.shutdown(wait=False)
        running = self.processes.running
        if running:
            action = "rolling back" if on_stop == "rollback" else "letting them finish"
            logger.info("stopping: %d fire(s) running, %s", running, action)
        if on_stop == "rollback":
            self.processes.interrupt_all()
        finished = threading.Event()

        def wait_for_fires() -> None:
            self._executor.shutdown(wait=True)
            finished.set()

        waiter = threading.Thread(target=wait_for_fires, name="drill-scheduler-stop", daemon=True)
        waiter.start()
        if not finished.wait(timeout):
            self.processes.kill_all()
            finished.wait(60)
        if self._refresher is not None:
            self._refresher.join()
        logger.info("scheduler %s stopped", self.scheduler_id)

    # -- schedules to jobs -----------------------------------------------------------------------

    def sync(self) -> None:
        """Make the job store match ``drill_schedules``: add, change, pause, remove."""
        now = self.clock.utc()
        schedules = {schedule.name: schedule for schedule in list_schedules(self.database)}
        jobs = {job.id: job for job in self._scheduler.get_jobs()}
        for name in jobs.keys() - schedules.keys():
            logger.info("schedule %s was removed", name)
            self._scheduler.remove_job(name)
        for name, schedule in schedules.items():
            job = jobs.get(name)
            if job is not None and job.kwargs.get("revision") == schedule.revision:
                continue
            trigger = schedule.trigger()
            next_run = None if schedule.paused else trigger.get_next_fire_time(None, now)
            kwargs = {"schedule": name, "revision": schedule.revision}
            if job is None:
                self._scheduler.add_job(
                    FIRE_FUNCTION,
                    trigger=trigger,
                    id=name,
                    name=name,
                    kwargs=kwargs,
                    next_run_time=next_run,
                    replace_existing=True,
                )
                logger.info("schedule %s added: %s", name, schedule.describe_when())
            else:
                self._scheduler.modify_job(
                    name, trigger=trigger, kwargs=kwargs, next_run_time=next_run
                )
                state = "paused" if schedule.paused else schedule.describe_when()
                logger.info("schedule %s changed: %s", name, state)
        self._update_schedule_metrics()
        self.make_up_passed_fires()

    def jobs(self) -> list[Job]:
        return list(self._scheduler.get_jobs())

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each schedule's next fire time as this scheduler's job store holds it."""
        return {job.id: job.next_run_time for job in self.jobs()}

    def _update_schedule_metrics(self) -> None:
        jobs = self.jobs()
        self.metrics.schedules.labels(state="active").set(
            sum(1 for job in jobs if job.next_run_time is not None)
        )
        self.metrics.schedules.labels(state="paused").set(
            sum(1 for job in jobs if job.next_run_time is None)
        )
        self.metrics.next_fire.clear()
        for job in jobs:
            if job.next_run_time is not None:
                self.metrics.next_fire.labels(schedule=job.id).set(job.next_run_time.timestamp())

    def _refresh_until_stopped(self) -> None:
        while not self._stopping.wait(self.refresh_interval):
            try:
                self.sync()
                self._last_sync_error = None
            except Exception as error:  # a database blip must not end the loop
                self._last_sync_error = str(error)
                logger.warning("reading the schedules failed: %s", error)
            self.wakeup()

    # -- fires -----------------------------------------------------------------------------------

    def _fire_due(self, job: Job, run_times: list[datetime]) -> None:
        if not self.leading:
            # The leader fires these, and records what it skips; the job store still moves
            # on, so this replica has the next fire times when it takes over.
            logger.info(
                "standing by: %s for %s is the leader's to fire",
                job.id,
                ", ".join(format_utc(t) for t in run_times),
            )
            oldest = self.clock.utc() - self.handover_window
            with self._passed_guard:
                kept = {t for t in self._passed.get(job.id, ()) if t >= oldest}
                self._passed[job.id] = kept | set(run_times)
            return
        self._fire(job.id, run_times)

    def make_up_passed_fires(self) -> None:
        """Once this replica leads: fire (or record as missed, past their grace) the fires
        it let pass while standing by that no replica took, as a leader that died before
        firing leaves them. Called with each ``sync``; the fires run in a thread of their
        own, as due fires do in the executor's."""
        with self._passed_guard:
            if not self._passed or not self.leading:
                return
            passed, self._passed = self._passed, {}
        oldest = self.clock.utc() - self.handover_window
        untaken = {
            name: sorted(t for t in times if t >= oldest and not is_claimed(self.database, name, t))
            for name, times in passed.items()
        }
        for name, times in untaken.items():
            if times:
                logger.info(
                    "taking over: %s for %s came due while no replica led",
                    name,
                    ", ".join(format_utc(t) for t in times),
                )
                threading.Thread(
                    target=self._fire, args=(name, times), name="drill-scheduler-makeup"
                ).start()

    def _fire(self, name: str, run_times: list[datetime]) -> None:
        schedule = get_schedule(self.database, name)
        if schedule is None:
            return  # removed since the job came due
        plan = plan_fires(
            run_times,
            now=self.clock.utc(),
            misfire_grace=schedule.misfire_grace,
            coalesce=schedule.coalesce,
        )
        for fire_time, skip in plan.skipped:
            self._record_skip(schedule, fire_time, skip)
        for fire_time in plan.run:
            if self._stopping.is_set():
                skip = Skip(
                    kind=SkipKind.STOPPED,
                    reason="the scheduler stopped before the drill started",
                )
                self._record_skip(schedule, fire_time, skip)
                continue
            # Leadership may have gone since the job came due: a replica that lost the
            # Lease must not start another fire.
            if not self.leading:
                logger.info(
                    "not firing %s for %s: no longer the leader",
                    schedule.name,
                    format_utc(fire_time),
                )
                continue
            self._launch(schedule, fire_time)

    def _launch(self, schedule: Schedule, fire_time: datetime) -> None:
        logger.info(
            "firing %s (%s %s) for %s",
            schedule.name,
            schedule.kind,
            schedule.target,
            format_utc(fire_time),
        )
        self.metrics.running.inc()
        try:
            result = self.processes.run(schedule, fire_time, self.scheduler_id)
        finally:
            self.metrics.running.dec()
        summary = result.summary
        outcome = summary.outcome or "error"
        self.metrics.fires.labels(schedule=schedule.name, outcome=outcome).inc()
        if outcome == "skipped":
            self.metrics.skips.labels(schedule=schedule.name, reason=str(summary.skip_kind)).inc()
        elif outcome == "ran":
            self.metrics.verdicts.labels(schedule=schedule.name, verdict=str(summary.verdict)).inc()
        logger.info(
            "fire of %s for %s: %s",
            schedule.name,
            format_utc(fire_time),
            summary.summary or f"exit status {result.returncode}",
        )

    def _record_skip(self, schedule: Schedule, fire_time: datetime, skip: Skip) -> None:
        fire = Fire(
            schedule=schedule.name,
            kind=schedule.kind,
            target=schedule.target,
            fire_time=fire_time,
            scheduler=self.scheduler_id,
        )
        now = self.clock.utc()
        appended_after = len(read_ledger(self.ledger)) if self.ledger is not None else 0
        record = record_skip(
            self.database, fire, skip, now=now, ledger=self.ledger, signing_key=self.signing_key
        )
        if self.evidence is not None and self.ledger is not None:
            try:
                push_appended(
                    self.evidence, self.ledger, after=appended_after, signing_key=self.signing_key
                )
            except DrillError as error:
                # The skip is in the local ledger: drill evidence sync enters it later.
                logger.warning(
                    "the skip of %s is not in the evidence store %s: %s; push it later with: "
                    "drill evidence sync",
                    schedule.name,
                    self.evidence.url,
                    error,
                )
        self.metrics.fires.labels(schedule=schedule.name, outcome="skipped").inc()
        self.metrics.skips.labels(schedule=schedule.name, reason=skip.kind.value).inc()
        logger.warning(
            "fire of %s for %s %s", schedule.name, format_utc(fire_time), skip.describe()
        )
        if self.notifier is not None and self.notifier.configured:
            self.notifier.notify(FireEvent.from_record("skipped", record, at=now))

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        if not self.leading:
            return
        schedule = get_schedule(self.database, event.job_id)
        if schedule is None:
            return
        for fire_time in event.scheduled_run_times:
            skip = Skip(
                kind=SkipKind.ALREADY_RUNNING,
                reason=f"the previous fire of {schedule.name} was still running",
            )
            self._record_skip(schedule, fire_time, skip)

    # -- health ----------------------------------------------------------------------------------

    def health(self) -> SchedulerHealth:
        """Whether the scheduler is healthy, and why not, as ``/healthz`` shows it."""
        problems: list[str] = []
        try:
            with self.database.begin("checking the database") as connection:
                connection.execute(sa.text("SELECT 1"))
        except Exception as error:  # any failure is the health answer
            problems.append(f"database: {error}")
        if self._last_sync_error:
            problems.append(f"schedules: {self._last_sync_error}")
        if self._stopping.is_set():
            problems.append("stopping")
        if self.leadership is not None and self.leadership.problem is not None:
            problems.append(f"leader election: {self.leadership.problem}")
        return SchedulerHealth(
            status="ok" if not problems else "unhealthy",
            scheduler=self.scheduler_id,
            leader=None if self.leadership is None else self.leadership.leading,
            database=self.database.shown_url,
            fires_running=self.processes.running,
            schedules=tuple(
                ScheduleState(
                    name=job.id, next_fire=job.next_run_time, paused=job.next_run_time is None
                )
                for job in self.jobs()
            ),
            problems=tuple(problems),
        )


_UtcTime = Annotated[datetime, PlainSerializer(format_utc, when_used="json")]


@dataclass(frozen=True, kw_only=True)
class ScheduleState:
    """One schedule in ``/healthz``: its next fire time in the job store, None while paused."""

    name: str
    next_fire: _UtcTime | None
    paused: bool


@dataclass(frozen=True, kw_only=True)
class SchedulerHealth:
    """``/healthz``: the scheduler's state, and what makes it unhealthy if anything does."""

    status: Literal["ok", "unhealthy"]
    scheduler: str
    leader: bool | None
    """Whether this replica holds the scheduler Lease and fires; None without
    ``--leader-elect`` (it fires every fire). A standby is healthy."""
    database: str
    """The database URL as shown to people (its password hidden)."""
    fires_running: int
    schedules: tuple[ScheduleState, ...]
    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems


_HEALTH_CODEC: Final = TypeAdapter(SchedulerHealth)


# -- /healthz and /metrics -------------------------------------------------------------------------


class StatusServer:
    """``/healthz`` (JSON) and ``/metrics`` (Prometheus text) on a loopback port."""

    def __init__(self, scheduler: DrillScheduler, *, port: int, host: str = "127.0.0.1") -> None:
        self.scheduler = scheduler
        handler = _status_handler(scheduler)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="drill-scheduler-status", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _status_handler(scheduler: DrillScheduler) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                health = scheduler.health()
                document = _HEALTH_CODEC.dump_python(health, mode="json")
                body = json.dumps(document, indent=2).encode() + b"\n"
                self._answer(200 if health.healthy else 503, "application/json", body)
            elif self.path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, scheduler.metrics.render())
            else:
                self._answer(404, "text/plain", b"not found: try /healthz or /metrics\n")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("status: " + format, *args)

    return Handler

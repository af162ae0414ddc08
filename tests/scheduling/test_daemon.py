"""The scheduler daemon: a persistent job store, misfires after downtime, pause, stop.

Time is an injected clock shared by APScheduler's loop and drillkit's decisions; the
tests move it and wake the scheduler instead of sleeping. Fires are real: each starts
``drill schedule fire`` in a process of its own, which runs a drill without a cluster.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.scheduling.daemon import DrillScheduler, FireProcesses, Leadership, StatusServer
from drillkit.scheduling.database import Database
from drillkit.scheduling.history import Fire, FireOutcome, FireRecord, claim_fire, list_fires
from drillkit.scheduling.notifications import Notifier
from drillkit.scheduling.policies import SkipKind
from drillkit.scheduling.schedules import ScheduleSettings, TargetKind, add_schedule, set_paused
from tests.helpers import wait_until
from tests.scheduling.conftest import TEST_DRILLS, FakeClock, Receiver

REPOSITORY = Path(__file__).resolve().parents[2]
SLOW_DRILLS = REPOSITORY / "tests" / "running" / "drills"
MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class LogLines(logging.Handler):
    """Every message the scheduler logs, to wait on."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger("drillkit.scheduling")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


class Schedulers:
    """Starts schedulers on one database, as restarts of one scheduler or as several."""

    def __init__(self, url: str, clock: FakeClock, tmp_path: Path, drills_dir: Path) -> None:
        self.url = url
        self.clock = clock
        self.tmp_path = tmp_path
        self.drills_dir = drills_dir
        self.database = Database(url)
        self.running: list[DrillScheduler] = []

    def start(
        self,
        scheduler_id: str = "a",
        notifier: Notifier | None = None,
        leadership: Leadership | None = None,
    ) -> DrillScheduler:
        environment = dict(
            os.environ,
            DRILL_SCHEDULER_DATABASE=self.url,
            KUBECONFIG=str(self.tmp_path / "no-kubeconfig"),
            SERVICE_FILE=str(self.tmp_path / "service"),
            ROLLBACK_MARK=str(self.tmp_path / "rolled-back"),
        )
        (self.tmp_path / "service").touch()
        arguments = [
            "--drills-dir", str(self.drills_dir),
            "--gamedays-dir", str(self.tmp_path / "gamedays"),
            "--reports-dir", str(self.tmp_path / "reports"),
            "--policy", str(self.tmp_path / "no-policy.yaml"),
        ]  # fmt: skip
        processes = FireProcesses(arguments=arguments, environment=environment)
        scheduler = DrillScheduler(
            Database(self.url),
            scheduler_id=scheduler_id,
            processes=processes,
            clock=self.clock,
            notifier=notifier,
            leadership=leadership,
            # The tests sync and wake the scheduler themselves.
            refresh_interval=3600,
        )
        scheduler.start()
        self.running.append(scheduler)
        return scheduler

    def stop(self, scheduler: DrillScheduler, **options: object) -> None:
        scheduler.stop(**options)  # type: ignore[arg-type]
        scheduler.database.close()
        self.running.remove(scheduler)

    def add(self, target: str = "noop", **changes: object) -> None:
        values: dict[str, object] = {
            "name": target,
            "kind": TargetKind.DRILL,
            "target": target,
            "cron": "0 10 * * *",
            "timezone": "UTC",
            "misfire_grace": timedelta(minutes=30),
        }
        values.update(changes)
        add_schedule(self.database, ScheduleSettings(**values), now=self.clock.utc())  # type: ignore[arg-type]

    def fires(self, fire_time: datetime) -> list[FireRecord]:
        return [r for r in list_fires(self.database, limit=1000) if r.fire_time == fire_time]

    def wait_for_fire(self, fire_time: datetime, count: int = 1) -> list[FireRecord]:
        def done() -> list[FireRecord] | None:
            found = [r for r in self.fires(fire_time) if r.outcome is not FireOutcome.RUNNING]
            return found if len(found) >= count else None

        result: list[FireRecord] = wait_until(f"{count} fire(s) for {fire_time}", done)
        return result

    def close(self) -> None:
        for scheduler in list(self.running):
            self.stop(scheduler)
        self.database.close()


@pytest.fixture
def schedulers(sqlite_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Schedulers]:
    clock.set(MONDAY_9)
    started = Schedulers(sqlite_url, clock, tmp_path, TEST_DRILLS)
    yield started
    started.close()


def test_a_restarted_scheduler_keeps_its_jobs_and_runs_a_fire_missed_within_the_grace_once(
    schedulers: Schedulers, clock: FakeClock
) -> None:
    schedulers.add()
    first = schedulers.start()
    assert first.next_fire_times() == {"noop": datetime(2026, 1, 5, 10, 0, tzinfo=UTC)}
    schedulers.stop(first)

    # Down from 09:00 to 10:20: the 10:00 fire is 20 minutes late, within the 30m grace.
    clock.set(datetime(2026, 1, 5, 10, 20, tzinfo=UTC))
    restarted = schedulers.start()

    (record,) = schedulers.wait_for_fire(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    assert record.outcome is FireOutcome.RAN
    assert record.verdict == "met"
    assert record.scheduler == "a"
    assert restarted.next_fire_times() == {"noop": datetime(2026, 1, 6, 10, 0, tzinfo=UTC)}
    schedulers.stop(restarted)
    # It ran once: no second row for the same fire.
    assert len(schedulers.fires(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))) == 1


def test_a_fire_missed_beyond_the_grace_is_recorded_as_missed_and_not_run(
    schedulers: Schedulers, clock: FakeClock
) -> None:
    schedulers.add()
    schedulers.stop(schedulers.start())

    # Down until 11:05: the 10:00 fire is 65 minutes late.
    clock.set(datetime(2026, 1, 5, 11, 5, tzinfo=UTC))
    restarted = schedulers.start()

    (record,) = schedulers.wait_for_fire(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    assert record.outcome is FireOutcome.SKIPPED
    assert record.skip_kind is SkipKind.MISSED
    assert record.reason == (
        "the fire of 2026-01-05T10:00:00+00:00 came 1h5m late, beyond the misfire grace of "
        "30m (the scheduler was not running)"
    )
    assert restarted.next_fire_times() == {"noop": datetime(2026, 1, 6, 10, 0, tzinfo=UTC)}
    assert not (schedulers.tmp_path / "reports").exists()


def test_a_fire_the_scheduler_skips_itself_is_announced_as_the_history_records_it(
    schedulers: Schedulers, clock: FakeClock, receiver: Receiver
) -> None:
    schedulers.add()
    schedulers.stop(schedulers.start())

    clock.set(datetime(2026, 1, 5, 11, 5, tzinfo=UTC))
    schedulers.start(notifier=Notifier(webhooks=[f"{receiver.url}/hook"]))

    (record,) = schedulers.wait_for_fire(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    ((path, body),) = wait_until("the skip announced", lambda: receiver.received() or None)
    assert path == "/hook"
    assert body == {
        "source": "drillkit",
        "event": "skipped",
        "schedule": "noop",
        "target": {"kind": "drill", "name": "noop"},
        "fire_time": "2026-01-05T10:00:00.000Z",
        "scheduler": "a",
        "at": "2026-01-05T11:05:00.000Z",
        "run_id": None,
        "verdict": None,
        "report_dir": None,
        "skip": {"kind": "missed", "reason": record.reason},
        "error": None,
        "text": f"noop (drill noop): skipped: missed: {record.reason}",
        # A skip concludes no drill run: no RTO or RPO to tell.
        "runs": [],
    }


def test_fires_missed_during_a_long_downtime_are_coalesced_into_one_run(
    schedulers: Schedulers, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 1, 5, 8, 55, tzinfo=UTC))
    schedulers.add(cron="*/10 * * * *", misfire_grace=timedelta(hours=1))
    schedulers.stop(schedulers.start())

    clock.set(datetime(2026, 1, 5, 9, 25, tzinfo=UTC))
    schedulers.start()

    ran = schedulers.wait_for_fire(datetime(2026, 1, 5, 9, 20, tzinfo=UTC))
    assert [r.outcome for r in ran] == [FireOutcome.RAN]
    for minute in (0, 10):
        (coalesced,) = schedulers.fires(datetime(2026, 1, 5, 9, minute, tzinfo=UTC))
        assert coalesced.describe() == (
            "skipped: coalesced: coalesced into the fire of 2026-01-05T09:20:00+00:00, "
            "which ran instead"
        )


def test_a_running_scheduler_fires_when_the_time_comes(
    schedulers: Schedulers, clock: FakeClock
) -> None:
    schedulers.add()
    scheduler = schedulers.start()
    assert schedulers.fires(datetime(2026, 1, 5, 10, 0, tzinfo=UTC)) == []

    clock.set(datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    scheduler.wakeup()

    (record,) = schedulers.wait_for_fire(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    assert record.outcome is FireOutcome.RAN


def test_pausing_from_the_command_line_reaches_a_running_scheduler(
    schedulers: Schedulers, clock: FakeClock
) -> None:
    schedulers.add()
    scheduler = schedulers.start()

    set_paused(schedulers.database, "noop", paused=True, now=clock.utc())
    scheduler.sync()
    assert scheduler.next_fire_times() == {"noop": None}
    clock.set(datetime(2026, 1, 7, 12, 0, tzinfo=UTC))
    set_paused(schedulers.database, "noop", paused=False, now=clock.utc())
    scheduler.sync()

    # Fires while paused are not made up: the next is the first after resuming.
    assert scheduler.next_fire_times() == {"noop": datetime(2026, 1, 8, 10, 0, tzinfo=UTC)}


def test_health_and_metrics_are_served_on_loopback(
    schedulers: Schedulers, clock: FakeClock
) -> None:
    schedulers.add()
    scheduler = schedulers.start()
    server = StatusServer(scheduler, port=0)
    server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok"
        assert health["schedules"] == [
            {"name": "noop", "next_fire": "2026-01-05T10:00:00.000Z", "paused": False}
        ]
        clock.set(datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
        scheduler.wakeup()
        schedulers.wait_for_fire(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))

        def metrics_with_the_run() -> str | None:
            with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
                text: str = response.read().decode()
            return text if 'outcome="ran"' in text else None

        text = wait_until("the fire in the metrics", metrics_with_the_run)
        assert 'drill_scheduler_fires_total{outcome="ran",schedule="noop"} 1.0' in text
        assert 'drill_scheduler_verdicts_total{schedule="noop",verdict="met"} 1.0' in text
        assert "drill_scheduler_next_fire_timestamp_seconds" in text
    finally:
        server.stop()


def slow_drill(directory: Path, seconds: int) -> Path:
    """The slow-fault drill of the runner's tests, its fault lasting ``seconds``."""
    directory.mkdir(parents=True, exist_ok=True)
    drill = yaml.safe_load((SLOW_DRILLS / "slow-fault.yaml").read_text())
    experiment = yaml.safe_load((SLOW_DRILLS / "slow-fault-experiment.yaml").read_text())
    experiment["method"][0]["provider"]["arguments"] = [str(seconds)]
    (directory / "slow-fault-experiment.yaml").write_text(yaml.safe_dump(experiment))
    (directory / "slow-fault.yaml").write_text(yaml.safe_dump(drill))
    return directory


def test_an_overlapping_fire_is_skipped_and_stopping_rolls_the_running_drill_back(
    sqlite_url: str, clock: FakeClock, tmp_path: Path, log_lines: LogLines
) -> None:
    clock.set(MONDAY_9)
    schedulers = Schedulers(sqlite_url, clock, tmp_path, slow_drill(tmp_path / "drills", 600))
    try:
        schedulers.add("slow-fault")
        scheduler = schedulers.start()
        clock.set(datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
        scheduler.wakeup()
        wait_until("the slow fault to start", lambda: log_lines.saw("action slow-fault started"))
        # The next day's fire comes while this one still runs: a schedule never overlaps
        # itself, and the fire is recorded as skipped.
        clock.set(datetime(2026, 1, 6, 10, 0, 1, tzinfo=UTC))
        scheduler.wakeup()
        (overlap,) = schedulers.wait_for_fire(datetime(2026, 1, 6, 10, 0, tzinfo=UTC))
        assert overlap.describe() == (
            "skipped: already running: the previous fire of slow-fault was still running"
        )

        schedulers.stop(scheduler, on_stop="rollback", timeout=300)

        (record,) = schedulers.fires(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
        assert record.outcome is FireOutcome.RAN
        assert record.verdict == "aborted"
        assert (tmp_path / "rolled-back").exists()
        report = json.loads((Path(str(record.report_dir)) / "report.json").read_text())
        assert report["status"] == "interrupted"
    finally:
        schedulers.close()


def test_stopping_with_finish_lets_a_running_drill_complete(
    sqlite_url: str, clock: FakeClock, tmp_path: Path, log_lines: LogLines
) -> None:
    clock.set(MONDAY_9)
    schedulers = Schedulers(sqlite_url, clock, tmp_path, slow_drill(tmp_path / "drills", 2))
    try:
        schedulers.add("slow-fault")
        scheduler = schedulers.start()
        clock.set(datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
        scheduler.wakeup()
        wait_until("the slow fault to start", lambda: log_lines.saw("action slow-fault started"))

        schedulers.stop(scheduler, on_stop="finish", timeout=300)

        (record,) = schedulers.fires(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
        assert record.outcome is FireOutcome.RAN
        report = json.loads((Path(str(record.report_dir)) / "report.json").read_text())
        assert report["status"] == "completed"
    finally:
        schedulers.close()


def test_the_health_document_keeps_its_bytes(schedulers: Schedulers) -> None:
    schedulers.add()
    schedulers.add("paused-one")
    set_paused(schedulers.database, "paused-one", paused=True, now=schedulers.clock.utc())
    scheduler = schedulers.start()
    server = StatusServer(scheduler, port=0)
    server.start()
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
            body = response.read()
    finally:
        server.stop()
    database = json.dumps(scheduler.database.shown_url)
    assert body.decode() == (
        "{\n"
        '  "status": "ok",\n'
        '  "scheduler": "a",\n'
        '  "leader": null,\n'
        f'  "database": {database},\n'
        '  "fires_running": 0,\n'
        '  "schedules": [\n'
        "    {\n"
        '      "name": "noop",\n'
        '      "next_fire": "2026-01-05T10:00:00.000Z",\n'
        '      "paused": false\n'
        "    },\n"
        "    {\n"
        '      "name": "paused-one",\n'
        '      "next_fire": null,\n'
        '      "paused": true\n'
        "    }\n"
        "  ],\n"
        '  "problems": []\n'
        "}\n"
    )


def read_status(server: StatusServer) -> tuple[dict[str, Any], str]:
    """The scheduler's /healthz document and its /metrics text."""
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:
        health: dict[str, Any] = json.loads(response.read())
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        metrics: str = response.read().decode()
    return health, metrics


@dataclass
class FakeLeadership:
    """Leader election as a test decides it."""

    answer: Callable[[], bool]
    problem: str | None = None

    @property
    def leading(self) -> bool:
        return self.answer()


def let_the_fire_come_due(
    scheduler: DrillScheduler, clock: FakeClock, log_lines: LogLines, logged: str
) -> None:
    """Move past the 10:00 fire, wake the scheduler and wait until it logs ``logged``."""
    clock.set(datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    scheduler.wakeup()
    wait_until(f"the scheduler to log {logged!r}", lambda: log_lines.saw(logged))


def test_a_standby_lets_due_fires_pass_unrecorded_and_fires_once_it_leads(
    schedulers: Schedulers, clock: FakeClock, log_lines: LogLines
) -> None:
    leading = threading.Event()
    schedulers.add()
    scheduler = schedulers.start(leadership=FakeLeadership(leading.is_set))
    server = StatusServer(scheduler, port=0)
    server.start()
    try:
        let_the_fire_come_due(
            scheduler, clock, log_lines, "standing by: noop for 2026-01-05T10:00:00.000Z"
        )
        assert schedulers.fires(datetime(2026, 1, 5, 10, 0, tzinfo=UTC)) == []
        assert scheduler.next_fire_times() == {"noop": datetime(2026, 1, 6, 10, 0, tzinfo=UTC)}
        health, metrics = read_status(server)
        assert (health["status"], health["leader"]) == ("ok", False)
        assert "drill_scheduler_leader 0.0" in metrics

        leading.set()
        clock.set(datetime(2026, 1, 6, 10, 0, 1, tzinfo=UTC))
        scheduler.wakeup()

        (record,) = schedulers.wait_for_fire(datetime(2026, 1, 6, 10, 0, tzinfo=UTC))
        assert record.outcome is FireOutcome.RAN
        health, metrics = read_status(server)
        assert (health["status"], health["leader"]) == ("ok", True)
        assert "drill_scheduler_leader 1.0" in metrics
    finally:
        server.stop()


def test_a_scheduler_that_stops_leading_after_a_fire_came_due_does_not_start_it(
    schedulers: Schedulers, clock: FakeClock, log_lines: LogLines
) -> None:
    answers = iter([True])
    # Leads when the fire comes due, and has lost the Lease by the time it would start it.
    schedulers.add()
    scheduler = schedulers.start(leadership=FakeLeadership(lambda: next(answers, False)))

    let_the_fire_come_due(
        scheduler,
        clock,
        log_lines,
        "not firing noop for 2026-01-05T10:00:00.000Z: no longer the leader",
    )
    assert schedulers.fires(datetime(2026, 1, 5, 10, 0, tzinfo=UTC)) == []


def test_a_replica_that_cannot_compete_for_the_lease_is_unhealthy_and_says_why(
    schedulers: Schedulers,
) -> None:
    problem = "leases.coordination.k8s.io is forbidden"
    scheduler = schedulers.start(leadership=FakeLeadership(lambda: False, problem=problem))

    health = scheduler.health()

    assert not health.healthy
    assert health.leader is False
    assert health.problems == (f"leader election: {problem}",)


def test_a_fire_no_replica_took_while_the_leader_was_gone_is_made_up_once_it_leads(
    schedulers: Schedulers, clock: FakeClock, log_lines: LogLines
) -> None:
    # The leader died before 10:00; this replica lets the fire pass, then takes over.
    leading = threading.Event()
    schedulers.add()
    schedulers.add(name="taken")
    scheduler = schedulers.start(leadership=FakeLeadership(leading.is_set))
    let_the_fire_come_due(
        scheduler, clock, log_lines, "standing by: taken for 2026-01-05T10:00:00.000Z"
    )
    wait_until(
        "both fires to pass",
        lambda: log_lines.saw("standing by: noop for 2026-01-05T10:00:00.000Z"),
    )
    fire_time = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    # One of the two the old leader had taken before it died.
    taken = Fire(
        schedule="taken",
        kind=TargetKind.DRILL,
        target="noop",
        fire_time=fire_time,
        scheduler="old-leader",
    )
    assert claim_fire(schedulers.database, taken, now=clock.utc()) is None

    leading.set()
    clock.set(datetime(2026, 1, 5, 10, 0, 20, tzinfo=UTC))
    scheduler.sync()

    (record,) = schedulers.wait_for_fire(fire_time)
    assert (record.schedule, record.outcome) == ("noop", FireOutcome.RAN)
    assert log_lines.saw("taking over: noop for 2026-01-05T10:00:00.000Z came due while no")
    # Made up once: a second sync finds nothing left to make up.
    scheduler.sync()
    assert [r.schedule for r in schedulers.fires(fire_time)] == ["noop"]

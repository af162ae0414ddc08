"""Schedules, the fire history and fire claims, against every backend: SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from drillkit.errors import InvalidInput
from drillkit.scheduling.database import Database, SchedulerDatabaseError, job_table_name
from drillkit.scheduling.history import (
    Fire,
    FireOutcome,
    claim_fire,
    list_fires,
    record_finished,
    record_skip,
    record_started,
)
from drillkit.scheduling.policies import Skip, SkipKind
from drillkit.scheduling.schedules import (
    ScheduleSettings,
    TargetKind,
    add_schedule,
    list_schedules,
    remove_schedule,
    require_schedule,
    set_paused,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Database]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_database")
    with Database(url) as opened:
        yield opened


def settings(name: str = "pod-kill", **changes: object) -> ScheduleSettings:
    values: dict[str, object] = {
        "name": name,
        "kind": TargetKind.DRILL,
        "target": "pod-kill",
        "cron": "0 10 * * TUE",
        "timezone": "Europe/Berlin",
    }
    values.update(changes)
    return ScheduleSettings(**values)  # type: ignore[arg-type]


def a_fire(scheduler: str = "a", fire_time: datetime = NOW) -> Fire:
    return Fire(
        schedule="pod-kill",
        kind=TargetKind.DRILL,
        target="pod-kill",
        fire_time=fire_time,
        scheduler=scheduler,
    )


def test_a_schedule_is_stored_and_listed_with_its_next_fire_times(database: Database) -> None:
    add_schedule(database, settings(jitter=timedelta(minutes=10)), now=NOW)

    (stored,) = list_schedules(database)
    assert stored.name == "pod-kill"
    assert stored.describe_when() == "0 10 * * TUE Europe/Berlin, jitter 10m"
    fires = stored.next_fire_times(NOW, 2)
    assert [f"{t:%a %Y-%m-%d}" for t in fires] == ["Tue 2026-01-06", "Tue 2026-01-13"]
    assert all(
        timedelta(0) <= (t - t.replace(minute=0, second=0)) < timedelta(minutes=10) for t in fires
    )


def test_adding_a_schedule_twice_is_refused_unless_replaced(database: Database) -> None:
    add_schedule(database, settings(), now=NOW)

    with pytest.raises(InvalidInput, match="a schedule named 'pod-kill' exists"):
        add_schedule(database, settings(cron="0 11 * * TUE"), now=NOW)
    replaced = add_schedule(database, settings(cron="0 11 * * TUE"), now=NOW, replace=True)
    assert replaced.cron == "0 11 * * TUE"
    assert replaced.revision == 2


def test_jitter_must_be_shorter_than_the_time_between_fires(database: Database) -> None:
    with pytest.raises(InvalidInput, match="jitter 20m is not shorter than the 15m"):
        add_schedule(database, settings(cron="*/15 * * * *", jitter=timedelta(minutes=20)), now=NOW)


def test_pausing_and_resuming_changes_the_revision_and_the_next_fires(database: Database) -> None:
    add_schedule(database, settings(), now=NOW)

    paused = set_paused(database, "pod-kill", paused=True, now=NOW)
    assert paused.paused and paused.next_fire_times(NOW) == []
    resumed = set_paused(database, "pod-kill", paused=False, now=NOW)
    assert not resumed.paused and resumed.revision == 3
    assert resumed.next_fire_times(NOW) != []


def test_an_unknown_schedule_is_named_with_the_known_ones(database: Database) -> None:
    add_schedule(database, settings(), now=NOW)

    with pytest.raises(InvalidInput, match="no schedule named 'nope'; schedules: pod-kill"):
        require_schedule(database, "nope")
    remove_schedule(database, "pod-kill")
    with pytest.raises(InvalidInput, match="there are no schedules yet"):
        remove_schedule(database, "pod-kill")


def test_a_fire_is_claimed_by_the_first_scheduler_only(database: Database) -> None:
    assert claim_fire(database, a_fire("a"), now=NOW) is None
    assert claim_fire(database, a_fire("b"), now=NOW) == "a"
    # Another fire time is another claim.
    later = a_fire("b", fire_time=NOW + timedelta(days=7))
    assert claim_fire(database, later, now=NOW) is None


def _claim_in_a_process(url: str, scheduler: str, results: multiprocessing.Queue[object]) -> None:
    with Database(url) as opened:
        results.put((scheduler, claim_fire(opened, a_fire(scheduler), now=NOW)))


def test_schedulers_in_separate_processes_claim_a_fire_exactly_once(database: Database) -> None:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[object] = context.Queue()
    processes = [
        context.Process(target=_claim_in_a_process, args=(database.url, name, results))
        for name in ("a", "b", "c", "d")
    ]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)  # type: ignore[misc]
    for process in processes:
        process.join(timeout=120)

    winners = [name for name, holder in outcomes.items() if holder is None]
    assert len(winners) == 1
    assert all(holder == winners[0] for holder in outcomes.values() if holder is not None)


def test_the_history_records_runs_and_skips_with_their_reasons(database: Database) -> None:
    started = record_started(database, a_fire(), now=NOW)
    assert started.outcome is FireOutcome.RUNNING
    finished = record_finished(
        database,
        started,
        now=NOW + timedelta(seconds=30),
        outcome=FireOutcome.RAN,
        verdict="met",
        run_id="20260105-090000-abcdef",
        report_dir="reports/pod-kill/20260105-090000-abcdef",
    )
    assert finished.describe() == "ran: met, run 20260105-090000-abcdef"
    skip = Skip(kind=SkipKind.BLACKOUT, reason="inside blackout window 'freeze'")
    skipped = record_skip(
        database, a_fire(fire_time=NOW + timedelta(days=7)), skip, now=NOW + timedelta(days=7)
    )
    assert skipped.describe() == "skipped: blackout: inside blackout window 'freeze'"

    newest_first = list_fires(database, schedule="pod-kill")
    assert [r.outcome for r in newest_first] == [FireOutcome.SKIPPED, FireOutcome.RAN]
    assert newest_first[0].skip_kind is SkipKind.BLACKOUT
    assert newest_first[1].finished_at == NOW + timedelta(seconds=30)


def test_a_skip_found_after_the_start_completes_the_running_row(database: Database) -> None:
    started = record_started(database, a_fire(), now=NOW)
    skip = Skip(kind=SkipKind.LOCK_HELD, reason="another drill holds the cluster lock")

    record_skip(database, a_fire(), skip, now=NOW, started=started)

    (only,) = list_fires(database)
    assert only.outcome is FireOutcome.SKIPPED
    assert only.describe() == "skipped: lock held: another drill holds the cluster lock"


def test_job_tables_are_named_after_the_scheduler() -> None:
    assert job_table_name("sched-a.example.com") == "drill_scheduler_jobs_sched_a_example_com"


def test_an_unreachable_database_is_one_line_naming_it_without_its_password() -> None:
    with pytest.raises(SchedulerDatabaseError) as raised:
        Database("postgresql://drill:s3cret@127.0.0.1:1/drill")

    message = str(raised.value)
    assert "creating the scheduler tables: scheduler database" in message
    assert "s3cret" not in message and "\n" not in message


def test_a_url_that_is_no_database_url_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="invalid database URL 'not a url'"):
        Database("not a url")

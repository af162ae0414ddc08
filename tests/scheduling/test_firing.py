"""One fire: claim, blackouts, the error budget (a real Prometheus), the run, notifications.

Runs are real: the no-cluster ``noop`` drill runs through ``run_drill`` in this process.
Time for the blackout decisions comes from an injected clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillkit.evidence.ledger import SkipEntry, read_ledger
from drillkit.evidence.verify import verify_ledger
from drillkit.running.runner import RunOptions
from drillkit.scheduling.database import Database
from drillkit.scheduling.firing import (
    FirePolicies,
    FireSetup,
    LaunchOutcome,
    check_policies,
    fire,
    launch_target,
    target_policies,
)
from drillkit.scheduling.history import Fire, FireOutcome, FireRecord, list_fires
from drillkit.scheduling.notifications import Notifier
from drillkit.scheduling.policies import SkipKind
from drillkit.scheduling.schedules import TargetKind
from tests.helpers import wait_until
from tests.scheduling.conftest import TEST_DRILLS, BudgetExporter, FakeClock, Receiver

FIRE_TIME = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The noop drill needs no cluster; make sure none is picked up from the machine.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    with Database(sqlite_url) as opened:
        yield opened


def setup_in(tmp_path: Path, policy: str | None = None) -> FireSetup:
    policy_file = tmp_path / "schedule-policy.yaml"
    if policy is not None:
        policy_file.write_text(policy)
    return FireSetup(
        drills_dir=TEST_DRILLS,
        gamedays_dir=tmp_path / "gamedays",
        backups_dir=tmp_path / "backups",
        reports_dir=tmp_path / "reports",
        policy_file=policy_file,
        options=RunOptions(),
        operator="tester",
    )


def noop_fire(scheduler: str = "a") -> Fire:
    return Fire(
        schedule="noop",
        kind=TargetKind.DRILL,
        target="noop",
        fire_time=FIRE_TIME,
        scheduler=scheduler,
    )


def fire_noop(
    database: Database,
    setup: FireSetup,
    clock: FakeClock,
    *,
    scheduler: str = "a",
    notifier: Notifier | None = None,
) -> FireRecord:
    return fire(
        noop_fire(scheduler),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup),
        launch=lambda: launch_target(TargetKind.DRILL, "noop", setup, wait=lambda _: None),
        clock=clock,
        notifier=notifier,
    )


def must_not_run() -> LaunchOutcome:
    raise AssertionError("the drill must not run")


FREEZE = """\
blackouts:
  - name: year-end freeze
    start: 2026-01-05T09:30
    end: 2026-01-05T12:00
    timezone: Europe/Berlin
"""


def test_a_fire_inside_a_blackout_window_is_skipped_and_recorded_with_its_reason(
    database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    setup = setup_in(tmp_path, FREEZE)
    clock.set(FIRE_TIME)  # 11:00 in Berlin, inside the freeze

    record = fire(
        noop_fire(),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup),
        launch=must_not_run,
        clock=clock,
    )

    assert record.outcome is FireOutcome.SKIPPED
    assert record.skip_kind is SkipKind.BLACKOUT
    assert record.describe() == (
        "skipped: blackout: inside blackout window 'year-end freeze' "
        "(2026-01-05T09:30:00+01:00 to 2026-01-05T12:00:00+01:00)"
    )
    assert list_fires(database) == [record]


def test_a_skip_is_also_an_entry_of_the_evidence_ledger(
    database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    setup = setup_in(tmp_path, FREEZE)
    clock.set(FIRE_TIME)
    reports = tmp_path / "reports"

    fire(
        noop_fire(),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup),
        launch=must_not_run,
        clock=clock,
        ledger=reports,
    )

    (line,) = read_ledger(reports)
    assert isinstance(line.entry, SkipEntry)
    assert line.entry.drill == "noop"
    assert line.entry.reason.startswith("blackout: inside blackout window 'year-end freeze'")
    verification = verify_ledger(reports)
    assert verification.intact and verification.skips == 1


def test_a_fire_after_the_blackout_window_runs_the_drill(
    database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    setup = setup_in(tmp_path, FREEZE)
    clock.set(datetime(2026, 1, 5, 11, 0, tzinfo=UTC))  # 12:00 in Berlin: the window closed

    record = fire_noop(database, setup, clock)

    assert record.outcome is FireOutcome.RAN
    assert record.verdict == "met"
    report = Path(record.report_dir) / "report.json"
    assert json.loads(report.read_text())["run_id"] == record.run_id


def test_a_drill_files_own_blackouts_apply_too(
    database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    drill = (TEST_DRILLS / "noop.yaml").read_text()
    drill = drill.replace("noop-experiment.yaml", str(TEST_DRILLS / "noop-experiment.yaml"))
    drill += (
        "schedule:\n  cron: '0 10 * * *'\n  blackouts:\n"
        "    - {name: monday mornings, cron: '0 8 * * MON', duration: 4h}\n"
    )
    (drills / "noop.yaml").write_text(drill)
    setup = setup_in(tmp_path)
    setup = FireSetup(**{**setup.__dict__, "drills_dir": drills})
    clock.set(FIRE_TIME)  # Monday 10:00 UTC

    record = fire_noop(database, setup, clock)

    assert record.describe() == (
        "skipped: blackout: inside blackout window 'monday mornings' "
        "(2026-01-05T08:00:00+00:00 to 2026-01-05T12:00:00+00:00)"
    )


def test_backups_keep_running_through_the_policy_files_freeze_but_not_their_own(
    tmp_path: Path, clock: FakeClock
) -> None:
    setup = setup_in(tmp_path, FREEZE)
    setup.backups_dir.mkdir()
    plan = setup.backups_dir / "shop.yaml"
    plan.write_text("namespaces: [shop]\nschedule: {cron: '*/15 * * * *'}\n")
    clock.set(FIRE_TIME)  # inside the policy file's freeze

    assert target_policies(TargetKind.DRILL, "noop", setup).blackouts
    assert target_policies(TargetKind.BACKUP, "shop", setup).blackouts == ()
    assert check_policies(target_policies(TargetKind.BACKUP, "shop", setup), clock=clock) is None

    plan.write_text(
        "namespaces: [shop]\nschedule:\n  cron: '*/15 * * * *'\n  blackouts:\n"
        "    - {name: storage maintenance, cron: '0 8 * * MON', duration: 4h}\n"
    )
    skip = check_policies(target_policies(TargetKind.BACKUP, "shop", setup), clock=clock)
    assert skip is not None and "storage maintenance" in skip.describe()


def test_a_fire_another_scheduler_took_is_skipped_as_lock_held(
    database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    setup = setup_in(tmp_path)
    clock.set(FIRE_TIME)
    first = fire_noop(database, setup, clock, scheduler="a")

    second = fire(
        noop_fire("b"),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup),
        launch=must_not_run,
        clock=clock,
    )

    assert first.outcome is FireOutcome.RAN
    assert second.outcome is FireOutcome.SKIPPED
    assert second.describe() == (
        "skipped: lock held: scheduler 'a' took the fire of 2026-01-05T10:00:00+00:00"
    )


def test_an_invalid_drill_file_is_recorded_as_an_error_of_the_fire(
    database: Database, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    (drills / "broken.yaml").write_text("name: broken\nexperiment: x.yaml\ntarget: {}\n")
    setup = FireSetup(**{**setup_in(tmp_path).__dict__, "drills_dir": drills})

    record = fire(
        Fire(
            schedule="broken",
            kind=TargetKind.DRILL,
            target="broken",
            fire_time=FIRE_TIME,
            scheduler="a",
        ),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "broken", setup),
        launch=must_not_run,
        clock=clock,
        notifier=Notifier(webhooks=[f"{receiver.url}/hook"]),
    )

    assert record.outcome is FireOutcome.ERROR
    assert record.reason is not None and "broken.yaml:3:9: target" in record.reason
    ((_, body),) = receiver.received()
    assert body["event"] == "error" and body["error"] == record.reason


# -- the error budget, read from a real Prometheus -----------------------------------------------


def budget_policy(prometheus: str, when_unknown: str = "skip") -> str:
    return (
        "error_budget:\n"
        f"  prometheus: {prometheus}\n"
        '  query: slo_error_budget_remaining{slo="checkout"}\n'
        "  min_remaining: 0.25\n"
        f"  when_unknown: {when_unknown}\n"
    )


def set_budget(exporter: BudgetExporter, prometheus: str, value: float) -> None:
    from drillkit.drivers.prometheus import query_instant

    with exporter.lock:
        exporter.remaining = value
    wait_until(
        f"Prometheus to scrape the budget {value}",
        lambda: query_instant(prometheus, 'slo_error_budget_remaining{slo="checkout"}') == value,
    )


def test_a_fire_with_an_exhausted_error_budget_is_skipped_with_the_budget_and_threshold(
    database: Database,
    tmp_path: Path,
    clock: FakeClock,
    prometheus: str,
    budget_exporter: tuple[BudgetExporter, str],
) -> None:
    set_budget(budget_exporter[0], prometheus, 0.05)
    setup = setup_in(tmp_path, budget_policy(prometheus))

    record = fire(
        noop_fire(),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup),
        launch=must_not_run,
        clock=clock,
    )

    assert record.skip_kind is SkipKind.ERROR_BUDGET
    assert record.reason == (
        "the remaining error budget 0.05 is below the threshold 0.25 "
        "(query 'slo_error_budget_remaining{slo=\"checkout\"}')"
    )


def test_a_fire_with_error_budget_left_runs(
    database: Database,
    tmp_path: Path,
    clock: FakeClock,
    prometheus: str,
    budget_exporter: tuple[BudgetExporter, str],
) -> None:
    set_budget(budget_exporter[0], prometheus, 0.6)

    record = fire_noop(database, setup_in(tmp_path, budget_policy(prometheus)), clock)

    assert record.outcome is FireOutcome.RAN


def test_a_budget_that_cannot_be_read_skips_unless_told_to_run(
    database: Database, tmp_path: Path, clock: FakeClock, prometheus: str
) -> None:
    policy = budget_policy(prometheus).replace('{slo="checkout"}', '{slo="absent"}')

    skipped = fire(
        noop_fire(),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup_in(tmp_path, policy)),
        launch=must_not_run,
        clock=clock,
    )
    clock.advance(timedelta(days=1))
    ran = fire(
        Fire(**{**noop_fire().__dict__, "fire_time": FIRE_TIME + timedelta(days=1)}),
        database=database,
        policies=lambda: target_policies(
            TargetKind.DRILL, "noop", setup_in(tmp_path, policy.replace("skip", "run"))
        ),
        launch=lambda: launch_target(
            TargetKind.DRILL, "noop", setup_in(tmp_path), wait=lambda _: None
        ),
        clock=clock,
    )

    assert skipped.describe() == (
        "skipped: error budget: the error budget is unknown: "
        "query 'slo_error_budget_remaining{slo=\"absent\"}' returned no data"
    )
    assert ran.outcome is FireOutcome.RAN


# -- notifications, to a real HTTP receiver --------------------------------------------------------


def test_a_run_is_announced_at_its_start_and_with_its_verdict(
    database: Database, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    notifier = Notifier(
        webhooks=[f"{receiver.url}/webhook"], slack_webhooks=[f"{receiver.url}/slack"]
    )

    record = fire_noop(database, setup_in(tmp_path), clock, notifier=notifier)

    messages = receiver.received()
    webhook = [body for path, body in messages if path == "/webhook"]
    slack = [body for path, body in messages if path == "/slack"]
    assert [m["event"] for m in webhook] == ["started", "finished"]
    finished = webhook[1]
    assert finished["verdict"] == "met"
    assert finished["run_id"] == record.run_id
    assert finished["target"] == {"kind": "drill", "name": "noop"}
    assert finished["fire_time"] == "2026-01-05T10:00:00.000Z"
    assert finished["scheduler"] == "a"
    assert finished["text"] == f"noop (drill noop): verdict met, run {record.run_id}"
    assert len(slack) == 2
    headline = slack[1]["blocks"][0]["text"]
    assert slack[1]["blocks"][0]["text"]["type"] == "mrkdwn"
    assert headline["text"] == ":white_check_mark: *noop* (drill `noop`): *met*"
    assert slack[1]["text"] == finished["text"]


def test_a_fired_drill_s_verdict_carries_its_rto_as_its_report_states_it(
    database: Database, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    record = fire_noop(
        database, setup_in(tmp_path), clock, notifier=Notifier(webhooks=[receiver.url])
    )

    started, finished = (body for _, body in receiver.received())
    assert started["runs"] == []
    (run,) = finished["runs"]
    assert run["run_id"] == record.run_id and run["verdict"] == "met"
    assert record.report_dir is not None
    report = json.loads((Path(record.report_dir) / "report.json").read_text())
    for name in ("rto", "rpo"):
        assert run[name] == {key: report["measurements"][name][key] for key in run[name]}
    assert (run["rto"]["objective_seconds"], run["rto"]["bound"], run["rto"]["met"]) == (
        30.0,
        "exact",
        True,
    )
    assert run["rpo"]["objective_seconds"] is None


def test_a_fired_game_day_s_verdict_carries_each_drill_run(
    database: Database, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    setup = setup_in(tmp_path)
    setup.gamedays_dir.mkdir()
    (setup.gamedays_dir / "practice.yaml").write_text(
        "name: practice\nsteps:\n  - drill: noop\n  - drill: noop\n"
    )

    record = fire(
        Fire(
            schedule="practice",
            kind=TargetKind.GAMEDAY,
            target="practice",
            fire_time=FIRE_TIME,
            scheduler="a",
        ),
        database=database,
        policies=FirePolicies(),
        launch=lambda: launch_target(TargetKind.GAMEDAY, "practice", setup, wait=lambda _: None),
        clock=clock,
        notifier=Notifier(webhooks=[receiver.url]),
    )

    _, (_, finished) = receiver.received()
    assert (finished["verdict"], finished["run_id"]) == ("met", record.run_id)
    assert [run["drill"] for run in finished["runs"]] == ["noop", "noop"]
    assert all(run["rto"]["met"] is True for run in finished["runs"])
    assert len({run["run_id"] for run in finished["runs"]}) == 2


def test_a_skip_is_announced_with_its_reason(
    database: Database, tmp_path: Path, clock: FakeClock, receiver: Receiver
) -> None:
    clock.set(FIRE_TIME)

    fire(
        noop_fire(),
        database=database,
        policies=lambda: target_policies(TargetKind.DRILL, "noop", setup_in(tmp_path, FREEZE)),
        launch=must_not_run,
        clock=clock,
        notifier=Notifier(webhooks=[receiver.url], slack_webhooks=[f"{receiver.url}/slack"]),
    )

    (_, webhook), (_, slack) = receiver.received()
    assert webhook["event"] == "skipped"
    assert webhook["skip"] == {
        "kind": "blackout",
        "reason": "inside blackout window 'year-end freeze' "
        "(2026-01-05T09:30:00+01:00 to 2026-01-05T12:00:00+01:00)",
    }
    assert slack["blocks"][0]["text"]["text"].startswith(
        ":fast_forward: *noop* (drill `noop`) skipped: *blackout*\ninside blackout window"
    )


def test_an_unreachable_receiver_does_not_fail_the_fire(
    database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    from tests.scheduling.conftest import free_port

    notifier = Notifier(webhooks=[f"http://127.0.0.1:{free_port()}/"], timeout=2)

    record = fire_noop(database, setup_in(tmp_path), clock, notifier=notifier)

    assert record.outcome is FireOutcome.RAN

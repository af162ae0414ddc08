"""Scheduling against the shared lab: the cluster Lease, two schedulers, CronJob export.

- A fire whose drill finds the cluster Lease held records "skipped: lock held".
- Two real ``drill scheduler run`` processes share a real PostgreSQL database and the lab:
  the fire runs the drill once, the other scheduler records "skipped: lock held".
- The exported CronJobs, ServiceAccount and RBAC are accepted by the lab's API server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.lab.cluster import Lab
from drillkit.running.recorder import SystemClock
from drillkit.running.runner import RunOptions
from drillkit.safety.lock import ClusterLock
from drillkit.scheduling.database import Database
from drillkit.scheduling.firing import FireSetup, fire, launch_target, target_policies
from drillkit.scheduling.history import Fire, FireOutcome, FireRecord, list_fires
from drillkit.scheduling.policies import SkipKind
from drillkit.scheduling.schedules import ScheduleSettings, TargetKind, add_schedule
from tests.drills.support import SchedulerProcess, drill_environment
from tests.drills.test_pod_kill import deploy_web, pod_kill_in
from tests.helpers import wait_until

pytestmark = pytest.mark.lab

REPOSITORY = Path(__file__).resolve().parents[2]


def test_a_fire_whose_drill_finds_the_cluster_lock_held_is_skipped_as_lock_held(
    lab: Lab, namespace: str, tmp_path: Path, sqlite_url: str
) -> None:
    deploy_web(lab, namespace)
    drill_path = pod_kill_in(namespace, tmp_path / "drills")
    name = drill_path.stem
    setup = FireSetup(
        drills_dir=drill_path.parent,
        gamedays_dir=tmp_path / "gamedays",
        backups_dir=tmp_path / "backups",
        reports_dir=tmp_path / "reports",
        policy_file=None,
        options=RunOptions(kubeconfig=lab.kubeconfig),
        operator="tester",
    )
    with lab.connect(admin=False) as cluster, Database(sqlite_url) as database:
        lock = ClusterLock(cluster, holder="a-game-day-by-hand")
        lock.acquire()
        try:
            record = fire(
                Fire(
                    schedule=name,
                    kind=TargetKind.DRILL,
                    target=name,
                    fire_time=datetime.now(UTC).replace(microsecond=0),
                    scheduler="a",
                ),
                database=database,
                policies=lambda: target_policies(TargetKind.DRILL, name, setup),
                launch=lambda: launch_target(TargetKind.DRILL, name, setup, wait=lambda _: None),
                clock=SystemClock(),
            )
        finally:
            lock.release()
        assert list_fires(database) == [record]

    assert record.outcome is FireOutcome.SKIPPED
    assert record.skip_kind is SkipKind.LOCK_HELD
    assert record.describe().startswith(
        "skipped: lock held: another drill holds the cluster lock: run a-game-day-by-hand"
    )
    assert not (tmp_path / "reports" / name).exists()


@pytest.fixture
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    yield


def test_two_schedulers_sharing_a_postgresql_store_run_each_fire_once(
    lab: Lab,
    namespace: str,
    tmp_path: Path,
    postgres_database: str,
    no_proxy_for_loopback: None,
) -> None:
    deploy_web(lab, namespace)
    drill_path = pod_kill_in(namespace, tmp_path / "drills")
    name = drill_path.stem
    with Database(postgres_database) as database:
        add_schedule(
            database,
            ScheduleSettings(name=name, kind=TargetKind.DRILL, target=name, cron="* * * * *"),
            now=datetime.now(UTC),
        )
    environment = drill_environment(
        lab,
        DRILL_SCHEDULER_DATABASE=postgres_database,
        DRILL_DRILLS_DIR=str(drill_path.parent),
        DRILL_REPORTS_DIR=str(tmp_path / "reports"),
        DRILL_GAMEDAYS_DIR=str(tmp_path / "gamedays"),
        DRILL_SCHEDULE_POLICY=str(tmp_path / "no-policy.yaml"),
    )
    schedulers = [
        SchedulerProcess(scheduler_id, environment, tmp_path / f"scheduler-{scheduler_id}.log")
        for scheduler_id in ("a", "b")
    ]
    try:
        next_fires = []
        for scheduler in schedulers:
            health = wait_until(
                f"scheduler {scheduler.scheduler_id} to serve /healthz", scheduler.health
            )
            assert health["status"] == "ok", health
            (entry,) = health["schedules"]
            next_fires.append(datetime.fromisoformat(entry["next_fire"].replace("Z", "+00:00")))
        # A scheduler that started just after a minute began waits for the next one: the
        # later of the two next fires is one both will fire.
        fire_time = max(next_fires)

        with Database(postgres_database) as database:

            def both_recorded() -> list[FireRecord] | None:
                records = [
                    r
                    for r in list_fires(database, schedule=name)
                    if r.fire_time == fire_time and r.outcome is not FireOutcome.RUNNING
                ]
                return records if len(records) >= 2 else None

            records = wait_until(
                f"both schedulers to record the {fire_time} fire", both_recorded, timeout=300
            )

        ran = [r for r in records if r.outcome is FireOutcome.RAN]
        skipped = [r for r in records if r.outcome is FireOutcome.SKIPPED]
        assert len(ran) == 1, [r.describe() for r in records]
        assert ran[0].verdict == "met"
        assert len(skipped) == 1, [r.describe() for r in records]
        assert skipped[0].scheduler != ran[0].scheduler
        assert skipped[0].describe().startswith("skipped: lock held: ")
        # The drill ran once: one report for this fire.
        reports = list((tmp_path / "reports" / name).glob("*/report.json"))
        assert len(reports) == 1
        winner = next(s for s in schedulers if s.scheduler_id == ran[0].scheduler)
        # The scheduler counts the fire once its process has exited, just after the record.
        counted = f'drill_scheduler_fires_total{{outcome="ran",schedule="{name}"}} 1.0'
        wait_until("the run in the winner's metrics", lambda: counted in winner.metrics())
    finally:
        codes = [scheduler.stop() for scheduler in schedulers]
    assert codes == [0, 0], [s.log.read_text() for s in schedulers]
    assert "stopped" in schedulers[0].log.read_text()


def test_exported_cronjobs_are_accepted_by_the_api_server(
    lab: Lab, tmp_path: Path, sqlite_url: str
) -> None:
    from kubernetes import client

    drills = str(REPOSITORY / "drills")
    environment = {"DRILL_SCHEDULER_DATABASE": sqlite_url}
    runner = CliRunner(env=environment)
    for schedule, target, extra in (
        ("pod-kill", "pod-kill", []),
        ("quarterly", "quarterly-resilience", ["--gameday"]),
    ):
        added = runner.invoke(
            cli,
            [
                "schedule",
                "add",
                target,
                "--as",
                schedule,
                "--drills-dir",
                drills,
                "--gamedays-dir",
                str(REPOSITORY / "gamedays"),
                "--cron",
                "0 10 * * TUE",
                "--tz",
                "Europe/Berlin",
                *extra,
            ],
        )
        assert added.exit_code == 0, added.output
    output = tmp_path / "cronjobs.yaml"
    exported = runner.invoke(
        cli,
        [
            "schedule",
            "export",
            "--kind",
            "cronjob",
            "--drills-dir",
            drills,
            "--gamedays-dir",
            str(REPOSITORY / "gamedays"),
            "--output-file",
            str(output),
        ],
    )
    assert exported.exit_code == 0, exported.output
    manifests = [m for m in yaml.safe_load_all(output.read_text()) if m]
    cronjobs = [m for m in manifests if m["kind"] == "CronJob"]
    assert {c["metadata"]["name"] for c in cronjobs} == {"drill-pod-kill", "drill-quarterly"}

    with lab.connect() as cluster:
        batch = client.BatchV1Api(cluster.api_client)
        # Strict validation first: an unknown or misspelt field is refused, not dropped.
        for cronjob in cronjobs:
            batch.create_namespaced_cron_job(
                "drillkit", cronjob, dry_run="All", field_validation="Strict"
            )
        cluster.apply(manifests)
        try:
            for cronjob in cronjobs:
                stored = batch.read_namespaced_cron_job(cronjob["metadata"]["name"], "drillkit")
                assert stored.spec.concurrency_policy == "Forbid"
                assert stored.spec.time_zone == "Europe/Berlin"
                assert stored.spec.schedule == "0 10 * * TUE"
                pod = stored.spec.job_template.spec.template.spec
                assert pod.service_account_name == "drillkit-runner"
            account = cluster.core.read_namespaced_service_account("drillkit-runner", "drillkit")
            assert account.metadata.name == "drillkit-runner"
            files = cluster.core.read_namespaced_config_map("drill-quarterly-files", "drillkit")
            assert set(files.data) >= {
                "gamedays__quarterly-resilience.yaml",
                "drills__pod-kill.yaml",
                "drills__zone-failure.yaml",
                "experiments__zone-failure.yaml",
                "services__shop.yaml",
            }
        finally:
            for cronjob in cronjobs:
                name = cronjob["metadata"]["name"]
                batch.delete_namespaced_cron_job(name, "drillkit")
                cluster.core.delete_namespaced_config_map(f"{name}-files", "drillkit")
            cluster.core.delete_namespaced_config_map("drillkit-in-cluster-kubeconfig", "drillkit")

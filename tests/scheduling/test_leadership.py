"""Leader election between schedulers, against the shared lab's API server.

- Of two replicas one leads; when it hands the Lease back the other leads.
- A leader that finds another holder at a renewal stops leading at once, stands by,
  and leads again once the Lease is free.
- A Lease naming a dead process on this host is not taken before it expires (pods on
  the host network share its name, not its processes).
- A replica the API server refuses the Lease stands by and says why.
- A leader whose renewals stop stops leading while the Lease still names it, before
  anyone may take it over.
- Two real ``drill scheduler run --leader-elect`` processes on one PostgreSQL job store:
  only the leader fires (the standby records nothing), and when the leader is killed the
  standby takes over and runs the next fire, once.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drillkit.drivers.cluster_state import (
    LeaseClaim,
    create_lease,
    delete_lease,
    read_lease,
    replace_lease,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.lab.cluster import Lab
from drillkit.safety.lock import HOST_ANNOTATION, PID_ANNOTATION
from drillkit.scheduling.database import Database
from drillkit.scheduling.history import FireOutcome, FireRecord, list_fires
from drillkit.scheduling.leadership import DEFAULT_LEASE_NAMESPACE, LeaderElection
from drillkit.scheduling.schedules import ScheduleSettings, TargetKind, add_schedule
from tests.drills.support import SchedulerProcess, drill_environment
from tests.helpers import wait_until
from tests.scheduling.conftest import TEST_DRILLS

pytestmark = pytest.mark.lab


@pytest.fixture
def lease_name() -> str:
    """A Lease of the test's own, so tests on the shared lab do not compete."""
    return f"scheduler-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cluster(lab: Lab, lease_name: str) -> Iterator[Cluster]:
    """The lab as drillkit-runner, the identity the scheduler runs as in a cluster."""
    with lab.connect(admin=False) as connected:
        yield connected
        current = read_lease(connected, DEFAULT_LEASE_NAMESPACE, lease_name)
        if current is not None:
            delete_lease(connected, DEFAULT_LEASE_NAMESPACE, lease_name)


def test_one_of_two_replicas_leads_and_the_other_leads_once_it_hands_the_lease_back(
    cluster: Cluster, lease_name: str
) -> None:
    first = LeaderElection(cluster, identity="a", name=lease_name, lease_seconds=6)
    second = LeaderElection(cluster, identity="b", name=lease_name, lease_seconds=6)
    first.start()
    second.start()
    try:
        assert first.leading
        assert not second.leading
        lease = read_lease(cluster, DEFAULT_LEASE_NAMESPACE, lease_name)
        assert lease is not None and lease.holder == first.holder

        first.stop()

        wait_until("the standby to lead", lambda: second.leading)
        assert not first.leading
    finally:
        first.stop()
        second.stop()


def test_a_leader_that_finds_another_holder_stops_leading_and_stands_by_until_the_lease_is_free(
    cluster: Cluster, lease_name: str
) -> None:
    changes: list[bool] = []
    election = LeaderElection(
        cluster, identity="a", name=lease_name, lease_seconds=3, on_change=changes.append
    )
    election.start()
    try:
        assert election.leading
        held = read_lease(cluster, DEFAULT_LEASE_NAMESPACE, lease_name)
        assert held is not None
        now = datetime.now(UTC)
        replace_lease(
            cluster,
            DEFAULT_LEASE_NAMESPACE,
            lease_name,
            LeaseClaim(
                holder="another-scheduler", duration_seconds=3600, acquired_at=now, renewed_at=now
            ),
            resource_version=held.resource_version,
        )

        wait_until("the leader to stand by", lambda: changes == [True, False])
        assert not election.leading
        taken = read_lease(cluster, DEFAULT_LEASE_NAMESPACE, lease_name)
        assert taken is not None and taken.holder == "another-scheduler"

        delete_lease(cluster, DEFAULT_LEASE_NAMESPACE, lease_name)
        wait_until("it to lead again", lambda: changes == [True, False, True])
        assert election.leading
    finally:
        election.stop()


def test_a_lease_naming_a_dead_process_on_this_host_is_not_taken_before_it_expires(
    cluster: Cluster, lease_name: str
) -> None:
    # Pods on the host network share the host name but not the process table: a pid
    # in the Lease says nothing about whether its holder lives.
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = datetime.now(UTC)
    create_lease(
        cluster,
        DEFAULT_LEASE_NAMESPACE,
        lease_name,
        LeaseClaim(
            holder="a-replica-in-another-pod",
            duration_seconds=3600,
            acquired_at=now,
            renewed_at=now,
            annotations={PID_ANNOTATION: str(dead.pid), HOST_ANNOTATION: socket.gethostname()},
        ),
    )
    election = LeaderElection(cluster, identity="b", name=lease_name, lease_seconds=6)
    election.start()
    try:
        assert not election.leading
        lease = read_lease(cluster, DEFAULT_LEASE_NAMESPACE, lease_name)
        assert lease is not None and lease.holder == "a-replica-in-another-pod"
    finally:
        election.stop()


def test_a_replica_refused_the_lease_stands_by_and_says_why(lab: Lab, lease_name: str) -> None:
    with lab.connect(admin=False) as cluster:
        # drillkit-runner may hold Leases in the drillkit namespace only.
        election = LeaderElection(cluster, identity="a", name=lease_name, namespace="default")
        election.start()
        try:
            assert not election.leading
            assert election.problem is not None and "forbidden" in election.problem.lower()
        finally:
            election.stop()


def test_a_leader_whose_renewals_stop_stops_leading_while_the_lease_still_names_it(
    cluster: Cluster, lease_name: str
) -> None:
    election = LeaderElection(cluster, identity="a", name=lease_name, lease_seconds=30)
    election.start()
    try:
        assert election.leading
        lock = election._lock
        assert lock is not None
        # As when the API server cannot be reached: the Lease is no longer written.
        lock.stop_renewing()

        wait_until("the leader to stop leading", lambda: not election.leading, timeout=60)
        lease = read_lease(cluster, DEFAULT_LEASE_NAMESPACE, lease_name)
        assert lease is not None and lease.holder == election.holder
        assert lease.renewed_at is not None
        # Nobody may take the Lease over yet: it stopped before the Lease expired.
        assert lease.duration_seconds == 30
        assert (datetime.now(UTC) - lease.renewed_at).total_seconds() < 30
    finally:
        election.stop()


def _fire_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_standby_takes_over_when_the_leader_is_killed_and_runs_the_next_fire_once(
    lab: Lab, tmp_path: Path, postgres_database: str, lease_name: str
) -> None:
    with Database(postgres_database) as database:
        add_schedule(
            database,
            ScheduleSettings(name="noop", kind=TargetKind.DRILL, target="noop", cron="* * * * *"),
            now=datetime.now(UTC),
        )
    environment = drill_environment(
        lab,
        DRILL_SCHEDULER_DATABASE=postgres_database,
        DRILL_DRILLS_DIR=str(TEST_DRILLS),
        DRILL_REPORTS_DIR=str(tmp_path / "reports"),
        DRILL_GAMEDAYS_DIR=str(tmp_path / "gamedays"),
        DRILL_SCHEDULE_POLICY=str(tmp_path / "no-policy.yaml"),
    )
    election = ("--leader-elect", "--lease-name", lease_name, "--lease-duration", "6s")
    schedulers = {
        scheduler_id: SchedulerProcess(
            scheduler_id, environment, tmp_path / f"scheduler-{scheduler_id}.log", *election
        )
        for scheduler_id in ("a", "b")
    }
    killed: str | None = None
    try:

        def the_leader() -> tuple[SchedulerProcess, SchedulerProcess] | None:
            health = {i: s.health() for i, s in schedulers.items()}
            leading = [i for i, h in health.items() if h is not None and h["leader"] is True]
            standing_by = [i for i, h in health.items() if h is not None and h["leader"] is False]
            if len(leading) != 1 or len(standing_by) != 1:
                return None
            return schedulers[leading[0]], schedulers[standing_by[0]]

        leader, standby = wait_until("one scheduler to lead", the_leader)
        assert "drill_scheduler_leader 1.0" in leader.metrics()
        assert "drill_scheduler_leader 0.0" in standby.metrics()

        with Database(postgres_database) as database:

            def finished(fire_time: datetime | None = None) -> list[FireRecord]:
                return [
                    r
                    for r in list_fires(database, schedule="noop", limit=1000)
                    if r.outcome is not FireOutcome.RUNNING
                    and (fire_time is None or r.fire_time == fire_time)
                ]

            # Mid-schedule: the leader has fired once, and nothing runs now.
            (first,) = wait_until("the leader's first fire", finished, timeout=300)
            assert first.scheduler == leader.scheduler_id
            assert first.outcome is FireOutcome.RAN

            killed = leader.scheduler_id
            leader.process.kill()
            leader.process.wait(timeout=60)

            def took_over() -> dict[str, Any] | None:
                health = standby.health()
                return health if health is not None and health["leader"] else None

            health = wait_until("the standby to take over", took_over)
            (entry,) = health["schedules"]
            next_fire = _fire_time(entry["next_fire"])
            assert next_fire > first.fire_time

            records = wait_until(
                f"the {next_fire} fire", lambda: finished(next_fire) or None, timeout=300
            )
            # Only the leader ever fired: the standby recorded nothing while standing by.
            assert [r.scheduler for r in finished(first.fire_time)] == [leader.scheduler_id]
        assert len(records) == 1, [r.describe() for r in records]
        assert records[0].scheduler == standby.scheduler_id
        assert records[0].outcome is FireOutcome.RAN
        assert records[0].verdict == "met"
    finally:
        codes = {i: s.stop() for i, s in schedulers.items()}
    assert killed is not None and codes[killed] == -9
    assert [c for i, c in codes.items() if i != killed] == [0], [
        s.log.read_text() for s in schedulers.values()
    ]

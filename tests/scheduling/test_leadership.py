"""Leader election between schedulers, against the shared lab's API server.

- Of two replicas one leads; when it hands the Lease back the other leads.
- A leader that finds another holder at a renewal stops leading at once, stands by,
  and leads again once the Lease is free.
- A Lease naming a dead process on this host is not taken before it expires (pods on
  the host network share its name, not its processes).
- A replica the API server refuses the Lease stands by and says why.
- A leader whose renewals stop stops leading while the Lease still names it, before
  anyone may take it over.

Two replicas in pods, on one PostgreSQL job store, with the leader killed mid-schedule:
``tests/scheduling/test_in_cluster.py``.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

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
from drillkit.scheduling.leadership import DEFAULT_LEASE_NAMESPACE, LeaderElection
from tests.helpers import wait_until

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

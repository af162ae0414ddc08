"""The cluster lock against the lab's real API server, as the least-privilege runner.

Each test uses a Lease of its own name, so tests never contend for the real
``drillkit-run`` Lease of the shared lab.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from drillkit.drivers.cluster_state import (
    LeaseClaim,
    LeaseRecord,
    delete_lease,
    read_lease,
    replace_lease,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.lab.cluster import Lab
from drillkit.safety.lock import (
    LOCK_NAMESPACE,
    ClusterLock,
    LeaseTiming,
    LockHeld,
    LockLost,
    describe_holder,
    measure_lease,
    read_lock_holder,
    renewal_interval,
)
from tests.helpers import wait_until

# -- pure arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("renewed_at", "duration", "now", "renewed_ago", "expires_in", "expired"),
    [
        pytest.param(100.0, 30.0, 103.0, 3.0, 27.0, False, id="renewed-3s-ago-of-30"),
        pytest.param(100.0, 30.0, 129.5, 29.5, 0.5, False, id="half-a-second-left"),
        pytest.param(100.0, 30.0, 130.0, 30.0, 0.0, True, id="expires-exactly-at-the-end"),
        pytest.param(100.0, 30.0, 200.0, 100.0, -70.0, True, id="long-expired"),
        pytest.param(100.0, 30.0, 98.0, -2.0, 32.0, False, id="holder-clock-ahead-of-ours"),
        pytest.param(None, 30.0, 100.0, 0.0, 0.0, True, id="never-renewed-counts-as-expired"),
        pytest.param(100.0, None, 100.0, 0.0, 0.0, True, id="no-duration-counts-as-expired"),
        pytest.param(100.0, 0.0, 100.0, 0.0, 0.0, True, id="zero-duration-counts-as-expired"),
    ],
)
def test_lease_expiry_arithmetic(
    renewed_at: float | None,
    duration: float | None,
    now: float,
    renewed_ago: float,
    expires_in: float,
    expired: bool,
) -> None:
    timing = measure_lease(renewed_at=renewed_at, duration=duration, now=now)
    assert timing == LeaseTiming(renewed_ago=renewed_ago, expires_in=expires_in)
    assert timing.expired is expired


@pytest.mark.parametrize(
    ("lease_seconds", "interval"), [(30, 10.0), (2, 2 / 3), (1, 1 / 3)], ids=["30s", "2s", "1s"]
)
def test_a_holder_renews_three_times_per_lease(lease_seconds: int, interval: float) -> None:
    assert renewal_interval(lease_seconds) == pytest.approx(interval)


def test_the_refusal_names_the_holder_and_when_it_expires() -> None:
    message = describe_holder(
        "20261126-093015-3fa2c1",
        {"drillkit.io/holder-pid": "123", "drillkit.io/holder-host": "ci-7"},
        LeaseTiming(renewed_ago=3.2, expires_in=26.8),
    )
    assert message == (
        "another drill holds the cluster lock: run 20261126-093015-3fa2c1 "
        "(pid 123 on host ci-7), renewed 3 s ago; it expires in 27 s unless renewed"
    )


# -- against the lab ----------------------------------------------------------------------


@pytest.fixture
def runner(lab: Lab) -> Iterator[Cluster]:
    with lab.connect(admin=False) as cluster:
        yield cluster


@pytest.fixture
def lease_name(runner: Cluster) -> Iterator[str]:
    name = f"lock-test-{uuid.uuid4().hex[:8]}"
    yield name
    delete_lease(runner, LOCK_NAMESPACE, name)


@pytest.mark.lab
def test_a_second_run_is_refused_naming_the_holder_until_the_first_releases(
    runner: Cluster, lease_name: str
) -> None:
    first = ClusterLock(runner, holder="run-first", name=lease_name)
    second = ClusterLock(runner, holder="run-second", name=lease_name)
    first.acquire()
    try:
        with pytest.raises(LockHeld) as refused:
            second.acquire()
        assert refused.value.holder == "run-first"
        assert refused.value.exit_code == 3
        assert str(refused.value).startswith(
            f"another drill holds the cluster lock: run run-first "
            f"(pid {os.getpid()} on host {socket.gethostname()}), renewed "
        )
        assert "it expires in 30 s unless renewed" in str(refused.value) or (
            "it expires in 29 s unless renewed" in str(refused.value)
        )
    finally:
        first.release()
    assert read_lease(runner, LOCK_NAMESPACE, lease_name) is None
    with second:
        lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
        assert lease is not None and lease.holder == "run-second"
        assert second.held
    assert read_lease(runner, LOCK_NAMESPACE, lease_name) is None


@pytest.mark.lab
def test_renewal_keeps_a_short_lease_from_expiring(runner: Cluster, lease_name: str) -> None:
    with ClusterLock(runner, holder="run-renewing", lease_seconds=2, name=lease_name):
        acquired = read_lease(runner, LOCK_NAMESPACE, lease_name)
        assert acquired is not None and acquired.renewed_at is not None
        first_renewal = acquired.renewed_at

        def renewed_past_the_first_expiry() -> bool:
            lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
            assert lease is not None and lease.renewed_at is not None
            return lease.renewed_at > first_renewal + timedelta(seconds=2.5)

        wait_until("the lease to be renewed past its first expiry", renewed_past_the_first_expiry)
        with pytest.raises(LockHeld):
            ClusterLock(runner, holder="run-other", lease_seconds=2, name=lease_name).acquire()


@pytest.mark.lab
def test_a_holder_that_stops_renewing_is_taken_over_after_expiry(
    runner: Cluster, lease_name: str
) -> None:
    dead = ClusterLock(runner, holder="run-dead", lease_seconds=2, name=lease_name)
    dead.acquire()
    dead.stop_renewing()  # the process died: no renewals, no release
    taker = ClusterLock(runner, holder="run-taker", lease_seconds=2, name=lease_name)

    def taken_over() -> bool:
        try:
            taker.acquire()
        except LockHeld:
            return False
        return True

    wait_until("the dead holder's lease to expire and be taken over", taken_over)
    try:
        lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
        assert lease is not None
        assert lease.holder == "run-taker"
        assert lease.transitions == 1
        # Were the dead holder to wake up, its next renewal finds the lease gone to another.
        dead.renew()
        assert dead.lost
        with pytest.raises(LockLost, match="run run-taker took the lease over"):
            dead.ensure_held()
        dead.release()
        lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
        assert lease is not None and lease.holder == "run-taker"
    finally:
        taker.release()


@pytest.mark.lab
def test_of_two_runs_taking_over_an_expired_lease_exactly_one_wins(
    runner: Cluster, lease_name: str
) -> None:
    dead = ClusterLock(runner, holder="run-dead", lease_seconds=1, name=lease_name)
    dead.acquire()
    dead.stop_renewing()
    wait_until(
        "the lease to expire",
        lambda: _expired(read_lease(runner, LOCK_NAMESPACE, lease_name)),
    )
    takers = [
        ClusterLock(runner, holder=f"run-taker-{n}", lease_seconds=30, name=lease_name)
        for n in range(2)
    ]
    start = threading.Barrier(len(takers))
    outcomes: dict[str, str] = {}

    def take(lock: ClusterLock) -> None:
        start.wait()
        try:
            lock.acquire()
            outcomes[lock.holder] = "won"
        except LockHeld as refused:
            outcomes[lock.holder] = f"refused by {refused.holder}"

    threads = [threading.Thread(target=take, args=(lock,)) for lock in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        winners = [holder for holder, outcome in outcomes.items() if outcome == "won"]
        assert len(winners) == 1, outcomes
        (loser,) = set(outcomes) - set(winners)
        assert outcomes[loser] == f"refused by {winners[0]}"
        lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
        assert lease is not None and lease.holder == winners[0]
    finally:
        for lock in takers:
            lock.release()


@pytest.mark.lab
def test_a_holder_learns_when_its_lease_was_taken_from_it(runner: Cluster, lease_name: str) -> None:
    reasons: list[str] = []
    lost = threading.Event()

    def on_lost(reason: str) -> None:
        reasons.append(reason)
        lost.set()

    holder = ClusterLock(
        runner, holder="run-holder", lease_seconds=3, name=lease_name, on_lost=on_lost
    )
    with holder:
        lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
        assert lease is not None
        now = datetime.now(UTC)
        # Someone overwrites the Lease behind the holder's back.
        replace_lease(
            runner,
            LOCK_NAMESPACE,
            lease_name,
            LeaseClaim(holder="run-intruder", duration_seconds=60, acquired_at=now, renewed_at=now),
            resource_version=lease.resource_version,
        )
        wait_until("the holder to notice", lost.is_set)
        assert reasons == ["run run-intruder took the lease over"]
        assert not holder.held
    # Releasing a lost lock leaves the intruder's Lease alone.
    lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
    assert lease is not None and lease.holder == "run-intruder"


def _expired(lease: LeaseRecord | None) -> bool:
    assert lease is not None and lease.renewed_at is not None
    assert lease.duration_seconds is not None
    return measure_lease(
        renewed_at=lease.renewed_at.timestamp(),
        duration=lease.duration_seconds,
        now=datetime.now(UTC).timestamp(),
    ).expired


@pytest.mark.lab
def test_a_lock_whose_holder_process_died_on_this_host_is_free_at_once(
    lab: Lab, runner: Cluster, lease_name: str
) -> None:
    # A holder killed by SIGKILL leaves a lease that would last 30 s more; its
    # process is gone from this host, so the lock is free now.
    script = (
        "import os, signal, sys\n"
        "from drillkit.lab.cluster import Lab\n"
        "from drillkit.safety.lock import ClusterLock\n"
        "lab = Lab.open(sys.argv[1])\n"
        "ClusterLock(lab.connect(admin=False), holder='run-killed', name=sys.argv[2]).acquire()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, lab.shape.name, lease_name], check=False)
    assert killed.returncode == -signal.SIGKILL
    lease = read_lease(runner, LOCK_NAMESPACE, lease_name)
    assert lease is not None and lease.holder == "run-killed"
    assert read_lock_holder(runner, name=lease_name) is None

    with ClusterLock(runner, holder="run-next", name=lease_name) as taken:
        assert taken.held

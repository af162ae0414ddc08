"""Leader election for ``drill scheduler run --leader-elect``: one replica fires, the rest wait.

Replicas of the scheduler (a Deployment's pods) compete for one ``coordination.k8s.io``
Lease, ``drillkit/drillkit-scheduler`` unless named otherwise, through the same
``ClusterLock`` that keeps drills apart: the holder renews it every third of its
duration, and the others try to take it every third of the duration too, which succeeds
once the holder stopped renewing for the whole duration (it died, or lost the API
server). So a standby takes over within the lease duration plus a third of it.

A leader leads only while its last renewal is younger than two thirds of the duration
(the renewal deadline, as Kubernetes' own leader election has one): a leader cut off
from the API server stops firing before its Lease can expire and be taken over, and a
leader that finds another holder at a renewal stops at once. It then goes back to
standby and competes again. The Lease is never the only guard: each fire time is still
claimed in the scheduler database, so a fire runs once even if two replicas briefly
both believed they led.

Pids are not trusted for takeovers here, unlike for ``drill run``: pods on the host
network share the host's name but not its process table.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import DrillError
from drillkit.safety.lock import LOCK_NAMESPACE, ClusterLock, LockHeld, renewal_interval

DEFAULT_LEASE_NAME = "drillkit-scheduler"
DEFAULT_LEASE_NAMESPACE = LOCK_NAMESPACE
DEFAULT_LEASE_SECONDS = 15

logger = logging.getLogger(__name__)


def renewal_deadline(lease_seconds: int) -> float:
    """How old the last renewal may be while the holder still leads: two thirds of the
    duration, so it stops a third of the duration before anyone may take over."""
    return lease_seconds * 2 / 3


class LeaderElection:
    """Competes for the scheduler Lease in a background thread; ``leading`` says whether
    this replica holds it now. ``on_change`` is called with the new state on each change."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        identity: str,
        name: str = DEFAULT_LEASE_NAME,
        namespace: str = DEFAULT_LEASE_NAMESPACE,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if lease_seconds < 3:
            raise ValueError("lease_seconds must be at least 3")
        self.cluster = cluster
        # Unique per process: two replicas given the same --id must not both hold the Lease.
        self.holder = f"{identity}/{secrets.token_hex(3)}"
        self.name = name
        self.namespace = namespace
        self.lease_seconds = lease_seconds
        self._on_change = on_change
        self._lock: ClusterLock | None = None
        self._problem: str | None = None
        self._was_leading = False
        self._guard = threading.Lock()
        # Changes are noted from the campaign thread and the Lease's renewal thread alike.
        self._change_guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        """Whether this replica holds the Lease, renewed within the renewal deadline."""
        lock = self._lock
        return (
            lock is not None
            and lock.held
            and lock.renewed_ago < renewal_deadline(self.lease_seconds)
        )

    @property
    def problem(self) -> str | None:
        """Why the last try for the Lease failed (not: another replica holds it), or None."""
        return self._problem

    def start(self) -> None:
        """Try for the Lease now, then keep trying (or renewing) in the background."""
        self.campaign()
        self._thread = threading.Thread(
            target=self._campaign_until_stopped, name="drill-scheduler-election", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop competing and hand the Lease back, so a standby takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._guard:
            lock, self._lock = self._lock, None
        if lock is not None:
            try:
                lock.release()
            except DrillError as error:
                logger.warning("handing the scheduler lease back failed: %s", error)
        self._note_change()

    def campaign(self) -> None:
        """Take the Lease when it is free or expired; a no-op while this replica holds it."""
        with self._guard:
            if self._lock is not None and not self._lock.lost:
                return
            lock = ClusterLock(
                self.cluster,
                holder=self.holder,
                lease_seconds=self.lease_seconds,
                namespace=self.namespace,
                name=self.name,
                on_lost=self._lost,
                free_when_holder_gone=False,
            )
            try:
                lock.acquire()
            except LockHeld:
                self._lock, self._problem = None, None
            except DrillError as error:
                logger.warning("competing for the scheduler lease failed: %s", error)
                self._lock, self._problem = None, str(error)
            else:
                self._lock, self._problem = lock, None
        self._note_change()

    def _campaign_until_stopped(self) -> None:
        while not self._stop.wait(renewal_interval(self.lease_seconds)):
            self.campaign()
            self._note_change()

    def _lost(self, reason: str) -> None:
        logger.warning("no longer the leader: %s", reason)
        self._note_change()

    def _note_change(self) -> None:
        with self._change_guard:
            leading = self.leading
            if leading == self._was_leading:
                return
            self._was_leading = leading
            lease = f"{self.namespace}/{self.name}"
            if leading:
                logger.info("leading: holding lease %s as %s", lease, self.holder)
            else:
                logger.info("standing by: lease %s is not ours", lease)
            if self._on_change is not None:
                self._on_change(leading)

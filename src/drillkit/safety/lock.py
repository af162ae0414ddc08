"""One drill per cluster at a time: a ``coordination.k8s.io`` Lease held for the whole run.

``ClusterLock`` creates the Lease ``drillkit/drillkit-run`` naming the run
(``holderIdentity``) and renews it from a background thread every third of its
duration. A second run finds the Lease held and is refused with ``LockHeld``,
whose message names the holder (run id, pid and host) and when the Lease
expires. A holder that dies stops renewing; once ``renewTime +
leaseDurationSeconds`` has passed, the next run takes the Lease over with a
replace that carries the ``resourceVersion`` it read, so of two runs taking
over at once exactly one wins (the other gets 409 and is refused).

Expiry compares the holder's ``renewTime`` with this machine's wall clock, as
Kubernetes' own Lease users do for a fresh reader. Renewing every third of the
duration means a live holder's Lease is at least two thirds of its duration
from expiring, so clocks may disagree by up to that much (20 s for the default
30 s Lease) before a live holder could be taken over.

The arithmetic (``measure_lease``) is a pure function of plain numbers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from drillkit.drivers.cluster_state import (
    LeaseClaim,
    LeaseRecord,
    create_lease,
    delete_lease,
    read_lease,
    replace_lease,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import ClusterError, Conflict, DrillError, NotFound
from drillkit.processes import process_is_alive

LOCK_NAMESPACE = "drillkit"
LOCK_NAME = "drillkit-run"
DEFAULT_LEASE_SECONDS = 30
PID_ANNOTATION = "drillkit.io/holder-pid"
HOST_ANNOTATION = "drillkit.io/holder-host"

# A takeover or a first acquire can race another run a few times (it deleted the
# Lease, or took it over, between our read and our write); past this, give up.
_ACQUIRE_ATTEMPTS = 5

logger = logging.getLogger(__name__)


class LockHeld(DrillError):
    """Another drill holds the cluster lock; nothing was changed."""

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class LockLost(DrillError):
    """The cluster lock was taken over or could not be renewed before it expired."""


# -- pure arithmetic ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LeaseTiming:
    """How old a Lease's last renewal is and how long until it expires, in seconds."""

    renewed_ago: float
    expires_in: float

    @property
    def expired(self) -> bool:
        return self.expires_in <= 0


def measure_lease(*, renewed_at: float | None, duration: float | None, now: float) -> LeaseTiming:
    """Timing of a Lease renewed at ``renewed_at`` for ``duration`` seconds, seen at ``now``.

    All three are seconds on the same clock (epoch seconds). A Lease without a
    renewal time or a duration was never validly held, so it counts as expired.
    """
    if renewed_at is None or duration is None or duration <= 0:
        return LeaseTiming(
            renewed_ago=0.0 if renewed_at is None else now - renewed_at, expires_in=0.0
        )
    return LeaseTiming(renewed_ago=now - renewed_at, expires_in=renewed_at + duration - now)


def renewal_interval(lease_seconds: int) -> float:
    """How often a holder renews: a third of the duration, so two renewals may fail."""
    return lease_seconds / 3


def describe_holder(holder: str, annotations: Mapping[str, str], timing: LeaseTiming) -> str:
    """The refusal message naming the holder; pure."""
    where = ""
    pid, host = annotations.get(PID_ANNOTATION), annotations.get(HOST_ANNOTATION)
    if pid and host:
        where = f" (pid {pid} on host {host})"
    elif host:
        where = f" (on host {host})"
    return (
        f"another drill holds the cluster lock: run {holder}{where}, "
        f"renewed {max(0.0, timing.renewed_ago):.0f} s ago; "
        f"it expires in {max(0.0, timing.expires_in):.0f} s unless renewed"
    )


# -- the lock -------------------------------------------------------------------------------


_planned_outage = threading.Event()


def planned_control_plane_outage(active: bool) -> None:
    """Say that this run itself has taken the API server down (an etcd restore) or
    brought it back. Meanwhile failed renewals do not lose the lock: nobody else can
    take a Lease from an API server that is down either, and once it is back the
    next renewal finds out whether the Lease is still ours."""
    if active:
        _planned_outage.set()
    else:
        _planned_outage.clear()


class ClusterLock:
    """The cluster-wide run Lease, held by one run and renewed in the background.

    Use as a context manager, or call ``acquire()`` and ``release()``. ``lost`` turns
    true (and ``on_lost`` is called once, from the renewal thread) when another run
    took the Lease over or a renewal could not be made before it expired; the
    runner should then abort and roll back.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        holder: str,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        namespace: str = LOCK_NAMESPACE,
        name: str = LOCK_NAME,
        on_lost: Callable[[str], None] | None = None,
        free_when_holder_gone: bool = True,
    ) -> None:
        if lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")
        self.cluster = cluster
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.namespace = namespace
        self.name = name
        self._on_lost = on_lost
        # Off where holders share a host name but not a process table (pods on the host
        # network): a pid there names another container's process.
        self.free_when_holder_gone = free_when_holder_gone
        self._record: LeaseRecord | None = None
        self._renewed_monotonic = 0.0
        # Reentrant: ``on_lost`` runs on the renewal thread inside ``renew`` and may
        # well call ``release``.
        self._record_lock = threading.RLock()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._lost_reason: str | None = None
        self._thread: threading.Thread | None = None

    # -- state --------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """Acquired, not released and not lost."""
        return self._record is not None and not self._lost.is_set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def renewed_ago(self) -> float:
        """Seconds since this holder last wrote the Lease (acquired or renewed), counted
        from just before the write, so never less than the Lease's own age."""
        return time.monotonic() - self._renewed_monotonic

    def ensure_held(self) -> None:
        """Raise ``LockLost`` when the Lease is no longer ours."""
        if self._lost.is_set():
            raise LockLost(f"the cluster lock was lost: {self._lost_reason}")
        if self._record is None:
            raise LockLost("the cluster lock is not held")

    # -- acquire and release ------------------------------------------------------------

    def acquire(self) -> None:
        """Take the Lease and start renewing it; ``LockHeld`` when another live run has it."""
        if self._record is not None:
            raise RuntimeError("this ClusterLock is already acquired")
        for _ in range(_ACQUIRE_ATTEMPTS):
            now = _utc_now()
            # Taken before the write: the Lease's renewTime is no later than this.
            written = time.monotonic()
            try:
                self._record = create_lease(
                    self.cluster, self.namespace, self.name, self._claim(now, acquired_at=now)
                )
                break
            except Conflict:
                pass
            current = read_lease(self.cluster, self.namespace, self.name)
            if current is None:
                continue  # deleted between our create and our read: create again
            if current.holder not in (None, self.holder):
                timing = _timing(current, now=_utc_now())
                gone = self.free_when_holder_gone and holder_is_gone(current)
                if not timing.expired and not gone:
                    raise LockHeld(
                        describe_holder(current.holder, current.annotations, timing),
                        holder=current.holder,
                    )
                logger.info("taking over the expired cluster lock of run %s", current.holder)
            try:
                self._record = self._replace(
                    current,
                    now=now,
                    acquired_at=now,
                    transitions=current.transitions + (current.holder != self.holder),
                )
                break
            except (Conflict, NotFound):
                # Another run wrote or deleted it since we read it; look again.
                continue
        else:
            raise ClusterError(
                f"could not acquire lease {self.namespace}/{self.name}: it kept changing "
                f"under {_ACQUIRE_ATTEMPTS} attempts"
            )
        self._renewed_monotonic = written
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._renew_until_stopped, name=f"drillkit-lock-{self.name}", daemon=True
        )
        self._thread.start()

    def stop_renewing(self) -> None:
        """Stop the renewal thread without releasing, as a dying process would."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def release(self) -> None:
        """Stop renewing and delete the Lease, only if it is still ours."""
        self.stop_renewing()
        with self._record_lock:
            record, self._record = self._record, None
        if record is None or self._lost.is_set():
            return
        try:
            # The precondition makes this a no-op when another run took it over meanwhile.
            delete_lease(
                self.cluster, self.namespace, self.name, resource_version=record.resource_version
            )
        except Conflict:
            current = read_lease(self.cluster, self.namespace, self.name)
            if current is not None and current.holder == self.holder:
                delete_lease(
                    self.cluster,
                    self.namespace,
                    self.name,
                    resource_version=current.resource_version,
                )

    def __enter__(self) -> ClusterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    # -- renewal ------------------------------------------------------------------------

    def renew(self) -> None:
        """Renew once; flags the lock lost when another run holds it now."""
        with self._record_lock:
            record = self._record
            if record is None or self._lost.is_set():
                return
            written = time.monotonic()
            try:
                self._record = self._replace(
                    record,
                    now=_utc_now(),
                    acquired_at=record.acquired_at or _utc_now(),
                    transitions=record.transitions,
                )
                self._renewed_monotonic = written
                return
            except NotFound:
                self._mark_lost(f"lease {self.namespace}/{self.name} was deleted")
                return
            except Conflict:
                current = read_lease(self.cluster, self.namespace, self.name)
            if current is None:
                self._mark_lost(f"lease {self.namespace}/{self.name} was deleted")
            elif current.holder != self.holder:
                self._mark_lost(f"run {current.holder} took the lease over")
            else:
                # Still ours but written elsewhere (an operator's annotation, say):
                # carry on from the version we just read.
                self._record = current

    def _renew_until_stopped(self) -> None:
        interval = renewal_interval(self.lease_seconds)
        last_renewal = time.monotonic()
        while not self._stop.wait(interval):
            try:
                self.renew()
                last_renewal = time.monotonic()
            except ClusterError as error:
                if _planned_outage.is_set():
                    last_renewal = time.monotonic()
                    continue
                # A blip is survivable: two of three renewals may fail before expiry.
                age = time.monotonic() - last_renewal
                logger.warning("renewing the cluster lock failed (%s)", error)
                if age >= self.lease_seconds:
                    self._mark_lost(f"not renewed for {age:.0f} s ({error})")
            if self._lost.is_set():
                return

    def _mark_lost(self, reason: str) -> None:
        if self._lost.is_set():
            return
        self._lost_reason = reason
        self._lost.set()
        logger.error("the cluster lock was lost: %s", reason)
        if self._on_lost is not None:
            self._on_lost(reason)

    def _replace(
        self, read: LeaseRecord, *, now: datetime, acquired_at: datetime, transitions: int
    ) -> LeaseRecord:
        """Write this run's claim over the Lease as it was ``read``; ``Conflict`` when it
        changed since, ``NotFound`` when it was deleted."""
        return replace_lease(
            self.cluster,
            self.namespace,
            self.name,
            self._claim(now, acquired_at=acquired_at, transitions=transitions),
            resource_version=read.resource_version,
        )

    def _claim(self, now: datetime, *, acquired_at: datetime, transitions: int = 0) -> LeaseClaim:
        return LeaseClaim(
            holder=self.holder,
            duration_seconds=self.lease_seconds,
            acquired_at=acquired_at,
            renewed_at=now,
            transitions=transitions,
            annotations={PID_ANNOTATION: str(os.getpid()), HOST_ANNOTATION: socket.gethostname()},
        )


def read_lock_holder(
    cluster: Cluster, *, namespace: str = LOCK_NAMESPACE, name: str = LOCK_NAME
) -> str | None:
    """The run id holding the cluster lock now, or None when it is free or expired."""
    current = read_lease(cluster, namespace, name)
    if current is None or current.holder is None:
        return None
    if _timing(current, now=_utc_now()).expired or holder_is_gone(current):
        return None
    return current.holder


def holder_is_gone(record: LeaseRecord) -> bool:
    """Whether the lock's holder is a process on this host that no longer exists.

    Such a lock is free at once: a killed ``drill run`` should not block the next
    run, or its own recovery, until its lease expires. Holders on other hosts are
    judged by the lease alone.
    """
    pid, host = record.annotations.get(PID_ANNOTATION), record.annotations.get(HOST_ANNOTATION)
    if not pid or not pid.isdigit() or host != socket.gethostname():
        return False
    return not process_is_alive(int(pid), record.acquired_at)


def _timing(record: LeaseRecord, *, now: datetime) -> LeaseTiming:
    renewed = record.renewed_at or record.acquired_at
    return measure_lease(
        renewed_at=renewed.timestamp() if renewed else None,
        duration=record.duration_seconds,
        now=now.timestamp(),
    )


def _utc_now() -> datetime:
    # Lease times are wall-clock by Kubernetes' definition (renewTime is a MicroTime).
    return datetime.now(UTC)

"""Where a zone outage happens: one ``ZoneOutageProvider`` per platform, and the
outage itself (``inject_zone_outage``), shared by the Chaos Toolkit activities of
``drillkit.faults.outage`` (any platform) and ``drillkit.faults.zones`` (the lab).

- ``LabProvider``: the lab's zone is kept alive by one kwok process, which is killed
  and started again; it acts on the lab the run's kubeconfig reaches
  (``drillkit.lab.cluster.lab_reached_by``), never on one named elsewhere.
- ``AwsProvider``: the zone's nodes are EC2 instances, found by availability zone and
  the cluster tag ``kubernetes.io/cluster/<name>``, stopped (never terminated) and
  started again (``drillkit.drivers.aws``).

Undo before harm: once the targets are known and before anything is stopped, an
undo record naming them is persisted (``drillkit.safety.undo``). For AWS the record
is ``start-aws-instances`` with target ``(region, endpoint or "-", zone, *instance
ids)``, and each instance is also tagged ``drillkit.io/stopped-by: <run id>`` before
the stop, as cordoned nodes carry ``drillkit.io/cordoned-by``: the rollback finds
the run's instances by that tag without needing the Kubernetes API (which may be
down with the zone), and instances that someone else stopped are never started by
drillkit. Importing this module registers the ``start-aws-instances`` undo action,
so whatever runs recovery must import it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.errors import ClusterError, InvalidInput
from drillkit.faults.steps import AFFECTED_KEY, INJECTED_AT, affected
from drillkit.lab.cluster import Lab, lab_reached_by
from drillkit.model.timeline import Instant, format_utc
from drillkit.safety.undo import (
    START_LAB_ZONE,
    Progress,
    Reverted,
    UndoRecord,
    current_run_id,
    record_undo,
    reverts,
)

if TYPE_CHECKING:
    from drillkit.drivers.aws import Ec2

START_AWS_INSTANCES = "start-aws-instances"
STOPPED_BY_TAG = "drillkit.io/stopped-by"
"""EC2 tag naming the run that stopped an instance, so only its own stops are undone."""
DEFAULT_ENDPOINT = "-"
"""Stands for "AWS's own endpoint" in an undo target, whose values must not be empty."""

ZONE_OUTAGE_TIMEOUT = 600.0
"""Seconds instances get to reach ``stopped`` or ``running``; EC2 usually needs 30 to 120."""

PROVIDERS = ("aws", "lab")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ZoneStopped:
    """What a provider stopped, and when the platform acknowledged the stop."""

    stopped: tuple[str, ...]
    acknowledged: Instant


class ZoneOutageProvider(Protocol):
    """One platform's way to stop every machine of a zone and start them again.

    Finding and stopping are separate steps so the undo record can name the
    targets before anything is stopped, and exactly those are stopped.
    """

    def find_targets(self, zone: str) -> list[str]:
        """What an outage of ``zone`` would stop now; empty when nothing is up there."""
        ...

    def undo_for(self, zone: str, targets: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        """The undo action and target that bring ``targets`` back."""
        ...

    def stop(self, zone: str, targets: Sequence[str]) -> ZoneStopped:
        """Stop ``targets`` abruptly; returns once they are down."""
        ...

    def start(self, zone: str) -> list[str]:
        """Start what this run stopped in ``zone``, wait until it is up; what was started."""
        ...


def _now() -> Instant:
    return Instant(monotonic=time.monotonic(), utc=datetime.now(UTC))


# -- the lab ------------------------------------------------------------------------------


class LabProvider:
    """The lab's zone outage: SIGKILL the zone's kwok, so its nodes stop heartbeating."""

    def __init__(self, lab: str) -> None:
        self.lab = lab

    @classmethod
    def for_cluster(cls, cluster: Cluster, *, named: str | None = None) -> LabProvider:
        """The provider of the lab ``cluster`` reaches; ``named``, if given, must be it."""
        return cls(lab_reached_by(cluster.identity(ask=False), named=named).shape.name)

    def find_targets(self, zone: str) -> list[str]:
        # The kwok process is killed even when it looks stopped: a kill is harmless then.
        return [Lab.open(self.lab).zone_component(zone).name]

    def undo_for(self, zone: str, targets: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        return START_LAB_ZONE, (self.lab, zone)

    def stop(self, zone: str, targets: Sequence[str]) -> ZoneStopped:
        component = Lab.open(self.lab).zone_component(zone)
        signalled: list[Instant] = []
        # From the signal on, no node of the zone renews its Lease.
        component.kill(on_signalled=lambda: signalled.append(_now()))
        return ZoneStopped(
            stopped=(component.name,), acknowledged=signalled[0] if signalled else _now()
        )

    def start(self, zone: str) -> list[str]:
        with Cluster.from_environment() as cluster:
            return Lab.open(self.lab).start_zones([zone], cluster)


# -- AWS ----------------------------------------------------------------------------------


class AwsProvider:
    """A zone outage on EC2: stop the running instances of the cluster in one zone.

    Instances are stopped, never terminated, so their disks and identities survive
    and starting them is a full undo. ``force`` skips the guest's orderly shutdown
    (closer to a power cut, but file systems are not flushed); the default lets the
    guest shut down, which Kubernetes still sees as nodes that stop heartbeating
    unless the kubelet's graceful node shutdown is configured.
    """

    def __init__(
        self,
        cluster_name: str,
        region: str | None = None,
        endpoint_url: str | None = None,
        *,
        force: bool = False,
        timeout: float = ZONE_OUTAGE_TIMEOUT,
        ec2: Ec2 | None = None,
    ) -> None:
        if not cluster_name:
            raise InvalidInput("a zone outage on AWS needs cluster_name (the cluster tag's name)")
        # Imported here: boto3 takes a while to import and only AWS drills need it.
        from drillkit.drivers.aws import Ec2

        self.cluster_name = cluster_name
        self.force = force
        self.timeout = timeout
        self.ec2 = ec2 or Ec2.connect(region, endpoint_url)

    def close(self) -> None:
        self.ec2.close()

    def find_targets(self, zone: str) -> list[str]:
        return [i.instance_id for i in self.ec2.cluster_instances(self.cluster_name, zone)]

    def undo_for(self, zone: str, targets: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        endpoint = self.ec2.endpoint_url or DEFAULT_ENDPOINT
        return START_AWS_INSTANCES, (self.ec2.region, endpoint, zone, *targets)

    def stop(self, zone: str, targets: Sequence[str]) -> ZoneStopped:
        # The mark goes on before the stop, so an instance is never stopped by a run
        # without saying which run.
        self.ec2.tag_instances(targets, {STOPPED_BY_TAG: current_run_id()})
        stopped = self.ec2.stop_instances(targets, force=self.force)
        # Accepted by EC2: from here the guests go down and their kubelets fall silent.
        acknowledged = _now()
        self.ec2.wait_for_state(stopped, "stopped", timeout=self.timeout)
        return ZoneStopped(stopped=tuple(stopped), acknowledged=acknowledged)

    def start(self, zone: str) -> list[str]:
        run_id = current_run_id()
        ours = self.ec2.cluster_instances(
            self.cluster_name,
            zone,
            states=("pending", "running", "stopping", "stopped"),
            tags={STOPPED_BY_TAG: run_id},
        )
        started, notes = _restart(
            self.ec2,
            [i.instance_id for i in ours],
            run_id=run_id,
            timeout=self.timeout,
            progress=logger.info,
        )
        for note in notes:
            logger.warning("%s", note)
        return started


def _restart(
    ec2: Ec2, instance_ids: Sequence[str], *, run_id: str, timeout: float, progress: Progress
) -> tuple[list[str], list[str]]:
    """Start the instances ``run_id`` stopped, wait until they run, then drop its mark.

    Returns the instances started and notes on those left alone. Idempotent:
    instances already running are only unmarked. Instances stopped without the
    run's mark were stopped by someone else and are left alone; terminated ones (an
    Auto Scaling group replaces stopped members) cannot be started and are noted.
    """
    notes: list[str] = []
    current = {i.instance_id: i for i in ec2.instances(instance_ids)}
    ours: list[str] = []
    for instance_id in sorted(set(instance_ids)):
        instance = current.get(instance_id)
        if instance is None or instance.state in ("shutting-down", "terminated"):
            notes.append(
                f"left instance {instance_id} alone: it was terminated (replaced by an "
                "Auto Scaling group?) and cannot be started"
            )
        elif instance.tags.get(STOPPED_BY_TAG) != run_id and instance.state in (
            "stopping",
            "stopped",
        ):
            who = instance.tags.get(STOPPED_BY_TAG)
            notes.append(
                f"left instance {instance_id} {instance.state}: "
                f"{f'run {who}' if who else 'someone else'} stopped it, not run {run_id}"
            )
        else:
            ours.append(instance_id)
    stopping = [i for i in ours if current[i].state == "stopping"]
    if stopping:
        # EC2 refuses to start an instance that is still stopping.
        progress(f"waiting for instances {', '.join(stopping)} to finish stopping")
        ec2.wait_for_state(stopping, "stopped", timeout=timeout)
    to_start = [i for i in ours if current[i].state in ("stopping", "stopped")]
    if to_start:
        progress(f"starting instances {', '.join(to_start)}")
        ec2.start_instances(to_start)
    if ours:
        ec2.wait_for_state(ours, "running", timeout=timeout)
        # The mark goes last: a crash before this leaves it, and the next revert finds
        # the instances running and only unmarks them.
        ec2.untag_instances(ours, [STOPPED_BY_TAG])
    return to_start, notes


def _describe_start_aws_instances(target: tuple[str, ...]) -> str:
    if len(target) < 4:
        return f"{START_AWS_INSTANCES} {', '.join(target)}"
    region, endpoint, zone, *instance_ids = target
    where = "" if endpoint == DEFAULT_ENDPOINT else f" at {endpoint}"
    return f"start EC2 instances {', '.join(instance_ids)} in {zone} ({region}{where})"


@reverts(START_AWS_INSTANCES, target_arity=None, describe=_describe_start_aws_instances)
def _revert_start_aws_instances(
    record: UndoRecord, cluster: Cluster, progress: Progress
) -> Reverted:
    # The cluster is not needed: started instances rejoin it by themselves, and how
    # soon their nodes are Ready again is for the drill's probes to measure.
    del cluster
    if len(record.target) < 4:
        raise InvalidInput(
            f"undo action {START_AWS_INSTANCES} needs region, endpoint, zone and instance "
            f"ids, not {list(record.target)}"
        )
    region, endpoint, _zone, *instance_ids = record.target
    from drillkit.drivers.aws import Ec2

    with Ec2.connect(region, None if endpoint == DEFAULT_ENDPOINT else endpoint) as ec2:
        started, notes = _restart(
            ec2, instance_ids, run_id=record.run_id, timeout=ZONE_OUTAGE_TIMEOUT, progress=progress
        )
    return Reverted(changes=tuple(f"started instance {i}" for i in started), notes=tuple(notes))


# -- the activities -----------------------------------------------------------------------


@contextmanager
def open_provider(
    provider: str,
    *,
    cluster_name: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    lab: str | None = None,
    cluster: Cluster | None = None,
    force: bool = False,
    timeout: float = ZONE_OUTAGE_TIMEOUT,
) -> Iterator[ZoneOutageProvider]:
    """The provider an activity's arguments name, closed afterwards; the lab provider
    needs ``cluster``, the measured cluster, whose lab it acts on."""
    if provider == "lab":
        if cluster is None:
            raise InvalidInput("a zone outage in a lab needs the cluster it acts on")
        yield LabProvider.for_cluster(cluster, named=lab)
    elif provider == "aws":
        aws = AwsProvider(
            cluster_name or "", region, endpoint_url or None, force=force, timeout=timeout
        )
        try:
            yield aws
        finally:
            aws.close()
    else:
        raise InvalidInput(
            f"zone outage provider must be one of {', '.join(PROVIDERS)}, not {provider!r}"
        )


def inject_zone_outage(
    provider: ZoneOutageProvider, zone: str, *, cluster: Cluster, undo_dir: Path | None = None
) -> dict[str, object]:
    """Record the undo, then stop every target of ``zone``; the activity's output."""
    targets = provider.find_targets(zone)
    if not targets:
        # Nothing up in the zone: no outage, no t_inject (the run says it never took effect).
        return {INJECTED_AT: None, AFFECTED_KEY: [], "zone": zone, "stopped": []}
    action, target = provider.undo_for(zone, targets)
    # Undo before harm: if this process dies from here on, recovery starts them again.
    record_undo(action, target, cluster=cluster, undo_dir=undo_dir)
    # What the stop lands on, read just before it: the zone's nodes and the pods bound
    # to them then (pods already terminating were leaving anyway).
    try:
        hit: list[dict[str, object]] | None = zone_members(cluster, zone)
    except ClusterError as error:
        # A cloud outage does not need the API; its machines are still named below.
        logger.warning("zone %s: its nodes and pods could not be listed: %s", zone, error)
        hit = None
    stopped = provider.stop(zone, targets)
    if hit is None:
        hit = [affected("Machine", target, action="stopped") for target in stopped.stopped]
    acknowledged = {
        "monotonic": stopped.acknowledged.monotonic,
        "utc": format_utc(stopped.acknowledged.utc),
    }
    return {
        INJECTED_AT: acknowledged,
        AFFECTED_KEY: hit,
        "zone": zone,
        "stopped": list(stopped.stopped),
    }


def zone_members(cluster: Cluster, zone: str) -> list[dict[str, object]]:
    """``AFFECTED_KEY`` entries for a zone that stops: its nodes, then the live pods on them."""
    nodes = sorted(n.name for n in cluster.nodes(f"{ZONE_LABEL}={zone}"))
    hit = [affected("Node", node, action="stopped") for node in nodes]
    for pod in cluster.pods_on_nodes(nodes):
        if not pod.terminating:
            hit.append(affected("Pod", pod.name, namespace=pod.namespace, action="node stopped"))
    return hit


# No Chaos Toolkit activities here: the functions serve drillkit's faults and runner
# and are no part of the experiment file API.
__all__: list[str] = []

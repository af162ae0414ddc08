"""Abrupt zone outage: every node of a zone stops heartbeating at once.

Unlike a drain, nothing is orderly: the node-lifecycle controller has to notice
the missing heartbeats, mark the nodes NotReady/Unknown and taint them, and the
pods are evicted only when their tolerations run out. The measured RTO therefore
includes the detection time.

In the lab, a zone's nodes are kept alive by that zone's kwok process, so the
outage is a SIGKILL of that process and the rollback starts it again. The lab is
the one the run's kubeconfig reaches (``KUBECONFIG``, ``KUBERNETES_CONTEXT``), found
by its API server and CA: a ``lab`` argument only confirms it, and a lab other than
the measured cluster is refused before anything is stopped.
"""

from __future__ import annotations

from drillkit.drivers.kubernetes import Cluster
from drillkit.faults.declarations import (
    FaultDeclaration,
    Reach,
    always,
    declare,
    no_target_on_zone,
    zone_plan,
)
from drillkit.faults.platforms import LabProvider, inject_zone_outage
from drillkit.model.drill import Disruption

IN_THE_LAB = Reach(lab=always)


@declare(
    FaultDeclaration(
        plan=zone_plan("cuts the heartbeats of"),
        no_target=no_target_on_zone,
        reach=IN_THE_LAB,
        disrupts=Disruption.ZONE,
    )
)
def stop_zone(zone: str, lab: str | None = None) -> dict[str, object]:
    """Cut every heartbeat of ``zone`` in the measured lab (kill its kwok abruptly).

    The output names, under ``drillkit_affected``, the zone's nodes and the pods
    bound to them at the moment of the stop."""
    with Cluster.from_environment() as cluster:
        provider = LabProvider.for_cluster(cluster, named=lab)
        output = inject_zone_outage(provider, zone, cluster=cluster)
    return {**output, "lab": provider.lab}


@declare(FaultDeclaration(blast_radius=None, reach=IN_THE_LAB))
def start_zone(zone: str, lab: str | None = None) -> dict[str, object]:
    """The rollback of ``stop_zone``: the zone's heartbeats resume."""
    with Cluster.from_environment() as cluster:
        provider = LabProvider.for_cluster(cluster, named=lab)
        started = provider.start(zone)
    return {"zone": zone, "lab": provider.lab, "started": started}


# The Chaos Toolkit activities of this module (what `chaos discover` lists).
__all__ = [
    "start_zone",
    "stop_zone",
]

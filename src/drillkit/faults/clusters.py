"""Which clusters an experiment's faults will touch, checked before the first change.

A fault must act on the cluster the run measures. Lab faults find their lab from
the run's kubeconfig (``drillkit.lab.cluster.lab_reached_by``), but a drill can
also name clusters of its own: a ``lab`` argument or configuration, region B of a
cross-region restore (``restore_kubeconfig``, ``restore_lab``), etcd members.
``check_clusters`` reads what each fault of the method and rollbacks declares it
reaches (``drillkit.faults.declarations.Reach``) and, reading only, confirms that
each cluster answers as the one named:

- a lab fault's lab is the measured cluster (the ``lab`` it names, if any, too);
- region B answers, is the lab ``restore_lab`` names, and is not the measured
  cluster when a ``region_disaster`` stops that one;
- every etcd member holds the measured cluster's data.

It returns the identity of every cluster touched, for the report, or raises
``InvalidInput`` naming both sides (``drill run`` exits 2, nothing changed).
Activities arrive with their arguments already substituted from the experiment's
configuration (the runner does that through chaoslib).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drillkit.drivers.kubernetes import Cluster, ClusterIdentity
from drillkit.errors import ClusterError, InvalidInput
from drillkit.faults.declarations import Reach
from drillkit.lab.cluster import lab_reached_by
from drillkit.model.run import TouchedCluster
from drillkit.restoring.etcd import ensure_members_hold, resolve_target
from drillkit.restoring.targets import resolve_restore_target

FaultReach = tuple[Mapping[str, object], Reach]
"""A fault's arguments, substituted as chaoslib will, and what it declares it reaches."""


def check_clusters(
    cluster: Cluster,
    faults: Sequence[FaultReach],
    configuration: Mapping[str, Any],
) -> list[TouchedCluster]:
    """Confirm every cluster the faults name is the one they will act on; reads only.

    ``cluster`` is the measured one. Returns it first, then every other cluster
    touched; ``InvalidInput`` at the first that answers as another cluster.
    """
    measured = cluster.identity()
    touched = [_touched("measured", measured)]
    for arguments, reach in faults:
        if reach.lab(arguments, configuration):
            named = arguments.get("lab") or configuration.get("lab") or None
            lab_reached_by(measured, named=str(named) if named else None)
    if any(reach.etcd_members for _, reach in faults):
        target = resolve_target(configuration, cluster)
        ensure_members_hold(target, measured)
        # Each member answered with the measured cluster's kube-system UID.
        touched += [
            TouchedCluster(
                role=f"etcd member {m.name}",
                server=m.client_url,
                ca_sha256=None,
                kube_system_uid=measured.kube_system_uid,
            )
            for m in target.members
        ]
    disaster = any(reach.stops_region_a for _, reach in faults)
    seen: set[ClusterIdentity] = set()
    for arguments, reach in faults:
        if not reach.region_b:
            continue
        identity = _restore_target(arguments, configuration, measured, disaster=disaster)
        if identity is not None and identity not in seen:
            seen.add(identity)
            touched.append(_touched("region B (restore target)", identity))
    return touched


def _touched(role: str, identity: ClusterIdentity) -> TouchedCluster:
    return TouchedCluster(
        role=role,
        server=identity.server,
        ca_sha256=identity.ca_sha256,
        kube_system_uid=identity.kube_system_uid,
    )


def ensure_distinct_regions(region_a: ClusterIdentity, region_b: ClusterIdentity) -> None:
    """Refuse a region disaster whose restore would land in the region it stops."""
    if (region_a.server == region_b.server and region_a.ca_sha256 == region_b.ca_sha256) or (
        region_a.kube_system_uid is not None
        and region_a.kube_system_uid == region_b.kube_system_uid
    ):
        raise InvalidInput(
            f"region B ({region_b.server}) is the cluster the run measures and region A "
            f"({region_a.server}): the restore would land in the region the disaster "
            "stops; refusing before any change"
        )


def _restore_target(
    arguments: Mapping[str, Any],
    configuration: Mapping[str, Any],
    measured: ClusterIdentity,
    *,
    disaster: bool,
) -> ClusterIdentity | None:
    try:
        address = resolve_restore_target(
            arguments.get("kubeconfig"), arguments.get("context"), configuration
        )
    except InvalidInput:
        # No region B configured: the activity says so itself when it runs.
        return None
    try:
        with address.connect() as target:
            identity = target.identity()
    except ClusterError as error:
        raise ClusterError(
            f"region B ({address.describe()}) does not answer, so the restore target cannot "
            f"be confirmed; nothing was changed: {error}"
        ) from error
    restore_lab = arguments.get("restore_lab") or configuration.get("restore_lab")
    if restore_lab:
        lab_reached_by(identity, named=str(restore_lab), role=f"region B ({address.describe()})")
    if disaster:
        ensure_distinct_regions(measured, identity)
    return identity


# No Chaos Toolkit activities here: the functions serve drillkit's faults and runner
# and are no part of the experiment file API.
__all__: list[str] = []

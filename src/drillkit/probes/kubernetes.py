"""Kubernetes probes for steady-state hypotheses and recovery conditions.

Each returns a value that a Chaos Toolkit ``tolerance`` judges (usually ``true``).
"""

from __future__ import annotations

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster


def deployment_available(name: str, namespace: str, at_least: int | None = None) -> bool:
    """True when the Deployment has ``at_least`` ready replicas (default: all it wants)."""
    with Cluster.from_environment() as cluster:
        ready, desired = cluster.deployment_ready_replicas(namespace, name)
    wanted = desired if at_least is None else at_least
    return ready >= wanted and wanted > 0


def nodes_ready_in_zone(zone: str, at_least: int | None = None) -> bool:
    """True when ``at_least`` nodes of the zone are Ready (default: all of them)."""
    with Cluster.from_environment() as cluster:
        nodes = cluster.nodes(f"{ZONE_LABEL}={zone}")
    ready = sum(n.ready for n in nodes)
    return ready >= (len(nodes) if at_least is None else at_least) and bool(nodes)

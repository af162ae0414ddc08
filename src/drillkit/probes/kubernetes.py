"""Kubernetes probes for steady-state hypotheses and recovery conditions.

Each returns a value that a Chaos Toolkit ``tolerance`` judges (usually ``true``).
They share one connection per process and cluster (``_cluster``): a recovery condition is
polled every half second, and a client per poll would cost a TLS handshake each time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from drillkit.drivers import workload_reads
from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster

F = TypeVar("F", bound=Callable[..., object])

WATCHED_KIND = "drillkit_watched_kind"


def _cluster() -> Cluster:
    """The connection the probes share, to the cluster ``KUBECONFIG`` and
    ``KUBERNETES_CONTEXT`` name, as every activity finds it (``Cluster.from_environment``).

    Kept for the process; a kubeconfig rewritten since (a lab set up again) gets a new one.
    """
    kubeconfig = os.environ.get("KUBECONFIG")
    try:
        written = os.stat(kubeconfig).st_mtime_ns if kubeconfig else None
    except OSError:
        written = None  # Cluster.connect says what is wrong with it
    return _shared(kubeconfig, os.environ.get("KUBERNETES_CONTEXT"), written)


@functools.lru_cache(maxsize=8)
def _shared(kubeconfig: str | None, context: str | None, written: int | None) -> Cluster:
    return Cluster.connect(Path(kubeconfig) if kubeconfig else None, context)


def _answered_by_watch(kind: str) -> Callable[[F], F]:
    """Mark a probe that a watch on its workload of ``kind`` answers as well as a poll
    (``drillkit.running.watching``); the function is unchanged."""

    def mark(function: F) -> F:
        setattr(function, WATCHED_KIND, kind)
        return function

    return mark


def api_server_ready() -> bool:
    """True when the API server answers ``/readyz``, which fails while etcd is down."""
    cluster = _cluster()
    return cluster.api_server_ready()


@_answered_by_watch("Deployment")
def deployment_available(name: str, namespace: str, at_least: int | None = None) -> bool:
    """True when the Deployment has ``at_least`` ready replicas (default: all it wants)."""
    cluster = _cluster()
    ready, desired = cluster.deployment_ready_replicas(namespace, name)
    wanted = desired if at_least is None else at_least
    return ready >= wanted and wanted > 0


def nodes_ready_in_zone(zone: str, at_least: int | None = None) -> bool:
    """True when ``at_least`` nodes of the zone are Ready (default: all of them)."""
    cluster = _cluster()
    nodes = cluster.nodes(f"{ZONE_LABEL}={zone}")
    ready = sum(n.ready for n in nodes)
    return ready >= (len(nodes) if at_least is None else at_least) and bool(nodes)


@_answered_by_watch("StatefulSet")
def statefulset_available(name: str, namespace: str, at_least: int | None = None) -> bool:
    """True when the StatefulSet has ``at_least`` ready replicas (default: all it wants)."""
    cluster = _cluster()
    ready, desired = workload_reads.statefulset_ready_replicas(cluster, namespace, name)
    wanted = desired if at_least is None else at_least
    return ready >= wanted and wanted > 0


def pods_ready(label_selector: str, namespace: str, at_least: int | None = None) -> bool:
    """True when ``at_least`` matching pods are ready and not terminating.

    By default: at least one matching pod exists and every one that is not
    terminating is ready. Terminating pods are on their way out (a replacement
    counts instead), so they neither satisfy nor spoil the condition.
    """
    cluster = _cluster()
    pods = cluster.pods(namespace, label_selector=label_selector)
    staying = [pod for pod in pods if not pod.terminating]
    ready = sum(pod.ready for pod in staying)
    if at_least is None:
        return bool(staying) and ready == len(staying)
    return ready >= at_least


def pdb_disruptions_allowed(name: str, namespace: str, at_least: int = 1) -> bool:
    """True when the PodDisruptionBudget allows ``at_least`` more voluntary disruptions.

    A budget whose latest spec the disruption controller has not processed yet
    allows none: the Eviction API refuses every eviction until it has.
    """
    cluster = _cluster()
    budget = workload_reads.disruption_budget(cluster, namespace, name)
    return budget.up_to_date and budget.disruptions_allowed >= at_least


def service_ready_endpoints(name: str, namespace: str, at_least: int = 1) -> bool:
    """True when the Service has ``at_least`` ready endpoints (its EndpointSlices')."""
    return ready_endpoint_count(name, namespace) >= at_least


def ready_endpoint_count(name: str, namespace: str) -> int:
    """The number of ready endpoints of the Service: a measurement, for a tolerance range."""
    cluster = _cluster()
    return workload_reads.ready_endpoint_count(cluster, namespace, name)

"""Reads of the objects that say whether a workload can serve and can be disrupted.

Probes ask three questions the ``Cluster`` wrapper does not answer by itself:
how much a PodDisruptionBudget still allows, how many ready endpoints a Service
has, and how many replicas of a StatefulSet are ready. Each function takes a
``Cluster`` and hands back plain values or a frozen record; client errors become
``ClusterError`` through the shared ``translate_api_errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client

from drillkit.drivers.kubernetes import Cluster, list_all, translate_api_errors

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label the EndpointSlice controller puts on every slice of a Service."""


@dataclass(frozen=True, kw_only=True)
class BudgetState:
    """The status of one PodDisruptionBudget, as the disruption controller last wrote it."""

    namespace: str
    name: str
    disruptions_allowed: int
    current_healthy: int
    desired_healthy: int
    expected_pods: int
    up_to_date: bool
    """False while the controller has not yet processed the budget's latest spec; the
    Eviction API refuses every eviction until it has, whatever the counts say."""


def disruption_budget(cluster: Cluster, namespace: str, name: str) -> BudgetState:
    """The status of the PodDisruptionBudget ``namespace/name``."""
    policy = client.PolicyV1Api(cluster.api_client)
    with translate_api_errors(f"reading poddisruptionbudget {namespace}/{name}"):
        budget = policy.read_namespaced_pod_disruption_budget(name, namespace)
    status = budget.status
    generation = budget.metadata.generation or 0
    observed = (status.observed_generation if status else None) or 0
    return BudgetState(
        namespace=namespace,
        name=name,
        disruptions_allowed=(status.disruptions_allowed if status else 0) or 0,
        current_healthy=(status.current_healthy if status else 0) or 0,
        desired_healthy=(status.desired_healthy if status else 0) or 0,
        expected_pods=(status.expected_pods if status else 0) or 0,
        up_to_date=status is not None and observed >= generation,
    )


def ready_endpoint_count(cluster: Cluster, namespace: str, service: str) -> int:
    """How many distinct ready endpoints the Service ``namespace/service`` has.

    The Service is read first, so a misspelt name is an error rather than zero.
    The count comes from its ``discovery.k8s.io/v1`` EndpointSlices. The same
    endpoint may appear in two slices (while the controller moves it, or once per
    address family on a dual-stack Service), so endpoints are counted once each,
    by the object they point to or else by their first address.
    """
    with translate_api_errors(f"reading service {namespace}/{service}"):
        cluster.core.read_namespaced_service(service, namespace)
    ready: set[tuple[str, ...]] = set()
    for endpoint in _endpoints(cluster, namespace, service):
        if _endpoint_ready(endpoint):
            ready.add(_endpoint_identity(endpoint))
    return len(ready)


def statefulset_ready_replicas(cluster: Cluster, namespace: str, name: str) -> tuple[int, int]:
    """``(ready, desired)`` replicas of the StatefulSet ``namespace/name``."""
    return cluster.workload_ready_replicas("StatefulSet", namespace, name)


def _endpoints(cluster: Cluster, namespace: str, service: str) -> list[Any]:
    discovery = client.DiscoveryV1Api(cluster.api_client)
    with translate_api_errors(f"listing endpointslices of service {namespace}/{service}"):
        slices = list_all(
            discovery.list_namespaced_endpoint_slice,
            namespace,
            label_selector=f"{SERVICE_NAME_LABEL}={service}",
        )
    return [endpoint for endpoint_slice in slices for endpoint in endpoint_slice.endpoints or []]


def _endpoint_ready(endpoint: Any) -> bool:
    conditions = endpoint.conditions
    # The API defines an absent "ready" as unknown and asks consumers to treat it as ready;
    # terminating endpoints of an ordinary Service have ready=false, so they are not counted.
    return conditions is None or conditions.ready is None or bool(conditions.ready)


def _endpoint_identity(endpoint: Any) -> tuple[str, ...]:
    target = endpoint.target_ref
    if target is not None and target.name:
        return (target.kind or "", target.namespace or "", target.name)
    return ("address", (endpoint.addresses or [""])[0])

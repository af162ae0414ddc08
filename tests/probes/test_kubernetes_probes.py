"""The Kubernetes probes against the shared lab, each in a namespace of the test's own.

The probes connect as Chaos Toolkit activities do (``KUBECONFIG`` and
``KUBERNETES_CONTEXT``), here as the least-privilege ``drillkit-runner``
identity, so these tests also prove that deploy/rbac.yaml grants what they read.
Objects are created as the admin. Where a probe must be false, the state is made
so it cannot heal by itself (bare pods have no controller to replace them, a pod
pinned to a zone that does not exist stays Pending), so no test races the lab.
"""

from __future__ import annotations

from typing import Any

import pytest

from drillkit.drivers import workload_reads
from drillkit.drivers.kubernetes import ZONE_LABEL, EvictionAnswer
from drillkit.errors import ClusterError
from drillkit.lab.cluster import Lab
from drillkit.probes.kubernetes import (
    pdb_disruptions_allowed,
    pods_ready,
    ready_endpoint_count,
    service_ready_endpoints,
    statefulset_available,
)
from tests.helpers import seed_web_manifests, wait_until

pytestmark = pytest.mark.lab

NOWHERE = {ZONE_LABEL: "zone-that-does-not-exist"}
"""A node selector no lab node matches: a pod with it stays Pending, never ready."""


@pytest.fixture(autouse=True)
def probes_connect_as_the_runner(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(lab.kubeconfig))
    monkeypatch.setenv("KUBERNETES_CONTEXT", lab.runner_context)


def bare_pod(
    namespace: str, name: str, labels: dict[str, str], node_selector: dict[str, str] | None = None
) -> dict[str, Any]:
    """A pod without a controller: once deleted or evicted, nothing replaces it."""
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def stateful_set(namespace: str, name: str, *, replicas: int, **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            # Start every replica at once instead of one after the other.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": name, "image": f"registry.invalid/{name}:1"}],
                    **pod_spec,
                },
            },
        },
    }


def service(namespace: str, name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def budget(namespace: str, name: str, *, min_available: int, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
    }


# -- statefulset_available -------------------------------------------------------------


def test_statefulset_available_once_every_replica_is_ready(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        cluster.apply([stateful_set(namespace, "db", replicas=2)])

    assert wait_until("both db replicas ready", lambda: statefulset_available("db", namespace))
    assert statefulset_available("db", namespace, at_least=2)
    assert not statefulset_available("db", namespace, at_least=3)


def test_statefulset_is_not_available_while_its_replicas_cannot_start(
    lab: Lab, namespace: str
) -> None:
    with lab.connect() as cluster:
        cluster.apply([stateful_set(namespace, "db", replicas=2, nodeSelector=NOWHERE)])
        wait_until(
            "the db pods to exist",
            lambda: len(cluster.pods(namespace, label_selector="app=db")) == 2,
        )

    assert not statefulset_available("db", namespace)
    assert not statefulset_available("db", namespace, at_least=1)


def test_statefulset_available_names_a_missing_statefulset_in_one_line(namespace: str) -> None:
    with pytest.raises(ClusterError) as raised:
        statefulset_available("missing", namespace)

    assert raised.value.status == 404
    assert f"statefulset {namespace}/missing" in str(raised.value)
    assert "\n" not in str(raised.value)


# -- pods_ready -------------------------------------------------------------------------


def test_pods_ready_counts_only_pods_that_are_still_there(lab: Lab, namespace: str) -> None:
    labels = {"app": "cache"}
    with lab.connect() as cluster:
        cluster.apply([bare_pod(namespace, f"cache-{i}", labels) for i in range(3)])
        assert wait_until("3 ready cache pods", lambda: pods_ready("app=cache", namespace))
        assert pods_ready("app=cache", namespace, at_least=3)
        assert not pods_ready("app=cache", namespace, at_least=4)

        assert cluster.delete_pod(namespace, "cache-0")

        # Terminating or already gone, the deleted pod no longer counts, and nothing replaces it.
        assert not pods_ready("app=cache", namespace, at_least=3)
        assert pods_ready("app=cache", namespace, at_least=2)
        assert pods_ready("app=cache", namespace)


def test_pods_ready_by_default_wants_every_matching_pod_ready(lab: Lab, namespace: str) -> None:
    labels = {"app": "cache"}
    with lab.connect() as cluster:
        cluster.apply([bare_pod(namespace, f"cache-{i}", labels) for i in range(2)])
        wait_until("2 ready cache pods", lambda: pods_ready("app=cache", namespace, at_least=2))

        cluster.apply([bare_pod(namespace, "cache-pending", labels, node_selector=NOWHERE)])

    assert not pods_ready("app=cache", namespace)
    assert pods_ready("app=cache", namespace, at_least=2)


def test_pods_ready_is_false_when_no_pod_matches(namespace: str) -> None:
    assert not pods_ready("app=nothing", namespace)
    assert not pods_ready("app=nothing", namespace, at_least=1)


# -- pdb_disruptions_allowed ------------------------------------------------------------


def test_pdb_disruptions_allowed_until_an_eviction_spends_the_budget(
    lab: Lab, namespace: str
) -> None:
    labels = {"app": "queue"}
    with lab.connect() as cluster:
        cluster.apply(
            [
                *(bare_pod(namespace, f"queue-{i}", labels) for i in range(3)),
                budget(namespace, "queue", min_available=2, app="queue"),
            ]
        )
        assert wait_until(
            "the budget to allow one disruption",
            lambda: pdb_disruptions_allowed("queue", namespace),
        )
        assert not pdb_disruptions_allowed("queue", namespace, at_least=2)

        assert cluster.evict_pod(namespace, "queue-0") is EvictionAnswer.ACCEPTED

        # The API server records the eviction in the budget's status as it accepts it.
        assert not pdb_disruptions_allowed("queue", namespace)

        # And once the controller recounts, two healthy pods of two required leave none.
        def recounted() -> workload_reads.BudgetState | None:
            state = workload_reads.disruption_budget(cluster, namespace, "queue")
            return state if state.current_healthy == 2 else None

        state = wait_until("the controller to recount the budget", recounted)
        assert state.up_to_date
        assert (state.disruptions_allowed, state.desired_healthy) == (0, 2)
        assert not pdb_disruptions_allowed("queue", namespace)


def test_pdb_disruptions_allowed_follows_the_seed_budget_of_web(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        cluster.apply(seed_web_manifests(namespace, replicas=5))

    # Five ready replicas with minAvailable 4 leave exactly one disruption.
    assert wait_until(
        "web's budget to allow one", lambda: pdb_disruptions_allowed("web", namespace)
    )
    assert not pdb_disruptions_allowed("web", namespace, at_least=2)


def test_pdb_disruptions_allowed_names_a_missing_budget(namespace: str) -> None:
    with pytest.raises(ClusterError, match=f"poddisruptionbudget {namespace}/missing"):
        pdb_disruptions_allowed("missing", namespace)


# -- service_ready_endpoints and ready_endpoint_count ----------------------------------


def test_service_ready_endpoints_counts_the_ready_pods_behind_it(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        cluster.apply(seed_web_manifests(namespace, replicas=2))

    assert wait_until(
        "2 ready endpoints of web", lambda: service_ready_endpoints("web", namespace, at_least=2)
    )
    assert ready_endpoint_count("web", namespace) == 2
    assert service_ready_endpoints("web", namespace)
    assert not service_ready_endpoints("web", namespace, at_least=3)


def test_service_without_matching_pods_has_no_ready_endpoints(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        cluster.apply(
            [
                bare_pod(namespace, "web-0", {"app": "web"}),
                service(namespace, "web", {"app": "web"}),
                service(namespace, "orphan", {"app": "nothing"}),
            ]
        )
    # web's endpoint shows the EndpointSlice controller at work, so orphan's zero is its
    # answer for a selector that matches nothing, not a controller lagging behind.
    wait_until("web's endpoint", lambda: service_ready_endpoints("web", namespace))

    assert ready_endpoint_count("orphan", namespace) == 0
    assert not service_ready_endpoints("orphan", namespace)


def test_service_ready_endpoints_names_a_missing_service(namespace: str) -> None:
    with pytest.raises(ClusterError, match=f"service {namespace}/missing"):
        service_ready_endpoints("missing", namespace)

"""The shared lab behaves like a real cluster: controllers, scheduler, PDBs, zones, RBAC."""

from __future__ import annotations

from collections import Counter

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.errors import NotFound
from drillkit.lab.cluster import Lab
from drillkit.safety.undo import CORDONED_BY
from tests.helpers import seed_web_manifests, wait_until

pytestmark = pytest.mark.lab


def ready_pods(cluster: Cluster, namespace: str) -> list[client.V1Pod]:
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="app=web").items
    return [
        pod
        for pod in pods
        if pod.metadata.deletion_timestamp is None
        and pod.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


def deploy_web(cluster: Cluster, namespace: str, replicas: int = 6) -> list[client.V1Pod]:
    cluster.apply(seed_web_manifests(namespace, replicas=replicas))
    return wait_until(
        f"{replicas} ready web pods",
        lambda: len(ready_pods(cluster, namespace)) == replicas and ready_pods(cluster, namespace),
    )


def pdb_allows(cluster: Cluster, namespace: str, disruptions: int) -> bool:
    policy = client.PolicyV1Api(cluster.api_client)
    status = policy.read_namespaced_pod_disruption_budget("web", namespace).status
    return status.observed_generation is not None and status.disruptions_allowed == disruptions


def evict(cluster: Cluster, pod: client.V1Pod) -> int:
    body = client.V1Eviction(
        metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace)
    )
    try:
        cluster.core.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)
    except ApiException as error:
        return int(error.status)
    return 201


def test_lab_nodes_are_ready_in_three_zones_with_capacity(lab: Lab) -> None:
    with lab.connect() as cluster:
        nodes = cluster.core.list_node().items
    zones = Counter(node.metadata.labels[ZONE_LABEL] for node in nodes)
    assert zones == {"zone-a": 2, "zone-b": 2, "zone-c": 2}
    for node in nodes:
        assert node.metadata.labels["topology.kubernetes.io/region"] == "shared"
        assert node.status.allocatable["cpu"] == "4"
        assert node.status.allocatable["pods"] == "110"
        # Nodes advertise loopback only: the API server never dials anything else.
        assert {a.address for a in node.status.addresses if a.type == "InternalIP"} == {"127.0.0.1"}


def test_the_readiness_check_leaves_the_connection_fit_for_the_next_request(lab: Lab) -> None:
    # `drill recover` waits for /readyz, then writes through the same connection pool:
    # a readiness answer left unread there broke that write (ResponseNotReady).
    with lab.connect() as cluster:
        assert cluster.api_server_ready()
        assert cluster.api_server_ready()
        assert cluster.core.list_namespace().items


def test_seed_web_is_spread_over_every_zone(lab: Lab) -> None:
    with lab.connect() as cluster:
        pods = ready_pods(cluster, "shop")
        zone_of = {n.name: n.zone for n in cluster.nodes()}
    assert len(pods) == 6
    assert Counter(zone_of[p.spec.node_name] for p in pods) == {
        "zone-a": 2,
        "zone-b": 2,
        "zone-c": 2,
    }


def test_deleted_pod_is_replaced_scheduled_and_marked_ready(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        before = deploy_web(cluster, namespace, replicas=3)
        victim = before[0].metadata.name
        cluster.core.delete_namespaced_pod(victim, namespace)

        def replaced() -> list[client.V1Pod] | None:
            pods = ready_pods(cluster, namespace)
            names = {p.metadata.name for p in pods}
            return pods if len(pods) == 3 and victim not in names else None

        after = wait_until("a ready replacement for the deleted pod", replaced)
    replacement = next(p for p in after if p.metadata.name not in {b.metadata.name for b in before})
    assert replacement.spec.node_name, "the scheduler bound the replacement to a node"
    assert replacement.status.phase == "Running"


def test_evictions_beyond_the_budget_are_refused_until_replacements_are_ready(
    lab: Lab, namespace: str
) -> None:
    with lab.connect() as cluster:
        pods = deploy_web(cluster, namespace, replicas=6)
        wait_until("the PDB to allow 2 disruptions", lambda: pdb_allows(cluster, namespace, 2))
        # kube-scheduler is running, so replacements arrive quickly; stop it so the
        # budget stays spent while we check the refusal.
        scheduler = lab.component("kube-scheduler")
        scheduler.stop()
        try:
            assert evict(cluster, pods[0]) == 201
            assert evict(cluster, pods[1]) == 201
            wait_until("the PDB to allow 0 disruptions", lambda: pdb_allows(cluster, namespace, 0))
            assert evict(cluster, pods[2]) == 429
        finally:
            scheduler.start()
            scheduler.wait_ready()
        wait_until("6 ready pods again", lambda: len(ready_pods(cluster, namespace)) == 6)
        wait_until(
            "the PDB to allow 2 disruptions again", lambda: pdb_allows(cluster, namespace, 2)
        )
        assert evict(cluster, pods[2]) == 201


def test_cordoned_zone_loses_its_pods_to_the_other_zones(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        deploy_web(cluster, namespace, replicas=6)
        zone_a = [n.name for n in cluster.nodes() if n.zone == "zone-a"]
        try:
            for node in zone_a:
                cluster.core.patch_node(node, {"spec": {"unschedulable": True}})

            def drain_step() -> bool:
                remaining = [
                    p for p in ready_pods(cluster, namespace) if p.spec.node_name in zone_a
                ]
                for pod in remaining:
                    evict(cluster, pod)  # 429 while the budget is spent; retried next round
                return not remaining and len(ready_pods(cluster, namespace)) == 6

            wait_until("zone-a drained and 6 pods ready elsewhere", drain_step)
            zones = {n.name: n.zone for n in cluster.nodes()}
            placed = Counter(zones[p.spec.node_name] for p in ready_pods(cluster, namespace))
            assert set(placed) == {"zone-b", "zone-c"}
            assert placed == {"zone-b": 3, "zone-c": 3}
        finally:
            for node in zone_a:
                cluster.core.patch_node(node, {"spec": {"unschedulable": False}})


def test_runner_identity_can_do_what_drills_need_and_nothing_else(lab: Lab, namespace: str) -> None:
    with lab.connect() as admin:
        pods = deploy_web(admin, namespace, replicas=6)
        wait_until("the PDB to allow 2 disruptions", lambda: pdb_allows(admin, namespace, 2))
    with lab.connect(admin=False) as runner:
        assert runner.core.list_namespaced_pod(namespace).items
        assert runner.nodes()
        node = runner.nodes()[0].name
        runner.core.patch_node(node, {"metadata": {"annotations": {CORDONED_BY: "probe"}}})
        runner.core.patch_node(node, {"metadata": {"annotations": {CORDONED_BY: None}}})
        assert evict(runner, pods[0]) == 201
        runner.core.delete_namespaced_pod(pods[1].metadata.name, namespace)
        lease = client.V1Lease(metadata=client.V1ObjectMeta(name=f"probe-{namespace}"))
        coordination = client.CoordinationV1Api(runner.api_client)
        coordination.create_namespaced_lease("drillkit", lease)
        coordination.delete_namespaced_lease(f"probe-{namespace}", "drillkit")

        denied = {
            "read secrets in kube-system": lambda: runner.core.list_namespaced_secret(
                "kube-system"
            ),
            "read secrets in its target namespace": lambda: runner.core.list_namespaced_secret(
                namespace
            ),
            "delete a deployment": lambda: runner.apps.delete_namespaced_deployment(
                "web", namespace
            ),
            "create a lease outside drillkit": lambda: coordination.create_namespaced_lease(
                namespace, lease
            ),
            "delete a node": lambda: runner.core.delete_node(node),
        }
        for action, call in denied.items():
            with pytest.raises(ApiException) as refused:
                call()
            assert refused.value.status == 403, action


def test_pods_on_nodes_are_those_a_cluster_wide_list_places_on_them(
    lab: Lab, namespace: str
) -> None:
    with lab.connect() as cluster:
        deploy_web(cluster, namespace, replicas=6)
        zone_a = sorted(n.name for n in cluster.nodes() if n.zone == "zone-a")
        everywhere = cluster.pods("*")

        found = cluster.pods_on_nodes([*zone_a, "no-such-node"])

    assert len({p.uid for p in found}) == len(found)
    assert {p.uid for p in found} == {p.uid for p in everywhere if p.node in zone_a}
    assert [p.node for p in found] == sorted(p.node for p in found if p.node)
    assert any(p.namespace == namespace for p in found)


def test_cordoning_many_nodes_names_the_node_that_failed(lab: Lab) -> None:
    with lab.connect() as cluster, pytest.raises(NotFound, match="cordoning node no-such-node-"):
        cluster.set_unschedulable_nodes([f"no-such-node-{i}" for i in range(5)], True)

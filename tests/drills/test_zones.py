"""``drill run zone-failure`` and ``zone-outage`` against labs of their own."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import urllib3
from kubernetes import client, watch

from drillkit.drivers.kubernetes import Cluster
from drillkit.lab.cluster import Lab
from tests.drills.support import SHIPPED_DRILLS, BackgroundDrill, DrillResult, run_drill
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


class ReadyPodLog:
    """An independent record of how many web pods were ready, from a pod watch."""

    def __init__(self, lab: Lab, namespace: str, selector: str) -> None:
        self.cluster = lab.connect()
        self.namespace = namespace
        self.selector = selector
        self.ready: set[str] = set()
        self.lowest: int | None = None
        self.events = 0
        self._watch = watch.Watch()
        self._stopping = False
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> ReadyPodLog:
        self._thread.start()
        assert self._started.wait(60)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping = True
        self._watch.stop()
        self._thread.join(10)
        self.cluster.close()

    def _follow(self) -> None:
        core = self.cluster.core
        listing = core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        for pod in listing.items:
            self._update(pod, deleted=False)
        self.lowest = len(self.ready)
        self._started.set()
        try:
            for event in self._watch.stream(
                core.list_namespaced_pod,
                self.namespace,
                label_selector=self.selector,
                resource_version=listing.metadata.resource_version,
            ):
                self._update(event["object"], deleted=event["type"] == "DELETED")
                self.events += 1
                self.lowest = min(self.lowest, len(self.ready))
        except urllib3.exceptions.ProtocolError:
            # Stopping shuts the socket down under the stream; anything else is a failure.
            if not self._stopping:
                raise

    def _update(self, pod: client.V1Pod, *, deleted: bool) -> None:
        ready = (
            not deleted
            and pod.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        )
        if ready:
            self.ready.add(pod.metadata.name)
        else:
            self.ready.discard(pod.metadata.name)


def place_bystander(cluster: Cluster, node: str) -> str:
    """A pod of a namespace drills do not target, on ``node``: what shares a real zone."""
    cluster.core.create_namespace({"metadata": {"name": "bystander"}})
    cluster.core.create_namespaced_pod(
        "bystander",
        {
            "metadata": {"name": "dns"},
            "spec": {"nodeName": node, "containers": [{"name": "dns", "image": "dns"}]},
        },
    )
    return node


def zone_of_nodes(lab: Lab) -> dict[str, str]:
    with lab.connect() as cluster:
        return {n.name: n.zone or "" for n in cluster.nodes()}


def test_zone_failure_keeps_the_budget_retries_refusals_and_uncordons(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    # While the budget allows no disruption, every eviction is refused; the drill's
    # progress says so. Then the budget allows exactly one: with the scheduler stopped
    # no replacement becomes ready, so the second zone-a pod stays held until the
    # scheduler is back. The drain must keep retrying rather than fail.
    def require_available(count: int) -> None:
        with scratch_lab.connect() as cluster:
            client.PolicyV1Api(cluster.api_client).patch_namespaced_pod_disruption_budget(
                "web", "shop", {"spec": {"minAvailable": count}}
            )

    def disruptions_allowed() -> int:
        with scratch_lab.connect() as cluster:
            policy = client.PolicyV1Api(cluster.api_client)
            budget = policy.read_namespaced_pod_disruption_budget("web", "shop")
        return int(budget.status.disruptions_allowed)

    require_available(6)
    wait_until("the budget to allow no disruption", lambda: disruptions_allowed() == 0)
    scheduler = scratch_lab.component("kube-scheduler")
    zone_a = {name for name, zone in zone_of_nodes(scratch_lab).items() if zone == "zone-a"}
    with scratch_lab.connect() as cluster:
        in_zone_a = {p.name for p in cluster.pods("shop") if p.node in zone_a}
        bystander_node = place_bystander(cluster, sorted(zone_a)[0])
    assert len(in_zone_a) == 2
    with ReadyPodLog(scratch_lab, "shop", "app=web") as log:
        scheduler.stop()
        run = BackgroundDrill(
            scratch_lab,
            SHIPPED_DRILLS / "zone-failure.yaml",
            tmp_path / "reports",
            tmp_path / "log",
        )
        try:
            run.wait_for("refused by its PodDisruptionBudget; retrying")
            # The drill takes the one disruption this allows as soon as it is there.
            require_available(5)
            with scratch_lab.connect() as cluster:

                def one_evicted_one_held() -> bool:
                    left = {p.name for p in cluster.pods("shop") if not p.terminating}
                    return len(in_zone_a & left) == 1

                wait_until("one zone-a pod evicted while the other is held", one_evicted_one_held)
        except BaseException:
            run.kill()
            raise
        finally:
            scheduler.start()
            scheduler.wait_ready()
        stdout = run.finish()
        wait_until("6 ready web pods in the independent log", lambda: len(log.ready) == 6)
    result = DrillResult(run.process.returncode, stdout, run.log.read_text())
    assert result.returncode == 0, result.stderr
    assert log.events > 0
    assert log.lowest is not None and log.lowest >= 5, "web fell below its PodDisruptionBudget"

    output = result.journal()["run"][0]["output"]
    assert output["evicted"] == 2
    assert output["refused_evictions_retried"] >= 1
    summary = result.summary
    assert summary["verdict"] == "met"
    assert summary["measurements"]["rto"]["seconds"] is not None
    assert summary["measurements"]["time_to_full_capacity"]["seconds"] is not None
    zones = zone_of_nodes(scratch_lab)
    with scratch_lab.connect() as cluster:
        assert not [n.name for n in cluster.nodes() if n.unschedulable], "a node stayed cordoned"
        placed = {zones[p.node] for p in cluster.pods("shop") if p.ready and p.node}
        # The runner may not evict outside shop, and the drain does not try.
        assert [p.node for p in cluster.pods("bystander")] == [bystander_node]
    assert "zone-a" not in placed
    assert "bystander/dns (outside the drained namespaces)" in output["skipped"]


def test_zone_outage_is_detected_by_node_lifecycle_and_heartbeats_return_in_rollback(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    result = run_drill(scratch_lab, SHIPPED_DRILLS / "zone-outage.yaml", tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    summary = result.summary
    assert summary["verdict"] == "met"
    rto = summary["measurements"]["rto"]
    # Pods leave an unreachable node only after their 10 s toleration, which starts
    # when the node-lifecycle controller notices the missing heartbeats: recovery
    # cannot be faster than that, whatever the machine's speed.
    assert rto["seconds"] >= 10
    zones = zone_of_nodes(scratch_lab)
    with scratch_lab.connect() as cluster:

        def zone_a_healthy() -> bool:
            nodes = [n for n in cluster.nodes() if n.zone == "zone-a"]
            return all(n.ready and not any("unreachable" in t for t in n.taints) for n in nodes)

        wait_until("zone-a nodes Ready again, without unreachable taints", zone_a_healthy)
        placed = {zones[p.node] for p in cluster.pods("shop") if p.ready and p.node}
    assert "zone-a" not in placed, "web's pods were rescheduled out of the dark zone"
    timeline = (result.report_dir / "timeline.jsonl").read_text()
    assert '"kind": "rollback_completed"' in timeline

"""Faults name what they disrupted under ``drillkit_affected``, against the shared lab."""

from __future__ import annotations

import pytest

from drillkit.faults.kubernetes import kill_pods
from drillkit.faults.steps import AFFECTED_KEY
from drillkit.lab.cluster import Lab
from tests.helpers import seed_web_manifests, wait_until

pytestmark = pytest.mark.lab


def test_kill_pods_names_every_pod_the_api_server_deleted(
    lab: Lab, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lab.connect() as cluster:
        cluster.apply(seed_web_manifests(namespace, replicas=3))

        def three_ready() -> bool:
            pods = cluster.pods(namespace, label_selector="app=web")
            return len([p for p in pods if p.ready and not p.terminating]) == 3

        wait_until("three web pods ready", three_ready)
        before = {p.name for p in cluster.pods(namespace, label_selector="app=web")}
    # As chaos run calls it: the lab's kubeconfig, its least-privilege runner identity.
    monkeypatch.setenv("KUBECONFIG", str(lab.kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)

    output = kill_pods("app=web", namespace, count=2, mode="oldest")

    hit = output[AFFECTED_KEY]
    assert isinstance(hit, list) and len(hit) == 2
    assert {(h["kind"], h["namespace"], h["action"]) for h in hit} == {
        ("Pod", namespace, "deleted")
    }
    names = {h["name"] for h in hit}
    assert names <= before
    assert sorted(f"{namespace}/{name}" for name in names) == sorted(output["killed"])  # type: ignore[arg-type]

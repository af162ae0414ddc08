"""A run's own connections: one to the measured cluster, opened before and closed after.

The run's activities (faults and probes, called by chaoslib) connect as Chaos
Toolkit activities do; everything else a run does — the pre-flight, the scope,
the lock, watches, capacity, markers, the revert — goes through the one connection
``run_drill`` opens.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
import yaml

from drillkit.drivers.kubernetes import Cluster
from drillkit.lab.cluster import Lab
from drillkit.model.loading import load_drill
from drillkit.running.runner import RunOptions, run_drill
from tests.drills.test_pod_kill import bind_marker_role, deploy_web, pod_kill_in

pytestmark = pytest.mark.lab


def test_a_run_uses_one_connection_to_the_measured_cluster_and_closes_it(
    lab: Lab, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_web(lab, namespace)
    bind_marker_role(lab, namespace)
    path = pod_kill_in(namespace, tmp_path)
    document = yaml.safe_load(path.read_text())
    document["markers"] = {
        "interval": "500ms",
        "store": {"type": "configmap", "namespace": namespace, "name": "drill-markers"},
    }
    path.write_text(yaml.safe_dump(document))
    for variable in ("DRILLKIT_LAB", "KUBERNETES_CONTEXT", "DRILLKIT_RUN_ID", "KUBECONFIG"):
        monkeypatch.delenv(variable, raising=False)

    opened: list[Cluster] = []
    closed: list[Cluster] = []
    connect, close = Cluster.connect.__func__, Cluster.close  # type: ignore[attr-defined]

    def counting_connect(cls: type[Cluster], *args: object, **kwargs: object) -> Cluster:
        cluster = connect(cls, *args, **kwargs)
        # Activities (chaoslib calls them) connect on their own, as any activity does.
        if not any("chaoslib" in frame.filename for frame in traceback.extract_stack()):
            opened.append(cluster)
        return cluster

    def counting_close(self: Cluster) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(Cluster, "connect", classmethod(counting_connect))
    monkeypatch.setattr(Cluster, "close", counting_close)

    record = run_drill(load_drill(path), RunOptions(kubeconfig=lab.kubeconfig))

    assert record.outcome.verdict.value == "met", record.error
    assert record.scope.cluster_server is not None
    assert len(opened) == 1, f"the run opened {len(opened)} connections of its own"
    assert all(cluster in closed for cluster in opened), "a connection was left open"

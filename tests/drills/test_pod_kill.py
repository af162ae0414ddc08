"""``drill run pod-kill`` against the shared lab, in a namespace of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drillkit.lab.cluster import Lab
from tests.drills.support import run_drill, shipped, write_variant
from tests.helpers import seed_web_manifests, wait_until

pytestmark = pytest.mark.lab


def pod_kill_in(namespace: str, directory: Path, *, rto: str = "30s") -> Path:
    drill, experiment = shipped("pod-kill")
    drill["target"] = {
        "namespaces": [namespace],
        "workloads": [{"kind": "Deployment", "namespace": namespace, "name": "web"}],
    }
    drill["objectives"]["rto"] = rto
    for probe in experiment["steady-state-hypothesis"]["probes"]:
        probe["provider"]["arguments"]["namespace"] = namespace
    experiment["method"][0]["provider"]["arguments"]["namespace"] = namespace
    return write_variant(
        directory, f"pod-kill-{rto.replace('.', '-')}", drill=drill, experiment=experiment
    )


def deploy_web(lab: Lab, namespace: str) -> set[str]:
    with lab.connect() as cluster:
        cluster.apply(seed_web_manifests(namespace))
        pods = wait_until(
            "6 ready web pods",
            lambda: (
                [p for p in cluster.pods(namespace) if p.ready and not p.terminating]
                if len([p for p in cluster.pods(namespace) if p.ready and not p.terminating]) == 6
                else None
            ),
        )
    return {p.name for p in pods}


def bind_marker_role(lab: Lab, namespace: str) -> None:
    with lab.connect() as cluster:
        # The marker role, bound in this namespace as deploy/rbac.yaml tells users to.
        cluster.apply(
            [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": "drillkit-markers", "namespace": namespace},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "drillkit-markers",
                    },
                    "subjects": [
                        {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "User",
                            "name": "drillkit-runner",
                        }
                    ],
                }
            ]
        )


def test_pod_kill_kills_exactly_the_requested_pods_and_meets_its_objective(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    before = deploy_web(lab, namespace)
    result = run_drill(lab, pod_kill_in(namespace, tmp_path), tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    summary = result.summary
    assert summary["verdict"] == "met"
    killed = result.journal()["run"][0]["output"]["killed"]
    assert len(killed) == 2
    assert {name.split("/")[1] for name in killed} <= before
    assert all(name.startswith(f"{namespace}/") for name in killed)
    rto = summary["measurements"]["rto"]
    # Recorded from the deployment watch: the resolution is the event receipt.
    assert rto["resolution_seconds"] == 0
    assert rto["bound"] == "exact"
    assert rto["seconds"] > 0, "two pods were down for a moment"
    report = result.report()
    assert report["recovery"]["disruption_observed"] is True
    # The lab kubeconfig's current context is the least-privilege identity.
    assert report["scope"]["context"] == f"{lab.shape.name}-runner"
    with lab.connect() as cluster:
        remaining = {p.name for p in cluster.pods(namespace) if not p.terminating}
    assert not remaining & {name.split("/")[1] for name in killed}


def test_pod_kill_with_an_objective_no_recovery_can_meet_is_missed(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    deploy_web(lab, namespace)
    # Nothing is replaced in a millisecond: the controller, scheduler and kwok must act.
    result = run_drill(lab, pod_kill_in(namespace, tmp_path, rto="1ms"), tmp_path / "reports")

    assert result.returncode == 1, result.stderr
    assert result.summary["verdict"] == "missed"
    assert any("RTO" in finding for finding in result.summary["findings"])


def test_rpo_markers_written_through_the_fault_all_survive(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    deploy_web(lab, namespace)
    bind_marker_role(lab, namespace)
    path = pod_kill_in(namespace, tmp_path)
    drill = yaml.safe_load(path.read_text())
    drill["objectives"]["rpo"] = "0s"
    drill["markers"] = {
        "interval": "500ms",
        "store": {"type": "configmap", "namespace": namespace, "name": "drill-markers"},
    }
    path.write_text(yaml.safe_dump(drill))

    result = run_drill(lab, path, tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    rpo = result.summary["measurements"]["rpo"]
    assert rpo["seconds"] == 0
    assert rpo["bound"] == "exact"
    assert rpo["resolution_seconds"] == 0.5
    assert rpo["markers_lost"] == 0
    assert rpo["markers_written_before_inject"] >= 1
    with lab.connect() as cluster:
        marker = cluster.core.read_namespaced_config_map("drill-markers", namespace)
    assert int(marker.data["sequence"]) == rpo["newest_surviving_sequence"]

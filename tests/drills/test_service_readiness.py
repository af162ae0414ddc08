"""Readiness end to end on the shared lab: a shipped drill proves the shipped service's pod
promise, misses a promise too tight to keep (a finding opens, the pod share is lost), then
meets the promise made keepable (the finding closes, the score rises). The drill leaves its
disruption to its fault, and the ledger alone gives the score the service file gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.lab.cluster import Lab
from tests.drills.support import (
    REPOSITORY,
    drill_environment,
    run_cli,
    run_drill,
    shipped,
    write_variant,
)
from tests.drills.test_pod_kill import deploy_web

pytestmark = pytest.mark.lab


def write_shop_service(services: Path, namespace: str, *, pod_rto: str) -> None:
    """services/shop.yaml as shipped, its workload moved into the test's namespace and its
    pod RTO set to ``pod_rto``."""
    service = yaml.safe_load((REPOSITORY / "services" / "shop.yaml").read_text())
    service["workloads"] = [{"kind": "Deployment", "namespace": namespace, "name": "web"}]
    service["objectives"]["pod"]["rto"] = pod_rto
    services.mkdir(parents=True, exist_ok=True)
    (services / "shop.yaml").write_text(yaml.safe_dump(service, sort_keys=False))


def pod_kill_proving_shop(namespace: str, drills: Path) -> Path:
    """The shipped pod-kill in ``namespace``, with no RTO of its own (the service's applies)
    and proving shop without naming the disruption: its kill_pods fault makes it pod."""
    drill, experiment = shipped("pod-kill")
    drill["target"] = {
        "namespaces": [namespace],
        "workloads": [{"kind": "Deployment", "namespace": namespace, "name": "web"}],
    }
    del drill["objectives"]["rto"]
    drill["proves"] = {"service": "../services/shop.yaml"}
    for probe in experiment["steady-state-hypothesis"]["probes"]:
        probe["provider"]["arguments"]["namespace"] = namespace
    experiment["method"][0]["provider"]["arguments"]["namespace"] = namespace
    return write_variant(drills, "pod-kill-shop", drill=drill, experiment=experiment)


def readiness_of_shop(lab: Lab, tmp_path: Path, *options: str) -> dict[str, Any]:
    """``drill readiness shop -o json``, as a user of the lab runs it, without the moment
    it was assessed (each call reads the clock)."""
    result = run_cli(
        drill_environment(lab),
        *("readiness", "shop", "-o", "json", "--reports-dir", str(tmp_path / "reports")),
        *options,
    )
    assert result.returncode == 0, result.stderr
    (shop,) = json.loads(result.stdout)
    del shop["assessed_utc"]
    return dict(shop)


def pod_promise(shop: dict[str, Any]) -> dict[str, Any]:
    (pod,) = [p for p in shop["promises"] if p["disruption"] == "pod"]
    return dict(pod)


def test_a_missed_promise_opens_a_finding_and_a_met_one_closes_it_and_raises_the_score(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    services = tmp_path / "services"
    from_files = ("--services-dir", str(services))
    drill = pod_kill_proving_shop(namespace, tmp_path / "drills")
    deploy_web(lab, namespace)
    # Nothing is replaced in a millisecond: the controller, scheduler and kwok must act.
    write_shop_service(services, namespace, pod_rto="1ms")

    missed = run_drill(lab, drill, tmp_path / "reports")

    assert missed.returncode == 1, missed.stderr
    assert missed.summary["verdict"] == "missed"
    assert missed.report()["promise"]["disruption"] == "pod"
    failing = readiness_of_shop(lab, tmp_path, *from_files)
    pod = pod_promise(failing)
    assert pod["state"] == "failing"
    assert pod["points"] == 0
    (finding,) = pod["open_findings"]
    assert any(
        line.startswith(f"-25 pod: finding {finding} open since") for line in failing["deductions"]
    ), failing["deductions"]
    assert readiness_of_shop(lab, tmp_path, "--from-ledger") == failing

    deploy_web(lab, namespace)
    write_shop_service(services, namespace, pod_rto="30s")
    met = run_drill(lab, drill, tmp_path / "reports")

    assert met.returncode == 0, met.stderr
    assert met.summary["verdict"] == "met"
    ready = readiness_of_shop(lab, tmp_path, *from_files)
    pod = pod_promise(ready)
    assert pod["state"] == "proven"
    assert pod["points"] == 25
    assert pod["open_findings"] == []
    assert not any(line.startswith("-25 pod:") for line in ready["deductions"])
    assert ready["score"] == failing["score"] + 25
    findings = run_cli(
        drill_environment(lab),
        *("finding", "show", finding, "-o", "json", "--reports-dir", str(tmp_path / "reports")),
    )
    assert json.loads(findings.stdout)["state"] == "closed", findings.stderr
    assert readiness_of_shop(lab, tmp_path, "--from-ledger") == ready

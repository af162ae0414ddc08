"""The scheduler in the cluster: deploy/scheduler's two replicas, in drillkit's image, on a
lab's real node, sharing a real PostgreSQL job store.

The Deployment is applied as a user would, with ``kubectl apply -k`` of an overlay naming
the base: the lab's API server address in the kubeconfig, the node's network (the API
server and PostgreSQL listen on loopback), the real node's selector and toleration, the
drill files and the database URL. Only the leader fires; when its process is killed, and
its pod then removed, the other replica takes the Lease over and fires the next fire, once.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.drivers.cluster_state import read_lease
from drillkit.lab import node
from drillkit.lab.cluster import Lab
from drillkit.scheduling.database import Database
from drillkit.scheduling.history import FireOutcome, FireRecord, list_fires
from drillkit.scheduling.leadership import DEFAULT_LEASE_NAME, DEFAULT_LEASE_NAMESPACE
from drillkit.scheduling.schedules import ScheduleSettings, TargetKind, add_schedule
from tests.conftest import running_lab
from tests.drills.support import REPOSITORY, drill_environment, run_cli
from tests.helpers import wait_until
from tests.lab.support import host_volume, kubectl, kubectl_json, pod_processes

pytestmark = pytest.mark.lab

SCHEDULED_FILES = {
    "drills__pod-kill.yaml": "drills/pod-kill.yaml",
    "experiments__pod-kill.yaml": "experiments/pod-kill.yaml",
    "services__shop.yaml": "services/shop.yaml",
}


@pytest.fixture(scope="module")
def real_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    with running_lab(
        f"sched-{uuid.uuid4().hex[:6]}", zones=1, nodes_per_zone=2, real_nodes=1
    ) as lab:
        yield lab


def write_overlay(directory: Path, lab: Lab, database_url: str) -> Path:
    """A kustomization naming deploy/scheduler, as a user of the lab writes it."""
    shutil.copytree(REPOSITORY / "deploy", directory / "deploy")
    overlay = directory / "lab"
    overlay.mkdir()
    for key, source in SCHEDULED_FILES.items():
        shutil.copyfile(REPOSITORY / source, overlay / key)
    kubeconfig = yaml.safe_load((REPOSITORY / "deploy/scheduler/kubeconfig.yaml").read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = lab.api_server_url
    (overlay / "kubeconfig.yaml").write_text(yaml.safe_dump(kubeconfig))
    container = "/spec/template/spec/containers/0"
    patch: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True},
        {"op": "add", "path": "/spec/template/spec/dnsPolicy", "value": "Default"},
        {
            "op": "add",
            "path": "/spec/template/spec/nodeSelector",
            "value": {node.REAL_NODE_LABEL: "true"},
        },
        {
            "op": "add",
            "path": "/spec/template/spec/tolerations",
            "value": [{**node.REAL_NODE_TAINT, "operator": "Equal"}],
        },
        # Two replicas on one node's network cannot share the health port: any free port,
        # and no liveness probe on 9477.
        {"op": "add", "path": f"{container}/args/-", "value": "--port"},
        {"op": "add", "path": f"{container}/args/-", "value": "0"},
        {"op": "remove", "path": f"{container}/livenessProbe"},
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../deploy/scheduler"],
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "drillkit-scheduler"},
                "patch": yaml.safe_dump(patch),
            }
        ],
        "configMapGenerator": [
            {
                "name": "drillkit-scheduler-kubeconfig",
                "behavior": "replace",
                "files": ["kubeconfig.yaml"],
            },
            {
                "name": "drillkit-scheduler-files",
                "behavior": "merge",
                "files": list(SCHEDULED_FILES),
            },
        ],
        "secretGenerator": [
            {
                "name": "drillkit-scheduler-database",
                "namespace": "drillkit",
                "literals": [f"url={database_url}"],
            }
        ],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return overlay


def scheduler_pods(lab: Lab) -> dict[str, str]:
    """name -> phase of the scheduler's pods that are not being deleted."""
    listed = kubectl_json(
        lab, "get", "pods", "-n", "drillkit", "-l", "app.kubernetes.io/name=drillkit-scheduler"
    )
    return {
        p["metadata"]["name"]: p["status"].get("phase", "")
        for p in listed["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def scheduler_process(real_lab: Lab, pod: str) -> int:
    """The pid of ``drill scheduler run`` in ``pod`` (its environment names the pod)."""
    for pid, command in pod_processes(real_lab).items():
        if "scheduler run" not in command:
            continue
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if f"POD_NAME={pod}".encode() in environment:
            return pid
    raise AssertionError(f"no scheduler process of pod {pod}: {pod_processes(real_lab)}")


def test_the_in_cluster_standby_fires_the_next_fire_once_after_the_leader_is_killed(
    real_lab: Lab, image_archive: Path, postgres_database: str, tmp_path: Path
) -> None:
    loaded = run_cli(
        drill_environment(real_lab),
        *("lab", "load-image", str(image_archive), "--name", real_lab.shape.name),
    )
    assert loaded.returncode == 0, loaded.stderr
    with Database(postgres_database) as database:
        add_schedule(
            database,
            ScheduleSettings(
                name="pod-kill", kind=TargetKind.DRILL, target="pod-kill", cron="* * * * *"
            ),
            now=datetime.now(UTC),
        )
    reports = tmp_path / "reports"
    reports.mkdir()
    os.chown(reports, 65532, 65532)
    volume = host_volume(
        reports, f"reports-{real_lab.shape.name}", "drillkit-scheduler-reports", "drillkit"
    )
    bound = kubectl(real_lab, "apply", "-f", "-", given=yaml.safe_dump_all(volume[:1]))
    assert bound.returncode == 0, bound.stderr
    overlay = write_overlay(tmp_path, real_lab, postgres_database)

    applied = kubectl(real_lab, "apply", "-k", str(overlay))

    assert applied.returncode == 0, applied.stderr
    wait_until(
        "both scheduler replicas to run",
        lambda: len([p for p in scheduler_pods(real_lab).values() if p == "Running"]) == 2,
        timeout=180,
    )
    with Database(postgres_database) as database, real_lab.connect() as cluster:

        def finished(fire_time: datetime | None = None) -> list[FireRecord]:
            return [
                r
                for r in list_fires(database, schedule="pod-kill", limit=1000)
                if r.outcome is not FireOutcome.RUNNING
                and (fire_time is None or r.fire_time == fire_time)
            ]

        # Mid-schedule: the leader has fired once, and nothing runs now.
        (first,) = wait_until("the leader's first fire", finished, timeout=300)
        assert first.outcome is FireOutcome.RAN, first.describe()
        leader = first.scheduler
        lease = read_lease(cluster, DEFAULT_LEASE_NAMESPACE, DEFAULT_LEASE_NAME)
        assert lease is not None and (lease.holder or "").startswith(f"{leader}/")
        (standby,) = set(scheduler_pods(real_lab)) - {leader}

        # The leader's process dies as in a crash; then its pod goes, so that the standby,
        # not a restart of the same pod, is what takes over.
        os.kill(scheduler_process(real_lab, leader), signal.SIGKILL)
        annotated = kubectl(
            real_lab, "annotate", "pod", "-n", "drillkit", leader,
            "controller.kubernetes.io/pod-deletion-cost=-1000",
        )  # fmt: skip
        assert annotated.returncode == 0, annotated.stderr
        scaled = kubectl(
            real_lab, "scale", "deployment", "-n", "drillkit", "drillkit-scheduler", "--replicas=1"
        )
        assert scaled.returncode == 0, scaled.stderr

        def next_fire() -> list[FireRecord] | None:
            later = [r for r in finished() if r.fire_time > first.fire_time]
            return later or None

        (record,) = wait_until("the next fire", next_fire, timeout=300)
        # Only the leader fired the first fire; the standby fired the next, once.
        assert [r.scheduler for r in finished(first.fire_time)] == [leader]
        assert finished(record.fire_time) == [record]
        assert (record.scheduler, record.outcome, record.verdict) == (
            standby,
            FireOutcome.RAN,
            "met",
        ), record.describe()
    # Both runs' reports are on the claim, past the leader's pod.
    assert len(list((reports / "pod-kill").glob("*/report.json"))) == 2

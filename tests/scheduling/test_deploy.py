"""The scheduler's kustomize base (deploy/, deploy/scheduler/) against the shared lab.

- Rendered with the lab's own kubectl (kustomize built in), with an overlay that merges
  drill files into the files ConfigMap as a user would, every object is accepted by the
  API server in a server-side dry run with strict field validation.
- The Deployment runs two replicas of ``drill scheduler run --leader-elect`` whose
  arguments parse with the CLI's own options; image, user and volumes are as documented.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from drillkit.cli.main import cli
from drillkit.lab.cluster import Lab
from drillkit.scheduling.cronjobs import DEFAULT_IMAGE

pytestmark = pytest.mark.lab

REPOSITORY = Path(__file__).resolve().parents[2]


def kubectl(lab_binaries: Path, *arguments: str) -> str:
    completed = subprocess.run(
        [str(lab_binaries / "kubectl"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture
def rendered(lab_binaries: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """``deploy/`` under an overlay that adds the pod-kill drill's files."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    for name in ("drills/pod-kill.yaml", "experiments/pod-kill.yaml", "services/shop.yaml"):
        shutil.copyfile(REPOSITORY / name, overlay / name.replace("/", "__"))
    overlay.joinpath("kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only.
                "resources": [os.path.relpath(REPOSITORY / "deploy", overlay)],
                "configMapGenerator": [
                    {
                        "name": "drillkit-scheduler-files",
                        "namespace": "drillkit",
                        "behavior": "merge",
                        "files": [
                            "drills__pod-kill.yaml",
                            "experiments__pod-kill.yaml",
                            "services__shop.yaml",
                        ],
                    }
                ],
            }
        )
    )
    text = kubectl(lab_binaries, "kustomize", str(overlay))
    return [document for document in yaml.safe_load_all(text) if document]


def test_every_object_of_the_scheduler_base_is_accepted_by_the_api_server(
    lab: Lab, lab_binaries: Path, rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    kinds = {(m["kind"], m["metadata"]["name"].rsplit("-", 1)[0]) for m in rendered}
    assert {
        ("ServiceAccount", "drillkit"),
        ("Role", "drillkit-runner"),
        ("Deployment", "drillkit"),
        ("PersistentVolumeClaim", "drillkit-scheduler"),
        ("ConfigMap", "drillkit-scheduler-files"),
        ("ConfigMap", "drillkit-scheduler-kubeconfig"),
    } <= kinds
    manifests = tmp_path / "rendered.yaml"
    manifests.write_text(yaml.safe_dump_all(rendered))

    output = kubectl(
        lab_binaries,
        "--kubeconfig",
        str(lab.kubeconfig),
        "--context",
        lab.admin_context,
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "--filename",
        str(manifests),
    )

    assert output.count("(server dry run)") == len(rendered), output
    assert "deployment.apps/drillkit-scheduler created (server dry run)" in output


def test_the_deployment_runs_two_replicas_electing_a_leader_with_arguments_that_parse(
    rendered: list[dict[str, Any]],
) -> None:
    (deployment,) = [m for m in rendered if m["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == "drillkit"
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "drillkit-runner"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == DEFAULT_IMAGE
    assert [c["image"] for c in pod["initContainers"]] == [DEFAULT_IMAGE]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    environment = {e["name"]: e for e in container["env"]}
    assert environment["DRILL_SCHEDULER_DATABASE"]["valueFrom"]["secretKeyRef"] == {
        "name": "drillkit-scheduler-database",
        "key": "url",
    }
    # Reports go to the claim, never to an emptyDir.
    volumes = {v["name"]: v for v in pod["volumes"]}
    (reports,) = [m for m in container["volumeMounts"] if m["name"] == "reports"]
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == (
        "drillkit-scheduler-reports"
    )
    assert reports["mountPath"] == "/var/lib/drillkit/reports"
    # Writes go under /var/lib/drillkit only: the root filesystem is read-only.
    assert all(
        m["mountPath"].startswith(("/var/lib/drillkit", "/etc/drillkit"))
        for m in container["volumeMounts"]
    )

    assert container["command"] == ["drill"]
    group, name, *arguments = container["args"]
    scheduler = cli.commands[group]
    assert isinstance(scheduler, click.Group)
    run = scheduler.commands[name]
    # What the kubelet substitutes from the downward API.
    given = [
        a.replace("$(POD_NAME)", "drillkit-scheduler-0").replace("$(POD_NAMESPACE)", "drillkit")
        for a in arguments
    ]
    context = run.make_context(f"drill {group} {name}", given)
    assert context.params["leader_elect"] is True
    assert context.params["lease_namespace"] == "drillkit"
    assert context.params["scheduler_id"] == "drillkit-scheduler-0"
    assert context.params["reports_dir"] == Path("/var/lib/drillkit/reports")
    assert context.params["context"] == "in-cluster"
    kubeconfig = Path(context.params["kubeconfig"])
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kubeconfig"]
    assert kubeconfig.parent == Path(mount["mountPath"])
    (generated,) = [
        m
        for m in rendered
        if m["kind"] == "ConfigMap"
        and m["metadata"]["name"] == volumes["kubeconfig"]["configMap"]["name"]
    ]
    config = yaml.safe_load(generated["data"][kubeconfig.name])
    assert config["current-context"] == "in-cluster"
    assert config["clusters"][0]["cluster"]["server"]

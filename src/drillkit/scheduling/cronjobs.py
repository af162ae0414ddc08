"""Schedules as Kubernetes CronJobs, so the cluster itself is the scheduler.

``render_cronjobs`` turns schedules into manifests (pure, given the files' contents):

- the RBAC drills need (``deploy/rbac.yaml``: the ``drillkit`` namespace, the
  ``drillkit-runner`` ServiceAccount, its ClusterRole, Role and bindings), the admission
  policy that keeps its node patches to cordons (``deploy/node-guardrails.yaml``), and,
  in each namespace the exported drills target, the RoleBindings that let it disrupt
  pods there (``drillkit-runner``) and write RPO markers (``drillkit-markers``), and
  nowhere else;
- a ConfigMap holding an in-cluster kubeconfig: the API server at ``PodPlacement.api_server``
  (``kubernetes.default.svc`` unless told otherwise) and the pod's ServiceAccount token
  and CA. An API server on a loopback address (a lab's) is reached from the node's own
  network: such pods run with ``hostNetwork``, as they must where no Service proxy runs;
- per schedule, a ConfigMap with the drill (or game day and its drills), their
  experiments and the scheduling policy file, laid out as in the repository, and a
  CronJob running ``drill schedule fire`` with the same cron expression and time zone,
  ``concurrencyPolicy: Forbid`` (the cluster Lease still guards against other runners),
  ``startingDeadlineSeconds`` as the misfire grace and ``suspend`` for a paused schedule.

The fire inside the pod checks the same blackouts and error-budget gates. Three settings
of a schedule have no CronJob equivalent, and ``describe_dropped`` names those a schedule
uses: jitter (a CronJob starts on its cron minute), ``coalesce: false`` (a CronJob starts
only the latest of the fires it missed) and a production drill's confirmation (it is kept
in the scheduler's database, which the pod does not have, so its fires are refused).

Reports and the ledger live in the pod's state directory: on a PersistentVolumeClaim when
one is named, else in an ``emptyDir`` that goes with the pod (the run's JSON summary stays
in the Job's log), which ``describe_storage`` warns of.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from drillkit import __version__
from drillkit.errors import InvalidInput
from drillkit.lab.access import role_binding
from drillkit.lab.cluster import load_manifests
from drillkit.lab.resources import deploy_dir
from drillkit.model.durations import format_duration
from drillkit.scheduling.files import find_named_file
from drillkit.scheduling.schedules import ProductionConfirmation, Schedule, TargetKind

NAMESPACE = "drillkit"
SERVICE_ACCOUNT = "drillkit-runner"
KUBECONFIG_CONFIGMAP = "drillkit-in-cluster-kubeconfig"
FILES_ROOT = "/etc/drillkit/files"
STATE_DIR = "/var/lib/drillkit"
KUBECONFIG_PATH = "/etc/drillkit/kubeconfig/kubeconfig.yaml"
IN_CLUSTER_CONTEXT = "in-cluster"
# What scripts/image tags its archive with (README, "The image").
DEFAULT_IMAGE = f"localhost/drillkit:{__version__}"
_LABELS = {"app.kubernetes.io/part-of": "drillkit", "app.kubernetes.io/managed-by": "drillkit"}


@dataclass(frozen=True, kw_only=True)
class ShippedFile:
    """A file the CronJob's pod needs, at its path relative to the files root."""

    path: str
    content: str


@dataclass(frozen=True, kw_only=True)
class CronJobSpec:
    """One schedule to export, with the files its fire reads."""

    schedule: Schedule
    files: Sequence[ShippedFile]
    policy_file: str | None = None
    """Path of the scheduling policy file among ``files``, if there is one."""
    namespaces: Sequence[str] = ()
    """The namespaces its drills target: the runner may disrupt pods there."""
    marker_namespaces: Sequence[str] = ()
    """The namespaces its drills write RPO markers in."""


@dataclass(frozen=True, kw_only=True)
class PodPlacement:
    """Where the CronJobs' pods run and how they reach the API server."""

    api_server: str = "https://kubernetes.default.svc"
    node_selector: Mapping[str, str] | None = None
    tolerations: Sequence[Mapping[str, str]] = ()

    @property
    def host_network(self) -> bool:
        """Whether the API server is on a loopback address, reachable from the node only."""
        host = urlsplit(self.api_server).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def parse_label(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as a node selector's label; ``InvalidInput`` saying the form."""
    key, equals, value = text.partition("=")
    if not key or not equals:
        raise InvalidInput(f"node selector {text!r}: expected KEY=VALUE (e.g. pool=drills)")
    return key, value


def parse_toleration(text: str) -> dict[str, str]:
    """``KEY[=VALUE]:EFFECT`` as a pod toleration; ``InvalidInput`` saying the form."""
    key_value, _, effect = text.rpartition(":")
    effects = ("NoSchedule", "PreferNoSchedule", "NoExecute")
    if not key_value or effect not in effects:
        raise InvalidInput(
            f"toleration {text!r}: expected KEY[=VALUE]:EFFECT with EFFECT one of "
            f"{', '.join(effects)} (e.g. drillkit.io/real-node=true:NoSchedule)"
        )
    key, equals, value = key_value.partition("=")
    if not equals:
        return {"key": key, "operator": "Exists", "effect": effect}
    return {"key": key, "operator": "Equal", "value": value, "effect": effect}


def describe_storage(reports_claim: str | None) -> str | None:
    """The warning an export without a claim gets: its evidence goes with each pod."""
    if reports_claim:
        return None
    return (
        "reports and the ledger of the CronJobs' runs go to an emptyDir and are lost with "
        "each pod (only the JSON summary stays, in the Job's log); name a "
        "PersistentVolumeClaim with --reports-claim to keep them"
    )


def render_cronjobs(
    specs: Sequence[CronJobSpec],
    *,
    image: str = DEFAULT_IMAGE,
    reports_claim: str | None = None,
    placement: PodPlacement = PodPlacement(),
    rbac: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every manifest, in the order to apply them (namespace, RBAC and guardrails first)."""
    manifests: list[dict[str, Any]] = [dict(m) for m in (rbac if rbac is not None else load_rbac())]
    grants = {
        *(("drillkit-runner", n) for spec in specs for n in spec.namespaces),
        *(("drillkit-markers", n) for spec in specs for n in spec.marker_namespaces),
    }
    manifests += [role_binding(role, namespace) for role, namespace in sorted(grants)]
    manifests.append(_kubeconfig_configmap(placement.api_server))
    for spec in specs:
        manifests.append(_files_configmap(spec))
        manifests.append(
            _cronjob(spec, image=image, reports_claim=reports_claim, placement=placement)
        )
    return manifests


def load_rbac() -> list[dict[str, Any]]:
    """The manifests of ``deploy/rbac.yaml`` and ``deploy/node-guardrails.yaml``."""
    return load_manifests(deploy_dir(), ("rbac.yaml", "node-guardrails.yaml"))


def cronjob_name(schedule: str) -> str:
    return f"drill-{schedule}"[:52]


def gather_files(
    schedule: Schedule,
    *,
    drills_dir: Path,
    gamedays_dir: Path,
    policy_file: Path | None,
    drill_files: Mapping[str, Sequence[Path]],
    namespaces: Sequence[str] = (),
    marker_namespaces: Sequence[str] = (),
) -> CronJobSpec:
    """The files a schedule's fire reads, laid out relative to the files root.

    ``drill_files`` maps each drill the schedule runs to the files it reads beside itself
    (its experiment, the service it proves: ``Drill.read_files``); ``namespaces`` and
    ``marker_namespaces`` are what those drills target and write RPO markers in, for the
    RoleBindings that let the runner act there. Drills go to ``drills/``, game days to
    ``gamedays/``, the policy file to its own name, and each file a drill reads where the
    drill file's relative path points (``../experiments/x.yaml`` from ``drills/`` lands in
    ``experiments/``).
    """
    if schedule.kind is TargetKind.BACKUP:
        raise InvalidInput(
            f"schedule {schedule.name!r} takes backups: run it with `drill scheduler run`; "
            "CronJobs are exported for drills and game days"
        )
    if len(schedule.cron.split()) == 6:
        raise InvalidInput(
            f"schedule {schedule.name!r}: a CronJob's schedule has no second field; "
            f"write {schedule.cron!r} with five fields to export it"
        )
    files: list[ShippedFile] = []
    if schedule.kind is TargetKind.GAMEDAY:
        path = find_named_file(gamedays_dir, schedule.target, what="game day")
        files.append(ShippedFile(path=f"gamedays/{path.name}", content=path.read_text()))
    for drill, read_files in drill_files.items():
        drill_path = find_named_file(drills_dir, drill, what="drill")
        files.append(ShippedFile(path=f"drills/{drill_path.name}", content=drill_path.read_text()))
        for read in read_files:
            relative = os.path.relpath(read.resolve(), drill_path.parent.resolve())
            placed = os.path.normpath(os.path.join("drills", relative))
            if placed.startswith(".."):
                raise InvalidInput(
                    f"{drill_path}: {read} lies outside the directory above {drills_dir}; "
                    "keep experiments and services beside the drills to export them"
                )
            files.append(ShippedFile(path=placed, content=read.read_text()))
    shipped_policy = None
    if policy_file is not None and policy_file.is_file():
        shipped_policy = f"policy/{policy_file.name}"
        files.append(ShippedFile(path=shipped_policy, content=policy_file.read_text()))
    unique = {file.path: file for file in files}
    return CronJobSpec(
        schedule=schedule,
        files=list(unique.values()),
        policy_file=shipped_policy,
        namespaces=tuple(namespaces),
        marker_namespaces=tuple(marker_namespaces),
    )


def describe_dropped(
    schedule: Schedule, *, confirmation: ProductionConfirmation | None
) -> str | None:
    """``schedule pod-kill: its CronJob drops jitter 10m (...)``: the settings of
    ``schedule`` (and its production ``confirmation``) its CronJob cannot carry, in one
    line; None when it carries them all."""
    dropped: list[str] = []
    if schedule.jitter:
        dropped.append(
            f"jitter {format_duration(schedule.jitter)} (a CronJob starts on its cron minute)"
        )
    if not schedule.coalesce:
        dropped.append("coalesce: false (a CronJob starts only the latest of the fires it missed)")
    if confirmation is not None:
        dropped.append(
            f"the production confirmation of context {confirmation.context!r} (the pod has no "
            "scheduler database to read it from: its fires will be refused)"
        )
    if not dropped:
        return None
    return f"schedule {schedule.name}: its CronJob drops {'; '.join(dropped)}"


def _metadata(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {**_LABELS, **labels}}


def _kubeconfig_configmap(api_server: str) -> dict[str, Any]:
    token_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": IN_CLUSTER_CONTEXT,
                "cluster": {
                    "server": api_server,
                    "certificate-authority": f"{token_dir}/ca.crt",
                },
            }
        ],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"tokenFile": f"{token_dir}/token"}}],
        "contexts": [
            {
                "name": IN_CLUSTER_CONTEXT,
                "context": {"cluster": IN_CLUSTER_CONTEXT, "user": SERVICE_ACCOUNT},
            }
        ],
        "current-context": IN_CLUSTER_CONTEXT,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(KUBECONFIG_CONFIGMAP),
        "data": {"kubeconfig.yaml": yaml.safe_dump(kubeconfig, sort_keys=False)},
    }


def _file_key(path: str) -> str:
    # ConfigMap keys allow letters, digits, '-', '_' and '.'; the volume's items put each
    # key back at its path.
    return re.sub(r"[^-._a-zA-Z0-9]", "_", path.replace("/", "__"))


def _files_configmap(spec: CronJobSpec) -> dict[str, Any]:
    name = cronjob_name(spec.schedule.name)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(f"{name}-files", **{"drillkit.io/schedule": spec.schedule.name}),
        "data": {_file_key(file.path): file.content for file in spec.files},
    }


def _cronjob(
    spec: CronJobSpec, *, image: str, reports_claim: str | None, placement: PodPlacement
) -> dict[str, Any]:
    schedule = spec.schedule
    name = cronjob_name(schedule.name)
    labels = {"drillkit.io/schedule": schedule.name}
    command = [
        "drill",
        "schedule",
        "fire",
        schedule.name,
        "--target",
        f"{schedule.kind.value}:{schedule.target}",
        "--scheduler-id",
        f"cronjob/{name}",
        "--drills-dir",
        f"{FILES_ROOT}/drills",
        "--gamedays-dir",
        f"{FILES_ROOT}/gamedays",
        "--reports-dir",
        f"{STATE_DIR}/reports",
        "--context",
        IN_CLUSTER_CONTEXT,
        "--output",
        "json",
    ]
    if spec.policy_file is not None:
        command += ["--policy", f"{FILES_ROOT}/{spec.policy_file}"]
    state_volume: dict[str, Any] = (
        {"name": "state", "persistentVolumeClaim": {"claimName": reports_claim}}
        if reports_claim
        else {"name": "state", "emptyDir": {}}
    )
    placed: dict[str, Any] = {}
    if placement.host_network:
        placed |= {"hostNetwork": True, "dnsPolicy": "Default"}
    if placement.node_selector:
        placed["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        placed["tolerations"] = [dict(t) for t in placement.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(name, **labels),
        "spec": {
            "schedule": schedule.cron,
            "timeZone": schedule.timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": int(schedule.misfire_grace.total_seconds()),
            "suspend": schedule.paused,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": {**_LABELS, **labels}},
                "spec": {
                    # A drill is not retried: a second run is a second drill.
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": {**_LABELS, **labels}},
                        "spec": {
                            "serviceAccountName": SERVICE_ACCOUNT,
                            "restartPolicy": "Never",
                            # Service environment variables would name addresses the pod
                            # must not dial; the kubeconfig names the API server.
                            "enableServiceLinks": False,
                            **placed,
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 65532,
                                "fsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [
                                {
                                    "name": "drill",
                                    "image": image,
                                    "command": command,
                                    "env": [
                                        {"name": "KUBECONFIG", "value": KUBECONFIG_PATH},
                                        {"name": "DRILLKIT_HOME", "value": STATE_DIR},
                                        {"name": "DRILL_OPERATOR", "value": f"cronjob/{name}"},
                                        {"name": "HOME", "value": STATE_DIR},
                                    ],
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]},
                                    },
                                    "volumeMounts": [
                                        {
                                            "name": "files",
                                            "mountPath": FILES_ROOT,
                                            "readOnly": True,
                                        },
                                        {
                                            "name": "kubeconfig",
                                            "mountPath": str(Path(KUBECONFIG_PATH).parent),
                                            "readOnly": True,
                                        },
                                        {"name": "state", "mountPath": STATE_DIR},
                                    ],
                                }
                            ],
                            "volumes": [
                                {
                                    "name": "files",
                                    "configMap": {
                                        "name": f"{name}-files",
                                        "items": [
                                            {"key": _file_key(file.path), "path": file.path}
                                            for file in spec.files
                                        ],
                                    },
                                },
                                {
                                    "name": "kubeconfig",
                                    "configMap": {"name": KUBECONFIG_CONFIGMAP},
                                },
                                state_volume,
                            ],
                        },
                    },
                },
            },
        },
    }


def dump_manifests(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Manifests as one multi-document YAML stream, for ``kubectl apply -f``."""
    header = (
        "# Generated by `drill schedule export --kind cronjob`: each schedule runs as a\n"
        "# CronJob in the cluster (concurrencyPolicy: Forbid) with the RBAC drills need.\n"
    )
    documents = [yaml.safe_dump(dict(m), sort_keys=False) for m in manifests]
    return header + "---\n" + "---\n".join(documents)

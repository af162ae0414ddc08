"""Shared set-up for the lab benchmarks: a private lab, a spread Deployment, waiting, statistics.

Each benchmark in ``bench/`` starts a lab of its own in a temporary ``DRILLKIT_HOME``
(so it never touches a developer's or a test run's labs), deploys what it measures
into fresh namespaces, and always stops and deletes the lab in a ``finally``.
Nothing here waits with a fixed sleep: conditions are polled against a deadline.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.lab.cluster import Lab, LabShape

T = TypeVar("T")

POLL_SECONDS = 0.2
APP_LABEL = "app"

_started = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results."""
    print(f"[{time.monotonic() - _started:7.1f} s] {message}", file=sys.stderr, flush=True)


def wait_until(
    description: str,
    condition: Callable[[], T | bool | None],
    *,
    timeout: float,
    interval: float = POLL_SECONDS,
) -> T:
    """Poll ``condition`` until it returns something truthy; raise at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        last = condition()
        if last:
            return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {description}")
        time.sleep(interval)


@contextmanager
def running_lab(
    name: str, *, zones: int = 3, nodes_per_zone: int = 1, real_nodes: int = 0
) -> Iterator[Lab]:
    """A lab of the benchmark's own, in a temporary DRILLKIT_HOME, torn down at the end."""
    home = tempfile.mkdtemp(prefix="drillkit-bench-")
    previous_home = os.environ.get("DRILLKIT_HOME")
    os.environ["DRILLKIT_HOME"] = home
    lab: Lab | None = None
    try:
        lab = Lab.create(
            LabShape(
                name=name,
                region=name,
                zones=zones,
                nodes_per_zone=nodes_per_zone,
                real_nodes=real_nodes,
            )
        )
        started = time.monotonic()
        lab.up(log)
        log(f"lab {name} up in {time.monotonic() - started:.1f} s")
        yield lab
    finally:
        if lab is not None:
            try:
                lab.down(log)
                lab.purge()
            except Exception as error:  # report, but still restore the environment
                log(f"tearing down lab {name} failed: {error}")
        if previous_home is None:
            os.environ.pop("DRILLKIT_HOME", None)
        else:
            os.environ["DRILLKIT_HOME"] = previous_home
        shutil.rmtree(home, ignore_errors=True)


def use_lab_identity(lab: Lab, *, admin: bool = False) -> None:
    """Point Chaos Toolkit activities (drillkit's, chaosk8s's) at the lab, as ``drill run`` does."""
    os.environ["KUBECONFIG"] = str(lab.kubeconfig)
    os.environ["KUBERNETES_CONTEXT"] = lab.admin_context if admin else lab.runner_context
    # The Kubernetes client reads KUBECONFIG once, when it is imported, and chaosk8s
    # relies on that default; under `chaos run` the variable is set before the process
    # starts. Here the lab exists only after the import, so set the default as it would be.
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(lab.kubeconfig)


def describe_machine(cluster: Cluster) -> str:
    """One line naming where and when the figures were measured."""
    load = os.getloadavg()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {os.cpu_count()} cores; load average {load[0]:.2f}; "
        f"Python {platform.python_version()}; Kubernetes {cluster.server_version()} (lab)"
    )


# -- workloads ------------------------------------------------------------------------------


def spread_deployment(
    namespace: str,
    name: str,
    *,
    replicas: int,
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment spread evenly over the zones, as the lab's seed ``shop/web`` is.

    Requests are tiny so that the 110-pods-per-node limit, not CPU, bounds how
    many fit (the seed asks 500m each, which would allow only 8 per node).
    """
    pod_spec: dict[str, Any] = {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_LABEL,
                "whenUnsatisfiable": "DoNotSchedule",
                # Cordoned nodes do not count, so a drained zone's pods can move elsewhere.
                "nodeTaintsPolicy": "Honor",
                "labelSelector": {"matchLabels": {APP_LABEL: name}},
            }
        ],
        "containers": [
            {
                "name": name,
                "image": "registry.invalid/bench/web:1.0",
                "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}},
            }
        ],
    }
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
        del pod_spec["topologySpreadConstraints"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {APP_LABEL: name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {APP_LABEL: name}},
            "template": {"metadata": {"labels": {APP_LABEL: name}}, "spec": pod_spec},
        },
    }


def namespace_manifest(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}


def pod_disruption_budget(namespace: str, name: str, *, max_unavailable: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "maxUnavailable": max_unavailable,
            "selector": {"matchLabels": {APP_LABEL: name}},
        },
    }


def wait_deployment_ready(cluster: Cluster, namespace: str, name: str, *, timeout: float) -> None:
    """Until every desired replica is ready and no old pod is still terminating."""

    def ready() -> bool:
        ready_replicas, desired = cluster.deployment_ready_replicas(namespace, name)
        if desired == 0 or ready_replicas < desired:
            return False
        return len(cluster.pods(namespace, label_selector=f"{APP_LABEL}={name}")) == desired

    wait_until(f"deployment {namespace}/{name} to be ready", ready, timeout=timeout, interval=0.5)


def delete_namespace(cluster: Cluster, namespace: str, *, timeout: float) -> None:
    """Delete a namespace and wait until it is gone, pods and all."""
    try:
        cluster.core.delete_namespace(namespace)
    except ApiException as error:
        if error.status != 404:
            raise

    def gone() -> bool:
        try:
            cluster.core.read_namespace(namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_until(f"namespace {namespace} to be deleted", gone, timeout=timeout, interval=0.5)


def zone_node_names(cluster: Cluster, zone: str) -> list[str]:
    return [node.name for node in cluster.nodes(f"{ZONE_LABEL}={zone}")]


def pods_per_zone(cluster: Cluster, namespace: str) -> dict[str, int]:
    zone_of = {node.name: node.zone or "-" for node in cluster.nodes()}
    counts: dict[str, int] = {}
    for pod in cluster.pods(namespace):
        zone = zone_of.get(pod.node or "", "unscheduled")
        counts[zone] = counts.get(zone, 0) + 1
    return dict(sorted(counts.items()))


def count_pods_on_nodes(cluster: Cluster, nodes: Sequence[str]) -> int:
    """How many pods, in any namespace, are bound to one of ``nodes``, in one request.

    The list is asked for as a server-side Table without the objects (one row of
    printed columns per pod, a few hundred bytes instead of a few kilobytes), so it
    stays one quick request on a lab of 1,000 nodes and 9,000 pods, where a list per
    node would be a thousand requests and a full list megabytes of JSON to decode.
    """
    response = cluster.api_client.call_api(
        "/api/v1/pods",
        "GET",
        query_params=[("includeObject", "None")],
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    table = json.loads(response.data)
    column = [c["name"] for c in table["columnDefinitions"]].index("Node")
    wanted = set(nodes)
    return sum(1 for row in table["rows"] if row["cells"][column] in wanted)


def set_schedulable(cluster: Cluster, nodes: Sequence[str]) -> None:
    """Uncordon nodes whatever tool cordoned them, dropping drillkit's run annotation too."""
    for node in nodes:
        cluster.core.patch_node(
            node,
            {
                "spec": {"unschedulable": None},
                "metadata": {"annotations": {"drillkit.io/cordoned-by": None}},
            },
        )


def wait_nodes_schedulable(cluster: Cluster, *, timeout: float) -> None:
    """Until no node is cordoned or tainted (the controller removes the cordon taint late)."""

    def clean() -> bool:
        nodes = cluster.nodes()
        return bool(nodes) and all(n.ready and not n.unschedulable and not n.taints for n in nodes)

    wait_until("every node to be Ready, schedulable and untainted", clean, timeout=timeout)


def delete_seed_workload(cluster: Cluster, *, timeout: float) -> None:
    """Remove the lab's seed namespace ``shop``, so only the benchmark's pods are on the nodes."""
    delete_namespace(cluster, "shop", timeout=timeout)


def new_namespace(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))


# -- helper programs ------------------------------------------------------------------------


def build_go_program(source: Path, output: Path) -> Path:
    """``go build`` a standard-library-only module under bench/ into ``output``; once per run,
    outside every measurement. Go comes from PATH or the usual /usr/local/go."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [go, "build", "-o", str(output), "."],
        cwd=source,
        capture_output=True,
        text=True,
        # Nothing to download: the module needs only the standard library.
        env={**os.environ, "GOPROXY": "off"},
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"go build in {source} failed: {done.stderr.strip()}")
    log(f"built {output.name} in {time.monotonic() - started:.1f} s")
    return output


# -- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), for 0 <= fraction <= 1."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0 or math.isnan(numerator):
        return "n/a"
    return f"{numerator / denominator:.2f}x"

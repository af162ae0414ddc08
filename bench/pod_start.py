"""Pod start latency on a lab's real node, next to the Kubernetes pod-startup SLO.

    .venv/bin/python bench/pod_start.py [--pods 20]

A lab of its own with one real node (``drill lab up --real-nodes 1``: kubelet,
containerd 2 and Debian's runc on this machine). Three measurements of the same small
container (the lab's own ``labserve`` image, already on the node, so no image pull; the
SLO excludes pulls too):

- **runtime floor**: ``ctr run --detach`` of the image straight on the node's containerd,
  on the host network: the time containerd and runc take to start the process, with no
  Kubernetes in the way. Each container is killed and removed before the next.
- **one by one**: ``--pods`` pods created one after another, each waited on before the
  next, on the node's pod network (the lab's CNI bridge). Latency is the SLO's: from the
  create request to the watch event showing every container running.
- **burst**: ``--pods`` pods created at once; the same latency for each.

The Kubernetes SLO (sig-scalability, "pod startup latency"): p99 of that latency ≤ 5 s for
stateless pods, excluding image pulls. The ratios print p99 against those 5 s and the one-
by-one p50 against the runtime floor.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
import uuid
from typing import Any

from common import describe_machine, log, namespace_manifest, percentile, ratio, running_lab
from kubernetes import watch

from drillkit.drivers.kubernetes import Cluster
from drillkit.lab import build, node
from drillkit.lab.node import RealNode

SLO_P99_SECONDS = 5.0
TIMEOUT_SECONDS = 120.0


def pod_manifest(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"bench": "pod-start"}},
        "spec": {
            "nodeSelector": {node.REAL_NODE_LABEL: "true"},
            "tolerations": [{**node.REAL_NODE_TAINT, "operator": "Equal"}],
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "sleep",
                    "image": node.LAB_IMAGE,
                    "imagePullPolicy": "Never",
                    "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
                }
            ],
        },
    }


class StartWatch:
    """Stamps ``time.monotonic()`` when a watch event first shows a pod's containers all
    running: the SLO's "observed via watch"."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.started: dict[str, float] = {}
        self.condition = threading.Condition()
        self._stop = threading.Event()
        self._cluster = cluster
        self._namespace = namespace
        self._thread = threading.Thread(target=self._run, name="pod-start-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stream = watch.Watch()
        while not self._stop.is_set():
            for event in stream.stream(
                self._cluster.core.list_namespaced_pod, self._namespace, timeout_seconds=5
            ):
                pod = event["object"]
                statuses = pod.status.container_statuses or []
                if statuses and all(s.state.running for s in statuses):
                    with self.condition:
                        self.started.setdefault(pod.metadata.name, time.monotonic())
                        self.condition.notify_all()
                if self._stop.is_set():
                    stream.stop()

    def wait(self, names: list[str]) -> None:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        with self.condition:
            while not all(name in self.started for name in names):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"pods not running within {TIMEOUT_SECONDS:.0f} s")
                self.condition.wait(remaining)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def runtime_floor(real_node: RealNode, count: int) -> list[float]:
    ctr = [
        str(build.binaries_dir(build.REAL_NODE) / "ctr"),
        f"--address={real_node.socket}",
        "--namespace=bench",
    ]
    archive = build.binaries_dir(build.REAL_NODE).parent / "labserve.oci.tar"
    subprocess.run([*ctr, "images", "import", str(archive)], check=True, capture_output=True)
    durations = []
    for index in range(count):
        name = f"floor-{index}"
        started = time.monotonic()
        subprocess.run(
            [*ctr, "run", "--detach", "--net-host", node.LAB_IMAGE, name],
            check=True,
            capture_output=True,
        )
        durations.append(time.monotonic() - started)
        subprocess.run([*ctr, "tasks", "kill", "--signal", "SIGKILL", name], capture_output=True)
        for _ in range(100):
            if subprocess.run([*ctr, "tasks", "delete", name], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        subprocess.run([*ctr, "containers", "delete", name], check=True, capture_output=True)
    return durations


def one_by_one(cluster: Cluster, namespace: str, starts: StartWatch, count: int) -> list[float]:
    latencies = []
    for index in range(count):
        name = f"single-{index}"
        created = time.monotonic()
        cluster.core.create_namespaced_pod(namespace, pod_manifest(namespace, name))
        starts.wait([name])
        latencies.append(starts.started[name] - created)
        cluster.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    return latencies


def burst(cluster: Cluster, namespace: str, starts: StartWatch, count: int) -> list[float]:
    names = [f"burst-{index}" for index in range(count)]
    created = {}
    for name in names:
        created[name] = time.monotonic()
        cluster.core.create_namespaced_pod(namespace, pod_manifest(namespace, name))
    starts.wait(names)
    return [starts.started[name] - created[name] for name in names]


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} p50 {percentile(values, 0.5):6.3f} s   p99 {percentile(values, 0.99):6.3f} s"
        f"   max {max(values):6.3f} s   (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20, help="pods per measurement")
    arguments = parser.parse_args()
    with running_lab("pod-start", zones=1, nodes_per_zone=1, real_nodes=1) as lab:
        real_node = lab.real_node
        assert real_node is not None
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        with lab.connect() as cluster:
            print(describe_machine(cluster))
            cluster.apply([namespace_manifest(namespace)])
            log(f"runtime floor: {arguments.pods} containers with ctr run --detach")
            floor = runtime_floor(real_node, arguments.pods)
            starts = StartWatch(cluster, namespace)
            try:
                log(f"one by one: {arguments.pods} pods")
                single = one_by_one(cluster, namespace, starts, arguments.pods)
                log(f"burst: {arguments.pods} pods at once")
                together = burst(cluster, namespace, starts, arguments.pods)
            finally:
                starts.stop()
        print(summary("runtime floor (ctr run --detach)", floor))
        print(summary("pods one by one (create->running)", single))
        print(summary("pods in a burst (create->running)", together))
        print(
            f"p99 against the SLO's {SLO_P99_SECONDS:.0f} s: one by one "
            f"{ratio(percentile(single, 0.99), SLO_P99_SECONDS)}, burst "
            f"{ratio(percentile(together, 0.99), SLO_P99_SECONDS)}"
        )
        print(
            "one-by-one p50 over the runtime floor's p50: "
            f"{ratio(percentile(single, 0.5), percentile(floor, 0.5))}"
        )


if __name__ == "__main__":
    main()

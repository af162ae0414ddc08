"""Detection latency: from the API event that makes the recovery condition true to its record.

    .venv/bin/python bench/detection.py [--transitions 50] [--interval 1.0]

Compares drillkit's watch-driven observer with a Chaos Toolkit-style steady-state
probe loop, side by side on one lab (3 zones x 1 node, temporary DRILLKIT_HOME):

- **reference**: a raw Kubernetes client watch on the Deployment, in a thread of
  its own, stamps ``time.monotonic()`` on receipt of each event where the condition
  "ready replicas >= desired replicas > 0" changes;
- **drillkit**: ``WorkloadWatches`` + ``watched_condition`` + ``Observer`` recording
  ``ConditionObserved`` events into a ``TimelineRecorder``, as ``drill run`` wires
  them for the probe ``drillkit.probes.kubernetes.deployment_available``;
- **polling**: the same probe through ``ProbeCondition`` (chaoslib's
  ``run_activity``) in an ``Observer`` every ``--interval`` seconds (default 1.0,
  Chaos Toolkit's default ``--hypothesis-frequency``; like chaoslib's continuous
  hypothesis loop it waits the interval *between* evaluations).

The Deployment ``web`` (3 replicas) is pinned to node ``node-a-1``. Each transition:
cordon the node and delete one pod (the replacement stays Pending, so the condition
is false for as long as we like); wait until the reference and both observers saw
it false; hold a further random 0..interval seconds, so the restore lands at a random
phase of the poll loop; uncordon the node (the replacement is scheduled, kwok makes
it ready, the Deployment's status reaches 3/3). Per transition the latency of each
observer is (first ``holds=True`` observation it recorded after the uncordon) minus
(the reference's receipt of the event that made the condition true). Both
observers act as the lab's ``drillkit-runner`` identity. p50/p95/p99/max and the
ratios polling/drillkit are printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from typing import Any

import urllib3
from common import (
    describe_machine,
    log,
    namespace_manifest,
    percentile,
    ratio,
    running_lab,
    spread_deployment,
    use_lab_identity,
    wait_deployment_ready,
    wait_until,
)
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from drillkit.drivers.kubernetes import Cluster
from drillkit.model.timeline import ConditionObserved
from drillkit.running.chaostoolkit import ProbeCondition
from drillkit.running.observer import Observer
from drillkit.running.recorder import TimelineRecorder
from drillkit.running.watching import WorkloadWatches, watched_condition

APP = "web"
REPLICAS = 3
NODE = "node-a-1"
STEP_TIMEOUT = 60.0
# The observers' deadlines are far away: nothing here injects a fault, they only observe.
OBSERVER_TIMEOUT = 24 * 3600.0


class ReferenceWatch:
    """A plain watch on one Deployment, timestamping on receipt each change of the condition."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.apps = client.AppsV1Api(cluster.api_client)
        self.namespace = namespace
        self.name = name
        self.transitions: list[tuple[float, bool]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._follow, name="reference-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        self._thread.join(timeout=10)

    def first_after(self, since: float, holds: bool) -> float | None:
        with self._lock:
            return next((t for t, h in self.transitions if t >= since and h is holds), None)

    def holds(self) -> bool | None:
        with self._lock:
            return self.transitions[-1][1] if self.transitions else None

    def _note(self, received: float, deployment: dict[str, Any]) -> None:
        ready = deployment.get("status", {}).get("readyReplicas", 0)
        desired = deployment.get("spec", {}).get("replicas", 0)
        holds = desired > 0 and ready >= desired
        with self._lock:
            if not self.transitions or self.transitions[-1][1] is not holds:
                self.transitions.append((received, holds))

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._list_and_watch()
            except (ApiException, urllib3.exceptions.HTTPError, OSError):
                # Stopping shuts the socket under the stream; anything else is a lost
                # reference, which would stall the benchmark at its next deadline.
                if self._stop.is_set():
                    return
                raise

    def _list_and_watch(self) -> None:
        selector = f"metadata.name={self.name}"
        listing = self.apps.list_namespaced_deployment(self.namespace, field_selector=selector)
        received = time.monotonic()
        if listing.items:
            raw = self.apps.api_client.sanitize_for_serialization(listing.items[0])
            self._note(received, raw)
        self._watch = watch.Watch()
        # Raw JSON events: the reference does as little as possible before stamping.
        for event in self._watch.stream(
            self.apps.list_namespaced_deployment,
            self.namespace,
            field_selector=selector,
            resource_version=listing.metadata.resource_version,
            timeout_seconds=300,
            deserialize=False,
        ):
            received = time.monotonic()
            if event["type"] in ("ADDED", "MODIFIED"):
                self._note(received, event["object"])
            if self._stop.is_set():
                return


def observations(recorder: TimelineRecorder) -> list[tuple[float, bool]]:
    return [
        (event.at.monotonic, event.holds)
        for event in recorder.events()
        if isinstance(event, ConditionObserved)
    ]


def first_observation(recorder: TimelineRecorder, since: float, holds: bool) -> float | None:
    return next((t for t, h in observations(recorder) if t >= since and h is holds), None)


def last_observation(recorder: TimelineRecorder) -> bool | None:
    seen = observations(recorder)
    return seen[-1][1] if seen else None


def set_cordoned(cluster: Cluster, cordoned: bool) -> None:
    cluster.core.patch_node(NODE, {"spec": {"unschedulable": True if cordoned else None}})


def delete_one_pod(cluster: Cluster, namespace: str) -> None:
    pods = [p for p in cluster.pods(namespace, label_selector=f"app={APP}") if not p.terminating]
    cluster.delete_pod(namespace, pods[0].name, grace_period=0)


def measure_transition(
    cluster: Cluster,
    namespace: str,
    reference: ReferenceWatch,
    watched: TimelineRecorder,
    polled: TimelineRecorder,
    interval: float,
) -> tuple[float, float]:
    """Break and restore the condition once; the two observers' latencies in seconds."""
    wait_until(
        "the condition to hold for the reference and both observers",
        lambda: reference.holds() and last_observation(watched) and last_observation(polled),
        timeout=STEP_TIMEOUT,
        interval=0.05,
    )
    broken_at = time.monotonic()
    set_cordoned(cluster, True)
    delete_one_pod(cluster, namespace)
    wait_until(
        "the reference and both observers to see the condition broken",
        lambda: (
            reference.first_after(broken_at, False) is not None
            and first_observation(watched, broken_at, False) is not None
            and first_observation(polled, broken_at, False) is not None
        ),
        timeout=STEP_TIMEOUT,
        interval=0.05,
    )
    # Not a wait for a condition: a random hold, so that the restore does not always
    # land just after a poll (which would bias the polling latency upward).
    threading.Event().wait(random.uniform(0.0, interval))
    restored_at = time.monotonic()
    set_cordoned(cluster, False)
    event_at = wait_until(
        "the reference to see the condition restored",
        lambda: reference.first_after(restored_at, True),
        timeout=STEP_TIMEOUT,
        interval=0.01,
    )
    drillkit_at = wait_until(
        "drillkit to record the restore",
        lambda: first_observation(watched, restored_at, True),
        timeout=STEP_TIMEOUT,
        interval=0.01,
    )
    polling_at = wait_until(
        "the poll loop to record the restore",
        lambda: first_observation(polled, restored_at, True),
        timeout=STEP_TIMEOUT,
        interval=0.01,
    )
    return drillkit_at - event_at, polling_at - event_at


def summarise(name: str, latencies: list[float]) -> dict[str, float]:
    values = {
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "min": min(latencies),
        "mean": statistics.fmean(latencies),
    }
    shown = "  ".join(f"{key} {value * 1000:8.1f}" for key, value in values.items())
    print(f"  {name:<9} {shown}   (ms, n={len(latencies)})")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=50)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between polls (Chaos Toolkit: 1.0)"
    )
    args = parser.parse_args()
    namespace = f"detect-{uuid.uuid4().hex[:6]}"
    probe = {
        "type": "probe",
        "name": "web-available",
        "tolerance": True,
        "provider": {
            "type": "python",
            "module": "drillkit.probes.kubernetes",
            "func": "deployment_available",
            "arguments": {"name": APP, "namespace": namespace},
        },
    }
    drillkit_latencies: list[float] = []
    polling_latencies: list[float] = []
    with running_lab(f"bench-detect-{uuid.uuid4().hex[:4]}", zones=3, nodes_per_zone=1) as lab:
        use_lab_identity(lab)
        with lab.connect() as cluster:
            machine = describe_machine(cluster)
            deployment = spread_deployment(
                namespace, APP, replicas=REPLICAS, node_selector={"kubernetes.io/hostname": NODE}
            )
            cluster.apply([namespace_manifest(namespace), deployment])
            wait_deployment_ready(cluster, namespace, APP, timeout=STEP_TIMEOUT)

            # The reference has a connection of its own, as drillkit's watches do.
            reference_cluster = lab.connect()
            reference = ReferenceWatch(reference_cluster, namespace, APP)
            watches_cluster = Cluster.connect(lab.kubeconfig, lab.runner_context)
            watches = WorkloadWatches(watches_cluster)
            watched = watched_condition([probe], watches)
            if watched is None:
                raise SystemExit("drillkit did not turn the probe into a watched condition")
            watched_recorder = TimelineRecorder()
            watched_observer = Observer(
                recorder=watched_recorder,
                condition=watched,
                interval=args.interval,
                stable_for=args.interval,
                timeout=OBSERVER_TIMEOUT,
            )
            polling_recorder = TimelineRecorder()
            polling_observer = Observer(
                recorder=polling_recorder,
                condition=ProbeCondition("polled recovery condition", [probe], {}, {}),
                interval=args.interval,
                stable_for=args.interval,
                timeout=OBSERVER_TIMEOUT,
            )
            reference.start()
            watched_observer.start()
            watches.subscribe(watched_observer.notify)
            watches.start()
            polling_observer.start()
            try:
                for number in range(1, args.transitions + 1):
                    drillkit_latency, polling_latency = measure_transition(
                        cluster,
                        namespace,
                        reference,
                        watched_recorder,
                        polling_recorder,
                        args.interval,
                    )
                    drillkit_latencies.append(drillkit_latency)
                    polling_latencies.append(polling_latency)
                    log(
                        f"transition {number}: drillkit {drillkit_latency * 1000:7.1f} ms, "
                        f"polling {polling_latency * 1000:7.1f} ms"
                    )
            finally:
                polling_observer.stop()
                watched_observer.stop()
                watches.stop()
                watches_cluster.close()
                reference.stop()
                reference_cluster.close()
                set_cordoned(cluster, False)

    print()
    print("detection latency benchmark (bench/detection.py)")
    print(f"  {machine}")
    print(
        f"  {len(drillkit_latencies)} restore transitions of Deployment {APP} "
        f"({REPLICAS} replicas): cordon + delete a pod, random hold, uncordon"
    )
    print(
        "  latency = observer's first holds=True record - reference watch's receipt of the "
        "event (negative: drillkit's watch got the event before the reference's)"
    )
    print(f"  polling: ProbeCondition every {args.interval:.1f} s (Chaos Toolkit default 1.0 s)")
    print()
    drillkit = summarise("drillkit", drillkit_latencies)
    polling = summarise("polling", polling_latencies)
    print()
    # A ratio of a median near zero means little; n/a when drillkit's is <= 0.
    for key in ("p50", "p99", "max", "mean"):
        print(f"  ratio polling/drillkit {key:<4}: {ratio(polling[key], drillkit[key])}")
    verdict = "met" if drillkit["p99"] < 0.050 else "NOT met"
    print(f"  goal drillkit p99 < 50 ms: {verdict} ({drillkit['p99'] * 1000:.1f} ms)")


if __name__ == "__main__":
    main()

"""API requests per minute while observing a quiet Deployment: drillkit's watch vs polling.

    .venv/bin/python bench/api_requests.py [--seconds 60] [--interval 1.0]

On one lab (3 zones x 1 node, temporary DRILLKIT_HOME), with a ready Deployment of
3 replicas and no faults, three windows of ``--seconds`` each, one after the other:

1. **baseline**: no observer; what the control plane itself asks about deployments;
2. **drillkit**: ``WorkloadWatches`` + ``watched_condition`` + ``Observer`` for the
   probe ``drillkit.probes.kubernetes.deployment_available``, as ``drill run`` wires it;
3. **polling**: the same probe through ``ProbeCondition`` in an ``Observer`` every
   ``--interval`` seconds (1.0: Chaos Toolkit's default hypothesis frequency).

Requests are counted by the API server itself: ``GET /metrics`` as the lab admin,
summing ``apiserver_request_total`` over the series with ``resource="deployments"``
(that metric has no namespace or user label, so requests by the controllers are
included; the baseline window measures them and is subtracted). A window starts
before the observer starts and ends after it has stopped and the counters have
settled, so a watch's one count (recorded when the watch ends) is included. The
observers act as the lab's ``drillkit-runner`` identity.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from common import (
    describe_machine,
    log,
    namespace_manifest,
    ratio,
    running_lab,
    spread_deployment,
    use_lab_identity,
    wait_deployment_ready,
)

from drillkit.drivers.kubernetes import Cluster
from drillkit.lab.cluster import Lab
from drillkit.running.chaostoolkit import ProbeCondition
from drillkit.running.observer import Observer
from drillkit.running.recorder import TimelineRecorder
from drillkit.running.watching import WorkloadWatches, watched_condition

APP = "web"
METRIC = "apiserver_request_total"
SETTLE_SECONDS = 0.5
SETTLE_TIMEOUT = 5.0
OBSERVER_TIMEOUT = 24 * 3600.0

Counts = dict[str, float]
"""Requests by verb."""


@dataclass(frozen=True, kw_only=True)
class Window:
    name: str
    seconds: float
    counts: Counts

    @property
    def total(self) -> float:
        return sum(self.counts.values())

    def per_minute(self) -> float:
        return self.total / self.seconds * 60


def deployment_requests(cluster: Cluster) -> Counts:
    """``apiserver_request_total`` for deployments, summed by verb, from the API server."""
    url = f"{cluster.api_client.configuration.host}/metrics"
    response = cluster.api_client.rest_client.request("GET", url, headers={"Accept": "text/plain"})
    text = response.data.decode()
    counts: Counts = {}
    for line in text.splitlines():
        if not line.startswith(METRIC + "{") or 'resource="deployments"' not in line:
            continue
        labels, value = line.rsplit(" ", 1)
        verb = labels.split('verb="', 1)[1].split('"', 1)[0]
        counts[verb] = counts.get(verb, 0.0) + float(value)
    return counts


def settled_requests(cluster: Cluster) -> Counts:
    """Counts once two reads ``SETTLE_SECONDS`` apart agree (a closed watch is counted late)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    previous = deployment_requests(cluster)
    while time.monotonic() < deadline:
        threading.Event().wait(SETTLE_SECONDS)
        current = deployment_requests(cluster)
        if current == previous:
            return current
        previous = current
    return previous


def difference(after: Counts, before: Counts) -> Counts:
    verbs = set(after) | set(before)
    return {v: after.get(v, 0.0) - before.get(v, 0.0) for v in sorted(verbs)}


def measure_window(
    cluster: Cluster, name: str, seconds: float, start: Callable[[], Callable[[], None]]
) -> Window:
    """Run ``start()`` (which returns its own stop) for ``seconds`` and count requests."""
    log(f"window {name}: {seconds:.0f} s")
    before = settled_requests(cluster)
    began = time.monotonic()
    stop = start()
    # The observers run by themselves; this is the length of the window, not a wait.
    threading.Event().wait(seconds)
    stop()
    after = settled_requests(cluster)
    window = Window(name=name, seconds=time.monotonic() - began, counts=difference(after, before))
    log(f"window {name}: {window.total:.0f} requests {window.counts}")
    return window


def start_nothing() -> Callable[[], None]:
    return lambda: None


def start_watching(lab: Lab, probe: dict[str, object], interval: float) -> Callable[[], None]:
    cluster = Cluster.connect(lab.kubeconfig, lab.runner_context)
    watches = WorkloadWatches(cluster)
    condition = watched_condition([probe], watches)
    if condition is None:
        raise SystemExit("drillkit did not turn the probe into a watched condition")
    observer = Observer(
        recorder=TimelineRecorder(),
        condition=condition,
        interval=interval,
        stable_for=interval,
        timeout=OBSERVER_TIMEOUT,
    )
    observer.start()
    watches.subscribe(observer.notify)
    watches.start()

    def stop() -> None:
        observer.stop()
        watches.stop()
        cluster.close()

    return stop


def start_polling(probe: dict[str, object], interval: float) -> Callable[[], None]:
    observer = Observer(
        recorder=TimelineRecorder(),
        condition=ProbeCondition("polled recovery condition", [probe], {}, {}),
        interval=interval,
        stable_for=interval,
        timeout=OBSERVER_TIMEOUT,
    )
    observer.start()
    return observer.stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between polls (Chaos Toolkit: 1.0)"
    )
    args = parser.parse_args()
    namespace = f"api-{uuid.uuid4().hex[:6]}"
    probe: dict[str, object] = {
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
    with running_lab(f"bench-api-{uuid.uuid4().hex[:4]}", zones=3, nodes_per_zone=1) as lab:
        use_lab_identity(lab)
        with lab.connect() as cluster:
            machine = describe_machine(cluster)
            cluster.apply(
                [namespace_manifest(namespace), spread_deployment(namespace, APP, replicas=3)]
            )
            wait_deployment_ready(cluster, namespace, APP, timeout=60)
            baseline = measure_window(cluster, "baseline", args.seconds, start_nothing)
            watching = measure_window(
                cluster, "drillkit", args.seconds, lambda: start_watching(lab, probe, args.interval)
            )
            polling = measure_window(
                cluster, "polling", args.seconds, lambda: start_polling(probe, args.interval)
            )

    base_rate = baseline.per_minute()
    print()
    print("API requests benchmark (bench/api_requests.py)")
    print(f"  {machine}")
    print(
        f"  quiet Deployment {namespace}/{APP} (3 replicas), windows of {args.seconds:.0f} s; "
        f'counted by the API server: sum of {METRIC}{{resource="deployments"}} by verb'
    )
    print(
        "  the metric has no namespace or user label: the baseline window (no observer) "
        "measures the controllers' own requests and is subtracted"
    )
    print()
    print(f"  {'window':<9} {'seconds':>7} {'requests':>8} {'per min':>8} {'net/min':>8}  by verb")
    net: dict[str, float] = {}
    for window in (baseline, watching, polling):
        net[window.name] = window.per_minute() - base_rate
        verbs = ", ".join(f"{v} {c:.0f}" for v, c in window.counts.items() if c)
        print(
            f"  {window.name:<9} {window.seconds:>7.1f} {window.total:>8.0f} "
            f"{window.per_minute():>8.1f} {net[window.name]:>8.1f}  {verbs or '-'}"
        )
    print()
    print(
        "  ratio polling/drillkit (net requests per minute): "
        f"{ratio(net['polling'], net['drillkit'])}"
    )
    verdict = "met" if net["drillkit"] <= 10 else "NOT met"
    print(f"  goal drillkit <= 10 requests/minute: {verdict} ({net['drillkit']:.1f})")


if __name__ == "__main__":
    main()

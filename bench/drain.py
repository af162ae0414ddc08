"""Zone drain wall time: drillkit's ``drain_zone``, chaosk8s's ``drain_nodes``, ``kubectl drain``.

    .venv/bin/python bench/drain.py [--rounds 3] [--pods-per-zone 210] [--timeout 300]
                                    [--tools drillkit,chaosk8s,kubectl] [--parallelism 16]

A lab of 3 zones x 3 nodes (110 pods each) is started in a temporary DRILLKIT_HOME
and its seed namespace removed, so the benchmark's pods are the only ones. For each
tool in each round, on identical fresh state:

1. a new namespace with a Deployment of ``3 x --pods-per-zone`` replicas spread
   evenly over the zones (so zone-a holds ``--pods-per-zone`` pods, at least 200 by
   default) and a PodDisruptionBudget ``maxUnavailable: 10%``; wait until all ready;
2. time the drain of zone-a, from the call until the tool has returned and none of
   zone-a's pods is left (checked with a list after the tool returns), and record
   success or the tool's error;
3. uncordon zone-a (drillkit with its rollback ``uncordon_zone``, the others with a
   plain patch), wait until the nodes are schedulable and untainted, delete the
   namespace and wait until it is gone.

The three tools are run as their users run them: drillkit's and chaosk8s's
activities in this process (both create their own clients from KUBECONFIG and
KUBERNETES_CONTEXT, as under ``chaos run``), kubectl as a subprocess (its process
start is included and printed separately). All three act as the lab's
``drillkit-runner`` identity. The tool order rotates each round. Medians are over
successful drains; the ratios kubectl/drillkit and chaosk8s/drillkit are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chaosk8s.node.actions import drain_nodes
from common import (
    delete_namespace,
    delete_seed_workload,
    describe_machine,
    log,
    namespace_manifest,
    pod_disruption_budget,
    pods_per_zone,
    ratio,
    running_lab,
    set_schedulable,
    spread_deployment,
    use_lab_identity,
    wait_deployment_ready,
    wait_nodes_schedulable,
    wait_until,
    zone_node_names,
)

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.faults.kubernetes import drain_zone, uncordon_zone
from drillkit.lab import build
from drillkit.lab.cluster import Lab

TOOLS = ("drillkit", "chaosk8s", "kubectl")
ZONE = "zone-a"
APP = "web"
PDB_MAX_UNAVAILABLE = "10%"
SETUP_TIMEOUT = 600.0


@dataclass(frozen=True, kw_only=True)
class Attempt:
    tool: str
    round: int
    pods_in_zone: int
    seconds: float
    succeeded: bool
    detail: str
    load: float
    """The machine's 1-minute load average when the drain started."""


def kubectl_path() -> str:
    return str(build.binaries_dir() / "kubectl")


def drain_with_drillkit(lab: Lab, timeout: float, parallelism: int) -> str:
    result = drain_zone(ZONE, parallelism=parallelism, timeout=timeout)
    return (
        f"evicted {result['evicted']}, "
        f"{result['refused_evictions_retried']} PDB refusals (429) retried"
    )


def drain_with_chaosk8s(lab: Lab, timeout: float, parallelism: int) -> str:
    nodes = drain_nodes(
        label_selector=f"{ZONE_LABEL}={ZONE}",
        delete_pods_with_local_storage=True,
        timeout=int(timeout),
    )
    return f"drained {len(nodes)} nodes"


def drain_with_kubectl(lab: Lab, timeout: float, parallelism: int) -> str:
    command = [
        kubectl_path(),
        f"--kubeconfig={lab.kubeconfig}",
        f"--context={lab.runner_context}",
        "drain",
        "-l",
        f"{ZONE_LABEL}={ZONE}",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        f"--timeout={int(timeout)}s",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60)
    output = done.stdout + done.stderr
    # kubectl waits 5 s after each refusal by a PodDisruptionBudget before retrying.
    retries = output.count("will retry after 5s")
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if line.strip()][-1:]
        raise RuntimeError(f"kubectl drain exited {done.returncode}: {' '.join(last)}")
    return f"{retries} PDB refusals (429) retried after 5 s each"


# Each takes the lab, the timeout and drillkit's parallelism (the peers have no such knob).
DRAINERS: dict[str, Callable[[Lab, float, int], str]] = {
    "drillkit": drain_with_drillkit,
    "chaosk8s": drain_with_chaosk8s,
    "kubectl": drain_with_kubectl,
}


def pods_left_in_zone(cluster: Cluster, nodes: list[str]) -> int:
    return sum(len(cluster.pods("*", field_selector=f"spec.nodeName={node}")) for node in nodes)


def prepare(cluster: Cluster, namespace: str, pods_per_zone_wanted: int, zones: int) -> int:
    """A fresh namespace with the spread Deployment and its PDB, all ready; zone-a's pod count."""
    wait_nodes_schedulable(cluster, timeout=120)
    cluster.apply(
        [
            namespace_manifest(namespace),
            spread_deployment(namespace, APP, replicas=pods_per_zone_wanted * zones),
            pod_disruption_budget(namespace, APP, max_unavailable=PDB_MAX_UNAVAILABLE),
        ]
    )
    wait_deployment_ready(cluster, namespace, APP, timeout=SETUP_TIMEOUT)
    counts = pods_per_zone(cluster, namespace)
    log(f"{namespace}: pods per zone {counts}")
    return counts.get(ZONE, 0)


def measure(
    lab: Lab, cluster: Cluster, tool: str, round_number: int, args: argparse.Namespace
) -> Attempt:
    namespace = f"drain-{round_number}-{tool}-{uuid.uuid4().hex[:4]}"
    run_id = f"bench-drain-{round_number}-{uuid.uuid4().hex[:6]}"
    os.environ["DRILLKIT_RUN_ID"] = run_id
    nodes = zone_node_names(cluster, ZONE)
    in_zone = prepare(cluster, namespace, args.pods_per_zone, lab.shape.zones)
    if in_zone < args.pods_per_zone:
        raise RuntimeError(f"only {in_zone} pods landed in {ZONE}; expected {args.pods_per_zone}")
    log(f"round {round_number}: draining {ZONE} ({in_zone} pods) with {tool}")
    load = os.getloadavg()[0]
    started = time.monotonic()
    try:
        try:
            detail = DRAINERS[tool](lab, args.timeout, args.parallelism)
            succeeded = True
        except Exception as error:  # a failed drain is a result, not a crash
            detail = f"{type(error).__name__}: {one_line(error)}"
            succeeded = False
        if succeeded:
            # The tool said it is done; the measured time ends when the zone is empty.
            wait_until(
                f"{ZONE} to hold no pods",
                lambda: pods_left_in_zone(cluster, nodes) == 0,
                timeout=args.timeout,
                interval=0.05,
            )
        seconds = time.monotonic() - started
    finally:
        if tool == "drillkit":
            uncordon_zone(ZONE)
        set_schedulable(cluster, nodes)
        wait_nodes_schedulable(cluster, timeout=120)
        delete_namespace(cluster, namespace, timeout=SETUP_TIMEOUT)
    log(f"  {tool}: {'ok' if succeeded else 'FAILED'} in {seconds:.2f} s; {detail}")
    return Attempt(
        tool=tool,
        round=round_number,
        pods_in_zone=in_zone,
        seconds=seconds,
        succeeded=succeeded,
        detail=detail,
        load=load,
    )


def one_line(error: object, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kubectl_start_seconds(runs: int = 5) -> float:
    """How long the kubectl process takes to start and exit, included in its drain times."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([kubectl_path(), "version", "--client"], capture_output=True, check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def report(
    attempts: list[Attempt],
    tools: tuple[str, ...],
    args: argparse.Namespace,
    machine: str,
    kubectl_start: float,
) -> None:
    print()
    print("zone drain benchmark (bench/drain.py)")
    print(f"  {machine}")
    print(
        f"  lab 3 zones x 3 nodes; Deployment of {args.pods_per_zone * 3} pods spread over "
        f"the zones, PDB maxUnavailable {PDB_MAX_UNAVAILABLE}; drain {ZONE}; "
        f"{args.rounds} rounds, tool order rotating"
    )
    print(f"  drillkit drain_zone parallelism {args.parallelism}")
    if "kubectl" in tools:
        print(f"  kubectl process start/exit (in its times): {kubectl_start * 1000:.0f} ms")
    print()
    print(f"  {'round':>5}  {'tool':<9} {'pods':>5} {'load':>5} {'seconds':>8}  result")
    for a in attempts:
        result = "ok" if a.succeeded else "FAILED"
        print(
            f"  {a.round:>5}  {a.tool:<9} {a.pods_in_zone:>5} {a.load:>5.1f} {a.seconds:>8.2f}  "
            f"{result}: {a.detail}"
        )
    print()
    medians: dict[str, float | None] = {}
    for tool in tools:
        ok = [a.seconds for a in attempts if a.tool == tool and a.succeeded]
        total = sum(1 for a in attempts if a.tool == tool)
        medians[tool] = statistics.median(ok) if ok else None
        shown = f"{medians[tool]:.2f} s" if ok else "n/a"
        spread = f" (min {min(ok):.2f}, max {max(ok):.2f})" if ok else ""
        print(f"  {tool:<9} succeeded {len(ok)}/{total}  median {shown}{spread}")
    for peer in ("kubectl", "chaosk8s"):
        if peer in tools and "drillkit" in tools:
            print(f"  ratio {peer}/drillkit: {ratio(medians[peer], medians['drillkit'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pods-per-zone", type=int, default=210)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each drain may take")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS)
    )
    parser.add_argument(
        "--parallelism", type=int, default=16, help="drain_zone's parallelism (its default: 16)"
    )
    args = parser.parse_args()
    # After the drain, the other two zones absorb zone-a's pods: 1.5 x pods-per-zone
    # must fit in a zone's 3 x 110 pod slots.
    if not 1 <= args.pods_per_zone <= 220:
        parser.error("--pods-per-zone must be between 1 and 220 (the lab's capacity)")
    tools = tuple(t for t in TOOLS if t in args.tools.split(","))
    if not tools:
        parser.error(f"--tools must name some of {', '.join(TOOLS)}")
    attempts: list[Attempt] = []
    with running_lab(f"bench-drain-{uuid.uuid4().hex[:4]}", zones=3, nodes_per_zone=3) as lab:
        use_lab_identity(lab)
        with lab.connect() as cluster:
            delete_seed_workload(cluster, timeout=SETUP_TIMEOUT)
            machine = describe_machine(cluster)
            kubectl_start = kubectl_start_seconds() if "kubectl" in tools else 0.0
            for round_number in range(1, args.rounds + 1):
                shift = (round_number - 1) % len(tools)
                order = tools[shift:] + tools[:shift]
                for tool in order:
                    attempts.append(measure(lab, cluster, tool, round_number, args))
    report(attempts, tools, args, machine, kubectl_start)


if __name__ == "__main__":
    main()

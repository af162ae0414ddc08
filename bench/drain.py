"""Zone drain wall time: drillkit's ``drain_zone``, chaosk8s's ``drain_nodes``, ``kubectl drain``,
and the API server's own ceiling.

    .venv/bin/python bench/drain.py [--rounds 3] [--nodes-per-zone 3] [--pods-per-zone 210]
                                    [--timeout 300] [--tools drillkit,chaosk8s,kubectl,ceiling]
                                    [--parallelism 16] [--ceiling-workers 64] [--ceiling-http1]
                                    [--no-pdb]

A lab of 3 zones x ``--nodes-per-zone`` nodes (110 pods each) is started in a
temporary DRILLKIT_HOME and its seed namespace removed, so the benchmark's pods are
the only ones. For each tool in each round, on identical fresh state:

1. a new namespace with a Deployment of ``3 x --pods-per-zone`` replicas spread
   evenly over the zones (so zone-a holds ``--pods-per-zone`` pods, at least 200 by
   default), a PodDisruptionBudget ``maxUnavailable: 10%`` (except for ``ceiling``,
   and for every tool with ``--no-pdb``)
   and the RoleBinding that lets the runner identity evict there; wait until all ready;
2. time the drain of zone-a, from the call until the tool has returned and none of
   zone-a's pods is left (checked with a list after the tool returns), and record
   success or the tool's error;
3. uncordon zone-a (drillkit with its rollback ``uncordon_zone``, the others with a
   plain patch), wait until the nodes are schedulable and untainted, delete the
   namespace and wait until it is gone.

The three tools are run as their users run them: drillkit's and chaosk8s's
activities in this process (both create their own clients from KUBECONFIG and
KUBERNETES_CONTEXT, as under ``chaos run``), kubectl as a subprocess (its process
start is included and printed separately).

``ceiling`` is the physical limit to hold them against: bench/ceiling, a Go client
built once per run, cordons the nodes, lists their pods once and evicts them all with
``--ceiling-workers`` concurrent requests, no client-side rate limit and no
PodDisruptionBudget in the way. It is timed exactly like the others.

All four act as the lab's ``drillkit-runner`` identity. The tool order rotates each
round. Medians are over successful drains; the ratios kubectl/drillkit and
chaosk8s/drillkit are printed, and ceiling/drillkit as the fraction of the ceiling
that drillkit reaches.

At scale (``--nodes-per-zone 334 --pods-per-zone 3000``: 1,002 nodes, 9,000 pods)
the set-up waits grow with the pod and node counts. chaosk8s and kubectl drain one
node after another and wait for each (about 7 and 14 s per node on the 3-node lab),
so over 334 nodes they need the better part of an hour or more each; chaosk8s's
timeout is per node and it runs in this process, so it cannot be cut short. Run
the large lab with ``--tools drillkit,ceiling`` unless that hour is available.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaosk8s.node.actions import drain_nodes
from common import (
    build_go_program,
    count_pods_on_nodes,
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
from drillkit.lab.access import role_binding
from drillkit.lab.cluster import NODE_CAPACITY, Lab

TOOLS = ("drillkit", "chaosk8s", "kubectl", "ceiling")
ZONE = "zone-a"
ZONES = 3
APP = "web"
PDB_MAX_UNAVAILABLE = "10%"
CEILING_SOURCE = Path(__file__).resolve().parent / "ceiling"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What a drainer may need besides the lab and the zone's nodes."""

    timeout: float
    parallelism: int
    """drain_zone's parallelism (the peers have no such knob)."""
    ceiling: Path | None
    """The built bench/ceiling program, when ``ceiling`` is among the tools."""
    ceiling_workers: int
    ceiling_http1: bool


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

    @property
    def pods_per_second(self) -> float:
        return self.pods_in_zone / self.seconds if self.seconds > 0 else 0.0


def kubectl_path() -> str:
    return str(build.binaries_dir() / "kubectl")


def setup_timeout(pods: int) -> float:
    """Seconds to create or delete ``pods`` pods: 3,000 take about 40 s to create on
    2 cores, so 0.2 s each leaves room for a loaded machine, and never under 10 minutes."""
    return max(600.0, 0.2 * pods)


def nodes_timeout(nodes: int) -> float:
    """Seconds for every node to be schedulable and untainted again after a drain."""
    return 120.0 + 0.1 * nodes


def drain_with_drillkit(lab: Lab, nodes: list[str], settings: Settings) -> str:
    result = drain_zone(ZONE, parallelism=settings.parallelism, timeout=settings.timeout)
    return (
        f"evicted {result['evicted']}, "
        f"{result['refused_evictions_retried']} PDB refusals (429) retried"
    )


def drain_with_chaosk8s(lab: Lab, nodes: list[str], settings: Settings) -> str:
    drained = drain_nodes(
        label_selector=f"{ZONE_LABEL}={ZONE}",
        delete_pods_with_local_storage=True,
        timeout=int(settings.timeout),
    )
    return f"drained {len(drained)} nodes"


def drain_with_kubectl(lab: Lab, nodes: list[str], settings: Settings) -> str:
    timeout = settings.timeout
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


def drain_with_ceiling(lab: Lab, nodes: list[str], settings: Settings) -> str:
    assert settings.ceiling is not None, "the ceiling program is built before the rounds"
    pki = lab.directory / "pki"
    # The runner identity, as for the other tools: deploy/rbac.yaml lets it patch nodes
    # and list pods cluster-wide, and evict pods in the namespace bound by prepare().
    command = [
        str(settings.ceiling),
        f"--server={lab.api_server_url}",
        f"--ca={lab.ca_file}",
        f"--cert={pki / 'runner.crt'}",
        f"--key={pki / 'runner.key'}",
        f"--nodes={','.join(nodes)}",
        f"--workers={settings.ceiling_workers}",
        f"--timeout={int(settings.timeout)}s",
    ]
    if settings.ceiling_http1:
        command.append("--http1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=settings.timeout + 60)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"ceiling exited {done.returncode}: {one_line(done.stderr)}")
    out = json.loads(lines[-1])
    if done.returncode != 0:
        raise RuntimeError(f"ceiling exited {done.returncode}: {lines[-1]}")
    return (
        f"evicted {out['evicted']}/{out['pods']} as {out['user']} over {out['protocol']}, "
        f"{out['workers']} workers: cordon {out['cordon_seconds']:.2f} s, "
        f"list ({out['list']}) {out['list_seconds']:.2f} s, evict {out['evict_seconds']:.2f} s "
        f"({out['evictions_per_second']:.0f}/s), {out['retried_429']} 429s retried"
    )


DRAINERS: dict[str, Callable[[Lab, list[str], Settings], str]] = {
    "drillkit": drain_with_drillkit,
    "chaosk8s": drain_with_chaosk8s,
    "kubectl": drain_with_kubectl,
    "ceiling": drain_with_ceiling,
}


def prepare(
    cluster: Cluster, namespace: str, pods_per_zone_wanted: int, *, with_pdb: bool, nodes: int
) -> int:
    """A fresh namespace with the spread Deployment (and its PDB), all ready; zone-a's pod count."""
    wait_nodes_schedulable(cluster, timeout=nodes_timeout(nodes))
    manifests = [
        namespace_manifest(namespace),
        # The runner may evict only where it is bound, as deploy/rbac.yaml has it.
        role_binding("drillkit-runner", namespace),
        spread_deployment(namespace, APP, replicas=pods_per_zone_wanted * ZONES),
    ]
    if with_pdb:
        manifests.append(pod_disruption_budget(namespace, APP, max_unavailable=PDB_MAX_UNAVAILABLE))
    cluster.apply(manifests)
    wait_deployment_ready(
        cluster, namespace, APP, timeout=setup_timeout(pods_per_zone_wanted * ZONES)
    )
    counts = pods_per_zone(cluster, namespace)
    log(f"{namespace}: pods per zone {counts}")
    return counts.get(ZONE, 0)


def measure(
    lab: Lab,
    cluster: Cluster,
    tool: str,
    round_number: int,
    args: argparse.Namespace,
    settings: Settings,
) -> Attempt:
    namespace = f"drain-{round_number}-{tool}-{uuid.uuid4().hex[:4]}"
    run_id = f"bench-drain-{round_number}-{uuid.uuid4().hex[:6]}"
    os.environ["DRILLKIT_RUN_ID"] = run_id
    nodes = zone_node_names(cluster, ZONE)
    all_nodes = ZONES * args.nodes_per_zone
    # The ceiling is the API server's pace with nothing in the way: no budget to wait for.
    with_pdb = tool != "ceiling" and not args.no_pdb
    in_zone = prepare(cluster, namespace, args.pods_per_zone, with_pdb=with_pdb, nodes=all_nodes)
    # On a large lab the scheduler's spread is within a few pods of even, not exact;
    # each drain's pod count is printed beside its time.
    if in_zone < 0.98 * args.pods_per_zone:
        raise RuntimeError(f"only {in_zone} pods landed in {ZONE}; expected {args.pods_per_zone}")
    log(f"round {round_number}: draining {ZONE} ({in_zone} pods) with {tool}")
    load = os.getloadavg()[0]
    started = time.monotonic()
    try:
        try:
            detail = DRAINERS[tool](lab, nodes, settings)
            succeeded = True
        except Exception as error:  # a failed drain is a result, not a crash
            detail = f"{type(error).__name__}: {one_line(error)}"
            succeeded = False
        if succeeded:
            # The tool said it is done; the measured time ends when the zone is empty.
            wait_until(
                f"{ZONE} to hold no pods",
                lambda: count_pods_on_nodes(cluster, nodes) == 0,
                timeout=args.timeout,
                interval=0.05,
            )
        seconds = time.monotonic() - started
    finally:
        if tool == "drillkit":
            uncordon_zone(ZONE)
        set_schedulable(cluster, nodes)
        wait_nodes_schedulable(cluster, timeout=nodes_timeout(all_nodes))
        delete_namespace(cluster, namespace, timeout=setup_timeout(args.pods_per_zone * ZONES))
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
    budget = (
        "no PDB for any tool"
        if args.no_pdb
        else f"PDB maxUnavailable {PDB_MAX_UNAVAILABLE} (none for ceiling)"
    )
    print(
        f"  lab {ZONES} zones x {args.nodes_per_zone} nodes; Deployment of "
        f"{args.pods_per_zone * ZONES} pods spread over the zones, {budget}; drain {ZONE}; "
        f"{args.rounds} rounds, tool order rotating"
    )
    print(f"  drillkit drain_zone parallelism {args.parallelism}")
    if "ceiling" in tools:
        protocol = "HTTP/1.1, a connection per worker" if args.ceiling_http1 else "HTTP/2"
        print(f"  ceiling (bench/ceiling, Go): {args.ceiling_workers} workers, {protocol}")
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
        ok = [a for a in attempts if a.tool == tool and a.succeeded]
        seconds = [a.seconds for a in ok]
        total = sum(1 for a in attempts if a.tool == tool)
        medians[tool] = statistics.median(seconds) if ok else None
        shown = f"{medians[tool]:.2f} s" if ok else "n/a"
        spread = f" (min {min(seconds):.2f}, max {max(seconds):.2f})" if ok else ""
        rate = f", {statistics.median(a.pods_per_second for a in ok):.0f} pods/s" if ok else ""
        print(f"  {tool:<9} succeeded {len(ok)}/{total}  median {shown}{spread}{rate}")
    for peer in ("kubectl", "chaosk8s"):
        if peer in tools and "drillkit" in tools:
            print(f"  ratio {peer}/drillkit: {ratio(medians[peer], medians['drillkit'])}")
    if "ceiling" in tools and "drillkit" in tools:
        ceiling, drillkit = medians["ceiling"], medians["drillkit"]
        fraction = f"{ceiling / drillkit:.2f}" if ceiling is not None and drillkit else "n/a"
        print(f"  ceiling/drillkit: drillkit drains at {fraction} of the ceiling")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes-per-zone", type=int, default=3)
    parser.add_argument("--pods-per-zone", type=int, default=210)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each drain may take")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS)
    )
    parser.add_argument(
        "--parallelism", type=int, default=16, help="drain_zone's parallelism (its default: 16)"
    )
    parser.add_argument(
        "--no-pdb",
        action="store_true",
        help="no PodDisruptionBudget for any tool: each is held against the ceiling on "
        "the same state, without waiting for replacements",
    )
    parser.add_argument(
        "--ceiling-workers", type=int, default=64, help="the ceiling's concurrent requests"
    )
    parser.add_argument(
        "--ceiling-http1",
        action="store_true",
        help="the ceiling over HTTP/1.1, a connection per worker (default: HTTP/2, one connection)",
    )
    args = parser.parse_args()
    if args.nodes_per_zone < 1:
        parser.error("--nodes-per-zone must be at least 1")
    # After the drain, the other zones absorb zone-a's pods: each then holds
    # ZONES / (ZONES - 1) x pods-per-zone, which must fit in its nodes' pod slots
    # (the spread Deployment's requests are small enough for a node's 110 pods).
    capacity = args.nodes_per_zone * int(NODE_CAPACITY["pods"]) * (ZONES - 1) // ZONES
    if not 1 <= args.pods_per_zone <= capacity:
        parser.error(
            f"--pods-per-zone must be between 1 and {capacity} "
            f"(the capacity of a lab with {args.nodes_per_zone} nodes per zone)"
        )
    tools = tuple(t for t in TOOLS if t in args.tools.split(","))
    if not tools:
        parser.error(f"--tools must name some of {', '.join(TOOLS)}")
    ceiling = None
    if "ceiling" in tools:
        ceiling = build_go_program(CEILING_SOURCE, build.cache_root() / "bench" / "ceiling")
    settings = Settings(
        timeout=args.timeout,
        parallelism=args.parallelism,
        ceiling=ceiling,
        ceiling_workers=args.ceiling_workers,
        ceiling_http1=args.ceiling_http1,
    )
    attempts: list[Attempt] = []
    name = f"bench-drain-{uuid.uuid4().hex[:4]}"
    with running_lab(name, zones=ZONES, nodes_per_zone=args.nodes_per_zone) as lab:
        use_lab_identity(lab)
        with lab.connect() as cluster:
            delete_seed_workload(cluster, timeout=setup_timeout(0))
            machine = describe_machine(cluster)
            kubectl_start = kubectl_start_seconds() if "kubectl" in tools else 0.0
            for round_number in range(1, args.rounds + 1):
                shift = (round_number - 1) % len(tools)
                order = tools[shift:] + tools[:shift]
                for tool in order:
                    attempts.append(measure(lab, cluster, tool, round_number, args, settings))
    report(attempts, tools, args, machine, kubectl_start)


if __name__ == "__main__":
    main()

"""Kubernetes faults: kill pods, drain a zone, cordon and uncordon nodes.

``drain_zone`` does what ``kubectl drain`` does for every node of a zone at once:
cordon, then evict through the Eviction API with bounded parallelism, retrying
PodDisruptionBudget refusals (429) with backoff until a deadline, skipping
DaemonSet and mirror pods, then wait until the evicted pods are gone. Unlike
Chaos Toolkit's ``drain_nodes`` it never fails on the first refusal and is
undone by ``uncordon_zone``.

Undo before harm: before the first cordon, an undo record naming the nodes is
persisted locally and in the cluster (``drillkit.safety.undo``), and every cordon
carries the annotation ``drillkit.io/cordoned-by`` naming the run, so a crashed
run's cordons are found and reverted by ``drill recover`` or the next run. Nodes
an operator had already cordoned are left alone and never uncordoned by drillkit.

``kill_pods`` and ``drain_zone`` name, under ``drillkit_affected``
(``drillkit.faults.steps``), every pod the API server accepted to delete or evict.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster, EvictionAnswer, PodState
from drillkit.errors import ClusterError, InvalidInput
from drillkit.faults.declarations import (
    DISRUPTS_NOTHING,
    FaultDeclaration,
    declare,
    no_target_on_zone,
    zone_plan,
)
from drillkit.faults.steps import AFFECTED_KEY, INJECTED_AT, affected
from drillkit.model.activities import Activity, BlastRadius, PodSelection, TargetReader
from drillkit.model.drill import Disruption
from drillkit.model.timeline import format_utc
from drillkit.safety.undo import CORDONED_BY, UNCORDON_NODES, current_run_id, record_undo

logger = logging.getLogger(__name__)


class _FirstAcknowledgement:
    """The earliest instant any worker saw the API server accept a disruptive request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.monotonic: float | None = None
        self.utc: datetime | None = None

    def note(self) -> None:
        monotonic, utc = time.monotonic(), datetime.now(UTC)
        with self._lock:
            if self.monotonic is None or monotonic < self.monotonic:
                self.monotonic, self.utc = monotonic, utc

    def as_output(self) -> dict[str, object] | None:
        if self.monotonic is None or self.utc is None:
            return None
        return {"monotonic": self.monotonic, "utc": format_utc(self.utc)}


# -- kill pods ----------------------------------------------------------------------------


def _kill_pods_radius(arguments: Mapping[str, object]) -> BlastRadius:
    reader = TargetReader(arguments)
    namespaces = reader.texts("namespace")
    pods = None
    if namespaces:
        pods = PodSelection(
            namespace=namespaces[0],
            label_selector=reader.text("label_selector"),
            count=reader.number("count"),
            percentage=reader.number("percentage"),
        )
    return reader.radius(namespaces=namespaces, pods=pods)


def _plan_kill_pods(cluster: Cluster, activity: Activity) -> str:
    arguments = activity.arguments
    namespace, selector = str(arguments.get("namespace")), str(arguments.get("label_selector"))
    pods = [p for p in cluster.pods(namespace, label_selector=selector) if not p.terminating]
    amount = arguments.get("count") or f"{arguments.get('percentage')}%"
    return (
        f"{activity.name} kills {amount} of {len(pods)} pods matching {selector} in {namespace} "
        f"({arguments.get('mode', 'random')})"
    )


def _no_pod_to_kill(cluster: Cluster, activity: Activity, namespaces: Sequence[str]) -> str | None:
    namespace = str(activity.arguments.get("namespace"))
    selector = str(activity.arguments.get("label_selector"))
    if namespace not in namespaces:
        return None
    if any(not p.terminating for p in cluster.pods(namespace, label_selector=selector)):
        return None
    return f"no pod matches {selector} in {namespace}"


@declare(
    FaultDeclaration(
        blast_radius=_kill_pods_radius,
        plan=_plan_kill_pods,
        no_target=_no_pod_to_kill,
        disrupts=Disruption.POD,
    )
)
def kill_pods(
    label_selector: str,
    namespace: str,
    count: int | None = None,
    percentage: float | None = None,
    mode: str = "random",
    grace_period: int | None = None,
    field_selector: str = "",
) -> dict[str, object]:
    """Delete ``count`` (or ``percentage`` %) of the pods matching the selectors.

    ``mode`` is ``random`` or ``oldest``. Terminating pods are not counted. Deletions
    go out together; the earliest acceptance is the injection time.
    """
    if not label_selector:
        raise InvalidInput("kill_pods needs a label_selector; refusing to pick from every pod")
    with Cluster.from_environment() as cluster:
        pods = [
            p
            for p in cluster.pods(
                namespace, label_selector=label_selector, field_selector=field_selector
            )
            if not p.terminating
        ]
        victims = choose_pods(pods, count=count, percentage=percentage, mode=mode)
        acknowledged = _FirstAcknowledgement()

        def delete(pod: PodState) -> bool:
            deleted = cluster.delete_pod(pod.namespace, pod.name, grace_period=grace_period)
            if deleted:
                acknowledged.note()
            return deleted

        with ThreadPoolExecutor(max_workers=min(16, max(1, len(victims)))) as pool:
            results = list(pool.map(delete, victims))
    killed = [p for p, done in zip(victims, results, strict=True) if done]
    return {
        INJECTED_AT: acknowledged.as_output(),
        AFFECTED_KEY: [
            affected("Pod", p.name, namespace=p.namespace, action="deleted") for p in killed
        ],
        "selected": len(pods),
        "killed": [f"{p.namespace}/{p.name}" for p in killed],
    }


def choose_pods(
    pods: Sequence[PodState], *, count: int | None, percentage: float | None, mode: str
) -> list[PodState]:
    """Pick the victims; pure, so the choice is tested without a cluster."""
    if (count is None) == (percentage is None):
        raise InvalidInput("kill_pods takes exactly one of count and percentage")
    if mode not in ("random", "oldest"):
        raise InvalidInput(f"kill_pods mode must be random or oldest, not {mode!r}")
    if count is not None:
        if count < 1:
            raise InvalidInput("kill_pods count must be at least 1")
        wanted = count
    else:
        assert percentage is not None
        if not 0 < percentage <= 100:
            raise InvalidInput("kill_pods percentage must be in (0, 100]")
        wanted = max(1, round(len(pods) * percentage / 100))
    if wanted > len(pods):
        raise ClusterError(f"kill_pods wants {wanted} pods but only {len(pods)} match")
    if mode == "oldest":
        return sorted(pods, key=lambda p: (p.created, p.name))[:wanted]
    return random.sample(list(pods), wanted)


# -- cordon, uncordon, drain ---------------------------------------------------------------


def _cordon_radius(arguments: Mapping[str, object]) -> BlastRadius:
    reader = TargetReader(arguments)
    reader.nodes_by_selector("label_selector")
    return reader.radius()


@declare(FaultDeclaration(blast_radius=_cordon_radius))
def cordon_nodes(label_selector: str) -> dict[str, object]:
    """Mark the matching nodes unschedulable, noting the run that did it."""
    with Cluster.from_environment() as cluster:
        cordoned, already = _cordon(cluster, label_selector)
    return {"cordoned": cordoned, "already_cordoned": already}


def _cordon(cluster: Cluster, label_selector: str) -> tuple[list[str], list[str]]:
    """Cordon the schedulable matching nodes after recording how to undo it."""
    nodes = cluster.nodes(label_selector)
    if not nodes:
        raise ClusterError(f"no nodes match {label_selector!r}")
    # A node someone else cordoned stays theirs: not recorded, not uncordoned later.
    mine = [n.name for n in nodes if not n.unschedulable]
    already = [n.name for n in nodes if n.unschedulable]
    if mine:
        record_undo(UNCORDON_NODES, tuple(mine), cluster=cluster)
    cluster.set_unschedulable_nodes(mine, True, annotations={CORDONED_BY: current_run_id()})
    return mine, already


@declare(DISRUPTS_NOTHING)
def uncordon_nodes(label_selector: str) -> dict[str, object]:
    """Make the matching nodes this run cordoned schedulable again, and verify it."""
    with Cluster.from_environment() as cluster:
        marker = current_run_id()
        mine = [
            n.name
            for n in cluster.nodes(label_selector)
            if n.unschedulable and n.annotations.get(CORDONED_BY) == marker
        ]
        cluster.set_unschedulable_nodes(mine, False, annotations={CORDONED_BY: None})
        still = [
            n.name for n in cluster.nodes(label_selector) if n.name in mine and n.unschedulable
        ]
    if still:
        raise ClusterError(f"nodes still cordoned after uncordon: {', '.join(still)}")
    return {"uncordoned": mine}


@declare(DISRUPTS_NOTHING)
def uncordon_zone(zone: str) -> dict[str, object]:
    """The rollback of ``drain_zone``: every node of the zone schedulable again."""
    return uncordon_nodes(f"{ZONE_LABEL}={zone}")


@dataclass
class _DrainProgress:
    evicted: list[PodState] = field(default_factory=list)
    refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@declare(
    FaultDeclaration(
        plan=zone_plan("drains"), no_target=no_target_on_zone, disrupts=Disruption.ZONE
    )
)
def drain_zone(
    zone: str,
    parallelism: int = 16,
    timeout: float = 300.0,
    delete_unmanaged: bool = False,
    delete_emptydir_data: bool = True,
    namespaces: Sequence[str] | None = None,
) -> dict[str, object]:
    """Cordon every node of ``zone`` and evict its pods, PDB-aware, until they are gone.

    With ``namespaces`` (the drill's target namespaces), only their pods are evicted;
    the others stay on the cordoned nodes. The runner identity may evict only in the
    namespaces it is bound in (deploy/rbac.yaml), so a drain of a shared zone names them.
    """
    deadline = time.monotonic() + timeout
    with Cluster.from_environment() as cluster:
        cordoned, already = _cordon(cluster, f"{ZONE_LABEL}={zone}")
        nodes = cordoned + already
        pods = cluster.pods_on_nodes(nodes)
        to_evict, skipped = plan_eviction(
            pods,
            delete_unmanaged=delete_unmanaged,
            delete_emptydir_data=delete_emptydir_data,
            namespaces=namespaces,
        )
        acknowledged = _FirstAcknowledgement()
        progress = _DrainProgress()

        def evict(pod: PodState) -> None:
            delay = 0.25
            while True:
                answer = cluster.evict_pod(pod.namespace, pod.name)
                if answer is EvictionAnswer.ACCEPTED:
                    acknowledged.note()
                    with progress.lock:
                        progress.evicted.append(pod)
                    return
                if answer is EvictionAnswer.GONE:
                    return
                with progress.lock:
                    progress.refusals += 1
                if delay == 0.25:
                    logger.info(
                        "eviction of %s/%s refused by its PodDisruptionBudget; retrying",
                        pod.namespace,
                        pod.name,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClusterError(
                        f"eviction of {pod.namespace}/{pod.name} still refused by its "
                        f"PodDisruptionBudget after {timeout:.0f} s"
                    )
                # Exponential backoff with jitter, capped: replacements usually become
                # ready within seconds and free the budget.
                time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 2.0)

        pool = ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(to_evict) or 1)))
        try:
            for future in [pool.submit(evict, pod) for pod in to_evict]:
                future.result()
        except BaseException:
            # A failed fault stops disrupting: queued evictions are dropped.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        evicted_uids = {p.uid for p in to_evict}
        # Only nodes that still held an evicted pod are listed again.
        holding = sorted({p.node for p in to_evict if p.node})
        while True:
            present = [p for p in cluster.pods_on_nodes(holding) if p.uid in evicted_uids]
            if not present:
                break
            holding = sorted({p.node for p in present if p.node})
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"{len(present)} evicted pods of zone {zone} were not gone "
                    f"after {timeout:.0f} s"
                )
            time.sleep(0.25)
    return {
        INJECTED_AT: acknowledged.as_output(),
        AFFECTED_KEY: [
            affected("Pod", p.name, namespace=p.namespace, action="evicted")
            for p in sorted(progress.evicted, key=lambda p: (p.namespace, p.name))
        ],
        "zone": zone,
        "nodes": nodes,
        "already_cordoned": already,
        "evicted": len(progress.evicted),
        "refused_evictions_retried": progress.refusals,
        "skipped": skipped,
    }


def plan_eviction(
    pods: Sequence[PodState],
    *,
    delete_unmanaged: bool,
    delete_emptydir_data: bool,
    namespaces: Sequence[str] | None = None,
) -> tuple[list[PodState], list[str]]:
    """Which pods a drain evicts and which it skips, with kubectl drain's rules, limited
    to ``namespaces`` when given; pure."""
    to_evict: list[PodState] = []
    skipped: list[str] = []
    for pod in pods:
        name = f"{pod.namespace}/{pod.name}"
        if pod.terminating:
            continue
        if namespaces is not None and pod.namespace not in namespaces:
            skipped.append(f"{name} (outside the drained namespaces)")
            continue
        if pod.mirror or pod.owner_kind == "DaemonSet":
            skipped.append(f"{name} ({'mirror pod' if pod.mirror else 'DaemonSet'})")
            continue
        if pod.owner_kind is None and not delete_unmanaged:
            raise InvalidInput(
                f"pod {name} has no controller and would be lost for good; "
                "set delete_unmanaged: true to evict it anyway"
            )
        if pod.uses_empty_dir and not delete_emptydir_data:
            raise InvalidInput(
                f"pod {name} uses emptyDir data that eviction destroys; "
                "set delete_emptydir_data: true to evict it anyway"
            )
        to_evict.append(pod)
    return to_evict, skipped


# The Chaos Toolkit activities of this module (what `chaos discover` lists); the other
# public functions serve drillkit itself and are no part of the experiment file API.
__all__ = [
    "cordon_nodes",
    "drain_zone",
    "kill_pods",
    "uncordon_nodes",
    "uncordon_zone",
]

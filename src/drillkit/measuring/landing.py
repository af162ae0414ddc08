"""Did the fault land on the drill's targets? Part of the pure core, before the verdict.

A fault that touched nothing the drill watches cannot show that the targets recover:
"no disruption observed" after it would be a claim about a test that never happened
(DESIGN section 3: ``met`` needs the fault to have landed on at least one target).

Each drillkit fault says what it disrupted (``FaultInjected.affected``). A fault lands
when it disrupted:

- a Pod in one of the drill's target namespaces, and, when the drill declares
  workloads and the fault names the Pod's owner, owned by one of them;
- or something cluster-wide that every target depends on: an ``EtcdMember`` or a
  ``Region``.

A generic Chaos Toolkit action (chaosk8s, a process) cannot say what it affected, so it
counts as landed only when the recovery condition was observed lost after it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from drillkit.model.measurement import FaultLanding
from drillkit.model.timeline import Affected, FaultInjected

CLUSTER_WIDE_KINDS = frozenset({"EtcdMember", "Region"})
"""Kinds whose disruption reaches every target of the cluster."""


def measure_landing(
    faults: Sequence[FaultInjected],
    *,
    namespaces: Collection[str],
    workloads: Collection[str],
    lost_at: Sequence[float],
) -> FaultLanding:
    """Whether any of ``faults`` landed on a target, and why each that missed did.

    ``workloads`` are ``Kind/namespace/name``; ``lost_at`` holds the moments the recovery
    condition was observed not to hold.
    """
    misses: list[str] = []
    landed = False
    for fault in faults:
        if fault.affected is None:
            if any(moment >= fault.at.monotonic for moment in lost_at):
                landed = True
            else:
                misses.append(
                    f"{fault.activity} cannot say what it affected, and the recovery condition "
                    "was never observed lost after it"
                )
            continue
        reason = _why_missed(fault.affected, namespaces, workloads)
        if reason is None:
            landed = True
        else:
            misses.append(f"{fault.activity} affected no target: {reason}")
    return FaultLanding(landed=landed, misses=tuple(misses))


def _why_missed(
    affected: Sequence[Affected], namespaces: Collection[str], workloads: Collection[str]
) -> str | None:
    """None when one of ``affected`` is a target, else why none is, for people."""
    if any(item.kind in CLUSTER_WIDE_KINDS for item in affected):
        return None
    pods = [item for item in affected if item.kind == "Pod"]
    in_scope = [pod for pod in pods if pod.namespace in namespaces]
    # A pod counts unless the fault names an owner that is not one of the drill's workloads.
    owned = [pod for pod in in_scope if not workloads or pod.workload in (None, *workloads)]
    if owned:
        return None
    scope = _namespaces(namespaces)
    if in_scope:
        owners = sorted({str(pod.workload) for pod in in_scope})
        return (
            f"the pods it {_actions(in_scope)} in {scope} belong to {', '.join(owners)}, "
            f"none of the drill's workloads ({', '.join(sorted(workloads))})"
        )
    if pods:
        elsewhere = sorted({str(pod.namespace) for pod in pods})
        return (
            f"the {len(pods)} pod{'s' if len(pods) != 1 else ''} it {_actions(pods)} "
            f"{'are' if len(pods) != 1 else 'is'} in {_namespaces(elsewhere)}, outside {scope}"
        )
    nodes = [item for item in affected if item.kind == "Node"]
    if nodes:
        return (
            f"no pod of {scope} was on the {_actions(nodes)} nodes "
            f"({', '.join(node.name for node in nodes)})"
        )
    if affected:
        others = ", ".join(f"{item.kind} {item.name}" for item in affected)
        return f"it {_actions(affected)} only {others}"
    return "it disrupted nothing"


def _actions(items: Sequence[Affected]) -> str:
    return " or ".join(sorted({item.action for item in items}))


def _namespaces(names: Collection[str]) -> str:
    listed = ", ".join(sorted(names))
    return f"namespace {listed}" if len(names) == 1 else f"namespaces {listed}"

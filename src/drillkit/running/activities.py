"""The registry of faults: what each activity of an experiment disrupts, and its dry-run lines.

Every drillkit fault declares its blast radius and dry-run description next to itself
(``drillkit.faults.declarations``); this module collects the declarations of every fault
module once. For chaostoolkit-kubernetes's actions, whose targets are obvious from their
arguments (pods, nodes, namespaces), it reads the radius itself. Nothing else in drillkit
switches on an activity's function name.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from drillkit.faults.declarations import FaultDeclaration, declaration_of
from drillkit.model.activities import (
    Activity,
    BlastRadius,
    Disruption,
    PodSelection,
    Section,
    TargetReader,
    kind_of_radius,
)

if TYPE_CHECKING:
    from drillkit.drivers.kubernetes import Cluster


@functools.cache
def fault_modules() -> Mapping[str, ModuleType]:
    """Every module whose functions experiments name as ``drillkit.faults.*`` activities.

    Imported when an experiment names one: they reach boto3, the lab and the restore
    engine, which an experiment of other activities never needs.
    """
    from drillkit.faults import backup, etcd, kubernetes, outage, zones

    return {module.__name__: module for module in (backup, etcd, kubernetes, outage, zones)}


KUBERNETES_MODULES = ("drillkit.faults", "drillkit.probes.kubernetes", "chaosk8s")
"""Modules whose activities act on or observe a Kubernetes cluster."""


def declaration(activity: Activity) -> FaultDeclaration | None:
    """What the drillkit fault ``activity`` calls declared; None for other activities.

    A name drillkit does not know under ``drillkit.faults`` counts as aimed by its
    arguments: chaoslib refuses it when the run starts, and until then it is judged.
    """
    if not activity.is_drillkit_fault:
        return None
    module = fault_modules().get(activity.module)
    return declaration_of(getattr(module, activity.func, None))


def disruptions(activities: Iterable[Activity]) -> list[Disruption]:
    """The method's disruptive activities and their blast radii, in method order.

    drillkit's faults, except those that put things back, and chaostoolkit-kubernetes's
    actions whose targets are obvious; rollbacks are not disruptions. Each has the kind
    its fault declares, else the one its radius shows."""
    found = []
    for activity in activities:
        if activity.section is not Section.METHOD:
            continue
        declared = declaration(activity)
        if declared is not None:
            radius = declared.blast_radius(activity.arguments) if declared.blast_radius else None
        else:
            radius = _chaosk8s_radius(activity)
        if radius is not None:
            kind = declared.disrupts if declared is not None else None
            found.append(
                Disruption(
                    activity=activity.name, radius=radius, kind=kind or kind_of_radius(radius)
                )
            )
    return found


def plan_lines(cluster: Cluster, activities: Iterable[Activity]) -> list[str]:
    """What each fault of the method would touch, as the cluster stands; reads only."""
    lines = []
    for activity in activities:
        declared = declaration(activity)
        if activity.section is Section.METHOD and declared and declared.plan:
            lines.append(declared.plan(cluster, activity))
    return lines


def no_target_warnings(
    cluster: Cluster, activities: Iterable[Activity], namespaces: Sequence[str]
) -> list[str]:
    """Why a fault of the method would land on none of ``namespaces``, where the cluster
    can tell: the run would be inconclusive, and saying so before it starts saves a drill
    that tests nothing (a zone emptied by an earlier drill, a selector matching no pod)."""
    warnings = []
    for activity in activities:
        declared = declaration(activity)
        if activity.section is not Section.METHOD or not declared or not declared.no_target:
            continue
        reason = declared.no_target(cluster, activity, namespaces)
        if reason is not None:
            warnings.append(f"{activity.name} would affect no target: {reason}")
    return warnings


def speaks_kubernetes(activity: Activity) -> bool:
    return activity.from_module(*KUBERNETES_MODULES)


def _chaosk8s_radius(activity: Activity) -> BlastRadius | None:
    """The radius of a chaostoolkit-kubernetes action; None for one that disrupts nothing."""
    module, func = activity.module, activity.func
    if not (activity.from_module("chaosk8s.") and module.endswith("actions")):
        return None
    reader = TargetReader(activity.arguments)
    if module == "chaosk8s.namespace.actions":
        if func != "delete_namespace":
            return None
        return reader.radius(namespaces=reader.texts("name"))
    if module == "chaosk8s.node.actions":
        if func not in ("cordon_node", "drain_nodes", "delete_nodes"):
            return None
        node_name = activity.arguments.get("name")
        if isinstance(node_name, str) and node_name:
            return reader.radius(named_nodes=(node_name,))
        reader.nodes_by_selector("label_selector")
        return reader.radius()
    # Every other chaosk8s action acts in one namespace, `ns`, defaulting to default.
    reader = TargetReader({"ns": "default", **activity.arguments})
    namespaces = reader.texts("ns")
    pods = None
    if module == "chaosk8s.pod.actions" and func in ("terminate_pods", "delete_pods"):
        qty = reader.number("qty", 1)
        percentage = activity.arguments.get("mode") == "percentage"
        pods = PodSelection(
            namespace=namespaces[0] if namespaces else "default",
            label_selector=reader.text("label_selector"),
            count=None if percentage else qty,
            percentage=qty if percentage else None,
            everything=func == "delete_pods" or activity.arguments.get("all") is True,
        )
    return reader.radius(namespaces=namespaces, pods=pods)

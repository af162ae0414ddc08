"""What each drillkit fault declares next to itself: what it disrupts and what a dry run says.

A fault module decorates each public activity with ``@declare(FaultDeclaration(...))``:

- ``blast_radius``: the activity's arguments to the ``BlastRadius`` the guardrails judge
  (pure); None (``DISRUPTS_NOTHING``) for an activity that puts things back or only
  reads;
- ``plan``: the line ``drill run --dry-run`` prints for it, read from the cluster as it
  stands (what it would touch);
- ``no_target``: why, as the cluster stands, it would affect none of the drill's target
  namespaces, or None;
- ``reach``: the clusters beyond the measured one it acts on (its lab, region B, etcd
  members), which ``drillkit.faults.clusters`` confirms before the run's first change;
- ``disrupts``: the kind of disruption it is, as a service's promise names it (a zone,
  the control plane, a region), for a drill that leaves ``proves.disruption`` to be
  derived; left out, its radius says (pods, nodes or a zone), or nothing does.

``drillkit.running.activities`` collects the declarations of every fault module into one
registry; nothing else switches on a fault's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from drillkit.model.activities import ZONE_LABEL, Activity, BlastRadius, TargetReader
from drillkit.model.drill import Disruption

if TYPE_CHECKING:
    from drillkit.drivers.kubernetes import Cluster

F = TypeVar("F", bound=Callable[..., object])

RadiusReader = Callable[[Mapping[str, object]], BlastRadius]
Planner = Callable[["Cluster", Activity], str]
TargetCheck = Callable[["Cluster", Activity, Sequence[str]], str | None]

_DECLARATION = "drillkit_fault"


def namespace_and_zone(arguments: Mapping[str, object]) -> BlastRadius:
    """The radius of a fault aimed by a ``namespace`` and a ``zone`` argument, if any."""
    reader = TargetReader(arguments)
    reader.zones += reader.texts("zone")
    return reader.radius(namespaces=reader.texts("namespace"))


LabCheck = Callable[[Mapping[str, object], Mapping[str, object]], bool]
"""``(arguments, configuration) -> whether the fault acts on a lab`` (found from the run's
kubeconfig)."""


def never(arguments: Mapping[str, object], configuration: Mapping[str, object]) -> bool:
    return False


def always(arguments: Mapping[str, object], configuration: Mapping[str, object]) -> bool:
    return True


@dataclass(frozen=True, kw_only=True)
class Reach:
    """The clusters beyond the measured one's API a fault acts on."""

    lab: LabCheck = never
    """It acts on the measured cluster's lab (its processes)."""
    region_b: bool = False
    """It restores into region B, the cluster its arguments or configuration name."""
    stops_region_a: bool = False
    """It stops the measured region, so region B must be another cluster."""
    etcd_members: bool = False
    """It acts on the etcd members the configuration names."""


@dataclass(frozen=True, kw_only=True)
class FaultDeclaration:
    blast_radius: RadiusReader | None = namespace_and_zone
    plan: Planner | None = None
    no_target: TargetCheck | None = None
    reach: Reach = Reach()
    disrupts: Disruption | None = None


DISRUPTS_NOTHING = FaultDeclaration(blast_radius=None)
"""An activity that undoes a fault (a rollback such as ``uncordon_zone``) or only reads
and copies (a backup, a snapshot): the guardrails have nothing to judge."""


def declare(declaration: FaultDeclaration) -> Callable[[F], F]:
    """Attach ``declaration`` to the activity function it decorates; the function is unchanged."""

    def attach(function: F) -> F:
        setattr(function, _DECLARATION, declaration)
        return function

    return attach


def declaration_of(function: object) -> FaultDeclaration:
    """What ``function`` declared; an undeclared one counts as aimed by its arguments."""
    declared = getattr(function, _DECLARATION, None)
    return declared if isinstance(declared, FaultDeclaration) else FaultDeclaration()


# -- zone faults: drain_zone (kubernetes) and stop_zone (zones) plan alike -----------------


def zone_plan(verb: str) -> Planner:
    """The dry-run line of a fault that disrupts every node of ``zone``: ``name verb zone ...``."""

    def plan(cluster: Cluster, activity: Activity) -> str:
        zone = str(activity.arguments.get("zone"))
        nodes = [n.name for n in cluster.nodes(f"{ZONE_LABEL}={zone}")]
        pods = [p for p in cluster.pods_on_nodes(nodes) if not p.terminating]
        return (
            f"{activity.name} {verb} zone {zone}: nodes {', '.join(nodes) or '(none)'}; "
            f"{len(pods)} pods on them"
        )

    return plan


def no_target_on_zone(
    cluster: Cluster, activity: Activity, namespaces: Sequence[str]
) -> str | None:
    zone = str(activity.arguments.get("zone"))
    nodes = {n.name for n in cluster.nodes(f"{ZONE_LABEL}={zone}")}
    if any(
        p.node in nodes and not p.terminating
        for namespace in namespaces
        for p in cluster.pods(namespace)
    ):
        return None
    return f"no pod of {_shown(namespaces)} is on the nodes of {zone}"


def _shown(namespaces: Sequence[str]) -> str:
    return f"namespace{'s' if len(namespaces) != 1 else ''} {', '.join(namespaces)}"


# No Chaos Toolkit activities here: the functions serve drillkit's faults and runner
# and are no part of the experiment file API.
__all__: list[str] = []

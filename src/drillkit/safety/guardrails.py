"""Guardrails: what a drill's experiment may touch, checked before its first change.

``check_guardrails`` judges the blast radius of each disruptive activity of the
method (``drillkit.model.activities.Disruption``, which the run reads from what each
fault declares, ``drillkit.running.activities``) and returns every ``Violation`` of
the drill's safety settings; ``ensure_guardrails`` raises
``GuardrailViolation`` (an ``InvalidInput``, exit 2) listing them, so a drill
that would break a rule never starts. It is a pure function: what it needs to
know about the cluster (nodes per zone, how many pods a selector matches) comes
in as arguments, so the runner asks the cluster and the tests pass numbers.

The rules, each with the id a ``Violation`` carries:

- ``protected-namespace``: an activity names a namespace the drill protects
  (kube-system, kube-public, kube-node-lease, drillkit and the drill's own list),
  unless ``safety.allow_protected_namespaces`` is set;
- ``outside-target``: an activity names a namespace that is not among the
  drill's ``target.namespaces``;
- ``max-zones``: the method disrupts more distinct zones than
  ``blast_radius.max_zones``;
- ``max-node-fraction``: the method disrupts a larger share of the nodes than
  ``blast_radius.max_node_fraction``;
- ``max-pod-fraction``: one activity kills a larger share of the pods it selects
  than ``blast_radius.max_pod_fraction``;
- ``unchecked-target``: a target the rules above cannot judge, such as a
  namespace taken from an environment variable or nodes chosen by a selector
  that cannot be counted; it is refused rather than waved through.

Only disruptive activities count: drillkit's faults (``drillkit.faults.*``, except
those that put things back, such as ``uncordon_zone``, or only read) and
chaostoolkit-kubernetes actions whose targets are obvious (pods, nodes, namespaces).
Rollbacks are not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from drillkit.errors import InvalidInput
from drillkit.model.activities import ZONE_LABEL, Disruption, PodSelection
from drillkit.model.drill import Drill

ALL_NAMESPACES = ("*", "")

PodsMatching = Callable[[str, str], int]
"""``(namespace, label selector) -> number of pods`` that the selector matches now."""
NodesMatching = Callable[[str], int]
"""``label selector -> number of nodes`` that the selector matches now."""


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One broken guardrail: which activity, which rule, and why, for people."""

    activity: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"activity {self.activity!r} [{self.rule}]: {self.message}"


class GuardrailViolation(InvalidInput):
    """The drill would break its guardrails; nothing was touched."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        lines = "\n".join(f"  - {violation}" for violation in violations)
        count = len(violations)
        super().__init__(
            f"the drill breaks {count} guardrail{'s' if count != 1 else ''}, "
            f"so nothing was changed:\n{lines}"
        )
        self.violations = tuple(violations)


def check_guardrails(
    drill: Drill,
    disruptions: Sequence[Disruption],
    *,
    nodes_per_zone: Mapping[str, int],
    pods_matching: PodsMatching | None,
    nodes_matching: NodesMatching | None = None,
) -> list[Violation]:
    """Every guardrail the method's ``disruptions`` would break, in method order; pure.

    ``nodes_per_zone`` counts the cluster's nodes by zone. ``pods_matching`` counts
    the pods a selector matches; without it, pod counts (not percentages) go
    unchecked. ``nodes_matching`` counts nodes for selectors other than a zone;
    without it such selectors are ``unchecked-target`` violations.
    """
    limits = drill.safety.blast_radius
    total_nodes = sum(nodes_per_zone.values())
    violations: list[Violation] = []
    zones_so_far: list[str] = []
    counted_nodes = 0
    zone_rule_broken = node_rule_broken = False

    for disruption in disruptions:
        fault = disruption.radius
        broken: list[tuple[str, str]] = [("unchecked-target", text) for text in fault.unchecked]
        for namespace in fault.namespaces:
            broken += _namespace_rules(drill, namespace)

        new_zones = [z for z in fault.zones if z not in zones_so_far]
        zones_so_far += new_zones
        if new_zones and len(zones_so_far) > limits.max_zones and not zone_rule_broken:
            zone_rule_broken = True
            broken.append(
                (
                    "max-zones",
                    f"disrupts zones {', '.join(zones_so_far)} ({len(zones_so_far)}), "
                    f"more than blast_radius.max_zones {limits.max_zones}",
                )
            )

        # Nodes add up over the method: a drain after a cordon disrupts both sets.
        counted_nodes += sum(nodes_per_zone.get(z, 0) for z in new_zones)
        counted_nodes += len(fault.named_nodes)
        for selector in fault.node_selectors:
            if nodes_matching is not None:
                counted_nodes += nodes_matching(selector)
                continue
            chosen = f"selector {selector!r}" if selector else "no selector (every node)"
            broken.append(
                (
                    "unchecked-target",
                    f"disrupts nodes chosen by {chosen}, which cannot be counted here; "
                    f"select them by {ZONE_LABEL}=<zone>",
                )
            )
        node_share = counted_nodes / total_nodes if total_nodes else 0.0
        if node_share > limits.max_node_fraction and not node_rule_broken:
            node_rule_broken = True
            broken.append(
                (
                    "max-node-fraction",
                    f"brings the nodes disrupted to {counted_nodes} of {total_nodes} "
                    f"({_percent(node_share)}), more than blast_radius.max_node_fraction "
                    f"{_percent(limits.max_node_fraction)}",
                )
            )

        pod_share = _pod_share(fault.pods, pods_matching) if fault.pods else None
        if pod_share is not None and pod_share[0] > limits.max_pod_fraction:
            broken.append(
                (
                    "max-pod-fraction",
                    f"kills {pod_share[1]} ({_percent(pod_share[0])}), more than "
                    f"blast_radius.max_pod_fraction {_percent(limits.max_pod_fraction)}",
                )
            )
        violations += [
            Violation(activity=disruption.activity, rule=rule, message=message)
            for rule, message in broken
        ]
    return violations


def ensure_guardrails(
    drill: Drill,
    disruptions: Sequence[Disruption],
    *,
    nodes_per_zone: Mapping[str, int],
    pods_matching: PodsMatching | None,
    nodes_matching: NodesMatching | None = None,
) -> None:
    """Raise ``GuardrailViolation`` listing every broken guardrail, one line each."""
    violations = check_guardrails(
        drill,
        disruptions,
        nodes_per_zone=nodes_per_zone,
        pods_matching=pods_matching,
        nodes_matching=nodes_matching,
    )
    if violations:
        raise GuardrailViolation(violations)


def namespaces_named(disruptions: Sequence[Disruption]) -> tuple[str, ...]:
    """The namespaces an experiment's faults name, in method order; pure.

    The targets of a plain experiment run without a drill file: the ``namespace`` of
    drillkit's faults, the ``ns`` of chaostoolkit-kubernetes actions (``default`` when left
    out, as chaosk8s does). Every namespace and its protection are still checked by
    ``check_guardrails``; one known only at run time, or every namespace (``*``), is not
    returned, so the guardrails refuse it as outside the targets.
    """
    named = [
        namespace
        for disruption in disruptions
        for namespace in disruption.radius.namespaces
        if namespace not in ALL_NAMESPACES
    ]
    return tuple(dict.fromkeys(named))


class ProductionNotConfirmed(InvalidInput):
    """A production drill was not confirmed by naming its cluster; nothing was touched."""


def ensure_production_confirmed(
    drill: Drill, *, confirmation: str | None, context: str | None
) -> str | None:
    """For a drill with ``safety.production``, raise ``ProductionNotConfirmed`` unless
    ``confirmation`` names the kube ``context`` the run would use; return what was confirmed
    (None for a drill that is not production). Naming the cluster, rather than answering
    yes, makes a confirmation for one cluster useless against another.
    """
    if not drill.safety.production:
        return None
    if context is None:
        raise ProductionNotConfirmed(
            f"drill {drill.name} is marked safety.production but its kube context is not known, "
            "so it cannot be confirmed; name the context with --context"
        )
    if confirmation != context:
        given = f" ({confirmation!r} is not it)" if confirmation else ""
        raise ProductionNotConfirmed(
            f"drill {drill.name} is marked safety.production: confirm by naming the cluster "
            f"with --confirm-production {context}{given}; nothing was changed"
        )
    return context


def _namespace_rules(drill: Drill, namespace: str) -> list[tuple[str, str]]:
    """(rule, message) for each namespace rule one targeted namespace breaks."""
    broken: list[tuple[str, str]] = []
    protected = drill.protected_namespaces()
    everywhere = namespace in ALL_NAMESPACES
    shown = "every namespace" if everywhere else f"namespace {namespace}"
    hit = sorted(protected) if everywhere else [namespace] if namespace in protected else []
    if hit and not drill.safety.allow_protected_namespaces:
        broken.append(
            (
                "protected-namespace",
                f"targets {shown}, which is protected ({', '.join(hit)}); "
                "set safety.allow_protected_namespaces to allow it",
            )
        )
    if everywhere or namespace not in drill.target.namespaces:
        broken.append(
            (
                "outside-target",
                f"targets {shown}, outside the drill's target namespaces "
                f"({', '.join(drill.target.namespaces)})",
            )
        )
    return broken


def _pod_share(
    selection: PodSelection, pods_matching: PodsMatching | None
) -> tuple[float, str] | None:
    """(fraction, description) of the selected pods an activity kills; None when unknown."""
    matching = (
        pods_matching(selection.namespace, selection.label_selector) if pods_matching else None
    )
    if selection.everything:
        return 1.0, f"every pod matching {selection.label_selector!r}"
    if selection.percentage is not None:
        if matching:
            # As kill_pods picks: at least one, rounded.
            wanted = max(1, round(matching * selection.percentage / 100))
            return wanted / matching, f"{wanted} of {matching} pods"
        return selection.percentage / 100, f"{selection.percentage:g}% of the pods"
    if selection.count is not None and matching:
        return selection.count / matching, f"{selection.count:g} of {matching} pods"
    return None


def _percent(fraction: float) -> str:
    return f"{fraction:.0%}"

"""A Chaos Toolkit experiment's activities, parsed once, and what a fault disrupts.

``parse_activities`` turns the experiment's JSON into typed ``Activity`` records, one per
activity of the steady-state hypothesis, the method (``ref`` steps resolved to the activity
they name) and the rollbacks, in that order. Their ``arguments`` are substituted from the
experiment's configuration where it holds a literal value; a value known only at run time
(an environment variable, a secret) stays ``Unresolved``, so that nothing judged before the
run mistakes a placeholder for a target.

A ``BlastRadius`` is what one disruptive activity targets, as far as the experiment says:
namespaces, zones, nodes, a pod selection, and every target that cannot be judged before
the run. Each drillkit fault declares how to read its radius from its arguments
(``drillkit.faults.declarations``); the guardrails (``drillkit.safety.guardrails``) judge
the radii against the drill's limits. ``TargetReader`` is the shared way of reading them.
Each disruption also has the kind a service's promise names (a pod, a node, a zone, the
control plane, a region), declared by its fault or read from its radius.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drillkit.model.drill import Disruption as DisruptionKind

ZONE_LABEL = "topology.kubernetes.io/zone"

_TEMPLATE = re.compile(r"^\$\{(?P<key>[^}]+)\}$")
_ZONE_SELECTOR = re.compile(rf"^\s*{re.escape(ZONE_LABEL)}\s*==?\s*(?P<zone>[A-Za-z0-9._-]+)\s*$")


class Section(StrEnum):
    """Where in the experiment an activity stands."""

    STEADY_STATE = "steady-state-hypothesis"
    METHOD = "method"
    ROLLBACKS = "rollbacks"


@dataclass(frozen=True)
class Unresolved:
    """An argument whose value comes from outside the experiment (environment, secrets)."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, kw_only=True)
class Activity:
    """One activity of an experiment, as Chaos Toolkit will call it."""

    name: str
    section: Section
    type: str
    """``action`` or ``probe``."""
    provider: str
    """``python``, ``process`` or ``http``."""
    module: str = ""
    func: str = ""
    arguments: Mapping[str, object] = field(default_factory=dict)
    """Substituted from the configuration where it is literal; else ``Unresolved``."""

    @property
    def is_drillkit_fault(self) -> bool:
        return self.provider == "python" and self.module.startswith("drillkit.faults.")

    def from_module(self, *prefixes: str) -> bool:
        """Whether a Python provider of a module starting with one of ``prefixes`` runs it."""
        return self.provider == "python" and self.module.startswith(prefixes)


def parse_activities(experiment: Mapping[str, Any]) -> tuple[Activity, ...]:
    """Every activity of ``experiment``: hypothesis probes, method, rollbacks; pure.

    A method step that is a ``ref`` becomes the activity it names; anything that is not
    an activity (a malformed entry, a ``ref`` to nothing) is left out: chaoslib's own
    validation reports it when the run starts.
    """
    configuration = experiment.get("configuration")
    values = configuration if isinstance(configuration, Mapping) else {}
    hypothesis = experiment.get("steady-state-hypothesis")
    sections = {
        Section.STEADY_STATE: hypothesis.get("probes") if isinstance(hypothesis, Mapping) else None,
        Section.METHOD: experiment.get("method"),
        Section.ROLLBACKS: experiment.get("rollbacks"),
    }
    defined = {
        item.get("name"): item
        for items in sections.values()
        for item in _entries(items)
        if "ref" not in item
    }
    parsed = []
    for section, items in sections.items():
        for position, item in enumerate(_entries(items), start=1):
            # Chaos Toolkit lets a method step refer to an activity defined elsewhere.
            activity = defined.get(item["ref"]) if "ref" in item else item
            if isinstance(activity, Mapping):
                parsed.append(parse_activity(activity, section, position, values))
    return tuple(parsed)


def _entries(items: object) -> Iterator[Mapping[str, Any]]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            yield item


def parse_activity(
    activity: Mapping[str, Any],
    section: Section,
    position: int = 1,
    values: Mapping[str, object] | None = None,
) -> Activity:
    """One activity, its arguments substituted from the configuration ``values``; pure."""
    provider = activity.get("provider")
    provider = provider if isinstance(provider, Mapping) else {}
    raw = provider.get("arguments")
    return Activity(
        name=str(activity.get("name") or f"{section} step {position}"),
        section=section,
        type=str(activity.get("type", "")),
        provider=str(provider.get("type", "")),
        module=str(provider.get("module", "")),
        func=str(provider.get("func", "")),
        arguments={
            str(k): _resolve(v, values or {})
            for k, v in (raw if isinstance(raw, Mapping) else {}).items()
        },
    )


def _resolve(value: object, configuration: Mapping[str, object]) -> object:
    # Chaos Toolkit substitutes ${key} from the configuration; only literal values can be
    # judged before the run, so anything read at run time stays unresolved.
    if not isinstance(value, str):
        return value
    match = _TEMPLATE.match(value)
    if match is None:
        return Unresolved(value) if "${" in value else value
    configured = configuration.get(match["key"])
    if isinstance(configured, str | int | float | bool):
        return configured
    return Unresolved(value)


# -- what a fault disrupts ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PodSelection:
    """The pods one activity kills: all, a count or a percentage of those a selector matches."""

    namespace: str
    label_selector: str
    count: float | None = None
    percentage: float | None = None
    everything: bool = False


@dataclass(frozen=True, kw_only=True)
class BlastRadius:
    """What one disruptive activity targets, as far as its arguments say."""

    namespaces: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    node_selectors: tuple[str, ...] = ()
    """Label selectors choosing nodes otherwise than by zone."""
    named_nodes: tuple[str, ...] = ()
    pods: PodSelection | None = None
    unchecked: tuple[str, ...] = ()
    """Targets that cannot be judged before the run, each said for people."""


@dataclass(frozen=True, kw_only=True)
class Disruption:
    """A disruptive activity of the method and its blast radius."""

    activity: str
    radius: BlastRadius
    kind: DisruptionKind | None = None
    """The kind of disruption it is, as a service's promise names it; None when neither
    its fault nor its radius says."""


def kind_of_radius(radius: BlastRadius) -> DisruptionKind | None:
    """The kind of disruption a radius shows: pods killed, nodes taken or a zone's nodes;
    None for one that shows none of them (a namespace deleted, targets known at run time)."""
    if radius.zones:
        return DisruptionKind.ZONE
    if radius.named_nodes or radius.node_selectors:
        return DisruptionKind.NODE
    if radius.pods is not None:
        return DisruptionKind.POD
    return None


class TargetReader:
    """Reads one activity's targets from its arguments, noting what cannot be judged."""

    def __init__(self, arguments: Mapping[str, object]) -> None:
        self.arguments = arguments
        self.unchecked: list[str] = []
        self.zones: list[str] = []
        self.node_selectors: list[str] = []

    def texts(self, key: str) -> tuple[str, ...]:
        """The argument ``key`` as a target, if the experiment gives one."""
        value = self.arguments.get(key)
        if value is None:
            return ()
        if isinstance(value, Unresolved):
            self.unchecked.append(
                f"its {key} {value.text!r} is only known at run time; write it in the "
                "experiment or its configuration so the guardrails can check it"
            )
            return ()
        return (str(value),)

    def text(self, key: str) -> str:
        value = self.arguments.get(key)
        return value if isinstance(value, str) else ""

    def number(self, key: str, default: object = None) -> float | None:
        value = self.arguments.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value

    def nodes_by_selector(self, key: str = "label_selector") -> None:
        """Nodes chosen by a label selector: a zone when it names one, else the selector."""
        selector = self.arguments.get(key)
        if isinstance(selector, Unresolved):
            self.unchecked.append(f"its {key} {selector.text!r} is only known at run time")
            return
        text = selector if isinstance(selector, str) else ""
        zone = _ZONE_SELECTOR.match(text)
        if zone is not None:
            self.zones.append(zone["zone"])
        else:
            self.node_selectors.append(text)

    def radius(
        self,
        *,
        namespaces: tuple[str, ...] = (),
        named_nodes: tuple[str, ...] = (),
        pods: PodSelection | None = None,
    ) -> BlastRadius:
        return BlastRadius(
            namespaces=namespaces,
            zones=tuple(self.zones),
            node_selectors=tuple(self.node_selectors),
            named_nodes=named_nodes,
            pods=pods,
            unchecked=tuple(self.unchecked),
        )

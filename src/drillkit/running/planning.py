"""What a run would do, resolved against the cluster without changing it (``--dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.errors import DrillError
from drillkit.faults.platforms import open_provider
from drillkit.model.drill import Drill
from drillkit.running import chaostoolkit
from drillkit.running.runner import (
    RunOptions,
    check_touched_clusters,
    guardrail_violations,
    uses_kubernetes,
)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    title: str
    steady_state_probes: tuple[str, ...]
    method: tuple[str, ...]
    rollbacks: tuple[str, ...]
    targets: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()
    cluster: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()
    """Faults that, as the cluster stands, would affect none of the drill's targets."""


def plan_run(drill: Drill, options: RunOptions) -> RunPlan:
    """Resolve the drill's targets and check its guardrails; reads only."""
    experiment = chaostoolkit.load_experiment(drill.experiment_path())
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    plan = RunPlan(
        title=str(experiment.get("title", "")),
        steady_state_probes=tuple(p.get("name", "?") for p in hypothesis.get("probes", [])),
        method=tuple(f"{a.get('type')} {a.get('name')}" for a in experiment.get("method", [])),
        rollbacks=tuple(str(a.get("name")) for a in experiment.get("rollbacks", [])),
    )
    if not uses_kubernetes(drill, experiment):
        return replace(plan, notes=("the experiment does not act on Kubernetes",))
    with Cluster.connect(options.kubeconfig, options.context or drill.target.context) as cluster:
        violations = guardrail_violations(cluster, drill, experiment)
        refusals = [v.message for v in violations]
        try:
            # The same check a run makes before its first change.
            touched = check_touched_clusters(cluster, experiment)
        except DrillError as error:
            refusals.append(str(error))
            return replace(
                plan,
                violations=tuple(refusals),
                cluster=cluster.api_client.configuration.host,
            )
        targets = [
            line
            for activity in experiment.get("method", [])
            for line in _describe_targets(cluster, activity)
        ]
        warnings = [
            line
            for activity in experiment.get("method", [])
            for line in _warn_if_no_target(cluster, drill, activity)
        ]
        return replace(
            plan,
            targets=tuple(targets),
            warnings=tuple(warnings),
            violations=tuple(refusals),
            notes=tuple(
                f"acts on {c.role}: {c.server} (kube-system UID {c.kube_system_uid or 'unknown'})"
                for c in touched
            ),
            cluster=cluster.api_client.configuration.host,
        )


def _describe_targets(cluster: Cluster, activity: dict[str, Any]) -> list[str]:
    provider = activity.get("provider", {})
    module, func = provider.get("module", ""), provider.get("func", "")
    arguments = provider.get("arguments", {})
    name = activity.get("name", "?")
    if func in ("drain_zone", "stop_zone") and module.startswith("drillkit.faults"):
        zone = str(arguments.get("zone"))
        zone_nodes = [n.name for n in cluster.nodes(f"{ZONE_LABEL}={zone}")]
        pods = [
            p
            for node in zone_nodes
            for p in cluster.pods("*", field_selector=f"spec.nodeName={node}")
            if not p.terminating
        ]
        verb = "drains" if func == "drain_zone" else "cuts the heartbeats of"
        return [
            f"{name} {verb} zone {zone}: nodes {', '.join(zone_nodes) or '(none)'}; "
            f"{len(pods)} pods on them"
        ]
    if func == "zone_outage" and module == "drillkit.faults.outage":
        zone, provider_name = str(arguments.get("zone")), str(arguments.get("provider", "aws"))
        with open_provider(
            provider_name,
            cluster_name=arguments.get("cluster_name"),
            region=arguments.get("region"),
            endpoint_url=arguments.get("endpoint_url"),
            lab=arguments.get("lab"),
            cluster=cluster,
        ) as provider:
            stopped = provider.find_targets(zone)
        return [
            f"{name} stops zone {zone} through {provider_name}: "
            f"{', '.join(stopped) or '(nothing running there)'}"
        ]
    if func == "kill_pods" and module.startswith("drillkit.faults"):
        namespace = str(arguments.get("namespace"))
        selector = str(arguments.get("label_selector"))
        pods = [p for p in cluster.pods(namespace, label_selector=selector) if not p.terminating]
        amount = arguments.get("count") or f"{arguments.get('percentage')}%"
        return [
            f"{name} kills {amount} of {len(pods)} pods matching {selector} in {namespace} "
            f"({arguments.get('mode', 'random')})"
        ]
    return []


def _warn_if_no_target(cluster: Cluster, drill: Drill, activity: dict[str, Any]) -> list[str]:
    """Why a fault would land on none of the drill's targets, where the cluster can tell.

    The run would be inconclusive; saying so before it starts saves a drill that tests
    nothing (a zone already emptied by an earlier drill, a selector that matches no pod).
    """
    provider = activity.get("provider", {})
    module, func = provider.get("module", ""), provider.get("func", "")
    arguments = provider.get("arguments", {})
    name = activity.get("name", "?")
    namespaces = drill.target.namespaces
    shown = f"namespace{'s' if len(namespaces) != 1 else ''} {', '.join(namespaces)}"
    if not module.startswith("drillkit.faults"):
        return []
    if func in ("drain_zone", "stop_zone"):
        zone = str(arguments.get("zone"))
        nodes = {n.name for n in cluster.nodes(f"{ZONE_LABEL}={zone}")}
        on_zone = [
            p
            for namespace in namespaces
            for p in cluster.pods(namespace)
            if p.node in nodes and not p.terminating
        ]
        if not on_zone:
            return [f"{name} would affect no target: no pod of {shown} is on the nodes of {zone}"]
    if func == "kill_pods":
        namespace = str(arguments.get("namespace"))
        selector = str(arguments.get("label_selector"))
        if namespace in namespaces and not [
            p for p in cluster.pods(namespace, label_selector=selector) if not p.terminating
        ]:
            return [f"{name} would affect no target: no pod matches {selector} in {namespace}"]
    return []

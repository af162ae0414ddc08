"""What a run would do, resolved against the cluster without changing it (``--dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import DrillError
from drillkit.model.activities import Section, parse_activities
from drillkit.model.drill import Drill
from drillkit.running import chaostoolkit
from drillkit.running.activities import no_target_warnings, plan_lines
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
    rollback_strategy: str
    """When the rollbacks run, in Chaos Toolkit's words (always, deviated, never, default)."""
    targets: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()
    cluster: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()
    """Faults that, as the cluster stands, would affect none of the drill's targets."""


def plan_run(drill: Drill, options: RunOptions) -> RunPlan:
    """Resolve the drill's targets and check its guardrails; reads only."""
    # As the run judges it: under the values given for its configuration.
    experiment = options.experiment_vars.applied_to(
        chaostoolkit.load_experiment(drill.experiment_path())
    )
    activities = parse_activities(experiment)
    by_section = {section: [a for a in activities if a.section is section] for section in Section}
    plan = RunPlan(
        title=str(experiment.get("title", "")),
        steady_state_probes=tuple(a.name for a in by_section[Section.STEADY_STATE]),
        method=tuple(f"{a.type} {a.name}" for a in by_section[Section.METHOD]),
        rollbacks=tuple(a.name for a in by_section[Section.ROLLBACKS]),
        rollback_strategy=chaostoolkit.runtime_strategies(
            experiment, drill.safety.rollback
        ).rollbacks,
    )
    if not uses_kubernetes(drill, activities):
        return replace(plan, notes=("the experiment does not act on Kubernetes",))
    with Cluster.connect(options.kubeconfig, options.context or drill.target.context) as cluster:
        violations = guardrail_violations(cluster, drill, activities)
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
        return replace(
            plan,
            targets=tuple(plan_lines(cluster, activities)),
            warnings=tuple(no_target_warnings(cluster, activities, drill.target.namespaces)),
            violations=tuple(refusals),
            notes=tuple(
                f"acts on {c.role}: {c.server} (kube-system UID {c.kube_system_uid or 'unknown'})"
                for c in touched
            ),
            cluster=cluster.api_client.configuration.host,
        )

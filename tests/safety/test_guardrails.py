"""Guardrails are a pure function of the drill, the blast radii its faults declare and a few
counts: table tests, from the experiment as a user writes it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drillkit.errors import InvalidInput
from drillkit.model.activities import Disruption, parse_activities
from drillkit.model.drill import (
    BlastRadius,
    Drill,
    Safety,
    Target,
    default_drill_for_experiment,
)
from drillkit.running.activities import disruptions
from drillkit.safety.guardrails import (
    GuardrailViolation,
    ProductionNotConfirmed,
    check_guardrails,
    ensure_guardrails,
    ensure_production_confirmed,
    namespaces_named,
)

SIX_NODES = {"zone-a": 2, "zone-b": 2, "zone-c": 2}
ZONE = "topology.kubernetes.io/zone"


def fault(
    activity: str, func: str, /, module: str = "drillkit.faults.kubernetes", **arguments: Any
) -> dict[str, Any]:
    return {
        "type": "action",
        "name": activity,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }


def chaosk8s(activity: str, module: str, func: str, /, **arguments: Any) -> dict[str, Any]:
    return fault(activity, func, module=f"chaosk8s.{module}.actions", **arguments)


def kill(name: str = "kill", namespace: str = "shop", **arguments: Any) -> dict[str, Any]:
    return fault(name, "kill_pods", label_selector="app=web", namespace=namespace, **arguments)


def drain(zone: str, name: str | None = None) -> dict[str, Any]:
    return fault(name or f"drain-{zone}", "drain_zone", zone=zone)


def disruptions_of(experiment: Mapping[str, Any]) -> list[Disruption]:
    """What the run hands the guardrails: the method's disruptions, as the faults declare."""
    return disruptions(parse_activities(experiment))


def six_web_pods(namespace: str, selector: str) -> int:
    return 6


@dataclass(frozen=True)
class Case:
    id: str
    method: list[dict[str, Any]]
    expected: list[tuple[str, str]]
    """(activity, rule) of every violation, in order."""
    namespaces: tuple[str, ...] = ("shop",)
    safety: Safety = field(default_factory=Safety)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    configuration: Mapping[str, Any] = field(default_factory=dict)
    nodes_per_zone: Mapping[str, int] = field(default_factory=lambda: SIX_NODES)
    counts_pods: bool = True
    nodes_matching: int | None = None


CASES = [
    # -- namespaces ----------------------------------------------------------------------
    Case("killing-pods-in-the-target-namespace-is-allowed", [kill(count=2)], []),
    Case(
        "kube-system-is-protected-and-outside-the-target",
        [kill(namespace="kube-system", count=1)],
        [("kill", "protected-namespace"), ("kill", "outside-target")],
    ),
    Case(
        "drillkit-namespace-is-protected-even-when-targeted",
        [kill(namespace="drillkit", count=1)],
        [("kill", "protected-namespace")],
        namespaces=("shop", "drillkit"),
    ),
    Case(
        "protected-namespace-allowed-by-opt-in",
        [kill(namespace="kube-system", count=1)],
        [],
        namespaces=("kube-system",),
        safety=Safety(allow_protected_namespaces=True),
    ),
    Case(
        "the-drills-own-protected-namespace-counts",
        [kill(namespace="payments", count=1)],
        [("kill", "protected-namespace")],
        namespaces=("shop", "payments"),
        safety=Safety(protected_namespaces=("payments",)),
    ),
    Case(
        "namespace-outside-the-target",
        [kill(namespace="billing", count=1)],
        [("kill", "outside-target")],
    ),
    Case(
        "every-namespace-reaches-the-protected-ones",
        [kill(namespace="*", count=1)],
        [("kill", "protected-namespace"), ("kill", "outside-target")],
    ),
    Case(
        "namespace-from-literal-configuration-is-checked",
        [kill(namespace="${ns}", count=1)],
        [("kill", "protected-namespace"), ("kill", "outside-target")],
        configuration={"ns": "kube-system"},
    ),
    Case(
        "namespace-from-environment-cannot-be-checked",
        [kill(namespace="${ns}", count=1)],
        [("kill", "unchecked-target")],
        configuration={"ns": {"type": "env", "key": "NAMESPACE"}},
    ),
    Case(
        "chaosk8s-terminate-pods-defaults-to-namespace-default",
        [chaosk8s("terminate", "pod", "terminate_pods", label_selector="app=web")],
        [("terminate", "outside-target")],
    ),
    Case(
        "chaosk8s-terminate-pods-in-kube-system",
        [
            chaosk8s(
                "terminate", "pod", "terminate_pods", label_selector="k8s-app=dns", ns="kube-system"
            )
        ],
        [("terminate", "protected-namespace"), ("terminate", "outside-target")],
    ),
    Case(
        "chaosk8s-delete-namespace-names-it",
        [chaosk8s("delete-ns", "namespace", "delete_namespace", name="kube-public")],
        [("delete-ns", "protected-namespace"), ("delete-ns", "outside-target")],
    ),
    # -- zones and nodes -----------------------------------------------------------------
    Case("draining-one-zone-of-three-is-allowed", [drain("zone-a")], []),
    Case(
        "draining-a-second-zone-breaks-max-zones-and-node-fraction",
        [drain("zone-a"), drain("zone-b")],
        [("drain-zone-b", "max-zones"), ("drain-zone-b", "max-node-fraction")],
    ),
    Case("the-same-zone-twice-is-one-zone", [drain("zone-a"), drain("zone-a", "again")], []),
    Case(
        "two-zones-allowed-when-declared",
        [drain("zone-a"), drain("zone-b")],
        [],
        safety=Safety(blast_radius=BlastRadius(max_zones=2, max_node_fraction=0.7)),
    ),
    Case(
        "a-lab-zone-outage-counts-as-a-zone",
        [
            fault("outage-b", "zone_outage", module="drillkit.faults.lab", zone="zone-b"),
            drain("zone-a"),
        ],
        [("drain-zone-a", "max-zones"), ("drain-zone-a", "max-node-fraction")],
    ),
    Case(
        "half-the-nodes-is-not-more-than-half",
        [drain("zone-a")],
        [],
        nodes_per_zone={"zone-a": 2, "zone-b": 2},
    ),
    Case(
        "one-zone-can-exceed-the-node-fraction",
        [drain("zone-a")],
        [("drain-zone-a", "max-node-fraction")],
        nodes_per_zone={"zone-a": 2, "zone-b": 2},
        safety=Safety(blast_radius=BlastRadius(max_node_fraction=0.4)),
    ),
    Case(
        "cordoning-a-zone-by-selector-counts-the-zone",
        [fault("cordon-b", "cordon_nodes", label_selector=f"{ZONE}=zone-b"), drain("zone-a")],
        [("drain-zone-a", "max-zones"), ("drain-zone-a", "max-node-fraction")],
    ),
    Case(
        "nodes-by-another-selector-cannot-be-counted-without-a-count",
        [fault("cordon", "cordon_nodes", label_selector="type=kwok")],
        [("cordon", "unchecked-target")],
    ),
    Case(
        "nodes-by-another-selector-are-counted-when-possible",
        [fault("cordon", "cordon_nodes", label_selector="type=kwok")],
        [("cordon", "max-node-fraction")],
        nodes_matching=6,
    ),
    Case(
        "chaosk8s-drain-nodes-of-a-zone",
        [
            chaosk8s("drain-a", "node", "drain_nodes", label_selector=f"{ZONE}=zone-a"),
            chaosk8s("drain-c", "node", "drain_nodes", label_selector=f"{ZONE}==zone-c"),
        ],
        [("drain-c", "max-zones"), ("drain-c", "max-node-fraction")],
    ),
    Case(
        "restoring-faults-and-rollbacks-are-not-disruptions",
        [fault("uncordon", "uncordon_zone", zone="zone-b"), drain("zone-a")],
        [],
        rollbacks=[drain("zone-c", "rollback-drain"), kill(namespace="kube-system", count=1)],
    ),
    # -- pods ----------------------------------------------------------------------------
    Case("killing-half-the-pods-is-allowed", [kill(count=3)], []),
    Case("killing-four-of-six-pods-is-too-many", [kill(count=4)], [("kill", "max-pod-fraction")]),
    Case("a-count-without-pod-counts-goes-unchecked", [kill(count=4)], [], counts_pods=False),
    Case("a-percentage-above-the-limit", [kill(percentage=80)], [("kill", "max-pod-fraction")]),
    Case("a-percentage-at-the-limit", [kill(percentage=50)], [], counts_pods=False),
    Case(
        "a-percentage-rounds-up-as-kill-pods-does",
        [kill(percentage=60)],
        [("kill", "max-pod-fraction")],
        # round(6 * 0.6) = 4 of 6: 67 %, although 60 % was written.
        safety=Safety(blast_radius=BlastRadius(max_pod_fraction=0.6)),
    ),
    Case(
        "chaosk8s-terminating-all-pods",
        [
            chaosk8s(
                "terminate", "pod", "terminate_pods", label_selector="app=web", ns="shop", all=True
            )
        ],
        [("terminate", "max-pod-fraction")],
    ),
    Case(
        "chaosk8s-terminating-a-percentage",
        [
            chaosk8s(
                "terminate",
                "pod",
                "terminate_pods",
                label_selector="app=web",
                ns="shop",
                mode="percentage",
                qty=90,
            )
        ],
        [("terminate", "max-pod-fraction")],
    ),
    Case(
        "a-method-step-may-refer-to-an-activity-by-name",
        [{"ref": "kill-system"}],
        [("kill-system", "protected-namespace"), ("kill-system", "outside-target")],
        rollbacks=[kill("kill-system", namespace="kube-system", count=1)],
    ),
    Case(
        "probes-and-other-providers-are-not-faults",
        [
            {
                "type": "probe",
                "name": "look",
                "provider": {
                    "type": "python",
                    "module": "drillkit.probes.kubernetes",
                    "func": "deployment_available",
                    "arguments": {"name": "coredns", "namespace": "kube-system"},
                },
            },
            {"type": "action", "name": "script", "provider": {"type": "process", "path": "true"}},
        ],
        [],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_guardrails(case: Case) -> None:
    drill = Drill(
        name="guarded",
        experiment="experiment.yaml",
        target=Target(namespaces=case.namespaces),
        safety=case.safety,
    )
    experiment = {
        "title": "t",
        "configuration": dict(case.configuration),
        "method": case.method,
        "rollbacks": case.rollbacks,
    }
    nodes = case.nodes_matching
    violations = check_guardrails(
        drill,
        disruptions_of(experiment),
        nodes_per_zone=case.nodes_per_zone,
        pods_matching=six_web_pods if case.counts_pods else None,
        nodes_matching=(lambda selector: nodes) if nodes is not None else None,
    )
    assert [(v.activity, v.rule) for v in violations] == case.expected, violations


def test_ensure_guardrails_refuses_with_one_line_per_violation() -> None:
    drill = Drill(name="guarded", experiment="e.yaml", target=Target(namespaces=("shop",)))
    experiment = {
        "method": [kill(namespace="kube-system", count=1), drain("zone-a"), drain("zone-b")]
    }
    with pytest.raises(GuardrailViolation) as raised:
        ensure_guardrails(
            drill, disruptions_of(experiment), nodes_per_zone=SIX_NODES, pods_matching=None
        )
    error = raised.value
    assert isinstance(error, InvalidInput)
    assert error.exit_code == 2
    lines = str(error).splitlines()
    assert lines[0] == "the drill breaks 4 guardrails, so nothing was changed:"
    assert lines[1:] == [f"  - {v}" for v in error.violations]
    assert "activity 'kill' [protected-namespace]: targets namespace kube-system" in lines[1]
    assert "disrupts zones zone-a, zone-b (2), more than blast_radius.max_zones 1" in lines[3]
    assert "4 of 6 (67%)" in lines[4]


def test_ensure_guardrails_passes_a_drill_within_its_limits() -> None:
    drill = Drill(name="guarded", experiment="e.yaml", target=Target(namespaces=("shop",)))
    experiment = {"method": [kill(count=2), drain("zone-a")]}
    ensure_guardrails(
        drill, disruptions_of(experiment), nodes_per_zone=SIX_NODES, pods_matching=six_web_pods
    )


# -- plain experiments: their targets are what their faults name --------------------------


@pytest.mark.parametrize(
    ("method", "configuration", "named"),
    [
        pytest.param(
            [chaosk8s("kill-web", "pod", "terminate_pods", label_selector="app=web", ns="shop")],
            {},
            ("shop",),
            id="chaosk8s-ns",
        ),
        pytest.param(
            [chaosk8s("kill-web", "pod", "terminate_pods", label_selector="app=web")],
            {},
            ("default",),
            id="chaosk8s-without-ns-acts-in-default-as-chaosk8s-does",
        ),
        pytest.param(
            [kill(namespace="${target}", count=1)],
            {"target": "shop"},
            ("shop",),
            id="drillkit-namespace-from-the-configuration",
        ),
        pytest.param(
            [kill("a", namespace="shop", count=1), kill("b", namespace="billing", count=1)],
            {},
            ("shop", "billing"),
            id="every-namespace-named-once-in-method-order",
        ),
        pytest.param(
            [kill(namespace="${target}", count=1)],
            {"target": {"type": "env", "key": "TARGET"}},
            (),
            id="a-namespace-known-only-at-run-time-is-not-a-target",
        ),
        pytest.param(
            [chaosk8s("kill-all", "pod", "terminate_pods", label_selector="app=web", ns="*")],
            {},
            (),
            id="every-namespace-is-not-a-target",
        ),
        pytest.param([drain("zone-a")], {}, (), id="a-zone-drain-names-no-namespace"),
    ],
)
def test_namespaces_named_by_a_plain_experiment(
    method: list[dict[str, Any]], configuration: Mapping[str, Any], named: tuple[str, ...]
) -> None:
    experiment = {"method": method, "configuration": configuration}

    assert namespaces_named(disruptions_of(experiment)) == named


def test_a_plain_chaosk8s_experiment_passes_with_the_namespaces_it_names() -> None:
    experiment = {
        "method": [
            chaosk8s("kill-web", "pod", "terminate_pods", label_selector="app=web", ns="shop")
        ]
    }
    drill = default_drill_for_experiment(
        Path("kill-web.yaml"), namespaces_named(disruptions_of(experiment))
    )

    assert drill.target.namespaces == ("shop",)
    assert (
        check_guardrails(
            drill, disruptions_of(experiment), nodes_per_zone=SIX_NODES, pods_matching=six_web_pods
        )
        == []
    )


@pytest.mark.parametrize(
    ("arguments", "rule"),
    [
        pytest.param({"ns": "kube-system"}, "protected-namespace", id="protected"),
        pytest.param({"ns": "shop", "qty": 6}, "max-pod-fraction", id="blast-radius"),
    ],
)
def test_a_plain_experiment_is_still_refused_what_its_drill_would_refuse(
    arguments: dict[str, Any], rule: str
) -> None:
    experiment = {
        "method": [
            chaosk8s("kill-web", "pod", "terminate_pods", label_selector="app=web", **arguments)
        ]
    }
    drill = default_drill_for_experiment(
        Path("kill-web.yaml"), namespaces_named(disruptions_of(experiment))
    )

    violations = check_guardrails(
        drill, disruptions_of(experiment), nodes_per_zone=SIX_NODES, pods_matching=six_web_pods
    )

    assert rule in [violation.rule for violation in violations]


# -- production drills: confirmed by naming the cluster -----------------------------------


def production_drill(production: bool = True) -> Drill:
    return Drill(
        name="zone-failure",
        experiment="x.yaml",
        target=Target(namespaces=("shop",)),
        safety=Safety(production=production),
    )


@pytest.mark.parametrize(
    ("confirmation", "context", "message"),
    [
        pytest.param(None, "prod-eu", "--confirm-production prod-eu", id="not-confirmed"),
        pytest.param("staging", "prod-eu", "'staging' is not it", id="another-cluster-named"),
        pytest.param("yes", "prod-eu", "'yes' is not it", id="yes-is-not-a-name"),
        pytest.param("prod-eu", None, "context is not known", id="no-context-to-confirm"),
    ],
)
def test_a_production_drill_is_refused_unless_its_cluster_is_named(
    confirmation: str | None, context: str | None, message: str
) -> None:
    with pytest.raises(ProductionNotConfirmed, match=re.escape(message)) as refused:
        ensure_production_confirmed(production_drill(), confirmation=confirmation, context=context)

    assert isinstance(refused.value, InvalidInput), "exit 2: nothing was touched"


def test_a_production_drill_confirmed_by_its_cluster_name_passes() -> None:
    confirmed = ensure_production_confirmed(
        production_drill(), confirmation="prod-eu", context="prod-eu"
    )

    assert confirmed == "prod-eu"


def test_a_drill_not_marked_production_needs_no_confirmation() -> None:
    assert (
        ensure_production_confirmed(production_drill(False), confirmation=None, context="lab")
        is None
    )

"""The experiment parsed once into typed activities, and the registry of fault declarations."""

from __future__ import annotations

from typing import Any

import pytest

from drillkit.faults.declarations import DISRUPTS_NOTHING
from drillkit.model.activities import (
    BlastRadius,
    PodSelection,
    Section,
    Unresolved,
    parse_activities,
)
from drillkit.running.activities import declaration, disruptions, fault_modules


def action(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    return {"type": "action", "name": name, "provider": provider}


EXPERIMENT: dict[str, Any] = {
    "title": "t",
    "configuration": {"zone": "zone-b", "secret_ns": {"type": "env", "key": "NS"}},
    "steady-state-hypothesis": {
        "title": "web serves",
        "probes": [
            {
                "type": "probe",
                "name": "web-ready",
                "tolerance": True,
                "provider": {"type": "http", "url": "http://127.0.0.1:1/"},
            }
        ],
    },
    "method": [
        action("drain", "drillkit.faults.kubernetes", "drain_zone", zone="${zone}"),
        {"ref": "uncordon"},
        action(
            "kill",
            "drillkit.faults.kubernetes",
            "kill_pods",
            namespace="${secret_ns}",
            label_selector="app=web",
            count=1,
        ),
    ],
    "rollbacks": [action("uncordon", "drillkit.faults.kubernetes", "uncordon_zone", zone="z")],
}


def test_the_experiment_is_parsed_once_into_typed_activities_in_order() -> None:
    activities = parse_activities(EXPERIMENT)

    assert [(a.section, a.name) for a in activities] == [
        (Section.STEADY_STATE, "web-ready"),
        (Section.METHOD, "drain"),
        (Section.METHOD, "uncordon"),
        (Section.METHOD, "kill"),
        (Section.ROLLBACKS, "uncordon"),
    ]
    drain, kill = activities[1], activities[3]
    # A literal configuration value is substituted; one read at run time is not guessed.
    assert drain.arguments["zone"] == "zone-b"
    assert kill.arguments["namespace"] == Unresolved("${secret_ns}")
    assert drain.is_drillkit_fault and not activities[0].is_drillkit_fault


def test_disruptions_read_each_faults_declared_radius_and_skip_what_puts_things_back() -> None:
    found = disruptions(parse_activities(EXPERIMENT))

    # The ref to uncordon_zone in the method disrupts nothing; rollbacks are no disruption.
    assert [d.activity for d in found] == ["drain", "kill"]
    assert found[0].radius == BlastRadius(zones=("zone-b",))
    assert found[1].radius.namespaces == ()
    assert found[1].radius.unchecked == (
        "its namespace '${secret_ns}' is only known at run time; write it in the "
        "experiment or its configuration so the guardrails can check it",
    )


def test_kill_pods_declares_the_pods_it_selects() -> None:
    experiment = {
        "method": [
            action(
                "kill",
                "drillkit.faults.kubernetes",
                "kill_pods",
                namespace="shop",
                label_selector="app=web",
                percentage=50,
            )
        ]
    }
    (found,) = disruptions(parse_activities(experiment))

    assert found.radius == BlastRadius(
        namespaces=("shop",),
        pods=PodSelection(namespace="shop", label_selector="app=web", percentage=50),
    )


@pytest.mark.parametrize("module", sorted(fault_modules()))
def test_every_public_fault_declares_itself(module: str) -> None:
    """A fault without a declaration would be judged by guesswork; each says what it does."""
    for name in fault_modules()[module].__all__:
        function = getattr(fault_modules()[module], name)
        assert hasattr(function, "drillkit_fault"), f"{module}.{name} declares nothing"
        activity = parse_activities({"method": [action(name, module, name)]})[0]
        assert declaration(activity) is function.drillkit_fault


def test_an_unknown_drillkit_fault_is_judged_by_its_arguments() -> None:
    experiment = {"method": [action("x", "drillkit.faults.kubernetes", "melt_zone", zone="a")]}
    activity = parse_activities(experiment)[0]

    assert declaration(activity) is not DISRUPTS_NOTHING
    assert disruptions([activity])[0].radius == BlastRadius(zones=("a",))


@pytest.mark.parametrize(
    ("module", "func", "arguments", "configuration", "acts_on_lab"),
    [
        ("drillkit.faults.zones", "stop_zone", {"zone": "a"}, {}, True),
        ("drillkit.faults.outage", "zone_outage", {"zone": "a", "provider": "lab"}, {}, True),
        ("drillkit.faults.outage", "zone_outage", {"zone": "a"}, {}, False),
        ("drillkit.faults.etcd", "etcd_disaster", {"mode": "data-loss"}, {}, True),
        ("drillkit.faults.etcd", "etcd_disaster", {"mode": "data-loss"}, {"etcd": {}}, False),
        ("drillkit.faults.kubernetes", "drain_zone", {"zone": "a"}, {}, False),
    ],
)
def test_each_fault_declares_whether_it_acts_on_the_lab(
    module: str,
    func: str,
    arguments: dict[str, Any],
    configuration: dict[str, Any],
    acts_on_lab: bool,
) -> None:
    activity = parse_activities({"method": [action("a", module, func, **arguments)]})[0]
    declared = declaration(activity)

    assert declared is not None
    assert declared.reach.lab(arguments, configuration) is acts_on_lab

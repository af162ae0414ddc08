"""The drill model: defaults, enums, protected namespaces, probe activities and default drills."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from drillkit.model.drill import (
    BUILTIN_PROTECTED_NAMESPACES,
    PLAIN_EXPERIMENT_TIMEOUT,
    BlastRadius,
    Drill,
    HttpProvider,
    ProbeActivity,
    ProcessProvider,
    PythonProvider,
    RollbackPolicy,
    Strategy,
    Target,
    default_drill_for_experiment,
    slugify_drill_name,
)
from drillkit.model.objectives import Objectives

MINIMAL = {"name": "zone-failure", "experiment": "x.yaml", "target": {"namespaces": ["shop"]}}


def build_drill(**sections: object) -> Drill:
    return Drill.model_validate({**MINIMAL, **sections})


def test_minimal_drill_gets_every_default() -> None:
    drill = build_drill()

    assert drill.description == ""
    assert drill.target == Target(namespaces=("shop",))
    assert drill.target.context is None
    assert drill.target.workloads == ()
    assert drill.objectives == Objectives()
    # Nobody declared a strategy, so none is claimed.
    assert drill.strategy is Strategy.UNKNOWN
    assert drill.recovery.probes == ()
    assert drill.recovery.poll_interval == timedelta(seconds=1)
    assert drill.recovery.poll_hypothesis is True
    # Unset: the experiment's runtime block decides, else always (running/chaostoolkit).
    assert drill.safety.rollback is None
    assert drill.safety.allow_protected_namespaces is False
    assert drill.safety.production is False
    assert drill.safety.blast_radius == BlastRadius(
        max_zones=1, max_node_fraction=0.5, max_pod_fraction=0.5
    )
    assert drill.markers is None
    assert drill.evidence is None
    assert drill.schedule is None


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        (30, timedelta(seconds=30)),
    ],
)
def test_objective_durations_are_read_as_people_write_them(
    written: object, expected: timedelta
) -> None:
    drill = build_drill(objectives={"rto": written, "rpo": "0s"})

    assert drill.objectives.rto == expected
    assert drill.objectives.rpo == timedelta(0)


def test_poll_interval_must_be_longer_than_zero() -> None:
    with pytest.raises(ValidationError, match="must be longer than 0s"):
        build_drill(recovery={"poll_interval": "0s"})


@pytest.mark.parametrize(
    "strategy", ["backup-restore", "pilot-light", "warm-standby", "active-active"]
)
def test_every_dr_strategy_class_is_accepted(strategy: str) -> None:
    assert build_drill(strategy=strategy).strategy == Strategy(strategy)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValidationError):
        build_drill(strategy="hot-standby")


@pytest.mark.parametrize("rollback", ["always", "on-failure", "never"])
def test_every_rollback_policy_is_accepted(rollback: str) -> None:
    assert build_drill(safety={"rollback": rollback}).safety.rollback == RollbackPolicy(rollback)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.01])
def test_blast_radius_fractions_must_lie_in_zero_to_one(fraction: float) -> None:
    with pytest.raises(ValidationError):
        BlastRadius(max_node_fraction=fraction)


def test_whole_cluster_is_an_allowed_blast_radius() -> None:
    assert BlastRadius(max_node_fraction=1, max_pod_fraction=1).max_pod_fraction == 1


def test_protected_namespaces_are_the_builtin_ones_plus_the_drills() -> None:
    drill = build_drill(safety={"protected_namespaces": ["payments", "kube-system"]})

    assert drill.protected_namespaces() == BUILTIN_PROTECTED_NAMESPACES | {"payments"}
    assert {
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "drillkit",
    } == BUILTIN_PROTECTED_NAMESPACES


def test_drill_is_frozen() -> None:
    drill = build_drill()

    with pytest.raises(ValidationError):
        drill.name = "other"  # type: ignore[misc]


def test_unknown_field_is_refused_at_any_depth() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        build_drill(safety={"blast_radius": {"max_zone": 2}})


def test_source_cannot_be_set_from_the_file() -> None:
    with pytest.raises(ValidationError):
        build_drill(source="/etc/passwd")


def test_experiment_resolves_relative_to_the_drill_file() -> None:
    drill = build_drill(experiment="../experiments/zone.yaml")

    assert drill.experiment_path() == Path("../experiments/zone.yaml")
    located = drill.with_source(Path("project/drills/zone.yaml"))
    assert located.experiment_path() == Path("project/drills/../experiments/zone.yaml")
    assert located.source == Path("project/drills/zone.yaml")
    assert drill.source is None


@pytest.mark.parametrize(
    ("cron", "accepted"),
    [
        ("0 10 * * TUE", True),
        ("*/15 9-17 * * MON-FRI", True),
        ("0 0 L * ?", True),
        ("*/10 * * * * *", True),
        ("0 10 * *", False),
        ("0 0 10 * * TUE 2025", False),
        ("0 10 * * TUE%", False),
        ("@daily", False),
    ],
)
def test_cron_expressions_need_five_or_six_fields_of_cron_characters(
    cron: str, accepted: bool
) -> None:
    schedule = {"cron": cron}
    if accepted:
        assert build_drill(schedule=schedule).schedule is not None
    else:
        with pytest.raises(ValidationError, match="invalid cron expression"):
            build_drill(schedule=schedule)


@pytest.mark.parametrize("timezone", ["Mars/Base", "utc", "", "../etc/passwd", "/etc/localtime"])
def test_schedule_time_zone_must_be_an_iana_name(timezone: str) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        build_drill(schedule={"cron": "0 10 * * TUE", "timezone": timezone})


def test_schedule_time_zone_defaults_to_utc() -> None:
    drill = build_drill(schedule={"cron": "0 10 * * TUE"})

    assert drill.schedule is not None and drill.schedule.timezone == "UTC"


# --- Chaos Toolkit activities ---------------------------------------------------------------


def test_python_probe_becomes_the_activity_chaoslib_runs() -> None:
    probe = ProbeActivity(
        type="probe",
        name="budget",
        provider=PythonProvider(
            type="python",
            module="drillkit.probes.prometheus",
            func="error_budget_remaining",
            arguments={"slo": "shop", "labels": None, "window": [30, "d"]},
        ),
        tolerance={"type": "range", "range": [0.1, 1.0]},
    )

    assert probe.to_chaostoolkit() == {
        "type": "probe",
        "name": "budget",
        "provider": {
            "type": "python",
            "module": "drillkit.probes.prometheus",
            "func": "error_budget_remaining",
            # A None inside the arguments is data, so it stays.
            "arguments": {"slo": "shop", "labels": None, "window": [30, "d"]},
        },
        "tolerance": {"type": "range", "range": [0.1, 1.0]},
    }


def test_process_probe_leaves_out_unset_options() -> None:
    probe = ProbeActivity(
        type="probe",
        name="web",
        provider=ProcessProvider(type="process", path="curl", arguments=["-f", "http://web"]),
        tolerance=0,
    )

    assert probe.to_chaostoolkit() == {
        "type": "probe",
        "name": "web",
        "provider": {"type": "process", "path": "curl", "arguments": ["-f", "http://web"]},
        "tolerance": 0,
    }


def test_process_arguments_may_be_one_string() -> None:
    provider = ProcessProvider.model_validate(
        {"type": "process", "path": "sh", "arguments": "-c true"}
    )

    assert provider.arguments == "-c true"


def test_http_probe_keeps_chaoslib_key_names() -> None:
    probe = ProbeActivity.model_validate(
        {
            "type": "probe",
            "name": "web",
            "provider": {
                "type": "http",
                "url": "http://127.0.0.1:8080/healthz",
                "timeout": 2,
                "expected_status": 200,
            },
        }
    )

    assert isinstance(probe.provider, HttpProvider)
    assert probe.to_chaostoolkit() == {
        "type": "probe",
        "name": "web",
        "provider": {
            "type": "http",
            "url": "http://127.0.0.1:8080/healthz",
            "method": "GET",
            "headers": {},
            "timeout": 2.0,
            "expected_status": 200,
        },
    }


def test_provider_kind_is_chosen_by_its_type() -> None:
    probe = ProbeActivity.model_validate(
        {"type": "probe", "name": "p", "provider": {"type": "process", "path": "true"}}
    )

    assert isinstance(probe.provider, ProcessProvider)
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        ProbeActivity.model_validate(
            {"type": "probe", "name": "p", "provider": {"type": "grpc", "path": "true"}}
        )


# --- Drills for plain experiments -------------------------------------------------------------


def test_default_drill_for_an_experiment_is_named_after_the_file() -> None:
    drill = default_drill_for_experiment(Path("experiments/Zone_Failure v2.yaml"))

    assert drill.name == "zone-failure-v2"
    assert drill.experiment_path() == Path("experiments/Zone_Failure v2.yaml")
    assert drill.target.namespaces == ("default",)
    # No promise to judge; a recovery wait that suits CI; its probes run when its own
    # hypothesis strategy says, as under chaos run.
    assert drill.objectives == Objectives(timeout=PLAIN_EXPERIMENT_TIMEOUT)
    assert drill.recovery.poll_hypothesis is False
    assert drill.safety.rollback is None
    assert drill.source is None


@pytest.mark.parametrize(
    ("stem", "name"),
    [
        ("pod-kill", "pod-kill"),
        ("--Pod  Kill--", "pod-kill"),
        ("___", "experiment"),
        ("é", "experiment"),
        ("a" * 80, "a" * 63),
        ("a" * 62 + "-b", "a" * 62),
    ],
)
def test_file_stems_become_valid_drill_names(stem: str, name: str) -> None:
    assert slugify_drill_name(stem) == name
    build_drill(name=name)

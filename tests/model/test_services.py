"""Service files and the drills that prove them: objectives as code.

A drill names the service file and the disruption it proves (``proves``), or leaves the
disruption to be derived from its method's faults; it is judged
against the service's objectives for that disruption where it sets none, and may only
tighten them. Every problem is one line naming the file, line, column and field.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.errors import InvalidInput
from drillkit.model.activities import BlastRadius
from drillkit.model.activities import Disruption as MethodDisruption
from drillkit.model.drill import Disruption as DisruptionKind
from drillkit.model.loading import load_drill
from drillkit.model.services import (
    DerivedDisruption,
    derive_disruption,
    describe_promise,
    promise_of,
)
from drillkit.running.proving import derive_proven_disruption

REPOSITORY = Path(__file__).resolve().parents[2]

SERVICE = """\
name: shop
owners: [platform-team, shop-team]
workloads:
  - {kind: Deployment, namespace: shop, name: web}
objectives:
  pod:
    rto: 1m
    prove_every: 30d
  zone:
    rto: 5m
    rpo: 1m
    prove_every: 90d
"""


def drill_file(directory: Path, *, proves: str, objectives: str = "", target: str = "") -> Path:
    """A drill in ``directory/drills`` proving the service in ``directory/services``."""
    (directory / "services").mkdir(exist_ok=True)
    (directory / "services" / "shop.yaml").write_text(SERVICE)
    (directory / "drills").mkdir(exist_ok=True)
    (directory / "drills" / "experiment.yaml").write_text("title: t\ndescription: d\nmethod: []\n")
    path = directory / "drills" / "proving.yaml"
    path.write_text(
        "name: proving\n"
        "experiment: experiment.yaml\n"
        + (target or "target:\n  namespaces: [shop]\n")
        + (f"objectives:\n{objectives}" if objectives else "")
        + f"proves: {proves}\n"
    )
    return path


def problem_of(path: Path) -> str:
    with pytest.raises(InvalidInput) as raised:
        load_drill(path)
    return str(raised.value)


def test_every_shipped_drill_proves_a_disruption_of_the_shipped_service() -> None:
    proven = {
        path.stem: (drill.service.name if drill.service else None, str(drill.proves.disruption))
        for path in sorted((REPOSITORY / "drills").glob("*.yaml"))
        if (drill := load_drill(path)).proves is not None
    }
    assert proven == {
        "cross-region-restore": ("shop", "region"),
        "cross-region-restore-velero": ("shop", "region"),
        "etcd-restore": ("shop", "control-plane"),
        "pod-kill": ("shop", "pod"),
        "pod-kill-real": ("shop-real", "pod"),
        "zone-failure": ("shop", "zone"),
        "zone-outage": ("shop", "zone"),
    }


def test_a_drill_is_judged_against_the_service_objectives_it_does_not_tighten(
    tmp_path: Path,
) -> None:
    path = drill_file(
        tmp_path,
        proves="{service: ../services/shop.yaml, disruption: zone}",
        objectives="  rto: 2m\n",
    )

    drill = load_drill(path)

    # Its own RTO is tighter and stands; the RPO it leaves out is the service's.
    assert drill.objectives.rto == timedelta(minutes=2)
    assert drill.objectives.rpo == timedelta(minutes=1)
    assert drill.service is not None and drill.service.owners == ("platform-team", "shop-team")


def test_the_promise_a_run_proves_names_the_service_file_by_its_digest(tmp_path: Path) -> None:
    path = drill_file(tmp_path, proves="{service: ../services/shop.yaml, disruption: pod}")

    promise = promise_of(load_drill(path))

    assert promise is not None
    service_file = tmp_path / "services" / "shop.yaml"
    assert promise.service_file.path == str(service_file)
    assert promise.service_file.sha256 == hashlib.sha256(service_file.read_bytes()).hexdigest()
    assert (promise.rto, promise.rpo, promise.prove_every) == (
        timedelta(minutes=1),
        None,
        timedelta(days=30),
    )
    assert describe_promise(promise) == (
        "service shop survives a pod disruption: promised RTO 1m, RPO none, proven every 30d; "
        "owners platform-team, shop-team"
    )


def test_a_drill_without_proves_keeps_its_own_objectives_and_proves_nothing() -> None:
    drill = load_drill(REPOSITORY / "tests" / "running" / "drills" / "file-service.yaml")

    assert drill.proves is None and drill.service is None and promise_of(drill) is None
    assert drill.objectives.rto == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("proves", "objectives", "target", "expected"),
    [
        pytest.param(
            "{service: ../services/shop.yaml, disruption: zone}",
            "  rto: 10m\n",
            "",
            "proving.yaml:6:8: objectives.rto: 10m is looser than service shop's zone rto of 5m; "
            "a drill may only tighten the service's objectives",
            id="looser-rto",
        ),
        pytest.param(
            "{service: ../services/shop.yaml, disruption: zone}",
            "  rpo: 2m\n",
            "",
            "proving.yaml:6:8: objectives.rpo: 2m is looser than service shop's zone rpo of 1m; "
            "a drill may only tighten the service's objectives",
            id="looser-rpo",
        ),
        pytest.param(
            "{service: ../services/shop.yaml, disruption: region}",
            "",
            "",
            "proving.yaml:5:54: proves.disruption: service shop declares no region objective "
            "(it declares: pod, zone)",
            id="undeclared-disruption",
        ),
        pytest.param(
            "{service: ../services/nowhere.yaml, disruption: pod}",
            "",
            "",
            "proving.yaml:5:19: proves.service: service file '../services/nowhere.yaml' not found",
            id="missing-service-file",
        ),
        pytest.param(
            "{service: ../services/shop.yaml, disruption: pod}",
            "",
            "target:\n  namespaces: [billing]\n",
            "proving.yaml:4:3: target: the target names none of service shop's workloads "
            "(shop/web)",
            id="target-outside-the-service",
        ),
        pytest.param(
            "{service: ../services/shop.yaml, disruption: pods}",
            "",
            "",
            "proving.yaml:5:54: proves.disruption: expected one of: pod, node, zone, region, "
            "control-plane, data-corruption, backup-restore; found the text 'pods'",
            id="unknown-disruption",
        ),
    ],
)
def test_a_drill_that_cannot_prove_its_service_is_refused_naming_the_field(
    tmp_path: Path, proves: str, objectives: str, target: str, expected: str
) -> None:
    path = drill_file(tmp_path, proves=proves, objectives=objectives, target=target)

    message = problem_of(path)

    assert message.startswith(f"{path.parent}/{expected}"), message
    assert "\n" not in message


def test_an_invalid_service_file_is_named_with_its_own_line(tmp_path: Path) -> None:
    path = drill_file(tmp_path, proves="{service: ../services/shop.yaml, disruption: pod}")
    service = tmp_path / "services" / "shop.yaml"
    service.write_text(SERVICE.replace("prove_every: 30d", "prove_every: 0s"))

    message = problem_of(path)

    assert message == (f"{service}:8:18: objectives.pod.prove_every: must be longer than 0s")


def test_drill_validate_lists_the_problem_and_exits_2(tmp_path: Path) -> None:
    path = drill_file(
        tmp_path,
        proves="{service: ../services/shop.yaml, disruption: pod}",
        objectives="  rto: 2m\n",
    )

    result = CliRunner().invoke(cli, ["validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"invalid  {path}:6:8: objectives.rto: 2m is looser than service shop's pod rto of 1m; "
        "a drill may only tighten the service's objectives"
    )


def test_drill_show_says_what_the_drill_proves_and_gives_the_service_in_json() -> None:
    drills = str(REPOSITORY / "drills")

    text = CliRunner().invoke(cli, ["show", "zone-failure", "--drills-dir", drills])
    document = CliRunner().invoke(
        cli, ["show", "zone-failure", "--drills-dir", drills, "-o", "json"]
    )

    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[1] == (
        "# proves: service shop survives a zone disruption: promised RTO 5m, RPO none, proven "
        f"every 90d; owners platform-team ({REPOSITORY / 'services' / 'shop.yaml'})"
    )
    assert document.exit_code == 0, document.output
    shown = json.loads(document.output)
    assert shown["drill"]["proves"] == {"service": "../services/shop.yaml", "disruption": "zone"}
    assert shown["service"]["objectives"]["zone"] == {
        "rto": "5m",
        "rpo": None,
        "prove_every": "90d",
    }


def test_drill_validate_checks_every_service_file_too(tmp_path: Path) -> None:
    drill_file(tmp_path, proves="{service: ../services/shop.yaml, disruption: pod}")
    broken = tmp_path / "services" / "billing.yaml"
    broken.write_text("name: billing\nowners: []\n")
    directories = (
        "--drills-dir",
        str(tmp_path / "drills"),
        "--services-dir",
        str(tmp_path / "services"),
    )

    result = CliRunner().invoke(cli, ["validate", *directories, "-o", "json"])

    assert result.exit_code == 2
    kinds = {
        Path(f["file"]).name: (f["kind"], f["drill"]) for f in json.loads(result.stdout)["files"]
    }
    assert kinds == {
        "experiment.yaml": ("experiment", None),
        "proving.yaml": ("drill", "proving"),
        "billing.yaml": ("service", None),
        "shop.yaml": ("service", "shop"),
    }
    assert result.stderr.splitlines()[-1].startswith(f"invalid  {broken}:2:9: owners: ")


def fault(activity: str, kind: str | None) -> MethodDisruption:
    return MethodDisruption(
        activity=activity,
        radius=BlastRadius(),
        kind=DisruptionKind(kind) if kind is not None else None,
    )


@pytest.mark.parametrize(
    ("method", "disruption", "derivation"),
    [
        pytest.param(
            [fault("kill-web", "pod")], "pod", "derived from fault kill-web", id="one-fault"
        ),
        pytest.param(
            [fault("kill-web", "pod"), fault("drain-zone-a", "zone"), fault("kill-db", "pod")],
            "zone",
            "derived from fault drain-zone-a, the widest of the method's faults "
            "(they also disrupt: pod)",
            id="several-kinds-take-the-widest",
        ),
        pytest.param(
            [fault("lose-etcd", "control-plane"), fault("lose-region", "region")],
            "region",
            "derived from fault lose-region, the widest of the method's faults "
            "(they also disrupt: control-plane)",
            id="a-region-is-wider-than-its-control-plane",
        ),
        pytest.param(
            [fault("delete-namespace", None), fault("drain-node", "node")],
            "node",
            "derived from fault drain-node",
            id="a-fault-of-no-kind-is-passed-over",
        ),
        pytest.param(
            [fault("delete-namespace", None)],
            None,
            "no fault of its method (delete-namespace) says which kind of disruption it is; "
            "name it in proves.disruption",
            id="no-kind",
        ),
        pytest.param(
            [], None, "its method has no fault; name it in proves.disruption", id="no-fault"
        ),
    ],
)
def test_the_disruption_a_drill_proves_is_derived_from_its_faults(
    method: list[MethodDisruption], disruption: str | None, derivation: str
) -> None:
    derived = derive_disruption(method)

    assert derived == DerivedDisruption(
        disruption=DisruptionKind(disruption) if disruption is not None else None,
        derivation=derivation,
    )


DRAIN_AND_KILL = """\
title: drain a zone after killing a pod
description: two faults of two kinds
method:
  - type: action
    name: kill-one-web
    provider:
      type: python
      module: drillkit.faults.kubernetes
      func: kill_pods
      arguments: {namespace: shop, label_selector: app=web, count: 1}
  - type: action
    name: drain-zone-a
    provider:
      type: python
      module: drillkit.faults.kubernetes
      func: drain_zone
      arguments: {zone: zone-a}
"""


def test_drill_show_marks_the_disruption_it_derived_from_the_faults(tmp_path: Path) -> None:
    path = drill_file(tmp_path, proves="{service: ../services/shop.yaml}")
    (tmp_path / "drills" / "experiment.yaml").write_text(DRAIN_AND_KILL)

    text = CliRunner().invoke(cli, ["show", str(path)])
    document = CliRunner().invoke(cli, ["show", str(path), "-o", "json"])

    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[1] == (
        "# proves: service shop survives a zone disruption: promised RTO 5m, RPO 1m, proven "
        f"every 90d; owners platform-team, shop-team ({tmp_path / 'services' / 'shop.yaml'}) "
        "(derived from fault drain-zone-a, the widest of the method's faults (they also "
        "disrupt: pod))"
    )
    assert document.exit_code == 0, document.output
    shown = json.loads(document.output)
    assert shown["drill"]["proves"] == {"service": "../services/shop.yaml", "disruption": "zone"}
    assert shown["drill"]["objectives"]["rto"] == "5m"
    assert shown["disruption_derived"].startswith("derived from fault drain-zone-a")


def test_drill_show_names_no_derivation_for_a_disruption_the_drill_names() -> None:
    document = CliRunner().invoke(
        cli, ["show", "zone-failure", "--drills-dir", str(REPOSITORY / "drills"), "-o", "json"]
    )

    assert json.loads(document.output)["disruption_derived"] is None


def test_a_drill_whose_faults_derive_no_disruption_is_refused_saying_what_is_missing(
    tmp_path: Path,
) -> None:
    path = drill_file(tmp_path, proves="{service: ../services/shop.yaml}")

    result = CliRunner().invoke(cli, ["validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"invalid  {path}:5:9: proves: names no disruption: its method has no fault; "
        "name it in proves.disruption"
    )


@pytest.mark.parametrize("path", sorted((REPOSITORY / "drills").glob("*.yaml")), ids=str)
def test_every_shipped_drill_s_faults_derive_the_disruption_it_names(path: Path) -> None:
    drill = load_drill(path)

    derived = derive_proven_disruption(drill)

    assert drill.proves is not None
    assert derived.disruption == drill.proves.disruption, derived.derivation

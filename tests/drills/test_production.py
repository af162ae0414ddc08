"""A drill marked ``safety.production`` runs only when the operator names its cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drillkit.lab.cluster import Lab
from tests.drills.support import run_drill
from tests.drills.test_verdicts import deploy_web, emptying_drill, zone_of_a_web_pod

pytestmark = pytest.mark.lab


def production(drill_path: Path) -> Path:
    drill = yaml.safe_load(drill_path.read_text())
    drill["safety"] = {"production": True}
    drill_path.write_text(yaml.safe_dump(drill))
    return drill_path


def test_a_production_drill_without_confirmation_exits_2_and_changes_nothing(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    before = deploy_web(lab, namespace)
    zone = zone_of_a_web_pod(lab, namespace)
    drill = production(emptying_drill(tmp_path, namespace, zone))

    refused = run_drill(lab, drill, tmp_path / "reports")
    wrong = run_drill(lab, drill, tmp_path / "reports", "--confirm-production", "another-cluster")

    context = f"{lab.shape.name}-runner"
    for result in (refused, wrong):
        assert result.returncode == 2, result.stderr
        assert f"--confirm-production {context}" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").rglob("*.json"))
    with lab.connect() as cluster:
        assert {p.name for p in cluster.pods(namespace)} == before, "nothing was touched"


def test_a_production_drill_confirmed_by_naming_its_context_runs_and_records_it(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    deploy_web(lab, namespace)
    zone = zone_of_a_web_pod(lab, namespace)
    drill = production(emptying_drill(tmp_path, namespace, zone))
    context = f"{lab.shape.name}-runner"

    result = run_drill(lab, drill, tmp_path / "reports", "--confirm-production", context)

    assert result.returncode == 0, result.stderr
    accountability = result.report()["accountability"]
    assert accountability["production_confirmation"] == (
        f"context {context}, named on the command line"
    )
    assert "Production run confirmed" in (result.report_dir / "report.md").read_text()

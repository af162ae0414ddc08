"""A drill marked ``safety.production`` runs only when the operator names its cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from drillkit.lab.cluster import Lab
from tests.drills.support import drill_environment, run_cli, run_drill
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


def test_a_production_drill_is_scheduled_only_with_a_confirmation_that_its_runs_carry(
    lab: Lab, namespace: str, tmp_path: Path
) -> None:
    deploy_web(lab, namespace)
    zone = zone_of_a_web_pod(lab, namespace)
    drill = production(emptying_drill(tmp_path / "drills", namespace, zone))
    context = f"{lab.shape.name}-runner"
    env = drill_environment(lab)
    database = ("--database", f"sqlite:///{tmp_path / 'scheduler.db'}")
    add = ("schedule", "add", drill.stem, "--drills-dir", str(drill.parent), "--cron", "0 4 * * *")

    refused = run_cli(env, *add, *database)
    added = run_cli(env, *add, *database, "--confirm-production", context)
    fired = run_cli(
        env,
        *("schedule", "fire", drill.stem, "--drills-dir", str(drill.parent), *database),
        *("--reports-dir", str(tmp_path / "reports"), "--output", "json"),
    )

    assert refused.returncode == 2, refused.stderr
    assert "--confirm-production CONTEXT" in refused.stderr
    assert added.returncode == 0, added.stderr
    assert fired.returncode == 0, fired.stderr + fired.stdout
    (report,) = (tmp_path / "reports").rglob("report.json")
    confirmation = json.loads(report.read_text())["accountability"]["production_confirmation"]
    assert confirmation.startswith(f"context {context}, named by ")
    assert confirmation.endswith(f"when schedule {drill.stem} was added")

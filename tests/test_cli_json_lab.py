"""``-o json`` of the commands that need a cluster: the lab's status, recovery, and a
backup taken, listed, verified and restored, each checked against its schema."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from drillkit.lab.cluster import Lab
from tests.cli_schemas import assert_matches_schema
from tests.drills.support import drill_environment, run_cli

pytestmark = pytest.mark.lab


def drill(lab: Lab, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = drill_environment(lab)
    for name in ("DRILL_SIGNING_KEY", "DRILL_VERIFY_KEY", "DRILLKIT_BACKUP_STORE"):
        environment.pop(name, None)
    return run_cli(environment, *arguments)


def test_lab_status_o_json_gives_the_components_and_zones_of_a_running_lab(lab: Lab) -> None:
    result = drill(lab, "lab", "status", "--name", lab.shape.name, "-o", "json")

    assert result.returncode == 0, result.stderr
    (status,) = assert_matches_schema("lab-status", result.stdout)
    assert (status["name"], status["state"]) == (lab.shape.name, "running")
    assert all(component["ready"] for component in status["components"])
    assert sum(zone["nodes"] for zone in status["zones"]) == (
        lab.shape.zones * lab.shape.nodes_per_zone
    )


def test_recover_o_json_against_a_lab_with_nothing_left_is_an_empty_document(
    lab: Lab, tmp_path: Path
) -> None:
    result = drill(lab, "recover", "--reports-dir", str(tmp_path / "reports"), "-o", "json")

    assert result.returncode == 0, result.stderr
    document = assert_matches_schema("recover", result.stdout)
    assert document == {"actions": [], "finalised": [], "error": None}


def test_a_backup_created_listed_verified_and_restored_with_o_json(
    lab: Lab, tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    admin = ("--context", lab.admin_context)

    created = drill(lab, "backup", "create", "-n", "shop", "--store", store, *admin, "-o", "json")
    assert created.returncode == 0, created.stderr
    backup = assert_matches_schema("backup-create", created.stdout)
    listed = drill(lab, "backup", "list", "--store", store, "-o", "json")
    assert assert_matches_schema("backup-list", listed.stdout) == [backup]
    verified = drill(lab, "backup", "verify", backup["name"], "--store", store, "-o", "json")
    assert assert_matches_schema("backup-verify", verified.stdout) == {**backup, "verified": True}
    restored = drill(
        lab,
        *("backup", "restore", backup["name"], "--store", store, *admin),
        *("--map", "shop=shop-json", "--cleanup", "-o", "json"),
    )
    assert restored.returncode == 0, restored.stderr
    document = assert_matches_schema("backup-restore", restored.stdout)
    assert document["backup"] == backup["name"] and "cleanup" in document

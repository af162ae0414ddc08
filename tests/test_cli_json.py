"""``-o json`` of the commands that need no cluster and no recorded runs: drill files, game
days, the lab (none), recovery (no cluster), the control catalogue, a backup store.

Each document is checked against its schema in ``schemas/cli/``; the commands that read
reports, run drills or fire schedules are checked beside their other tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillkit.cli.main import cli
from tests.cli_schemas import assert_matches_schema

REPOSITORY = Path(__file__).resolve().parents[1]
DRILLS = REPOSITORY / "drills"


@pytest.fixture(autouse=True)
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A drillkit state home of its own, with no lab and no undo records."""
    home = tmp_path / "drillkit-home"
    monkeypatch.setenv("DRILLKIT_HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    return home


def drill(*arguments: str) -> Result:
    return CliRunner().invoke(cli, list(arguments))


def test_list_o_json_gives_each_drill_with_its_objectives_and_each_broken_file_with_why(
    tmp_path: Path,
) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    (tmp_path / "experiments").symlink_to(REPOSITORY / "experiments")
    (tmp_path / "services").symlink_to(REPOSITORY / "services")
    (drills / "pod-kill.yaml").write_bytes((DRILLS / "pod-kill.yaml").read_bytes())
    (drills / "broken.yaml").write_text("name: broken\n")

    result = drill("list", "--drills-dir", str(drills), "-o", "json")

    assert result.exit_code == 0, result.output
    broken, pod_kill = assert_matches_schema("list", result.stdout)
    assert (broken["name"], broken["strategy"]) == ("broken", None)
    assert broken["problem"].startswith(str(drills / "broken.yaml"))
    assert pod_kill["name"] == "pod-kill" and pod_kill["problem"] is None
    assert pod_kill["rto_seconds"] is not None


def test_list_o_json_of_an_empty_directory_is_an_empty_list(tmp_path: Path) -> None:
    result = drill("list", "--drills-dir", str(tmp_path), "-o", "json")

    assert result.exit_code == 0
    assert assert_matches_schema("list", result.stdout) == []


def test_validate_o_json_names_every_file_and_exits_2_when_one_is_invalid(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n")

    valid = drill("validate", "--drills-dir", str(DRILLS), "-o", "json")
    invalid = drill("validate", str(DRILLS / "pod-kill.yaml"), str(broken), "-o", "json")

    assert valid.exit_code == 0, valid.output
    document = assert_matches_schema("validate", valid.stdout)
    assert document["valid"] is True
    assert {f["drill"] for f in document["files"]} >= {"pod-kill", "zone-failure"}
    assert invalid.exit_code == 2
    document = assert_matches_schema("validate", invalid.stdout)
    assert document["valid"] is False
    # Every problem of the file (no experiment, no target), each also a line on stderr.
    assert [len(f["problems"]) for f in document["files"]] == [0, 2]
    assert invalid.stderr.splitlines() == [
        f"invalid  {problem}" for problem in document["files"][1]["problems"]
    ]
    assert invalid.stderr.startswith(f"invalid  {broken}")


def test_show_o_json_gives_the_drill_as_drill_run_uses_it() -> None:
    result = drill("show", "zone-failure", "--drills-dir", str(DRILLS), "-o", "json")

    assert result.exit_code == 0, result.output
    document = assert_matches_schema("show", result.stdout)
    assert document["source"] == str(DRILLS / "zone-failure.yaml")
    assert document["drill"]["name"] == "zone-failure"


def test_lab_status_o_json_without_a_lab_is_an_empty_list() -> None:
    result = drill("lab", "status", "-o", "json")

    assert result.exit_code == 0, result.output
    assert assert_matches_schema("lab-status", result.stdout) == []


def test_recover_o_json_without_a_cluster_says_why_on_stderr_and_in_the_document(
    tmp_path: Path,
) -> None:
    result = drill("recover", "--reports-dir", str(tmp_path / "reports"), "-o", "json")

    document = assert_matches_schema("recover", result.stdout)
    assert (document["actions"], document["finalised"]) == ([], [])
    assert document["error"] is not None
    without_json = drill("recover", "--reports-dir", str(tmp_path / "reports"))
    assert (result.exit_code, type(result.exception)) == (
        without_json.exit_code,
        type(without_json.exception),
    )
    assert str(result.exception) == str(without_json.exception) == document["error"]


def test_evidence_controls_o_json_lists_the_catalogue() -> None:
    result = drill("evidence", "controls", "-o", "json")

    assert result.exit_code == 0, result.output
    controls = assert_matches_schema("evidence-controls", result.stdout)
    assert "SOC2-A1.3" in {control["id"] for control in controls}


def test_gameday_list_o_json_gives_each_game_day_as_loaded() -> None:
    result = drill("gameday", "list", "--gamedays-dir", str(REPOSITORY / "gamedays"), "-o", "json")

    assert result.exit_code == 0, result.output
    (listed,) = assert_matches_schema("gameday-list", result.stdout)
    assert listed["name"] == "quarterly-resilience" and listed["problem"] is None
    assert listed["gameday"]["steps"]


def test_gameday_list_o_json_names_an_invalid_game_day_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\n")

    result = drill("gameday", "list", "--gamedays-dir", str(tmp_path), "-o", "json")

    assert result.exit_code == 2
    (listed,) = assert_matches_schema("gameday-list", result.stdout)
    assert listed["gameday"] is None and listed["problem"]


def test_backup_list_o_json_of_an_empty_store_is_an_empty_list(tmp_path: Path) -> None:
    result = drill("backup", "list", "--store", str(tmp_path / "store"), "-o", "json")

    assert result.exit_code == 0, result.output
    assert assert_matches_schema("backup-list", result.stdout) == []

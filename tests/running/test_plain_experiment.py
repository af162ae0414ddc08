"""``drill run PATH`` of a plain experiment: its targets, stated or named, and bad ones refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.running.test_drill_run import DRILLS, drill_command, environment


def run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return drill(tmp_path, "run", *arguments, "--reports-dir", str(tmp_path / "reports"))


def drill(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command(*arguments),
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_namespace_is_refused_for_a_drill_file_which_declares_its_own(tmp_path: Path) -> None:
    result = run(tmp_path, str(DRILLS / "file-service.yaml"), "--namespace", "shop")

    assert result.returncode == 2
    assert "--namespace is for a plain experiment" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()


def test_an_invalid_namespace_is_one_line_naming_the_experiment(tmp_path: Path) -> None:
    experiment = DRILLS / "file-service-experiment.yaml"

    result = run(tmp_path, str(experiment), "--namespace", "Not_A_Namespace")

    assert result.returncode == 2
    assert f"{experiment}: namespace 'Not_A_Namespace' is not a valid namespace name" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_drill_show_of_a_plain_chaosk8s_experiment_targets_the_namespace_it_names(
    tmp_path: Path,
) -> None:
    experiment = {
        "version": "1.0.0",
        "title": "web survives losing a pod",
        "description": "chaosk8s only",
        "method": [
            {
                "type": "action",
                "name": "terminate-a-web-pod",
                "provider": {
                    "type": "python",
                    "module": "chaosk8s.pod.actions",
                    "func": "terminate_pods",
                    "arguments": {"label_selector": "app=web", "ns": "shop"},
                },
            }
        ],
    }
    path = tmp_path / "terminate.yaml"
    path.write_text(yaml.safe_dump(experiment))

    result = subprocess.run(
        drill_command("show", str(path)),
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["target"]["namespaces"] == ["shop"]
    assert shown["strategy"] == "unknown"


def test_an_experiment_is_known_by_what_it_holds_not_by_its_name(tmp_path: Path) -> None:
    # A YAML experiment without a method is still an experiment: Chaos Toolkit's own
    # validation says what is wrong, not the drill file loader.
    path = tmp_path / "no-method.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "description": "d"}))

    result = drill(tmp_path, "validate", str(path))

    assert result.returncode == 2
    assert f"{path}: invalid experiment:" in result.stderr
    assert "method" in result.stderr
    assert "name" not in result.stderr.replace(str(path), "")


def test_an_experiment_that_stops_itself_is_reported_interrupted_by_itself(
    tmp_path: Path,
) -> None:
    # chaoslib.exit.exit_gracefully is SIGUSR1, Chaos Toolkit's own: not a guard of drill's.
    experiment = {
        "title": "stops itself",
        "description": "an activity asks Chaos Toolkit to stop, gracefully",
        "method": [
            {
                "type": "action",
                "name": "leave",
                "provider": {
                    "type": "python",
                    "module": "chaoslib.exit",
                    "func": "exit_gracefully",
                },
            },
            {"type": "action", "name": "never", "provider": {"type": "process", "path": "true"}},
        ],
        "rollbacks": [
            {"type": "action", "name": "undo", "provider": {"type": "process", "path": "true"}}
        ],
    }
    path = tmp_path / "stops-itself.json"
    path.write_text(json.dumps(experiment))

    result = run(tmp_path, str(path), "--output", "json")

    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["verdict"]) == ("interrupted", "aborted")
    assert summary["findings"][0].startswith(
        "interrupted by the experiment itself (a control or an activity stopped it): "
        "the drill was stopped and rolled back"
    )
    journal = json.loads((Path(summary["report_dir"]) / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert [entry["activity"]["name"] for entry in journal["rollbacks"]] == ["undo"]
    assert "Traceback" not in result.stderr

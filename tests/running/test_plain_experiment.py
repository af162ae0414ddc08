"""``drill run PATH`` of a plain experiment: its targets, stated or named, and bad ones refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.running.test_drill_run import DRILLS, drill_command, environment


def run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command("run", *arguments, "--reports-dir", str(tmp_path / "reports")),
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

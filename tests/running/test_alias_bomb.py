"""A YAML alias bomb in a plain experiment is refused, and secret collection stays bounded.

Nine levels of nine aliases load in a moment (PyYAML shares the nested lists) but
stand for 9^9 strings: anything that walks the experiment as a tree (collecting
secrets, redacting or writing the journal) would run for hours. ``drill validate`` and
``drill run`` refuse such an experiment as invalid input, before anything runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from drillkit.running.redaction import collect_secrets
from tests.helpers import drill_command

BOMB_LEVELS = "bcdefghi"


def write_bomb_experiment(path: Path) -> Path:
    lines = [
        "version: 1.0.0",
        "title: an experiment with an alias bomb in it",
        "description: nine levels of nine aliases",
        "configuration:",
        "  laughs:",
        '    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    previous = "a"
    for name in BOMB_LEVELS:
        lines.append(f"    {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
        previous = name
    lines += [
        "steady-state-hypothesis:",
        "  title: true holds",
        "  probes:",
        "    - {type: probe, name: truth, tolerance: 0, provider: {type: process, path: 'true'}}",
        "method:",
        "  - {type: action, name: nothing, provider: {type: process, path: 'true'}}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def drill(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    return subprocess.run(
        drill_command(*arguments),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def test_drill_run_refuses_an_experiment_that_is_an_alias_bomb(tmp_path: Path) -> None:
    experiment = write_bomb_experiment(tmp_path / "bomb.yaml")
    result = drill(tmp_path, "run", str(experiment), "--reports-dir", str(tmp_path / "reports"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(experiment) in lines[0]
    assert "aliases" in lines[0]
    assert not (tmp_path / "reports").exists()


def test_drill_validate_refuses_an_experiment_that_is_an_alias_bomb(tmp_path: Path) -> None:
    experiment = write_bomb_experiment(tmp_path / "bomb.yaml")
    result = drill(tmp_path, "validate", str(experiment))
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(experiment) in result.stdout + result.stderr


@pytest.mark.timeout(60)
def test_secret_collection_visits_a_shared_value_once() -> None:
    # The same shape as the bomb, built directly: 9^9 leaves when walked as a tree.
    level: Any = ["lol"] * 8 + ["bomb-secret-5e2d"]
    for _ in BOMB_LEVELS:
        level = [level] * 9
    experiment = {
        "title": "bomb",
        "configuration": {"laughs": level, "api_token": level},
        "secrets": {"nested": {"deeper": level}},
    }
    secrets = collect_secrets(experiment=experiment, drill_document={}, environ={})
    assert "bomb-secret-5e2d" in secrets.values

"""A kubeconfig that cannot be used is bad input: one line naming the file, exit 2.

Malformed YAML, a document of the wrong shape, binary data, a file that does not
exist and a context it does not have are each the user's to fix, before anything is
touched; none of them may end in a traceback, nor in exit 3 ("could not run").
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import InvalidInput
from tests.helpers import drill_command

REPOSITORY = Path(__file__).resolve().parents[2]


def valid_kubeconfig(path: Path) -> Path:
    """A kubeconfig that loads; its server (a loopback port) is never dialled here."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "known", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "known",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def malformed(path: Path) -> Path:
    path.write_text("apiVersion: v1\nclusters:\n  - name: c\n    cluster: {server: [unclosed\n")
    return path


def list_shaped(path: Path) -> Path:
    path.write_text("- apiVersion: v1\n- kind: Config\n")
    return path


def binary(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 4)
    return path


def clusters_of_the_wrong_type(path: Path) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters: 5\ncontexts: [{name: c, context: "
        "{cluster: c, user: u}}]\nusers: []\ncurrent-context: c\n"
    )
    return path


def missing(path: Path) -> Path:
    return path


BAD_KUBECONFIGS: dict[str, Callable[[Path], Path]] = {
    "malformed-yaml": malformed,
    "list-shaped": list_shaped,
    "binary": binary,
    "clusters-not-a-list": clusters_of_the_wrong_type,
    "nonexistent": missing,
}


def drill(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, DRILLKIT_HOME=str(tmp_path / "home"))
    environment.pop("KUBERNETES_CONTEXT", None)
    return subprocess.run(
        drill_command(*arguments),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def run_zone_failure(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return drill(
        tmp_path,
        "run",
        "zone-failure",
        "--drills-dir",
        str(REPOSITORY / "drills"),
        "--reports-dir",
        str(tmp_path / "reports"),
        *arguments,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess[str], named: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("drill: error: "), result.stderr
    assert named in lines[0]


@pytest.mark.parametrize("make", list(BAD_KUBECONFIGS.values()), ids=list(BAD_KUBECONFIGS))
def test_an_unusable_kubeconfig_is_invalid_input_naming_the_file(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path / "kubeconfig.yaml")
    with pytest.raises(InvalidInput) as raised:
        Cluster.connect(path)
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = malformed(tmp_path / "kubeconfig.yaml")
    with pytest.raises(InvalidInput) as raised:
        Cluster.connect(path)
    # Where the parser found the problem: the end of the file, after line 4.
    assert f"{path}:5:" in str(raised.value)


def test_an_unknown_context_is_invalid_input_naming_it(tmp_path: Path) -> None:
    path = valid_kubeconfig(tmp_path / "kubeconfig.yaml")
    with pytest.raises(InvalidInput) as raised:
        Cluster.connect(path, "nowhere")
    assert "nowhere" in str(raised.value)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("make", list(BAD_KUBECONFIGS.values()), ids=list(BAD_KUBECONFIGS))
def test_drill_run_and_recover_exit_2_on_an_unusable_kubeconfig(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path / "kubeconfig.yaml")
    assert_one_line_naming(run_zone_failure(tmp_path, "--kubeconfig", str(path)), str(path))
    assert_one_line_naming(drill(tmp_path, "recover", "--kubeconfig", str(path)), str(path))
    assert not (tmp_path / "reports").exists()


def test_drill_run_and_recover_exit_2_on_an_unknown_context(tmp_path: Path) -> None:
    path = valid_kubeconfig(tmp_path / "kubeconfig.yaml")
    arguments = ("--kubeconfig", str(path), "--context", "nowhere")
    assert_one_line_naming(run_zone_failure(tmp_path, *arguments), "nowhere")
    assert_one_line_naming(drill(tmp_path, "recover", *arguments), "nowhere")

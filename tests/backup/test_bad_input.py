"""Bad input to backup activities and commands: one line naming the field; nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.errors import DrillError, InvalidInput
from drillkit.faults.backup import region_disaster, restore_backup
from drillkit.model.drill import Drill, Markers
from drillkit.running.markers import connect_marker_reader


def markers(**read_from: str) -> Markers:
    return Markers.model_validate(
        {
            "interval": "1s",
            "store": {"type": "configmap", "namespace": "shop", "name": "drill-markers"},
            "read_from": read_from,
        }
    )


def test_markers_are_read_from_the_named_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "region-b.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
        "clusters: [{name: b, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: b, user: {token: x}}]\n"
        "contexts: [{name: b, context: {cluster: b, user: b}}]\n"
    )
    reader = connect_marker_reader(
        markers(kubeconfig=str(kubeconfig), namespace="shop-b"), None, "region-a-runner"
    )
    assert reader is not None
    with reader:
        assert reader.context_name == "b"
        assert reader.api_client.configuration.host == "https://127.0.0.1:1"
    assert (
        connect_marker_reader(
            Markers.model_validate(
                {"store": {"type": "configmap", "namespace": "shop", "name": "m"}}
            ),
            None,
            None,
        )
        is None
    )


def test_an_unset_variable_in_read_from_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KUBECONFIG", raising=False)
    with pytest.raises(
        InvalidInput,
        match=r"markers.read_from.kubeconfig .*: the environment variable NO_SUCH_KUBECONFIG "
        "is not set",
    ):
        connect_marker_reader(markers(kubeconfig="$NO_SUCH_KUBECONFIG"), None, None)


def test_an_unknown_read_from_field_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"read_from\.cluster"):
        Drill.model_validate(
            {
                "name": "x",
                "experiment": "x.yaml",
                "target": {"namespaces": ["shop"]},
                "markers": {
                    "store": {"type": "configmap", "namespace": "shop", "name": "m"},
                    "read_from": {"cluster": "b"},
                },
            }
        )


def test_activities_refuse_unknown_modes_and_policies_before_acting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="mode must be one of api-unreachable, lab-stopped"):
        region_disaster(mode="meteor", lab="region-a", store=str(tmp_path))
    with pytest.raises(InvalidInput, match="conflict must be one of skip, replace, fail"):
        restore_backup(store=str(tmp_path), kubeconfig="x", conflict="merge")
    with pytest.raises(InvalidInput, match="provider must be one of builtin, velero"):
        region_disaster(lab="region-a", provider="tape")


def test_a_restore_without_a_store_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRILLKIT_BACKUP_STORE", raising=False)
    with pytest.raises(InvalidInput, match="no backup store"):
        restore_backup(kubeconfig="x")


def test_the_cli_names_a_bad_mapping_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["backup", "restore", "--store", str(tmp_path), "--map", "shop"]
    )
    # `drill` turns the error into one line and its exit code (2: invalid input).
    assert isinstance(result.exception, InvalidInput) and result.exception.exit_code == 2
    assert "--map 'shop': use FROM=TO" in str(result.exception)


def test_the_cli_lists_an_empty_store_and_fails_to_verify_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["backup", "list", "--store", str(tmp_path)])
    assert listed.exit_code == 0 and "no backups" in listed.output
    verified = runner.invoke(cli, ["backup", "verify", "--store", str(tmp_path)])
    assert isinstance(verified.exception, DrillError)
    assert "no backup in" in str(verified.exception)

"""What a run's activities see: the measured cluster, the run id and the evidence key,
for the run only; the process is left as it was found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from kubernetes.config import kube_config

from drillkit.running.lifecycle import RunOptions, activity_environment


def kubeconfig_file(path: Path, server: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_run_options_reach_the_activities_and_nothing_outlives_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_file(tmp_path / "other", "http://127.0.0.1:1")))
    for name in ("DRILL_SIGNING_KEY", "DRILLKIT_RUN_ID", "KUBERNETES_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    measured = kubeconfig_file(tmp_path / "measured", "http://127.0.0.1:2")
    key = tmp_path / "signing-key.pem"
    before = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    options = RunOptions(kubeconfig=measured, signing_key=key)

    with activity_environment(options, "run-1", "c"):
        assert os.environ["KUBECONFIG"] == str(measured)
        assert os.environ["KUBERNETES_CONTEXT"] == "c"
        assert os.environ["DRILLKIT_RUN_ID"] == "run-1"
        assert os.environ["DRILL_SIGNING_KEY"] == str(key)
        # What chaostoolkit-kubernetes loads as "the default kubeconfig".
        assert str(measured) == kube_config.KUBE_CONFIG_DEFAULT_LOCATION

    assert os.environ["KUBECONFIG"] == str(tmp_path / "other")
    assert "DRILL_SIGNING_KEY" not in os.environ
    assert "DRILLKIT_RUN_ID" not in os.environ
    assert "KUBERNETES_CONTEXT" not in os.environ
    assert before == kube_config.KUBE_CONFIG_DEFAULT_LOCATION

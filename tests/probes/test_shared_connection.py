"""Kubernetes probes share one connection per process and cluster instead of one per poll."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from drillkit.probes import kubernetes as probes


def write_kubeconfig(path: Path, context: str = "lab") -> None:
    # Nothing listens on port 1 of loopback; connecting never dials it.
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                "current-context": context,
            }
        )
    )


def test_polls_reuse_the_connection_until_the_kubeconfig_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)

    first = probes._cluster()
    assert probes._cluster() is first

    # A lab set up again writes its kubeconfig anew: its credentials may have changed.
    write_kubeconfig(kubeconfig)
    stat = kubeconfig.stat()
    os.utime(kubeconfig, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert probes._cluster() is not first

    # Another context is another cluster.
    write_kubeconfig(kubeconfig, context="other")
    monkeypatch.setenv("KUBERNETES_CONTEXT", "other")
    assert probes._cluster().context_name == "other"

"""An API server that accepts connections and never answers must not hang drillkit.

The server here is a loopback socket that listens and never accepts: the kernel
completes every TCP handshake, and nothing is ever said back (no TLS handshake, no
HTTP answer). ``drill run`` and ``drill recover`` must give up on their own, with one
line naming the server and exit code 3. The bound is the subprocess timeout of the
test itself; no test here asserts how long anything took.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import urllib3
import yaml

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import ClusterError
from tests.helpers import drill_command

REPOSITORY = Path(__file__).resolve().parents[2]
# Far beyond the client's connect and read timeouts, far below "hangs for ever".
BOUND_SECONDS = 240


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``https://127.0.0.1:PORT`` of a listener that never accepts nor answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"


def write_kubeconfig(path: Path, server: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "silent",
                # A real CA bundle, so the client gets as far as the TLS handshake.
                "cluster": {"server": server, "certificate-authority": certifi.where()},
            }
        ],
        "users": [{"name": "someone", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "someone"}}],
        "current-context": "silent",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def drill(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, DRILLKIT_HOME=str(tmp_path / "home"))
    environment.pop("KUBERNETES_CONTEXT", None)
    return subprocess.run(
        drill_command(*arguments),
        env=environment,
        capture_output=True,
        text=True,
        timeout=BOUND_SECONDS,
        check=False,
        cwd=tmp_path,
    )


def test_drill_run_gives_up_on_a_server_that_never_answers(
    tmp_path: Path, silent_server: str
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", silent_server)
    result = drill(
        tmp_path,
        "run",
        "zone-failure",
        "--drills-dir",
        str(REPOSITORY / "drills"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--kubeconfig",
        str(kubeconfig),
    )
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("drill: error: ")
    assert silent_server in lines[0]


def test_drill_recover_gives_up_on_a_server_that_never_answers(
    tmp_path: Path, silent_server: str
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", silent_server)
    result = drill(tmp_path, "recover", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("drill: error: ")
    assert silent_server in lines[0]


@pytest.mark.timeout(BOUND_SECONDS)
def test_a_plain_http_server_that_never_answers_times_out_reading(tmp_path: Path) -> None:
    """Past the TLS handshake (plain HTTP), the read timeout ends the wait."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", server)
        with Cluster.connect(kubeconfig) as cluster, pytest.raises(ClusterError) as raised:
            cluster.nodes()
    message = str(raised.value)
    assert "\n" not in message
    assert server in message
    assert "no answer" in message


@pytest.mark.timeout(BOUND_SECONDS)
def test_a_chaostoolkit_kubernetes_client_in_a_run_gives_up_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chaostoolkit-kubernetes' activities make clients of their own; in a process that
    runs drills (which imports drillkit's driver), theirs have the same timeouts."""
    from chaosk8s import create_k8s_api_client
    from kubernetes import client

    from drillkit.drivers.kubernetes import default_kubeconfig

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", server)
        # As a drill run points chaostoolkit-kubernetes' activities at its cluster.
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        with default_kubeconfig(kubeconfig):
            api = create_k8s_api_client()
        # Retried as chaostoolkit-kubernetes' client retries, each try bounded.
        with pytest.raises(urllib3.exceptions.HTTPError, match="timed out"):
            client.CoreV1Api(api).list_namespace()

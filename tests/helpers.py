"""Small helpers for tests: waiting on conditions with a deadline, never fixed sleeps."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from drillkit.drivers.prometheus import PrometheusError, query_instant
from drillkit.lab.cluster import load_manifests
from drillkit.lab.resources import seed_manifests_dir

T = TypeVar("T")

# Generous on purpose: a loaded 2-core CI machine is slow, and these deadlines only
# bound a hang; no test asserts how long anything took.
DEADLINE = 180.0


def drill_command(*arguments: str) -> list[str]:
    """``drill ARGUMENTS`` as a process of its own, run by this interpreter (so the
    code under test, not whatever ``drill`` is first on PATH)."""
    return [sys.executable, "-m", "drillkit.cli", *arguments]


def log_progress(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr)


def wait_until(
    description: str,
    condition: Callable[[], T | bool | None],
    timeout: float = DEADLINE,
    *,
    poll: float = 0.2,
) -> T:
    """Poll ``condition`` every ``poll`` seconds until it returns something truthy; fail
    the test at the deadline. The wait between polls never runs past the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    pause = threading.Event()
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last  # type: ignore[return-value]
        pause.wait(min(poll, max(0.0, deadline - time.monotonic())))
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {description}; last: {last}")


def seed_web_manifests(namespace: str, *, replicas: int = 6) -> list[dict[str, Any]]:
    """The seed's web Deployment, PDB and Service, moved into another namespace."""
    manifests = []
    for manifest in load_manifests(seed_manifests_dir()):
        if manifest["kind"] not in ("Deployment", "PodDisruptionBudget", "Service", "ConfigMap"):
            continue
        moved = copy.deepcopy(manifest)
        moved["metadata"]["namespace"] = namespace
        if moved["kind"] == "Deployment":
            moved["spec"]["replicas"] = replicas
        manifests.append(moved)
    return manifests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def running_prometheus(directory: Path, *, target: str, ready_query: str) -> Iterator[str]:
    """A real Prometheus (Debian's package) scraping ``target`` every second, on loopback.

    Yields its base URL once ``ready_query`` returns data, i.e. once it has scraped.
    """
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("no prometheus binary: install it with `apt-get install -y prometheus`")
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: drill-test\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def scraped() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited with {process.returncode}:\n{log_path.read_text()}"
                )
            try:
                return query_instant(url, ready_query) is not None
            except PrometheusError:
                return False  # not listening yet

        wait_until("Prometheus to have scraped its target", scraped, timeout=120.0)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_moto_server(directory: Path) -> Iterator[str]:
    """moto's standalone server (S3, EC2...) on 127.0.0.1; yields its URL once it listens."""
    port = free_port()
    with (
        (directory / "moto-server.log").open("wb") as output,
        subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as process,
    ):

        def listening() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"moto server exited with {process.returncode} at startup")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        try:
            wait_until(f"the moto server to listen on port {port}", listening, 60.0)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(process, timeout=10)


def stop_process(process: subprocess.Popen[Any], *, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def isolate_from_aws(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Dummy credentials, and nothing that could send a client to real AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(directory / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(directory / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class Receiver:
    """Every POST it received: (path, JSON body)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""

    def received(self) -> list[tuple[str, Any]]:
        with self.lock:
            return list(self.messages)


@contextmanager
def receiving_webhooks() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records the JSON posted to it."""
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            with box.lock:
                box.messages.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver")
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def live_processes_marked(mark: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if mark in command and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found

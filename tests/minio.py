"""MinIO, the S3-compatible server the backup store is tested against, on loopback.

Built once from the Go module proxy (``go install``, a pinned version) into drillkit's
cache beside the lab binaries, then started per test session on 127.0.0.1 with a data
directory of its own. Its console is off and it never looks for updates.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from drillkit.lab import build
from tests.helpers import free_port, stop_process, wait_until

MODULE = "github.com/minio/minio"
# The newest version the Go module proxy served on 2026-11-26 (MinIO tags are not
# semantic versions, so the proxy names its commits).
VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
ACCESS_KEY = "drillkit-test"
SECRET_KEY = "drillkit-test-secret"


@dataclass(frozen=True)
class MinioServer:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY


def minio_binary(progress: Callable[[str], None]) -> Path:
    """The MinIO server binary; built on first use (minutes), cached after."""
    directory = build.cache_root() / "minio" / VERSION
    binary = directory / "minio"
    if binary.exists():
        return binary
    directory.mkdir(parents=True, exist_ok=True)
    with build.build_lock(directory / "build.lock"):
        if binary.exists():
            return binary
        progress(f"building MinIO {VERSION} from the Go module proxy (once, a few minutes)")
        staging = directory / ".partial"
        result = subprocess.run(
            [build.find_go(), "install", "-trimpath", f"{MODULE}@{VERSION}"],
            env={**build.go_environment(), "GOBIN": str(staging)},
            capture_output=True,
            text=True,
            check=False,
        )
        (directory / "build.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"building MinIO failed; see {directory / 'build.log'}")
        # Renamed last: a killed build never leaves a truncated binary behind.
        (staging / "minio").rename(binary)
    return binary


@contextmanager
def running_minio(binary: Path, directory: Path) -> Iterator[MinioServer]:
    """A MinIO server on 127.0.0.1 storing into ``directory``; stopped afterwards."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "MINIO_ROOT_USER": ACCESS_KEY,
        "MINIO_ROOT_PASSWORD": SECRET_KEY,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
    }
    (directory / "data").mkdir(parents=True, exist_ok=True)
    with (
        (directory / "minio.log").open("wb") as output,
        subprocess.Popen(
            [binary, "server", str(directory / "data"), "--address", f"127.0.0.1:{port}"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as process,
    ):
        # Straight to loopback, whatever proxy the environment names.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def live() -> bool:
            if process.poll() is not None:
                log = (directory / "minio.log").read_text(errors="replace")
                raise AssertionError(f"MinIO exited with {process.returncode}:\n{log}")
            try:
                with opener.open(f"{endpoint}/minio/health/live", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        try:
            wait_until(f"MinIO to serve on port {port}", live, 120.0)
            yield MinioServer(endpoint=endpoint)
        finally:
            stop_process(process)

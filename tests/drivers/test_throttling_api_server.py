"""An API server that answers "429 Too Many Requests, Retry-After" is waited for, within reason.

kube-apiserver answers so while a resource's storage is still initialising (just after
it starts, or a CRD is created) and when API Priority and Fairness sheds load; kubectl
waits the time it is told and asks again. The server here is a plain-HTTP loopback
listener that throttles a given number of requests, then answers a namespace list.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import ClusterError
from tests.drivers.test_unanswering_api_server import write_kubeconfig

NAMESPACES = {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []}


class ThrottlingServer(ThreadingHTTPServer):
    def __init__(self, throttled: int, retry_after: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.throttled = throttled
        self.retry_after = retry_after
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ThrottlingServer

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.server.requests <= self.server.throttled:
            self._answer(429, {"kind": "Status", "reason": "TooManyRequests"})
        else:
            self._answer(200, NAMESPACES)

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", self.server.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def throttling(throttled: int, retry_after: str = "0") -> Iterator[ThrottlingServer]:
    server = ThrottlingServer(throttled, retry_after)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def briefly_throttling() -> Iterator[ThrottlingServer]:
    yield from throttling(2)


@pytest.fixture
def always_throttling() -> Iterator[ThrottlingServer]:
    # Told to come back in a day: drillkit caps the wait instead of hanging.
    yield from throttling(10**6, retry_after="86400")


def test_a_request_told_to_retry_later_is_asked_again(
    tmp_path: Path, briefly_throttling: ThrottlingServer
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", briefly_throttling.url)
    with Cluster.connect(kubeconfig) as cluster:
        assert cluster.core.list_namespace().items == []
    assert briefly_throttling.requests == 3


@pytest.mark.timeout(240)
def test_a_server_that_keeps_throttling_is_a_429_in_one_line(
    tmp_path: Path, always_throttling: ThrottlingServer
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", always_throttling.url)
    with Cluster.connect(kubeconfig) as cluster, pytest.raises(ClusterError) as raised:
        cluster.nodes()
    assert raised.value.status == 429
    assert "\n" not in str(raised.value)
    assert "answered 429" in str(raised.value)
    # The first request and a bounded number of retries.
    assert 1 < always_throttling.requests <= 4

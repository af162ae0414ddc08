"""The HTTP probes against a real HTTP server the test runs on 127.0.0.1.

Slowness is made by the handler, never measured on the machine: a slow page
waits a fixed minimum before answering, so "slower than the threshold" holds on
any machine, and a page that never answers waits on an event the fixture sets
at teardown. The only timing asserted of a fast answer is that it is not negative.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drillkit.drivers.http import HttpAnswer
from drillkit.errors import InvalidInput
from drillkit.probes.http import http_get, http_ok, judge_answer

SLOW_SECONDS = 0.5
HEALTHY_BODY = "status: healthy\nversion: 1.4.2\n"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; a CI proxy must not stand between the test and loopback.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


class Server(ThreadingHTTPServer):
    # Join handler threads on close, so none outlives the test.
    daemon_threads = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.answer(200, HEALTHY_BODY)
        elif self.path == "/draining":
            self.answer(503, "draining\n")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/healthz")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            # Event.wait never returns early unless set: the answer takes at least this long.
            self.server.release.wait(SLOW_SECONDS)
            self.answer(200, HEALTHY_BODY)
        elif self.path == "/hang":
            # Answer nothing until teardown; the client gives up first.
            self.server.release.wait(60)
        else:
            self.answer(404, "not found\n")

    def answer(self, status: int, body: str) -> None:
        encoded = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Site:
    base: str

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def site() -> Iterator[Site]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, name="http-probe-site")
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Site(f"http://{host!s}:{port}")
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (just released by the test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_expected_status_passes_with_its_evidence(site: Site) -> None:
    result = http_get(site.url("/healthz"))

    assert result["ok"] is True
    assert result["status"] == 200
    assert result["latency_ms"] >= 0
    assert result["reason"].startswith("status 200 in ")
    assert http_ok(site.url("/healthz"))


def test_another_status_fails_and_says_which(site: Site) -> None:
    result = http_get(site.url("/draining"))

    assert result["ok"] is False
    assert result["status"] == 503
    assert result["reason"] == "status 503, expected 200"
    assert not http_ok(site.url("/draining"))


def test_an_error_status_can_be_the_expected_one(site: Site) -> None:
    assert http_ok(site.url("/draining"), expected_status=503)


def test_redirects_are_followed_to_the_final_status(site: Site) -> None:
    assert http_get(site.url("/moved"))["status"] == 200


def test_an_answer_slower_than_the_threshold_fails(site: Site) -> None:
    result = http_get(site.url("/slow"), max_latency_ms=SLOW_SECONDS * 1000 / 5)

    assert result["ok"] is False
    assert result["status"] == 200
    assert result["latency_ms"] >= SLOW_SECONDS * 1000
    assert re.fullmatch(r"took \d+\.\d ms, more than 100 ms", result["reason"])


def test_an_answer_within_the_threshold_passes(site: Site) -> None:
    assert http_ok(site.url("/slow"), max_latency_ms=60_000)


def test_body_must_contain_the_given_text(site: Site) -> None:
    assert http_ok(site.url("/healthz"), body_contains="status: healthy")

    result = http_get(site.url("/healthz"), body_contains="status: degraded")
    assert result["ok"] is False
    assert result["reason"] == "body does not contain 'status: degraded'"


def test_body_must_match_the_regular_expression_anywhere(site: Site) -> None:
    assert http_ok(site.url("/healthz"), body_matches=r"version: 1\.\d+\.\d+")

    result = http_get(site.url("/healthz"), body_matches=r"^version: 2\.")
    assert result["ok"] is False
    assert result["reason"] == "body does not match '^version: 2\\\\.'"


def test_every_failed_check_is_named(site: Site) -> None:
    result = http_get(site.url("/draining"), body_contains="healthy", body_matches="ok")

    assert result["reason"] == (
        "status 503, expected 200; body does not contain 'healthy'; body does not match 'ok'"
    )


def test_no_answer_in_time_fails_without_a_status(site: Site) -> None:
    result = http_get(site.url("/hang"), timeout=0.2)

    assert result["ok"] is False
    assert result["status"] is None
    assert result["reason"] == "no answer within 0.2 s"


def test_a_refused_connection_fails_without_a_status(closed_port: int) -> None:
    result = http_get(f"http://127.0.0.1:{closed_port}/healthz")

    assert result["ok"] is False
    assert result["status"] is None
    assert result["reason"].startswith("no answer: ")
    assert "refused" in result["reason"].lower()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/file", "127.0.0.1:8080/healthz", "http://"])
def test_a_url_that_cannot_be_requested_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput, match="give an absolute http:// or https:// URL"):
        http_get(url)


def test_an_invalid_regular_expression_is_invalid_input_before_any_request() -> None:
    with pytest.raises(InvalidInput, match="body_matches '\\(' is not a regular expression"):
        http_get("http://127.0.0.1:9/never-requested", body_matches="(")


@pytest.mark.parametrize(
    ("answer", "ok", "reason"),
    [
        (
            HttpAnswer(url="u", status=200, latency_ms=12.34, body="up"),
            True,
            "status 200 in 12.3 ms",
        ),
        (
            HttpAnswer(url="u", status=200, latency_ms=250.0, body="up"),
            True,
            "status 200 in 250.0 ms",
        ),
        (
            HttpAnswer(url="u", status=200, latency_ms=250.01, body="up"),
            False,
            "took 250.0 ms, more than 250 ms",
        ),
        (
            HttpAnswer(url="u", status=None, latency_ms=3.0, body="", failure="TLS failed: x"),
            False,
            "TLS failed: x",
        ),
    ],
)
def test_judging_an_answer(answer: HttpAnswer, ok: bool, reason: str) -> None:
    result = judge_answer(
        answer, expected_status=200, max_latency_ms=250, body_contains="up", body_matches=None
    )

    assert (result["ok"], result["reason"]) == (ok, reason)

"""The Prometheus probes against a real Prometheus scraping a small exporter on loopback.

The Prometheus is Debian's (``apt-get install -y prometheus``), started by a
fixture on 127.0.0.1 with a temporary config and data directory. It scrapes an
exporter this module serves with ``http.server`` in the text exposition format,
every second; the fixture polls (with a deadline) until the first scrape is
queryable. A missing ``prometheus`` binary fails the tests: they are never skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drillkit.drivers.prometheus import PrometheusError
from drillkit.errors import InvalidInput
from drillkit.probes.prometheus import prometheus_query, prometheus_threshold
from tests.helpers import free_port, running_prometheus

EXPOSITION = """\
# HELP drill_test_budget_remaining Fraction of the error budget left.
# TYPE drill_test_budget_remaining gauge
drill_test_budget_remaining 0.25
# HELP drill_test_requests_total Requests served, by status code.
# TYPE drill_test_requests_total counter
drill_test_requests_total{code="200"} 10
drill_test_requests_total{code="500"} 1
"""

STARTUP_DEADLINE = 120.0


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; a CI proxy must not stand between the test and loopback.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


class Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/metrics":
            status, body = 200, EXPOSITION.encode()
        else:
            status, body = 404, b"not found\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class ExporterServer(ThreadingHTTPServer):
    # Join handler threads on close, so none outlives the module.
    daemon_threads = False


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    """The exporter's address, ``127.0.0.1:<port>``."""
    server = ExporterServer(("127.0.0.1", 0), Exporter)
    thread = threading.Thread(target=server.serve_forever, name="metrics-exporter")
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def prometheus(exporter: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus scraping the exporter every second; yields its base URL."""
    directory = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(
        directory, target=exporter, ready_query="drill_test_budget_remaining"
    ) as url:
        yield url


# -- prometheus_query -------------------------------------------------------------------


def test_a_single_series_gives_its_value(prometheus: str) -> None:
    assert prometheus_query(prometheus, "drill_test_budget_remaining") == 0.25


def test_an_aggregated_query_gives_one_value(prometheus: str) -> None:
    assert prometheus_query(prometheus, "sum(drill_test_requests_total)") == 11


def test_a_scalar_gives_its_value(prometheus: str) -> None:
    assert prometheus_query(prometheus, "scalar(drill_test_budget_remaining) * 4") == 1


def test_an_empty_result_gives_none(prometheus: str) -> None:
    assert prometheus_query(prometheus, 'drill_test_budget_remaining{job="absent"}') is None


def test_several_series_are_refused_with_a_hint_to_aggregate(prometheus: str) -> None:
    with pytest.raises(PrometheusError, match="returned 2 series; it must return one"):
        prometheus_query(prometheus, "drill_test_requests_total")


def test_a_range_vector_is_refused(prometheus: str) -> None:
    with pytest.raises(PrometheusError, match="returned a matrix; it must return a scalar"):
        prometheus_query(prometheus, "drill_test_budget_remaining[1m]")


def test_bad_promql_gives_prometheus_own_reason_in_one_line(prometheus: str) -> None:
    with pytest.raises(PrometheusError) as raised:
        prometheus_query(prometheus, "sum(drill_test_budget_remaining")

    message = str(raised.value)
    assert message.startswith(
        "Prometheus refused query 'sum(drill_test_budget_remaining': bad_data:"
    )
    assert "parse error" in message
    assert "\n" not in message
    assert raised.value.exit_code == 3


def test_an_unreachable_prometheus_is_an_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(PrometheusError, match=f"cannot reach Prometheus at {url}: "):
        prometheus_query(url, "up")


def test_a_server_that_is_not_prometheus_is_named(exporter: str) -> None:
    with pytest.raises(PrometheusError, match="answered 404 Not Found"):
        prometheus_query(f"http://{exporter}", "up")


# -- prometheus_threshold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_value", "max_value", "within"),
    [
        (0.2, None, True),
        (0.25, None, True),
        (0.5, None, False),
        (None, 0.5, True),
        (None, 0.25, True),
        (None, 0.1, False),
        (0.1, 0.3, True),
        (0.3, 0.9, False),
    ],
)
def test_threshold_holds_when_the_value_is_within_the_bounds(
    prometheus: str, min_value: float | None, max_value: float | None, within: bool
) -> None:
    assert (
        prometheus_threshold(prometheus, "drill_test_budget_remaining", min_value, max_value)
        is within
    )


def test_threshold_without_data_does_not_hold(prometheus: str) -> None:
    query = 'drill_test_budget_remaining{job="absent"}'

    assert prometheus_threshold(prometheus, query, min_value=0) is False


def test_threshold_on_nan_does_not_hold(prometheus: str) -> None:
    assert prometheus_threshold(prometheus, "scalar(vector(0) / 0)", max_value=1) is False


def test_threshold_needs_a_bound() -> None:
    with pytest.raises(InvalidInput, match="needs min_value, max_value or both"):
        prometheus_threshold("http://127.0.0.1:9", "up")


def test_threshold_refuses_crossed_bounds() -> None:
    with pytest.raises(InvalidInput, match="min_value 2 is above max_value 1"):
        prometheus_threshold("http://127.0.0.1:9", "up", min_value=2, max_value=1)

"""Prometheus's HTTP API, through the standard library: instant queries for probes and gates.

``query_instant`` asks ``GET {url}/api/v1/query?query=...`` and reduces the
answer to one number: a scalar or a one-series instant vector gives its value,
an empty vector gives None (no data is not zero). Anything else, and every way
of failing to ask (unreachable, timed out, a PromQL error, an answer that is not
the Prometheus API), raises ``PrometheusError`` with one line a user can act on.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from drillkit.errors import PrometheusError as PrometheusError


def query_instant(url: str, query: str, *, timeout: float = 5.0) -> float | None:
    """The value of the instant query ``query`` at Prometheus ``url``; None when empty."""
    endpoint = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    data = _result_data(_ask(url, endpoint, query, timeout), url)
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return _number(result, url)
    if kind == "vector" and isinstance(result, list):
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(
                f"query {query!r} returned {len(result)} series; it must return one"
                " (aggregate it, e.g. with sum(), max() or a label filter)"
            )
        return _number(result[0].get("value") if isinstance(result[0], dict) else None, url)
    raise PrometheusError(
        f"query {query!r} returned a {kind}; it must return a scalar or one series"
        " (an instant query without a [range] selector)"
    )


def _ask(url: str, endpoint: str, query: str, timeout: float) -> Any:
    if not url.startswith(("http://", "https://")):
        raise PrometheusError(f"cannot ask Prometheus at {url!r}: give an http:// or https:// URL")
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout) as response:
            return _decode(response.read(), url)
    except urllib.error.HTTPError as error:
        # Prometheus answers a bad query with 400 (or 422) and a JSON body saying why.
        with error:
            body = error.read()
        try:
            answer = _decode(body, url)
        except PrometheusError:
            raise PrometheusError(
                f"Prometheus at {url} answered {error.code} {_one_line(error.reason)}"
            ) from error
        raise PrometheusError(_refusal(answer, query, url)) from error
    except urllib.error.URLError as error:
        raise PrometheusError(_unreachable(url, error.reason, timeout)) from error
    except (OSError, http.client.HTTPException) as error:
        # A timeout or a dropped connection while reading the body is not wrapped in URLError.
        raise PrometheusError(_unreachable(url, error, timeout)) from error


def _decode(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise PrometheusError(
            f"{url} did not answer like the Prometheus API (not JSON); is it Prometheus?"
        ) from error


def _result_data(answer: Any, url: str) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        raise PrometheusError(f"{url} did not answer like the Prometheus API (no data)")
    if answer.get("status") != "success":
        raise PrometheusError(f"Prometheus at {url} answered status {answer.get('status')!r}")
    return dict(answer["data"])


def _refusal(answer: Any, query: str, url: str) -> str:
    if isinstance(answer, dict) and answer.get("status") == "error":
        kind = answer.get("errorType", "error")
        return f"Prometheus refused query {query!r}: {kind}: {_one_line(answer.get('error'))}"
    return f"Prometheus at {url} refused query {query!r}"


def _number(sample: Any, url: str) -> float:
    # A sample is [timestamp, "value"]; the value is a string so NaN and ±Inf survive JSON.
    try:
        return float(sample[1])
    except (TypeError, IndexError, ValueError) as error:
        raise PrometheusError(
            f"{url} answered a sample that is not a number: {sample!r}"
        ) from error


def _unreachable(url: str, reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"Prometheus at {url} did not answer within {timeout:g} s"
    return f"cannot reach Prometheus at {url}: {_one_line(reason)}"


def _one_line(reason: object) -> str:
    text = " ".join(str(reason).split())
    return text or type(reason).__name__

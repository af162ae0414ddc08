"""HTTP probes: is an endpoint answering as expected, and fast enough?

``http_get`` requests the URL it is given (once per call) and returns a
JSON-serialisable verdict with the evidence: status, latency and a reason a
person can read in the report. ``http_ok`` is the same check as a bool, for a
``tolerance: true``. An unreachable endpoint is a failed check, not an error;
only arguments that cannot work (a non-HTTP URL, an invalid regular expression)
raise ``InvalidInput``.
"""

from __future__ import annotations

import re
from typing import TypedDict

from drillkit.drivers import http
from drillkit.errors import InvalidInput


class HttpCheck(TypedDict):
    """What ``http_get`` returns: the verdict and the evidence behind it."""

    ok: bool
    status: int | None
    latency_ms: float
    reason: str


def http_get(
    url: str,
    expected_status: int = 200,
    max_latency_ms: float | None = None,
    body_contains: str | None = None,
    body_matches: str | None = None,
    timeout: float = 5.0,
    verify_tls: bool = True,
) -> HttpCheck:
    """GET ``url`` and judge the answer.

    ``ok`` is true when the final status (after redirects) is ``expected_status``,
    the answer took at most ``max_latency_ms`` (when given), and the body contains
    ``body_contains`` and matches the regular expression ``body_matches`` (searched
    anywhere in the body, when given). ``reason`` names every check that failed.
    """
    pattern = _compile(body_matches)
    answer = http.get(url, timeout=timeout, verify_tls=verify_tls)
    return judge_answer(
        answer,
        expected_status=expected_status,
        max_latency_ms=max_latency_ms,
        body_contains=body_contains,
        body_matches=pattern,
    )


def http_ok(
    url: str,
    expected_status: int = 200,
    max_latency_ms: float | None = None,
    body_contains: str | None = None,
    body_matches: str | None = None,
    timeout: float = 5.0,
    verify_tls: bool = True,
) -> bool:
    """``http_get(...)["ok"]``: true when the endpoint answers as expected."""
    return http_get(
        url,
        expected_status=expected_status,
        max_latency_ms=max_latency_ms,
        body_contains=body_contains,
        body_matches=body_matches,
        timeout=timeout,
        verify_tls=verify_tls,
    )["ok"]


def judge_answer(
    answer: http.HttpAnswer,
    *,
    expected_status: int,
    max_latency_ms: float | None,
    body_contains: str | None,
    body_matches: re.Pattern[str] | None,
) -> HttpCheck:
    """The verdict on one answer; pure, so every rule is testable without a server."""
    if answer.status is None:
        reason = answer.failure or "no answer"
        return HttpCheck(ok=False, status=None, latency_ms=answer.latency_ms, reason=reason)
    problems: list[str] = []
    if answer.status != expected_status:
        problems.append(f"status {answer.status}, expected {expected_status}")
    if max_latency_ms is not None and answer.latency_ms > max_latency_ms:
        problems.append(f"took {answer.latency_ms:.1f} ms, more than {max_latency_ms:g} ms")
    if body_contains is not None and body_contains not in answer.body:
        problems.append(f"body does not contain {body_contains!r}")
    if body_matches is not None and body_matches.search(answer.body) is None:
        problems.append(f"body does not match {body_matches.pattern!r}")
    reason = "; ".join(problems) or f"status {answer.status} in {answer.latency_ms:.1f} ms"
    return HttpCheck(
        ok=not problems, status=answer.status, latency_ms=answer.latency_ms, reason=reason
    )


def _compile(body_matches: str | None) -> re.Pattern[str] | None:
    if body_matches is None:
        return None
    try:
        return re.compile(body_matches)
    except re.error as error:
        raise InvalidInput(
            f"body_matches {body_matches!r} is not a regular expression: {error}"
        ) from error


# The Chaos Toolkit activities of this module (what `chaos discover` lists); the other
# public functions serve drillkit itself and are no part of the experiment file API.
__all__ = [
    "http_get",
    "http_ok",
]

"""HTTP requests for probes, through the standard library's ``urllib.request``.

``get`` requests exactly the URL it is given, following redirects and honouring
the usual proxy environment variables as ``urllib`` does, and answers with an
``HttpAnswer``: the status, the time to the end of the body and the body's text.
A server that cannot be reached or does not answer in time is an answer too
(``status`` None and a ``failure`` saying why), because for a steady-state probe
an unreachable service is the observation, not an error. Only a URL that cannot
be requested at all raises, as ``InvalidInput``.
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from drillkit.errors import InvalidInput

BODY_LIMIT = 1024 * 1024
"""Bytes of the body kept for checks: enough for any health page, bounded for a huge one."""


@dataclass(frozen=True, kw_only=True)
class HttpAnswer:
    """What one GET observed."""

    url: str
    status: int | None
    """The final status after redirects; None when no answer arrived."""
    latency_ms: float
    """From sending the request to the end of the body (or to the failure)."""
    body: str
    failure: str | None = None
    """Why no answer arrived (refused, timed out, TLS failed); None when one did."""


def get(url: str, *, timeout: float = 5.0, verify_tls: bool = True) -> HttpAnswer:
    """GET ``url`` once; never raises for a network failure, only for an unusable URL."""
    ensure_requestable(url)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=_tls_context(verify_tls))
    )
    request = urllib.request.Request(url, method="GET")
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            body = _text(response.read(BODY_LIMIT), response.headers.get_content_charset())
            status = int(response.status)
    except urllib.error.HTTPError as error:
        # 4xx and 5xx arrive as exceptions, but they are answers with a status and a body.
        with error:
            body = _text(error.read(BODY_LIMIT), error.headers.get_content_charset())
        return HttpAnswer(url=url, status=error.code, latency_ms=_since(started), body=body)
    except urllib.error.URLError as error:
        return _no_answer(url, started, _failure(error.reason, timeout))
    except (OSError, http.client.HTTPException) as error:
        # Timeouts and dropped connections while the body is read are not wrapped in URLError.
        return _no_answer(url, started, _failure(error, timeout))
    return HttpAnswer(url=url, status=status, latency_ms=_since(started), body=body)


def ensure_requestable(url: str) -> None:
    """Raise ``InvalidInput`` unless ``url`` is an absolute http or https URL with a host."""
    try:
        parts = urllib.parse.urlsplit(url)
        # Reading the port validates it (a non-numeric or out-of-range port raises).
        _ = parts.port
    except ValueError as error:
        raise InvalidInput(f"cannot request {url!r}: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"cannot request {url!r}: give an absolute http:// or https:// URL")


def _tls_context(verify_tls: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify_tls:
        # For self-signed lab and staging endpoints, when the user asked for it explicitly.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _text(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        # A charset Python does not know: the checks are about text, so UTF-8 is the best guess.
        return raw.decode("utf-8", errors="replace")


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 3)


def _no_answer(url: str, started: float, failure: str) -> HttpAnswer:
    return HttpAnswer(url=url, status=None, latency_ms=_since(started), body="", failure=failure)


def _failure(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {_one_line(reason)}"
    return f"no answer: {_one_line(reason)}"


def _one_line(reason: object) -> str:
    text = " ".join(str(reason).split())
    return text or type(reason).__name__

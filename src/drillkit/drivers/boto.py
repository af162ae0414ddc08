"""botocore's exceptions in drillkit's words, for every adapter that talks to AWS.

EC2 (``drivers.aws``) and S3 (``drivers.objectstore``) both go through boto3, so
both meet the same botocore exceptions: an answer (``ClientError``, with the
service's error code), no credentials, no region, an endpoint that cannot be
reached, and the rest. ``translate_boto_errors`` turns each into one line naming
the action, raised as the adapter's own ``DrillError`` (``CloudError`` or
``StorageError``, both in ``drillkit.errors``) carrying the code when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import botocore.exceptions

from drillkit.errors import CloudError, StorageError

ServiceError = TypeVar("ServiceError", CloudError, StorageError)

_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)


def boto_error(
    action: str, error: BaseException, *, service: str, raise_as: type[ServiceError]
) -> ServiceError:
    """The ``raise_as`` error that a botocore failure while ``action`` means; ``service``
    (``EC2``, ``S3``) names who answered or could not be reached."""
    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "an error")
        message = _one_line(details.get("Message") or "")
        return raise_as(
            f"{action}: {service} answered {code}{f': {message}' if message else ''}", code=code
        )
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return raise_as(
            f"{action}: no AWS credentials found (environment, shared files, SSO or instance role)"
        )
    if isinstance(error, botocore.exceptions.NoRegionError):
        return raise_as(f"{action}: no AWS region given (pass region, or set AWS_REGION)")
    if isinstance(error, _UNREACHABLE):
        return raise_as(f"{action}: cannot reach the {service} endpoint ({_describe(error)})")
    # The rest (an invalid region name, bad configuration, an unparsable answer)
    # carries a readable message of its own.
    return raise_as(f"{action}: {_describe(error)}")


@contextmanager
def translate_boto_errors(
    action: str, *, service: str, raise_as: type[ServiceError]
) -> Iterator[None]:
    """Turn botocore's exceptions into one ``raise_as`` line naming the action (see
    ``boto_error``); drillkit's own errors pass through unchanged."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise boto_error(action, error, service=service, raise_as=raise_as) from error


def _one_line(text: object) -> str:
    """All of ``text`` on one line; botocore's messages may span several."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _describe(error: BaseException) -> str:
    return _one_line(error) or type(error).__name__

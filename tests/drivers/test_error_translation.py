"""The two translations of foreign errors: the Kubernetes client's and botocore's.

Both are pure functions of an exception, so they are table-tested on exceptions built
here; the lab and loopback-server tests show the same errors arising for real.
"""

from __future__ import annotations

import botocore.exceptions
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from drillkit.drivers.boto import boto_error, translate_boto_errors
from drillkit.drivers.kubernetes import api_error, translate_api_errors
from drillkit.errors import (
    CloudError,
    ClusterError,
    Conflict,
    Forbidden,
    NotFound,
    StorageError,
    TooManyRequests,
)


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (401, "Unauthorized", Forbidden),
        (403, "Forbidden", Forbidden),
        (404, "Not Found", NotFound),
        (409, "Conflict", Conflict),
        (429, "Too Many Requests", TooManyRequests),
        (400, "Bad Request", ClusterError),
        (410, "Gone", ClusterError),
        (500, "Internal Server Error", ClusterError),
    ],
)
def test_an_answer_becomes_the_error_for_its_status_keeping_status_and_reason(
    status: int, reason: str, expected: type[ClusterError]
) -> None:
    error = api_error("reading node n1", ApiException(status=status, reason=reason))

    assert type(error) is expected
    assert str(error) == f"reading node n1: the API server answered {status} {reason}" + {
        401: "; the cluster does not accept the kubeconfig's credentials: renew them, "
        "or choose another context with --context",
        403: "; the kubeconfig's user may not do this: grant it the roles in "
        "deploy/rbac.yaml, or choose another context with --context",
    }.get(status, "")
    assert (error.status, error.reason) == (status, reason)


def test_a_refusal_says_what_the_server_said_and_what_to_do_next() -> None:
    refused = ApiException(status=403, reason="Forbidden")
    refused.body = (
        '{"kind":"Status","status":"Failure","reason":"Forbidden","code":403,'
        '"message":"nodes is forbidden: User \\"ci\\" cannot list resource \\"nodes\\""}'
    )

    error = api_error("listing nodes", refused)

    assert str(error) == (
        'listing nodes: the API server answered 403 Forbidden (nodes is forbidden: User "ci" '
        'cannot list resource "nodes"); the kubeconfig\'s user may not do this: grant it the '
        "roles in deploy/rbac.yaml, or choose another context with --context"
    )


def test_the_dynamic_clients_errors_translate_as_the_typed_clients_do() -> None:
    dynamic = api_exception(ApiException(status=404, reason="Not Found"))

    error = api_error("reading velero backup velero/b1", dynamic)

    assert isinstance(error, NotFound)
    assert str(error) == "reading velero backup velero/b1: the API server answered 404 Not Found"


def test_status_zero_is_no_answer_but_the_clients_wrapping_of_a_tls_failure() -> None:
    wrapped = ApiException(status=0, reason="SSLError(certificate verify failed)\nmore")

    error = api_error("listing nodes", wrapped)

    assert type(error) is ClusterError
    assert str(error) == (
        "listing nodes: cannot reach the API server: SSLError(certificate verify failed)"
    )
    assert error.status is None


def test_a_refused_connection_names_the_server_and_carries_no_status() -> None:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9)
    refused = urllib3.exceptions.NewConnectionError(
        pool, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    gave_up = urllib3.exceptions.MaxRetryError(pool, "/api/v1/nodes", refused)

    error = api_error("listing nodes", gave_up)

    assert type(error) is ClusterError
    assert str(error) == (
        "listing nodes: cannot reach the API server at http://127.0.0.1:9: connection refused"
    )
    assert error.status is None


def test_the_context_raises_the_translation_from_the_clients_exception() -> None:
    answer = ApiException(status=409, reason="Conflict")

    with pytest.raises(Conflict) as raised, translate_api_errors("creating lease drillkit/run"):
        raise answer

    assert raised.value.__cause__ is answer
    assert str(raised.value) == "creating lease drillkit/run: the API server answered 409 Conflict"


def test_the_context_lets_drillkits_own_errors_through_unchanged() -> None:
    inner = NotFound("reading pod a/b: the API server answered 404 Not Found", status=404)

    with pytest.raises(NotFound) as raised, translate_api_errors("outer action"):
        raise inner

    assert raised.value is inner


@pytest.mark.parametrize(("service", "raise_as"), [("EC2", CloudError), ("S3", StorageError)])
def test_a_botocore_answer_becomes_one_line_with_the_services_code(
    service: str, raise_as: type[CloudError] | type[StorageError]
) -> None:
    answer = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "Access Denied\n  for this key"}},
        "GetObject",
    )

    error = boto_error("reading s3://b/k", answer, service=service, raise_as=raise_as)

    assert type(error) is raise_as
    assert (
        str(error)
        == f"reading s3://b/k: {service} answered AccessDenied: Access Denied for this key"
    )
    assert error.code == "AccessDenied"


def test_a_botocore_answer_without_a_message_names_only_the_code() -> None:
    answer = botocore.exceptions.ClientError({"Error": {"Code": "NoSuchBucket"}}, "ListObjectsV2")

    error = boto_error("listing s3://b/", answer, service="S3", raise_as=StorageError)

    assert str(error) == "listing s3://b/: S3 answered NoSuchBucket"


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (
            botocore.exceptions.NoCredentialsError(),
            "no AWS credentials found (environment, shared files, SSO or instance role)",
        ),
        (
            botocore.exceptions.NoRegionError(),
            "no AWS region given (pass region, or set AWS_REGION)",
        ),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"),
            'cannot reach the EC2 endpoint (Could not connect to the endpoint URL: "http://127.0.0.1:9/")',
        ),
        (
            botocore.exceptions.InvalidRegionError(region_name="not a region"),
            "Provided region_name 'not a region' doesn't match a supported format.",
        ),
    ],
)
def test_botocores_own_failures_become_one_line_without_a_code(
    failure: botocore.exceptions.BotoCoreError, message: str
) -> None:
    error = boto_error("stopping instances i-1", failure, service="EC2", raise_as=CloudError)

    assert str(error) == f"stopping instances i-1: {message}"
    assert error.code is None


def test_the_boto_context_raises_the_translation_from_botocores_exception() -> None:
    failure = botocore.exceptions.NoCredentialsError()

    with (
        pytest.raises(StorageError) as raised,
        translate_boto_errors("connecting to S3", service="S3", raise_as=StorageError),
    ):
        raise failure

    assert raised.value.__cause__ is failure

"""drillkit's own state in a cluster: the run Lease and the undo-record ConfigMaps.

``drillkit.safety`` keeps two kinds of objects in the ``drillkit`` namespace: a
``coordination.k8s.io/v1`` Lease that allows one drill per cluster at a time, and
ConfigMaps holding undo records. This module reads and writes them on a
``Cluster`` and hands back frozen records instead of the client's models.

Optimistic concurrency is the point of most of it: replacing an object carries
the ``resourceVersion`` it was read at, and the API server answers 409 when the
object changed since. The shared translation raises that answer as ``Conflict``
(and 404 as ``NotFound``), both ``ClusterError``s from ``drillkit.errors``, because
lock takeover and record updates decide what to do next from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from drillkit.drivers.kubernetes import Cluster, translate_api_errors
from drillkit.errors import NotFound

REQUEST_TIMEOUT = 10.0
"""Seconds to wait for one answer: a renewal that hangs must not outlive its lease."""


def _coordination(cluster: Cluster) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(cluster.api_client)


# -- Leases -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LeaseClaim:
    """What a holder writes into a Lease's spec and annotations."""

    holder: str
    duration_seconds: int
    acquired_at: datetime
    renewed_at: datetime
    transitions: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LeaseRecord:
    """A Lease as read from the API server; fields the holder never set are None."""

    namespace: str
    name: str
    holder: str | None
    duration_seconds: int | None
    acquired_at: datetime | None
    renewed_at: datetime | None
    transitions: int
    annotations: Mapping[str, str]
    resource_version: str


def read_lease(cluster: Cluster, namespace: str, name: str) -> LeaseRecord | None:
    """The Lease, or None when there is none."""
    try:
        with translate_api_errors(f"reading lease {namespace}/{name}"):
            lease = _coordination(cluster).read_namespaced_lease(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
    except NotFound:
        return None
    return _lease_record(lease)


def create_lease(cluster: Cluster, namespace: str, name: str, claim: LeaseClaim) -> LeaseRecord:
    """Create the Lease; ``Conflict`` when it already exists."""
    body = _lease_body(name, claim, resource_version=None)
    with translate_api_errors(f"creating lease {namespace}/{name}"):
        lease = _coordination(cluster).create_namespaced_lease(
            namespace, body, _request_timeout=REQUEST_TIMEOUT
        )
    return _lease_record(lease)


def replace_lease(
    cluster: Cluster, namespace: str, name: str, claim: LeaseClaim, *, resource_version: str
) -> LeaseRecord:
    """Replace the Lease as it was at ``resource_version``.

    ``Conflict`` when someone else wrote it since; ``NotFound`` when it was deleted.
    """
    body = _lease_body(name, claim, resource_version=resource_version)
    with translate_api_errors(f"updating lease {namespace}/{name}"):
        lease = _coordination(cluster).replace_namespaced_lease(
            name, namespace, body, _request_timeout=REQUEST_TIMEOUT
        )
    return _lease_record(lease)


def delete_lease(
    cluster: Cluster, namespace: str, name: str, *, resource_version: str | None = None
) -> bool:
    """Delete the Lease, only as it was at ``resource_version`` when given.

    False when it was already gone; ``Conflict`` when it changed since that version.
    """
    options = _delete_options(resource_version)
    try:
        with translate_api_errors(f"deleting lease {namespace}/{name}"):
            _coordination(cluster).delete_namespaced_lease(
                name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT
            )
    except NotFound:
        return False
    return True


def _lease_body(name: str, claim: LeaseClaim, *, resource_version: str | None) -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(
            name=name, annotations=dict(claim.annotations), resource_version=resource_version
        ),
        spec=client.V1LeaseSpec(
            holder_identity=claim.holder,
            lease_duration_seconds=claim.duration_seconds,
            acquire_time=_micro_time(claim.acquired_at),
            renew_time=_micro_time(claim.renewed_at),
            lease_transitions=claim.transitions,
        ),
    )


def _micro_time(moment: datetime) -> datetime:
    """A UTC time the API server accepts as a MicroTime.

    The client writes ``datetime.isoformat()``, which drops the fraction when the
    microseconds are 0, and the API server then rejects the MicroTime (it requires
    exactly six digits). One microsecond later is the harmless way around it.
    """
    if moment.tzinfo is None:
        raise ValueError("lease times must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=1) if moment.microsecond == 0 else moment


def _lease_record(lease: client.V1Lease) -> LeaseRecord:
    spec = lease.spec or client.V1LeaseSpec()
    return LeaseRecord(
        namespace=lease.metadata.namespace,
        name=lease.metadata.name,
        holder=spec.holder_identity or None,
        duration_seconds=spec.lease_duration_seconds,
        acquired_at=spec.acquire_time,
        renewed_at=spec.renew_time,
        transitions=spec.lease_transitions or 0,
        annotations=dict(lease.metadata.annotations or {}),
        resource_version=lease.metadata.resource_version,
    )


# -- ConfigMaps ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConfigMapRecord:
    """A ConfigMap's metadata that matters to drillkit, and its string data."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    data: Mapping[str, str]
    resource_version: str


def read_config_map(cluster: Cluster, namespace: str, name: str) -> ConfigMapRecord | None:
    """The ConfigMap, or None when there is none."""
    try:
        with translate_api_errors(f"reading configmap {namespace}/{name}"):
            item = cluster.core.read_namespaced_config_map(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
    except NotFound:
        return None
    return _config_map_record(item)


def create_config_map(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    data: Mapping[str, str],
    labels: Mapping[str, str] = {},
    annotations: Mapping[str, str] = {},
) -> ConfigMapRecord:
    """Create the ConfigMap; ``Conflict`` when it already exists."""
    body = _config_map_body(name, data, labels, annotations, resource_version=None)
    with translate_api_errors(f"creating configmap {namespace}/{name}"):
        item = cluster.core.create_namespaced_config_map(
            namespace, body, _request_timeout=REQUEST_TIMEOUT
        )
    return _config_map_record(item)


def replace_config_map(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    data: Mapping[str, str],
    labels: Mapping[str, str] = {},
    annotations: Mapping[str, str] = {},
    resource_version: str,
) -> ConfigMapRecord:
    """Replace the ConfigMap as it was at ``resource_version``.

    ``Conflict`` when someone else wrote it since; ``NotFound`` when it was deleted.
    """
    body = _config_map_body(name, data, labels, annotations, resource_version=resource_version)
    with translate_api_errors(f"updating configmap {namespace}/{name}"):
        item = cluster.core.replace_namespaced_config_map(
            name, namespace, body, _request_timeout=REQUEST_TIMEOUT
        )
    return _config_map_record(item)


def delete_config_map(
    cluster: Cluster, namespace: str, name: str, *, resource_version: str | None = None
) -> bool:
    """Delete the ConfigMap, only as it was at ``resource_version`` when given.

    False when it was already gone; ``Conflict`` when it changed since that version.
    """
    options = _delete_options(resource_version)
    try:
        with translate_api_errors(f"deleting configmap {namespace}/{name}"):
            cluster.core.delete_namespaced_config_map(
                name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT
            )
    except NotFound:
        return False
    return True


def list_config_maps(
    cluster: Cluster, namespace: str, *, label_selector: str
) -> list[ConfigMapRecord]:
    """ConfigMaps of one namespace matching a label selector, paginated."""
    items: list[client.V1ConfigMap] = []
    token: str | None = None
    with translate_api_errors(f"listing configmaps in {namespace} ({label_selector})"):
        while True:
            arguments: dict[str, Any] = {
                "label_selector": label_selector,
                "limit": 500,
                "_request_timeout": REQUEST_TIMEOUT,
            }
            if token:
                arguments["_continue"] = token
            page = cluster.core.list_namespaced_config_map(namespace, **arguments)
            items += page.items
            token = page.metadata._continue
            if not token:
                break
    return [_config_map_record(item) for item in items]


def _config_map_body(
    name: str,
    data: Mapping[str, str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    resource_version: str | None,
) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=name,
            labels=dict(labels),
            annotations=dict(annotations),
            resource_version=resource_version,
        ),
        data=dict(data),
    )


def _config_map_record(item: client.V1ConfigMap) -> ConfigMapRecord:
    return ConfigMapRecord(
        namespace=item.metadata.namespace,
        name=item.metadata.name,
        labels=dict(item.metadata.labels or {}),
        annotations=dict(item.metadata.annotations or {}),
        data=dict(item.data or {}),
        resource_version=item.metadata.resource_version,
    )


def _delete_options(resource_version: str | None) -> client.V1DeleteOptions:
    """Delete only the version read, when one is given (optimistic concurrency)."""
    return client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=resource_version)
        if resource_version
        else None
    )

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from kubernetes import client

from drillkit.drivers.kubernetes import Cluster, list_all, translate_api_errors
from drillkit.errors import NotFound

REQUEST_TIMEOUT = 10.0
"""Seconds to wait for one answer: a renewal that hangs must not outlive its lease."""

T = TypeVar("T")


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
    read = _coordination(cluster).read_namespaced_lease
    lease = _read_object(read, "lease", namespace, name)
    return _lease_record(lease) if lease is not None else None


def create_lease(cluster: Cluster, namespace: str, name: str, claim: LeaseClaim) -> LeaseRecord:
    """Create the Lease; ``Conflict`` when it already exists."""
    body = _lease_body(name, claim, resource_version=None)
    create = _coordination(cluster).create_namespaced_lease
    return _lease_record(_create_object(create, "lease", namespace, name, body))


def replace_lease(
    cluster: Cluster, namespace: str, name: str, claim: LeaseClaim, *, resource_version: str
) -> LeaseRecord:
    """Replace the Lease as it was at ``resource_version``.

    ``Conflict`` when someone else wrote it since; ``NotFound`` when it was deleted.
    """
    body = _lease_body(name, claim, resource_version=resource_version)
    replace = _coordination(cluster).replace_namespaced_lease
    return _lease_record(_replace_object(replace, "lease", namespace, name, body))


def delete_lease(
    cluster: Cluster, namespace: str, name: str, *, resource_version: str | None = None
) -> bool:
    """Delete the Lease, only as it was at ``resource_version`` when given.

    False when it was already gone; ``Conflict`` when it changed since that version.
    """
    delete = _coordination(cluster).delete_namespaced_lease
    return _delete_object(delete, "lease", namespace, name, resource_version)


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
    item = _read_object(cluster.core.read_namespaced_config_map, "configmap", namespace, name)
    return _config_map_record(item) if item is not None else None


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
    create = cluster.core.create_namespaced_config_map
    return _config_map_record(_create_object(create, "configmap", namespace, name, body))


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
    replace = cluster.core.replace_namespaced_config_map
    return _config_map_record(_replace_object(replace, "configmap", namespace, name, body))


def delete_config_map(
    cluster: Cluster, namespace: str, name: str, *, resource_version: str | None = None
) -> bool:
    """Delete the ConfigMap, only as it was at ``resource_version`` when given.

    False when it was already gone; ``Conflict`` when it changed since that version.
    """
    delete = cluster.core.delete_namespaced_config_map
    return _delete_object(delete, "configmap", namespace, name, resource_version)


def list_config_maps(
    cluster: Cluster, namespace: str, *, label_selector: str
) -> list[ConfigMapRecord]:
    """ConfigMaps of one namespace matching a label selector, paginated."""
    with translate_api_errors(f"listing configmaps in {namespace} ({label_selector})"):
        items = list_all(
            cluster.core.list_namespaced_config_map,
            namespace,
            label_selector=label_selector,
            _request_timeout=REQUEST_TIMEOUT,
        )
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


# -- the four requests, for either kind ---------------------------------------------------
#
# Each takes the client's method for the kind (``read_namespaced_lease``, ...) and the
# kind's name for messages: how a request is bounded, named in its errors and answered
# when the object is absent is the same for Leases and ConfigMaps.


def _read_object(read: Callable[..., T], kind: str, namespace: str, name: str) -> T | None:
    try:
        with translate_api_errors(f"reading {kind} {namespace}/{name}"):
            return read(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except NotFound:
        return None


def _create_object(create: Callable[..., T], kind: str, namespace: str, name: str, body: T) -> T:
    with translate_api_errors(f"creating {kind} {namespace}/{name}"):
        return create(namespace, body, _request_timeout=REQUEST_TIMEOUT)


def _replace_object(replace: Callable[..., T], kind: str, namespace: str, name: str, body: T) -> T:
    with translate_api_errors(f"updating {kind} {namespace}/{name}"):
        return replace(name, namespace, body, _request_timeout=REQUEST_TIMEOUT)


def _delete_object(
    delete: Callable[..., object],
    kind: str,
    namespace: str,
    name: str,
    resource_version: str | None,
) -> bool:
    """False when the object was already gone."""
    # Only the version read, when one is given (optimistic concurrency).
    options = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=resource_version)
        if resource_version
        else None
    )
    try:
        with translate_api_errors(f"deleting {kind} {namespace}/{name}"):
            delete(name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT)
    except NotFound:
        return False
    return True

"""Namespace backups without Velero, against a cluster and an object store.

The archive format, its checks and the choice of what a backup keeps are
``drillkit.model.backups``'s; this adapter does the I/O around them.

**Export** discovers every namespaced resource the API serves (the preferred
version of each, with ``list`` and ``create``), lists the selected namespaces and
keeps what a restore must recreate (``strip_server_fields``; events, endpoints and
leases are left out too). Resources the identity may not list are recorded as
skipped, not silently missing. CustomResourceDefinitions of custom objects in the
backup go with it.

**Store**: the archive is stored as ``backups/<name>.tar.gz`` with its catalogue
entry ``backups/<name>.json`` in an object store (``drillkit.drivers.objectstore``),
which checks its own digest on every read; :func:`load_backup` reads the archive
back and verifies it completely (``open_archive``) before a restore writes anything.

**Restore** writes in dependency order with a conflict policy: ``skip`` leaves
existing objects alone, ``replace`` overwrites them with the backup's version,
``fail`` checks every object first and writes nothing when any exists. Each create is
announced to a journal callback before it is sent, so an interrupted restore can be
cleaned up (``drillkit.restoring``). Secret values are never returned or logged:
results name objects only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import Resource

from drillkit.drivers.catalogues import find_entry
from drillkit.drivers.kubernetes import Cluster, translate_api_errors
from drillkit.drivers.objectstore import ObjectStore, StorageError
from drillkit.errors import ClusterError, Conflict, DrillError, InvalidInput, NotFound
from drillkit.model.backups import (
    CONFLICT_POLICIES,
    PREFIX,
    Backup,
    BackupInfo,
    BackupRejected,
    CatalogueSigner,
    CatalogueVerifier,
    ObjectKey,
    RestoreResult,
    build_archive,
    catalogue_document,
    catalogue_entry,
    ensure_signed,
    made_by_the_cluster,
    open_archive,
    restore_order,
    restore_rank,
    signed,
    strip_server_fields,
)

# Made by the cluster itself, or meaningless elsewhere.
_EXCLUDED_RESOURCES = frozenset(
    {
        ("", "events"),
        ("events.k8s.io", "events"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("apps", "controllerrevisions"),
        ("coordination.k8s.io", "leases"),
        ("storage.k8s.io", "csistoragecapacities"),
        ("authorization.k8s.io", "localsubjectaccessreviews"),
    }
)


class RestoreConflict(DrillError):
    """Objects of the backup exist already and the policy is ``fail``; nothing was written."""


# -- export -------------------------------------------------------------------------------


def export_namespaces(
    cluster: Cluster, namespaces: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects a restore of ``namespaces`` needs, stripped; and the resources
    that could not be listed (``group/resource``)."""
    objects: list[dict[str, Any]] = []
    skipped: list[str] = []
    custom_groups: set[tuple[str, str]] = set()
    for namespace in namespaces:
        with translate_api_errors(f"reading namespace {namespace}"):
            item = cluster.core.read_namespace(namespace)
        objects.append(strip_server_fields(cluster.api_client.sanitize_for_serialization(item)))
    for resource in _namespaced_resources(cluster):
        for namespace in namespaces:
            try:
                with translate_api_errors(f"listing {resource.name} in {namespace}"):
                    listed = resource.get(namespace=namespace).to_dict()
            except ClusterError as error:
                if error.status in (403, 404, 405):
                    label = f"{resource.group or 'core'}/{resource.name}"
                    if label not in skipped:
                        skipped.append(label)
                    break
                raise
            for item in listed.get("items", []):
                item.setdefault("apiVersion", resource.group_version)
                item.setdefault("kind", resource.kind)
                if made_by_the_cluster(item):
                    continue
                objects.append(strip_server_fields(item))
                if resource.group and "." in resource.group and not _builtin(resource.group):
                    custom_groups.add((resource.group, resource.name))
    objects += _definitions_of(cluster, custom_groups)
    return objects, skipped


def _namespaced_resources(cluster: Cluster) -> list[Resource]:
    with translate_api_errors("discovering the API"):
        found = cluster.dynamic.resources.search()
    chosen = []
    for resource in found:
        if not isinstance(resource, Resource) or resource.kind.endswith("List"):
            continue
        if not (resource.namespaced and resource.preferred) or "/" in resource.name:
            continue
        verbs = resource.verbs or []
        if "list" not in verbs or "create" not in verbs:
            continue
        if (resource.group, resource.name) in _EXCLUDED_RESOURCES:
            continue
        chosen.append(resource)
    return sorted(chosen, key=lambda r: (restore_rank(r.kind), r.group, r.name))


def _builtin(group: str) -> bool:
    return group.endswith(".k8s.io") or group == "k8s.io"


def _definitions_of(cluster: Cluster, groups: set[tuple[str, str]]) -> list[dict[str, Any]]:
    if not groups:
        return []
    with translate_api_errors("reading custom resource definitions"):
        resource = cluster.dynamic.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        )
        definitions = []
        for group, plural in sorted(groups):
            item = resource.get(name=f"{plural}.{group}").to_dict()
            definitions.append(strip_server_fields(item))
    return definitions


# -- the store ------------------------------------------------------------------------------


def create_backup(
    cluster: Cluster,
    store: ObjectStore,
    namespaces: Sequence[str],
    *,
    plan: str | None = None,
    now: datetime | None = None,
    signer: CatalogueSigner | None = None,
) -> BackupInfo:
    """Export ``namespaces``, archive them and store the archive with its catalogue entry,
    signed by ``signer`` when one is given."""
    if not namespaces:
        raise InvalidInput("a backup needs at least one namespace")
    taken = now or datetime.now(UTC)
    taken = taken.replace(microsecond=taken.microsecond // 1000 * 1000)
    objects, skipped = export_namespaces(cluster, namespaces)
    source = str(cluster.api_client.configuration.host)
    archive = build_archive(objects, namespaces=namespaces, taken=taken, source=source)
    info = catalogue_entry(
        archive,
        objects,
        namespaces=namespaces,
        taken=taken,
        source=source,
        skipped=skipped,
        plan=plan,
    )
    if signer is not None:
        info = signed(info, signer)
    # The archive before its catalogue entry: a listed backup is a whole one.
    store.put(info.archive_key, archive)
    store.put(info.catalogue_key, catalogue_document(info))
    return info


def read_catalogue(store: ObjectStore) -> list[BackupInfo]:
    """Every catalogued backup in the store, oldest first."""
    backups = []
    for key in store.keys(PREFIX):
        if not key.endswith(".json"):
            continue
        try:
            backups.append(BackupInfo.from_json(json.loads(store.get(key))))
        except (ValueError, KeyError, TypeError) as error:
            raise DrillError(
                f"unreadable catalogue entry {key} in {store.description}: {error}"
            ) from None
    return sorted(backups, key=lambda b: b.taken_utc)


def find_backup(store: ObjectStore, reference: str = "latest") -> BackupInfo:
    """``latest`` or a backup's name: its catalogue entry."""
    return find_entry(
        read_catalogue(store),
        reference,
        name_of=lambda info: info.name,
        what="backup",
        where=store.description,
        none_there=f"no backup in {store.description}",
    )


def prune_backups(store: ObjectStore, *, plan: str, keep: int) -> list[BackupInfo]:
    """Delete the backups of ``plan`` but its newest ``keep``; the deleted ones, oldest first.

    Backups of other plans and those taken by hand are never touched. The catalogue entry
    goes first, so a backup is never listed without its archive.
    """
    if keep < 1:
        raise InvalidInput(f"backup plan {plan}: keep must be 1 or more, not {keep}")
    taken = [info for info in read_catalogue(store) if info.plan == plan]
    doomed = taken[:-keep]
    for info in doomed:
        store.delete(info.catalogue_key)
        store.delete(info.archive_key)
    return doomed


def load_backup(
    store: ObjectStore, info: BackupInfo, *, verifier: CatalogueVerifier | None = None
) -> Backup:
    """Read and verify a backup completely; ``BackupRejected`` naming what is wrong.

    With ``verifier``, the catalogue entry's signature is checked first."""
    if verifier is not None:
        ensure_signed(info, verifier)
    try:
        data = store.get(info.archive_key)
    except StorageError as error:
        raise BackupRejected(f"backup {info.name} cannot be used: {error}") from None
    return open_archive(info, data)


# -- restore ------------------------------------------------------------------------------


Announce = Callable[[ObjectKey], None]


def ensure_none_exist(
    cluster: Cluster, objects: Sequence[Mapping[str, Any]], *, consequence: str
) -> None:
    """``RestoreConflict`` naming the objects (namespaces aside) that exist already: what
    the conflict policy ``fail`` refuses to overwrite."""
    existing = [
        ObjectKey.of(o).describe()
        for o in objects
        if o["kind"] != "Namespace" and _read(cluster, o) is not None
    ]
    if existing:
        shown = ", ".join(existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise RestoreConflict(
            f"{len(existing)} objects of the backup exist already ({shown}); "
            f"{consequence} (conflict policy: fail)"
        )


def restore_objects(
    cluster: Cluster,
    objects: Sequence[Mapping[str, Any]],
    *,
    conflict: str = "skip",
    before_create: Announce | None = None,
) -> RestoreResult:
    """Write ``objects`` (already mapped) in dependency order under a conflict policy.

    ``before_create`` is told each object it is about to create, before the request.
    """
    if conflict not in CONFLICT_POLICIES:
        raise InvalidInput(
            f"conflict policy must be one of {', '.join(CONFLICT_POLICIES)}, not {conflict!r}"
        )
    ordered = restore_order(objects)
    result = RestoreResult()
    if conflict == "fail":
        ensure_none_exist(cluster, ordered, consequence="nothing was restored")
    for item in ordered:
        key = ObjectKey.of(item)
        current = _read(cluster, item)
        if current is not None:
            if key.kind == "Namespace" or conflict != "replace":
                result.skipped.append(key)
                continue
            _replace(cluster, item, current)
            result.replaced.append(key)
            continue
        if before_create is not None:
            before_create(key)
        _create(cluster, item)
        result.created.append(key)
    return result


def find_resource(cluster: Cluster, api_version: str, kind: str) -> Resource:
    """The API resource serving ``kind``; discovery is refreshed once when it is not
    known (a CRD created since, by this restore or an installer)."""
    with translate_api_errors(f"finding the API of {kind} ({api_version})"):
        for attempt in range(2):
            try:
                resource: Resource = cluster.dynamic.resources.get(
                    api_version=api_version, kind=kind
                )
                return resource
            except ResourceNotFoundError:
                if attempt == 0:
                    cluster.dynamic.resources.invalidate_cache()
    raise NotFound(f"the API server serves no {kind} in {api_version}", status=404)


def _resource(cluster: Cluster, item: Mapping[str, Any]) -> Resource:
    key = ObjectKey.of(item)
    return find_resource(cluster, key.api_version, key.kind)


def _read(cluster: Cluster, item: Mapping[str, Any]) -> dict[str, Any] | None:
    key = ObjectKey.of(item)
    resource = _resource(cluster, item)
    try:
        with translate_api_errors(f"reading {key.describe()}"):
            found: dict[str, Any] = resource.get(name=key.name, namespace=key.namespace).to_dict()
    except NotFound:
        return None
    return found


def _create(cluster: Cluster, item: Mapping[str, Any]) -> None:
    key = ObjectKey.of(item)
    resource = _resource(cluster, item)
    try:
        with translate_api_errors(f"creating {key.describe()}"):
            resource.create(body=dict(item), namespace=key.namespace)
    except Conflict:
        pass  # created meanwhile (a retried restore): nothing to do


def _replace(cluster: Cluster, item: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    key = ObjectKey.of(item)
    body = copy.deepcopy(dict(item))
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    if key.kind == "Service":
        # Cluster IPs cannot change; keep the ones the target assigned.
        for name in ("clusterIP", "clusterIPs"):
            if name in current.get("spec", {}):
                body.setdefault("spec", {})[name] = current["spec"][name]
    if key.kind == "PersistentVolumeClaim" and current.get("spec", {}).get("volumeName"):
        body.setdefault("spec", {})["volumeName"] = current["spec"]["volumeName"]
    resource = _resource(cluster, item)
    with translate_api_errors(f"replacing {key.describe()}"):
        resource.replace(body=body, namespace=key.namespace)


def delete_object(cluster: Cluster, key: ObjectKey) -> bool:
    """Delete one object; False when it was not there."""
    try:
        resource = find_resource(cluster, key.api_version, key.kind)
        with translate_api_errors(f"deleting {key.describe()}"):
            resource.delete(name=key.name, namespace=key.namespace)
    except NotFound:
        return False
    return True


def object_exists(cluster: Cluster, key: ObjectKey) -> bool:
    return _read(cluster, {**key.to_json(), "metadata": key.to_json()}) is not None

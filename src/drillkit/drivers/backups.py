"""Namespace backups without Velero: export through the API, archive, verify, restore.

**Export** discovers every namespaced resource the API serves (the preferred
version of each, with ``list`` and ``create``), lists the selected namespaces and
keeps what a restore must recreate. It leaves out what the cluster makes by itself:
objects a controller owns (ReplicaSets of a Deployment, their Pods; the owner
recreates them), events, endpoints, leases, the ``default`` ServiceAccount, the
``kube-root-ca.crt`` ConfigMap and service-account token Secrets. Server-populated
fields are stripped (uid, resourceVersion, managedFields, status, a Service's
cluster IPs, a claim's bound volume). Resources the identity may not list are
recorded as skipped, not silently missing. CustomResourceDefinitions of custom
objects in the backup go with it.

**Archive**: a gzipped tar holding ``manifest.json`` (format version, source,
namespaces, one entry per object with the SHA-256 of its file) and one JSON file
per object. It is stored as ``backups/<name>.tar.gz`` with a catalogue entry
``backups/<name>.json`` (time, size, digest, counts by kind) in an object store
(``drillkit.drivers.objectstore``), which checks its own digest on every read.

**Verify before write**: :func:`load_backup` reads the archive, checks it against
the catalogue, opens it, and checks every object against the manifest, all before
a restore writes anything. A truncated or corrupted archive raises
``BackupRejected``.

**Scope**: a restore writes only what the backup covers (:func:`ensure_within_backup`):
objects in the namespaces its catalogue entry names, those namespaces themselves, and
cluster-scoped objects of the kinds the entry declares (``cluster_kinds``: the CRDs of
custom objects) that the restore allows. An archive is only as honest as whoever could
write the store: one that carries anything else (a RoleBinding in ``kube-system``) is
refused whole, before anything is written.

**Signatures**: with a signing key, a catalogue entry carries an Ed25519 signature
over its own content (names, namespaces, digest of the archive, declared cluster
kinds), and a restore given the matching key refuses an entry that is unsigned,
signed by another key or changed since. The digests prove the archive matches the
entry; the signature proves the entry is the one drillkit wrote. Keys are the
evidence ledger's (``drillkit.signing``); this layer sits below it, so
it takes them as the small ``CatalogueSigner``/``CatalogueVerifier`` interfaces
that those keys provide, and whoever may load them (the CLI) hands them in.

**Restore** writes in dependency order (namespaces, CRDs, config and secrets,
storage claims, workloads, services, the rest) with a namespace mapping and a
conflict policy: ``skip`` leaves existing objects alone, ``replace`` overwrites
them with the backup's version, ``fail`` checks every object first and writes
nothing when any exists. Each create is announced to a journal callback before it
is sent, so an interrupted restore can be cleaned up (``drillkit.faults.backup``).
Secret values are never returned or logged: results name objects only.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import tarfile
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import Resource

from drillkit.drivers.kubernetes import Cluster, translate_api_errors
from drillkit.drivers.objectstore import ObjectStore, StorageError, sha256_of
from drillkit.errors import ClusterError, Conflict, DrillError, InvalidInput, NotFound
from drillkit.model.timeline import format_utc, parse_utc

FORMAT = "drillkit-backup"
FORMAT_VERSION = 1
PREFIX = "backups/"

ConflictPolicy = Literal["skip", "replace", "fail"]
CONFLICT_POLICIES: tuple[str, ...] = ("skip", "replace", "fail")

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
_METADATA_STRIPPED = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "ownerReferences",
)
_ANNOTATIONS_STRIPPED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "pv.kubernetes.io/bind-completed",
        "pv.kubernetes.io/bound-by-controller",
        "volume.beta.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node",
    }
)
# Restore order: what others refer to comes first.
_RANKS = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "ServiceAccount": 2,
    "ConfigMap": 2,
    "Secret": 2,
    "Role": 2,
    "RoleBinding": 2,
    "LimitRange": 2,
    "ResourceQuota": 2,
    "PersistentVolumeClaim": 3,
    "Deployment": 4,
    "StatefulSet": 4,
    "DaemonSet": 4,
    "ReplicaSet": 4,
    "ReplicationController": 4,
    "Job": 4,
    "CronJob": 4,
    "Pod": 4,
    "Service": 5,
}
_OTHER_RANK = 6


class BackupRejected(DrillError):
    """A backup failed its integrity check; nothing may be restored from it."""


class CatalogueSigner(Protocol):
    """Signs catalogue entries (``drillkit.signing.SigningKey`` is one)."""

    @property
    def fingerprint(self) -> str: ...

    def sign(self, data: bytes) -> str: ...


class CatalogueVerifier(Protocol):
    """Checks catalogue signatures (``drillkit.signing.VerifyKey`` is one)."""

    @property
    def fingerprint(self) -> str: ...

    def verify(self, signature: str, data: bytes) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class CatalogueSignature:
    """Who signed a catalogue entry (a key fingerprint) and the signature (base64)."""

    key: str
    ed25519: str


class RestoreConflict(DrillError):
    """Objects of the backup exist already and the policy is ``fail``; nothing was written."""


@dataclass(frozen=True, kw_only=True)
class ObjectKey:
    """One object, by identity only (never its content)."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def to_json(self) -> dict[str, object]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ObjectKey:
        namespace = value.get("namespace")
        return cls(
            api_version=str(value["apiVersion"]),
            kind=str(value["kind"]),
            namespace=str(namespace) if namespace else None,
            name=str(value["name"]),
        )

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectKey:
        metadata = manifest.get("metadata", {})
        return cls(
            api_version=str(manifest["apiVersion"]),
            kind=str(manifest["kind"]),
            namespace=metadata.get("namespace") or None,
            name=str(metadata["name"]),
        )


@dataclass(frozen=True, kw_only=True)
class BackupInfo:
    """A catalogue entry: what a listing shows and what a restore checks against."""

    name: str
    taken_utc: datetime
    size: int
    sha256: str
    namespaces: tuple[str, ...]
    counts: Mapping[str, int]
    """Objects by kind."""
    source: str
    skipped: tuple[str, ...] = ()
    """Resources that could not be listed (forbidden), by ``group/resource``."""
    plan: str | None = None
    """The backup plan that took it, whose retention may delete it; None when taken by hand."""
    cluster_kinds: tuple[str, ...] = ()
    """Kinds of the cluster-scoped objects it holds, namespaces aside (CRDs)."""
    signature: CatalogueSignature | None = None
    """Over ``signed_bytes()``; kept beside the entry in the catalogue, not in ``to_json``."""

    def signed_bytes(self) -> bytes:
        """What the signature covers: the entry, canonically encoded."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def archive_key(self) -> str:
        return f"{PREFIX}{self.name}.tar.gz"

    @property
    def catalogue_key(self) -> str:
        return f"{PREFIX}{self.name}.json"

    def age_seconds(self, now: datetime) -> float:
        return (now - self.taken_utc).total_seconds()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "taken_utc": format_utc(self.taken_utc),
            "size": self.size,
            "sha256": self.sha256,
            "namespaces": list(self.namespaces),
            "counts": dict(sorted(self.counts.items())),
            "source": self.source,
            "skipped": list(self.skipped),
            "plan": self.plan,
            "cluster_kinds": list(self.cluster_kinds),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> BackupInfo:
        return cls(
            name=str(value["name"]),
            taken_utc=parse_utc(str(value["taken_utc"])),
            size=int(value["size"]),
            sha256=str(value["sha256"]),
            namespaces=tuple(str(n) for n in value["namespaces"]),
            counts={str(k): int(v) for k, v in dict(value["counts"]).items()},
            source=str(value["source"]),
            skipped=tuple(str(s) for s in value.get("skipped", ())),
            plan=str(value["plan"]) if value.get("plan") is not None else None,
            cluster_kinds=tuple(str(k) for k in value.get("cluster_kinds", ())),
            signature=CatalogueSignature(
                key=str(value["signature"]["key"]), ed25519=str(value["signature"]["ed25519"])
            )
            if value.get("signature") is not None
            else None,
        )


@dataclass(frozen=True, kw_only=True)
class Backup:
    """A verified backup, loaded: its catalogue entry and its objects."""

    info: BackupInfo
    objects: tuple[dict[str, Any], ...]


@dataclass(kw_only=True)
class RestoreResult:
    """What a restore did, by object identity; never object content."""

    created: list[ObjectKey] = field(default_factory=list)
    replaced: list[ObjectKey] = field(default_factory=list)
    skipped: list[ObjectKey] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Restored (created or replaced) objects by kind."""
        return dict(sorted(Counter(k.kind for k in [*self.created, *self.replaced]).items()))

    def to_json(self) -> dict[str, object]:
        return {
            "counts": self.counts(),
            "created": len(self.created),
            "replaced": len(self.replaced),
            "skipped": [k.describe() for k in self.skipped],
        }


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
        objects.append(_strip(cluster.api_client.sanitize_for_serialization(item)))
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
                if _made_by_the_cluster(item):
                    continue
                objects.append(_strip(item))
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
    return sorted(chosen, key=lambda r: (_rank(r.kind), r.group, r.name))


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
            definitions.append(_strip(item))
    return definitions


def _made_by_the_cluster(item: Mapping[str, Any]) -> bool:
    metadata = item.get("metadata", {})
    if any(reference.get("controller") for reference in metadata.get("ownerReferences") or []):
        return True  # its controller recreates it from the restored owner
    kind, name = item.get("kind"), metadata.get("name")
    if kind == "ServiceAccount" and name == "default":
        return True
    if kind == "ConfigMap" and name == "kube-root-ca.crt":
        return True
    return kind == "Secret" and item.get("type") == "kubernetes.io/service-account-token"


def _strip(item: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without what the server fills in; what a create accepts."""
    stripped = copy.deepcopy(dict(item))
    stripped.pop("status", None)
    metadata = stripped.setdefault("metadata", {})
    for key in _METADATA_STRIPPED:
        metadata.pop(key, None)
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k not in _ANNOTATIONS_STRIPPED
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    for key in [k for k, v in metadata.items() if v is None]:
        del metadata[key]
    spec = stripped.get("spec")
    kind = stripped.get("kind")
    if isinstance(spec, dict):
        if kind == "Service":
            # Cluster IPs belong to the source cluster's service network.
            for key in ("clusterIP", "clusterIPs"):
                if spec.get(key) not in (None, "None", ["None"]):
                    spec.pop(key, None)
            for port in spec.get("ports") or []:
                if spec.get("type") not in ("NodePort", "LoadBalancer"):
                    port.pop("nodePort", None)
        elif kind == "PersistentVolumeClaim":
            # The volume belongs to the source cluster; the target binds its own.
            spec.pop("volumeName", None)
        elif kind == "Pod":
            spec.pop("nodeName", None)
        elif kind == "Namespace":
            stripped.pop("spec", None)
    _drop_nones(stripped)
    return stripped


def _drop_nones(value: Any) -> None:
    """The client's dictionaries carry every unset field as None; a create does not need them."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for item in value.values():
            _drop_nones(item)
    elif isinstance(value, list):
        for item in value:
            _drop_nones(item)


# -- archive, catalogue, verification --------------------------------------------------------


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
    name = f"backup-{taken.strftime('%Y%m%dT%H%M%S.%f')[:-3]}Z"
    info = BackupInfo(
        name=name,
        taken_utc=taken,
        size=len(archive),
        sha256=sha256_of(archive),
        namespaces=tuple(namespaces),
        counts=dict(sorted(Counter(str(o["kind"]) for o in objects).items())),
        source=source,
        skipped=tuple(skipped),
        plan=plan,
        cluster_kinds=tuple(
            sorted(
                {
                    str(o["kind"])
                    for o in objects
                    if not _is_namespace(o) and not o["metadata"].get("namespace")
                }
            )
        ),
    )
    entry: dict[str, object] = info.to_json()
    if signer is not None:
        signature = CatalogueSignature(
            key=signer.fingerprint, ed25519=signer.sign(info.signed_bytes())
        )
        info = replace(info, signature=signature)
        entry["signature"] = {"key": signature.key, "ed25519": signature.ed25519}
    # The archive before its catalogue entry: a listed backup is a whole one.
    store.put(info.archive_key, archive)
    store.put(info.catalogue_key, (json.dumps(entry, sort_keys=True) + "\n").encode())
    return info


def ensure_signed(info: BackupInfo, verifier: CatalogueVerifier) -> None:
    """``BackupRejected`` unless ``verifier``'s key signed this very catalogue entry."""
    signature = info.signature
    if signature is None:
        raise BackupRejected(
            f"backup {info.name}: its catalogue entry is not signed, and a key to check "
            f"signatures with ({verifier.fingerprint}) is configured"
        )
    if signature.key != verifier.fingerprint:
        raise BackupRejected(
            f"backup {info.name}: its catalogue entry is signed by key {signature.key}, "
            f"not {verifier.fingerprint}"
        )
    if not verifier.verify(signature.ed25519, info.signed_bytes()):
        raise BackupRejected(
            f"backup {info.name}: its catalogue entry does not match its signature "
            "(changed since it was signed)"
        )


def build_archive(
    objects: Iterable[Mapping[str, Any]],
    *,
    namespaces: Sequence[str],
    taken: datetime,
    source: str,
) -> bytes:
    """A gzipped tar: ``manifest.json`` first, then one JSON file per object."""
    entries: list[dict[str, object]] = []
    files: list[tuple[str, bytes]] = []
    for index, item in enumerate(objects):
        key = ObjectKey.of(item)
        path = f"objects/{index:05d}-{key.kind.lower()}-{key.namespace or '_'}-{key.name}.json"
        data = (json.dumps(item, sort_keys=True) + "\n").encode()
        files.append((path, data))
        entries.append({**key.to_json(), "file": path, "sha256": sha256_of(data)})
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "taken_utc": format_utc(taken),
        "source": source,
        "namespaces": list(namespaces),
        "objects": entries,
    }
    buffer = io.BytesIO()
    # A fixed mtime: the same objects make the same archive.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        for path, data in [("manifest.json", json.dumps(manifest, indent=1).encode()), *files]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


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
    catalogue = read_catalogue(store)
    if not catalogue:
        raise DrillError(f"no backup in {store.description}")
    if reference == "latest":
        return catalogue[-1]
    for info in catalogue:
        if info.name == reference:
            return info
    raise DrillError(f"backup {reference} is not in the catalogue of {store.description}")


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
    if sha256_of(data) != info.sha256 or len(data) != info.size:
        raise BackupRejected(
            f"backup {info.name} is not the archive catalogued: sha256 {sha256_of(data)[:12]}... "
            f"({len(data)} bytes), expected {info.sha256[:12]}... ({info.size} bytes)"
        )
    return Backup(info=info, objects=tuple(_read_archive(info.name, data)))


def _read_archive(name: str, data: bytes) -> list[dict[str, Any]]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            manifest = json.loads(_member(archive, members, "manifest.json"))
            if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
                raise BackupRejected(
                    f"backup {name}: not a version {FORMAT_VERSION} {FORMAT} archive"
                )
            objects = []
            for entry in manifest["objects"]:
                content = _member(archive, members, str(entry["file"]))
                if sha256_of(content) != entry["sha256"]:
                    raise BackupRejected(
                        f"backup {name}: {entry['file']} does not match its manifest digest"
                    )
                item = json.loads(content)
                if ObjectKey.of(item) != ObjectKey.from_json(entry):
                    raise BackupRejected(f"backup {name}: {entry['file']} holds another object")
                objects.append(item)
            return objects
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupRejected(f"backup {name}: the archive cannot be read ({error})") from None
    except (ValueError, KeyError, TypeError) as error:
        raise BackupRejected(f"backup {name}: the manifest is invalid ({error})") from None


def _member(archive: tarfile.TarFile, members: Mapping[str, tarfile.TarInfo], path: str) -> bytes:
    member = members.get(path)
    stream = archive.extractfile(member) if member is not None else None
    if stream is None:
        raise BackupRejected(f"the archive has no {path}")
    return stream.read()


# -- restore ------------------------------------------------------------------------------


def ensure_within_backup(backup: Backup, *, allowed_cluster_kinds: Collection[str] = ()) -> None:
    """``BackupRejected`` naming the first object a restore of ``backup`` must not write.

    Allowed: objects in the namespaces the catalogue entry names, those Namespaces, and
    cluster-scoped objects of a kind the entry declares and ``allowed_cluster_kinds``
    names. Checked before any namespace mapping, against the catalogue, not the archive.
    """
    info = backup.info
    for item in backup.objects:
        key = ObjectKey.of(item)
        if _is_namespace(item):
            if key.name in info.namespaces:
                continue
            problem = "a namespace the backup does not cover"
        elif key.namespace is not None:
            if key.namespace in info.namespaces:
                continue
            problem = f"outside the backup's namespaces ({', '.join(info.namespaces)})"
        elif key.kind not in info.cluster_kinds:
            problem = f"a cluster-scoped {key.kind} that the catalogue entry does not declare"
        elif key.kind not in allowed_cluster_kinds:
            problem = (
                f"a cluster-scoped {key.kind} that this restore does not allow "
                "(allow the kind with cluster_kinds, or --allow-cluster-kind)"
            )
        else:
            continue
        raise BackupRejected(
            f"backup {info.name} holds {key.describe()}, {problem}; nothing was restored"
        )


def _is_namespace(item: Mapping[str, Any]) -> bool:
    return item.get("apiVersion") == "v1" and item.get("kind") == "Namespace"


def restore_order(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Objects in the order a restore writes them (stable within a rank)."""
    return [dict(o) for o in sorted(objects, key=lambda o: _rank(str(o["kind"])))]


def _rank(kind: str) -> int:
    return _RANKS.get(kind, _OTHER_RANK)


def map_namespaces(
    objects: Iterable[Mapping[str, Any]], mapping: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Copies of ``objects`` moved from each mapped namespace to its new name."""
    moved = []
    for item in objects:
        copied = copy.deepcopy(dict(item))
        metadata = copied["metadata"]
        if copied["kind"] == "Namespace":
            metadata["name"] = mapping.get(metadata["name"], metadata["name"])
        elif metadata.get("namespace") in mapping:
            metadata["namespace"] = mapping[metadata["namespace"]]
        moved.append(copied)
    return moved


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

"""The backup archive format: catalogue entries, archives, manifests and digests, as values.

A backup is a gzipped tar holding ``manifest.json`` (format version, source,
namespaces, one entry per object with the SHA-256 of its file) and one JSON file per
object, catalogued by a :class:`BackupInfo` (time, size, digest, counts by kind).
This module builds and reads such archives from and to bytes, checks them against
their catalogue entry and manifest, and decides what a backup keeps of an exported
object and what a restore of it may write. The object store and the cluster are
``drillkit.drivers.backups``'s; nothing here performs I/O or reads a clock.

**What is kept**: objects a controller owns (its owner recreates them), the
``default`` ServiceAccount, the ``kube-root-ca.crt`` ConfigMap and service-account
token Secrets are left out; server-populated fields are stripped (uid,
resourceVersion, managedFields, status, a Service's cluster IPs, a claim's bound
volume).

**Verify before write**: :func:`open_archive` checks the archive against its
catalogue entry, opens it, and checks every object against the manifest. A
truncated or corrupted archive raises ``BackupRejected``.

**Scope**: a restore writes only what the backup covers (:func:`ensure_within_backup`):
objects in the namespaces its catalogue entry names, those namespaces themselves, and
cluster-scoped objects of the kinds the entry declares (``cluster_kinds``: the CRDs of
custom objects) that the restore allows. An archive is only as honest as whoever could
write the store: one that carries anything else (a RoleBinding in ``kube-system``) is
refused whole, before anything is written.

**Signatures**: with a signing key, a catalogue entry carries an Ed25519 signature
over its own content (names, namespaces, digest of the archive, declared cluster
kinds), and a restore given the matching key refuses an entry that is unsigned,
signed by another key or changed since (:func:`ensure_signed`). The digests prove
the archive matches the entry; the signature proves the entry is the one drillkit
wrote. Keys are the evidence ledger's (``drillkit.signing``); this module takes them
as the small ``CatalogueSigner``/``CatalogueVerifier`` interfaces that those keys
provide.

**Order**: a restore writes in dependency order (:func:`restore_order`: namespaces,
CRDs, config and secrets, storage claims, workloads, services, the rest), after
:func:`map_namespaces` moved the objects to their new namespaces.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import BeforeValidator, Field, PlainSerializer, TypeAdapter

from drillkit.errors import DrillError
from drillkit.model.records import UtcTime, read_record

FORMAT = "drillkit-backup"
FORMAT_VERSION = 1
PREFIX = "backups/"

ConflictPolicy = Literal["skip", "replace", "fail"]
CONFLICT_POLICIES: tuple[str, ...] = ("skip", "replace", "fail")

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


def _none_if_empty(namespace: object) -> object:
    return namespace or None


def _sorted_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


@dataclass(frozen=True, kw_only=True)
class CatalogueSignature:
    """Who signed a catalogue entry (a key fingerprint) and the signature (base64)."""

    key: str
    ed25519: str


@dataclass(frozen=True, kw_only=True)
class ObjectKey:
    """One object, by identity only (never its content)."""

    api_version: Annotated[str, Field(alias="apiVersion")]
    kind: str
    namespace: Annotated[str | None, BeforeValidator(_none_if_empty)]
    """None for a cluster-scoped object (written null; an empty string reads as None)."""
    name: str

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = _OBJECT_KEY.dump_python(self, mode="json", by_alias=True)
        return document

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ObjectKey:
        """The object a manifest entry or a journal names (other fields ignored)."""
        return read_record(_OBJECT_KEY, value)

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
    taken_utc: UtcTime
    size: int
    sha256: str
    namespaces: tuple[str, ...]
    counts: Annotated[Mapping[str, int], PlainSerializer(_sorted_counts)]
    """Objects by kind, written in the order of the kinds."""
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
        """The entry's content, without its signature."""
        document: dict[str, object] = _BACKUP_INFO.dump_python(
            self, mode="json", exclude={"signature"}
        )
        return document

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> BackupInfo:
        """The entry as stored, its signature included; older entries lack the optional
        fields and take their defaults."""
        return read_record(_BACKUP_INFO, value)


@dataclass(frozen=True, kw_only=True)
class ArchivedObject(ObjectKey):
    """A manifest entry: an object, the archive's file that holds it, and that file's digest."""

    file: str
    sha256: str

    @property
    def key(self) -> ObjectKey:
        """The object alone, to compare with what the file holds."""
        return ObjectKey(
            api_version=self.api_version, kind=self.kind, namespace=self.namespace, name=self.name
        )


@dataclass(frozen=True, kw_only=True)
class ArchiveManifest:
    """``manifest.json``, an archive's first file: what it holds, where, and each digest."""

    format: str
    version: int
    taken_utc: UtcTime
    source: str
    namespaces: tuple[str, ...]
    objects: tuple[ArchivedObject, ...]


_OBJECT_KEY: Final = TypeAdapter(ObjectKey)
_BACKUP_INFO: Final = TypeAdapter(BackupInfo)
_MANIFEST: Final = TypeAdapter(ArchiveManifest)


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


# -- what a backup keeps of an object ------------------------------------------------------


def made_by_the_cluster(item: Mapping[str, Any]) -> bool:
    metadata = item.get("metadata", {})
    if any(reference.get("controller") for reference in metadata.get("ownerReferences") or []):
        return True  # its controller recreates it from the restored owner
    kind, name = item.get("kind"), metadata.get("name")
    if kind == "ServiceAccount" and name == "default":
        return True
    if kind == "ConfigMap" and name == "kube-root-ca.crt":
        return True
    return kind == "Secret" and item.get("type") == "kubernetes.io/service-account-token"


def strip_server_fields(item: Mapping[str, Any]) -> dict[str, Any]:
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


# -- archive and catalogue entry -------------------------------------------------------------


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


def catalogue_entry(
    archive: bytes,
    objects: Sequence[Mapping[str, Any]],
    *,
    namespaces: Sequence[str],
    taken: datetime,
    source: str,
    skipped: Sequence[str] = (),
    plan: str | None = None,
) -> BackupInfo:
    """The catalogue entry of ``archive``, built by :func:`build_archive` from ``objects``
    taken at ``taken``; unsigned."""
    return BackupInfo(
        name=f"backup-{taken.strftime('%Y%m%dT%H%M%S.%f')[:-3]}Z",
        taken_utc=taken,
        size=len(archive),
        sha256=_sha256(archive),
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


def signed(info: BackupInfo, signer: CatalogueSigner) -> BackupInfo:
    """``info`` with ``signer``'s signature over its content."""
    signature = CatalogueSignature(key=signer.fingerprint, ed25519=signer.sign(info.signed_bytes()))
    return replace(info, signature=signature)


def catalogue_document(info: BackupInfo) -> bytes:
    """The catalogue entry as stored: its content, and its signature beside it."""
    unsigned = {"signature"} if info.signature is None else None
    entry = _BACKUP_INFO.dump_python(info, mode="json", exclude=unsigned)
    return (json.dumps(entry, sort_keys=True) + "\n").encode()


def build_archive(
    objects: Iterable[Mapping[str, Any]],
    *,
    namespaces: Sequence[str],
    taken: datetime,
    source: str,
) -> bytes:
    """A gzipped tar: ``manifest.json`` first, then one JSON file per object."""
    entries: list[ArchivedObject] = []
    files: list[tuple[str, bytes]] = []
    for index, item in enumerate(objects):
        key = ObjectKey.of(item)
        path = f"objects/{index:05d}-{key.kind.lower()}-{key.namespace or '_'}-{key.name}.json"
        data = (json.dumps(item, sort_keys=True) + "\n").encode()
        files.append((path, data))
        entries.append(ArchivedObject(**vars(key), file=path, sha256=_sha256(data)))
    manifest = ArchiveManifest(
        format=FORMAT,
        version=FORMAT_VERSION,
        taken_utc=taken,
        source=source,
        namespaces=tuple(namespaces),
        objects=tuple(entries),
    )
    document = _MANIFEST.dump_python(manifest, mode="json", by_alias=True)
    buffer = io.BytesIO()
    # A fixed mtime: the same objects make the same archive.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        for path, data in [("manifest.json", json.dumps(document, indent=1).encode()), *files]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def open_archive(info: BackupInfo, data: bytes) -> Backup:
    """The backup ``data`` holds, verified completely: the archive is the one ``info``
    catalogues, and each object the one its manifest names; ``BackupRejected`` naming
    what is wrong."""
    if _sha256(data) != info.sha256 or len(data) != info.size:
        raise BackupRejected(
            f"backup {info.name} is not the archive catalogued: sha256 {_sha256(data)[:12]}... "
            f"({len(data)} bytes), expected {info.sha256[:12]}... ({info.size} bytes)"
        )
    return Backup(info=info, objects=tuple(_read_archive(info.name, data)))


def _read_archive(name: str, data: bytes) -> list[dict[str, Any]]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            document = json.loads(_member(archive, members, "manifest.json"))
            # The format first: another version's manifest need not have this one's fields.
            if document.get("format") != FORMAT or document.get("version") != FORMAT_VERSION:
                raise BackupRejected(
                    f"backup {name}: not a version {FORMAT_VERSION} {FORMAT} archive"
                )
            manifest = read_record(_MANIFEST, document)
            objects = []
            for entry in manifest.objects:
                content = _member(archive, members, entry.file)
                if _sha256(content) != entry.sha256:
                    raise BackupRejected(
                        f"backup {name}: {entry.file} does not match its manifest digest"
                    )
                item = json.loads(content)
                if ObjectKey.of(item) != entry.key:
                    raise BackupRejected(f"backup {name}: {entry.file} holds another object")
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


# -- what a restore writes -------------------------------------------------------------------


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
    return [dict(o) for o in sorted(objects, key=lambda o: restore_rank(str(o["kind"])))]


def restore_rank(kind: str) -> int:
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

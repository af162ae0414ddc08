"""etcd snapshots: save from a live member, prove them restorable, keep a catalogue.

Everything runs through an executor (``drillkit.drivers.executors``), so the same
code serves the lab and a control-plane host over SSH; the snapshot files stay on
the host that took them.

A snapshot is only as good as a restore from it. ``etcdutl snapshot status``
reads the file without checking it, so :func:`verify_snapshot` does a trial
restore into a scratch directory: ``etcdutl snapshot restore`` checks the SHA-256
that ``etcdctl snapshot save`` appends, and fails on a single flipped byte.

The catalogue is a JSON sidecar next to each ``<name>.db`` (``<name>.json``: time,
size, digest, revision, source endpoint), written after the snapshot has passed
its trial restore, so a listed snapshot is a verified one. :func:`check_digest`
compares the file with its sidecar again right before it is used.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import TypeAdapter

from drillkit.drivers.catalogues import find_entry
from drillkit.drivers.executors import Executor, checked
from drillkit.errors import CommandFailed, DrillError
from drillkit.errors import SnapshotRejected as SnapshotRejected
from drillkit.model.procedure import EtcdTargetSpec
from drillkit.model.records import UtcTime, read_record


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """One catalogued snapshot."""

    path: str
    taken_utc: UtcTime
    size: int
    sha256: str
    revision: int
    total_keys: int
    endpoint: str

    def age_seconds(self, now: datetime) -> float:
        return (now - self.taken_utc).total_seconds()

    def to_json(self) -> dict[str, object]:
        """The sidecar's content."""
        document: dict[str, object] = _SNAPSHOT.dump_python(self, mode="json")
        return document

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Snapshot:
        return read_record(_SNAPSHOT, value)


_SNAPSHOT: Final = TypeAdapter(Snapshot)


@dataclass(frozen=True, kw_only=True)
class SnapshotStatus:
    revision: int
    total_keys: int


def etcdctl(target: EtcdTargetSpec, endpoint: str, *arguments: str) -> str:
    """An etcdctl command line against one endpoint, with the target's TLS options."""
    words = [target.etcdctl, f"--endpoints={endpoint}"]
    if target.tls is not None:
        words += [
            f"--cacert={target.tls.cacert}",
            f"--cert={target.tls.cert}",
            f"--key={target.tls.key}",
        ]
    return shlex.join([*words, *arguments])


def save_snapshot(
    executor: Executor, target: EtcdTargetSpec, directory: str, *, now: datetime | None = None
) -> Snapshot:
    """Save a snapshot from the first healthy member, verify it, and catalogue it."""
    # Kept to the millisecond, as the catalogue stores it.
    taken = now or datetime.now(UTC)
    taken = taken.replace(microsecond=taken.microsecond // 1000 * 1000)
    stamp = taken.strftime("%Y%m%dT%H%M%S.%fZ")
    path = f"{directory.rstrip('/')}/etcd-{stamp}.db"
    partial = f"{path}.part"
    failures = []
    for endpoint in target.endpoints:
        # A health check first: it is bounded by etcdctl's command timeout, while a
        # snapshot stream to a member that refuses the handshake would wait for ever.
        health = etcdctl(target, endpoint, "endpoint", "health", "--command-timeout=10s")
        result = executor.run(health, timeout=60)
        if result.ok:
            command = f"mkdir -p {shlex.quote(directory)} && " + etcdctl(
                target, endpoint, "snapshot", "save", partial
            )
            result = executor.run(command, timeout=600)
            if result.ok:
                break
        failures.append(f"{endpoint}: {result.failure()}")
    else:
        raise DrillError(f"no etcd member could save a snapshot: {'; '.join(failures)}")
    checked(executor, f"mv {shlex.quote(partial)} {shlex.quote(path)}")
    status = verify_snapshot(executor, target, path)
    size, digest = _size_and_digest(executor, path)
    snapshot = Snapshot(
        path=path,
        taken_utc=taken,
        size=size,
        sha256=digest,
        revision=status.revision,
        total_keys=status.total_keys,
        endpoint=endpoint,
    )
    sidecar = json.dumps(snapshot.to_json(), sort_keys=True) + "\n"
    result = executor.run(
        f"cat > {shlex.quote(_sidecar(path))}", timeout=60, stdin=sidecar.encode()
    )
    if not result.ok:
        raise DrillError(f"cannot write the catalogue entry of {path}: {result.failure()}")
    return snapshot


def verify_snapshot(executor: Executor, target: EtcdTargetSpec, path: str) -> SnapshotStatus:
    """Trial-restore ``path`` into a scratch directory; ``SnapshotRejected`` if it fails."""
    quoted = shlex.quote(path)
    utl = shlex.quote(target.etcdutl)
    command = (
        "scratch=$(mktemp -d) && trap 'rm -rf \"$scratch\"' EXIT && "
        f'{utl} snapshot restore {quoted} --data-dir "$scratch/restore" >/dev/null 2>"$scratch/err"'
        ' || { cat "$scratch/err"; exit 1; }; '
        f"{utl} snapshot status {quoted} -w json"
    )
    result = executor.run(command, timeout=600)
    if not result.ok:
        raise SnapshotRejected(
            f"snapshot {path} failed its trial restore: {_etcd_error(result.output)}"
        )
    try:
        status = json.loads(result.output.strip().splitlines()[-1])
        return SnapshotStatus(revision=int(status["revision"]), total_keys=int(status["totalKey"]))
    except (ValueError, KeyError, IndexError) as error:
        raise SnapshotRejected(f"snapshot {path}: unreadable status ({error})") from None


def check_digest(executor: Executor, snapshot: Snapshot) -> None:
    """The file must still be the one catalogued; ``SnapshotRejected`` names the difference."""
    try:
        size, digest = _size_and_digest(executor, snapshot.path)
    except CommandFailed as error:
        raise SnapshotRejected(f"snapshot {snapshot.path} cannot be read: {error}") from None
    if digest != snapshot.sha256 or size != snapshot.size:
        raise SnapshotRejected(
            f"snapshot {snapshot.path} changed since it was catalogued: sha256 {digest[:12]}... "
            f"({size} bytes), expected {snapshot.sha256[:12]}... ({snapshot.size} bytes)"
        )


def read_catalogue(executor: Executor, directory: str) -> list[Snapshot]:
    """Every catalogued snapshot in ``directory``, oldest first; empty when there is none.

    An entry must name the file it sits beside (``<path>.json`` describes ``<path>``):
    the path is later handed to the procedure's commands, so an entry that points
    elsewhere, at a name the digest check never saw, is refused.
    """
    quoted = shlex.quote(directory.rstrip("/"))
    # Each sidecar as its name, NUL, its content, NUL: names may hold any byte but NUL.
    output = checked(
        executor,
        f'for f in {quoted}/*.db.json; do if [ -e "$f" ]; then '
        "printf '%s\\0' \"$f\" && cat -- \"$f\" && printf '\\0' || exit 1; fi; done",
    )
    *parts, rest = output.split("\0")
    if rest.strip() or len(parts) % 2:
        raise DrillError(f"unreadable catalogue in {directory}: {output[-120:]!r}")
    snapshots = []
    for sidecar, content in zip(parts[::2], parts[1::2], strict=True):
        try:
            snapshot = Snapshot.from_json(json.loads(content))
        except (ValueError, KeyError, TypeError) as error:
            raise DrillError(
                f"unreadable catalogue entry {sidecar}: {error}: {content[:120]}"
            ) from None
        beside = sidecar.removesuffix(".json")
        if snapshot.path != beside:
            raise SnapshotRejected(
                f"catalogue entry {sidecar} names {snapshot.path!r}, not the file beside it "
                f"({beside}); refused"
            )
        snapshots.append(snapshot)
    return sorted(snapshots, key=lambda s: s.taken_utc)


def find_snapshot(executor: Executor, directory: str, reference: str) -> Snapshot:
    """``latest`` or a path: the catalogued snapshot it names."""
    return find_entry(
        read_catalogue(executor, directory),
        reference,
        name_of=lambda snapshot: snapshot.path,
        what="snapshot",
        where=directory,
        none_there=f"no catalogued etcd snapshot in {directory}",
    )


def _sidecar(path: str) -> str:
    return f"{path}.json"


def _size_and_digest(executor: Executor, path: str) -> tuple[int, str]:
    quoted = shlex.quote(path)
    # From standard input: sha256sum escapes a name holding a newline or a backslash.
    output = checked(executor, f"stat -c %s -- {quoted} && sha256sum < {quoted}")
    size_line, digest_line = output.strip().splitlines()[-2:]
    return int(size_line), digest_line.split()[0]


def _etcd_error(output: str) -> str:
    """The most telling line of etcdutl's output (its JSON logs carry an "error" field)."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "error" in entry:
            return f"{entry.get('msg', 'error')}: {entry['error']}"
    return lines[-1] if lines else "no output"

"""Undo before harm: what a fault must revert, written down before the fault acts.

Before each disruptive operation a fault calls ``record_undo(action, target,
cluster=...)``. The record is kept in two places so that either survives what
the other may not:

- a local state file ``$DRILLKIT_HOME/undo/<run id>.json`` (default home
  ``~/.local/state/drillkit``), written atomically (temp file, fsync, rename),
  which survives the cluster's API server being unreachable;
- a ConfigMap ``drillkit/drillkit-undo-<run id>`` in the cluster, which survives
  the machine that ran the drill (a CI runner, a CronJob pod).

Both hold the run's list of records. Writing either is enough to proceed; only
when neither can be written does ``record_undo`` raise, and the fault must then
not act. ``resolve_undo`` removes a record once its revert was verified, and
``survey_undo`` lists what is left for a cluster (``drillkit.safety.recover``
decides which of those belong to dead runs and reverts them).

The two places are not trusted alike. Anyone who may write ConfigMaps in the
drillkit namespace (the runner identity, for one) can write a record there, so a
cluster-side record only ever asks for what the cluster's own API can check and
undo (uncordon a node the run marked). An action whose revert acts on this
machine (runs a restore state file's commands, starts a lab's processes) is taken
only from a local record, in this machine's state home; a cluster-side record of
it without that local twin is refused and reported, never executed. A record that
cannot be read is reported too, and does not stop the others from being reverted.

Each action is an ``UndoAction`` in ``UNDO_ACTIONS``: a name, the shape of its
target and the function that reverts it. Reverts are idempotent: reverting
something already reverted changes nothing and reports nothing done. Adding an
action is adding one ``UndoAction`` (``register_undo_action``), or decorating its revert
with ``@reverts``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Final

from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from drillkit.drivers.cluster_state import (
    ConfigMapRecord,
    create_config_map,
    delete_config_map,
    list_config_maps,
    read_config_map,
    replace_config_map,
)
from drillkit.drivers.kubernetes import Cluster
from drillkit.errors import ClusterError, Conflict, DrillError, InvalidInput, NotFound
from drillkit.files import state_home, sync_directory, write_atomically
from drillkit.model.records import first_problem
from drillkit.model.timeline import format_utc, parse_utc

Progress = Callable[[str], None]

UNCORDON_NODES = "uncordon-nodes"
START_LAB_ZONE = "start-lab-zone"

UNDO_NAMESPACE = "drillkit"
CONFIG_MAP_PREFIX = "drillkit-undo-"
RECORDS_KEY = "records.json"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "undo-records"
RUN_ID_LABEL = "drillkit.io/run-id"
RUN_ID_ANNOTATION = "drillkit.io/run-id"
UNDO_SELECTOR = f"{MANAGED_BY_LABEL}=drillkit,{COMPONENT_LABEL}={COMPONENT}"

_FORMAT_VERSION = 1
# Read-modify-write of a record list races only with the same run's other threads
# or a concurrent recovery; a few attempts settle it.
_WRITE_ATTEMPTS = 5
# One process may record from several threads (faults acting in parallel).
_local_lock = threading.Lock()

logger = logging.getLogger(__name__)


class UndoNotRecorded(DrillError):
    """Neither the local state file nor the cluster could hold an undo record."""


class UndoUnreadable(DrillError):
    """A stored undo record cannot be read; the message names where it is."""


def _read_utc(value: object) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("utc_type", "Input should be an RFC 3339 string")
    return parse_utc(value)


_Text = Annotated[str, Field(min_length=1)]
_UtcTime = Annotated[
    datetime, PlainValidator(_read_utc), PlainSerializer(format_utc, when_used="json")
]
"""A UTC moment, stored as ``format_utc`` writes it (milliseconds, ``Z``)."""


@dataclass(frozen=True, kw_only=True)
class UndoRecord:
    """One thing a run must revert.

    ``target`` depends on ``action``: node names for ``uncordon-nodes``; the lab's
    name and the zone for ``start-lab-zone``. ``cluster`` is the API server URL the
    record was made against; local records are only applied to that cluster.
    """

    # Read back exactly as written: no coercion ("7" is not a pid).
    __pydantic_config__ = ConfigDict(strict=True)

    run_id: _Text
    action: _Text
    target: tuple[str, ...]
    created_utc: _UtcTime
    pid: int
    host: _Text
    cluster: _Text

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        """What makes two records the same (a local copy and its ConfigMap copy)."""
        return (self.run_id, self.action, self.target)

    def describe(self) -> str:
        """What reverting it does, for people: ``uncordon nodes node-a-1, node-a-2``."""
        return describe_undo(self.action, self.target)

    def to_json(self) -> dict[str, object]:
        """The record as stored: its fields, the time as RFC 3339 UTC."""
        document: dict[str, object] = _RECORD.dump_python(self, mode="json")
        return document

    @classmethod
    def from_json(cls, value: object) -> UndoRecord:
        """Read a record written by ``to_json``; ``ValueError`` naming what is wrong."""
        try:
            # JSON text rather than Python values, so that strict mode still reads the
            # target from its JSON list.
            return _RECORD.validate_json(json.dumps(value))
        except ValidationError as error:
            raise ValueError(first_problem(error)) from None


_RECORD: Final[TypeAdapter[UndoRecord]] = TypeAdapter(UndoRecord)
_RECORDS: Final[TypeAdapter[list[UndoRecord]]] = TypeAdapter(list[UndoRecord])


CORDONED_BY = "drillkit.io/cordoned-by"
"""Node annotation naming the run that cordoned a node, so its cordon can be reverted."""


def own_state_file(record: UndoRecord, expected: Path, *, what: str, refused: str) -> Path:
    """The state file an undo record names, when it is the run's own ``expected`` one
    (in drillkit's state home); otherwise refused: an undo record must never make
    drillkit read, run or delete what another file says."""
    path = Path(record.target[0])
    if path.resolve() != expected.resolve():
        raise DrillError(
            f"refused: {path} is not run {record.run_id}'s {what} ({expected}); {refused}"
        )
    return path


def current_run_id() -> str:
    """The run a fault acts for: the drill run's id, or the process under ``chaos run``."""
    return os.environ.get("DRILLKIT_RUN_ID") or f"pid-{os.getpid()}@{socket.gethostname()}"


# -- actions and their reverts ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reverted:
    """What one revert did: ``changes`` made (none: it was already reverted) and
    ``notes`` on what it deliberately left alone, one line each."""

    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


Revert = Callable[[UndoRecord, Cluster, Progress], Reverted]
"""Reverts one record and verifies the revert; raises ``DrillError`` when either fails."""


@dataclass(frozen=True, kw_only=True)
class UndoAction:
    """A kind of undo record: its target's shape and how it is reverted."""

    name: str
    target_arity: int | None
    """How many strings the target holds; None for "one or more"."""
    describe: Callable[[tuple[str, ...]], str]
    revert: Revert
    control_plane: bool = False
    """Reverting it brings the API server back (an etcd restore): recovery runs it
    from the local record first, before anything that needs the API server."""
    acts_on_this_machine: bool = False
    """Reverting it runs something on this machine (a lab's processes)."""

    @property
    def local_only(self) -> bool:
        """Only a local record may ask for it: its revert acts on this machine."""
        return self.control_plane or self.acts_on_this_machine

    def ensure_valid_target(self, target: tuple[str, ...]) -> None:
        if not target or not all(target):
            raise InvalidInput(f"undo action {self.name} needs a non-empty target")
        if self.target_arity is not None and len(target) != self.target_arity:
            raise InvalidInput(
                f"undo action {self.name} takes {self.target_arity} target values, "
                f"not {len(target)}: {list(target)}"
            )


UNDO_ACTIONS: dict[str, UndoAction] = {}
"""Every action an undo record may name, by name."""


def register_undo_action(action: UndoAction) -> UndoAction:
    """Make an action recordable and revertible."""
    UNDO_ACTIONS[action.name] = action
    return action


def reverts(
    name: str,
    *,
    target_arity: int | None,
    describe: Callable[[tuple[str, ...]], str],
    control_plane: bool = False,
    acts_on_this_machine: bool = False,
) -> Callable[[Revert], Revert]:
    """Register the decorated function as the revert of the undo action ``name``
    (see ``UndoAction`` for the rest), next to the function itself."""

    def register(revert: Revert) -> Revert:
        register_undo_action(
            UndoAction(
                name=name,
                target_arity=target_arity,
                describe=describe,
                revert=revert,
                control_plane=control_plane,
                acts_on_this_machine=acts_on_this_machine,
            )
        )
        return revert

    return register


def undo_action(name: str) -> UndoAction:
    try:
        return UNDO_ACTIONS[name]
    except KeyError:
        known = ", ".join(sorted(UNDO_ACTIONS))
        raise InvalidInput(f"unknown undo action {name!r}; known: {known}") from None


def describe_undo(action: str, target: tuple[str, ...]) -> str:
    """What reverting does, for people; also for actions this version does not know."""
    known = UNDO_ACTIONS.get(action)
    if known is None:
        return f"{action} {', '.join(target)}".rstrip()
    return known.describe(target)


def uncordon_nodes_marked_by(
    cluster: Cluster, run_id: str, *, expected: Iterable[str] = (), progress: Progress
) -> Reverted:
    """Uncordon every node the run cordoned, then verify they are schedulable.

    A node counts as cordoned by the run when it carries ``drillkit.io/cordoned-by:
    <run id>``; faults cordon and annotate in one patch, so nothing else is ours.
    ``expected`` nodes (from the record) that are cordoned without that mark were
    cordoned by someone else, before or after the run, and are left alone.
    """
    marker = CORDONED_BY
    nodes = cluster.nodes()
    marked = sorted(n.name for n in nodes if n.annotations.get(marker) == run_id)
    done: list[str] = []
    notes: list[str] = []
    for name in marked:
        progress(f"uncordoning node {name} (cordoned by run {run_id})")
        try:
            cluster.set_unschedulable(name, False, annotations={marker: None})
        except NotFound:
            continue  # the node was deleted meanwhile; nothing left to revert
        done.append(f"uncordoned node {name}")
    by_name = {n.name: n for n in nodes}
    for name in sorted(set(expected) - set(marked)):
        node = by_name.get(name)
        if node is not None and node.unschedulable:
            who = node.annotations.get(marker)
            notes.append(
                f"left node {name} cordoned: {f'run {who}' if who else 'someone else'} "
                f"cordoned it, not run {run_id}"
            )
    if marked:
        after = {n.name: n for n in cluster.nodes()}
        still = [
            name
            for name in marked
            if name in after
            and (after[name].unschedulable or after[name].annotations.get(marker) == run_id)
        ]
        if still:
            raise ClusterError(f"nodes still cordoned after uncordoning: {', '.join(still)}")
    return Reverted(changes=tuple(done), notes=tuple(notes))


@reverts(
    UNCORDON_NODES, target_arity=None, describe=lambda target: f"uncordon nodes {', '.join(target)}"
)
def _revert_uncordon_nodes(record: UndoRecord, cluster: Cluster, progress: Progress) -> Reverted:
    return uncordon_nodes_marked_by(
        cluster, record.run_id, expected=record.target, progress=progress
    )


def _describe_start_lab_zone(target: tuple[str, ...]) -> str:
    return f"start zone {target[1]} of lab {target[0]}"


@reverts(
    START_LAB_ZONE, target_arity=2, describe=_describe_start_lab_zone, acts_on_this_machine=True
)
def _revert_start_lab_zone(record: UndoRecord, cluster: Cluster, progress: Progress) -> Reverted:
    # Imported here: only lab drills record this action, and the lab package pulls in
    # the PKI and process machinery that nothing else in a recovery needs.
    from drillkit.lab.cluster import Lab

    lab_name, zone = record.target
    started = Lab.open(lab_name).start_zones([zone], cluster, progress)
    return Reverted(changes=tuple(f"started {name} of lab {lab_name}" for name in started))


# -- recording and resolving --------------------------------------------------------------


def default_undo_dir() -> Path:
    """``<state home>/undo`` (see ``drillkit.files.state_home``)."""
    return state_home() / "undo"


def record_undo(
    action: str,
    target: Sequence[str],
    *,
    cluster: Cluster,
    undo_dir: Path | None = None,
) -> UndoRecord:
    """Persist what reverts the operation a fault is about to do; call it BEFORE acting.

    The run id comes from ``DRILLKIT_RUN_ID`` (set by ``drill run``), else the
    process (``pid-<pid>@<host>``), exactly as the faults' own markers name it.
    Raises ``UndoNotRecorded`` only when neither the local file nor the cluster took
    the record; a fault must not act then.
    """
    definition = undo_action(action)
    now = datetime.now(UTC)
    record = UndoRecord(
        run_id=current_run_id(),
        action=action,
        target=tuple(target),
        # Stored with milliseconds; the record handed back equals the one read back.
        created_utc=now.replace(microsecond=now.microsecond // 1000 * 1000),
        pid=os.getpid(),
        host=socket.gethostname(),
        cluster=_cluster_server(cluster),
    )
    definition.ensure_valid_target(record.target)
    directory = undo_dir or default_undo_dir()
    local_error = cluster_error = None
    try:
        _update_local(directory, record, present=True)
    except (OSError, UndoUnreadable) as error:
        local_error = error
        logger.warning("undo record kept in the cluster only: %s", error)
    try:
        _update_config_map(cluster, record, present=True)
    except (ClusterError, UndoUnreadable) as error:
        cluster_error = error
        logger.warning("undo record kept in %s only: %s", directory, error)
    if local_error is not None and cluster_error is not None:
        raise UndoNotRecorded(
            f"cannot record how to {record.describe()}, so it is not done: "
            f"local state file failed ({local_error}); cluster failed ({cluster_error})"
        )
    return record


def resolve_undo(record: UndoRecord, *, cluster: Cluster, undo_dir: Path | None = None) -> None:
    """Forget a record whose revert was verified, in both places; harmless when gone.

    Both places are tried; the first failure is raised afterwards, so a record left
    behind is reverted again (harmlessly) by the next recovery.
    """
    failures: list[DrillError] = []
    try:
        _update_local(undo_dir or default_undo_dir(), record, present=False)
    except OSError as error:
        failures.append(DrillError(f"cannot update the local undo records: {error}"))
    except UndoUnreadable as error:
        failures.append(error)
    try:
        _update_config_map(cluster, record, present=False)
    except (ClusterError, UndoUnreadable) as error:
        failures.append(error)
    if failures:
        raise failures[0]


@dataclass(frozen=True, kw_only=True)
class RefusedUndo:
    """A stored record that is not acted on, and why; a person must look at it."""

    where: str
    """The file or ConfigMap holding it."""
    reason: str
    run_id: str
    """The run it names, as far as that can be read."""
    record: UndoRecord | None = None
    """The record, when it could be read."""


@dataclass(frozen=True, kw_only=True)
class PendingUndo:
    """What is left for a cluster: records to revert, and those refused."""

    records: list[UndoRecord]
    refused: list[RefusedUndo]


def survey_undo(
    cluster: Cluster, *, undo_dir: Path | None = None, run_id: str | None = None
) -> PendingUndo:
    """Records not yet resolved for this cluster, de-duplicated, oldest first; and
    the records refused: unreadable ones, and cluster-side records of an action that
    acts on this machine without the same record in a local file (see the module
    docstring). Local records made against another API server are not this
    cluster's and are skipped. ``run_id`` limits the answer to one run.
    """
    server = _cluster_server(cluster)
    found: dict[tuple[str, str, tuple[str, ...]], UndoRecord] = {}
    refused: list[RefusedUndo] = []
    local, unreadable = _read_local_all_readable(undo_dir or default_undo_dir())
    refused += unreadable
    for record in local:
        if record.cluster == server:
            found.setdefault(record.key, record)
    for item in list_config_maps(cluster, UNDO_NAMESPACE, label_selector=UNDO_SELECTOR):
        where = f"configmap {item.namespace}/{item.name}"
        try:
            records = _records_of_config_map(item)
        except UndoUnreadable as error:
            named = item.annotations.get(RUN_ID_ANNOTATION) or item.name
            refused.append(RefusedUndo(where=where, reason=str(error), run_id=named))
            continue
        for record in records:
            if record.key in found:
                continue
            action = UNDO_ACTIONS.get(record.action)
            if action is not None and action.local_only:
                refused.append(
                    RefusedUndo(
                        where=where,
                        reason=(
                            f"{record.action} acts on this machine and no local undo record "
                            "of the run asks for it; a cluster-side record is never executed"
                        ),
                        run_id=record.run_id,
                        record=record,
                    )
                )
                continue
            found[record.key] = record
    records = [r for r in found.values() if run_id is None or r.run_id == run_id]
    return PendingUndo(
        records=sorted(records, key=lambda r: (r.created_utc, r.run_id, r.action, r.target)),
        refused=[r for r in refused if run_id is None or r.run_id == run_id],
    )


def pending_undo(
    cluster: Cluster, *, undo_dir: Path | None = None, run_id: str | None = None
) -> list[UndoRecord]:
    """The records ``survey_undo`` would have reverted (refused ones left out)."""
    return survey_undo(cluster, undo_dir=undo_dir, run_id=run_id).records


# -- the local state file -----------------------------------------------------------------


def local_control_plane_undo(
    cluster: Cluster, *, undo_dir: Path | None = None, run_id: str | None = None
) -> list[UndoRecord]:
    """This cluster's local records whose revert brings the API server back; oldest
    first. Read without the API server, which may well be down."""
    server = _cluster_server(cluster)
    local, _ = _read_local_all_readable(undo_dir or default_undo_dir())
    records = [
        r
        for r in local
        if r.cluster == server
        and (run_id is None or r.run_id == run_id)
        and (r.action in UNDO_ACTIONS and UNDO_ACTIONS[r.action].control_plane)
    ]
    return sorted(records, key=lambda r: (r.created_utc, r.run_id))


def undo_file(undo_dir: Path, run_id: str) -> Path:
    """The local state file of one run."""
    return undo_dir / f"{file_safe(run_id)}.json"


def _update_local(undo_dir: Path, record: UndoRecord, *, present: bool) -> None:
    """Add ``record`` to its run's local file (``present``), or remove it from there."""
    path = undo_file(undo_dir, record.run_id)
    with _local_lock:
        if not present and not path.exists():
            return
        records = _read_local(path) if path.exists() else []
        updated = _changed(records, record, present=present)
        if updated == records and path.exists():
            return
        if not updated:
            path.unlink(missing_ok=True)
            sync_directory(undo_dir)
            return
        undo_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, _records_text(updated).encode(), mode=0o600)


def _read_local_all_readable(undo_dir: Path) -> tuple[list[UndoRecord], list[RefusedUndo]]:
    """Every local record, and the files that cannot be read (skipped, not fatal)."""
    if not undo_dir.is_dir():
        return [], []
    records: list[UndoRecord] = []
    unreadable: list[RefusedUndo] = []
    # Temporary files of an interrupted write start with a dot and are not records.
    for path in sorted(undo_dir.glob("[!.]*.json")):
        try:
            records += _read_local(path)
        except UndoUnreadable as error:
            unreadable.append(RefusedUndo(where=str(path), reason=str(error), run_id=path.stem))
    return records, unreadable


def _read_local(path: Path) -> list[UndoRecord]:
    try:
        return _parse_records(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise UndoUnreadable(
            f"undo records in {path} cannot be read ({error}); the changes they describe "
            "may still need reverting by hand; move the file away once they are"
        ) from error


# -- the ConfigMap ------------------------------------------------------------------------


def config_map_name(run_id: str) -> str:
    """``drillkit-undo-<run id>``, made a valid object name when the run id is not one."""
    return CONFIG_MAP_PREFIX + _dns_safe(run_id, limit=253 - len(CONFIG_MAP_PREFIX))


def _update_config_map(cluster: Cluster, record: UndoRecord, *, present: bool) -> None:
    """Add ``record`` to its run's ConfigMap (``present``), or remove it from there."""
    run_id = record.run_id
    name = config_map_name(run_id)
    for _ in range(_WRITE_ATTEMPTS):
        current = read_config_map(cluster, UNDO_NAMESPACE, name)
        records = _records_of_config_map(current) if current is not None else []
        updated = _changed(records, record, present=present)
        try:
            if current is not None and not updated:
                delete_config_map(
                    cluster, UNDO_NAMESPACE, name, resource_version=current.resource_version
                )
            elif updated and updated != records:
                # Created or replaced, the ConfigMap holds the same; a replace only
                # where it still is as it was read.
                write: Callable[..., ConfigMapRecord] = (
                    create_config_map
                    if current is None
                    else partial(replace_config_map, resource_version=current.resource_version)
                )
                write(
                    cluster,
                    UNDO_NAMESPACE,
                    name,
                    data={RECORDS_KEY: _records_text(updated)},
                    labels=_labels(run_id),
                    annotations={RUN_ID_ANNOTATION: run_id},
                )
            return
        except (Conflict, NotFound):
            continue  # written or deleted by someone else since we read it; read again
    raise ClusterError(
        f"configmap {UNDO_NAMESPACE}/{name} kept changing during {_WRITE_ATTEMPTS} attempts"
    )


def _records_of_config_map(item: ConfigMapRecord) -> list[UndoRecord]:
    try:
        return _parse_records(item.data.get(RECORDS_KEY, "[]"))
    except ValueError as error:
        raise UndoUnreadable(
            f"undo records in configmap {item.namespace}/{item.name} cannot be read ({error})"
        ) from error


def _labels(run_id: str) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: "drillkit",
        COMPONENT_LABEL: COMPONENT,
        RUN_ID_LABEL: _label_safe(run_id),
    }


# -- shared helpers -----------------------------------------------------------------------


def _changed(records: list[UndoRecord], record: UndoRecord, *, present: bool) -> list[UndoRecord]:
    """``records`` with ``record`` in it (once, where it already was) or without it."""
    if not present:
        return [r for r in records if r.key != record.key]
    if any(r.key == record.key for r in records):
        return records
    return [*records, record]


def _records_text(records: list[UndoRecord]) -> str:
    document = {"version": _FORMAT_VERSION, "records": _RECORDS.dump_python(records, mode="json")}
    return json.dumps(document, indent=2) + "\n"


def _parse_records(text: str) -> list[UndoRecord]:
    document = json.loads(text)
    if isinstance(document, list):
        items: object = document
    elif isinstance(document, dict) and document.get("version") == _FORMAT_VERSION:
        items = document.get("records")
    else:
        raise ValueError(f"not a version {_FORMAT_VERSION} undo record list")
    if not isinstance(items, list):
        raise ValueError("records must be a list")
    try:
        return _RECORDS.validate_json(json.dumps(items))
    except ValidationError as error:
        raise ValueError(f"records.{first_problem(error)}") from None


def _cluster_server(cluster: Cluster) -> str:
    return str(cluster.api_client.configuration.host)


def file_safe(run_id: str) -> str:
    """A run id as a file name: unsafe characters replaced, a digest added if any were."""
    safe = re.sub(r"[^A-Za-z0-9._@-]", "_", run_id).lstrip(".")
    return safe if safe == run_id else f"{safe}-{_digest(run_id)}"


def _dns_safe(run_id: str, *, limit: int) -> str:
    safe = re.sub(r"[^a-z0-9.-]+", "-", run_id.lower()).strip(".-")
    return _within(safe, run_id, limit=limit, edges=".-")


def _label_safe(run_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("_.-")
    return _within(safe, run_id, limit=63, edges="_.-")


def _within(safe: str, run_id: str, *, limit: int, edges: str) -> str:
    """``safe`` (``run_id`` with what a Kubernetes name may not hold replaced) when it
    is the run id itself and fits in ``limit``; else cut to fit, with a digest of the
    run id, and no ``edges`` character where the cut ends."""
    if safe == run_id and len(safe) <= limit:
        return safe
    # Lossy: a digest of the real id keeps two different run ids apart.
    suffix = _digest(run_id)
    return f"{safe[: limit - len(suffix) - 1].rstrip(edges)}-{suffix}".lstrip("-")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]

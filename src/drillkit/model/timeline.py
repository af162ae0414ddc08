"""A run's timeline: the events the runner records, in the past tense, with both clocks.

The runner appends these as things happen; ``drillkit.measuring`` turns them into RTO,
RPO and a verdict, and the report writers store them as ``timeline.jsonl``. Each event
carries an :class:`Instant`: the monotonic reading that all durations are computed
from, and the wall-clock UTC time beside it for people (DESIGN section 3: never
subtract wall-clock times).

Events are frozen, keyword-only dataclasses with a stable ``kind`` string, so the
JSON form stays readable and stable when classes are renamed or fields are added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from types import NoneType, UnionType
from typing import ClassVar, Final, get_args, get_origin, get_type_hints

from drillkit.model.measurement import RunStatus


@dataclass(frozen=True, kw_only=True, slots=True)
class Instant:
    """One moment on both clocks: ``monotonic`` seconds for arithmetic, ``utc`` for display."""

    monotonic: float
    utc: datetime

    def __post_init__(self) -> None:
        if self.utc.tzinfo is None or self.utc.utcoffset() is None:
            raise ValueError(f"Instant.utc must be timezone-aware, got {self.utc.isoformat()}")
        if not math.isfinite(self.monotonic):
            raise ValueError(f"Instant.monotonic must be a finite number, got {self.monotonic}")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Event:
    # Shared by every event; private because callers use the closed union TimelineEvent,
    # which lets mypy check that a match over events handles every kind.
    kind: ClassVar[str]
    at: Instant


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(_Event):
    """A run of ``drill`` began."""

    kind: ClassVar[str] = "run_started"
    run_id: str
    drill: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SteadyStateVerified(_Event):
    """The experiment's steady-state hypothesis was checked (before or after the method)."""

    kind: ClassVar[str] = "steady_state_verified"
    holds: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Affected:
    """One thing a fault disrupted, as the fault itself reported it.

    ``kind`` is ``Pod``, ``Node``, ``EtcdMember`` or ``Region``; ``action`` what was done
    to it (``deleted``, ``evicted``, ``stopped``, ``crashed``). ``workload`` names the
    owning workload as ``Kind/namespace/name`` when the fault knows it.
    """

    kind: str
    name: str
    action: str
    namespace: str | None = None
    workload: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultInjected(_Event):
    """``t_inject``: the target acknowledged the fault's first disruptive operation.

    For example the first eviction or pod deletion the API server accepted, etcd
    stopped or its data removed, the primary region stopped. ``affected`` is what the
    fault says it disrupted; None when it cannot say (a generic Chaos Toolkit action).

    When only a window is known (a runbook step, a generic action), ``at`` is its start
    and ``landed_within_seconds`` its length: the RTO counts from the start, the data
    loss (RPO) until the end, so neither is ever shortened. None when ``at`` is exact.
    """

    kind: ClassVar[str] = "fault_injected"
    activity: str
    detail: str = ""
    affected: tuple[Affected, ...] | None = None
    landed_within_seconds: float | None = None

    @property
    def landed_by(self) -> float:
        """The monotonic moment by which the fault had certainly landed."""
        return self.at.monotonic + (self.landed_within_seconds or 0.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConditionObserved(_Event):
    """One evaluation of the recovery condition (steady state plus recovery probes)."""

    kind: ClassVar[str] = "condition_observed"
    holds: bool
    source: str
    """What produced the evaluation, e.g. the watch or the polled probe."""
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ConditionUnobserved(_Event):
    """The recovery condition could not be evaluated: the API server could not be reached.

    A gap in measurement, not a loss: from here until the next ``ConditionObserved`` the
    condition's state is unknown.
    """

    kind: ClassVar[str] = "condition_unobserved"
    source: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class CapacityObserved(_Event):
    """Ready and desired replicas of one targeted workload at one moment."""

    kind: ClassVar[str] = "capacity_observed"
    workload: str
    ready: int
    desired: int


@dataclass(frozen=True, kw_only=True, slots=True)
class MarkerWritten(_Event):
    """The marker writer stored marker ``sequence``; ``at`` is its ``t_write``."""

    kind: ClassVar[str] = "marker_written"
    sequence: int


@dataclass(frozen=True, kw_only=True, slots=True)
class MarkersRead(_Event):
    """After recovery the reader looked for markers; ``newest_sequence`` None: none survived."""

    kind: ClassVar[str] = "markers_read"
    newest_sequence: int | None
    backup_age_seconds: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcedureStepRun(_Event):
    """One step of a declared procedure (an etcd restore's runbook) ran; ``at`` is its start."""

    kind: ClassVar[str] = "procedure_step"
    phase: str
    name: str
    command: str
    executor: str
    member: str | None
    seconds: float
    exit_code: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ActivityStarted(_Event):
    """A Chaos Toolkit activity began.

    ``activity_type`` is Chaos Toolkit's ``type`` (``action`` or ``probe``); it is not
    called ``kind`` because that name is the event's own serialisation tag.
    """

    kind: ClassVar[str] = "activity_started"
    name: str
    activity_type: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ActivityCompleted(_Event):
    """A Chaos Toolkit activity ended, with its Chaos Toolkit ``status`` (``succeeded``, ...)."""

    kind: ClassVar[str] = "activity_completed"
    name: str
    activity_type: str
    status: str
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RollbackStarted(_Event):
    """Rollbacks (the undo of the faults) began."""

    kind: ClassVar[str] = "rollback_started"


@dataclass(frozen=True, kw_only=True, slots=True)
class RollbackCompleted(_Event):
    """Rollbacks ended; ``status`` says whether the revert was verified."""

    kind: ClassVar[str] = "rollback_completed"
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardTripped(_Event):
    """An abort condition fired; the runner stops the method and rolls back."""

    kind: ClassVar[str] = "guard_tripped"
    name: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockLost(_Event):
    """The cluster lock was lost (taken over, or not renewed before it expired); the
    runner stops the method and rolls back, as for a guard."""

    kind: ClassVar[str] = "lock_lost"
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunInterrupted(_Event):
    """The run received a signal (``SIGINT``, ``SIGTERM``) and began to wind down."""

    kind: ClassVar[str] = "run_interrupted"
    signal: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFinished(_Event):
    """The run ended, with how it ended."""

    kind: ClassVar[str] = "run_finished"
    status: RunStatus


TimelineEvent = (
    RunStarted
    | SteadyStateVerified
    | FaultInjected
    | ConditionObserved
    | ConditionUnobserved
    | CapacityObserved
    | MarkerWritten
    | MarkersRead
    | ProcedureStepRun
    | ActivityStarted
    | ActivityCompleted
    | RollbackStarted
    | RollbackCompleted
    | GuardTripped
    | LockLost
    | RunInterrupted
    | RunFinished
)
"""Every event a timeline may hold."""

# The constructors by their stable tag, for reading timelines back. Typed as callables
# returning the union so that decoding yields a TimelineEvent, not the private base.
_EVENT_CLASSES: Final[Mapping[str, Callable[..., TimelineEvent]]] = {
    event_class.kind: event_class for event_class in get_args(TimelineEvent)
}
# Field types resolved once; `from __future__ import annotations` leaves them as strings.
_FIELD_TYPES: Final[Mapping[str, Mapping[str, object]]] = {
    event_class.kind: {
        event_field.name: get_type_hints(event_class)[event_field.name]
        for event_field in fields(event_class)
        if event_field.name != "at"
    }
    for event_class in get_args(TimelineEvent)
}
_ENVELOPE_KEYS: Final = frozenset({"kind", "monotonic", "utc"})
_AFFECTED_TYPES: Final[Mapping[str, object]] = get_type_hints(Affected)


def format_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``: ``2025-03-01T12:00:00.250Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """Read an RFC 3339 timestamp with an offset (``Z`` or ``+hh:mm``) as a UTC datetime."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset; write it with a trailing Z")
    return moment.astimezone(UTC)


def event_to_json(event: TimelineEvent) -> dict[str, object]:
    """One event as a flat JSON object: ``kind``, ``monotonic``, ``utc``, then its fields.

    ``utc`` keeps milliseconds only, so an event read back equals the original when its
    UTC time had millisecond precision (the runner records it that way).
    """
    data: dict[str, object] = {
        "kind": event.kind,
        "monotonic": event.at.monotonic,
        "utc": format_utc(event.at.utc),
    }
    for name in _FIELD_TYPES[event.kind]:
        value = getattr(event, name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = [asdict(item) for item in value]
        data[name] = value
    return data


def event_from_json(data: Mapping[str, object]) -> TimelineEvent:
    """Read back what :func:`event_to_json` wrote; raise ValueError naming what is wrong."""
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _EVENT_CLASSES:
        known = ", ".join(sorted(_EVENT_CLASSES))
        raise ValueError(f"unknown timeline event kind {kind!r}; expected one of: {known}")
    field_types = _FIELD_TYPES[kind]
    unexpected = sorted(set(data) - _ENVELOPE_KEYS - set(field_types))
    if unexpected:
        raise ValueError(f"{kind} event has unexpected fields: {', '.join(unexpected)}")

    monotonic = data.get("monotonic")
    if not isinstance(monotonic, int | float) or isinstance(monotonic, bool):
        raise ValueError(f"{kind}.monotonic must be a number of seconds, got {monotonic!r}")
    utc = data.get("utc")
    if not isinstance(utc, str):
        raise ValueError(f"{kind}.utc must be an RFC 3339 string, got {utc!r}")
    at = Instant(monotonic=float(monotonic), utc=parse_utc(utc))
    arguments: dict[str, object] = {"at": at}
    for name, field_type in field_types.items():
        # Absent optional fields take the class default, so older timelines stay readable.
        if name in data:
            arguments[name] = _decode_value(field_type, data[name], f"{kind}.{name}")
    try:
        return _EVENT_CLASSES[kind](**arguments)
    except TypeError as error:
        raise ValueError(f"{kind} event is incomplete: {error}") from None


def _decode_value(field_type: object, value: object, where: str) -> object:
    # JSON knows fewer types than the events: ints arrive for floats, strings for enums,
    # and bool is an int in Python, so each check is explicit.
    if isinstance(field_type, UnionType):
        if value is None and NoneType in get_args(field_type):
            return None
        (field_type,) = (member for member in get_args(field_type) if member is not NoneType)
    if field_type is bool and isinstance(value, bool):
        return value
    if field_type is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if field_type is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if field_type is str and isinstance(value, str):
        return value
    if get_origin(field_type) is tuple and get_args(field_type)[0] is Affected:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, got {value!r}")
        return tuple(_decode_affected(item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(field_type, type) and issubclass(field_type, Enum):
        try:
            return field_type(value)
        except ValueError:
            pass
    expected = getattr(field_type, "__name__", str(field_type))
    raise ValueError(f"{where} must be {expected}, got {value!r}")


def _decode_affected(value: object, where: str) -> Affected:
    # The one record held inside an event: a flat object of text fields.
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object, got {value!r}")
    hints = _AFFECTED_TYPES
    unexpected = sorted(set(value) - set(hints))
    if unexpected:
        raise ValueError(f"{where} has unexpected fields: {', '.join(map(str, unexpected))}")
    arguments = {
        name: _decode_value(hints[name], value[name], f"{where}.{name}")
        for name in hints
        if name in value
    }
    try:
        return Affected(**arguments)  # type: ignore[arg-type]  # each checked above
    except TypeError as error:
        raise ValueError(f"{where} is incomplete: {error}") from None

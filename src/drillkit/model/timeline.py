"""A run's timeline: the events the runner records, in the past tense, with both clocks.

The runner appends these as things happen; ``drillkit.measuring`` turns them into RTO,
RPO and a verdict, and the report writers store them as ``timeline.jsonl``. Each event
carries an :class:`Instant`: the monotonic reading that all durations are computed
from, and the wall-clock UTC time beside it for people (DESIGN section 3: never
subtract wall-clock times).

Events are frozen, keyword-only dataclasses with a stable ``kind`` string, so the
JSON form stays readable and stable when classes are renamed or fields are added. Their
JSON codec is pydantic's, over the dataclasses themselves (strict, unknown fields refused),
with the event's ``kind`` and its two clocks flattened into one object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, get_args, get_type_hints

from pydantic import ConfigDict, PlainSerializer, PlainValidator, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from drillkit.model.measurement import RunStatus

# Timelines are read back exactly as written: no coercion ("1" is not 1), no unknown fields.
_JSON_CONFIG: Final = ConfigDict(extra="forbid", strict=True)


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


def _read_utc(value: object) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("utc_type", "Input should be an RFC 3339 string")
    return parse_utc(value)


_UtcTime = Annotated[
    datetime, PlainValidator(_read_utc), PlainSerializer(format_utc, when_used="json")
]
"""A UTC moment, written as :func:`format_utc` writes it and read as :func:`parse_utc` reads it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Instant:
    """One moment on both clocks: ``monotonic`` seconds for arithmetic, ``utc`` for display."""

    __pydantic_config__ = _JSON_CONFIG

    monotonic: float
    utc: _UtcTime

    def __post_init__(self) -> None:
        if self.utc.tzinfo is None or self.utc.utcoffset() is None:
            raise ValueError(f"Instant.utc must be timezone-aware, got {self.utc.isoformat()}")
        if not math.isfinite(self.monotonic):
            raise ValueError(f"Instant.monotonic must be a finite number, got {self.monotonic}")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Event:
    # Shared by every event; private because callers use the closed union TimelineEvent,
    # which lets mypy check that a match over events handles every kind.
    __pydantic_config__ = _JSON_CONFIG

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

    __pydantic_config__ = _JSON_CONFIG

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

# One codec per event, by its stable tag. The tag is a class variable rather than a field,
# so it picks the codec here instead of being validated as data.
_CODECS: Final[Mapping[str, TypeAdapter[Any]]] = {
    event_class.kind: TypeAdapter(event_class) for event_class in get_args(TimelineEvent)
}
_ENVELOPE: Final = ("monotonic", "utc")


def event_to_json(event: TimelineEvent) -> dict[str, object]:
    """One event as a flat JSON object: ``kind``, ``monotonic``, ``utc``, then its fields.

    ``utc`` keeps milliseconds only, so an event read back equals the original when its
    UTC time had millisecond precision (the runner records it that way).
    """
    # Written as held, without pydantic's type warnings: an activity's name comes from the
    # experiment and may be a YAML boolean (`name: true`), which the timeline must still record.
    data: dict[str, Any] = _CODECS[event.kind].dump_python(event, mode="json", warnings=False)
    # `at` is every event's first field; its two clocks sit beside the kind, in that order.
    return {"kind": event.kind, **data.pop("at"), **data}


def event_from_json(data: Mapping[str, object]) -> TimelineEvent:
    """Read back what :func:`event_to_json` wrote; raise ValueError naming what is wrong.

    Absent optional fields take the class default, so older timelines stay readable.
    """
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _CODECS:
        known = ", ".join(sorted(_CODECS))
        raise ValueError(f"unknown timeline event kind {kind!r}; expected one of: {known}")
    fields = {name: value for name, value in data.items() if name != "kind"}
    at = {name: fields.pop(name) for name in _ENVELOPE if name in fields}
    try:
        # JSON text rather than Python values, so that strict mode still reads enums and
        # tuples from their JSON form.
        event: TimelineEvent = _CODECS[kind].validate_json(json.dumps({"at": at, **fields}))
    except ValidationError as error:
        raise ValueError(_describe_event_error(kind, error)) from None
    return event


def _describe_event_error(kind: str, error: ValidationError) -> str:
    """The first problem as one sentence naming the event and the field, as written in JSON."""
    details = error.errors(include_url=False)
    unexpected = [detail for detail in details if detail["type"] == "unexpected_keyword_argument"]
    if unexpected:
        where = _where(kind, unexpected[0]["loc"][:-1])
        names = ", ".join(sorted(str(detail["loc"][-1]) for detail in unexpected))
        return f"{where} has unexpected fields: {names}"
    detail = details[0]
    where = _where(kind, detail["loc"][:-1] if detail["type"] == "missing" else detail["loc"])
    if detail["type"] == "missing":
        return f"{where} is incomplete: missing {detail['loc'][-1]}"
    if detail["type"] == "value_error":
        return f"{where}: {detail.get('ctx', {}).get('error', detail['msg'])}"
    return f"{where} must be {_expected(kind, detail)}, got {detail['input']!r}"


def _where(kind: str, loc: tuple[int | str, ...]) -> str:
    # `at` is written flat, so its clocks are named as in the file: `run_started.utc`.
    steps = loc[1:] if loc[:1] == ("at",) else loc
    text = kind if steps else f"{kind} event"
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


def _expected(kind: str, detail: ErrorDetails) -> str:
    loc = detail["loc"]
    if loc == ("at", "monotonic"):
        return "a number of seconds"
    if detail["type"] == "enum":
        field_type = _FIELD_TYPES[kind][str(loc[0])]
        return field_type.__name__ if isinstance(field_type, type) else str(field_type)
    names = {
        "int_type": "int",
        "float_type": "float",
        "bool_type": "bool",
        "string_type": "str",
        "tuple_type": "a list",
        "dataclass_type": "an object",
        "utc_type": "an RFC 3339 string",
    }
    return names.get(detail["type"], detail["msg"][:1].lower() + detail["msg"][1:])


# Field types resolved once, to name an enum in a message.
_FIELD_TYPES: Final[Mapping[str, Mapping[str, object]]] = {
    event_class.kind: get_type_hints(event_class) for event_class in get_args(TimelineEvent)
}

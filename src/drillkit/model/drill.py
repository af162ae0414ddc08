"""The drill file: what a team writes in ``drills/NAME.yaml`` to turn an experiment into a DR drill.

A drill names a Chaos Toolkit experiment and adds what Chaos Toolkit does not know about: the
target (kube context, namespaces, workloads), the objectives it is judged against, the DR strategy
class, the safety settings, the RPO markers, the evidence metadata and an optional schedule.

These models are pure values. They are frozen, reject unknown fields (``extra="forbid"``) so a typo
becomes an error that names the field, and carry a description on every field because the JSON
Schema that editors show is generated from them (``drillkit.model.loading.drill_json_schema``).
Reading a file and turning pydantic's errors into ``path:line:column`` messages is
``drillkit.model.loading``'s job.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    PrivateAttr,
    Tag,
    model_validator,
)

from drillkit.model.durations import Duration
from drillkit.model.objectives import Objectives

if TYPE_CHECKING:
    from drillkit.model.services import Service

BUILTIN_PROTECTED_NAMESPACES: frozenset[str] = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "drillkit"}
)
"""Namespaces no drill may target unless it sets ``safety.allow_protected_namespaces``."""

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""Drill names and namespaces: a DNS label (lowercase letters, digits, dashes inside)."""

OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""Names of Kubernetes objects such as Deployments and ConfigMaps: a DNS subdomain."""

_CRON_FIELD_CHARACTERS = re.compile(r"^[0-9A-Za-z*,/?#-]+$")
_CRON_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_CRON_SECONDS = "second"


class _DrillFileModel(BaseModel):
    """Shared configuration: user-written sections are frozen and reject unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _ensure_positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_ensure_positive)]
"""A ``Duration`` that must be longer than zero, such as a polling interval."""


DrillName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
NamespaceName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
ObjectName = Annotated[str, Field(pattern=OBJECT_NAME_PATTERN, max_length=253)]
NonEmptyText = Annotated[str, Field(min_length=1)]


# --- Chaos Toolkit probe activities -------------------------------------------------------------


class PythonProvider(_DrillFileModel):
    """Calls a Python function; Chaos Toolkit imports ``module`` and calls ``func(**arguments)``."""

    type: Literal["python"] = Field(description="Provider kind: a Python function.")
    module: NonEmptyText = Field(description="Dotted module path, such as chaosk8s.pod.probes.")
    func: NonEmptyText = Field(description="Name of the function in the module.")
    arguments: dict[str, JsonValue] = Field(
        default_factory=dict, description="Keyword arguments passed to the function."
    )


def _classify_process_arguments(value: object) -> str | None:
    # A callable discriminator picks the one branch that fits, so a wrong item in a list is
    # reported once at its own position instead of once per union member.
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "list"
    return None


ProcessArguments = Annotated[
    Annotated[str, Tag("text")] | Annotated[tuple[str, ...], Tag("list")],
    Discriminator(
        _classify_process_arguments,
        custom_error_type="string_or_list",
        custom_error_message="expected a string or a list of strings",
    ),
]


class ProcessProvider(_DrillFileModel):
    """Runs a program; the activity succeeds or fails with its exit status and output."""

    type: Literal["process"] = Field(description="Provider kind: a local program.")
    path: NonEmptyText = Field(description="Program to run, a path or a name found on PATH.")
    arguments: ProcessArguments = Field(
        default=(), description="Arguments: one string split by a shell, or a list of strings."
    )
    timeout: float | None = Field(
        default=None, gt=0, description="Seconds after which the program is stopped."
    )


class HttpProvider(_DrillFileModel):
    """Sends an HTTP request; the activity returns the status, headers and body."""

    type: Literal["http"] = Field(description="Provider kind: an HTTP request.")
    url: NonEmptyText = Field(description="URL to request.")
    method: NonEmptyText = Field(default="GET", description="HTTP method.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    arguments: JsonValue | None = Field(
        default=None, description="Request body (JSON) or query parameters for GET."
    )
    timeout: float | None = Field(
        default=None, gt=0, description="Seconds to wait for the response."
    )
    expected_status: int | None = Field(
        default=None, ge=100, le=599, description="Status the response must have to succeed."
    )


Provider = Annotated[PythonProvider | ProcessProvider | HttpProvider, Field(discriminator="type")]
"""How a Chaos Toolkit activity is carried out, chosen by its ``type``."""


class ProbeActivity(_DrillFileModel):
    """A Chaos Toolkit probe, written exactly as in an experiment file."""

    type: Literal["probe"] = Field(description="Activity kind; drills only use probes.")
    name: NonEmptyText = Field(description="Name shown in the journal and the report.")
    provider: Provider = Field(description="How the probe is carried out.")
    tolerance: JsonValue | None = Field(
        default=None,
        description="Value the probe must return to succeed (Chaos Toolkit tolerance).",
    )

    def to_chaostoolkit(self) -> dict[str, object]:
        """Return the plain activity dict chaoslib runs, without unset optional keys."""
        # exclude_none drops only unset optional fields: None values inside JSON arguments stay.
        activity: dict[str, object] = self.model_dump(mode="json", exclude_none=True)
        return activity


# --- Drill sections ---------------------------------------------------------------------------


class WorkloadKind(StrEnum):
    """Workload kinds whose ready replicas define "back at full capacity"."""

    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"


class WorkloadReference(_DrillFileModel):
    """One workload whose ready replicas are watched for the time to full capacity."""

    kind: WorkloadKind = Field(description="Workload kind.")
    namespace: NamespaceName = Field(description="Namespace of the workload.")
    name: ObjectName = Field(description="Name of the workload.")


class Target(_DrillFileModel):
    """Where the drill acts: a kube context, namespaces and the workloads to measure."""

    context: str | None = Field(
        default=None, description="Kube context to use; null means the current context."
    )
    namespaces: tuple[NamespaceName, ...] = Field(
        min_length=1, description="Namespaces the faults may touch; at least one."
    )
    workloads: tuple[WorkloadReference, ...] = Field(
        default=(),
        description="Workloads whose ready replicas give the time to full capacity.",
    )


class Disruption(StrEnum):
    """The kinds of disruption a service promises to survive, each with objectives of its own."""

    POD = "pod"
    NODE = "node"
    ZONE = "zone"
    REGION = "region"
    CONTROL_PLANE = "control-plane"
    DATA_CORRUPTION = "data-corruption"
    BACKUP_RESTORE = "backup-restore"


class Proves(_DrillFileModel):
    """The service promise a drill proves: a service file and one kind of disruption."""

    service: NonEmptyText = Field(
        description="The service file, relative to this drill file, such as ../services/shop.yaml."
    )
    disruption: Disruption | None = Field(
        default=None,
        description="The kind of disruption the drill proves the service survives; left "
        "out, it is derived from the method's faults (the widest kind they disrupt).",
    )


class Strategy(StrEnum):
    """DR strategy classes, from slowest and cheapest to fastest and dearest."""

    BACKUP_RESTORE = "backup-restore"
    PILOT_LIGHT = "pilot-light"
    WARM_STANDBY = "warm-standby"
    ACTIVE_ACTIVE = "active-active"
    UNKNOWN = "unknown"
    """Not declared: reports say so rather than claim a strategy nobody chose."""


class Recovery(_DrillFileModel):
    """Extra probes that, with the experiment's steady-state hypothesis, define "recovered"."""

    probes: tuple[ProbeActivity, ...] = Field(
        default=(),
        description="Probes added to the experiment's steady-state hypothesis.",
    )
    poll_interval: PositiveDuration = Field(
        default=timedelta(seconds=1),
        description="How often to evaluate probes that cannot be watched.",
    )
    poll_hypothesis: bool = Field(
        default=True,
        description="Evaluate the experiment's steady-state hypothesis between its own "
        "checks too, every poll interval, to measure recovery. False: only probes a watch "
        "answers are followed; the others run only when the experiment's hypothesis "
        "strategy runs them. A plain experiment run directly is false.",
    )


class RollbackPolicy(StrEnum):
    """When the experiment's rollbacks run, when a drill file says so."""

    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


class BlastRadius(_DrillFileModel):
    """Limits checked before the first fault; a drill that would exceed them does not start."""

    max_zones: int = Field(default=1, ge=1, description="Most zones the drill may disrupt.")
    max_node_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Largest fraction of nodes the drill may disrupt."
    )
    max_pod_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Largest fraction of pods the drill may disrupt."
    )


class Safety(_DrillFileModel):
    """Guardrails that keep a drill from leaving a cluster broken."""

    rollback: RollbackPolicy | None = Field(
        default=None,
        description="When to run the experiment's rollbacks. Unset: as the experiment's "
        "runtime.rollbacks.strategy says, else always (unlike Chaos Toolkit, whose default "
        "skips them after an interruption).",
    )
    rollback_deadline: PositiveDuration = Field(
        default=timedelta(minutes=5),
        description="How long the end-of-run revert retries while the cluster cannot be "
        "reached; what is still not reverted then stays in the undo records for drill recover.",
    )
    protected_namespaces: tuple[NamespaceName, ...] = Field(
        default=(),
        description="Namespaces never to touch, added to kube-system, kube-public, "
        "kube-node-lease and drillkit.",
    )
    allow_protected_namespaces: bool = Field(
        default=False, description="Allow targeting protected namespaces."
    )
    blast_radius: BlastRadius = Field(
        default_factory=BlastRadius, description="Limits on how much the drill may disrupt."
    )
    abort_conditions: tuple[ProbeActivity, ...] = Field(
        default=(),
        description="Guard probes evaluated throughout; a failure aborts and rolls back.",
    )
    production: bool = Field(
        default=False, description="The target is production: running needs confirmation."
    )


class ConfigMapMarkerStore(_DrillFileModel):
    """RPO markers kept in a ConfigMap, written and read through the Kubernetes API."""

    type: Literal["configmap"] = Field(description="Marker store kind.")
    namespace: NamespaceName = Field(description="Namespace of the ConfigMap.")
    name: ObjectName = Field(description="Name of the ConfigMap.")


# A discriminated union of one member today, so that a second store type is an added member
# and drill files already carry the `type` that selects it.
MarkerStore = Annotated[ConfigMapMarkerStore, Field(discriminator="type")]


class MarkerSource(_DrillFileModel):
    """Where the reader finds the markers after recovery, when not where they were written:
    the cluster a backup was restored into, and the namespace it was mapped to."""

    kubeconfig: NonEmptyText | None = Field(
        default=None,
        description="Kubeconfig file of that cluster; ~ and $VARIABLES are expanded. "
        "Null means the drill's own kubeconfig.",
    )
    context: NonEmptyText | None = Field(
        default=None, description="Kube context in that kubeconfig; null means its current one."
    )
    namespace: NamespaceName | None = Field(
        default=None, description="Namespace of the marker ConfigMap there; null: the same."
    )


class Markers(_DrillFileModel):
    """The RPO marker writer and reader: where markers go and how often."""

    interval: PositiveDuration = Field(
        default=timedelta(seconds=1), description="Time between two markers; the RPO resolution."
    )
    store: MarkerStore = Field(description="Where markers are written and read back.")
    read_from: MarkerSource | None = Field(
        default=None,
        description="Read the markers back from another cluster (a cross-region restore); "
        "null reads them where they were written.",
    )


class Evidence(_DrillFileModel):
    """Who answers for the drill and which audit controls its reports serve as evidence for."""

    owner: NonEmptyText = Field(description="Team or person responsible for the drill.")
    approver: str | None = Field(default=None, description="Who approved running the drill.")
    controls: tuple[NonEmptyText, ...] = Field(
        default=(), description='Controls the drill tests, such as "SOC2-A1.3".'
    )


def _ensure_cron_expression(expression: str) -> str:
    # Only the shape is checked here; the scheduler's cron trigger checks the values.
    fields = expression.split()
    names = {5: _CRON_FIELD_NAMES, 6: (_CRON_SECONDS, *_CRON_FIELD_NAMES)}.get(len(fields))
    if names is None:
        raise ValueError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week), or 6 with a leading second field, "
            f"found {len(fields)}"
        )
    for field_name, field in zip(names, fields, strict=True):
        if not _CRON_FIELD_CHARACTERS.match(field):
            raise ValueError(
                f"invalid cron expression {expression!r}: the {field_name} field {field!r} "
                "may only hold digits, names, and * , - / ? #"
            )
    return expression


def _ensure_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        # ZoneInfoNotFoundError is a KeyError; malformed keys raise ValueError.
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Berlin"
        ) from None
    return name


CronExpression = Annotated[str, AfterValidator(_ensure_cron_expression)]
"""A five-field cron expression (six with a leading second field); only its shape is
checked here, the scheduler checks values."""

TimeZoneName = Annotated[str, AfterValidator(_ensure_time_zone)]
"""An IANA time zone name such as ``Europe/Berlin``."""


def _ensure_non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


NonNegativeDuration = Annotated[Duration, AfterValidator(_ensure_non_negative)]
"""A ``Duration`` of zero or more, such as a jitter."""


def _ensure_http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ValueError(
            f"invalid URL {url!r}: use http:// or https://, such as http://prometheus:9090"
        )
    return url


class DatedBlackout(_DrillFileModel):
    """A one-off window, such as a change freeze: no scheduled drill starts inside it."""

    name: NonEmptyText = Field(description="What the window is, shown as the reason of a skip.")
    start: datetime = Field(
        description="When the window opens, such as 2026-12-18T18:00; read in `timezone` "
        "unless it carries an offset."
    )
    end: datetime = Field(description="When the window closes (not included).")
    timezone: TimeZoneName = Field(
        default="UTC", description="IANA time zone of start and end when they have no offset."
    )

    @model_validator(mode="after")
    def _ensure_end_after_start(self) -> DatedBlackout:
        if self.aware_end() <= self.aware_start():
            raise ValueError(f"blackout {self.name!r} ends before it starts")
        return self

    def aware_start(self) -> datetime:
        """``start`` as an aware datetime."""
        return _in_zone(self.start, self.timezone)

    def aware_end(self) -> datetime:
        """``end`` as an aware datetime."""
        return _in_zone(self.end, self.timezone)


class RecurringBlackout(_DrillFileModel):
    """A window that opens at every fire of a cron expression and stays open for `duration`."""

    name: NonEmptyText = Field(description="What the window is, shown as the reason of a skip.")
    cron: CronExpression = Field(
        description='When the window opens, a five-field cron expression such as "0 0 * * SAT".'
    )
    duration: PositiveDuration = Field(
        description="How long each window lasts, such as 48h (elapsed time, also across a "
        "daylight-saving change)."
    )
    timezone: TimeZoneName = Field(
        default="UTC", description="IANA time zone the cron expression is read in."
    )


def _classify_blackout(value: object) -> str | None:
    # A callable discriminator picks one branch by the keys present, so an error names the
    # fields of the kind of window that was meant instead of listing both kinds' errors.
    if isinstance(value, DatedBlackout | RecurringBlackout):
        return "recurring" if isinstance(value, RecurringBlackout) else "dated"
    if not isinstance(value, dict):
        return None
    if "cron" in value or "duration" in value:
        return "recurring"
    if "start" in value or "end" in value:
        return "dated"
    return None


Blackout = Annotated[
    Annotated[DatedBlackout, Tag("dated")] | Annotated[RecurringBlackout, Tag("recurring")],
    Discriminator(
        _classify_blackout,
        custom_error_type="blackout_kind",
        custom_error_message="expected a dated window (name, start, end) or a recurring one "
        "(name, cron, duration)",
    ),
]
"""A blackout window: dated (start, end) or recurring (cron, duration)."""


class ErrorBudgetGate(_DrillFileModel):
    """Skip a scheduled run when an SLO's remaining error budget, read from Prometheus, is low."""

    prometheus: Annotated[str, AfterValidator(_ensure_http_url)] = Field(
        description="Base URL of the Prometheus to ask, such as http://prometheus:9090."
    )
    query: NonEmptyText = Field(
        description="PromQL instant query returning one number: the fraction of the error "
        "budget that remains (1 = untouched, 0 = spent)."
    )
    min_remaining: float = Field(
        allow_inf_nan=False,
        description="Skip when the query returns less than this, such as 0.25.",
    )
    when_unknown: Literal["skip", "run"] = Field(
        default="skip",
        description="What to do when the budget cannot be read (no data, Prometheus down).",
    )


class Schedule(_DrillFileModel):
    """When the scheduler runs the drill, and when it must not."""

    cron: CronExpression = Field(description='Five-field cron expression, such as "0 10 * * TUE".')
    timezone: TimeZoneName = Field(
        default="UTC", description="IANA time zone the cron expression is read in."
    )
    jitter: NonNegativeDuration = Field(
        default=timedelta(0),
        description="Spread fires over this long after the cron time, the same for every "
        "scheduler, such as 10m.",
    )
    misfire_grace: PositiveDuration = Field(
        default=timedelta(minutes=30),
        description="A fire missed (scheduler down) by at most this long still runs, once; "
        "a later one is recorded as missed.",
    )
    coalesce: bool = Field(
        default=True,
        description="Several missed fires within the grace run once; false runs each.",
    )
    blackouts: tuple[Blackout, ...] = Field(
        default=(), description="Windows in which no scheduled run starts."
    )
    error_budget: ErrorBudgetGate | None = Field(
        default=None, description="Skip scheduled runs while the SLO's error budget is low."
    )


def _in_zone(moment: datetime, timezone: str) -> datetime:
    """``moment`` as an aware datetime: naive ones are wall-clock times in ``timezone``."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))


class Drill(_DrillFileModel):
    """A drill file: an experiment made into a measured disaster-recovery exercise.

    ``experiment`` stays the string written in the file. A drill read by ``load_drill`` remembers
    the file it came from (``source``) so ``experiment_path()`` resolves relative to it; a drill
    built in code has no source and resolves relative to the working directory.
    """

    model_config = ConfigDict(title="drillkit drill")

    name: DrillName = Field(
        description="Drill name: lowercase letters, digits and dashes, such as zone-failure."
    )
    description: str = Field(default="", description="What the drill exercises, for people.")
    experiment: NonEmptyText = Field(
        description="Chaos Toolkit experiment file, relative to this drill file."
    )
    target: Target = Field(description="Where the drill acts and what it measures.")
    objectives: Objectives = Field(
        default_factory=Objectives, description="RTO and RPO targets and measuring windows."
    )
    strategy: Strategy = Field(
        default=Strategy.UNKNOWN,
        description="DR strategy class being exercised; unknown unless declared.",
    )
    recovery: Recovery = Field(
        default_factory=Recovery, description="Extra probes that define recovery."
    )
    safety: Safety = Field(default_factory=Safety, description="Guardrails.")
    markers: Markers | None = Field(
        default=None, description="RPO marker writer and reader; without it RPO is not measured."
    )
    evidence: Evidence | None = Field(
        default=None, description="Ownership and audit controls recorded in reports."
    )
    schedule: Schedule | None = Field(default=None, description="Recurring runs.")
    proves: Proves | None = Field(
        default=None,
        description="The service and disruption this drill proves; objectives it leaves out "
        "are the service's for that disruption, and those it sets may only be tighter.",
    )

    # Private, so they are neither read from the file nor part of the JSON Schema.
    _source: Path | None = PrivateAttr(default=None)
    _service: Service | None = PrivateAttr(default=None)
    _disruption_derivation: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The drill file this drill was read from, if any."""
        return self._source

    @property
    def service(self) -> Service | None:
        """The service this drill proves, as read from its file by ``load_drill``."""
        return self._service

    @property
    def disruption_derivation(self) -> str | None:
        """How the disruption it proves was derived from its faults (``derived from fault
        drain-zone-a``); None when the drill file names it."""
        return self._disruption_derivation

    def deriving(self, disruption: Disruption, derivation: str) -> Drill:
        """A copy that proves ``disruption``, which its file left out, derived as
        ``derivation`` says."""
        if self.proves is None:
            return self
        proves = self.proves.model_copy(update={"disruption": disruption})
        copy = self.model_copy(update={"proves": proves})
        copy._disruption_derivation = derivation
        return copy

    def proving(self, service: Service, objectives: Objectives) -> Drill:
        """A copy that proves ``service``, judged against ``objectives``: its own, each one
        it leaves out taken from the service (``model.services.effective_objectives``)."""
        copy = self.model_copy(update={"objectives": objectives})
        copy._service = service
        return copy

    def with_source(self, source: Path | None) -> Drill:
        """Return a copy that remembers the file it was read from."""
        copy = self.model_copy()
        copy._source = source
        return copy

    def experiment_path(self) -> Path:
        """Where the experiment file is: relative to the drill file, as written in it."""
        return self._relative_to_file(self.experiment)

    def read_files(self) -> list[Path]:
        """The files this drill reads beside itself: its experiment, and its service."""
        service = self.service_path()
        return [self.experiment_path(), *([service] if service is not None else [])]

    def service_path(self) -> Path | None:
        """Where the service file this drill proves is, relative to the drill file."""
        if self.proves is None:
            return None
        return Path(os.path.normpath(self._relative_to_file(self.proves.service)))

    def _relative_to_file(self, written: str) -> Path:
        base = self._source.parent if self._source is not None else Path()
        return base / written

    def protected_namespaces(self) -> frozenset[str]:
        """The built-in protected namespaces plus those this drill adds."""
        return BUILTIN_PROTECTED_NAMESPACES | frozenset(self.safety.protected_namespaces)


def slugify_drill_name(text: str) -> str:
    """Turn a file stem such as ``Zone_Failure v2`` into a drill name: ``zone-failure-v2``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:63].rstrip("-") or "experiment"


PLAIN_EXPERIMENT_TIMEOUT = timedelta(minutes=2)
"""How long a plain experiment's run waits for recovery after its method (watched probes)."""


def default_drill_for_experiment(
    experiment_path: Path, namespaces: Sequence[str] = ("default",)
) -> Drill:
    """Build the drill used when a user runs a plain Chaos Toolkit experiment directly.

    It has default objectives (none: its verdict is ``unjudged``) but a recovery wait of
    ``PLAIN_EXPERIMENT_TIMEOUT``, default safety, no polling of the hypothesis, is named
    after the experiment file, and targets ``namespaces``: those the experiment's activities
    name (``drillkit.safety.guardrails.namespaces_named``) or that the operator stated.
    Raises pydantic's ``ValidationError`` when a namespace is not a valid name.
    """
    return Drill(
        name=slugify_drill_name(experiment_path.stem),
        experiment=str(experiment_path),
        target=Target(namespaces=tuple(dict.fromkeys(namespaces))),
        # Its probes run when its hypothesis strategy says, as under chaos run; and a
        # wait for recovery that suits CI.
        recovery=Recovery(poll_hypothesis=False),
        objectives=Objectives(timeout=PLAIN_EXPERIMENT_TIMEOUT),
    )

"""What a run measured and what it concluded: measurements, findings and the verdict.

These are runtime records (frozen, keyword-only dataclasses), produced by the pure
functions in ``drillkit.measuring`` from a run's timeline and read by the report
writers. Nothing here performs I/O or reads a clock.

Every duration is in seconds of the monotonic clock and carries its resolution and
whether it is exact or only a lower bound, because a report that says "RTO 12 s"
without saying "polled every 5 s" or "at least 600 s" is not evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunStatus(StrEnum):
    """How a run ended, as the runner saw it; the verdict weighs this with the measurements."""

    COMPLETED = "completed"
    """Every phase ran; the steady state held before and after the fault."""
    FAILED = "failed"
    """Every phase ran, but the steady-state hypothesis deviated."""
    INTERRUPTED = "interrupted"
    """A signal (SIGINT, SIGTERM) stopped the run; rollbacks ran."""
    ABORTED = "aborted"
    """A guard (abort condition) stopped the run; rollbacks ran."""
    ERROR = "error"
    """The run could not proceed: a cluster error, a broken probe, invalid state."""


class Verdict(StrEnum):
    """The answer a report leads with (DESIGN section 3)."""

    MET = "met"
    MISSED = "missed"
    INCONCLUSIVE = "inconclusive"
    """The run completed but could not be judged: a declared objective could not be
    measured, or the fault never landed on the drill's targets."""
    ABORTED = "aborted"
    """A guard or an operator stopped the run before it could be judged."""
    ERROR = "error"
    """The drill could not run."""
    UNJUDGED = "unjudged"
    """The run completed and the fault landed, but no objective (RTO, RPO) was declared,
    so there was nothing to judge it against."""


class Bound(StrEnum):
    """Whether a measured value is the value itself or only a floor under it."""

    EXACT = "exact"
    LOWER = "lower"
    """The true value is at least this, e.g. RTO when the service had not recovered by timeout."""


class Severity(StrEnum):
    """How much a finding matters to the reader of a report."""

    INFO = "info"
    WARNING = "warning"
    """A caveat: something could not be measured, or the measurement is weaker than it looks."""
    FAILURE = "failure"
    """The reason for a verdict other than ``met``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Measurement:
    """One measured duration with its honesty attached.

    ``resolution_seconds`` is how coarse the observations behind the value were:
    event receipt for a watch, the interval for a poll or a marker writer. Observations
    see a change late, never early (a poll notices a restore up to one interval after
    it happened), so a duration measured up to a change overstates the truth by less
    than the resolution, and never understates it; a blip shorter than the resolution
    can go unseen. ``seconds`` is None when the value could not be measured; ``note``
    then says why, and ``bound`` carries no meaning.
    """

    seconds: float | None
    resolution_seconds: float
    bound: Bound = Bound.EXACT
    note: str = ""

    def __post_init__(self) -> None:
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"a measured duration cannot be negative: {self.seconds}")
        if self.resolution_seconds < 0:
            raise ValueError(f"a resolution cannot be negative: {self.resolution_seconds}")


@dataclass(frozen=True, kw_only=True, slots=True)
class RecoveryMeasurement:
    """When the recovery condition was lost and restored, and the resulting service RTO.

    Times are monotonic seconds; ``t_inject`` is None when the fault never took effect.
    """

    t_inject: float | None
    t_lost: float | None
    t_restored: float | None
    rto: Measurement
    disruption_observed: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkloadCapacity:
    """The low point of one targeted workload after the fault."""

    workload: str
    lowest_ready: int
    desired: int
    """Desired replicas when the lowest ready count was seen."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CapacityMeasurement:
    """Time until every targeted workload had all its desired replicas ready again."""

    time_to_full_capacity: Measurement
    t_full_capacity: float | None
    workloads: tuple[WorkloadCapacity, ...] = ()
    """One entry per workload, sorted by name."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RpoMeasurement:
    """How much recently written data the recovery lost, measured with markers."""

    rpo: Measurement
    markers_written_before_inject: int
    markers_lost: int | None
    """Markers written at or before ``t_inject`` that were not found after recovery; None
    when they were never read back (the loss is unknown)."""
    newest_surviving_sequence: int | None
    backup_age_seconds: float | None = None
    """For backup-based recovery: the age of the backup in use at ``t_inject``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultLanding:
    """Whether the run's faults landed on at least one of the drill's targets."""

    landed: bool
    misses: tuple[str, ...] = ()
    """For each fault that landed on no target, why, for people."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One sentence of a report, with numbers: "RTO 47.2 s exceeded the 30 s objective"."""

    severity: Severity
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """Everything a run concluded: the verdict, why, and the measurements behind it."""

    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    recovery: RecoveryMeasurement | None = None
    capacity: CapacityMeasurement | None = None
    rpo: RpoMeasurement | None = None
    recovery_tested: bool = True
    """False when the fault never took effect, or landed on none of the drill's targets:
    then the run did not test recovery, whatever it measured."""


def format_measured(
    seconds: float | None, bound: Bound | str | None, *, resolution: float | None = None
) -> str:
    """A measured duration for people, the one way every report and command shows it:
    ``47.2 s``; ``≥ 600 s`` when only a floor is known (``bound`` lower); with a
    ``resolution``, `` (resolution 2 s)``, or `` (at event receipt)`` for a watch's 0;
    ``not measured`` for None."""
    if seconds is None:
        return "not measured"
    text = ("≥ " if bound == Bound.LOWER else "") + f"{format_seconds(seconds)} s"
    if resolution == 0:
        text += " (at event receipt)"
    elif resolution is not None:
        text += f" (resolution {format_seconds(resolution)} s)"
    return text


def format_seconds(seconds: float) -> str:
    """Render seconds for people: ``47.2``, ``30``, ``0.25`` (no unit)."""
    if seconds != 0 and abs(seconds) < 1:
        return f"{seconds:.2f}".rstrip("0").rstrip(".")
    return f"{seconds:.1f}".removesuffix(".0")

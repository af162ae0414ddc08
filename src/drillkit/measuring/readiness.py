"""DR readiness: for each service and kind of disruption, is the promise proven now?

An SRE lead and an auditor ask the same question of the evidence: *for each service,
which disruptions have we proven we survive, how recently, against which objectives, and
what is still open?* This module answers it from the runs that proved a service's
promises (read from the ledger by the caller) and the findings still open, and nothing
else: the same runs and the same moment always give the same answer.

Each disruption a service declares carries an equal share of 100 points. Its share is
kept only when the promise is **proven**: the newest run that met it is younger than the
service's ``prove_every``, measured within the objectives the service promises *now*
(a service that tightened its RTO is not proven by a run judged against the old one),
and no finding is open for it. Otherwise the whole share is lost, with one line that
says why — never proven, proven too long ago, proven against looser objectives, or a
finding open since a failed run — so every point lost can be read and checked against
the ledger. A stale pass is worth nothing rather than a little: the promise says how
often it must be proven, and an auditor reads it the same way.

The promises weighed are a ``PromisedService``'s: a service file as it is, or the
objectives the ledger's newest run of the service recorded (``drill readiness
--from-ledger``), so that the ledger alone reproduces the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from drillkit.model.drill import Disruption
from drillkit.model.durations import format_duration
from drillkit.model.measurement import Verdict
from drillkit.model.services import DisruptionObjectives

FULL_SCORE = 100.0


class ProofState(StrEnum):
    """Where one promise stands."""

    PROVEN = "proven"
    STALE = "stale"
    """Met, but longer ago than the service requires."""
    LOOSER = "looser"
    """Met, but measured beyond what the service promises now."""
    FAILING = "failing"
    """A finding is open: a run missed, was inconclusive or errored, and none met since."""
    NEVER = "never proven"


class PromisedService(Protocol):
    """What readiness weighs of a service: its name and its objectives per disruption
    (a ``Service`` read from its file is one)."""

    @property
    def name(self) -> str: ...

    @property
    def objectives(self) -> Mapping[Disruption, DisruptionObjectives]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ProvingRun:
    """One run of a drill that proves (``service``, ``disruption``), as the ledger has it."""

    service: str
    disruption: str
    run: str
    """``<drill>/<run id>``."""
    ended: datetime
    verdict: Verdict
    rto_seconds: float | None
    rpo_seconds: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenFinding:
    """A finding not closed yet: opened by ``run``, which did not meet the promise."""

    finding: str
    """Its id, ``F12``."""
    service: str
    disruption: str
    opened: datetime
    run: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PromiseReadiness:
    """One disruption of one service: its promise, its newest runs, and the points it keeps."""

    disruption: str
    promise: DisruptionObjectives
    state: ProofState
    newest: ProvingRun | None
    """The newest run proving it, whatever its verdict."""
    last_met: ProvingRun | None
    """The newest run that met it."""
    open_findings: tuple[OpenFinding, ...]
    points: float
    """What it keeps of its share."""
    share: float
    reason: str | None
    """Why the share was lost, in one line; None when it was kept."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceReadiness:
    """A service's score out of 100, and each disruption's part of it."""

    service: str
    score: float
    promises: tuple[PromiseReadiness, ...]
    assessed: datetime

    @property
    def deductions(self) -> list[str]:
        """Every point lost, a line each: ``-25 zone: last proven 97 days ago, ...``."""
        return [
            f"-{format_points(p.share - p.points)} {p.disruption}: {p.reason}"
            for p in self.promises
            if p.reason is not None
        ]


def describe_objectives(promise: DisruptionObjectives) -> str:
    """``RTO 5m, RPO 15m, every 90d``: what one disruption's promise says, in one line."""
    objectives = ", ".join(
        f"{name} {format_duration(value)}"
        for name, value in (("RTO", promise.rto), ("RPO", promise.rpo))
        if value is not None
    )
    return f"{objectives or 'no objective'}, every {format_duration(promise.prove_every)}"


def assess_service(
    service: PromisedService,
    runs: Sequence[ProvingRun],
    open_findings: Sequence[OpenFinding],
    *,
    now: datetime,
) -> ServiceReadiness:
    """How ready ``service`` is at ``now``, from the runs that proved its promises (any
    order; those of other services are ignored) and the findings still open."""
    share = FULL_SCORE / len(service.objectives)
    promises = tuple(
        _assess_promise(
            str(disruption),
            promise,
            [r for r in runs if (r.service, r.disruption) == (service.name, disruption)],
            [f for f in open_findings if (f.service, f.disruption) == (service.name, disruption)],
            share=share,
            now=now,
        )
        for disruption, promise in service.objectives.items()
    )
    return ServiceReadiness(
        service=service.name,
        score=round(sum(p.points for p in promises), 1),
        promises=promises,
        assessed=now,
    )


def _assess_promise(
    disruption: str,
    promise: DisruptionObjectives,
    runs: Sequence[ProvingRun],
    findings: Sequence[OpenFinding],
    *,
    share: float,
    now: datetime,
) -> PromiseReadiness:
    ordered = sorted(runs, key=lambda run: run.ended)
    met = [run for run in ordered if run.verdict is Verdict.MET]
    last_met = met[-1] if met else None
    state, reason = _judge(promise, last_met, findings, now=now)
    return PromiseReadiness(
        disruption=disruption,
        promise=promise,
        state=state,
        newest=ordered[-1] if ordered else None,
        last_met=last_met,
        open_findings=tuple(sorted(findings, key=lambda finding: finding.opened)),
        points=share if state is ProofState.PROVEN else 0.0,
        share=share,
        reason=reason,
    )


def _judge(
    promise: DisruptionObjectives,
    last_met: ProvingRun | None,
    findings: Sequence[OpenFinding],
    *,
    now: datetime,
) -> tuple[ProofState, str | None]:
    if findings:
        oldest = min(findings, key=lambda finding: finding.opened)
        return ProofState.FAILING, (
            f"finding {oldest.finding} open since {_day(oldest.opened)} (run {oldest.run}), "
            "not closed by a run that met the objectives"
        )
    if last_met is None:
        return ProofState.NEVER, "never proven"
    beyond = _beyond_promise(promise, last_met)
    if beyond is not None:
        return ProofState.LOOSER, f"last proven by {last_met.run}, {beyond}"
    age = now - last_met.ended
    if age > promise.prove_every:
        return ProofState.STALE, (
            f"last proven {_age(age)} ago by {last_met.run}, required every "
            f"{format_duration(promise.prove_every)}"
        )
    return ProofState.PROVEN, None


def _beyond_promise(promise: DisruptionObjectives, run: ProvingRun) -> str | None:
    """Why ``run`` no longer proves ``promise``: a value beyond what it promises now."""
    for name, objective, seconds in (
        ("RTO", promise.rto, run.rto_seconds),
        ("RPO", promise.rpo, run.rpo_seconds),
    ):
        if objective is None:
            continue
        if seconds is None:
            return f"which did not measure the {name} the service now promises"
        if seconds > objective.total_seconds():
            return (
                f"whose {name} of {seconds:g} s is beyond the {format_duration(objective)} "
                "the service now promises"
            )
    return None


def _age(age: timedelta) -> str:
    days = age.days
    return f"{days} days" if days != 1 else "1 day"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def format_points(value: float) -> str:
    """Points as the deductions write them: one decimal, none when whole (``33.3``, ``50``)."""
    return f"{value:.1f}".removesuffix(".0")

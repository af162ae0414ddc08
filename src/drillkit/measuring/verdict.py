"""The verdict of a run: how it ended and its measurements, judged against the objectives.

Last step of the pure core (timeline -> measurements -> verdict); the report writers
and the CLI's exit code read the :class:`~drillkit.model.measurement.Outcome` it returns.
A missed objective is a result, not an exception. Every decision is explained by a
finding in plain words with numbers, because a report is evidence for a reader who did
not watch the run.

Precedence, first match wins:

1. ``error``: the run could not proceed, so nothing it measured can be judged.
2. ``aborted``: a guard tripped, or the run was interrupted by a signal. An interrupted
   run is an operator's deliberate stop, not a failure to run, and it did not complete
   the drill, so it cannot be evidence that recovery works: it is reported like a
   guard's stop (exit code 1), with a finding naming the signal.
3. ``missed``: the steady state deviated, or a measured value exceeds its objective. A
   lower bound at or beyond the objective is a miss: the true value is at least that.
4. ``inconclusive``: the fault never took effect, or it landed on none of the drill's
   targets (``drillkit.measuring.landing``), or an objective is declared but its value
   could not be measured (or is only a lower bound below the objective).
5. ``unjudged``: no objective (RTO or RPO) was declared, so there was nothing to judge
   the measurements against; they are reported all the same.
6. ``met``: every declared objective was measured and met by a fault that landed.

Values are judged as reported: observations see changes late, so a reported value is
the conservative one, and when it misses an objective by less than its resolution the
finding says so (a finer resolution might show the objective met).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import Enum

from drillkit.model.measurement import (
    Bound,
    CapacityMeasurement,
    FaultLanding,
    Finding,
    Measurement,
    Outcome,
    RecoveryMeasurement,
    RpoMeasurement,
    RunStatus,
    Severity,
    Verdict,
    format_seconds,
)
from drillkit.model.objectives import Objectives


class _Judgement(Enum):
    MET = "met"
    MISSED = "missed"
    UNMEASURED = "unmeasured"


def decide_verdict(
    *,
    run_status: RunStatus,
    recovery: RecoveryMeasurement | None,
    rpo: RpoMeasurement | None,
    objectives: Objectives,
    guard_tripped: bool,
    capacity: CapacityMeasurement | None = None,
    guards: Sequence[str] = (),
    interrupt_signal: str | None = None,
    landing: FaultLanding | None = None,
    lock_lost: str | None = None,
    rolled_back: bool,
) -> Outcome:
    """Judge a run; ``guards``, ``interrupt_signal`` and ``lock_lost`` (why the cluster
    lock was lost, which aborts a run as a guard does) only enrich the findings.
    An interrupted run without ``interrupt_signal`` was stopped by its experiment (a
    control or an activity); ``rolled_back`` says whether its rollbacks ran.

    ``recovery`` or ``rpo`` is None when the drill did not measure it; that is only a
    problem when the matching objective is declared. ``landing`` is None when the run
    recorded no fault (``recovery.t_inject`` then says it never took effect).
    """
    findings: list[Finding] = []
    judgements: list[_Judgement] = []

    fault_took_effect = recovery is None or recovery.t_inject is not None
    landed = landing is None or landing.landed
    if landing is not None and fault_took_effect and not landing.landed:
        findings += [
            Finding(severity=Severity.WARNING, text=f"{miss}, so this run did not test recovery")
            for miss in landing.misses
        ]
    if not fault_took_effect:
        findings.append(
            Finding(
                severity=Severity.WARNING,
                text="the fault never took effect (the target acknowledged no disruptive "
                "operation), so this run did not test recovery",
            )
        )
    if run_status is RunStatus.FAILED:
        findings.append(
            Finding(
                severity=Severity.FAILURE,
                text="the steady-state hypothesis deviated: the system did not return to "
                "its steady state",
            )
        )

    rto_judgement, rto_findings = _judge_rto(recovery, objectives.rto, fault_took_effect, landed)
    rpo_judgement, rpo_findings = _judge_rpo(rpo, objectives.rpo)
    judgements += [j for j in (rto_judgement, rpo_judgement) if j is not None]
    findings += rto_findings + rpo_findings + _describe_capacity(capacity)

    verdict: Verdict
    # When the measurements alone do not explain the verdict, its reason leads the findings.
    headline: Finding | None = None
    if run_status is RunStatus.ERROR:
        verdict = Verdict.ERROR
        headline = Finding(
            severity=Severity.FAILURE,
            text="the drill could not run to completion: an error stopped it, so its "
            "measurements cannot be judged",
        )
    elif run_status is RunStatus.ABORTED and lock_lost is not None and not guard_tripped:
        verdict = Verdict.ABORTED
        headline = _stopped(
            f"aborted because the cluster lock was lost ({lock_lost})", rolled_back=rolled_back
        )
    elif run_status is RunStatus.ABORTED or guard_tripped:
        verdict = Verdict.ABORTED
        tripped = f" ({'; '.join(guards)})" if guards else ""
        headline = _stopped(f"aborted by a guard{tripped}", rolled_back=rolled_back)
    elif run_status is RunStatus.INTERRUPTED:
        verdict = Verdict.ABORTED
        by = (
            f"signal {interrupt_signal}"
            if interrupt_signal
            else "the experiment itself (a control or an activity stopped it)"
        )
        headline = _stopped(
            f"interrupted by {by}", until="before it completed", rolled_back=rolled_back
        )
    elif run_status is RunStatus.FAILED or _Judgement.MISSED in judgements:
        verdict = Verdict.MISSED
    elif not fault_took_effect or not landed or _Judgement.UNMEASURED in judgements:
        verdict = Verdict.INCONCLUSIVE
    elif objectives.rto is None and objectives.rpo is None:
        # Without a promise there is nothing to meet: measured is not the same as met.
        verdict = Verdict.UNJUDGED
        headline = Finding(
            severity=Severity.WARNING,
            text="no objective was declared, so nothing was judged: declare "
            "objectives.rto or objectives.rpo in the drill",
        )
    else:
        verdict = Verdict.MET
    if headline is not None:
        findings.insert(0, headline)
    return Outcome(
        verdict=verdict,
        findings=tuple(findings),
        recovery=recovery,
        capacity=capacity,
        rpo=rpo,
        recovery_tested=fault_took_effect and landed,
    )


def _stopped(
    reason: str, *, rolled_back: bool, until: str = "before it could be judged"
) -> Finding:
    # A stop short of a judgement (a guard, the lock, a signal, the experiment) plays the
    # rollbacks unless the rollback strategy or an ungraceful exit skipped them.
    done = "stopped and rolled back" if rolled_back else "stopped, its rollbacks not run,"
    return Finding(severity=Severity.FAILURE, text=f"{reason}: the drill was {done} {until}")


def _unmeasured(why: str, objective: timedelta | None) -> tuple[_Judgement | None, list[Finding]]:
    """The judgement when nothing was measured: no objective, nothing to say; else the
    objective is unverified, and the finding says ``why``."""
    if objective is None:
        return None, []
    return _Judgement.UNMEASURED, [
        Finding(
            severity=Severity.WARNING,
            text=f"{why}, so the {_seconds(objective)} s objective is unverified",
        )
    ]


def _judge_rto(
    recovery: RecoveryMeasurement | None,
    objective: timedelta | None,
    fault_took_effect: bool,
    landed: bool,
) -> tuple[_Judgement | None, list[Finding]]:
    if not fault_took_effect:
        # Already explained once; repeating the reason per objective adds nothing.
        return (_Judgement.UNMEASURED if objective is not None else None), []
    if recovery is None:
        return _unmeasured("RTO was not measured", objective)
    findings: list[Finding] = []
    # Tolerating a fault that landed elsewhere says nothing about the targets; the
    # landing findings already say what it hit instead.
    if recovery.disruption_observed is False and recovery.rto.seconds == 0 and landed:
        findings.append(
            Finding(
                severity=Severity.WARNING,
                text="no disruption observed: the recovery condition held throughout, so this "
                "run shows the service tolerated the fault rather than recovered from it",
            )
        )
    judgement, finding = _judge("RTO", recovery.rto, objective)
    return judgement, [*findings, finding]


def _judge_rpo(
    rpo: RpoMeasurement | None, objective: timedelta | None
) -> tuple[_Judgement | None, list[Finding]]:
    if rpo is None:
        return _unmeasured("RPO was not measured (no data markers)", objective)
    judgement, finding = _judge("RPO", rpo.rpo, objective)
    findings = [finding]
    if rpo.markers_written_before_inject and rpo.markers_lost is not None:
        findings.append(
            Finding(
                severity=Severity.INFO,
                text=f"{rpo.markers_lost} of {rpo.markers_written_before_inject} markers "
                "written before the fault were lost",
            )
        )
    if rpo.backup_age_seconds is not None:
        findings.append(
            Finding(
                severity=Severity.INFO,
                text=f"the backup in use at the fault was {format_seconds(rpo.backup_age_seconds)}"
                " s old",
            )
        )
    return judgement, findings


def _judge(
    name: str, measurement: Measurement, objective: timedelta | None
) -> tuple[_Judgement | None, Finding]:
    """Judge one measured value against its objective (None: no objective declared)."""
    target = objective.total_seconds() if objective is not None else None
    seconds = measurement.seconds
    unverified = (
        f", so the {format_seconds(target)} s objective is unverified" if target is not None else ""
    )

    if seconds is None:
        return (_Judgement.UNMEASURED if target is not None else None), Finding(
            severity=Severity.WARNING,
            text=f"{name} could not be measured: {measurement.note}{unverified}",
        )

    value = format_seconds(seconds)
    if measurement.bound is Bound.LOWER:
        if target is None:
            return None, Finding(
                severity=Severity.WARNING,
                text=f"{name} is at least {value} s: {measurement.note}",
            )
        if seconds >= target:
            return _Judgement.MISSED, Finding(
                severity=Severity.FAILURE,
                text=f"{name} of at least {value} s exceeded the {format_seconds(target)} s "
                f"objective: {measurement.note}",
            )
        return _Judgement.UNMEASURED, Finding(
            severity=Severity.WARNING,
            text=f"{name} is at least {value} s ({measurement.note}), which cannot show "
            f"whether the {format_seconds(target)} s objective was met",
        )

    if target is None:
        return None, Finding(
            severity=Severity.INFO, text=f"{name} {value} s measured (no objective declared)"
        )
    if seconds > target:
        text = f"{name} {value} s exceeded the {format_seconds(target)} s objective"
        resolution = measurement.resolution_seconds
        if seconds - resolution <= target:
            # The true value lies up to one resolution below the reported one, so a finer
            # observer might have seen the objective met; say so rather than hide it.
            text += (
                f" (measured at {format_seconds(resolution)} s resolution, so the true value "
                f"may be up to {format_seconds(resolution)} s lower)"
            )
        return _Judgement.MISSED, Finding(severity=Severity.FAILURE, text=text)
    return _Judgement.MET, Finding(
        severity=Severity.INFO,
        text=f"{name} {value} s met the {format_seconds(target)} s objective",
    )


def _describe_capacity(capacity: CapacityMeasurement | None) -> list[Finding]:
    # Capacity has no objective of its own; it is reported so a reader sees how long the
    # system ran degraded after the service itself had recovered.
    if capacity is None:
        return []
    measurement = capacity.time_to_full_capacity
    findings: list[Finding] = []
    if measurement.seconds is None:
        findings.append(
            Finding(
                severity=Severity.WARNING,
                text=f"time to full capacity could not be measured: {measurement.note}",
            )
        )
    elif measurement.bound is Bound.LOWER:
        findings.append(
            Finding(
                severity=Severity.WARNING,
                text=f"time to full capacity is at least {format_seconds(measurement.seconds)}"
                f" s: {measurement.note}",
            )
        )
    else:
        findings.append(
            Finding(
                severity=Severity.INFO,
                text=f"full capacity {format_seconds(measurement.seconds)} s after the fault",
            )
        )
    findings += [
        Finding(
            severity=Severity.INFO,
            text=f"{workload.workload} dropped to {workload.lowest_ready} of "
            f"{workload.desired} ready replicas",
        )
        for workload in capacity.workloads
        if workload.lowest_ready < workload.desired
    ]
    return findings


def _seconds(objective: timedelta) -> str:
    return format_seconds(objective.total_seconds())

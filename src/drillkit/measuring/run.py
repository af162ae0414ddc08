"""The single entry point of the pure core: a run's timeline in, its :class:`Outcome` out.

The runner calls :func:`measure_run` once a run has ended (however it ended), and the
report writers render what it returns. It picks the events each measurement needs out
of the timeline and hands them to ``recovery``, ``capacity``, ``rpo`` and ``verdict``;
all the rules live there.
"""

from __future__ import annotations

from collections.abc import Sequence

from drillkit.measuring.capacity import measure_capacity
from drillkit.measuring.landing import measure_landing
from drillkit.measuring.recovery import measure_recovery
from drillkit.measuring.rpo import measure_rpo
from drillkit.measuring.verdict import decide_verdict
from drillkit.model.drill import Target
from drillkit.model.measurement import (
    CapacityMeasurement,
    FaultLanding,
    Outcome,
    RpoMeasurement,
    RunStatus,
)
from drillkit.model.objectives import Objectives
from drillkit.model.timeline import (
    CapacityObserved,
    ConditionObserved,
    ConditionUnobserved,
    FaultInjected,
    GuardTripped,
    LockLost,
    MarkersRead,
    MarkerWritten,
    RollbackStarted,
    RunFinished,
    RunInterrupted,
    TimelineEvent,
)


def measure_run(
    timeline: Sequence[TimelineEvent],
    *,
    objectives: Objectives,
    target: Target,
    resolution: float,
    marker_interval: float | None,
    run_status: RunStatus,
    observed_until: float | None = None,
) -> Outcome:
    """Measure RTO, time to full capacity and RPO from ``timeline`` and decide the verdict.

    ``target`` is the drill's: a fault that landed on none of its namespaces and
    workloads leaves the run inconclusive.

    ``resolution`` is the observer's (event receipt for watches, the interval for polls);
    ``marker_interval`` is the marker writer's, None when the drill writes no markers.
    ``t_inject`` is the earliest ``FaultInjected``, and data loss is counted until it
    had certainly landed (``FaultInjected.landed_by``); the deadline is ``t_inject`` plus
    ``objectives.timeout``. ``observed_until`` is the last moment the run is known to
    have been observing when its timeline does not show how it ended (a killed run):
    no bound reaches past it. Raise ValueError when the timeline contradicts itself (a
    surviving marker never written, markers without a marker interval).
    """
    faults: list[FaultInjected] = []
    observations: list[tuple[float, bool | None]] = []
    samples: list[tuple[float, str, int, int]] = []
    written: list[tuple[int, float]] = []
    reads: list[MarkersRead] = []
    guards: list[str] = []
    signals: list[str] = []
    lock_lost: str | None = None
    rolled_back = False
    # Moments by which the observer had certainly stopped looking; a bound measured past
    # them would claim observation that never happened.
    stops: list[float] = [observed_until] if observed_until is not None else []

    for event in timeline:
        moment = event.at.monotonic
        match event:
            case FaultInjected():
                faults.append(event)
            case ConditionObserved(holds=holds):
                observations.append((moment, holds))
            case ConditionUnobserved():
                observations.append((moment, None))
            case CapacityObserved(workload=workload, ready=ready, desired=desired):
                samples.append((moment, workload, ready, desired))
            case MarkerWritten(sequence=sequence):
                written.append((sequence, moment))
            case MarkersRead():
                reads.append(event)
            case GuardTripped(name=name, detail=detail):
                guards.append(f"{name}: {detail}" if detail else name)
                stops.append(moment)
            case LockLost(reason=reason):
                lock_lost = lock_lost or reason
                stops.append(moment)
            case RunInterrupted(signal=signal):
                signals.append(signal)
                stops.append(moment)
            case RollbackStarted():
                rolled_back = True
                stops.append(moment)
            case RunFinished():
                stops.append(moment)
            case _:
                pass

    first_fault = min(faults, key=lambda fault: fault.at.monotonic, default=None)
    t_inject = first_fault.at.monotonic if first_fault is not None else None
    deadline = t_inject + objectives.timeout.total_seconds() if t_inject is not None else None
    observed_until = (
        min((stop for stop in stops if stop >= t_inject), default=None)
        if t_inject is not None
        else None
    )

    recovery = measure_recovery(
        observations,
        t_inject=t_inject,
        stable_for=objectives.stable_for.total_seconds(),
        deadline=deadline,
        resolution=resolution,
        observed_until=observed_until,
    )
    capacity: CapacityMeasurement | None = None
    if samples:
        capacity = measure_capacity(
            samples,
            t_inject=t_inject,
            deadline=deadline,
            resolution=resolution,
            observed_until=observed_until,
        )
    rpo: RpoMeasurement | None = None
    if written or reads:
        if marker_interval is None:
            raise ValueError("the timeline holds data markers but no marker interval was given")
        # The latest read after the fault is the one after recovery; earlier ones (e.g. a
        # pre-flight check that the reader works) say nothing about loss.
        after_fault = [read for read in reads if t_inject is None or read.at.monotonic >= t_inject]
        last_read = max(after_fault, key=lambda read: read.at.monotonic, default=None)
        rpo = measure_rpo(
            written,
            newest_surviving=last_read.newest_sequence if last_read else None,
            # Data may be lost until the fault had certainly landed (the end of the
            # step that landed it, when only that window is known).
            t_inject=first_fault.landed_by if first_fault is not None else None,
            interval=marker_interval,
            backup_age_seconds=last_read.backup_age_seconds if last_read else None,
            read_back=last_read is not None,
        )

    landing: FaultLanding | None = None
    if faults:
        landing = measure_landing(
            faults,
            namespaces=target.namespaces,
            workloads=[f"{w.kind}/{w.namespace}/{w.name}" for w in target.workloads],
            lost_at=[moment for moment, holds in observations if holds is False],
        )

    return decide_verdict(
        run_status=run_status,
        recovery=recovery,
        rpo=rpo,
        objectives=objectives,
        guard_tripped=bool(guards),
        capacity=capacity,
        guards=guards,
        interrupt_signal=signals[0] if signals else None,
        rolled_back=rolled_back,
        landing=landing,
        lock_lost=lock_lost,
    )

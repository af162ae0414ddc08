"""Time to full capacity: until every targeted workload has its desired replicas ready.

The service RTO (``recovery``) says when users were served again; this says when the
system was whole again, which can be much later (a service answers with one pod of
three). The observer records ``CapacityObserved`` samples of ready and desired replicas
per targeted workload; this module turns them into one duration and each workload's
low point. Pure: time arrives as data.

Between samples a workload is taken to keep its last sampled state (watch semantics).
Full capacity counts from the last moment at which the set of workloads below their
desired replicas became empty and stayed empty until observation ended, so a fault
that cascades (a zone drained node by node) is not declared over at a lull.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from drillkit.model.measurement import (
    Bound,
    CapacityMeasurement,
    Measurement,
    WorkloadCapacity,
    format_seconds,
)


class CapacitySample(NamedTuple):
    """Ready and desired replicas of one workload at one monotonic time."""

    at: float
    workload: str
    ready: int
    desired: int


def measure_capacity(
    samples: Iterable[tuple[float, str, int, int]],
    *,
    t_inject: float | None,
    deadline: float | None,
    resolution: float,
    observed_until: float | None = None,
) -> CapacityMeasurement:
    """Measure the time from ``t_inject`` until every sampled workload is at full capacity.

    ``samples`` are ``(monotonic seconds, workload, ready, desired)``, in any order; equal
    times keep arrival order. A workload is at full capacity when ready >= desired. The
    result is 0 when no workload was below after the fault, and a lower bound when some
    workload was still below when observation ended (the deadline, or ``observed_until``
    when observation stopped earlier).
    """
    if resolution < 0:
        raise ValueError(f"resolution cannot be negative: {resolution}")
    ordered = sorted((CapacitySample(*sample) for sample in samples), key=lambda s: s.at)

    if t_inject is None:
        return CapacityMeasurement(
            time_to_full_capacity=Measurement(
                seconds=None,
                resolution_seconds=resolution,
                note="the fault never took effect, so there is no t_inject to measure from",
            ),
            t_full_capacity=None,
            workloads=_low_points(ordered),
        )
    if not ordered:
        return CapacityMeasurement(
            time_to_full_capacity=Measurement(
                seconds=None,
                resolution_seconds=resolution,
                note="no capacity of a targeted workload was observed",
            ),
            t_full_capacity=None,
        )

    window_end = min(
        (end for end in (deadline, observed_until) if end is not None), default=math.inf
    )
    # The state each workload was in when the fault took effect, then every change after.
    at_inject = {sample.workload: sample for sample in ordered if sample.at < t_inject}
    window = [sample for sample in ordered if t_inject <= sample.at <= window_end]

    below = {name for name, sample in at_inject.items() if sample.ready < sample.desired}
    dipped = bool(below)
    t_full: float | None = None
    for sample in window:
        was_below = bool(below)
        if sample.ready < sample.desired:
            below.add(sample.workload)
            dipped = True
        else:
            below.discard(sample.workload)
        if was_below and not below:
            t_full = sample.at

    low_points = _low_points([*at_inject.values(), *window])
    if not dipped:
        return CapacityMeasurement(
            time_to_full_capacity=Measurement(
                seconds=0.0,
                resolution_seconds=resolution,
                note="every workload kept its desired ready replicas",
            ),
            t_full_capacity=t_inject,
            workloads=low_points,
        )
    if not below and t_full is not None:
        return CapacityMeasurement(
            time_to_full_capacity=Measurement(
                seconds=t_full - t_inject,
                resolution_seconds=resolution,
                note="every workload was back at its desired ready replicas",
            ),
            t_full_capacity=t_full,
            workloads=low_points,
        )

    if math.isinf(window_end):
        window_end = window[-1].at if window else t_inject
    if window_end == deadline:
        why = "not at full capacity before timeout"
    else:
        why = f"observation stopped {format_seconds(window_end - t_inject)} s after the fault"
    return CapacityMeasurement(
        time_to_full_capacity=Measurement(
            seconds=window_end - t_inject,
            resolution_seconds=resolution,
            bound=Bound.LOWER,
            note=f"{why}; still below desired ready replicas: {', '.join(sorted(below))}",
        ),
        t_full_capacity=None,
        workloads=low_points,
    )


def _low_points(samples: Iterable[CapacitySample]) -> tuple[WorkloadCapacity, ...]:
    lowest: dict[str, CapacitySample] = {}
    for sample in samples:
        known = lowest.get(sample.workload)
        if known is None or sample.ready < known.ready:
            lowest[sample.workload] = sample
    return tuple(
        WorkloadCapacity(workload=name, lowest_ready=sample.ready, desired=sample.desired)
        for name, sample in sorted(lowest.items())
    )

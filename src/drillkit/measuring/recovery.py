"""Service RTO from evaluations of the recovery condition (DESIGN section 3).

The observer in ``drillkit.running`` evaluates the recovery condition (the steady-state
hypothesis plus the drill's recovery probes) from before ``t_inject`` until recovery or
timeout, and records each evaluation as a ``ConditionObserved`` event. This module turns
those ``(monotonic time, holds)`` pairs into ``t_lost``, ``t_restored`` and the RTO. It
is pure: time arrives as data.

What the observations are taken to mean:

* Only observations are evidence. Between two of them the condition is assumed to keep
  the state last seen (true for a watch, which re-evaluates on every change; for a poll
  a blip shorter than the interval can go unseen, which is what its resolution says).
* ``t_restored`` is the first observation that saw the condition hold again, so the
  true restoration lies between the last failing observation and it: at most one
  resolution earlier. Reporting the later edge never claims a faster recovery than was
  seen; the measurement carries the resolution so a reader knows the slack.
* A stable interval is confirmed only by an observation made at least ``stable_for``
  after its start with no failing one in between. The observer is expected to record a
  closing evaluation when it stops (recovery confirmed or timeout), which is also how
  "the condition never broke" is shown to have lasted ``stable_for``.
* Observations after the end of the window (the deadline, or the moment observation
  stopped early, e.g. on interruption) are ignored: a recovery after the observer gave
  up is not a recovery this run saw.
* A gap in contact with the cluster (an observation whose ``holds`` is None: the API
  server could not be reached) is a gap in measurement, never a loss. The state is
  unknown from it until the next observation, so no stable interval spans it, "no
  disruption" cannot be claimed across it, and a restoration first seen after it may
  have happened anywhere within it: the measurement's resolution widens to the gap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from drillkit.model.measurement import Bound, Measurement, RecoveryMeasurement, format_seconds


def measure_recovery(
    observations: Iterable[tuple[float, bool | None]],
    *,
    t_inject: float | None,
    stable_for: float,
    deadline: float | None,
    resolution: float,
    observed_until: float | None = None,
) -> RecoveryMeasurement:
    """Measure ``t_lost``, ``t_restored`` and the service RTO.

    ``observations`` are ``(monotonic seconds, condition holds)`` pairs in arrival
    order, possibly out of time order (watch events and probe results race); equal
    times keep arrival order. ``deadline`` is ``t_inject`` plus the drill's timeout
    (None: no timeout, observation ends with the last observation). ``observed_until``
    is when observation stopped if earlier than the deadline (interruption, a guard,
    rollback); a lower bound then ends there instead of claiming the full timeout.
    ``resolution`` is the observer's: event receipt for watches, the interval for polls.
    An observation at exactly ``t_inject`` counts as after it, and a condition already
    failing at ``t_inject`` (its last earlier observation failed) is lost at ``t_inject``.
    ``holds`` None marks the start of a gap in contact (see the module docstring).
    """
    if stable_for < 0:
        raise ValueError(f"stable_for cannot be negative: {stable_for}")
    if resolution < 0:
        raise ValueError(f"resolution cannot be negative: {resolution}")
    if t_inject is None:
        return RecoveryMeasurement(
            t_inject=None,
            t_lost=None,
            t_restored=None,
            rto=Measurement(
                seconds=None,
                resolution_seconds=resolution,
                note="the fault never took effect (no disruptive operation was acknowledged), "
                "so there is no t_inject to measure recovery from",
            ),
            disruption_observed=False,
        )
    if deadline is not None and deadline < t_inject:
        raise ValueError(f"deadline {deadline} is before t_inject {t_inject}")

    # sorted() is stable: observations with equal times keep their arrival order.
    ordered = sorted(observations, key=lambda observation: observation[0])
    window_end = min(
        (end for end in (deadline, observed_until) if end is not None), default=math.inf
    )
    before = [holds for time, holds in ordered if time < t_inject]
    window = [(time, holds) for time, holds in ordered if t_inject <= time <= window_end]
    if before and before[-1] is None and (not window or window[0][1] is not None):
        # Out of contact when the fault took effect: unknown from t_inject on.
        window.insert(0, (t_inject, None))
    gaps = _gaps(window)

    t_lost: float | None = None
    after_loss: list[tuple[float, bool | None]] = []
    if before and before[-1] is False:
        # The condition was already failing when the fault took effect; crediting the
        # fault with "no disruption" would hide an outage, so the loss starts at t_inject.
        t_lost, after_loss = t_inject, window
    else:
        for index, (time, holds) in enumerate(window):
            if holds is False:
                t_lost, after_loss = time, window[index + 1 :]
                break

    def measured(rto: Measurement, t_restored: float | None = None) -> RecoveryMeasurement:
        return RecoveryMeasurement(
            t_inject=t_inject,
            t_lost=t_lost,
            t_restored=t_restored,
            rto=rto,
            disruption_observed=t_lost is not None,
        )

    if t_lost is None and not gaps:
        return measured(_undisrupted_rto(window, t_inject, stable_for, resolution))
    if t_lost is None:
        # Never seen lost, but not seen throughout either: any loss lay within a gap.
        after_loss = window

    # Walk forward from the loss: a candidate interval starts at the first passing
    # observation after a failing one (or after a gap) and is dropped by any failing one,
    # or any gap, before it has been seen to hold for stable_for.
    candidate: float | None = None
    for time, holds in after_loss:
        if not holds:
            candidate = None
            continue
        if candidate is None:
            candidate = time
        if time - candidate >= stable_for:
            # A restoration first seen after a gap may have come anywhere within it.
            widest = max((end - start for start, end in gaps if end <= candidate), default=0.0)
            if t_lost is not None:
                note = (
                    f"condition lost {format_seconds(t_lost - t_inject)} s after the fault "
                    f"and held again from {format_seconds(candidate - t_inject)} s"
                )
            else:
                note = (
                    f"no loss observed, but contact with the API server was lost for up to "
                    f"{format_seconds(widest)} s after the fault; the condition held from "
                    f"{format_seconds(candidate - t_inject)} s on"
                )
            if widest > resolution:
                note += f" (resolution widened to the {format_seconds(widest)} s gap in contact)"
            rto = Measurement(
                seconds=candidate - t_inject,
                resolution_seconds=max(resolution, widest),
                note=note,
            )
            return measured(rto, t_restored=candidate)

    open_gap = gaps[-1][0] if gaps and gaps[-1][1] == math.inf else None
    if t_lost is None:
        why = (
            f"contact with the API server was lost {format_seconds(gaps[0][0] - t_inject)} s "
            "after the fault and the condition was not then seen holding for the "
            f"{format_seconds(stable_for)} s stabilisation window"
        )
        return measured(Measurement(seconds=None, resolution_seconds=resolution, note=why))
    if open_gap is not None:
        # Out of contact when observation ended: not known unrecovered beyond the gap's start.
        return measured(
            Measurement(
                seconds=open_gap - t_inject,
                resolution_seconds=resolution,
                bound=Bound.LOWER,
                note=f"contact with the API server was lost "
                f"{format_seconds(open_gap - t_inject)} s after the fault and not regained "
                "before observation ended",
            )
        )

    return measured(
        _unrecovered_rto(
            t_inject=t_inject,
            candidate=candidate,
            window=window,
            window_end=window_end,
            deadline=deadline,
            stable_for=stable_for,
            resolution=resolution,
        )
    )


def _gaps(window: list[tuple[float, bool | None]]) -> list[tuple[float, float]]:
    """``(start, end)`` of each run of unobserved entries; ``end`` is the next real
    observation, or infinity when observation ended out of contact."""
    gaps: list[tuple[float, float]] = []
    start: float | None = None
    for time, holds in window:
        if holds is None:
            if start is None:
                start = time
        elif start is not None:
            gaps.append((start, time))
            start = None
    if start is not None:
        gaps.append((start, math.inf))
    return gaps


def _undisrupted_rto(
    window: list[tuple[float, bool | None]], t_inject: float, stable_for: float, resolution: float
) -> Measurement:
    # "Never lost" is only a result when the observer was still looking stable_for after
    # the fault; otherwise the condition may have broken after it stopped.
    observed_for = window[-1][0] - t_inject if window else None
    if observed_for is not None and observed_for >= stable_for:
        note = "no disruption observed"
        if resolution > 0:
            shortest = format_seconds(resolution)
            note += f"; a loss shorter than the {shortest} s resolution could go unseen"
        return Measurement(seconds=0.0, resolution_seconds=resolution, note=note)
    if observed_for is None:
        note = "the recovery condition was not observed after the fault"
    else:
        note = (
            f"no disruption observed, but observation ended {format_seconds(observed_for)} s "
            f"after the fault, before the {format_seconds(stable_for)} s stabilisation window"
        )
    return Measurement(seconds=None, resolution_seconds=resolution, note=note)


def _unrecovered_rto(
    *,
    t_inject: float,
    candidate: float | None,
    window: list[tuple[float, bool | None]],
    window_end: float,
    deadline: float | None,
    stable_for: float,
    resolution: float,
) -> Measurement:
    if math.isinf(window_end):
        # No deadline and no known end: the last observation is all we know.
        window_end = window[-1][0] if window else t_inject
    if window_end == deadline:
        why = "not recovered before timeout"
    else:
        why = f"observation stopped {format_seconds(window_end - t_inject)} s after the fault"
    if candidate is not None:
        # The condition was holding again when observation ended but had not yet held for
        # stable_for. Claiming "RTO > timeout" would be false if it went on holding; all
        # that is known is that restoration came no earlier than this interval's start.
        held_for = window[-1][0] - candidate
        return Measurement(
            seconds=candidate - t_inject,
            resolution_seconds=resolution,
            bound=Bound.LOWER,
            note=f"{why}: the condition held again from {format_seconds(candidate - t_inject)} s "
            f"but was seen holding for only {format_seconds(held_for)} s "
            f"of the {format_seconds(stable_for)} s stabilisation window",
        )
    return Measurement(
        seconds=window_end - t_inject,
        resolution_seconds=resolution,
        bound=Bound.LOWER,
        note=why,
    )

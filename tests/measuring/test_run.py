"""From a whole timeline to an outcome: what measure_run picks out and hands on.

The rules themselves are tested in the other modules here; these tests check that a
realistic timeline reaches them with the right t_inject, deadline and end of
observation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drillkit.measuring.run import measure_run
from drillkit.model.drill import Target
from drillkit.model.measurement import Bound, RunStatus, Verdict
from drillkit.model.objectives import Objectives
from drillkit.model.timeline import (
    Affected,
    CapacityObserved,
    ConditionObserved,
    FaultInjected,
    GuardTripped,
    Instant,
    MarkersRead,
    MarkerWritten,
    RollbackCompleted,
    RollbackStarted,
    RunFinished,
    RunInterrupted,
    RunStarted,
    SteadyStateVerified,
    TimelineEvent,
)

# A fixed wall-clock origin: the wall clock is only carried along, never read.
ORIGIN = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OBJECTIVES = Objectives(
    rto=timedelta(seconds=30),
    rpo=timedelta(seconds=5),
    stable_for=timedelta(seconds=10),
    timeout=timedelta(seconds=60),
)

TARGET = Target(namespaces=("shop",))


def at(monotonic: float) -> Instant:
    return Instant(monotonic=monotonic, utc=ORIGIN + timedelta(seconds=monotonic))


def observed(monotonic: float, holds: bool) -> ConditionObserved:
    return ConditionObserved(at=at(monotonic), holds=holds, source="watch:shop/web")


def capacity(monotonic: float, ready: int) -> CapacityObserved:
    return CapacityObserved(at=at(monotonic), workload="shop/web", ready=ready, desired=3)


def prologue() -> list[TimelineEvent]:
    """Everything up to and including the fault at 10, markers every 2 s from 2."""
    return [
        RunStarted(at=at(0), run_id="20250301-090000-zone", drill="zone-failure"),
        capacity(0.5, 3),
        SteadyStateVerified(at=at(1), holds=True),
        *(MarkerWritten(at=at(2.0 * sequence), sequence=sequence) for sequence in range(1, 6)),
        observed(5, True),
        FaultInjected(at=at(10), activity="drain-zone", detail="first eviction accepted"),
    ]


def recovered_run() -> list[TimelineEvent]:
    return [
        *prologue(),
        capacity(11, 1),
        observed(12, False),
        observed(20, True),
        observed(31, True),
        capacity(40, 3),
        MarkersRead(at=at(45), newest_sequence=4),
        RollbackStarted(at=at(50)),
        RollbackCompleted(at=at(55), status="succeeded"),
        RunFinished(at=at(60), status=RunStatus.COMPLETED),
    ]


def test_a_drill_that_recovers_within_its_objectives_is_met() -> None:
    outcome = measure_run(
        recovered_run(),
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.verdict is Verdict.MET
    assert outcome.recovery is not None
    assert (outcome.recovery.t_inject, outcome.recovery.t_lost) == (10, 12)
    assert outcome.recovery.t_restored == 20
    assert outcome.recovery.rto.seconds == 10.0
    assert outcome.capacity is not None
    assert outcome.capacity.time_to_full_capacity.seconds == 30.0
    assert outcome.rpo is not None
    # Marker 4 was written at 8; marker 5, written at the moment of the fault, was lost.
    assert outcome.rpo.rpo.seconds == 2.0
    assert outcome.rpo.rpo.resolution_seconds == 2.0
    assert (outcome.rpo.markers_written_before_inject, outcome.rpo.markers_lost) == (5, 1)


def test_a_fault_known_only_within_a_window_counts_rto_from_its_start_and_loss_to_its_end() -> None:
    # A runbook step from 10 to 14 crashed etcd at some moment inside it: markers 6 and 7
    # (written at 12 and 14) may have been written before the crash, and were lost.
    timeline = [
        *prologue()[:-1],
        *(MarkerWritten(at=at(2.0 * sequence), sequence=sequence) for sequence in (6, 7)),
        FaultInjected(at=at(10), activity="crash-etcd", landed_within_seconds=4.0),
        *recovered_run()[len(prologue()) :],
    ]

    outcome = measure_run(
        timeline,
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.recovery is not None
    assert outcome.recovery.t_inject == 10
    assert outcome.recovery.rto.seconds == 10.0
    assert outcome.rpo is not None
    # Marker 4, written at 8, is the newest surviving: loss is counted until 14.
    assert outcome.rpo.rpo.seconds == 6.0
    assert (outcome.rpo.markers_written_before_inject, outcome.rpo.markers_lost) == (7, 3)


def test_a_timeline_recorded_out_of_order_measures_the_same() -> None:
    in_order = measure_run(
        recovered_run(),
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    shuffled = measure_run(
        list(reversed(recovered_run())),
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert shuffled == in_order


def test_a_service_not_recovered_by_the_timeout_misses_with_the_timeout_as_a_lower_bound() -> None:
    timeline = [
        *prologue(),
        observed(12, False),
        observed(70, False),
        RollbackStarted(at=at(71)),
        RunFinished(at=at(80), status=RunStatus.COMPLETED),
    ]

    outcome = measure_run(
        timeline,
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.verdict is Verdict.MISSED
    assert outcome.recovery is not None
    assert outcome.recovery.rto.seconds == 60.0
    assert outcome.recovery.rto.bound is Bound.LOWER
    assert outcome.recovery.rto.note == "not recovered before timeout"


@pytest.mark.parametrize(
    ("stop", "run_status", "finding"),
    [
        pytest.param(
            RunInterrupted(at=at(30), signal="SIGINT"),
            RunStatus.INTERRUPTED,
            "interrupted by signal SIGINT",
            id="an interruption",
        ),
        pytest.param(
            GuardTripped(at=at(30), name="error-budget", detail="burn rate 14x"),
            RunStatus.ABORTED,
            "aborted by a guard (error-budget: burn rate 14x)",
            id="a tripped guard",
        ),
    ],
)
def test_a_run_stopped_early_is_aborted_and_bounds_rto_where_observation_stopped(
    stop: TimelineEvent, run_status: RunStatus, finding: str
) -> None:
    timeline = [
        *prologue(),
        observed(12, False),
        stop,
        RollbackStarted(at=at(31)),
        RunFinished(at=at(40), status=run_status),
    ]

    outcome = measure_run(
        timeline,
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=run_status,
    )

    assert outcome.verdict is Verdict.ABORTED
    assert outcome.findings[0].text.startswith(finding)
    assert outcome.recovery is not None
    # Not "RTO > 60 s": nobody was looking after 30.
    assert outcome.recovery.rto.seconds == 20.0
    assert outcome.recovery.rto.bound is Bound.LOWER
    # The reader never ran, which is not the same as every marker lost.
    assert outcome.rpo is not None
    assert outcome.rpo.rpo.seconds is None


def test_a_run_whose_fault_never_took_effect_is_inconclusive() -> None:
    timeline: list[TimelineEvent] = [
        RunStarted(at=at(0), run_id="r", drill="zone-failure"),
        observed(5, True),
        observed(40, True),
        RunFinished(at=at(60), status=RunStatus.COMPLETED),
    ]

    outcome = measure_run(
        timeline,
        objectives=Objectives(),
        target=TARGET,
        resolution=0.0,
        marker_interval=None,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert outcome.recovery is not None
    assert outcome.recovery.t_inject is None
    assert "the fault never took effect" in outcome.findings[0].text
    assert outcome.capacity is None
    assert outcome.rpo is None


def test_the_earliest_fault_is_t_inject() -> None:
    timeline = [
        *prologue(),
        FaultInjected(at=at(11), activity="drain-zone", detail="second node"),
        observed(12, False),
        observed(20, True),
        observed(31, True),
    ]

    outcome = measure_run(
        timeline,
        objectives=Objectives(),
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.recovery is not None
    assert outcome.recovery.t_inject == 10
    assert outcome.recovery.rto.seconds == 10.0


def test_a_marker_read_before_the_fault_says_nothing_about_loss() -> None:
    timeline = [
        *prologue(),
        MarkersRead(at=at(3), newest_sequence=1),
        observed(12, False),
        observed(20, True),
        observed(31, True),
        MarkersRead(at=at(45), newest_sequence=3, backup_age_seconds=120.0),
    ]

    outcome = measure_run(
        timeline,
        objectives=Objectives(),
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.rpo is not None
    assert outcome.rpo.newest_surviving_sequence == 3
    assert outcome.rpo.rpo.seconds == 4.0
    assert outcome.rpo.backup_age_seconds == 120.0


def test_an_rpo_objective_with_markers_never_read_back_is_inconclusive() -> None:
    timeline = [*prologue(), observed(12, False), observed(20, True), observed(31, True)]

    outcome = measure_run(
        timeline,
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert outcome.rpo is not None
    assert outcome.rpo.rpo.note == "markers were not read back after recovery"


def test_markers_without_a_marker_interval_are_refused() -> None:
    with pytest.raises(ValueError, match="no marker interval"):
        measure_run(
            recovered_run(),
            objectives=OBJECTIVES,
            target=TARGET,
            resolution=0.0,
            marker_interval=None,
            run_status=RunStatus.COMPLETED,
        )


def test_polled_observations_carry_the_poll_interval_as_resolution() -> None:
    outcome = measure_run(
        recovered_run(),
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=5.0,
        marker_interval=2.0,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.recovery is not None
    assert outcome.recovery.rto.resolution_seconds == 5.0
    assert outcome.capacity is not None
    assert outcome.capacity.time_to_full_capacity.resolution_seconds == 5.0


def outage(affected: tuple[Affected, ...]) -> list[TimelineEvent]:
    """A zone outage whose fault reported ``affected``; the condition held throughout."""
    return [
        RunStarted(at=at(0), run_id="20250301-090000-dark", drill="zone-outage"),
        SteadyStateVerified(at=at(1), holds=True),
        observed(5, True),
        FaultInjected(
            at=at(10),
            activity="zone-a-goes-dark",
            detail="acknowledged by the target",
            affected=affected,
        ),
        observed(11, True),
        observed(25, True),
        RollbackStarted(at=at(50)),
        RunFinished(at=at(60), status=RunStatus.COMPLETED),
    ]


def test_an_outage_of_a_zone_without_target_pods_is_inconclusive_not_met() -> None:
    stopped = tuple(Affected(kind="Node", name=n, action="stopped") for n in ("a-1", "a-2"))

    outcome = measure_run(
        outage(stopped),
        objectives=OBJECTIVES,
        target=TARGET,
        resolution=0.0,
        marker_interval=None,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.verdict is Verdict.INCONCLUSIVE
    texts = [finding.text for finding in outcome.findings]
    assert (
        "zone-a-goes-dark affected no target: no pod of namespace shop was on the stopped "
        "nodes (a-1, a-2), so this run did not test recovery"
    ) in texts
    assert not any("tolerated" in text for text in texts)


def test_an_outage_that_stopped_a_target_pod_and_saw_no_disruption_is_met_as_tolerated() -> None:
    stopped = (
        Affected(kind="Node", name="a-1", action="stopped"),
        Affected(kind="Pod", namespace="shop", name="web-1", action="stopped"),
    )

    outcome = measure_run(
        outage(stopped),
        objectives=Objectives(rto=timedelta(seconds=30), stable_for=timedelta(seconds=10)),
        target=TARGET,
        resolution=0.0,
        marker_interval=None,
        run_status=RunStatus.COMPLETED,
    )

    assert outcome.verdict is Verdict.MET
    assert any(
        "the service tolerated the fault rather than recovered from it" in finding.text
        for finding in outcome.findings
    )

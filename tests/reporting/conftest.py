"""Realistic run records for the report writers, measured by the real pure core.

``make_record`` builds a :class:`RunRecord` whose outcome comes from
``drillkit.measuring.run.measure_run`` over a timeline like the runner records: run
started, steady state verified, fault injected at +10 s, condition lost at +12 s and
restored at +30 s, replica counts, rollback, finished. Variants change the timeline,
not the outcome by hand, so the reports are tested on outcomes the core really makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from drillkit.measuring.run import measure_run
from drillkit.model.drill import Target
from drillkit.model.measurement import RunStatus
from drillkit.model.objectives import Objectives
from drillkit.model.run import (
    Accountability,
    RestoredKind,
    RestoreSummary,
    RunRecord,
    Scope,
    SourceFile,
    TouchedCluster,
)
from drillkit.model.timeline import (
    ActivityCompleted,
    ActivityStarted,
    CapacityObserved,
    ConditionObserved,
    FaultInjected,
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

# Monotonic readings never start at zero; a non-zero origin catches code that forgets
# to make times relative.
MONOTONIC_ORIGIN = 5000.0
UTC_ORIGIN = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OBJECTIVES = Objectives(
    rto=timedelta(seconds=30), stable_for=timedelta(seconds=10), timeout=timedelta(seconds=60)
)
"""The objectives of every variant but ``markers``, which adds an RPO of 5 s."""
OBJECTIVES_WITH_RPO = OBJECTIVES.model_copy(update={"rpo": timedelta(seconds=5)})
DRILL_SHA = "a" * 64
EXPERIMENT_SHA = "b" * 64

Variant = Literal["met", "missed", "interrupted", "never-injected", "markers"]

SHOP_RESTORE = RestoreSummary(
    backup="backup-20250301-085500-3c1d",
    target="region-b of /labs/region-b/kubeconfig",
    namespaces=("shop",),
    objects_by_kind=(
        RestoredKind(kind="ConfigMap", count=2),
        RestoredKind(kind="Deployment", count=1),
        RestoredKind(kind="Namespace", count=1),
        RestoredKind(kind="PersistentVolumeClaim", count=1),
        RestoredKind(kind="Secret", count=1),
    ),
    created=5,
    replaced=1,
    skipped=2,
)
"""A restore of the shop into region B: 6 objects written (5 created, 1 replaced), 2 skipped."""


def at(offset: float) -> Instant:
    """The instant ``offset`` seconds after the run started, on both clocks."""
    return Instant(monotonic=MONOTONIC_ORIGIN + offset, utc=UTC_ORIGIN + timedelta(seconds=offset))


def observed(offset: float, holds: bool) -> ConditionObserved:
    return ConditionObserved(at=at(offset), holds=holds, source="watch:shop/web")


def ready(offset: float, workload: str, count: int, desired: int = 3) -> CapacityObserved:
    return CapacityObserved(at=at(offset), workload=workload, ready=count, desired=desired)


def make_timeline(
    variant: Variant = "met", *, run_id: str = "20250301-090000-ab12", drill: str = "zone-failure"
) -> list[TimelineEvent]:
    """The events of one run of ``variant``; offsets are seconds after the run started."""
    events: list[TimelineEvent] = [
        RunStarted(at=at(0), run_id=run_id, drill=drill),
        ready(0.5, "shop/web", 3),
        ready(0.5, "shop/db", 1, desired=1),
        SteadyStateVerified(at=at(1), holds=True),
        observed(5, True),
    ]
    if variant == "markers":
        # Every 2 s from +2 s; the fifth is written at the moment of the fault.
        events += [
            MarkerWritten(at=at(2.0 * sequence), sequence=sequence) for sequence in range(1, 6)
        ]
    if variant == "never-injected":
        return [
            *events,
            ActivityStarted(at=at(9), name="drain-zone", activity_type="action"),
            ActivityCompleted(
                at=at(10), name="drain-zone", activity_type="action", status="failed", error="no"
            ),
            observed(20, True),
            RollbackStarted(at=at(21)),
            RollbackCompleted(at=at(22), status="succeeded"),
            RunFinished(at=at(23), status=RunStatus.COMPLETED),
        ]

    events += [
        ActivityStarted(at=at(9.5), name="drain-zone", activity_type="action"),
        FaultInjected(at=at(10), activity="drain-zone", detail="first eviction accepted"),
        ready(11, "shop/web", 1),
        observed(12, False),
    ]
    if variant == "interrupted":
        return [
            *events,
            RunInterrupted(at=at(20), signal="SIGINT"),
            RollbackStarted(at=at(21)),
            RollbackCompleted(at=at(22), status="succeeded"),
            RunFinished(at=at(23), status=RunStatus.INTERRUPTED),
        ]

    restored = 50.0 if variant == "missed" else 30.0
    events += [
        ActivityCompleted(at=at(15), name="drain-zone", activity_type="action", status="succeeded"),
        ready(20, "shop/web", 2),
        observed(restored, True),
        ready(restored + 3, "shop/web", 3),
        observed(restored + 11, True),
    ]
    if variant == "markers":
        events.append(MarkersRead(at=at(restored + 12), newest_sequence=3))
    end = restored + 20
    events += [
        SteadyStateVerified(at=at(end - 1), holds=True),
        RollbackStarted(at=at(end)),
        RollbackCompleted(at=at(end + 2), status="succeeded"),
        RunFinished(at=at(end + 3), status=RunStatus.COMPLETED),
    ]
    return sorted(events, key=lambda event: event.at.monotonic)


def make_record(
    variant: Variant = "met",
    *,
    run_id: str = "20250301-090000-ab12",
    drill: str = "zone-failure",
    description: str = "Drain every node of zone-a; the shop must keep serving.",
    started_utc: datetime = UTC_ORIGIN,
    timeline: Sequence[TimelineEvent] | None = None,
    objectives: Objectives | None = None,
) -> RunRecord:
    """A finished run of ``variant``, measured and judged by ``drillkit.measuring``."""
    events = tuple(timeline if timeline is not None else make_timeline(variant, run_id=run_id))
    if objectives is None:
        objectives = OBJECTIVES_WITH_RPO if variant == "markers" else OBJECTIVES
    status = RunStatus.INTERRUPTED if variant == "interrupted" else RunStatus.COMPLETED
    outcome = measure_run(
        events,
        objectives=objectives,
        target=Target(namespaces=("shop",)),
        resolution=0.0,
        marker_interval=2.0 if variant == "markers" else None,
        run_status=status,
    )
    duration = events[-1].at.monotonic - events[0].at.monotonic
    return RunRecord(
        run_id=run_id,
        drill=drill,
        description=description,
        strategy="active-active",
        status=status,
        outcome=outcome,
        objectives=objectives,
        resolution_seconds=0.0,
        started_utc=started_utc,
        ended_utc=started_utc + timedelta(seconds=duration),
        duration_seconds=duration,
        scope=Scope(
            context="lab-shared",
            cluster_server="https://127.0.0.1:6443",
            kubernetes_version="v1.31.2",
            namespaces=("shop",),
            workloads=("shop/web", "shop/db"),
            nodes_per_zone={"zone-b": 2, "zone-a": 2, "zone-c": 2},
            clusters=(
                TouchedCluster(
                    role="measured",
                    server="https://127.0.0.1:6443",
                    ca_sha256="ab" * 32,
                    kube_system_uid="5f0c3b1e-0000-4000-8000-000000000001",
                ),
            ),
        ),
        accountability=Accountability(
            operator="alice@example.com",
            owner="platform-team",
            approver="bob@example.com",
            controls=("SOC2-A1.3", "ISO27001-A.5.30"),
        ),
        drill_file=SourceFile(path="drills/zone-failure.yaml", sha256=DRILL_SHA),
        experiment_file=SourceFile(path="experiments/zone-failure.yaml", sha256=EXPERIMENT_SHA),
        tool_version="0.1.0",
        timeline=events,
        journal={
            "chaoslib-version": "1.44.0",
            "status": "completed",
            "run": [{"activity": {"name": "drain-zone"}, "status": "succeeded"}],
            "start": UTC_ORIGIN,
        },
    )

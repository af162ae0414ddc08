"""Timeline events survive a trip through JSON, and bad JSON is refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

import pytest

from drillkit.model.measurement import RunStatus
from drillkit.model.timeline import (
    ActivityCompleted,
    ActivityStarted,
    Affected,
    CapacityObserved,
    ConditionObserved,
    ConditionUnobserved,
    FaultInjected,
    GuardTripped,
    Instant,
    LockLost,
    MarkersRead,
    MarkerWritten,
    ProcedureStepRun,
    RollbackCompleted,
    RollbackStarted,
    RunFinished,
    RunInterrupted,
    RunStarted,
    SteadyStateVerified,
    TimelineEvent,
    event_from_json,
    event_to_json,
)

# The runner records UTC with millisecond precision, which is what JSON keeps.
AT = Instant(monotonic=12345.678901, utc=datetime(2025, 3, 1, 9, 30, 15, 250000, tzinfo=UTC))

EVENTS: list[TimelineEvent] = [
    RunStarted(at=AT, run_id="20250301-093015-zone-failure", drill="zone-failure"),
    SteadyStateVerified(at=AT, holds=True),
    FaultInjected(at=AT, activity="drain-zone", detail="eviction of shop/web-1 accepted"),
    FaultInjected(
        at=AT,
        activity="zone-a-goes-dark",
        affected=(
            Affected(kind="Node", name="zone-a-1", action="stopped"),
            Affected(
                kind="Pod",
                namespace="shop",
                name="web-1",
                action="stopped",
                workload="Deployment/shop/web",
            ),
        ),
    ),
    FaultInjected(at=AT, activity="empty-zone-goes-dark", affected=()),
    ConditionObserved(at=AT, holds=False, source="watch:shop/web", detail="1 of 3 ready"),
    ConditionObserved(at=AT, holds=True, source="poll:http"),
    ConditionUnobserved(at=AT, source="watch:shop/web", detail="lost contact"),
    CapacityObserved(at=AT, workload="shop/web", ready=1, desired=3),
    MarkerWritten(at=AT, sequence=42),
    MarkersRead(at=AT, newest_sequence=40, backup_age_seconds=3600.5),
    MarkersRead(at=AT, newest_sequence=None),
    ProcedureStepRun(
        at=AT,
        phase="restore",
        name="restore the snapshot",
        command="etcdutl snapshot restore /backups/etcd.db --data-dir /var/lib/etcd.restoring",
        executor="ssh ops@cp-1:22",
        member="cp-1",
        seconds=1.25,
        exit_code=0,
    ),
    ProcedureStepRun(
        at=AT,
        phase="stop",
        name="stop the API server",
        command="systemctl stop kube-apiserver",
        executor="local",
        member=None,
        seconds=0.5,
        exit_code=1,
    ),
    ActivityStarted(at=AT, name="drain-zone", activity_type="action"),
    ActivityCompleted(at=AT, name="drain-zone", activity_type="action", status="succeeded"),
    ActivityCompleted(
        at=AT, name="check-web", activity_type="probe", status="failed", error="timed out"
    ),
    RollbackStarted(at=AT),
    RollbackCompleted(at=AT, status="succeeded"),
    GuardTripped(at=AT, name="error-budget", detail="burn rate 14x"),
    LockLost(at=AT, reason="run 20250301-093015-3fa2c1 took the lease over"),
    RunInterrupted(at=AT, signal="SIGTERM"),
    RunFinished(at=AT, status=RunStatus.INTERRUPTED),
]


@pytest.mark.parametrize(
    "event",
    [pytest.param(event, id=f"{index:02d} {event.kind}") for index, event in enumerate(EVENTS)],
)
def test_every_event_reads_back_equal_after_a_trip_through_json_text(event: TimelineEvent) -> None:
    text = json.dumps(event_to_json(event))

    assert event_from_json(json.loads(text)) == event


def test_every_event_class_has_its_own_kind_and_is_covered_here() -> None:
    classes = get_args(TimelineEvent)
    kinds = [event_class.kind for event_class in classes]

    assert len(set(kinds)) == len(kinds)
    assert {type(event) for event in EVENTS} == set(classes)


def test_an_event_is_a_flat_object_with_kind_both_clocks_and_its_fields() -> None:
    event = FaultInjected(at=AT, activity="drain-zone", detail="eviction accepted")

    assert event_to_json(event) == {
        "kind": "fault_injected",
        "monotonic": 12345.678901,
        "utc": "2025-03-01T09:30:15.250Z",
        "activity": "drain-zone",
        "detail": "eviction accepted",
        "affected": None,
        "landed_within_seconds": None,
    }


@pytest.mark.parametrize(
    ("utc", "written"),
    [
        pytest.param(
            datetime(2025, 3, 1, 9, 30, 15, 250999, tzinfo=UTC),
            "2025-03-01T09:30:15.250Z",
            id="microseconds are cut to milliseconds",
        ),
        pytest.param(
            datetime(2025, 3, 1, 10, 30, 15, tzinfo=timezone(timedelta(hours=1))),
            "2025-03-01T09:30:15.000Z",
            id="another offset is written as UTC with a Z",
        ),
    ],
)
def test_utc_is_written_as_rfc_3339_with_milliseconds_and_z(utc: datetime, written: str) -> None:
    data = event_to_json(RollbackStarted(at=Instant(monotonic=1.0, utc=utc)))

    assert data["utc"] == written


def test_an_offset_other_than_z_reads_back_as_the_same_moment_in_utc() -> None:
    data = event_to_json(RollbackStarted(at=AT)) | {"utc": "2025-03-01T10:30:15.250+01:00"}

    event = event_from_json(data)

    assert event.at.utc == AT.utc
    assert event.at.utc.tzinfo is UTC


def test_an_optional_field_left_out_takes_its_default() -> None:
    data = event_to_json(ConditionObserved(at=AT, holds=True, source="watch"))
    del data["detail"]

    assert event_from_json(data) == ConditionObserved(at=AT, holds=True, source="watch")


def test_an_integral_monotonic_reading_reads_back_as_a_float() -> None:
    data = event_to_json(RollbackStarted(at=AT)) | {"monotonic": 7}

    assert event_from_json(data).at.monotonic == 7.0


def test_an_instant_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Instant(monotonic=1.0, utc=datetime(2025, 3, 1, 9, 30))


GOOD = event_to_json(CapacityObserved(at=AT, workload="shop/web", ready=1, desired=3))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            GOOD | {"kind": "fault_happened"}, "unknown timeline event kind", id="an unknown kind"
        ),
        pytest.param(
            {k: v for k, v in GOOD.items() if k != "kind"}, "unknown", id="a missing kind"
        ),
        pytest.param(
            GOOD | {"ready": "1"},
            r"capacity_observed\.ready must be int",
            id="a string where a number belongs",
        ),
        pytest.param(GOOD | {"ready": True}, "must be int", id="a boolean where a count belongs"),
        pytest.param(
            GOOD | {"replicas": 3},
            "unexpected fields: replicas",
            id="a field the event does not have",
        ),
        pytest.param(
            {k: v for k, v in GOOD.items() if k != "desired"},
            "incomplete",
            id="a required field left out",
        ),
        pytest.param(
            GOOD | {"monotonic": "12"},
            "monotonic must be a number",
            id="a monotonic reading that is not a number",
        ),
        pytest.param(
            GOOD | {"utc": 12},
            "utc must be an RFC 3339 string",
            id="a utc time that is not a string",
        ),
        pytest.param(
            GOOD | {"utc": "yesterday"}, "invalid RFC 3339", id="a utc time that is not RFC 3339"
        ),
        pytest.param(
            GOOD | {"utc": "2025-03-01T09:30:15"},
            "no UTC offset",
            id="a utc time without an offset",
        ),
        pytest.param(
            event_to_json(RunFinished(at=AT, status=RunStatus.COMPLETED)) | {"status": "done"},
            r"run_finished\.status must be RunStatus",
            id="a run status that does not exist",
        ),
        pytest.param(
            event_to_json(FaultInjected(at=AT, activity="x", affected=()))
            | {"affected": [{"kind": "Pod", "name": "web-1"}]},
            r"fault_injected\.affected\[0\] is incomplete",
            id="an affected entry without its action",
        ),
        pytest.param(
            event_to_json(FaultInjected(at=AT, activity="x", affected=()))
            | {"affected": [{"kind": "Pod", "name": "web-1", "action": "deleted", "owner": "x"}]},
            r"fault_injected\.affected\[0\] has unexpected fields: owner",
            id="an affected entry with a field it does not have",
        ),
        pytest.param(
            event_to_json(FaultInjected(at=AT, activity="x", affected=())) | {"affected": "Pod"},
            r"fault_injected\.affected must be a list",
            id="affected that is not a list",
        ),
    ],
)
def test_malformed_json_is_refused_with_a_message_naming_the_problem(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        event_from_json(data)

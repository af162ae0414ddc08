"""report.json: the shape CI scripts rely on, its numbers, its schema, reading it back."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.model.measurement import Bound, RunStatus, Verdict
from drillkit.model.timeline import (
    ConditionObserved,
    FaultInjected,
    RunFinished,
    RunStarted,
    TimelineEvent,
)
from drillkit.reporting.document import (
    REPORT_SCHEMA_VERSION,
    ReportDocument,
    read_report_document,
    read_report_summary,
    render_report_json,
    render_report_schema,
    write_report_schema,
)
from tests.reporting.conftest import (
    DRILL_SHA,
    EXPERIMENT_SHA,
    SHOP_RESTORE,
    UTC_ORIGIN,
    Variant,
    at,
    make_record,
)

SCHEMA_FILE = Path(__file__).parents[2] / "schemas" / "report.schema.json"
VARIANTS: tuple[Variant, ...] = ("met", "missed", "interrupted", "never-injected", "markers")


def write_report(directory: Path, content: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(content, encoding="utf-8")
    return directory


def test_a_met_run_reports_rto_in_the_shape_ci_scripts_read() -> None:
    report = render_report_json(make_record("met"))

    assert report["schema_version"] == REPORT_SCHEMA_VERSION == "1.4"
    assert report["verdict"] == "met"
    assert report["status"] == "completed"
    assert report["measurements"] == {
        "rto": {
            "seconds": 20.0,
            "resolution_seconds": 0.0,
            "bound": "exact",
            "note": "condition lost 2 s after the fault and held again from 20 s",
            "objective_seconds": 30.0,
            "met": True,
        },
        "rpo": {
            "seconds": None,
            "resolution_seconds": None,
            "bound": None,
            "note": "not measured: the drill writes no data markers",
            "objective_seconds": None,
            "met": None,
            "markers_written_before_inject": None,
            "markers_lost": None,
            "newest_surviving_sequence": None,
            "backup_age_seconds": None,
        },
        "time_to_full_capacity": {
            "seconds": 23.0,
            "resolution_seconds": 0.0,
            "bound": "exact",
            "note": "every workload was back at its desired ready replicas",
            "objective_seconds": None,
            "met": None,
            "workloads": [
                {"workload": "shop/db", "lowest_ready": 1, "desired": 1},
                {"workload": "shop/web", "lowest_ready": 1, "desired": 3},
            ],
        },
    }


def test_recovery_times_are_seconds_after_the_fault_not_monotonic_readings() -> None:
    report = render_report_json(make_record("met"))

    assert report["recovery"] == {
        "injected_utc": "2025-03-01T09:00:10.000Z",
        "disruption_observed": True,
        "t_lost_seconds": 2.0,
        "t_restored_seconds": 20.0,
        "t_full_capacity_seconds": 23.0,
    }


def test_float_noise_of_monotonic_differences_does_not_reach_the_report() -> None:
    # 5012.3 - 5010.1 is 2.2000000000002...; a reader must see 2.2.
    timeline: list[TimelineEvent] = [
        RunStarted(at=at(0), run_id="20250301-090000-ab12", drill="zone-failure"),
        FaultInjected(at=at(10.1), activity="drain-zone"),
        ConditionObserved(at=at(12.3), holds=False, source="poll"),
        ConditionObserved(at=at(15.7), holds=True, source="poll"),
        ConditionObserved(at=at(40.0), holds=True, source="poll"),
        RunFinished(at=at(41), status=RunStatus.COMPLETED),
    ]

    report = ReportDocument.model_validate(render_report_json(make_record(timeline=timeline)))

    assert report.recovery.t_lost_seconds == 2.2
    assert report.recovery.t_restored_seconds == 5.6
    assert report.measurements.rto.seconds == 5.6


def test_a_missed_objective_is_marked_not_met() -> None:
    report = ReportDocument.model_validate(render_report_json(make_record("missed")))

    assert report.verdict is Verdict.MISSED
    assert report.measurements.rto.seconds == 40.0
    assert report.measurements.rto.met is False
    assert any(
        finding.text == "RTO 40 s exceeded the 30 s objective" for finding in report.findings
    )


def test_an_interrupted_run_reports_rto_as_a_lower_bound_that_cannot_show_the_objective_met() -> (
    None
):
    report = ReportDocument.model_validate(render_report_json(make_record("interrupted")))

    assert report.verdict is Verdict.ABORTED
    assert report.status is RunStatus.INTERRUPTED
    assert report.measurements.rto.seconds == 10.0
    assert report.measurements.rto.bound is Bound.LOWER
    assert report.measurements.rto.met is None
    assert report.recovery.t_restored_seconds is None


def test_a_run_whose_fault_never_took_effect_has_no_recovery_times() -> None:
    report = ReportDocument.model_validate(render_report_json(make_record("never-injected")))

    assert report.verdict is Verdict.INCONCLUSIVE
    assert report.recovery.injected_utc is None
    assert report.recovery.t_lost_seconds is None
    assert report.measurements.rto.seconds is None
    # No value, so no bound: a reader must not take "exact" for a measured null.
    assert report.measurements.rto.bound is None
    assert report.measurements.rto.met is None


def test_rpo_from_markers_carries_the_lost_markers_and_the_marker_resolution() -> None:
    rpo = render_report_json(make_record("markers"))["measurements"]
    assert isinstance(rpo, dict)

    assert rpo["rpo"] == {
        "seconds": 4.0,
        "resolution_seconds": 2.0,
        "bound": "exact",
        "note": "newest surviving marker 3 was written 4 s before the fault",
        "objective_seconds": 5.0,
        "met": True,
        "markers_written_before_inject": 5,
        "markers_lost": 2,
        "newest_surviving_sequence": 3,
        "backup_age_seconds": None,
    }


def test_objectives_are_given_in_seconds_and_as_the_drill_writes_them() -> None:
    report = render_report_json(make_record("markers"))

    assert report["objectives"] == {
        "rto": {"seconds": 30.0, "text": "30s"},
        "rpo": {"seconds": 5.0, "text": "5s"},
        "stable_for": {"seconds": 10.0, "text": "10s"},
        "timeout": {"seconds": 60.0, "text": "1m"},
    }


def test_the_report_records_what_an_auditor_asks_for() -> None:
    report = render_report_json(make_record("met"))

    assert report["scope"] == {
        "context": "lab-shared",
        "cluster_server": "https://127.0.0.1:6443",
        "kubernetes_version": "v1.31.2",
        "namespaces": ["shop"],
        "workloads": ["shop/web", "shop/db"],
        "nodes_per_zone": {"zone-a": 2, "zone-b": 2, "zone-c": 2},
        "clusters": [
            {
                "role": "measured",
                "server": "https://127.0.0.1:6443",
                "ca_sha256": "ab" * 32,
                "kube_system_uid": "5f0c3b1e-0000-4000-8000-000000000001",
            }
        ],
    }
    assert report["accountability"] == {
        "operator": "alice@example.com",
        "owner": "platform-team",
        "approver": "bob@example.com",
        "controls": ["SOC2-A1.3", "ISO27001-A.5.30"],
        "production_confirmation": None,
    }
    assert report["sources"] == {
        "drill": {"path": "drills/zone-failure.yaml", "sha256": DRILL_SHA},
        "experiment": {"path": "experiments/zone-failure.yaml", "sha256": EXPERIMENT_SHA},
    }
    assert report["tool_version"] == "0.1.0"
    assert report["strategy"] == "active-active"
    assert report["duration_seconds"] == 53.0


def test_times_are_rfc3339_utc_with_milliseconds_whatever_the_recorded_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    record = make_record(started_utc=UTC_ORIGIN.astimezone(plus_two) + timedelta(microseconds=1500))

    report = render_report_json(record)

    assert report["started_utc"] == "2025-03-01T09:00:00.001Z"
    assert report["ended_utc"] == "2025-03-01T09:00:53.001Z"


def test_a_run_that_could_not_proceed_reports_why() -> None:
    record = dataclasses.replace(
        make_record("met"), status=RunStatus.ERROR, error="cluster unreachable: connection refused"
    )

    report = render_report_json(record)

    assert report["status"] == "error"
    assert report["error"] == "cluster unreachable: connection refused"


def test_a_restore_drill_reports_the_restored_objects_by_kind_and_the_totals() -> None:
    record = dataclasses.replace(make_record("met"), restore=SHOP_RESTORE)

    report = render_report_json(record)

    assert report["restore"] == {
        "backup": "backup-20250301-085500-3c1d",
        "target": "region-b of /labs/region-b/kubeconfig",
        "namespaces": ["shop"],
        "objects_by_kind": {
            "ConfigMap": 2,
            "Deployment": 1,
            "Namespace": 1,
            "PersistentVolumeClaim": 1,
            "Secret": 1,
        },
        "created": 5,
        "replaced": 1,
        "skipped": 2,
    }


def test_restored_kinds_are_listed_in_order_whatever_order_they_were_recorded_in() -> None:
    shuffled = dataclasses.replace(
        SHOP_RESTORE, objects_by_kind=tuple(reversed(SHOP_RESTORE.objects_by_kind))
    )
    record = dataclasses.replace(make_record("met"), restore=shuffled)

    restore = render_report_json(record)["restore"]

    assert isinstance(restore, dict)
    assert list(restore["objects_by_kind"]) == sorted(restore["objects_by_kind"])


def test_a_drill_that_restores_no_backup_reports_restore_as_null() -> None:
    report = render_report_json(make_record("met"))

    assert "restore" in report
    assert report["restore"] is None


def test_a_restore_report_reads_back_equal(tmp_path: Path) -> None:
    rendered = render_report_json(dataclasses.replace(make_record("met"), restore=SHOP_RESTORE))
    report_dir = write_report(tmp_path / "run", json.dumps(rendered))

    document = read_report_document(report_dir / "report.json")

    assert document.model_dump(mode="json") == rendered
    assert document.restore is not None
    assert document.restore.objects_by_kind["Secret"] == 1


def test_a_version_1_0_report_from_before_restores_were_reported_still_reads(
    tmp_path: Path,
) -> None:
    rendered = render_report_json(make_record("met"))
    rendered["schema_version"] = "1.0"
    del rendered["restore"]
    report_dir = write_report(tmp_path / "run", json.dumps(rendered))

    document = read_report_document(report_dir / "report.json")

    assert document.schema_version == "1.0"
    assert document.restore is None
    assert read_report_summary(report_dir).verdict is Verdict.MET


def test_a_run_without_a_drill_file_has_no_drill_source() -> None:
    record = dataclasses.replace(make_record("met"), drill_file=None)

    sources = render_report_json(record)["sources"]

    assert isinstance(sources, dict)
    assert sources["drill"] is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_kind_of_run_renders_a_document_that_reads_back_equal(variant: Variant) -> None:
    rendered = render_report_json(make_record(variant))

    # Through real JSON text, as a reader of report.json gets it; NaN would not survive.
    text = json.dumps(rendered, allow_nan=False)

    assert ReportDocument.model_validate(json.loads(text)).model_dump(mode="json") == rendered


def test_the_committed_schema_is_the_one_the_models_generate() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

    assert committed == render_report_schema(), (
        "schemas/report.schema.json is stale; regenerate it with "
        "drillkit.reporting.document.write_report_schema"
    )


def test_the_schema_is_draft_2020_12_and_rejects_fields_it_does_not_know(tmp_path: Path) -> None:
    write_report_schema(tmp_path / "report.schema.json")
    schema = json.loads((tmp_path / "report.schema.json").read_text(encoding="utf-8"))

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert "measurements" in schema["required"]
    measurement = schema["$defs"]["MeasurementDocument"]
    assert {"seconds", "resolution_seconds", "bound"} <= set(measurement["required"])


def test_a_summary_reads_back_the_verdict_and_the_measured_values(tmp_path: Path) -> None:
    report_dir = write_report(
        tmp_path / "run", json.dumps(render_report_json(make_record("interrupted")))
    )

    summary = read_report_summary(report_dir)

    assert summary.run_id == "20250301-090000-ab12"
    assert summary.drill == "zone-failure"
    assert summary.verdict is Verdict.ABORTED
    assert summary.verdict_text == "aborted"
    assert summary.status is RunStatus.INTERRUPTED
    assert summary.started_utc == UTC_ORIGIN
    assert (summary.rto_seconds, summary.rto_bound) == (10.0, Bound.LOWER)
    assert (summary.rpo_seconds, summary.rpo_bound) == (None, None)
    assert summary.report_dir == report_dir
    assert summary.problem is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param('{"schema_version": "1.0", ', "invalid JSON at line 1", id="truncated"),
        pytest.param("[1, 2]", "expected a JSON object", id="not an object"),
        pytest.param(
            '{"schema_version": "9.0"}', "unknown report schema version '9.0'", id="future version"
        ),
        pytest.param("{}", "unknown report schema version None", id="no version"),
        pytest.param(
            '{"schema_version": "1.0", "run_id": "x"}',
            "broken report: drill: Field required",
            id="missing fields",
        ),
    ],
)
def test_a_broken_report_is_refused_with_a_message_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    report_dir = write_report(tmp_path / "run", content)

    with pytest.raises(InvalidInput) as raised:
        read_report_summary(report_dir)

    assert str(raised.value).startswith(str(report_dir / "report.json"))
    assert message in str(raised.value)


def test_a_report_with_a_field_this_version_does_not_know_is_refused(tmp_path: Path) -> None:
    document = render_report_json(make_record("met"))
    document["surprise"] = True
    report_dir = write_report(tmp_path / "run", json.dumps(document))

    with pytest.raises(InvalidInput, match="surprise: Extra inputs are not permitted"):
        read_report_document(report_dir / "report.json")


def test_a_missing_report_is_refused_with_a_message_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the report"):
        read_report_summary(tmp_path)


def test_a_timeline_without_a_fault_event_still_renders() -> None:
    # A record whose outcome claims a t_inject but whose timeline lost the event (an old
    # runner) must not crash the writer; the wall-clock twin is simply unknown.
    record = make_record("met")
    without_fault = tuple(
        event for event in record.timeline if not isinstance(event, FaultInjected)
    )
    report = render_report_json(dataclasses.replace(record, timeline=without_fault))

    recovery = report["recovery"]
    assert isinstance(recovery, dict)
    assert recovery["injected_utc"] is None
    assert recovery["t_lost_seconds"] == 2.0

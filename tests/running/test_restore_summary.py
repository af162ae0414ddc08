"""A backup restore's objects by kind: from the fault's output, through the run's event
handler and redaction, into the run record. Pure: no cluster, no chaoslib run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from drillkit.faults.backup import summarise_restore
from drillkit.faults.kubernetes import INJECTED_AT
from drillkit.faults.steps import RESTORED_KEY, STEPS_KEY
from drillkit.model.backups import ObjectKey, RestoreResult
from drillkit.model.run import RestoredKind, RestoreSummary
from drillkit.model.timeline import ProcedureStepRun
from drillkit.reporting.document import render_report_json
from drillkit.running.chaostoolkit import DrillEventHandler, read_restore_summary
from drillkit.running.recorder import TimelineRecorder
from drillkit.running.redaction import Secrets, redact_json, redact_record
from tests.reporting.conftest import make_record

TARGET = "current context of /labs/region-b/kubeconfig"
SECRET_NAME = "db-credentials"


def key(kind: str, name: str, namespace: str | None = "shop") -> ObjectKey:
    return ObjectKey(api_version="v1", kind=kind, namespace=namespace, name=name)


SHOP_RESTORED = RestoreResult(
    created=[
        key("Namespace", "shop", namespace=None),
        key("Secret", SECRET_NAME),
        key("PersistentVolumeClaim", "orders"),
        key("ConfigMap", "shop-config"),
        key("Deployment", "web"),
        key("ClusterRole", "shop-reader", namespace=None),
    ],
    replaced=[key("ConfigMap", "feature-flags")],
    skipped=[key("ServiceAccount", "default")],
)


def restore_backup_output(result: RestoreResult = SHOP_RESTORED) -> dict[str, Any]:
    """What ``drillkit.faults.backup.restore_backup`` returns after restoring ``result``."""
    return {
        INJECTED_AT: None,
        STEPS_KEY: [],
        "backup": "backup-20261126-101500-ab12",
        "target": TARGET,
        "restored": result.to_json(),
        RESTORED_KEY: summarise_restore("backup-20261126-101500-ab12", TARGET, result),
    }


def completed_action(handler: DrillEventHandler, output: Mapping[str, Any]) -> None:
    """The restore action ran in the method and succeeded, as chaoslib reports it."""
    activity = {
        "type": "action",
        "name": "restore-shop-into-region-b",
        "provider": {"type": "python", "module": "drillkit.faults.backup"},
    }
    handler.start_method({})
    handler.start_activity(activity)
    handler.activity_completed(activity, {"status": "succeeded", "output": output})


def new_handler() -> DrillEventHandler:
    return DrillEventHandler(TimelineRecorder(), make_observer=lambda *_: pytest.fail("unused"))


def test_the_handler_records_the_restored_objects_by_kind_with_the_totals() -> None:
    handler = new_handler()

    completed_action(handler, restore_backup_output())

    assert handler.restore == RestoreSummary(
        backup="backup-20261126-101500-ab12",
        target=TARGET,
        namespaces=("shop",),
        objects_by_kind=(
            RestoredKind(kind="ClusterRole", count=1),
            RestoredKind(kind="ConfigMap", count=2),
            RestoredKind(kind="Deployment", count=1),
            RestoredKind(kind="Namespace", count=1),
            RestoredKind(kind="PersistentVolumeClaim", count=1),
            RestoredKind(kind="Secret", count=1),
        ),
        created=6,
        replaced=1,
        skipped=1,
    )


def test_the_restore_summary_names_kinds_and_counts_never_objects() -> None:
    output = restore_backup_output()

    summary = output[RESTORED_KEY]

    assert SECRET_NAME not in repr(summary)
    assert "shop-config" not in repr(summary)


def test_an_action_that_restores_nothing_leaves_the_run_without_a_restore() -> None:
    handler = new_handler()

    completed_action(handler, {INJECTED_AT: None, "backup": {"name": "backup-1"}})

    assert handler.restore is None


def test_a_malformed_restore_summary_is_dropped_and_the_rest_of_the_output_still_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = new_handler()
    output = restore_backup_output()
    del output[RESTORED_KEY]["created"]
    output[STEPS_KEY] = [
        {
            "phase": "restore",
            "name": "restore the objects",
            "member": None,
            "command": "7 created",
            "executor": "kubernetes-api",
            "started": {"monotonic": 10.0, "utc": "2026-11-26T10:15:00.000Z"},
            "seconds": 1.5,
            "exit_code": 0,
        }
    ]

    completed_action(handler, output)

    assert handler.restore is None
    assert "restore summary not recorded: drillkit_restored has no 'created'" in caplog.text
    assert [e.name for e in handler.recorder.events() if isinstance(e, ProcedureStepRun)] == [
        "restore the objects"
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(lambda s: s.pop("objects_by_kind"), "has no 'objects_by_kind'", id="no kinds"),
        pytest.param(lambda s: s.update(skipped=True), "True is not a count", id="bool count"),
        pytest.param(lambda s: s.update(replaced=-1), "-1 is not a count", id="negative count"),
        pytest.param(
            lambda s: s.update(objects_by_kind=[{"kind": "Secret", "count": "1"}]),
            "'1' is not a count",
            id="count as text",
        ),
        pytest.param(
            lambda s: s.update(objects_by_kind={"Secret": 1}), "is malformed", id="kinds as a map"
        ),
    ],
)
def test_read_restore_summary_says_what_is_wrong(change: Any, problem: str) -> None:
    summary = restore_backup_output()[RESTORED_KEY]
    change(summary)

    with pytest.raises(ValueError, match=problem):
        read_restore_summary(summary)


def test_read_restore_summary_refuses_what_is_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="expected a mapping, got list"):
        read_restore_summary([])


def test_redaction_keeps_the_count_of_restored_secrets() -> None:
    # Redaction blanks the values of secret-named keys; the kind "Secret" is one.
    handler = new_handler()
    completed_action(handler, restore_backup_output())
    record = dataclasses.replace(make_record("met"), restore=handler.restore)

    redacted = redact_record(record, Secrets.of(["s3cr3t-do-not-report"]))

    assert redacted.restore == record.restore
    restore = render_report_json(redacted)["restore"]
    assert isinstance(restore, dict)
    assert restore["objects_by_kind"]["Secret"] == 1


def test_the_journal_keeps_the_restored_counts_through_redaction() -> None:
    journal_output = redact_json(restore_backup_output())

    assert {"kind": "Secret", "count": 1} in journal_output[RESTORED_KEY]["objects_by_kind"]

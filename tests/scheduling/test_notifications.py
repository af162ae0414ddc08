"""The webhook body: one builder for every path, RTO and RPO as the report states them, and
the committed JSON Schema it validates against."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter

from drillkit.reporting.document import render_report_json
from drillkit.scheduling.gamedays import GameDayRecord, GameDayVerdict, StepResult, StepStatus
from drillkit.scheduling.launching import DrillRunResult
from drillkit.scheduling.notifications import (
    FireEvent,
    Notifier,
    WebhookPayload,
    render_slack,
    render_webhook,
    render_webhook_schema,
    write_webhook_schema,
)
from tests.helpers import free_port
from tests.reporting.conftest import make_record

SCHEMA_FILE = Path(__file__).parents[2] / "schemas" / "webhook.schema.json"
PAYLOAD = TypeAdapter(WebhookPayload)
REPORT_DIR = Path("/reports/zone-failure/20250301-090000-ab12")
MEASUREMENT_KEYS = ("seconds", "resolution_seconds", "bound", "note", "objective_seconds", "met")


def validate(body: object) -> WebhookPayload:
    """``body`` as a receiver gets it (JSON text), validated against the payload's model."""
    return PAYLOAD.validate_json(json.dumps(body, allow_nan=False))


def test_a_run_by_hand_is_announced_with_its_rto_and_rpo_as_its_report_states_them() -> None:
    record = make_record("markers")

    body = render_webhook(FireEvent.of_run(record, REPORT_DIR))

    measurements = render_report_json(record)["measurements"]
    assert isinstance(measurements, dict)
    (run,) = body["runs"]
    for name in ("rto", "rpo"):
        assert run[name] == {key: measurements[name][key] for key in MEASUREMENT_KEYS}
    assert run["rto"] == {
        "seconds": 20.0,
        "resolution_seconds": 0.0,
        "bound": "exact",
        "note": "condition lost 2 s after the fault and held again from 20 s",
        "objective_seconds": 30.0,
        "met": True,
    }
    assert (run["drill"], run["run_id"], run["verdict"], run["status"]) == (
        "zone-failure",
        "20250301-090000-ab12",
        "met",
        "completed",
    )
    assert run["report_dir"] == str(REPORT_DIR)
    assert {key: body[key] for key in ("event", "schedule", "fire_time", "scheduler")} == {
        "event": "finished",
        "schedule": None,
        "fire_time": None,
        "scheduler": None,
    }
    assert body["target"] == {"kind": "drill", "name": "zone-failure"}
    assert body["verdict"] == "met"
    assert body["at"] == "2025-03-01T09:00:53.000Z"  # when the run ended
    assert body["text"] == "drill zone-failure: verdict met, run 20250301-090000-ab12"
    assert validate(body).model_dump(mode="json") == body


def test_a_game_day_by_hand_is_announced_with_each_drill_run() -> None:
    first, second = make_record("met"), make_record("missed", run_id="20250301-091500-cd34")
    results = [
        DrillRunResult(drill="zone-failure", run_id=first.run_id, verdict="met", record=first),
        DrillRunResult(drill="pod-kill", verdict="error", error="no such drill"),
        DrillRunResult(drill="zone-failure", run_id=second.run_id, verdict="missed", record=second),
    ]
    gameday = GameDayRecord(
        gameday_id="20250301-090000-abcdef",
        name="quarterly",
        description="",
        verdict=GameDayVerdict.ERROR,
        started_utc=datetime(2025, 3, 1, 9, tzinfo=UTC),
        ended_utc=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        duration_seconds=1800.0,
        unattended=True,
        stopped=None,
        operator="ci",
        steps=(StepResult(index=0, kind="drill", title="zone-failure", status=StepStatus.MET),),
    )

    body = render_webhook(FireEvent.of_gameday(gameday, Path("/reports/g"), results))

    assert body["target"] == {"kind": "gameday", "name": "quarterly"}
    assert (body["run_id"], body["verdict"]) == ("20250301-090000-abcdef", "error")
    assert [(run["run_id"], run["verdict"], run["rto"]["met"]) for run in body["runs"]] == [
        ("20250301-090000-ab12", "met", True),
        ("20250301-091500-cd34", "missed", False),
    ]
    validate(body)


def test_events_without_a_run_carry_no_runs_and_keep_their_shape() -> None:
    event = FireEvent(
        event="skipped",
        schedule="nightly",
        kind="drill",
        target="zone-failure",
        fire_time=datetime(2026, 1, 5, 10, tzinfo=UTC),
        scheduler="a",
        at=datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC),
        skip_kind="blackout",
        reason="inside blackout window 'freeze'",
    )

    body = render_webhook(event)

    assert list(body) == [
        "source",
        "event",
        "schedule",
        "target",
        "fire_time",
        "scheduler",
        "at",
        "run_id",
        "verdict",
        "report_dir",
        "skip",
        "error",
        "text",
        "runs",
    ]
    assert body["runs"] == []
    assert body["skip"] == {"kind": "blackout", "reason": "inside blackout window 'freeze'"}
    assert body["fire_time"] == "2026-01-05T10:00:00.000Z"
    validate(body)


def test_slack_names_a_run_by_hand_without_a_schedule() -> None:
    message = render_slack(FireEvent.of_run(make_record("missed"), REPORT_DIR))

    assert message["blocks"][0]["text"]["text"] == ":x: drill `zone-failure`: *missed*"
    assert message["blocks"][1]["elements"][0]["text"] == "run `20250301-090000-ab12` · report " + (
        f"`{REPORT_DIR}`"
    )


def test_a_failed_delivery_is_given_to_on_failure_with_the_url_shortened() -> None:
    failures: list[str] = []
    url = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    notifier = Notifier(webhooks=[url], timeout=2, on_failure=failures.append)

    notifier.notify(FireEvent.of_run(make_record("met"), REPORT_DIR))

    (failure,) = failures
    assert failure.startswith(f"notification to {url.rsplit('/', 2)[0]}/... failed: ")
    assert "secret-token" not in failure


def test_the_committed_schema_is_the_one_the_model_generates(tmp_path: Path) -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

    assert committed == render_webhook_schema(), (
        "schemas/webhook.schema.json is stale; regenerate it with "
        "drillkit.scheduling.notifications.write_webhook_schema"
    )
    write_webhook_schema(tmp_path / "webhook.schema.json")
    written = json.loads((tmp_path / "webhook.schema.json").read_text(encoding="utf-8"))
    assert written["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert written["additionalProperties"] is False
    assert "runs" in written["required"]

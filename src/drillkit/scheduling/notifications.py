"""Telling people about fires and runs: a JSON webhook and Slack incoming-webhook messages.

A fire announces when its drill starts, its verdict, a skip (with the reason) and an error;
``drill run --webhook`` and ``drill gameday run --webhook`` announce their verdict the same
way. A verdict carries each drill run's RTO and RPO as its report states them
(:class:`RunNotice`). ``render_webhook`` and ``render_slack`` build the bodies (pure);
the webhook body is a :class:`WebhookPayload`, whose JSON Schema is
``schemas/webhook.schema.json``. ``Notifier`` posts them. A notification that cannot be
delivered is reported and never fails the fire or the run: the history and the report,
not the chat, are the record.

Light on purpose: ``drill run --webhook`` imports this module, and a run pays for neither
the scheduler's database nor its game days.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.measurement import RunStatus, Verdict
from drillkit.model.records import json_schema_of, write_json_schema
from drillkit.model.timeline import format_utc
from drillkit.reporting.document import MeasurementDocument, render_report_document

if TYPE_CHECKING:
    from drillkit.model.run import RunRecord
    from drillkit.scheduling.gamedays import GameDayRecord
    from drillkit.scheduling.history import FireRecord
    from drillkit.scheduling.launching import DrillRunResult

logger = logging.getLogger(__name__)


EventName = Literal["started", "finished", "skipped", "error"]

_VERDICT_EMOJI = {
    "met": ":white_check_mark:",
    "missed": ":x:",
    "inconclusive": ":grey_question:",
    "aborted": ":octagonal_sign:",
    "error": ":boom:",
    "taken": ":floppy_disk:",
}


class _Payload(BaseModel):
    # Strict both ways: the schema says additionalProperties false, and a receiver's
    # test that validates a body against it fails on a field this version does not send.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunNotice(_Payload):
    """One drill run a notification concludes: its verdict, RTO and RPO as its report says."""

    drill: str
    run_id: str
    verdict: Verdict
    status: RunStatus = Field(description="How the run ended, as the runner saw it.")
    report_dir: str | None = Field(description="Where its report was written.")
    rto: MeasurementDocument = Field(
        description="As report.json's measurements.rto: seconds, resolution, exact or a lower "
        "bound, the objective and whether it was met."
    )
    rpo: MeasurementDocument = Field(
        description="As report.json's measurements.rpo (its marker counts left out)."
    )

    @classmethod
    def from_record(cls, record: RunRecord, report_dir: Path | None) -> RunNotice:
        """The notice of ``record``, whose report is in ``report_dir``."""
        measurements = render_report_document(record).measurements
        shared = set(MeasurementDocument.model_fields)
        return cls(
            drill=record.drill,
            run_id=record.run_id,
            verdict=record.outcome.verdict,
            status=record.status,
            report_dir=str(report_dir) if report_dir is not None else None,
            rto=MeasurementDocument(**measurements.rto.model_dump(include=shared)),
            rpo=MeasurementDocument(**measurements.rpo.model_dump(include=shared)),
        )


def notices_of(results: Sequence[DrillRunResult]) -> tuple[RunNotice, ...]:
    """What a notification says of each drill that ran (one that could not run has no
    RTO or RPO to tell)."""
    return tuple(
        RunNotice.from_record(result.record, result.report_dir)
        for result in results
        if result.record is not None
    )


class WebhookTarget(_Payload):
    """What ran or was to run."""

    kind: str = Field(description="drill, gameday or backup.")
    name: str


class WebhookSkip(_Payload):
    """Why a fire did not run."""

    kind: str | None = Field(description="blackout, error-budget, lock-held, ...")
    reason: str | None


class WebhookPayload(_Payload):
    """The JSON body every generic webhook receives."""

    model_config = ConfigDict(title="drillkit webhook payload")

    source: Literal["drillkit"]
    event: EventName
    schedule: str | None = Field(description="The schedule that fired; null for a run by hand.")
    target: WebhookTarget
    fire_time: str | None = Field(
        description="The fire time the schedule gave; null for a run by hand."
    )
    scheduler: str | None = Field(description="The scheduler that fired; null for a run by hand.")
    at: str = Field(description="When the event happened (UTC).")
    run_id: str | None = Field(description="The drill's run id, or the game day's id.")
    verdict: str | None = Field(
        description="The drill's verdict, the game day's (met, missed, incomplete, error), or "
        "taken for a backup; null until there is one."
    )
    report_dir: str | None
    skip: WebhookSkip | None = Field(description="Set when the event is skipped.")
    error: str | None = Field(description="Set when the event is error.")
    text: str = Field(description="One line for people.")
    runs: list[RunNotice] = Field(
        description="Each drill run the event concludes, with its RTO and RPO: one for a drill's "
        "verdict, one per drill run for a game day's; empty for other events."
    )


@dataclass(frozen=True, kw_only=True)
class FireEvent:
    """Something that happened to one fire of a schedule, or to a run started by hand
    (``drill run``, ``drill gameday run``: no schedule, fire time nor scheduler)."""

    event: EventName
    schedule: str | None
    kind: str
    target: str
    fire_time: datetime | None
    scheduler: str | None
    at: datetime
    run_id: str | None = None
    verdict: str | None = None
    report_dir: str | None = None
    skip_kind: str | None = None
    reason: str | None = None
    runs: tuple[RunNotice, ...] = ()

    @classmethod
    def from_record(
        cls,
        event: EventName,
        record: FireRecord,
        *,
        at: datetime,
        runs: Sequence[RunNotice] = (),
    ) -> FireEvent:
        """The event ``event`` of the fire whose history row is ``record``, noticed ``at``;
        ``runs`` are the drill runs it concluded."""
        return cls(
            event=event,
            schedule=record.schedule,
            kind=record.kind.value,
            target=record.target,
            fire_time=record.fire_time,
            scheduler=record.scheduler,
            at=at,
            run_id=record.run_id,
            verdict=record.verdict,
            report_dir=record.report_dir,
            skip_kind=record.skip_kind.value if record.skip_kind else None,
            reason=record.reason,
            runs=tuple(runs),
        )

    @classmethod
    def of_run(cls, record: RunRecord, report_dir: Path) -> FireEvent:
        """The verdict of a drill run by hand (``drill run``): no schedule fired it."""
        return cls._finished_by_hand(
            kind="drill",
            target=record.drill,
            run_id=record.run_id,
            verdict=record.outcome.verdict.value,
            report_dir=report_dir,
            at=record.ended_utc,
            runs=(RunNotice.from_record(record, report_dir),),
        )

    @classmethod
    def of_gameday(
        cls, record: GameDayRecord, report_dir: Path, results: Sequence[DrillRunResult]
    ) -> FireEvent:
        """The verdict of a game day run by hand, with each of its drill runs (``results``)."""
        return cls._finished_by_hand(
            kind="gameday",
            target=record.name,
            run_id=record.gameday_id,
            verdict=record.verdict.value,
            report_dir=report_dir,
            at=record.ended_utc,
            runs=notices_of(results),
        )

    @classmethod
    def _finished_by_hand(
        cls,
        *,
        kind: str,
        target: str,
        run_id: str,
        verdict: str,
        report_dir: Path,
        at: datetime,
        runs: tuple[RunNotice, ...],
    ) -> FireEvent:
        return cls(
            event="finished",
            schedule=None,
            kind=kind,
            target=target,
            fire_time=None,
            scheduler=None,
            at=at,
            run_id=run_id,
            verdict=verdict,
            report_dir=str(report_dir),
            runs=runs,
        )

    def summary(self) -> str:
        """One line: ``pod-kill (drill pod-kill): verdict met, run 2026...``; without a
        schedule, ``drill pod-kill: verdict met, run 2026...``."""
        subject = f"{self.kind} {self.target}"
        if self.schedule is not None:
            subject = f"{self.schedule} ({subject})"
        if self.event == "started":
            return f"{subject}: started" + (f", run {self.run_id}" if self.run_id else "")
        if self.event == "finished":
            text = f"{subject}: verdict {self.verdict or 'none'}"
            return text + (f", run {self.run_id}" if self.run_id else "")
        if self.event == "skipped":
            kind = (self.skip_kind or "").replace("-", " ")
            return f"{subject}: skipped: {kind}: {self.reason}"
        return f"{subject}: error: {self.reason}"


def render_webhook(event: FireEvent) -> dict[str, Any]:
    """The JSON body of a generic webhook: a :class:`WebhookPayload`, as JSON-ready data."""
    payload = WebhookPayload(
        source="drillkit",
        event=event.event,
        schedule=event.schedule,
        target=WebhookTarget(kind=event.kind, name=event.target),
        fire_time=format_utc(event.fire_time) if event.fire_time is not None else None,
        scheduler=event.scheduler,
        at=format_utc(event.at),
        run_id=event.run_id,
        verdict=event.verdict,
        report_dir=event.report_dir,
        skip=(
            WebhookSkip(kind=event.skip_kind, reason=event.reason)
            if event.event == "skipped"
            else None
        ),
        error=event.reason if event.event == "error" else None,
        text=event.summary(),
        runs=list(event.runs),
    )
    return payload.model_dump(mode="json")


def render_webhook_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of the webhook body, generated from its model."""
    return json_schema_of(WebhookPayload)


def write_webhook_schema(path: Path) -> None:
    """Write the JSON Schema of the webhook body to ``path`` (``schemas/webhook.schema.json``)."""
    write_json_schema(path, render_webhook_schema())


def render_slack(event: FireEvent) -> dict[str, Any]:
    """A Slack incoming-webhook message: a fallback ``text`` and Block Kit sections."""
    name = f"{event.kind} `{_escape(event.target)}`"
    if event.schedule is not None:
        name = f"*{_escape(event.schedule)}* ({name})"
    if event.event == "started":
        headline = f":arrow_forward: {name} started"
    elif event.event == "finished":
        verdict = event.verdict or "none"
        headline = f"{_VERDICT_EMOJI.get(verdict, ':grey_question:')} {name}: *{verdict}*"
    elif event.event == "skipped":
        kind = (event.skip_kind or "").replace("-", " ")
        headline = f":fast_forward: {name} skipped: *{kind}*\n{_escape(event.reason or '')}"
    else:
        headline = f":boom: {name} error\n{_escape(event.reason or '')}"
    details = []
    if event.fire_time is not None:
        details.append(f"fire {format_utc(event.fire_time)}")
    if event.scheduler is not None:
        details.append(f"scheduler {_escape(event.scheduler)}")
    if event.run_id:
        details.append(f"run `{event.run_id}`")
    if event.report_dir:
        details.append(f"report `{_escape(event.report_dir)}`")
    return {
        "text": event.summary(),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": " · ".join(details)}],
            },
        ],
    }


def _escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, kw_only=True)
class Notifier:
    """Where to send fire events: generic JSON webhooks and Slack incoming webhooks.

    A delivery that fails is logged, or given to ``on_failure`` (one line, the URL's
    secret part hidden) when set: a command says it on stderr itself.
    """

    webhooks: Sequence[str] = ()
    slack_webhooks: Sequence[str] = ()
    timeout: float = 5.0
    on_failure: Callable[[str], None] | None = None

    def notify(self, event: FireEvent) -> None:
        """Post ``event`` to every configured URL; failures are logged, never raised."""
        for url in self.webhooks:
            self._post(url, render_webhook(event))
        for url in self.slack_webhooks:
            self._post(url, render_slack(event))

    def _post(self, url: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "drillkit"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            if self.on_failure is not None:
                self.on_failure(f"notification to {_shown(url)} failed: {error}")
            else:
                logger.warning("notification to %s failed: %s", _shown(url), error)

    @property
    def configured(self) -> bool:
        return bool(self.webhooks or self.slack_webhooks)


def _shown(url: str) -> str:
    # Slack webhook URLs are secrets: show only where they go.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..." if rest else url

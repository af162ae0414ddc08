"""Telling people about fires: a JSON webhook and Slack incoming-webhook messages.

A fire announces when its drill starts, its verdict, a skip (with the reason) and an error.
``render_webhook`` and ``render_slack`` build the bodies (pure); ``Notifier`` posts them.
A notification that cannot be delivered is logged and never fails the fire: the history,
not the chat, is the record.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from drillkit.model.timeline import format_utc
from drillkit.scheduling.history import FireRecord

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


@dataclass(frozen=True, kw_only=True)
class FireEvent:
    """Something that happened to one fire of a schedule."""

    event: EventName
    schedule: str
    kind: str
    target: str
    fire_time: datetime
    scheduler: str
    at: datetime
    run_id: str | None = None
    verdict: str | None = None
    report_dir: str | None = None
    skip_kind: str | None = None
    reason: str | None = None

    @classmethod
    def from_record(cls, event: EventName, record: FireRecord, *, at: datetime) -> FireEvent:
        """The event ``event`` of the fire whose history row is ``record``, noticed ``at``."""
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
        )

    def summary(self) -> str:
        """One line: ``pod-kill (drill pod-kill): verdict met, run 2026...``."""
        subject = f"{self.schedule} ({self.kind} {self.target})"
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
    """The JSON body of a generic webhook."""
    return {
        "source": "drillkit",
        "event": event.event,
        "schedule": event.schedule,
        "target": {"kind": event.kind, "name": event.target},
        "fire_time": format_utc(event.fire_time),
        "scheduler": event.scheduler,
        "at": format_utc(event.at),
        "run_id": event.run_id,
        "verdict": event.verdict,
        "report_dir": event.report_dir,
        "skip": (
            {"kind": event.skip_kind, "reason": event.reason} if event.event == "skipped" else None
        ),
        "error": event.reason if event.event == "error" else None,
        "text": event.summary(),
    }


def render_slack(event: FireEvent) -> dict[str, Any]:
    """A Slack incoming-webhook message: a fallback ``text`` and Block Kit sections."""
    name = f"*{_escape(event.schedule)}* ({event.kind} `{_escape(event.target)}`)"
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
    details = [f"fire {format_utc(event.fire_time)}", f"scheduler {_escape(event.scheduler)}"]
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
    """Where to send fire events: generic JSON webhooks and Slack incoming webhooks."""

    webhooks: Sequence[str] = ()
    slack_webhooks: Sequence[str] = ()
    timeout: float = 5.0

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
            logger.warning("notification to %s failed: %s", _shown(url), error)

    @property
    def configured(self) -> bool:
        return bool(self.webhooks or self.slack_webhooks)


def _shown(url: str) -> str:
    # Slack webhook URLs are secrets: show only where they go.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..." if rest else url

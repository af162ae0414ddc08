"""Game days: drills run together in order, with pauses and manual checkpoints, reported together.

A game day is a YAML file in ``gamedays/``::

    name: quarterly-resilience
    steps:
      - checkpoint: The on-call engineer is watching the dashboards
      - drill: pod-kill
      - pause: 30s
      - drill: zone-failure

``run_gameday`` walks the steps: a drill step runs through a ``DrillLauncher``-like callable,
a pause waits (interruptibly), a checkpoint asks a person (or, unattended, is confirmed and
recorded as such). By default the game day stops at the first drill that does not meet its
objectives; ``continue_on_failure: true`` on a step goes on. The result, a
``GameDayRecord``, aggregates its drills: ``met`` when every drill met its objectives,
``missed`` when one did not, ``incomplete`` when it stopped early (a declined checkpoint,
an interruption), ``error`` when a drill could not run. ``write_gameday_report`` writes
``reports/gamedays/<name>/<id>/`` (``gameday.json``, ``gameday.md``, ``gameday.html``,
``manifest.json``); their links to each drill's report are relative, so they resolve in the
reports tree and in an evidence bundle alike. The caller then enters it in the ledger
(:func:`drillkit.evidence.append_gameday`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from html import escape
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    TypeAdapter,
    field_validator,
)

from drillkit import __version__
from drillkit.errors import InvalidInput
from drillkit.files import sha256_file, write_atomically
from drillkit.model.drill import DrillName, Evidence, NonEmptyText, PositiveDuration, Schedule
from drillkit.model.durations import format_duration
from drillkit.model.loading import load_model
from drillkit.model.timeline import format_utc
from drillkit.reporting.junit import JUnitSuite, describe_unrun_drill, judge_run
from drillkit.reporting.writer import MANIFEST_FILE_NAME, Manifest, encode_manifest
from drillkit.running.recorder import Clock, SystemClock
from drillkit.scheduling.files import find_named_file
from drillkit.scheduling.launching import DrillRunResult

GAMEDAY_REPORTS = "gamedays"
"""Game-day reports live in ``<reports>/gamedays/<name>/<id>/``."""

# -- the file ----------------------------------------------------------------------------------


class _GameDayModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrillStep(_GameDayModel):
    """Run a drill from the drills directory."""

    drill: DrillName = Field(description="Name of the drill (drills/NAME.yaml).")
    continue_on_failure: bool = Field(
        default=False,
        description="Go on with the next step when this drill misses or cannot run.",
    )


class PauseStep(_GameDayModel):
    """Wait, for example to let dashboards settle or people look."""

    pause: PositiveDuration = Field(description="How long to wait, such as 30s or 5m.")
    reason: str = Field(default="", description="Why, shown while waiting.")


class CheckpointStep(_GameDayModel):
    """Ask a person to confirm before going on; unattended runs confirm it and say so."""

    checkpoint: NonEmptyText = Field(description="What the person confirms.")


def _classify_step(value: object) -> str | None:
    if isinstance(value, DrillStep | PauseStep | CheckpointStep):
        return {DrillStep: "drill", PauseStep: "pause", CheckpointStep: "checkpoint"}[type(value)]
    if isinstance(value, dict):
        for key in ("drill", "pause", "checkpoint"):
            if key in value:
                return key
    return None


Step = Annotated[
    Annotated[DrillStep, Tag("drill")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[CheckpointStep, Tag("checkpoint")],
    Discriminator(
        _classify_step,
        custom_error_type="step_kind",
        custom_error_message="expected a step with one of: drill, pause, checkpoint",
    ),
]


class GameDay(_GameDayModel):
    """A game-day file."""

    name: DrillName = Field(description="Game-day name, such as quarterly-resilience.")
    description: str = Field(default="", description="What the game day exercises.")
    steps: tuple[Step, ...] = Field(min_length=1, description="Steps, in order.")
    schedule: Schedule | None = Field(
        default=None, description="When it recurs, blackout windows, error-budget gate."
    )
    evidence: Evidence | None = Field(default=None, description="Ownership and controls.")

    @field_validator("steps")
    @classmethod
    def _ensure_a_drill(cls, steps: tuple[Any, ...]) -> tuple[Any, ...]:
        if not any(isinstance(step, DrillStep) for step in steps):
            raise ValueError("a game day needs at least one drill step")
        return steps

    def drills(self) -> list[str]:
        return [step.drill for step in self.steps if isinstance(step, DrillStep)]


def find_gameday_file(gamedays_dir: Path, name: str) -> Path:
    """``gamedays/NAME.yaml`` (or ``.yml``), else NAME as a path to a file."""
    try:
        return find_named_file(gamedays_dir, name, what="game day")
    except InvalidInput:
        if Path(name).is_file():
            return Path(name)
        raise


def load_gameday(path: Path) -> GameDay:
    """Read and validate a game-day file; InvalidInput names file, line and field."""
    return load_model(path, GameDay, noun="game day")


def list_gamedays(gamedays_dir: Path) -> list[Path]:
    if not gamedays_dir.is_dir():
        return []
    return sorted(p for p in gamedays_dir.iterdir() if p.suffix in (".yaml", ".yml"))


# -- running -----------------------------------------------------------------------------------


class StepStatus(StrEnum):
    MET = "met"
    MISSED = "missed"
    INCONCLUSIVE = "inconclusive"
    UNJUDGED = "unjudged"
    ABORTED = "aborted"
    ERROR = "error"
    LOCK_HELD = "lock-held"
    WAITED = "waited"
    CONFIRMED = "confirmed"
    CONFIRMED_UNATTENDED = "confirmed-unattended"
    DECLINED = "declined"
    INTERRUPTED = "interrupted"
    NOT_RUN = "not-run"


class GameDayVerdict(StrEnum):
    MET = "met"
    MISSED = "missed"
    INCOMPLETE = "incomplete"
    ERROR = "error"


# How ``gameday.json`` writes the records' values: times as every report writes them,
# durations to the millisecond, steps counted from 1 as people count them.
_ReportedTime = Annotated[datetime, PlainSerializer(format_utc, when_used="json")]
_ReportedSeconds = Annotated[
    float, PlainSerializer(lambda seconds: round(seconds, 3), when_used="json")
]
_StepNumber = Annotated[int, PlainSerializer(lambda index: index + 1, when_used="json")]


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """One step of a game day, in the order and form ``gameday.json`` lists it."""

    index: _StepNumber
    """From 0; the report numbers steps from 1."""
    kind: str
    title: str
    status: StepStatus
    started_utc: _ReportedTime | None = None
    ended_utc: _ReportedTime | None = None
    duration_seconds: _ReportedSeconds | None = None
    run_id: str | None = None
    report_dir: str | None = None
    detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class GameDayRecord:
    """A game day that ran; its fields in the order ``gameday.json`` writes them."""

    gameday_id: str
    name: Annotated[str, Field(serialization_alias="gameday")]
    description: str
    verdict: GameDayVerdict
    started_utc: _ReportedTime
    ended_utc: _ReportedTime
    duration_seconds: _ReportedSeconds
    unattended: bool
    stopped: str | None
    """Why the game day stopped before its last step, if it did."""
    operator: str
    owner: str | None = None
    approver: str | None = None
    controls: tuple[str, ...] = ()
    steps: tuple[StepResult, ...]
    lock_held: Annotated[str | None, Field(exclude=True)] = None
    """The cluster lock was held when the first drill was to start: nothing ran."""
    report_dir: Annotated[Path | None, Field(exclude=True)] = field(default=None, compare=False)

    def drill_results(self) -> list[StepResult]:
        return [step for step in self.steps if step.kind == "drill"]


_DRILL_STATUSES = {
    "met": StepStatus.MET,
    "missed": StepStatus.MISSED,
    "inconclusive": StepStatus.INCONCLUSIVE,
    "unjudged": StepStatus.UNJUDGED,
    "aborted": StepStatus.ABORTED,
    "error": StepStatus.ERROR,
}


def run_gameday(
    gameday: GameDay,
    *,
    run_drill: Callable[[str], DrillRunResult],
    confirm: Callable[[str], bool] | None,
    wait: Callable[[float], None],
    operator: str,
    clock: Clock | None = None,
    on_message: Callable[[str], None] = lambda _: None,
) -> GameDayRecord:
    """Run the game day's steps in order and return what happened to each.

    ``confirm`` asks a person at a checkpoint; None runs unattended (every checkpoint is
    confirmed and recorded as ``confirmed-unattended``). ``wait`` waits the given seconds;
    a KeyboardInterrupt from it, from ``confirm`` or from a drill stops the game day, and
    the remaining steps are recorded as not run.
    """
    clock = clock or SystemClock()
    started = clock.utc()
    started_monotonic = clock.monotonic()
    gameday_id = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    results: list[StepResult] = []
    stopped: str | None = None
    lock_held: str | None = None
    anything_ran = False

    for index, step in enumerate(gameday.steps):
        if stopped is not None:
            results.append(_not_run(index, step))
            continue
        step_started, step_monotonic = clock.utc(), clock.monotonic()

        def finished(
            *,
            index: int = index,
            step_started: datetime = step_started,
            step_monotonic: float = step_monotonic,
            **values: Any,
        ) -> StepResult:
            return StepResult(
                index=index,
                started_utc=step_started,
                ended_utc=clock.utc(),
                duration_seconds=clock.monotonic() - step_monotonic,
                **values,
            )

        try:
            if isinstance(step, DrillStep):
                on_message(f"step {index + 1}: drill {step.drill}")
                outcome = run_drill(step.drill)
                result = finished(kind="drill", title=step.drill, **_drill_step(outcome))
                anything_ran = anything_ran or outcome.ran
                if outcome.lock_held and not anything_ran:
                    lock_held = outcome.lock_held
                if outcome.interrupted:
                    stopped = f"drill {step.drill} was interrupted"
                elif result.status is not StepStatus.MET and not step.continue_on_failure:
                    stopped = f"drill {step.drill} ended {result.status.value}"
            elif isinstance(step, PauseStep):
                reason = f" ({step.reason})" if step.reason else ""
                on_message(f"step {index + 1}: pause {format_duration(step.pause)}{reason}")
                wait(step.pause.total_seconds())
                result = finished(
                    kind="pause",
                    title=format_duration(step.pause),
                    status=StepStatus.WAITED,
                    detail=step.reason or None,
                )
            else:
                on_message(f"step {index + 1}: checkpoint: {step.checkpoint}")
                if confirm is None:
                    status = StepStatus.CONFIRMED_UNATTENDED
                else:
                    status = (
                        StepStatus.CONFIRMED if confirm(step.checkpoint) else StepStatus.DECLINED
                    )
                result = finished(kind="checkpoint", title=step.checkpoint, status=status)
                if status is StepStatus.DECLINED:
                    stopped = f"checkpoint {index + 1} was declined"
        except KeyboardInterrupt:
            result = finished(kind=_kind(step), title=_title(step), status=StepStatus.INTERRUPTED)
            stopped = "interrupted"
        results.append(result)

    ended = clock.utc()
    evidence = gameday.evidence
    return GameDayRecord(
        gameday_id=gameday_id,
        name=gameday.name,
        description=gameday.description,
        started_utc=started,
        ended_utc=ended,
        duration_seconds=clock.monotonic() - started_monotonic,
        unattended=confirm is None,
        steps=tuple(results),
        verdict=judge_gameday(results),
        stopped=stopped,
        operator=operator,
        owner=evidence.owner if evidence else None,
        approver=evidence.approver if evidence else None,
        controls=tuple(evidence.controls) if evidence else (),
        lock_held=lock_held,
    )


def judge_gameday(steps: list[StepResult]) -> GameDayVerdict:
    """error > missed > incomplete > met, over the steps' statuses."""
    statuses = {step.status for step in steps}
    if statuses & {StepStatus.ERROR, StepStatus.LOCK_HELD}:
        return GameDayVerdict.ERROR
    if statuses & {
        StepStatus.MISSED,
        StepStatus.INCONCLUSIVE,
        StepStatus.UNJUDGED,
        StepStatus.ABORTED,
    }:
        return GameDayVerdict.MISSED
    if statuses & {StepStatus.NOT_RUN, StepStatus.DECLINED, StepStatus.INTERRUPTED}:
        return GameDayVerdict.INCOMPLETE
    return GameDayVerdict.MET


def _drill_step(outcome: DrillRunResult) -> dict[str, Any]:
    if outcome.lock_held is not None:
        return {"status": StepStatus.LOCK_HELD, "detail": outcome.lock_held}
    status = _DRILL_STATUSES.get(outcome.verdict or "error", StepStatus.ERROR)
    return {
        "status": status,
        "run_id": outcome.run_id,
        "report_dir": str(outcome.report_dir) if outcome.report_dir else None,
        "detail": outcome.error,
    }


def _kind(step: object) -> str:
    kind = _classify_step(step)
    assert kind is not None
    return kind


def _title(step: object) -> str:
    if isinstance(step, DrillStep):
        return step.drill
    if isinstance(step, PauseStep):
        return format_duration(step.pause)
    assert isinstance(step, CheckpointStep)
    return step.checkpoint


def _not_run(index: int, step: object) -> StepResult:
    return StepResult(index=index, kind=_kind(step), title=_title(step), status=StepStatus.NOT_RUN)


# -- the report --------------------------------------------------------------------------------

GAMEDAY_SCHEMA_VERSION = 1

_RECORD_CODEC: Final = TypeAdapter(GameDayRecord)
_ACCOUNTABILITY: Final = ("operator", "owner", "approver", "controls")
"""The record's fields that ``gameday.json`` groups under ``accountability``."""


def render_gameday_json(record: GameDayRecord) -> dict[str, Any]:
    """``gameday.json``: the record, its accountability grouped, its drills counted."""
    fields: dict[str, Any] = _RECORD_CODEC.dump_python(record, mode="json", by_alias=True)
    accountability = {name: fields.pop(name) for name in _ACCOUNTABILITY}
    steps = fields.pop("steps")
    drills = record.drill_results()
    return {
        "schema_version": GAMEDAY_SCHEMA_VERSION,
        **fields,
        "accountability": accountability,
        "drills": {
            "total": len(drills),
            "ran": sum(1 for step in drills if step.run_id),
            "by_status": _count_statuses(drills),
        },
        "steps": steps,
        "tool_version": __version__,
    }


def _count_statuses(steps: list[StepResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.status.value] = counts.get(step.status.value, 0) + 1
    return dict(sorted(counts.items()))


def judge_gameday_runs(
    record: GameDayRecord, results: Sequence[DrillRunResult]
) -> list[JUnitSuite]:
    """The JUnit suites of a game day: one per drill step, in order, made from the run
    ``results`` the launcher returned; a drill that made no run is one case saying why."""
    runs = {result.run_id: result.record for result in results if result.record is not None}
    suites = []
    for step in record.drill_results():
        name = f"{step.title} (step {step.index + 1})"
        classname = f"{record.name}.{step.title}"
        run = runs.get(step.run_id) if step.run_id else None
        # A step never started has no time of its own; the game day's start stands for it.
        at = step.started_utc or record.started_utc
        if run is not None:
            suites.append(judge_run(run, name=name, classname=classname))
        elif step.status is StepStatus.NOT_RUN:
            skipped = f"not run: the game day stopped early ({record.stopped or 'stopped'})"
            suites.append(describe_unrun_drill(name, classname=classname, at=at, skipped=skipped))
        else:
            error = step.detail or f"the drill ended {step.status.value} without a run"
            suites.append(describe_unrun_drill(name, classname=classname, at=at, error=error))
    return suites


def render_gameday_markdown(record: GameDayRecord) -> str:
    lines = [
        f"# Game day {record.name}: {record.verdict.value.upper()}",
        "",
    ]
    if record.description:
        lines += [record.description, ""]
    drills = record.drill_results()
    met = sum(1 for step in drills if step.status is StepStatus.MET)
    lines += [
        f"- Game day id: `{record.gameday_id}`",
        f"- Started: {format_utc(record.started_utc)}; ended: {format_utc(record.ended_utc)} "
        f"({record.duration_seconds:.1f} s)",
        f"- Drills: {met} of {len(drills)} met their objectives",
        f"- Operator: {record.operator}"
        + (" (unattended: checkpoints confirmed automatically)" if record.unattended else ""),
    ]
    if record.owner or record.approver:
        lines.append(f"- Owner: {record.owner or '-'}; approver: {record.approver or '-'}")
    if record.controls:
        lines.append(f"- Controls: {', '.join(record.controls)}")
    if record.stopped:
        lines.append(f"- Stopped early: {record.stopped}")
    lines += ["", "| # | step | status | duration | run / detail |", "|---|---|---|---|---|"]
    for step in record.steps:
        duration = f"{step.duration_seconds:.1f} s" if step.duration_seconds is not None else "-"
        detail = step.run_id or step.detail or ""
        link = drill_report_link(step, "report.md")
        if link:
            detail += f" ([report]({link}))"
        title, detail = _cell(step.title), _cell(detail)
        lines.append(
            f"| {step.index + 1} | {step.kind}: {title} | {step.status.value} | {duration} "
            f"| {detail} |"
        )
    return "\n".join(lines) + "\n"


def drill_report_link(step: StepResult, name: str) -> str | None:
    """A link from the game day's directory to file ``name`` of the step's drill report.

    Relative, so it resolves in the reports tree and in an evidence bundle alike: the
    game day is ``gamedays/<name>/<id>/`` and each run ``<drill>/<run-id>/`` of the same
    reports directory. None when the step made no report, or names no plain directory.
    """
    if not step.report_dir or not step.run_id:
        return None
    run_dir = Path(step.report_dir)
    parts = (run_dir.parent.name, run_dir.name)
    if any(not part or part.startswith(".") or part != quote(part) for part in parts):
        return None
    return f"../../../{parts[0]}/{parts[1]}/{name}"


def render_gameday_html(record: GameDayRecord) -> str:
    """``gameday.html``: the game day for people, each drill linked to its ``report.html``."""
    drills = record.drill_results()
    met = sum(1 for step in drills if step.status is StepStatus.MET)
    facts = [
        ("Game day id", record.gameday_id),
        (
            "When",
            f"{format_utc(record.started_utc)} to {format_utc(record.ended_utc)} "
            f"({record.duration_seconds:.1f} s)",
        ),
        ("Drills", f"{met} of {len(drills)} met their objectives"),
        (
            "Operator",
            record.operator
            + (" (unattended: checkpoints confirmed automatically)" if record.unattended else ""),
        ),
    ]
    if record.owner or record.approver:
        facts.append(("Owner / approver", f"{record.owner or '-'} / {record.approver or '-'}"))
    if record.controls:
        facts.append(("Controls", ", ".join(record.controls)))
    if record.stopped:
        facts.append(("Stopped early", record.stopped))
    rows = []
    for step in record.steps:
        duration = f"{step.duration_seconds:.1f} s" if step.duration_seconds is not None else "-"
        detail = escape(step.run_id or step.detail or "")
        link = drill_report_link(step, "report.html")
        if link:
            detail += f' (<a href="{escape(link)}">report</a>)'
        rows.append(
            f"<tr><td>{step.index + 1}</td><td>{escape(step.kind)}: {escape(step.title)}</td>"
            f"<td>{escape(step.status.value)}</td><td>{duration}</td><td>{detail}</td></tr>"
        )
    title = f"Game day {record.name}: {record.verdict.value.upper()}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
            "</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            f"<p>{escape(record.description)}</p>" if record.description else "",
            "<dl>",
            *(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in facts),
            "</dl>",
            "<table><thead><tr><th>#</th><th>step</th><th>status</th><th>duration</th>"
            "<th>run / detail</th></tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            f"<p>drillkit {escape(__version__)}</p>",
            "</body></html>",
            "",
        ]
    )


def _cell(text: str) -> str:
    # A pipe would end the table cell; a line break would end the row.
    return " ".join(text.split()).replace("|", "\\|")


def write_gameday_report(record: GameDayRecord, reports_dir: Path) -> Path:
    """Write ``<reports>/gamedays/<name>/<id>/`` and return it; ``manifest.json`` last."""
    directory = reports_dir / GAMEDAY_REPORTS / record.name / record.gameday_id
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "gameday.json": json.dumps(render_gameday_json(record), indent=2).encode() + b"\n",
        "gameday.md": render_gameday_markdown(record).encode(),
        "gameday.html": render_gameday_html(record).encode(),
    }
    for name, content in files.items():
        write_atomically(directory / name, content)
    manifest = Manifest(
        algorithm="sha256",
        files={name: sha256_file(directory / name) for name in sorted(files)},
    )
    write_atomically(directory / MANIFEST_FILE_NAME, encode_manifest(manifest))
    return directory

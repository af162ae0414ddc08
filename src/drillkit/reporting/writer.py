"""The report directory of a run: writing ``reports/<drill>/<run-id>/`` and finding it again.

:func:`write_run_report` is what the runner calls once a run has ended, however it
ended (a run never silently disappears). It writes, each file atomically:

- ``report.json``: the versioned document (:mod:`drillkit.reporting.document`);
- ``report.md`` and ``report.html``: the same for people (:mod:`drillkit.reporting.human`);
- ``journal.json``: the Chaos Toolkit journal, secrets already removed by the runner
  (:data:`JOURNAL_ADAPTER` writes and reads it);
- ``timeline.jsonl``: one event per line, as :func:`~drillkit.model.timeline.event_to_json`;
- ``manifest.json``, last: the SHA-256 digest of every other file. Its presence marks
  the directory complete; the evidence ledger chains the manifest's own digest.

A run killed outright (SIGKILL, power loss) never gets there, so the run leaves a trace
as it goes: :func:`write_run_started` writes ``started.json`` before anything changes
(who runs it, and the facts a report needs: objectives, scope, sources), and
:func:`append_timeline_event` adds each event to ``timeline.jsonl`` as it is recorded.
:func:`read_unfinished_run` reads that trace back, so a killed run can still be
reported (``drillkit.evidence.recording`` finalises it as interrupted).

:func:`list_reports` and :func:`find_report` serve ``drill report list|show``. A
``report.json`` that cannot be read does not break a listing: it is listed with verdict
``unreadable`` and the reason, because hiding a broken report would hide a run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict, JsonValue, TypeAdapter, ValidationError

from drillkit.errors import InvalidInput
from drillkit.files import sha256_file, sync_directory, write_atomically
from drillkit.model.measurement import RunStatus
from drillkit.model.objectives import Objectives
from drillkit.model.run import Accountability, Promise, RunRecord, SourceFile
from drillkit.model.timeline import (
    TimelineEvent,
    event_from_json,
    event_to_json,
    format_utc,
    parse_utc,
)
from drillkit.processes import process_is_alive
from drillkit.reporting.document import (
    REPORT_FILE_NAME,
    ReportSummary,
    read_report_summary,
    render_report_json,
)
from drillkit.reporting.human import render_html, render_markdown

MANIFEST_FILE_NAME: Final = "manifest.json"
JOURNAL_FILE_NAME: Final = "journal.json"
STARTED_FILE_NAME: Final = "started.json"
TIMELINE_FILE_NAME: Final = "timeline.jsonl"
LATEST: Final = "latest"
"""What :func:`find_report` accepts in place of a run id: the newest readable report."""


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """``manifest.json``: the digest of every file in a report directory but itself."""

    algorithm: str
    files: dict[str, str]


MANIFEST_ADAPTER: Final = TypeAdapter(Manifest)


def encode_manifest(manifest: Manifest) -> bytes:
    """The bytes of ``manifest.json``, keys sorted."""
    return _encode_json(MANIFEST_ADAPTER.dump_python(manifest, mode="json"), sort_keys=True)


def decode_manifest(data: bytes) -> Manifest:
    """A manifest as :func:`encode_manifest` wrote it; raise ValidationError if it is not one."""
    return MANIFEST_ADAPTER.validate_json(data)


def _in_words(value: object) -> object:
    # A journal holds whatever activities returned (datetimes, sets, objects): JSON
    # cannot hold those, and evidence with a value in words beats no evidence. str(),
    # not pydantic's own forms, is how journals have always written them.
    if isinstance(value, dict):
        return {key: _in_words(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_in_words(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


Journal: TypeAlias = dict[str, JsonValue]
"""``journal.json``: the Chaos Toolkit journal, one JSON object."""
JOURNAL_ADAPTER: Final = TypeAdapter(Annotated[Journal, BeforeValidator(_in_words)])


def encode_journal(journal: Mapping[str, Any]) -> bytes:
    """The bytes of ``journal.json``: keys sorted, what JSON cannot hold in words."""
    document = JOURNAL_ADAPTER.dump_python(JOURNAL_ADAPTER.validate_python(journal), mode="json")
    return _encode_json(document, sort_keys=True)


def decode_journal(data: bytes) -> Journal:
    """A journal as :func:`encode_journal` wrote it; raise ValidationError if it is not one."""
    return JOURNAL_ADAPTER.validate_json(data)


def write_run_report(record: RunRecord, reports_dir: Path) -> Path:
    """Write the report directory of ``record`` under ``reports_dir`` and return it.

    The manifest is removed first and written last, so whenever ``manifest.json``
    exists it matches the files beside it, also while the same run is written again.
    """
    run_dir = (
        reports_dir
        / _ensure_path_part(record.drill, "drill name")
        / _ensure_path_part(record.run_id, "run id")
    )
    _make_directories(run_dir)
    manifest_path = run_dir / MANIFEST_FILE_NAME
    if manifest_path.exists():
        manifest_path.unlink()
        sync_directory(run_dir)

    renderers: dict[str, Callable[[], bytes]] = {
        REPORT_FILE_NAME: lambda: _encode_json(render_report_json(record)),
        "report.md": lambda: render_markdown(record).encode("utf-8"),
        "report.html": lambda: render_html(record).encode("utf-8"),
        JOURNAL_FILE_NAME: lambda: encode_journal(record.journal),
        TIMELINE_FILE_NAME: lambda: "".join(
            json.dumps(event_to_json(event), ensure_ascii=False) + "\n" for event in record.timeline
        ).encode("utf-8"),
    }
    for name, render in renderers.items():
        write_atomically(run_dir / name, render())

    manifest = Manifest(
        algorithm="sha256",
        files={name: sha256_file(run_dir / name) for name in sorted(renderers)},
    )
    write_atomically(manifest_path, encode_manifest(manifest))
    return run_dir


class RunFacts(BaseModel):
    """What a report says about a run that does not depend on how it went.

    Known when the run starts and kept in its start note, so that a run killed before
    it wrote its report can still be reported with its objectives, scope and sources.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    strategy: str
    objectives: Objectives
    resolution_seconds: float
    """The observer's poll interval: a watch is finer, so this never claims more precision."""
    marker_interval_seconds: float | None
    context: str | None
    namespaces: tuple[str, ...]
    workloads: tuple[str, ...]
    accountability: Accountability
    drill_file: SourceFile | None
    experiment_file: SourceFile
    tool_version: str
    promise: Promise | None = None
    """The service promise the drill proves (absent from notes of older versions)."""


class StartNote(BaseModel):
    """``started.json``: a run began, in which process, and (since 0.1) its facts."""

    # Notes of older versions lack ``facts``; they are read all the same.
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    drill: str
    pid: int
    host: str
    started_utc: str
    facts: RunFacts | None = None


def write_run_started(
    reports_dir: Path,
    *,
    drill: str,
    run_id: str,
    started_utc: datetime,
    facts: RunFacts | None = None,
) -> Path:
    """Note that a run started, before it changes anything.

    If the run is killed (SIGKILL, power loss) it never writes its report; this note
    keeps it from silently disappearing (``list_reports`` shows it as interrupted) and
    holds the ``facts`` its interrupted report is made from.
    """
    run_dir = (
        reports_dir / _ensure_path_part(drill, "drill name") / _ensure_path_part(run_id, "run id")
    )
    _make_directories(run_dir)
    note = StartNote(
        run_id=run_id,
        drill=drill,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_utc=format_utc(started_utc),
        facts=facts,
    )
    write_atomically(run_dir / STARTED_FILE_NAME, _encode_json(note.model_dump(mode="json")))
    return run_dir


def append_timeline_event(run_dir: Path, event: TimelineEvent) -> None:
    """Add one event to the run's ``timeline.jsonl`` as it happens.

    One ``write`` of a whole line to a file opened for appending, so a kill leaves
    whole lines (at most the last one torn). Not synced: this survives the process's
    death, which is what it is for; the report written at the end is synced.
    """
    line = (json.dumps(event_to_json(event), ensure_ascii=False) + "\n").encode("utf-8")
    descriptor = os.open(
        run_dir / TIMELINE_FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
    )
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


class Liveness(StrEnum):
    """Whether the process of a run that has no complete report still runs."""

    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"
    """Started on another host: its process cannot be checked from here."""


@dataclass(frozen=True, kw_only=True)
class UnfinishedRun:
    """What a run without a complete report left: its note, events and journal."""

    run_dir: Path
    note: StartNote | None
    """None when ``started.json`` is missing or unreadable (``problems`` says which)."""
    liveness: Liveness
    timeline: tuple[TimelineEvent, ...]
    """The events recorded before the run stopped, in time order; unreadable lines left out."""
    journal: Mapping[str, Any]
    """The Chaos Toolkit journal if the run got as far as writing it, else empty."""
    partial_report: bool
    """True when ``report.json`` was written but the manifest was not."""
    problems: tuple[str, ...]
    """What could not be read, for the report's findings."""


def find_unfinished_runs(reports_dir: Path) -> list[Path]:
    """Run directories with a start note or a report but no ``manifest.json``.

    Their runs are still going, were killed, or died while writing their report.
    """
    return [
        run_dir
        for run_dir in find_run_dirs(reports_dir, None)
        if not (run_dir / MANIFEST_FILE_NAME).is_file()
    ]


def read_unfinished_run(run_dir: Path) -> UnfinishedRun:
    """Read what a run without a complete report left behind; never raises for bad files."""
    problems: list[str] = []
    note: StartNote | None = None
    try:
        note = StartNote.model_validate_json((run_dir / STARTED_FILE_NAME).read_bytes())
    except FileNotFoundError:
        problems.append(f"{STARTED_FILE_NAME} is missing")
    except (OSError, ValidationError) as error:
        problems.append(f"{STARTED_FILE_NAME} cannot be read: {_first_line(error)}")

    events: list[TimelineEvent] = []
    try:
        lines = (run_dir / TIMELINE_FILE_NAME).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except (OSError, UnicodeDecodeError) as error:
        lines = []
        problems.append(f"{TIMELINE_FILE_NAME} cannot be read: {error}")
    unreadable = 0
    for line in lines:
        try:
            events.append(event_from_json(json.loads(line)))
        except (ValueError, AttributeError):
            # A line torn by the kill, most likely the last one.
            unreadable += 1
    if unreadable:
        problems.append(f"{unreadable} line(s) of {TIMELINE_FILE_NAME} could not be read")

    journal: Mapping[str, Any] = {}
    try:
        journal = decode_journal((run_dir / JOURNAL_FILE_NAME).read_bytes())
    except FileNotFoundError:
        pass
    except OSError as error:
        problems.append(f"{JOURNAL_FILE_NAME} cannot be read: {error}")
    except ValidationError as error:
        problems.append(f"{JOURNAL_FILE_NAME} cannot be read: {error.errors()[0]['msg']}")

    return UnfinishedRun(
        run_dir=run_dir,
        note=note,
        liveness=judge_liveness(note),
        timeline=tuple(sorted(events, key=lambda event: event.at.monotonic)),
        journal=journal,
        partial_report=(run_dir / REPORT_FILE_NAME).is_file(),
        problems=tuple(problems),
    )


def judge_liveness(note: StartNote | None) -> Liveness:
    """Whether the run of ``note`` still runs: only this host's processes can be checked."""
    if note is None:
        # Every run writes its note before anything else: without one, nothing runs here.
        return Liveness.DEAD
    if note.host != socket.gethostname():
        return Liveness.UNKNOWN
    try:
        started = parse_utc(note.started_utc)
    except ValueError:
        started = None
    return Liveness.ALIVE if process_is_alive(note.pid, started) else Liveness.DEAD


def _summarise_unfinished(run_dir: Path) -> ReportSummary:
    """A run with a start note and no report: still running, or killed."""
    unfinished = read_unfinished_run(run_dir)
    started: datetime | None = None
    if unfinished.note is not None:
        try:
            started = parse_utc(unfinished.note.started_utc)
        except ValueError:
            started = None
    alive = unfinished.liveness is Liveness.ALIVE
    return ReportSummary(
        run_id=run_dir.name,
        drill=run_dir.parent.name,
        report_dir=run_dir,
        verdict=None,
        status=None if alive else RunStatus.INTERRUPTED,
        started_utc=started,
        rto_seconds=None,
        rto_bound=None,
        rpo_seconds=None,
        rpo_bound=None,
        problem=None if alive else "the run ended without writing its report (killed)",
        running=alive,
    )


def list_reports(reports_dir: Path, drill: str | None = None) -> list[ReportSummary]:
    """Every run report under ``reports_dir`` (of one ``drill`` if given), newest first.

    A run that noted its start but has no ``report.json`` is listed as running or,
    when its process is gone, interrupted. Other directories without ``report.json``
    are skipped. A ``report.json`` that cannot be read is listed with ``verdict`` None
    (shown as ``unreadable``) and ``problem`` saying why; it sorts by the file's
    modification time.
    """
    summaries: list[tuple[datetime, ReportSummary]] = []
    for run_dir in find_run_dirs(reports_dir, drill):
        if not (run_dir / REPORT_FILE_NAME).is_file():
            unfinished = _summarise_unfinished(run_dir)
            summaries.append((_sort_time(unfinished), unfinished))
            continue
        try:
            summary = read_report_summary(run_dir)
        except InvalidInput as error:
            summary = ReportSummary(
                run_id=run_dir.name,
                drill=run_dir.parent.name,
                report_dir=run_dir,
                verdict=None,
                status=None,
                started_utc=None,
                rto_seconds=None,
                rto_bound=None,
                rpo_seconds=None,
                rpo_bound=None,
                problem=str(error),
            )
        summaries.append((_sort_time(summary), summary))
    summaries.sort(key=lambda entry: (entry[0], entry[1].run_id), reverse=True)
    return [summary for _, summary in summaries]


def find_report(reports_dir: Path, run_id_or_prefix: str, *, drill: str | None = None) -> Path:
    """The report directory of one run, by run id, unique prefix of one, or ``latest``.

    An exact run id wins over longer ids it is a prefix of. ``latest`` is the newest
    readable report (of ``drill`` if given). Raise InvalidInput when nothing matches or
    the prefix matches several runs, naming them.
    """
    if run_id_or_prefix.strip() == LATEST:
        return latest_report(list_reports(reports_dir, drill), drill, where=str(reports_dir))
    run_dirs = {
        f"{run_dir.parent.name}/{run_dir.name}": run_dir
        for run_dir in find_run_dirs(reports_dir, drill)
    }
    return run_dirs[match_run(run_id_or_prefix, run_dirs, where=str(reports_dir))]


def latest_report(summaries: Sequence[ReportSummary], drill: str | None, *, where: str) -> Path:
    """The newest readable report of ``summaries`` (newest first, as listed)."""
    for summary in summaries:
        if summary.problem is None and not summary.running:
            return summary.report_dir
    scope = f" of drill {drill!r}" if drill else ""
    raise InvalidInput(f"no readable reports{scope} in {where}")


def match_run(run_id_or_prefix: str, runs: Iterable[str], *, where: str) -> str:
    """The one of ``runs`` (``<drill>/<run-id>``) that a run id or a unique prefix of one
    names: an exact id wins over longer ids it is a prefix of. InvalidInput, naming the
    candidates, when none or several match."""
    wanted = run_id_or_prefix.strip()
    if not wanted:
        raise InvalidInput("give a run id, a prefix of one, or 'latest'")
    candidates = list(runs)
    exact = [run for run in candidates if run.rsplit("/", 1)[-1] == wanted]
    matches = exact or [run for run in candidates if run.rsplit("/", 1)[-1].startswith(wanted)]
    if not matches:
        raise InvalidInput(f"no report with run id {wanted!r} in {where}")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise InvalidInput(
            f"run id {wanted!r} is ambiguous: it matches {shown}{more}; give more of it"
        )
    return matches[0]


def explain_unfinished(run_dir: Path) -> str:
    """One line on a run that has no complete report, and what to do about it."""
    unfinished = read_unfinished_run(run_dir)
    run = f"run {run_dir.name} of drill {run_dir.parent.name}"
    note = unfinished.note
    if unfinished.liveness is Liveness.ALIVE and note is not None:
        return f"{run} is still running (process {note.pid}); its report is written when it ends"
    if unfinished.liveness is Liveness.UNKNOWN and note is not None:
        return (
            f"{run} started on host {note.host} and has no complete report yet; if it was "
            f"killed, run drill recover on {note.host}"
        )
    what = "its report was cut short" if unfinished.partial_report else "it wrote no report"
    return (
        f"{run} ended without a complete report ({what}: killed); report it as interrupted "
        "with: drill recover"
    )


def find_run_dirs(reports_dir: Path, drill: str | None) -> list[Path]:
    """Every run directory under ``reports_dir`` (of one ``drill`` if given): those with a
    report or a note of their start, whose names are the run ids ``find_report`` takes."""
    if drill is not None:
        drill_dirs = [reports_dir / _ensure_path_part(drill, "drill name")]
    elif reports_dir.is_dir():
        drill_dirs = sorted(path for path in reports_dir.iterdir() if path.is_dir())
    else:
        drill_dirs = []
    return [
        run_dir
        for drill_dir in drill_dirs
        if drill_dir.is_dir()
        for run_dir in sorted(drill_dir.iterdir())
        if (run_dir / REPORT_FILE_NAME).is_file() or (run_dir / STARTED_FILE_NAME).is_file()
    ]


def _sort_time(summary: ReportSummary) -> datetime:
    if summary.started_utc is not None:
        return summary.started_utc
    try:
        modified = (summary.report_dir / REPORT_FILE_NAME).stat().st_mtime
    except OSError:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromtimestamp(modified, UTC)


def _make_directories(run_dir: Path) -> None:
    # Each directory created here is a new entry in its parent; sync the parents so a
    # crash cannot lose the directory of a report whose files were already synced.
    missing = [path for path in (run_dir.parent, run_dir) if not path.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    for created in missing:
        sync_directory(created.parent)


def _ensure_path_part(name: str, what: str) -> str:
    # Drill names and run ids become directory names; one that is empty, hidden or
    # holds a separator would write outside reports/<drill>/<run-id>/.
    if (
        not name
        or name in {".", ".."}
        or name.startswith(".")
        or any(character in name for character in "/\\\0")
    ):
        raise InvalidInput(f"{what} {name!r} cannot name a report directory")
    return name


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _encode_json(value: object, *, sort_keys: bool = False) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n").encode(
        "utf-8"
    )

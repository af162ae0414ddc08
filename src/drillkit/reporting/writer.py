"""The report directory of a run: writing ``reports/<drill>/<run-id>/`` and finding it again.

:func:`write_run_report` is what the runner calls once a run has ended, however it
ended (a run never silently disappears). It writes, each file atomically:

- ``report.json``: the versioned document (:mod:`drillkit.reporting.document`);
- ``report.md`` and ``report.html``: the same for people (:mod:`drillkit.reporting.human`);
- ``journal.json``: the Chaos Toolkit journal, secrets already removed by the runner;
- ``timeline.jsonl``: one event per line, as :func:`~drillkit.model.timeline.event_to_json`;
- ``manifest.json``, last: the SHA-256 digest of every other file. Its presence marks
  the directory complete; the evidence ledger chains the manifest's own digest.

:func:`list_reports` and :func:`find_report` serve ``drill report list|show``. A
``report.json`` that cannot be read does not break a listing: it is listed with verdict
``unreadable`` and the reason, because hiding a broken report would hide a run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypedDict

from drillkit.errors import InvalidInput
from drillkit.files import sha256_file, sync_directory, write_atomically
from drillkit.model.measurement import RunStatus
from drillkit.model.run import RunRecord
from drillkit.model.timeline import event_to_json, format_utc, parse_utc
from drillkit.reporting.document import (
    REPORT_FILE_NAME,
    ReportSummary,
    read_report_summary,
    render_report_json,
)
from drillkit.reporting.human import render_html, render_markdown

MANIFEST_FILE_NAME: Final = "manifest.json"
LATEST: Final = "latest"
"""What :func:`find_report` accepts in place of a run id: the newest readable report."""


class Manifest(TypedDict):
    """``manifest.json``: the digest of every file in a report directory but itself."""

    algorithm: str
    files: dict[str, str]


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
        # default=str: a journal holds whatever activities returned (datetimes, sets);
        # evidence with a value in words beats no evidence.
        "journal.json": lambda: _encode_json(record.journal, sort_keys=True, default=str),
        "timeline.jsonl": lambda: "".join(
            json.dumps(event_to_json(event), ensure_ascii=False) + "\n" for event in record.timeline
        ).encode("utf-8"),
    }
    for name, render in renderers.items():
        write_atomically(run_dir / name, render())

    manifest = Manifest(
        algorithm="sha256",
        files={name: sha256_file(run_dir / name) for name in sorted(renderers)},
    )
    write_atomically(manifest_path, _encode_json(manifest, sort_keys=True))
    return run_dir


STARTED_FILE_NAME: Final = "started.json"


def write_run_started(reports_dir: Path, *, drill: str, run_id: str, started_utc: datetime) -> Path:
    """Note that a run started, before it changes anything.

    If the run is killed (SIGKILL, power loss) it never writes its report; this note
    keeps it from silently disappearing: ``list_reports`` shows it as interrupted.
    """
    run_dir = (
        reports_dir / _ensure_path_part(drill, "drill name") / _ensure_path_part(run_id, "run id")
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    note = {
        "run_id": run_id,
        "drill": drill,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_utc": format_utc(started_utc),
    }
    write_atomically(run_dir / STARTED_FILE_NAME, json.dumps(note, indent=2).encode() + b"\n")
    return run_dir


def _summarise_unfinished(run_dir: Path) -> ReportSummary:
    """A run with a start note and no report: still running, or killed."""
    try:
        note = json.loads((run_dir / STARTED_FILE_NAME).read_text())
        started: datetime | None = parse_utc(str(note["started_utc"]))
        alive = note.get("host") == socket.gethostname() and _process_alive(int(note["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        started, alive = None, False
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


def _process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def list_reports(reports_dir: Path, drill: str | None = None) -> list[ReportSummary]:
    """Every run report under ``reports_dir`` (of one ``drill`` if given), newest first.

    A run that noted its start but has no ``report.json`` is listed as running or,
    when its process is gone, interrupted. Other directories without ``report.json``
    are skipped. A ``report.json`` that cannot be read is listed with ``verdict`` None
    (shown as ``unreadable``) and ``problem`` saying why; it sorts by the file's
    modification time.
    """
    summaries: list[tuple[datetime, ReportSummary]] = []
    for run_dir in _find_run_dirs(reports_dir, drill):
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
    wanted = run_id_or_prefix.strip()
    if not wanted:
        raise InvalidInput("give a run id, a prefix of one, or 'latest'")
    if wanted == LATEST:
        for summary in list_reports(reports_dir, drill):
            if summary.problem is None:
                return summary.report_dir
        scope = f" of drill {drill!r}" if drill else ""
        raise InvalidInput(f"no readable reports{scope} in {reports_dir}")

    run_dirs = _find_run_dirs(reports_dir, drill)
    exact = [run_dir for run_dir in run_dirs if run_dir.name == wanted]
    matches = exact or [run_dir for run_dir in run_dirs if run_dir.name.startswith(wanted)]
    if not matches:
        raise InvalidInput(f"no report with run id {wanted!r} in {reports_dir}")
    if len(matches) > 1:
        shown = ", ".join(f"{path.parent.name}/{path.name}" for path in sorted(matches)[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise InvalidInput(
            f"run id {wanted!r} is ambiguous: it matches {shown}{more}; give more of it"
        )
    return matches[0]


def _find_run_dirs(reports_dir: Path, drill: str | None) -> list[Path]:
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


def _encode_json(
    value: object, *, sort_keys: bool = False, default: Callable[[object], object] | None = None
) -> bytes:
    return (
        json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False, default=default) + "\n"
    ).encode("utf-8")

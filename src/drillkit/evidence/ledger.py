"""The ledger: ``reports/ledger.jsonl``, an append-only, hash-chained record of every run and skip.

An auditor asks for every DR test of a period and proof that none was altered or left
out. Report directories alone cannot give that: a file can be edited, a directory
deleted, and nothing would show it. The ledger adds one line per event (a run whose
report was written, a scheduled run that was skipped, a game day whose report was
written, linked to the entries of its runs), each holding:

- ``seq``: its position, 1, 2, 3...; a removed or reordered line leaves a gap or a
  descent in the sequence;
- ``prev``: the SHA-256 of the previous line's bytes (64 zeros for the first line), so
  changing any line breaks the link from the next one;
- for a run, the digest of the report's ``manifest.json`` and of every file it lists,
  so changing a report file no longer matches its entry;
- optionally ``sig``: an Ed25519 signature over the entry without ``sig``
  (:mod:`drillkit.signing`), so the chain cannot be recomputed by someone
  who edits it.

A chain cannot show that its *tail* was cut off: a truncated ledger is a valid, shorter
chain. That takes a record kept outside the ledger. After each append the newest
``seq`` and digest are written to ``ledger.head`` beside the ledger (signed when a key
is configured) and to a *witness* copy in drillkit's state directory
(``~/.local/state/drillkit/evidence/witness/``), outside the reports tree, so
truncating the ledger and restoring an old ``ledger.head`` still disagrees with the
witness. The witness is keyed by the reports directory's own location, which nothing
inside ``reports/`` can change, and the state directory notes which ledgers it
witnesses, so a witness that disappeared is a finding, not a shrug. Auditors can keep a
head of their own: every export bundle records the head at export time, and
``drill evidence verify --head SEQ:DIGEST`` checks the ledger still holds that entry
unchanged.

Evidence is never read through a link or from a special file: the ledger, the head and
report files are opened with ``O_NOFOLLOW`` (run directories through directory
descriptors) and must be regular files (:func:`open_regular`).

Appends are crash-safe and serialised: an exclusive ``flock`` on ``ledger.lock`` keeps
two ``drill run`` processes from interleaving lines or forking the chain; each line is
written with one ``write`` and forced to disk before the head moves.

An append continues the chain only from the end its head and witness left: before
writing, it checks that both still name the ledger's last entry (or one before it that
the ledger still holds unchanged, when an append was interrupted before it moved them).
A ledger whose end was cut off or rewritten is refused (:class:`LedgerMismatch`),
because continuing from it would overwrite the two records that show it. A line torn by
a crash is cut off only when every head names the line before it; anything else is
left untouched for ``verify`` to report.

Lines are canonical JSON (sorted keys, no spaces, ASCII), so the same entry always has
the same bytes and a signature can be checked by re-encoding what was read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from drillkit.errors import DrillError, InvalidInput
from drillkit.files import state_home, sync_directory, write_atomically
from drillkit.model.records import first_problem
from drillkit.model.timeline import format_utc
from drillkit.reporting.document import (
    REPORT_FILE_NAME,
    MeasurementDocument,
    ReportDocument,
    read_report_document,
)
from drillkit.reporting.writer import MANIFEST_FILE_NAME, STARTED_FILE_NAME, decode_manifest
from drillkit.running.redaction import collect_environment_secrets, redact_text
from drillkit.signing import ALGORITHM, SigningKey

LEDGER_FILE_NAME: Final = "ledger.jsonl"
HEAD_FILE_NAME: Final = "ledger.head"
LOCK_FILE_NAME: Final = "ledger.lock"
GENESIS: Final = "0" * 64
"""The ``prev`` of the first entry: there is no line before it."""
ENTRY_VERSION: Final = 1
_DIGEST_PATTERN: Final = r"^[0-9a-f]{64}$"
_TAIL_CHUNK: Final = 64 * 1024
_DIGEST_CHUNK: Final = 1024 * 1024


class _Entry(BaseModel):
    # Strict: a field this version does not write means the line is not what it wrote.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signature(_Entry):
    """An Ed25519 signature and the fingerprint of the key that made it."""

    key: str
    ed25519: str


class MeasuredValue(_Entry):
    """One measurement as the report states it, enough to judge it without the report."""

    seconds: float | None
    bound: str | None
    resolution_seconds: float | None
    objective_seconds: float | None
    met: bool | None


class Measurements(_Entry):
    rto: MeasuredValue
    rpo: MeasuredValue
    time_to_full_capacity: MeasuredValue


class ReportDigests(_Entry):
    """Where a run's report lives (relative to the reports directory) and its digests."""

    dir: str
    manifest_sha256: str = Field(pattern=_DIGEST_PATTERN)
    files: dict[str, Annotated[str, Field(pattern=_DIGEST_PATTERN)]]


class Origin(_Entry):
    """Where an entry of the evidence store came from: its entry in a local ledger."""

    seq: int = Field(ge=1)
    digest: str = Field(pattern=_DIGEST_PATTERN)
    """The SHA-256 of the local ledger line, which an auditor matches against it."""


class _ChainedEntry(_Entry):
    # What every line holds of the chain, in the order each line's fields are checked.
    v: Literal[1]
    seq: int = Field(ge=1)
    kind: str
    """Each kind of entry narrows it to its own tag."""
    prev: str = Field(pattern=_DIGEST_PATTERN)
    recorded_utc: str
    # Written by the evidence store (drillkit.evidence.store) only, and left out of the
    # bytes when unset (entry_payload), so local lines keep the bytes they always had.
    cluster: str | None = None
    """The cluster the run acted on, as its report's scope names it."""
    runner: str | None = None
    """The host (or pod) that entered it."""
    origin: Origin | None = None
    """For an entry synced from a local ledger: that ledger's entry."""


class PromisedObjectives(_Entry):
    """What the service file promised for one kind of disruption when the run started."""

    disruption: str
    rto_seconds: float | None
    rpo_seconds: float | None
    prove_every_seconds: float


class ProvenPromise(_Entry):
    """The service promise a run proves, as its report states it (``promise``)."""

    service: str
    disruption: str
    rto_seconds: float | None
    rpo_seconds: float | None
    prove_every_seconds: float
    service_sha256: str = Field(pattern=_DIGEST_PATTERN)
    service_objectives: tuple[PromisedObjectives, ...] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    """Every disruption the service file (``service_sha256``) promised to survive then, and
    what it promised: what ``drill readiness --from-ledger`` weighs. Absent (not null) from
    entries written before it was recorded, which keep the bytes they were signed with."""


class RunEntry(_ChainedEntry):
    """A run whose report was written."""

    kind: Literal["run"]
    run_id: str
    drill: str
    started_utc: str
    ended_utc: str
    status: str
    verdict: str
    strategy: str
    measurements: Measurements
    report: ReportDigests
    adopted: bool = False
    """True when the run was entered after the fact by ``drill evidence adopt``."""
    promise: ProvenPromise | None = Field(default=None, exclude_if=lambda value: value is None)
    """The service promise the run proves; absent (not null) for a run that proves none,
    so entries of drills without one keep the bytes they always had."""
    sig: Signature | None = None


class SkipEntry(_ChainedEntry):
    """A scheduled run that did not happen, and why."""

    kind: Literal["skip"]
    drill: str
    scheduled_for: str
    reason: str
    schedule: str | None = None
    sig: Signature | None = None


class LinkedRun(_Entry):
    """A drill run of a game day, and the ledger entry it had when the game day was entered."""

    step: int = Field(ge=1)
    drill: str
    run_id: str
    dir: str
    """Its report directory, relative to the reports directory."""
    seq: int | None
    """None when the run had no ledger entry (its append failed; adopt enters it)."""


class GameDayEntry(_ChainedEntry):
    """A game day whose report was written: its files and the runs it made."""

    kind: Literal["gameday"]
    gameday_id: str
    gameday: str
    started_utc: str
    ended_utc: str
    verdict: str
    report: ReportDigests
    runs: tuple[LinkedRun, ...]
    sig: Signature | None = None


class FindingAction(StrEnum):
    """What a finding entry records: a finding opened, closed, or a note on it."""

    OPENED = "opened"
    CLOSED = "closed"
    NOTED = "noted"


class FindingEntry(_ChainedEntry):
    """A finding of a service promise: opened by a run that did not meet it, closed only by
    a later run that did, and the notes its owners add in between."""

    kind: Literal["finding"]
    finding: str
    """``F<seq>``: named after the ledger entry that opened it."""
    action: FindingAction
    service: str
    disruption: str
    run: str | None
    """``<drill>/<run id>`` of the run that opened or closed it; None for a note."""
    run_seq: int | None
    """That run's own ledger entry."""
    text: str
    """One line: why it opened (the run's verdict and first finding), or the note."""
    owner: str | None = None
    remediation: str | None = None
    due: str | None = None
    """A note's due date, ``YYYY-MM-DD``."""
    sig: Signature | None = None


AnyEntry = RunEntry | SkipEntry | GameDayEntry | FindingEntry
Entry = Annotated[AnyEntry, Field(discriminator="kind")]
_ENTRY_ADAPTER: Final[TypeAdapter[AnyEntry]] = TypeAdapter(Entry)
GAMEDAYS_DIR_NAME: Final = "gamedays"
"""Game-day reports live in ``<reports>/gamedays/<name>/<id>/``."""
GAMEDAY_FILE_NAME: Final = "gameday.json"


class LedgerHead(_Entry):
    """``ledger.head``: the newest entry's position and digest, written after each append."""

    v: Literal[1]
    seq: int = Field(ge=0)
    digest: str = Field(pattern=_DIGEST_PATTERN)
    updated_utc: str
    sig: Signature | None = None

    def anchor(self, source: str) -> Anchor:
        """This head as an anchor; ``source`` says where it was read, for messages."""
        return Anchor(seq=self.seq, digest=self.digest, source=source)


@dataclass(frozen=True, kw_only=True, slots=True)
class Anchor:
    """A head kept somewhere else: "the ledger had entry ``seq`` with this digest".

    An append must agree with every one it finds, and verification checks each.
    """

    seq: int
    digest: str
    source: str
    """Where it comes from, for messages: ``ledger.head``, ``the witness ...``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerLine:
    """One line of the ledger file as read: its bytes, digest and parsed entry."""

    number: int
    """1-based line number in the file."""
    raw: bytes
    """The line's bytes without its newline."""
    digest: str
    entry: AnyEntry | None
    """None when the line is not a valid entry; ``problem`` says why."""
    problem: str | None
    complete: bool
    """False for a last line without its newline (cut off, or torn by a crash)."""

    @property
    def label(self) -> str:
        """How messages name the line: ``line 4 (run zone-failure/20250301-...)``."""
        entry = self.entry
        if isinstance(entry, RunEntry):
            return f"line {self.number} (run {entry.drill}/{entry.run_id})"
        if isinstance(entry, SkipEntry):
            return f"line {self.number} (skip of {entry.drill} at {entry.scheduled_for})"
        if isinstance(entry, GameDayEntry):
            return f"line {self.number} (game day {entry.gameday}/{entry.gameday_id})"
        if isinstance(entry, FindingEntry):
            return f"line {self.number} (finding {entry.finding} {entry.action})"
        return f"line {self.number}"


def ledger_path(reports_dir: Path) -> Path:
    return reports_dir / LEDGER_FILE_NAME


def head_path(reports_dir: Path) -> Path:
    return reports_dir / HEAD_FILE_NAME


def witness_path(reports_dir: Path) -> Path:
    """The witness copy of the head, in the state directory, outside the reports tree.

    It is keyed by where the reports directory itself is (its resolved path), never by
    where the ledger file points: a link put in place of ``ledger.jsonl`` by someone who
    can write ``reports/`` cannot lead verification to another witness, or to none.
    """
    return _witness_directory() / f"{_ledger_key(reports_dir)}.head"


def witness_record_path(reports_dir: Path) -> Path:
    """The state directory's note that it keeps a witness for this ledger.

    Written once the first witness is, it turns a witness that disappeared into a
    finding: without it, a missing witness could as well mean the ledger was written
    on another machine.
    """
    return _witness_directory() / f"{_ledger_key(reports_dir)}.ledger"


def _witness_directory() -> Path:
    return state_home() / "evidence" / "witness"


def _ledger_key(reports_dir: Path) -> str:
    # The same name the witness had when it was derived from the ledger file's path,
    # so witnesses written before keep their meaning.
    location = str(reports_dir.resolve() / LEDGER_FILE_NAME)
    return hashlib.sha256(location.encode("utf-8")).hexdigest()[:24]


class NotRegularFile(InvalidInput):
    """A file of the evidence is a symbolic link, a FIFO, a device or a directory.

    Evidence is read only from regular files reached without following a link: a link
    points the reader at bytes the chain never vouched for, and a FIFO never ends.
    """


def open_regular(
    path: Path | str,
    *,
    flags: int = os.O_RDONLY,
    dir_fd: int | None = None,
    shown: Path | str | None = None,
) -> int:
    """Open a regular file without following a link; NotRegularFile for anything else.

    ``shown`` is how messages name the file when ``path`` is relative to ``dir_fd``.
    FileNotFoundError passes through: an absent file is for the caller to judge.
    """
    name = shown if shown is not None else path
    # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it.
    all_flags = flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, all_flags, 0o644, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotRegularFile(
                f"{name} is a symbolic link; evidence is never read through a link"
            ) from None
        if error.errno in (errno.EISDIR, errno.ENXIO):
            raise NotRegularFile(f"{name} is not a regular file") from None
        raise
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise NotRegularFile(f"{name} is not a regular file ({_file_kind(mode)})")
    return descriptor


def open_directory(parent: Path, relative: str) -> int:
    """A descriptor of ``parent/relative``, no step below ``parent`` followed if a link.

    NotRegularFile when one is a link or not a directory; FileNotFoundError when absent.
    """
    descriptor = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    parts = relative.split("/")
    try:
        for depth, part in enumerate(parts, start=1):
            try:
                child = os.open(
                    part,
                    os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    dir_fd=descriptor,
                )
            except OSError as error:
                # The path is joined for messages only: verify and export open hundreds
                # of thousands of report directories, most of them without a problem.
                walked = parent.joinpath(*parts[:depth])
                if error.errno == errno.ELOOP:
                    raise NotRegularFile(
                        f"{walked} is a symbolic link; evidence is never read through a link"
                    ) from None
                if error.errno == errno.ENOTDIR:
                    mode = os.lstat(part, dir_fd=descriptor).st_mode
                    kind = "a symbolic link" if stat.S_ISLNK(mode) else _file_kind(mode)
                    raise NotRegularFile(f"{walked} is {kind}, not a directory") from None
                raise
            os.close(descriptor)
            descriptor = child
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file of the evidence; None when it does not exist."""
    try:
        descriptor = open_regular(path)
    except FileNotFoundError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        return stream.read()


def digest_regular(name: str, *, dir_fd: int, shown: Path | str) -> str:
    """SHA-256 of the regular file ``name`` in the directory ``dir_fd``, read without links."""
    descriptor = open_regular(name, dir_fd=dir_fd, shown=shown)
    digest = hashlib.sha256()
    try:
        # Straight from the descriptor: verify hashes hundreds of thousands of small
        # report files, and a buffered reader with hashlib.file_digest's fresh 256 KiB
        # buffer per file cost more than the hashing itself (bench/evidence_scale.py).
        while chunk := os.read(descriptor, _DIGEST_CHUNK):
            digest.update(chunk)
    finally:
        os.close(descriptor)
    return digest.hexdigest()


def is_plain_name(name: object) -> bool:
    """Whether ``name`` names an entry of one directory: no path, not hidden, not ``..``."""
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def encode_canonical(data: Mapping[str, Any]) -> bytes:
    """The one byte form of a JSON object that digests and signatures are computed over."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_payload(data: Mapping[str, Any]) -> bytes:
    """What a signature covers: the object without its ``sig``, canonically encoded."""
    return encode_canonical({key: value for key, value in data.items() if key != "sig"})


def append_run(
    reports_dir: Path,
    run_dir: Path,
    *,
    signing_key: SigningKey | None = None,
    now: datetime | None = None,
    adopted: bool = False,
) -> RunEntry:
    """Add the run whose report is in ``run_dir`` to the ledger and return its entry.

    The report must be complete (``manifest.json`` written) and match its manifest;
    the entry is made from what was written, not from memory, so it vouches for the
    files an auditor will read. Raises InvalidInput when the report is incomplete or
    not inside ``reports_dir``, DrillError when a file no longer matches the manifest.
    """
    relative = _relative_run_dir(reports_dir, run_dir)
    document = read_report_document(run_dir / REPORT_FILE_NAME)
    # The entry names the run by its report and its directory; they must agree, or an
    # export would look for the run's files elsewhere than where they were hashed.
    if [document.drill, document.run_id] != relative.split("/"):
        raise InvalidInput(
            f"{run_dir / REPORT_FILE_NAME}: drill {document.drill!r} and run_id "
            f"{document.run_id!r} do not name its directory {relative}; it is not entered"
        )
    digests = _digest_report(reports_dir, run_dir, relative)
    measurements = document.measurements

    def build(link: _Link) -> RunEntry:
        return RunEntry(
            **link,
            kind="run",
            run_id=document.run_id,
            drill=document.drill,
            started_utc=document.started_utc,
            ended_utc=document.ended_utc,
            status=document.status.value,
            verdict=document.verdict.value,
            strategy=document.strategy,
            measurements=Measurements(
                rto=_summarise(measurements.rto),
                rpo=_summarise(measurements.rpo),
                time_to_full_capacity=_summarise(measurements.time_to_full_capacity),
            ),
            report=digests,
            adopted=adopted,
            promise=_proven_promise(document),
        )

    return _append(reports_dir, build, signing_key=signing_key, now=now)


def _proven_promise(document: ReportDocument) -> ProvenPromise | None:
    promise = document.promise
    if promise is None:
        return None
    return ProvenPromise(
        service=promise.service,
        disruption=promise.disruption,
        rto_seconds=promise.rto_seconds,
        rpo_seconds=promise.rpo_seconds,
        prove_every_seconds=promise.prove_every_seconds,
        service_sha256=promise.service_file.sha256,
        service_objectives=(
            tuple(
                PromisedObjectives(
                    disruption=objectives.disruption,
                    rto_seconds=objectives.rto_seconds,
                    rpo_seconds=objectives.rpo_seconds,
                    prove_every_seconds=objectives.prove_every_seconds,
                )
                for objectives in promise.service_objectives
            )
            if promise.service_objectives is not None
            else None
        ),
    )


def append_finding(
    reports_dir: Path,
    *,
    finding: str | None,
    action: FindingAction,
    service: str,
    disruption: str,
    text: str,
    run: RunEntry | None = None,
    owner: str | None = None,
    remediation: str | None = None,
    due: str | None = None,
    signing_key: SigningKey | None = None,
    now: datetime | None = None,
) -> FindingEntry:
    """Record that a finding of (``service``, ``disruption``) opened (``finding`` None: it
    is named after this entry), closed, or was noted. ``run`` is the entry of the run that
    opened or closed it. Secrets that slip into the text are redacted before it is written."""
    secrets = collect_environment_secrets(os.environ)

    def one_line(value: str | None) -> str | None:
        return " ".join(redact_text(value, secrets).split()) if value is not None else None

    def build(link: _Link) -> FindingEntry:
        return FindingEntry(
            **link,
            kind="finding",
            finding=finding or f"F{link['seq']}",
            action=action,
            service=service,
            disruption=disruption,
            run=f"{run.drill}/{run.run_id}" if run is not None else None,
            run_seq=run.seq if run is not None else None,
            text=one_line(text) or "",
            owner=one_line(owner),
            remediation=one_line(remediation),
            due=due,
        )

    return _append(reports_dir, build, signing_key=signing_key, now=now)


def append_skip(
    reports_dir: Path,
    *,
    drill: str,
    reason: str,
    scheduled_for: datetime,
    schedule: str | None = None,
    signing_key: SigningKey | None = None,
    now: datetime | None = None,
) -> SkipEntry:
    """Record that a scheduled run of ``drill`` due at ``scheduled_for`` did not happen.

    ``reason`` is one line for the auditor ("blackout window change-freeze", "error
    budget of checkout below 20 %", "missed: scheduler down"); ``schedule`` names the
    schedule that fired. Secrets that slip into the reason (a URL with a password, a
    bearer token) are redacted before it is written.
    """
    if not drill.strip():
        raise InvalidInput("a skip must name the drill that was skipped")
    if scheduled_for.tzinfo is None:
        raise InvalidInput("scheduled_for must be a timezone-aware time")
    one_line = " ".join(redact_text(reason, collect_environment_secrets(os.environ)).split())

    def build(link: _Link) -> SkipEntry:
        return SkipEntry(
            **link,
            kind="skip",
            drill=drill,
            scheduled_for=format_utc(scheduled_for),
            reason=one_line or "no reason given",
            schedule=schedule,
        )

    return _append(reports_dir, build, signing_key=signing_key, now=now)


def append_gameday(
    reports_dir: Path,
    gameday_dir: Path,
    *,
    signing_key: SigningKey | None = None,
    now: datetime | None = None,
) -> GameDayEntry:
    """Add the game day whose report is in ``gameday_dir`` to the ledger; return its entry.

    Called once the game day's report is written (``manifest.json`` last). The entry
    holds the digest of each of its files and, for each drill run it made, that run's
    ledger entry, so the game day vouches for its runs as the chain vouches for it.
    Raises InvalidInput when the report is incomplete or not a
    ``gamedays/<name>/<id>`` directory of ``reports_dir``.
    """
    relative = _relative_dir(reports_dir, gameday_dir, depth=3)
    if relative.split("/")[0] != GAMEDAYS_DIR_NAME:
        raise InvalidInput(f"{gameday_dir} is not a gamedays/<name>/<id> directory")
    try:
        directory = open_directory(reports_dir, relative)
    except FileNotFoundError:
        raise InvalidInput(f"{gameday_dir}: no such game-day directory") from None
    try:
        summary = _read_gameday_summary(directory, gameday_dir, relative)
        digests = _digest_open_report(directory, gameday_dir, relative)
    finally:
        os.close(directory)
    runs_by_dir = {
        line.entry.report.dir: line.entry.seq
        for line in read_ledger(reports_dir)
        if isinstance(line.entry, RunEntry)
    }
    runs = tuple(
        LinkedRun(step=step, drill=drill, run_id=run_id, dir=run, seq=runs_by_dir.get(run))
        for step, drill, run_id, run in summary.runs
    )

    def build(link: _Link) -> GameDayEntry:
        return GameDayEntry(
            **link,
            kind="gameday",
            gameday_id=summary.gameday_id,
            gameday=summary.gameday,
            started_utc=summary.started_utc,
            ended_utc=summary.ended_utc,
            verdict=summary.verdict,
            report=digests,
            runs=runs,
        )

    return _append(reports_dir, build, signing_key=signing_key, now=now)


class _GameDayStep(BaseModel):
    # Only what the entry needs from gameday.json; the rest is the report's business.
    model_config = ConfigDict(extra="ignore")
    index: int
    kind: str
    title: str
    run_id: str | None = None
    report_dir: str | None = None


class _GameDaySummary(BaseModel):
    model_config = ConfigDict(extra="ignore")
    gameday_id: str
    gameday: str
    started_utc: str
    ended_utc: str
    verdict: str
    steps: list[_GameDayStep]

    @property
    def runs(self) -> list[tuple[int, str, str, str]]:
        """(step, drill, run id, report directory relative to the reports) of each run."""
        found = []
        for step in self.steps:
            if step.kind != "drill" or not step.run_id:
                continue
            # The report directory is <reports>/<drill name>/<run id>; the drill's name
            # may differ from the game day's step title (the drill file's name).
            drill = Path(step.report_dir).parent.name if step.report_dir else step.title
            found.append((step.index, step.title, step.run_id, f"{drill}/{step.run_id}"))
        return found


def _read_gameday_summary(directory: int, gameday_dir: Path, relative: str) -> _GameDaySummary:
    path = gameday_dir / GAMEDAY_FILE_NAME
    try:
        with os.fdopen(open_regular(GAMEDAY_FILE_NAME, dir_fd=directory, shown=path), "rb") as f:
            content = f.read()
    except FileNotFoundError:
        raise InvalidInput(
            f"{gameday_dir}: the game-day report is incomplete (no {GAMEDAY_FILE_NAME})"
        ) from None
    try:
        summary = _GameDaySummary.model_validate_json(content)
    except ValidationError as error:
        raise InvalidInput(f"{path}: not a game-day report: {first_problem(error)}") from error
    if [GAMEDAYS_DIR_NAME, summary.gameday, summary.gameday_id] != relative.split("/"):
        raise InvalidInput(
            f"{path}: game day {summary.gameday!r} and id {summary.gameday_id!r} do not name "
            f"its directory {relative}; it is not entered"
        )
    unsafe = [run for *_, run in summary.runs if not all(map(is_plain_name, run.split("/")))]
    if unsafe:
        raise InvalidInput(f"{path}: names a run directory {unsafe[0]!r} outside the reports")
    return summary


def find_unrecorded_runs(reports_dir: Path) -> list[Path]:
    """Complete report directories (with ``manifest.json``) that no ledger entry names."""
    recorded = {
        line.entry.report.dir
        for line in read_ledger(reports_dir)
        if isinstance(line.entry, RunEntry)
    }
    return [
        run_dir
        for run_dir in find_run_dirs(reports_dir)
        if (run_dir / MANIFEST_FILE_NAME).is_file()
        and _relative_run_dir(reports_dir, run_dir) not in recorded
    ]


def adopt_runs(
    reports_dir: Path, *, signing_key: SigningKey | None = None, now: datetime | None = None
) -> list[RunEntry]:
    """Enter every complete report that the ledger lacks, oldest first, marked ``adopted``.

    For reports written before the ledger existed, or whose append failed. Adopted
    entries say so in the ledger and in every export: they vouch for the files from
    the moment of adoption, not from the moment of the run.
    """
    unrecorded = find_unrecorded_runs(reports_dir)
    ordered = sorted(unrecorded, key=lambda run_dir: _started_key(run_dir))
    return [
        append_run(reports_dir, run_dir, signing_key=signing_key, now=now, adopted=True)
        for run_dir in ordered
    ]


def find_run_dirs(reports_dir: Path) -> list[Path]:
    """Every ``<drill>/<run-id>/`` directory under ``reports_dir`` that holds a run.

    A run directory is one with a report, a manifest or a start note; hidden
    directories and stray files are not runs.
    """
    if not reports_dir.is_dir():
        return []
    markers = (REPORT_FILE_NAME, MANIFEST_FILE_NAME, STARTED_FILE_NAME)
    # Directory entries sorted by name, not Paths by their parts, and asked whether
    # they are directories without a stat of their own: with 100,000 runs, sorting and
    # stat-ing Paths made the search for runs left out cost more than the chain.
    found: list[Path] = []
    for drill_entry in _entries_by_name(reports_dir):
        if not drill_entry.is_dir() or drill_entry.name.startswith("."):
            continue
        for run_entry in _entries_by_name(Path(drill_entry.path)):
            run_dir = Path(run_entry.path)
            if run_entry.is_dir() and any((run_dir / marker).is_file() for marker in markers):
                found.append(run_dir)
    return found


def _entries_by_name(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def read_ledger(reports_dir: Path) -> list[LedgerLine]:
    """Every line of the ledger, parsed; an absent ledger has none.

    Raises NotRegularFile (exit 2) when the ledger is a link or not a regular file.
    """
    path = ledger_path(reports_dir)
    try:
        content = read_regular(path)
    except OSError as error:
        raise DrillError(f"{path}: cannot read the ledger: {error.strerror or error}") from error
    return parse_ledger(content) if content is not None else []


def parse_ledger(content: bytes) -> list[LedgerLine]:
    """Split ledger bytes into lines and parse each; a broken line is kept with its problem."""
    if not content:
        return []
    pieces = content.split(b"\n")
    complete_count = len(pieces) - 1
    if pieces[-1] == b"":
        pieces.pop()
    with _without_cycle_collection():
        return [
            _parse_line(number, raw, complete=number <= complete_count)
            for number, raw in enumerate(pieces, start=1)
        ]


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    # Parsing allocates a dozen objects per entry and frees none, so the cycle collector
    # runs over and over, re-scanning every entry already parsed, for nothing: two
    # thirds of the time of parsing 100,000 entries (bench/evidence_scale.py).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_head(path: Path) -> LedgerHead | None:
    """A head file (``ledger.head`` or its witness); None when it does not exist.

    Raises DrillError when it exists but cannot be read as a head: a damaged head is
    itself a finding, which ``verify`` reports rather than ignores.
    """
    try:
        content = read_regular(path)
    except OSError as error:
        raise DrillError(f"{path}: cannot read: {error.strerror or error}") from error
    if content is None:
        return None
    try:
        return LedgerHead.model_validate_json(content)
    except ValidationError as error:
        raise DrillError(f"{path}: not a ledger head: {first_problem(error)}") from error


class LedgerMismatch(DrillError):
    """The ledger no longer ends where its head and witness left it; nothing was appended.

    Continuing the chain from such an end would overwrite the head and the witness,
    the only records that show the end was cut off or rewritten.
    """


class _Link(TypedDict):
    # The chain fields of an entry (all but its kind), known only under the append's lock.
    v: Literal[1]
    seq: int
    prev: str
    recorded_utc: str


_EntryT = TypeVar("_EntryT", RunEntry, SkipEntry, GameDayEntry, FindingEntry)


def _append(
    reports_dir: Path,
    build: Callable[[_Link], _EntryT],
    *,
    signing_key: SigningKey | None,
    now: datetime | None,
) -> _EntryT:
    with _locked(reports_dir):
        path = ledger_path(reports_dir)
        existed = os.path.lexists(path)
        descriptor = open_regular(path, flags=os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            seq, prev = _find_chain_end(descriptor, path, _read_anchors(reports_dir))
            entry = build(
                _Link(
                    v=ENTRY_VERSION,
                    seq=seq,
                    prev=prev,
                    recorded_utc=format_utc(now or datetime.now(UTC)),
                )
            )
            line = seal(entry_payload(entry), signing_key)
            _write_all(descriptor, line + b"\n")
            # The head must never name a line the disk may not have.
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if not existed:
            sync_directory(reports_dir)
        _write_head(reports_dir, seq, digest_bytes(line), signing_key=signing_key, now=now)
    return type(entry).model_validate_json(line)


_OPTIONAL_FIELDS: Final = ("cluster", "runner", "origin")
"""Fields added after entries were first written: present in the bytes only when set."""


def entry_payload(entry: AnyEntry) -> dict[str, Any]:
    """What an entry's line holds, without its signature: the fields a ledger line is
    sealed from, the optional fields left out when unset."""
    return without_unset(entry.model_dump(mode="json", exclude={"sig"}))


def without_unset(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the optional fields that are unset (None); every other field as
    it is, None included: a note's ``run`` is null, not absent."""
    return {
        name: value
        for name, value in data.items()
        if not (value is None and name in _OPTIONAL_FIELDS)
    }


def parse_entry(number: int, raw: bytes) -> LedgerLine:
    """One entry's bytes (a ledger line, or an object of the evidence store), parsed."""
    return _parse_line(number, raw, complete=True)


def seal(data: Mapping[str, Any], signing_key: SigningKey | None) -> bytes:
    """Canonical bytes of ``data``, with a ``sig`` over them when a key is given."""
    payload = encode_canonical(data)
    if signing_key is None:
        return payload
    signature = {"key": signing_key.fingerprint, ALGORITHM: signing_key.sign(payload)}
    return encode_canonical({**data, "sig": signature})


@contextlib.contextmanager
def _locked(reports_dir: Path) -> Iterator[None]:
    # A lock file of its own, never replaced: locking the ledger itself would not
    # survive a writer that replaces the file, and the head is replaced on every append.
    reports_dir.mkdir(parents=True, exist_ok=True)
    descriptor = open_regular(reports_dir / LOCK_FILE_NAME, flags=os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        # Closing the descriptor releases the lock, also when the process dies.
        os.close(descriptor)


@dataclass(frozen=True, kw_only=True, slots=True)
class HeadReadings:
    """``ledger.head`` and its witness as they stand, before an append or a verification.

    An append refuses what a verification reports: each reads the heads here and
    judges them its own way.
    """

    head: LedgerHead | None
    head_error: DrillError | None
    """Why ``ledger.head`` exists but cannot be read; None when it could be."""
    witness_file: Path
    witness: LedgerHead | None
    """None when the witness is missing or unreadable."""
    witness_error: DrillError | None
    witness_kept: bool
    """This machine notes that it keeps a witness for this ledger."""

    @property
    def anchors(self) -> list[Anchor]:
        """The heads that could be read, ``ledger.head`` first."""
        anchors: list[Anchor] = []
        if self.head is not None:
            anchors.append(self.head.anchor(HEAD_FILE_NAME))
        if self.witness is not None:
            anchors.append(self.witness.anchor(f"the witness {self.witness_file}"))
        return anchors


def read_heads(reports_dir: Path) -> HeadReadings:
    """Read ``ledger.head`` and its witness; what cannot be read is kept as its error."""
    head: LedgerHead | None = None
    head_error: DrillError | None = None
    try:
        head = read_head(head_path(reports_dir))
    except DrillError as error:
        head_error = error
    witness_file = witness_path(reports_dir)
    witness: LedgerHead | None = None
    witness_error: DrillError | None = None
    try:
        witness = read_head(witness_file)
    except DrillError as error:
        witness_error = error
    return HeadReadings(
        head=head,
        head_error=head_error,
        witness_file=witness_file,
        witness=witness,
        witness_error=witness_error,
        witness_kept=witness_record_path(reports_dir).exists(),
    )


def _read_anchors(reports_dir: Path) -> list[Anchor]:
    """``ledger.head`` and the witness, as they stand before an append."""
    readings = read_heads(reports_dir)
    for error in (readings.head_error, readings.witness_error):
        if error is not None:
            raise LedgerMismatch(
                f"refusing to append: {error}; run: drill evidence verify"
            ) from error
    if readings.witness is None and readings.witness_kept:
        raise LedgerMismatch(
            f"refusing to append: the witness copy of the head {readings.witness_file} is "
            "missing, though this machine kept one for this ledger; run: drill evidence verify"
        )
    return readings.anchors


def _find_chain_end(descriptor: int, path: Path, anchors: Sequence[Anchor]) -> tuple[int, str]:
    """The next ``seq`` and the ``prev`` it links to, once the end matches every head.

    A last line without its newline is a write torn by a crash when every head still
    names the line before it (the head moves only after a line is on disk): it is cut
    off. Anything else the heads do not vouch for is refused, and nothing is changed.
    """
    size = os.fstat(descriptor).st_size
    tail = _read_tail(descriptor, size) if size else b""
    complete_tail = tail[: tail.rfind(b"\n") + 1]
    torn = len(tail) - len(complete_tail)
    end_seq, end_digest = 0, GENESIS
    if complete_tail:
        last = _parse_line(0, complete_tail[:-1].rsplit(b"\n", 1)[-1], complete=True)
        if last.entry is None:
            raise LedgerMismatch(
                f"refusing to append to {path}: its last line is not a valid entry "
                f"({last.problem}); run: drill evidence verify"
            )
        end_seq, end_digest = last.entry.seq, last.digest
        # Every completed append wrote the head; only a first append torn before it
        # leaves a ledger without one, and that has no complete line.
        if not any(anchor.source == HEAD_FILE_NAME for anchor in anchors):
            raise LedgerMismatch(
                f"refusing to append to {path}: {path.with_name(HEAD_FILE_NAME)} is missing, so "
                "the ledger's end cannot be checked; run: drill evidence verify"
            )
    for anchor in anchors:
        problem = _disagreement(descriptor, size - torn, end_seq, end_digest, anchor)
        if problem is not None:
            cut = " (and its last line is cut off)" if torn else ""
            raise LedgerMismatch(
                f"refusing to append to {path}: {problem}{cut}; appending would hide it; "
                "run: drill evidence verify"
            )
    if torn:
        # Only the write after the last completed append can be torn, and each
        # completed append moved every head to its own line.
        behind = [anchor.source for anchor in anchors if anchor.seq != end_seq]
        if behind:
            raise LedgerMismatch(
                f"refusing to append to {path}: its last line is cut off, and "
                f"{' and '.join(behind)} do not name the line before it, so it is not a "
                "write torn by a crash; run: drill evidence verify"
            )
        os.ftruncate(descriptor, size - torn)
        os.fsync(descriptor)
    return end_seq + 1, end_digest


def _disagreement(
    descriptor: int, size: int, end_seq: int, end_digest: str, anchor: Anchor
) -> str | None:
    """Why the ledger's first ``size`` bytes, ending at ``end_seq``, contradict ``anchor``."""
    if anchor.seq > end_seq:
        return f"the ledger ends at entry {end_seq} but {anchor.source} records entry {anchor.seq}"
    if anchor.seq == end_seq:
        digest: str | None = end_digest
    else:
        # A head one or more appends behind (an append interrupted before it moved
        # them): the entry it names must still be in the ledger, unchanged.
        digest = _digest_of_entry(descriptor, size, anchor.seq)
    if digest is None:
        return f"entry {anchor.seq}, which {anchor.source} records, is not in the ledger"
    if digest != anchor.digest:
        return f"entry {anchor.seq} differs from the one {anchor.source} records"
    return None


def _digest_of_entry(descriptor: int, size: int, seq: int) -> str | None:
    # Rare (a head behind the ledger), so reading the whole ledger is affordable.
    lines = parse_ledger(os.pread(descriptor, size, 0))
    return next(
        (line.digest for line in lines if line.entry is not None and line.entry.seq == seq),
        None,
    )


def _read_tail(descriptor: int, size: int) -> bytes:
    # Enough of the end of the file to hold its last two lines (one may be torn).
    length = min(size, _TAIL_CHUNK)
    while True:
        tail = os.pread(descriptor, length, size - length)
        if length == size or tail[:-1].count(b"\n") >= 2:
            return tail
        length = min(size, length * 4)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def _write_head(
    reports_dir: Path,
    seq: int,
    digest: str,
    *,
    signing_key: SigningKey | None,
    now: datetime | None,
) -> None:
    head = LedgerHead(
        v=ENTRY_VERSION, seq=seq, digest=digest, updated_utc=format_utc(now or datetime.now(UTC))
    )
    content = seal(head.model_dump(mode="json", exclude={"sig"}), signing_key) + b"\n"
    write_atomically(head_path(reports_dir), content)
    # The witness is a second opinion, not a precondition: a state directory that
    # cannot be written must not lose the run's entry, which is already on disk.
    with contextlib.suppress(OSError):
        witness = witness_path(reports_dir)
        witness.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(witness, content)
        record = witness_record_path(reports_dir)
        if not record.exists():
            location = str(reports_dir.resolve()) + "\n"
            write_atomically(record, location.encode("utf-8"))


def _parse_line(number: int, raw: bytes, *, complete: bool) -> LedgerLine:
    digest = digest_bytes(raw)
    entry: AnyEntry | None = None
    problem: str | None = None
    try:
        entry = _ENTRY_ADAPTER.validate_json(raw)
    except ValidationError as error:
        problem = first_problem(error)
    return LedgerLine(
        number=number,
        raw=raw,
        digest=digest,
        entry=entry,
        problem=problem,
        complete=complete,
    )


def _relative_run_dir(reports_dir: Path, run_dir: Path) -> str:
    return _relative_dir(reports_dir, run_dir, depth=2)


def _relative_dir(reports_dir: Path, run_dir: Path, *, depth: int) -> str:
    try:
        relative = run_dir.resolve().relative_to(reports_dir.resolve())
    except ValueError:
        raise InvalidInput(f"{run_dir} is not a run directory inside {reports_dir}") from None
    if len(relative.parts) != depth or not all(map(is_plain_name, relative.parts)):
        shape = "<drill>/<run-id>" if depth == 2 else "gamedays/<name>/<id>"
        raise InvalidInput(f"{run_dir} is not a {shape} directory of {reports_dir}")
    return relative.as_posix()


def _digest_report(reports_dir: Path, run_dir: Path, relative: str) -> ReportDigests:
    try:
        directory = open_directory(reports_dir, relative)
    except FileNotFoundError:
        raise InvalidInput(f"{run_dir}: no such run directory") from None
    try:
        return _digest_open_report(directory, run_dir, relative)
    finally:
        os.close(directory)


def _digest_open_report(directory: int, run_dir: Path, relative: str) -> ReportDigests:
    manifest_path = run_dir / MANIFEST_FILE_NAME
    try:
        with os.fdopen(
            open_regular(MANIFEST_FILE_NAME, dir_fd=directory, shown=manifest_path), "rb"
        ) as stream:
            manifest_bytes = stream.read()
    except FileNotFoundError:
        raise InvalidInput(
            f"{run_dir}: the report is incomplete (no {MANIFEST_FILE_NAME})"
        ) from None
    try:
        listed = decode_manifest(manifest_bytes).files
    except ValidationError as error:
        raise InvalidInput(
            f"{manifest_path}: not a report manifest ({first_problem(error)})"
        ) from error
    files: dict[str, str] = {}
    for name, expected in sorted(listed.items()):
        if not is_plain_name(name):
            raise InvalidInput(
                f"{manifest_path}: lists {name!r}, which is not a file of the report directory"
            )
        try:
            actual = digest_regular(name, dir_fd=directory, shown=run_dir / name)
        except FileNotFoundError:
            raise InvalidInput(
                f"{run_dir / name}: listed in {MANIFEST_FILE_NAME} but missing"
            ) from None
        if actual != expected:
            raise DrillError(
                f"{run_dir / name} no longer matches {MANIFEST_FILE_NAME}: "
                "the report changed after it was written; it is not entered in the ledger"
            )
        files[name] = actual
    # Files beside the report that its manifest does not list (the start note) are
    # part of the run directory an auditor receives, so the entry vouches for them too.
    # Anything there that is not a regular file (a link to a key, a FIFO) is refused:
    # the entry must vouch for every name an auditor will see.
    for name in sorted(os.listdir(directory)):
        if name in files or name == MANIFEST_FILE_NAME or name.startswith("."):
            continue
        files[name] = digest_regular(name, dir_fd=directory, shown=run_dir / name)
    return ReportDigests(dir=relative, manifest_sha256=digest_bytes(manifest_bytes), files=files)


def _summarise(measurement: MeasurementDocument) -> MeasuredValue:
    return MeasuredValue(
        seconds=measurement.seconds,
        bound=measurement.bound.value if measurement.bound is not None else None,
        resolution_seconds=measurement.resolution_seconds,
        objective_seconds=measurement.objective_seconds,
        met=measurement.met,
    )


def _started_key(run_dir: Path) -> tuple[str, str]:
    try:
        started = read_report_document(run_dir / REPORT_FILE_NAME).started_utc
    except InvalidInput:
        started = ""
    return started, run_dir.name

"""``drill evidence verify``: recompute the ledger's chain and every report's digests.

Verification answers the auditor's question "was anything altered, removed, reordered
or left out?" and, when something was, says exactly what: the ledger line, the run and
the file. It reads the ledger (:mod:`drillkit.evidence.ledger`) and the report
directories and never writes.

What each kind of tampering looks like, and how it is found:

- **a report file altered**: its SHA-256 differs from the one in the run's entry;
- **a file or a run directory removed**: the entry names it and it is not there;
- **a ledger line altered**: it no longer parses as an entry, or the chain breaks
  around it. A line's bytes are linked from the next line's ``prev``; when that link
  breaks, either this line changed or the next line's link did, and whichever one's
  own digest is still vouched for (by the line after it, or by a head) is the intact
  one. The last line has no successor, so the head vouches for it;
- **an entry removed**: a gap in ``seq``;
- **entries reordered**: ``seq`` does not follow the line order, while the chain,
  followed by ``seq``, is intact;
- **the tail truncated**: the ledger ends before the entry a head records. Heads are
  kept outside the chain: ``ledger.head`` beside it, the witness copy in the state
  directory, and any ``SEQ:DIGEST`` the auditor kept from an earlier export. A witness
  that the state directory notes it kept, and that is gone, is itself a problem;
- **a run left out**: a report directory exists that no entry names;
- **a file added or a link planted**: a run directory holds a file its entry does not
  record, or a link or special file where a report file or the run directory was
  (every file is opened without following links, so a link never stands in for the
  bytes the entry vouched for);
- **a game day altered**: its files are checked like a run's, and each drill run it
  links must be the entry it names;
- **forged or re-signed entries**: with a public key, every entry and the head must
  carry a valid signature by that key.

Chain checks always cover the whole ledger (a later entry is only as good as the
chain before it, and they are cheap); ``since`` limits the costly part, re-reading
report files, and the search for runs left out, to runs started since that time.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final, TypedDict

from drillkit.errors import InvalidInput
from drillkit.evidence.ledger import (
    GAMEDAYS_DIR_NAME,
    GENESIS,
    HEAD_FILE_NAME,
    Anchor,
    GameDayEntry,
    LedgerHead,
    LedgerLine,
    NotRegularFile,
    RunEntry,
    Signature,
    digest_regular,
    find_run_dirs,
    head_path,
    is_plain_name,
    ledger_path,
    open_directory,
    read_heads,
    read_ledger,
    signed_payload,
    witness_record_path,
)
from drillkit.model.timeline import parse_utc
from drillkit.reporting.document import REPORT_FILE_NAME, read_report_document
from drillkit.reporting.writer import MANIFEST_FILE_NAME, STARTED_FILE_NAME
from drillkit.signing import VerifyKey

_SHORT: Final = 12


class ProblemKind(StrEnum):
    """What was found; every kind fails verification."""

    FILE_ALTERED = "file altered"
    FILE_MISSING = "file missing"
    RUN_REMOVED = "run removed"
    LINE_ALTERED = "line altered"
    LINE_UNREADABLE = "line unreadable"
    ENTRY_REMOVED = "entry removed"
    DUPLICATED = "entry duplicated"
    REORDERED = "entries reordered"
    TRUNCATED = "ledger truncated"
    LEFT_OUT = "run left out"
    BAD_SIGNATURE = "bad signature"
    UNSIGNED = "not signed"
    HEAD = "head missing or damaged"
    NOT_REGULAR = "link or special file"
    FILE_ADDED = "file added"
    OVERWRITTEN = "overwritten in the store"
    DELETE_MARKER = "delete marker in the store"


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One finding of tampering, in one line, with what it concerns."""

    kind: ProblemKind
    message: str
    line: int | None = None
    """The ledger line concerned, when there is one."""
    run: str | None = None
    """``<drill>/<run-id>`` of the run concerned, when there is one."""
    file: str | None = None
    """The report file concerned, when there is one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Verification:
    """The result of one verification: counts, the head, problems and notices."""

    ledger: Path | str
    """The ledger file, or the evidence store's ``s3://.../ledger/``."""
    entries: int
    runs: int
    skips: int
    gamedays: int
    findings: int
    """Finding entries: a finding opened, noted or closed."""
    runs_checked: int
    """Runs whose report files were re-read (all, or those since ``since``)."""
    head: LedgerHead | None
    problems: tuple[Problem, ...]
    notices: tuple[str, ...]
    """Worth knowing, not tampering: an interrupted run, a head behind by one append."""

    @property
    def intact(self) -> bool:
        return not self.problems


class KindCounts(TypedDict):
    runs: int
    skips: int
    gamedays: int
    findings: int


def count_kinds(lines: Iterable[LedgerLine]) -> KindCounts:
    """How many entries of each kind ``lines`` hold, as ``Verification`` counts them."""
    kinds = Counter(line.entry.kind for line in lines if line.entry is not None)
    return {
        "runs": kinds["run"],
        "skips": kinds["skip"],
        "gamedays": kinds["gameday"],
        "findings": kinds["finding"],
    }


def parse_anchor(text: str) -> Anchor:
    """``SEQ:DIGEST`` (as ``verify`` and every bundle manifest print it) as an Anchor."""
    seq_text, _, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if (
        not seq_text.isdigit()
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise InvalidInput(f"--head {text!r}: expected SEQ:DIGEST, e.g. 42:3f1c... (64 hex digits)")
    return Anchor(seq=int(seq_text), digest=digest, source=f"the head you gave ({text.strip()})")


def verify_ledger(
    reports_dir: Path,
    *,
    since: datetime | None = None,
    verify_key: VerifyKey | None = None,
    anchors: Sequence[Anchor] = (),
    verify_keys: Sequence[VerifyKey] = (),
    lines: Sequence[LedgerLine] | None = None,
) -> Verification:
    """Check the ledger of ``reports_dir`` and the reports it vouches for.

    Signatures are checked with ``verify_key`` and every key of ``verify_keys``: an
    entry verifies under the one its signature names (one key per runner). ``lines``
    is the ledger as the caller already read it (:func:`read_ledger`); read here when
    None."""
    keys = [*([verify_key] if verify_key is not None else []), *verify_keys]
    if lines is None:
        lines = read_ledger(reports_dir)
    problems: list[Problem] = []
    notices: list[str] = []
    by_seq = _index_by_seq(lines)

    problems += _check_lines(lines)
    problems += _check_order(lines, by_seq)
    head, head_anchors = _read_heads(reports_dir, lines, problems, notices)
    all_anchors = [*head_anchors, *anchors]
    problems += _one_per_line(
        [*_check_links(by_seq, all_anchors), *_check_anchors(by_seq, all_anchors)]
    )
    if head is not None and by_seq and head.seq < max(by_seq):
        notices.append(
            f"entries {head.seq + 1}-{max(by_seq)} were appended after {HEAD_FILE_NAME} was "
            "last written (an append interrupted before it moved the head?)"
        )
    problems += _check_signatures(lines, head, keys, notices)

    run_lines = [line for line in lines if isinstance(line.entry, RunEntry)]
    checked = [line for line in run_lines if _is_since(line, since)]
    gameday_lines = [line for line in lines if isinstance(line.entry, GameDayEntry)]
    for line in [*checked, *(line for line in gameday_lines if _is_since(line, since))]:
        problems += _check_run_files(reports_dir, line)
    problems += check_gameday_runs(gameday_lines, by_seq, notices)
    problems += _find_left_out(reports_dir, run_lines, since, notices)
    notices += _find_unentered_gamedays(reports_dir, gameday_lines)

    return Verification(
        ledger=ledger_path(reports_dir),
        entries=len(lines),
        **count_kinds(lines),
        runs_checked=len(checked),
        head=head,
        problems=tuple(problems),
        notices=tuple(notices),
    )


def _index_by_seq(lines: Sequence[LedgerLine]) -> dict[int, LedgerLine]:
    # The first line holding each seq; duplicates are reported by _check_order.
    by_seq: dict[int, LedgerLine] = {}
    for line in lines:
        if line.entry is not None and line.complete:
            by_seq.setdefault(line.entry.seq, line)
    return by_seq


def _check_lines(lines: Sequence[LedgerLine]) -> list[Problem]:
    problems: list[Problem] = []
    for line in lines:
        if not line.complete:
            problems.append(
                Problem(
                    kind=ProblemKind.TRUNCATED,
                    message=f"ledger line {line.number} is cut off (it has no end of line): "
                    "the ledger was truncated in the middle of an entry",
                    line=line.number,
                )
            )
        elif line.entry is None:
            problems.append(
                _line_problem(
                    ProblemKind.LINE_UNREADABLE,
                    f"ledger line {line.number} is not a valid entry ({line.problem}): "
                    "it was altered",
                    line,
                )
            )
    return problems


def _check_order(lines: Sequence[LedgerLine], by_seq: Mapping[int, LedgerLine]) -> list[Problem]:
    problems: list[Problem] = []
    readable = [line for line in lines if line.entry is not None and line.complete]
    seen: dict[int, LedgerLine] = {}
    for line in readable:
        assert line.entry is not None
        first = seen.setdefault(line.entry.seq, line)
        if first is not line:
            problems.append(
                _line_problem(
                    ProblemKind.DUPLICATED,
                    f"entry {line.entry.seq} appears twice, on lines {first.number} and "
                    f"{line.number}: a line was copied",
                    line,
                )
            )

    misplaced = [
        line for line in readable if line.entry is not None and line.entry.seq != line.number
    ]
    seqs = sorted(by_seq)
    is_permutation = len(readable) == len(lines) and seqs == list(range(1, len(lines) + 1))
    if misplaced and is_permutation:
        # Every entry is there once: only the order changed.
        described = ", ".join(
            f"line {line.number} holds entry {_seq(line)}{_about(line)}" for line in misplaced
        )
        problems.append(
            _line_problem(
                ProblemKind.REORDERED, f"ledger entries were reordered: {described}", misplaced[0]
            )
        )
    else:
        previous: LedgerLine | None = None
        for line in readable:
            if previous is not None and _seq(line) < _seq(previous):
                problems.append(
                    _line_problem(
                        ProblemKind.REORDERED,
                        f"ledger line {line.number} holds entry {_seq(line)}{_about(line)} "
                        f"after entry {_seq(previous)} on line {previous.number}: "
                        "entries were reordered",
                        line,
                    )
                )
            previous = line

    problems += _find_gaps(by_seq)
    return problems


def _find_gaps(by_seq: Mapping[int, LedgerLine]) -> list[Problem]:
    problems: list[Problem] = []
    if not by_seq:
        return problems
    missing = sorted(set(range(1, max(by_seq) + 1)) - set(by_seq))
    for first, last in _runs_of_numbers(missing):
        after = by_seq.get(last + 1)
        before = by_seq.get(first - 1)
        which = f"entry {first}" if first == last else f"entries {first}-{last}"
        context = ""
        if after is not None:
            follows = f"entry {first - 1} on {before.label}" if before is not None else "nothing"
            context = f": entry {last + 1} on {after.label} follows {follows}"
        problems.append(
            Problem(
                kind=ProblemKind.ENTRY_REMOVED,
                message=f"{which} {'is' if first == last else 'are'} missing from the ledger"
                f"{context}; {'it was' if first == last else 'they were'} removed",
                line=after.number if after is not None else None,
            )
        )
    return problems


def _read_heads(
    reports_dir: Path, lines: Sequence[LedgerLine], problems: list[Problem], notices: list[str]
) -> tuple[LedgerHead | None, list[Anchor]]:
    readings = read_heads(reports_dir)
    if readings.head_error is not None:
        problems.append(
            Problem(kind=ProblemKind.HEAD, message=f"{readings.head_error}: it was altered")
        )
    elif readings.head is None and lines:
        problems.append(
            Problem(
                kind=ProblemKind.HEAD,
                message=f"{head_path(reports_dir)} is missing (every append writes it): "
                "it was removed, and a truncated tail could go unnoticed",
            )
        )

    witness_file = readings.witness_file
    if readings.witness_error is not None:
        notices.append(f"the witness copy of the head is unreadable: {readings.witness_error}")
    if readings.witness is None and lines:
        if readings.witness_kept:
            problems.append(
                Problem(
                    kind=ProblemKind.HEAD,
                    message=f"the witness copy of the head {witness_file} is missing, though "
                    f"this machine kept one for this ledger ({witness_record_path(reports_dir)}): "
                    "it was removed, and a truncated tail could go unnoticed",
                )
            )
        else:
            notices.append(
                f"no witness copy of the head on this machine ({witness_file}): the ledger was "
                "written elsewhere or the state directory was reset; truncation is checked "
                f"against {HEAD_FILE_NAME} and the heads you give only"
            )
    return readings.head, readings.anchors


def _check_links(by_seq: Mapping[int, LedgerLine], anchors: Sequence[Anchor]) -> list[Problem]:
    """Where ``prev`` does not match the entry before, decide which of the two changed."""

    def vouched(seq: int) -> bool | None:
        # True: something independent still matches this entry's digest; False:
        # something independent no longer does; None: nothing says either way.
        line = by_seq[seq]
        following = by_seq.get(seq + 1)
        verdicts = [anchor.digest == line.digest for anchor in anchors if anchor.seq == seq]
        if following is not None and following.entry is not None:
            verdicts.append(following.entry.prev == line.digest)
        if not verdicts:
            return None
        return all(verdicts)

    altered: dict[int, str] = {}
    for seq in sorted(by_seq):
        line = by_seq[seq]
        assert line.entry is not None
        if seq == 1:
            if line.entry.prev != GENESIS:
                altered.setdefault(1, "it no longer starts the chain")
            continue
        before = by_seq.get(seq - 1)
        if before is None or line.entry.prev == before.digest:
            continue
        state = vouched(seq)
        if state is False:
            altered.setdefault(seq, "its link to the entry before it no longer matches")
        elif state is True:
            altered.setdefault(seq - 1, f"the link from entry {seq} no longer matches it")
        else:
            altered.setdefault(
                seq - 1,
                f"the link from entry {seq} no longer matches it (or that link was altered)",
            )
    return [
        _line_problem(
            ProblemKind.LINE_ALTERED, f"ledger {by_seq[seq].label} was altered: {why}", by_seq[seq]
        )
        for seq, why in sorted(altered.items())
    ]


def _check_anchors(by_seq: Mapping[int, LedgerLine], anchors: Sequence[Anchor]) -> list[Problem]:
    problems: list[Problem] = []
    last = max(by_seq, default=0)
    truncation_reported = False
    for anchor in anchors:
        if anchor.seq > last and not truncation_reported:
            truncation_reported = True
            cut = (
                f"entry {anchor.seq} was"
                if anchor.seq == last + 1
                else f"entries {last + 1}-{anchor.seq} were"
            )
            problems.append(
                Problem(
                    kind=ProblemKind.TRUNCATED,
                    message=f"the ledger ends at entry {last} but {anchor.source} records entry "
                    f"{anchor.seq}: {cut} cut off the end (truncated)",
                )
            )
        line = by_seq.get(anchor.seq)
        if line is not None and line.digest != anchor.digest:
            problems.append(
                _line_problem(
                    ProblemKind.LINE_ALTERED,
                    f"ledger {line.label} was altered: it differs from the entry "
                    f"{anchor.source} records",
                    line,
                )
            )
    return _unique(problems)


def _check_signatures(
    lines: Sequence[LedgerLine],
    head: LedgerHead | None,
    verify_keys: Sequence[VerifyKey],
    notices: list[str],
) -> list[Problem]:
    if not verify_keys:
        keys = sorted({line.entry.sig.key for line in lines if line.entry and line.entry.sig})
        if keys:
            notices.append(
                f"entries are signed by key {', '.join(keys)}; give --public-key to check "
                "the signatures"
            )
        return []
    problems: list[Problem] = []
    # Entries written before signing was switched on are unsigned, legitimately; from
    # the first signed entry on, every entry must be signed, and the head always.
    # Stripping signatures off the newest entries changes the last digest, which the
    # signed head then no longer matches.
    readable = [line for line in lines if line.entry is not None and line.complete]
    first_signed = next(
        (index for index, line in enumerate(readable) if line.entry and line.entry.sig),
        len(readable),
    )
    if first_signed:
        notices.append(
            f"ledger lines {readable[0].number}-{readable[first_signed - 1].number} are not "
            "signed: they were written before signing was switched on"
        )
    for line in readable[first_signed:]:
        assert line.entry is not None
        problem = check_signature(
            line.entry.sig, json.loads(line.raw), verify_keys, f"ledger {line.label}"
        )
        if problem is not None:
            problems.append(_line_problem(*problem, line))
    if head is not None:
        problem = check_signature(
            head.sig, head.model_dump(mode="json"), verify_keys, HEAD_FILE_NAME
        )
        if problem is not None:
            problems.append(Problem(kind=problem[0], message=problem[1]))
    return problems


def check_signature(
    signature: Signature | None,
    data: Mapping[str, object],
    verify_keys: Sequence[VerifyKey],
    what: str,
) -> tuple[ProblemKind, str] | None:
    """What is wrong with ``signature`` over ``data`` (``what`` names it in the message):
    missing, by none of ``verify_keys``, or not matching; None when it is good."""
    if signature is None:
        return ProblemKind.UNSIGNED, f"{what} is not signed, but a public key was given"
    verify_key = next((k for k in verify_keys if k.fingerprint == signature.key), None)
    if verify_key is None:
        given = ", ".join(key.fingerprint for key in verify_keys)
        return (
            ProblemKind.BAD_SIGNATURE,
            f"{what} is signed by key {signature.key}, not by the given key"
            f"{'s' if len(verify_keys) > 1 else ''} {given}",
        )
    if not verify_key.verify(signature.ed25519, signed_payload(data)):
        return (
            ProblemKind.BAD_SIGNATURE,
            f"{what}: the signature does not match its content: it was altered after signing",
        )
    return None


def _check_run_files(reports_dir: Path, line: LedgerLine) -> list[Problem]:
    """The files of a run's, or a game day's, report against the digests of its entry."""
    entry = line.entry
    assert isinstance(entry, RunEntry | GameDayEntry)
    run = entry.report.dir
    is_gameday = isinstance(entry, GameDayEntry)
    run_dir = _inside(reports_dir, run, gameday=is_gameday)
    if run_dir is None:
        shape = "gamedays/<name>/<id>" if is_gameday else "<drill>/<run-id>"
        return [
            _report_problem(
                ProblemKind.LINE_ALTERED,
                f"ledger {line.label} was altered: its report directory {run!r} is not "
                f"a {shape} directory",
                line,
                run,
            )
        ]
    what = f"game day {run.split('/', 1)[1]}" if is_gameday else f"run {run}"
    try:
        directory = open_directory(reports_dir, run)
    except FileNotFoundError:
        return [
            _report_problem(
                ProblemKind.RUN_REMOVED,
                f"{what} (ledger line {line.number}): its report directory "
                f"{run_dir} is gone: the {'game day' if is_gameday else 'run'} was removed",
                line,
                run,
            )
        ]
    except NotRegularFile as error:
        return [
            _report_problem(
                ProblemKind.NOT_REGULAR,
                f"{what} (ledger line {line.number}): {error}: it was replaced",
                line,
                run,
            )
        ]
    try:
        expected = {MANIFEST_FILE_NAME: entry.report.manifest_sha256, **entry.report.files}
        return _check_directory(directory, run_dir, run, what, line, expected)
    finally:
        os.close(directory)


def _check_directory(
    directory: int,
    run_dir: Path,
    run: str,
    what: str,
    line: LedgerLine,
    expected: Mapping[str, str],
) -> list[Problem]:
    """Compare the files of an opened report directory with the digests its entry holds."""
    where = f"{what} (ledger line {line.number})"

    def problem(kind: ProblemKind, message: str, name: str | None = None) -> Problem:
        return _report_problem(kind, message, line, run, name)

    problems: list[Problem] = []
    # Names for messages only, as strings: a Path per file cost more than its hashing.
    shown_dir = str(run_dir)
    for name, digest in expected.items():
        if not is_plain_name(name):
            problems.append(
                problem(
                    ProblemKind.LINE_ALTERED,
                    f"ledger {line.label} was altered: it names {name!r}, which is not a file "
                    "of a report directory",
                )
            )
            continue
        try:
            actual = digest_regular(name, dir_fd=directory, shown=f"{shown_dir}/{name}")
        except FileNotFoundError:
            problems.append(
                problem(
                    ProblemKind.FILE_MISSING, f"{where}: {name} is missing: it was removed", name
                )
            )
            continue
        except NotRegularFile as error:
            message = str(error).replace(f"{shown_dir}/{name}", name, 1)
            problems.append(problem(ProblemKind.NOT_REGULAR, f"{where}: {message}", name))
            continue
        if actual != digest:
            problems.append(
                problem(
                    ProblemKind.FILE_ALTERED,
                    f"{where}: {name} was altered (SHA-256 {actual[:_SHORT]}..., the ledger "
                    f"recorded {digest[:_SHORT]}...)",
                    name,
                )
            )
    for name in sorted(os.listdir(directory)):
        if name not in expected and not name.startswith("."):
            problems.append(
                problem(
                    ProblemKind.FILE_ADDED,
                    f"{where}: {name} is not part of the recorded report: it was added after "
                    "the run was entered",
                    name,
                )
            )
    return problems


def check_gameday_runs(
    gameday_lines: Sequence[LedgerLine], by_seq: Mapping[int, LedgerLine], notices: list[str]
) -> list[Problem]:
    """Each run a game day links must be the entry it names, before the game day's own."""
    problems: list[Problem] = []
    for line in gameday_lines:
        entry = line.entry
        assert isinstance(entry, GameDayEntry)
        for linked in entry.runs:
            if linked.seq is None:
                notices.append(
                    f"game day {entry.gameday}/{entry.gameday_id}: run {linked.dir} had no "
                    "ledger entry when the game day was entered"
                )
                continue
            target = by_seq.get(linked.seq)
            if target is None:
                continue  # a removed entry is reported as a gap already
            if (
                not isinstance(target.entry, RunEntry)
                or target.entry.report.dir != linked.dir
                or linked.seq >= entry.seq
            ):
                problems.append(
                    Problem(
                        kind=ProblemKind.LINE_ALTERED,
                        message=f"ledger {line.label} or {target.label} was altered: the game "
                        f"day links run {linked.dir} to entry {linked.seq}, which does not "
                        "hold it",
                        line=line.number,
                        run=linked.dir,
                    )
                )
    return problems


def _find_unentered_gamedays(reports_dir: Path, gameday_lines: Sequence[LedgerLine]) -> list[str]:
    recorded = {
        line.entry.report.dir for line in gameday_lines if isinstance(line.entry, GameDayEntry)
    }
    root = reports_dir / GAMEDAYS_DIR_NAME
    if not root.is_dir() or root.is_symlink():
        return []
    return [
        f"game day {path.parent.name}/{path.name} has a report but no ledger entry "
        "(enter game days with append_gameday once their report is written)"
        for path in sorted(root.glob("*/*"))
        if (path / MANIFEST_FILE_NAME).is_file()
        and f"{GAMEDAYS_DIR_NAME}/{path.parent.name}/{path.name}" not in recorded
    ]


def _find_left_out(
    reports_dir: Path,
    run_lines: Sequence[LedgerLine],
    since: datetime | None,
    notices: list[str],
) -> list[Problem]:
    recorded = {line.entry.report.dir for line in run_lines if isinstance(line.entry, RunEntry)}
    problems: list[Problem] = []
    for run_dir in find_run_dirs(reports_dir):
        run = f"{run_dir.parent.name}/{run_dir.name}"
        if run in recorded:
            continue
        has_report = (run_dir / REPORT_FILE_NAME).is_file() or (
            run_dir / MANIFEST_FILE_NAME
        ).is_file()
        if not has_report:
            if (run_dir / STARTED_FILE_NAME).is_file():
                notices.append(
                    f"run {run} started but wrote no report (still running, or killed); "
                    "it has no ledger entry"
                )
            continue
        if since is not None and not _report_started_since(run_dir, since):
            continue
        problems.append(
            Problem(
                kind=ProblemKind.LEFT_OUT,
                message=f"run {run} has a report but no ledger entry: it was left out of the "
                "ledger (or its entry removed)",
                run=run,
            )
        )
    return problems


def _report_started_since(run_dir: Path, since: datetime) -> bool:
    try:
        return parse_utc(read_report_document(run_dir / REPORT_FILE_NAME).started_utc) >= since
    except (InvalidInput, ValueError):
        # A report that cannot be read cannot be dated; better reported than skipped.
        return True


def _is_since(line: LedgerLine, since: datetime | None) -> bool:
    if since is None or not isinstance(line.entry, RunEntry | GameDayEntry):
        return True
    with contextlib.suppress(ValueError):
        return parse_utc(line.entry.started_utc) >= since
    return True


def _inside(reports_dir: Path, relative: str, *, gameday: bool = False) -> Path | None:
    parts = relative.split("/")
    if len(parts) != (3 if gameday else 2) or not all(map(is_plain_name, parts)):
        return None
    if gameday and parts[0] != GAMEDAYS_DIR_NAME:
        return None
    return reports_dir.joinpath(*parts)


def _runs_of_numbers(numbers: Iterable[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for number in numbers:
        if ranges and ranges[-1][1] == number - 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges


def _seq(line: LedgerLine) -> int:
    assert line.entry is not None
    return line.entry.seq


def _about(line: LedgerLine) -> str:
    run = _run_of(line)
    return f" (run {run})" if run else ""


def _line_problem(kind: ProblemKind, message: str, line: LedgerLine) -> Problem:
    """A problem with one ledger line: it names the line and the run its entry records."""
    return Problem(kind=kind, message=message, line=line.number, run=_run_of(line))


def _report_problem(
    kind: ProblemKind, message: str, line: LedgerLine, run: str, file: str | None = None
) -> Problem:
    """A problem with the report an entry vouches for, in ``run`` (its directory)."""
    return Problem(kind=kind, message=message, line=line.number, run=run, file=file)


def _run_of(line: LedgerLine) -> str | None:
    return line.entry.report.dir if isinstance(line.entry, RunEntry) else None


def _one_per_line(problems: Iterable[Problem]) -> list[Problem]:
    # Several witnesses may blame the same line; one message per altered line is enough.
    blamed: set[int] = set()
    kept: list[Problem] = []
    for problem in problems:
        if problem.kind is ProblemKind.LINE_ALTERED and problem.line is not None:
            if problem.line in blamed:
                continue
            blamed.add(problem.line)
        kept.append(problem)
    return kept


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[str] = set()
    unique: list[Problem] = []
    for problem in problems:
        if problem.message not in seen:
            seen.add(problem.message)
            unique.append(problem)
    return unique


__all__ = [
    "Anchor",
    "Problem",
    "ProblemKind",
    "Verification",
    "parse_anchor",
    "verify_ledger",
]

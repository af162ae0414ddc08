"""The evidence store: one ledger for a fleet of runners, on S3 with Object Lock.

A local ledger (:mod:`drillkit.evidence.ledger`) is one file on one host: two runners on
two machines fork it, and whoever can write the file can cut its history. The store
keeps the same chain in a bucket, ``s3://bucket/prefix``:

- ``<prefix>/reports/<drill>/<run-id>/<file>``: every file of a run's report, uploaded
  before its entry, each with its SHA-256 in the object's metadata;
- ``<prefix>/ledger/<N, 12 digits>``: entry N, whose bytes are exactly the canonical
  line a local ledger would hold (same models, same ``prev`` and ``sig`` rules, plus
  the cluster and the runner), so one reading of an entry serves both.

Every object is written under Object Lock retention (compliance or governance, for the
days configured): a locked version cannot be deleted or changed before it expires.
Entry N is written with ``If-None-Match: *`` and only ever with ``prev`` the digest of
entry N-1 as read: a runner that loses the race for N re-reads the end, rebuilds its
entry on the new predecessor (new ``seq``, ``prev`` and signature) and tries N+1, so
no two entries claim one number and no number is skipped.

Locking is not everything a bucket allows. A plain delete adds a *delete marker* over
a locked version, a plain write adds a *new version* over it, and a write for a new
key succeeds again over a delete marker. So :func:`verify_store` reads every version:
entry N is its oldest version, the chain is judged on those originals, and any later
version or delete marker is reported. Each runner keeps the newest entry it saw (a
*witness*, as for a local ledger) in its state directory, keyed by the store's URL, so
an end that went missing is found; the same place caches entries already verified, so
a second verification fetches only what is new.

It sits in ``evidence``, above ``drivers.objectstore``, which speaks S3.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlparse

from pydantic import ValidationError

from drillkit.drivers.objectstore import (
    ObjectExists,
    ObjectMissing,
    ObjectVersion,
    Retention,
    RetentionMode,
    S3Store,
    StorageError,
)
from drillkit.errors import DrillError, InvalidInput
from drillkit.evidence.ledger import (
    ENTRY_VERSION,
    GENESIS,
    AnyEntry,
    GameDayEntry,
    LedgerHead,
    LedgerLine,
    Origin,
    RunEntry,
    digest_bytes,
    entry_payload,
    is_plain_name,
    open_directory,
    open_regular,
    parse_entry,
    read_head,
    read_ledger,
    seal,
    without_unset,
)
from drillkit.evidence.sources import RecordedFile
from drillkit.evidence.verify import (
    Anchor,
    Problem,
    ProblemKind,
    Verification,
    check_gameday_runs,
    check_signature,
    count_kinds,
)
from drillkit.files import state_home, write_atomically
from drillkit.model.timeline import format_utc, parse_utc
from drillkit.reporting.document import (
    REPORT_FILE_NAME,
    ReportDocument,
    ReportSummary,
    parse_report_document,
    read_report_document,
    summarise_report,
)
from drillkit.reporting.writer import LATEST, MANIFEST_FILE_NAME, latest_report, match_run
from drillkit.signing import SigningKey, VerifyKey

LEDGER_PREFIX: Final = "ledger/"
REPORTS_PREFIX: Final = "reports/"
MAX_ATTEMPTS: Final = 100
"""Tries to claim an entry before giving up: each lost try means another runner won."""
DEFAULT_RETENTION: Final = Retention(mode=RetentionMode.GOVERNANCE, days=366)
_ENTRY_KEY: Final = re.compile(r"^ledger/(\d{12})$")
_SHORT: Final = 12
_READ_BATCH: Final = 64
"""Report files fetched together: parallel, with a bounded number held in memory."""
Key = TypeVar("Key")


def entry_key(seq: int) -> str:
    return f"{LEDGER_PREFIX}{seq:012d}"


def is_store_url(text: str) -> bool:
    return text.startswith("s3://")


class EvidenceStore:
    """An evidence store named by ``s3://bucket/prefix``, its endpoint and credentials
    taken as the backup stores take them (``$DRILLKIT_S3_ENDPOINT``, boto3's chain)."""

    def __init__(
        self,
        url: str,
        *,
        retention: Retention | None = DEFAULT_RETENTION,
        endpoint_url: str | None = None,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInput(f"--evidence {url!r}: expected s3://bucket/prefix")
        prefix = parsed.path.strip("/")
        self.url = f"s3://{parsed.netloc}/{prefix}" if prefix else f"s3://{parsed.netloc}"
        self.retention = retention
        self._s3 = S3Store(parsed.netloc, prefix, endpoint_url=endpoint_url)

    # -- appending ----------------------------------------------------------------------

    def push(
        self,
        reports_dir: Path,
        line: LedgerLine,
        *,
        signing_key: SigningKey | None,
        runner: str | None = None,
        now: datetime | None = None,
        stored_seqs: Mapping[int, int] | None = None,
    ) -> AnyEntry:
        """Enter the local ledger's entry ``line`` in the store: its report first, then
        the entry, re-chained on the store's end and naming where it came from.

        A game day's links to its runs name their entries in the store, by
        ``stored_seqs`` (local entry number to store entry number); a run not in the
        store is linked to no entry, as a run without a ledger entry is."""
        local = line.entry
        if local is None:
            raise DrillError(f"ledger line {line.number} is not a valid entry; it is not pushed")
        cluster: str | None = None
        if isinstance(local, RunEntry | GameDayEntry):
            self.upload_report(reports_dir, local)
            if isinstance(local, RunEntry):
                cluster = _cluster_of(reports_dir / local.report.dir)
        fields = entry_payload(local)
        for name in ("seq", "prev", "recorded_utc"):
            fields.pop(name)
        if isinstance(local, GameDayEntry):
            fields["runs"] = [
                {**linked, "seq": (stored_seqs or {}).get(linked["seq"])}
                for linked in fields["runs"]
            ]
        fields.update(
            cluster=cluster,
            runner=runner or runner_identity(),
            origin=Origin(seq=local.seq, digest=line.digest).model_dump(mode="json"),
        )
        return self.claim(fields, signing_key=signing_key, now=now)

    def upload_report(self, reports_dir: Path, entry: RunEntry | GameDayEntry) -> None:
        """Upload every file the entry vouches for, each checked against its digest first.

        A file already in the store with the same digest is left as it is (a retried
        push, or a sync after a runner died before its entry); one that differs is refused.
        """
        relative = entry.report.dir
        expected = {MANIFEST_FILE_NAME: entry.report.manifest_sha256, **entry.report.files}
        directory = open_directory(reports_dir, relative)
        try:
            for name, digest in sorted(expected.items()):
                if not is_plain_name(name):
                    raise DrillError(f"{relative}: the entry names {name!r}, not a report file")
                shown = reports_dir / relative / name
                with os.fdopen(open_regular(name, dir_fd=directory, shown=shown), "rb") as f:
                    data = f.read()
                if digest_bytes(data) != digest:
                    raise DrillError(f"{shown} no longer matches its ledger entry; not uploaded")
                key = f"{REPORTS_PREFIX}{relative}/{name}"
                try:
                    self._s3.put_new(key, data, retention=self.retention)
                except ObjectExists:
                    if self._s3.digest_of(key) != digest:
                        raise DrillError(
                            f"{self.url}/{key} exists with other content; {shown} is not "
                            "uploaded over it"
                        ) from None
        finally:
            os.close(directory)

    def claim(
        self,
        fields: Mapping[str, object],
        *,
        signing_key: SigningKey | None,
        now: datetime | None = None,
    ) -> AnyEntry:
        """Write the entry ``fields`` describe as the next one, racing other runners.

        Each try builds the entry on the end as read; a lost race (another runner wrote
        that number first) re-reads the end and tries the next number.
        """
        seq, prev = self.find_end()
        for attempt in range(MAX_ATTEMPTS):
            data = {
                **without_unset(fields),
                "v": ENTRY_VERSION,
                "seq": seq + 1,
                "prev": prev,
                "recorded_utc": format_utc(now or datetime.now(UTC)),
            }
            body = seal(data, signing_key)
            try:
                self._s3.put_new(entry_key(seq + 1), body, retention=self.retention)
            except ObjectExists:
                # Jittered, growing pauses: runners that collided do not collide again
                # in step.
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(attempt, 6))))
                seq, prev = self.find_end(known=seq + 1)
                continue
            self.note_head(seq + 1, digest_bytes(body), signing_key)
            entry = parse_entry(seq + 1, body).entry
            assert entry is not None
            return entry
        raise DrillError(
            f"could not enter an entry in the evidence store {self.url}: another runner "
            f"claimed each of {MAX_ATTEMPTS} numbers first; try again"
        )

    def find_end(self, *, known: int = 0) -> tuple[int, str]:
        """The newest entry's number and digest (0 and GENESIS for an empty store).

        Starts from what this runner last saw (its witness) or ``known`` (a number found
        taken), and looks forward one number at a time; a runner that saw nothing yet
        lists the entries once instead.
        """
        witness = self.read_witness()
        start = max(known, witness.seq if witness else 0)
        if start == 0:
            numbers = [
                int(match.group(1))
                for key in self._s3.keys(LEDGER_PREFIX)
                if (match := _ENTRY_KEY.match(key))
            ]
            start = max(numbers, default=0)
        seq = start
        while self._s3.exists(entry_key(seq + 1)):
            seq += 1
        if seq == 0:
            return 0, GENESIS
        try:
            digest = digest_bytes(self._s3.get(entry_key(seq)))
        except ObjectMissing:
            raise DrillError(
                f"refusing to append to {self.url}: entry {seq}, which this runner saw, is "
                "gone (a delete marker hides it); run: drill evidence verify --evidence "
                f"{self.url}"
            ) from None
        if witness is not None and witness.seq == seq and witness.digest != digest:
            raise DrillError(
                f"refusing to append to {self.url}: entry {seq} differs from the one this "
                f"runner saw ({witness_file(self.url)}); run: drill evidence verify "
                f"--evidence {self.url}"
            )
        return seq, digest

    # -- the witness ----------------------------------------------------------------------

    def read_witness(self) -> LedgerHead | None:
        try:
            return read_head(witness_file(self.url))
        except DrillError:
            return None

    def note_head(self, seq: int, digest: str, signing_key: SigningKey | None = None) -> None:
        """Keep ``seq`` as the newest entry this machine saw, unless it saw a newer one."""
        # A second opinion: a state directory that cannot be written must not fail an
        # entry that is in the store already.
        path = witness_file(self.url)
        with contextlib.suppress(OSError), _locked(path.with_suffix(".lock")):
            current = self.read_witness()
            if current is not None and current.seq >= seq:
                return
            head = LedgerHead(
                v=ENTRY_VERSION, seq=seq, digest=digest, updated_utc=format_utc(datetime.now(UTC))
            )
            content = seal(head.model_dump(mode="json", exclude={"sig"}), signing_key)
            write_atomically(path, content + b"\n")
            record = path.with_suffix(".store")
            if not record.exists():
                write_atomically(record, f"{self.url}\n".encode())

    # -- reading -------------------------------------------------------------------------

    def read_entries(self) -> StoreEntries:
        """Every entry's original (its oldest version), read once and cached after."""
        versions = self._s3.versions(LEDGER_PREFIX)
        by_key: dict[str, list[ObjectVersion]] = defaultdict(list)
        for version in versions:
            by_key[version.key].append(version)
        originals: dict[int, ObjectVersion] = {}
        later: dict[int, list[ObjectVersion]] = {}
        strays: list[str] = []
        for key, listed in sorted(by_key.items()):
            match = _ENTRY_KEY.match(key)
            if match is None:
                strays.append(key)
                continue
            number = int(match.group(1))
            written = [version for version in listed if not version.delete_marker]
            if written:
                originals[number] = written[0]
                later[number] = listed[listed.index(written[0]) + 1 :]
            else:
                later[number] = list(listed)
        contents, errors = self.read_versions(
            {number: (version.key, version.version_id) for number, version in originals.items()}
        )
        return StoreEntries(
            lines={number: parse_entry(number, raw) for number, raw in sorted(contents.items())},
            unreadable=errors,
            later=later,
            strays=strays,
        )

    def read_versions(
        self, wanted: Mapping[Key, tuple[str, str]], *, kind: str = "entries"
    ) -> tuple[dict[Key, bytes], dict[Key, str]]:
        """Each wanted ``(key, version id)``, from this machine's cache or read in
        parallel (and cached); what cannot be read maps to its error in the second dict."""
        cache = _cache_directory(self.url) / kind
        found: dict[Key, bytes] = {}
        missing: dict[Key, tuple[str, str]] = {}
        for name, item in wanted.items():
            cached = _read_cache(cache, item)
            if cached is None:
                missing[name] = item
            else:
                found[name] = cached
        errors: dict[Key, str] = {}
        fetched = self._s3.get_many(missing.values())
        for name, item in missing.items():
            result = fetched[item]
            if isinstance(result, StorageError):
                errors[name] = str(result)
                continue
            found[name] = result
            with contextlib.suppress(OSError):
                _write_cache(cache, item, result)
        return found, errors

    def report_originals(self) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
        """Each report object's original (its oldest version that is not a delete marker)
        as ``(key, version id)``, and how many versions and markers came after it, keyed
        by its path under ``reports/``."""
        by_key: dict[str, list[ObjectVersion]] = defaultdict(list)
        for version in self._s3.versions(REPORTS_PREFIX):
            by_key[version.key].append(version)
        originals: dict[str, tuple[str, str]] = {}
        later: dict[str, int] = {}
        for key, listed in by_key.items():
            written = [version for version in listed if not version.delete_marker]
            if not written:
                continue
            originals[key] = (key, written[0].version_id)
            later[key] = len(listed) - listed.index(written[0]) - 1
        return originals, later

    def report_digests(self) -> tuple[dict[str, str | StorageError], dict[str, int]]:
        """The digest of each report object's original, and how many versions and
        markers came after it, keyed by its path under ``reports/``."""
        originals, later = self.report_originals()
        cache = _cache_directory(self.url) / "digests"
        digests: dict[str, str | StorageError] = {}
        missing = []
        for key, item in originals.items():
            cached = _read_cache(cache, item)
            if cached is not None:
                digests[key] = cached.decode("ascii")
            else:
                missing.append(item)
        for item, result in self._s3.get_many(missing).items():
            if isinstance(result, StorageError):
                digests[item[0]] = result
                continue
            digest = digest_bytes(result)
            digests[item[0]] = digest
            with contextlib.suppress(OSError):
                _write_cache(cache, item, digest.encode("ascii"))
        return digests, later


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreEntries:
    """The store's entries as read: each number's original, parsed, and what came after."""

    lines: dict[int, LedgerLine]
    unreadable: dict[int, str]
    later: dict[int, list[ObjectVersion]]
    """For each number, the versions and delete markers written after its original."""
    strays: list[str]
    """Objects under ``ledger/`` that are not entries."""


# -- verification --------------------------------------------------------------------------


def verify_store(
    store: EvidenceStore,
    *,
    verify_keys: Sequence[VerifyKey] = (),
    anchors: Sequence[Anchor] = (),
) -> Verification:
    """Check the store's chain, every report it vouches for, and this machine's witness."""
    read = store.read_entries()
    lines = read.lines
    problems: list[Problem] = []
    notices: list[str] = []

    for key in read.strays:
        problems.append(
            Problem(
                kind=ProblemKind.LINE_UNREADABLE,
                message=f"{key} is not an entry (entries are ledger/<12 digits>): it was added",
            )
        )
    for number, error in sorted(read.unreadable.items()):
        problems.append(
            Problem(
                kind=ProblemKind.LINE_UNREADABLE,
                message=f"entry {number} cannot be read: {error}",
                line=number,
            )
        )
    problems += _check_versions(read.later)
    valid: dict[int, LedgerLine] = {}
    for number, line in sorted(lines.items()):
        if line.entry is None:
            problems.append(
                _entry_problem(
                    ProblemKind.LINE_UNREADABLE,
                    f"entry {number} is not a valid entry ({line.problem})",
                    line,
                )
            )
        elif line.entry.seq != number:
            problems.append(
                _entry_problem(
                    ProblemKind.LINE_ALTERED,
                    f"entry {number} claims to be entry {line.entry.seq}: it was forged",
                    line,
                )
            )
        else:
            valid[number] = line
    problems += _check_chain(valid, set(lines) | set(read.unreadable))
    head = _newest(valid)
    witness = store.read_witness()
    all_anchors = list(anchors)
    witness_path = witness_file(store.url)
    if witness is not None:
        all_anchors.insert(0, witness.anchor(f"the witness {witness_path}"))
    elif witness_path.with_suffix(".store").exists():
        problems.append(
            Problem(
                kind=ProblemKind.HEAD,
                message=f"the witness of the newest entry {witness_path} is missing, though "
                "this machine kept one for this store: a cut end could go unnoticed",
            )
        )
    else:
        notices.append(
            f"no witness of this store on this machine ({witness_path}): entries were "
            "written elsewhere; the end is checked against the heads you give only"
        )
    problems += _check_anchors(valid, all_anchors)
    problems += _check_signatures(valid, verify_keys, notices)

    run_lines = [line for line in valid.values() if isinstance(line.entry, RunEntry)]
    report_lines = [
        line for line in valid.values() if isinstance(line.entry, RunEntry | GameDayEntry)
    ]
    digests, later = store.report_digests()
    named: set[str] = set()
    for line in report_lines:
        problems += _check_report(line, digests, later, named)
    notices += _find_not_entered(digests, named)
    gameday_lines = [line for line in valid.values() if isinstance(line.entry, GameDayEntry)]
    problems += check_gameday_runs(gameday_lines, valid, notices)

    if not problems and head is not None:
        # Every reader keeps the newest entry it saw, as every runner does: an end
        # cut off later is then found by any machine that saw it, not only by the
        # runner that wrote it.
        store.note_head(head.seq, head.digest)
    return Verification(
        ledger=f"{store.url}/{LEDGER_PREFIX}",
        entries=len(lines),
        **count_kinds(valid.values()),
        runs_checked=len(run_lines),
        head=head,
        problems=tuple(problems),
        notices=tuple(notices),
    )


def _check_versions(later: Mapping[int, Sequence[ObjectVersion]]) -> list[Problem]:
    problems: list[Problem] = []
    for number, versions in sorted(later.items()):
        markers = sum(1 for version in versions if version.delete_marker)
        written = len(versions) - markers
        if written:
            problems.append(
                Problem(
                    kind=ProblemKind.OVERWRITTEN,
                    message=f"entry {number} was overwritten after it was written: "
                    f"{written + 1} versions; it is judged on its original",
                    line=number,
                )
            )
        if markers:
            problems.append(
                Problem(
                    kind=ProblemKind.DELETE_MARKER,
                    message=f"entry {number} has a delete marker; its locked original is still "
                    "there",
                    line=number,
                )
            )
    return problems


def _check_chain(valid: Mapping[int, LedgerLine], present: set[int]) -> list[Problem]:
    # Originals are locked: an entry whose prev does not match its predecessor's
    # original was written wrong (forged), never the predecessor changed.
    problems: list[Problem] = []
    for number, line in sorted(valid.items()):
        assert line.entry is not None
        if number == 1:
            expected: str | None = GENESIS
        else:
            before = valid.get(number - 1)
            expected = before.digest if before is not None else None
        if expected is not None and line.entry.prev != expected:
            problems.append(
                _entry_problem(
                    ProblemKind.LINE_ALTERED,
                    f"entry {number}{_about(line)} does not link to entry {number - 1}: its "
                    f"prev is {line.entry.prev[:_SHORT]}..., the digest of entry {number - 1} "
                    f"is {expected[:_SHORT]}...: it was forged",
                    line,
                )
            )
    last = max(present, default=0)
    missing = sorted(set(range(1, last + 1)) - present)
    for number in missing:
        problems.append(
            Problem(
                kind=ProblemKind.ENTRY_REMOVED,
                message=f"entry {number} is missing from the store (only delete markers, or "
                "nothing): the chain has a gap",
                line=number,
            )
        )
    return problems


def _check_anchors(valid: Mapping[int, LedgerLine], anchors: Sequence[Anchor]) -> list[Problem]:
    problems: list[Problem] = []
    last = max(valid, default=0)
    for anchor in anchors:
        line = valid.get(anchor.seq)
        if anchor.seq > last:
            problems.append(
                Problem(
                    kind=ProblemKind.TRUNCATED,
                    message=f"the store ends at entry {last} but {anchor.source} records entry "
                    f"{anchor.seq}: its end is gone",
                )
            )
        elif line is not None and line.digest != anchor.digest:
            problems.append(
                _entry_problem(
                    ProblemKind.LINE_ALTERED,
                    f"entry {anchor.seq} differs from the one {anchor.source} records",
                    line,
                )
            )
    return problems


def _check_signatures(
    valid: Mapping[int, LedgerLine], keys: Sequence[VerifyKey], notices: list[str]
) -> list[Problem]:
    ordered = [valid[number] for number in sorted(valid)]
    if not keys:
        signers = sorted({line.entry.sig.key for line in ordered if line.entry and line.entry.sig})
        if signers:
            notices.append(
                f"entries are signed by key {', '.join(signers)}; give --public-key to check "
                "the signatures"
            )
        return []
    first_signed = next(
        (index for index, line in enumerate(ordered) if line.entry and line.entry.sig),
        len(ordered),
    )
    if first_signed:
        notices.append(
            f"entries 1-{ordered[first_signed - 1].number} are not signed: they were written "
            "before signing was switched on"
        )
    problems: list[Problem] = []
    for line in ordered[first_signed:]:
        assert line.entry is not None
        what = f"entry {line.number}{_about(line)}"
        problem = check_signature(line.entry.sig, _json_of(line), keys, what)
        if problem is not None:
            problems.append(_entry_problem(*problem, line))
    return problems


def _check_report(
    line: LedgerLine,
    digests: Mapping[str, str | StorageError],
    later: Mapping[str, int],
    named: set[str],
) -> list[Problem]:
    entry = line.entry
    assert isinstance(entry, RunEntry | GameDayEntry)
    relative = entry.report.dir
    named.add(relative)
    expected = {MANIFEST_FILE_NAME: entry.report.manifest_sha256, **entry.report.files}
    where = f"run {relative} (entry {line.number})"
    problems: list[Problem] = []
    for name, digest in sorted(expected.items()):
        key = f"{REPORTS_PREFIX}{relative}/{name}"
        found = digests.get(key)
        if found is None:
            problems.append(
                Problem(
                    kind=ProblemKind.FILE_MISSING,
                    message=f"{where}: {name} is not in the store",
                    line=line.number,
                    run=relative,
                    file=name,
                )
            )
        elif isinstance(found, StorageError):
            problems.append(
                Problem(
                    kind=ProblemKind.FILE_ALTERED,
                    message=f"{where}: {name} cannot be trusted: {found}",
                    line=line.number,
                    run=relative,
                    file=name,
                )
            )
        elif found != digest:
            problems.append(
                Problem(
                    kind=ProblemKind.FILE_ALTERED,
                    message=f"{where}: {name} differs from its entry (SHA-256 "
                    f"{found[:_SHORT]}..., the entry recorded {digest[:_SHORT]}...)",
                    line=line.number,
                    run=relative,
                    file=name,
                )
            )
        if later.get(key):
            problems.append(
                Problem(
                    kind=ProblemKind.OVERWRITTEN,
                    message=f"{where}: {name} was overwritten or deleted after it was uploaded "
                    f"({later[key]} later versions or delete markers); its original is judged",
                    line=line.number,
                    run=relative,
                    file=name,
                )
            )
    prefix = f"{REPORTS_PREFIX}{relative}/"
    for key in sorted(digests):
        if key.startswith(prefix) and key[len(prefix) :] not in expected:
            problems.append(
                Problem(
                    kind=ProblemKind.FILE_ADDED,
                    message=f"{where}: {key[len(prefix) :]} is not part of the recorded report: "
                    "it was added",
                    line=line.number,
                    run=relative,
                    file=key[len(prefix) :],
                )
            )
    return problems


def _find_not_entered(digests: Mapping[str, object], named: set[str]) -> list[str]:
    directories = sorted({key[len(REPORTS_PREFIX) :].rsplit("/", 1)[0] for key in digests})
    return [
        f"run {directory}: not entered (its report was uploaded but no entry names it: the "
        "runner stopped before it claimed one; push it with: drill evidence sync)"
        for directory in directories
        if directory not in named
    ]


def _newest(valid: Mapping[int, LedgerLine]) -> LedgerHead | None:
    if not valid:
        return None
    line = valid[max(valid)]
    assert line.entry is not None
    return LedgerHead(
        v=ENTRY_VERSION, seq=line.number, digest=line.digest, updated_utc=line.entry.recorded_utc
    )


def _json_of(line: LedgerLine) -> dict[str, object]:
    data: dict[str, object] = json.loads(line.raw)
    return data


def _about(line: LedgerLine) -> str:
    entry = line.entry
    if isinstance(entry, RunEntry):
        return f" (run {entry.report.dir})"
    return ""


def _entry_problem(kind: ProblemKind, message: str, line: LedgerLine) -> Problem:
    run = line.entry.report.dir if isinstance(line.entry, RunEntry) else None
    return Problem(kind=kind, message=message, line=line.number, run=run)


# -- reading, as the reports directory is read ---------------------------------------------


class StoreEvidence:
    """The store as an :class:`~drillkit.evidence.sources.EvidenceSource`: what ``drill
    evidence export`` and ``drill report list|show|trend`` read, taken from the entries'
    originals and the report objects' originals, each file checked against the digest its
    entry recorded (and the object against its own SHA-256). Entries and the version
    listing are read once per instance; files are read in parallel and cached."""

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self._lines: list[LedgerLine] | None = None
        self._originals: dict[str, tuple[str, str]] | None = None
        self._documents: dict[str, ReportDocument] = {}

    @property
    def location(self) -> str:
        return self.store.url

    def verify(
        self, *, since: datetime | None, keys: Sequence[VerifyKey], anchors: Sequence[Anchor]
    ) -> Verification:
        # The store is always verified whole: its report files are read in parallel and
        # their digests cached, so a period gains nothing from re-reading fewer.
        return verify_store(self.store, verify_keys=keys, anchors=anchors)

    def read_lines(self) -> list[LedgerLine]:
        if self._lines is None:
            lines = self.store.read_entries().lines
            self._lines = [lines[number] for number in sorted(lines)]
        return self._lines

    def read_head(self) -> bytes | None:
        # A store has no head file: the head is its newest entry, which the bundle's
        # manifest names.
        return None

    def read_files(self, files: Sequence[RecordedFile]) -> Iterator[Iterable[bytes]]:
        from drillkit.evidence.export import TamperingFound

        for start in range(0, len(files), _READ_BATCH):
            batch = files[start : start + _READ_BATCH]
            for content in self._fetch(batch):
                if isinstance(content, str):
                    raise TamperingFound(content)
                yield (content,)

    def _fetch(self, files: Sequence[RecordedFile]) -> list[bytes | str]:
        """Each file's content, or why it cannot be trusted."""
        if self._originals is None:
            self._originals = self.store.report_originals()[0]
        keys = [f"{REPORTS_PREFIX}{recorded.directory}/{recorded.name}" for recorded in files]
        wanted = {key: self._originals[key] for key in keys if key in self._originals}
        contents, errors = self.store.read_versions(wanted, kind="reports")
        results: list[bytes | str] = []
        for key, recorded in zip(keys, files, strict=True):
            shown = f"{self.store.url}/{key}"
            if key in errors:
                results.append(f"{shown} cannot be trusted: {errors[key]}")
            elif key not in contents:
                results.append(f"{shown} is not in the store, though its ledger entry records it")
            elif (digest := digest_bytes(contents[key])) != recorded.sha256:
                results.append(
                    f"{shown} differs from its ledger entry (SHA-256 {digest[:_SHORT]}..., the "
                    f"entry recorded {recorded.sha256[:_SHORT]}...)"
                )
            else:
                results.append(contents[key])
        return results

    def _runs(self, drill: str | None = None) -> list[RunEntry]:
        return [
            line.entry
            for line in self.read_lines()
            if isinstance(line.entry, RunEntry) and drill in (None, line.entry.drill)
        ]

    def list_reports(self, drill: str | None) -> list[ReportSummary]:
        runs = self._runs(drill)
        wanted = [
            RecordedFile(
                directory=run.report.dir,
                name=REPORT_FILE_NAME,
                sha256=run.report.files.get(REPORT_FILE_NAME, ""),
            )
            for run in runs
        ]
        summaries: list[ReportSummary] = []
        for run, content in zip(runs, self._fetch(wanted), strict=True):
            location = f"{self.store.url}/{REPORTS_PREFIX}{run.report.dir}"
            try:
                if isinstance(content, str):
                    raise InvalidInput(content)
                document = parse_report_document(content, shown=f"{location}/{REPORT_FILE_NAME}")
            except InvalidInput as error:
                summaries.append(_unreadable_summary(run, location, str(error)))
                continue
            self._documents[run.report.dir] = document
            summaries.append(summarise_report(document, Path(run.report.dir), location=location))
        summaries.sort(
            key=lambda summary: (
                summary.started_utc or datetime.min.replace(tzinfo=UTC),
                summary.run_id,
            ),
            reverse=True,
        )
        return summaries

    def read_document(self, summary: ReportSummary) -> ReportDocument:
        directory = summary.report_dir.as_posix()
        if directory not in self._documents:
            entry = {run.report.dir: run for run in self._runs()}[directory]
            self._documents[directory] = parse_report_document(
                self._read_recorded(entry, REPORT_FILE_NAME),
                shown=f"{self.store.url}/{REPORTS_PREFIX}{directory}/{REPORT_FILE_NAME}",
            )
        return self._documents[directory]

    def locate_report(self, run: str) -> str:
        return f"{self.store.url}/{REPORTS_PREFIX}{self._find(run).report.dir}"

    def read_report_file(self, run: str, name: str) -> bytes:
        return self._read_recorded(self._find(run), name)

    def _read_recorded(self, entry: RunEntry, name: str) -> bytes:
        from drillkit.evidence.export import TamperingFound

        recorded = {MANIFEST_FILE_NAME: entry.report.manifest_sha256, **entry.report.files}
        if name not in recorded:
            raise DrillError(f"run {entry.report.dir} has no {name} in its ledger entry")
        (content,) = self._fetch(
            [RecordedFile(directory=entry.report.dir, name=name, sha256=recorded[name])]
        )
        if isinstance(content, str):
            raise TamperingFound(content)
        return content

    def _find(self, run: str) -> RunEntry:
        by_dir = {entry.report.dir: entry for entry in self._runs()}
        if run.strip() == LATEST:
            found = latest_report(self.list_reports(None), None, where=self.store.url)
            return by_dir[found.as_posix()]
        return by_dir[match_run(run, by_dir, where=self.store.url)]


def _unreadable_summary(run: RunEntry, location: str, problem: str) -> ReportSummary:
    # Listed all the same, from its entry: a run never silently disappears.
    return ReportSummary(
        run_id=run.run_id,
        drill=run.drill,
        report_dir=Path(run.report.dir),
        verdict=None,
        status=None,
        started_utc=_moment(run.started_utc),
        rto_seconds=None,
        rto_bound=None,
        rpo_seconds=None,
        rpo_bound=None,
        problem=problem,
        location=location,
    )


def _moment(text: str) -> datetime | None:
    try:
        return parse_utc(text)
    except ValueError:
        return None


# -- sync ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncResult:
    """What ``drill evidence sync`` did: each local entry pushed, and those already there."""

    store: str
    pushed: tuple[tuple[int, int], ...]
    """(local seq, store seq) of each entry entered now, in order."""
    present: int
    """Local entries the store held already."""


def sync_ledger(
    store: EvidenceStore,
    reports_dir: Path,
    *,
    signing_key: SigningKey | None,
    runner: str | None = None,
) -> SyncResult:
    """Push every entry of the local ledger the store lacks, oldest first.

    An entry is in the store when a store entry names it as its origin (its local
    digest), so running twice pushes nothing the second time. A local ledger that does
    not verify is refused: its problems would be copied where they cannot be undone.
    """
    from drillkit.evidence.export import TamperingFound
    from drillkit.evidence.verify import verify_ledger

    local = verify_ledger(reports_dir)
    if not local.intact:
        raise TamperingFound(
            f"{local.ledger} does not verify ({local.problems[0].message}); nothing was "
            "synced: run drill evidence verify"
        )
    pushed, already = _push_missing(
        store, reports_dir, read_ledger(reports_dir), signing_key=signing_key, runner=runner
    )
    return SyncResult(store=store.url, pushed=tuple(pushed), present=already)


def push_appended(
    store: EvidenceStore,
    reports_dir: Path,
    *,
    after: int,
    signing_key: SigningKey | None,
) -> list[tuple[int, int]]:
    """Push the local ledger's entries after number ``after``, those a command has just
    appended (a run, the findings it opened or closed, runs it finalised as interrupted,
    a game day, a skip), oldest first; (local seq, store seq) of each pushed.

    One another process already pushed is left out, as ``sync`` leaves it out.
    """
    pushed, _ = _push_missing(
        store, reports_dir, read_ledger(reports_dir)[after:], signing_key=signing_key, runner=None
    )
    return pushed


def _push_missing(
    store: EvidenceStore,
    reports_dir: Path,
    lines: Sequence[LedgerLine],
    *,
    signing_key: SigningKey | None,
    runner: str | None,
) -> tuple[list[tuple[int, int]], int]:
    # An entry is in the store when a store entry names it as its origin (its digest).
    present = {
        line.entry.origin.digest: line.entry.seq
        for line in store.read_entries().lines.values()
        if line.entry is not None and line.entry.origin is not None
    }
    # Local entry number to store entry number, for game days' links to their runs.
    stored_seqs = {
        line.entry.seq: present[line.digest]
        for line in read_ledger(reports_dir)
        if line.entry is not None and line.digest in present
    }
    pushed: list[tuple[int, int]] = []
    already = 0
    for line in lines:
        if line.entry is None:
            continue
        if line.digest in present:
            already += 1
            continue
        entry = store.push(
            reports_dir, line, signing_key=signing_key, runner=runner, stored_seqs=stored_seqs
        )
        stored_seqs[line.entry.seq] = entry.seq
        pushed.append((line.entry.seq, entry.seq))
    return pushed, already


# -- identities and local state ------------------------------------------------------------


def runner_identity() -> str:
    """Who enters an entry: the pod's name in a pod, else this host's name."""
    pod = os.environ.get("POD_NAME")
    if pod:
        return pod
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.environ.get("HOSTNAME"):
        return os.environ["HOSTNAME"]
    return socket.gethostname()


def _cluster_of(run_dir: Path) -> str | None:
    """The cluster a run acted on, as its report's scope records it; None for none."""
    try:
        scope = read_report_document(run_dir / REPORT_FILE_NAME).scope
    except (InvalidInput, ValidationError):
        return None
    measured = next((c for c in scope.clusters if c.role == "measured"), None)
    chosen = measured or (scope.clusters[0] if scope.clusters else None)
    if chosen is not None:
        uid = f" (kube-system {chosen.kube_system_uid})" if chosen.kube_system_uid else ""
        return f"{chosen.server}{uid}"
    return scope.cluster_server or scope.context


def witness_file(url: str) -> Path:
    """The newest entry this machine saw in the store at ``url``, in its state directory."""
    return state_home() / "evidence" / "witness" / f"store-{_url_key(url)}.head"


def _cache_directory(url: str) -> Path:
    return state_home() / "evidence" / "store-cache" / _url_key(url)


def _url_key(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").encode("utf-8")).hexdigest()[:24]


def _cache_name(item: tuple[str, str]) -> str:
    return hashlib.sha256(f"{item[0]}\0{item[1]}".encode()).hexdigest()[:40]


def _read_cache(directory: Path, item: tuple[str, str]) -> bytes | None:
    # A version never changes, so what was read of it once is what it holds; the file
    # carries its own digest so a damaged cache entry is read again, not trusted.
    try:
        content = (directory / _cache_name(item)).read_bytes()
    except OSError:
        return None
    digest, _, data = content.partition(b"\n")
    if digest.decode("ascii", "replace") != digest_bytes(data):
        return None
    return data


def _write_cache(directory: Path, item: tuple[str, str], data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / _cache_name(item), digest_bytes(data).encode() + b"\n" + data)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


__all__ = [
    "DEFAULT_RETENTION",
    "EvidenceStore",
    "StoreEvidence",
    "SyncResult",
    "push_appended",
    "runner_identity",
    "sync_ledger",
    "verify_store",
    "witness_file",
]

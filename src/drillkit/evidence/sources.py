"""Where evidence is read from: a local reports directory, or the fleet's evidence store.

``drill evidence verify`` and ``export`` and ``drill report list|show|trend`` read the
same things wherever the evidence lives: the ledger's entries, its verification, each
run's report files (checked against the digests the ledger recorded) and report
listings. :class:`EvidenceSource` is that small reading interface; the CLI picks an
implementation once, from ``--evidence``: :class:`LocalEvidence` here, over
``reports/``, or :class:`~drillkit.evidence.store.StoreEvidence` over ``s3://...``.
The commands themselves never ask which one they have.

It sits in ``evidence``, over the ledger, verification and the report readers of
``reporting``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from drillkit.errors import DrillError
from drillkit.evidence.ledger import (
    LedgerLine,
    ReportDigests,
    head_path,
    is_plain_name,
    open_directory,
    open_regular,
    read_ledger,
    read_regular,
)
from drillkit.evidence.verify import Anchor, Verification, verify_ledger
from drillkit.reporting.document import REPORT_FILE_NAME, ReportDocument, ReportSummary
from drillkit.reporting.trend import TrendPoint, load_trend_points
from drillkit.reporting.writer import (
    MANIFEST_FILE_NAME,
    explain_unfinished,
    find_report,
    list_reports,
)
from drillkit.signing import VerifyKey

_CHUNK = 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedFile:
    """A report file as its ledger entry records it: its directory and its digest."""

    directory: str
    """The report directory, relative to the reports tree, as the entry names it."""
    name: str
    sha256: str


class EvidenceSource(Protocol):
    """What reading the evidence needs, wherever it lives."""

    @property
    def location(self) -> str:
        """The reports directory or the store's URL, for messages."""
        ...

    def verify(
        self, *, since: datetime | None, keys: Sequence[VerifyKey], anchors: Sequence[Anchor]
    ) -> Verification:
        """The ledger's chain, heads and every report it vouches for, checked."""
        ...

    def read_lines(self) -> list[LedgerLine]:
        """Every entry of the ledger, in order."""
        ...

    def read_head(self) -> bytes | None:
        """The head file beside the ledger, as stored; None when there is none."""
        ...

    def read_files(self, files: Sequence[RecordedFile]) -> Iterator[Iterable[bytes]]:
        """The content of each file in turn, in chunks; TamperingFound as soon as one
        does not match the digest its entry recorded."""
        ...

    def list_reports(self, drill: str | None) -> list[ReportSummary]:
        """Every run (of ``drill``), newest first, as ``drill report list`` shows it."""
        ...

    def read_document(self, summary: ReportSummary) -> ReportDocument:
        """The ``report.json`` of a listed, readable run."""
        ...

    def locate_report(self, run: str) -> str:
        """Where the report of ``run`` (an id, a unique prefix, or ``latest``) is."""
        ...

    def read_report_file(self, run: str, name: str) -> bytes:
        """One file of the complete report of ``run``; DrillError naming what is wrong
        when the run has none."""
        ...


def recorded_files(report: ReportDigests) -> dict[str, RecordedFile]:
    """The bundle members of one entry's report: ``runs/<dir>/<name>`` for each file it
    records, ``manifest.json`` included; TamperingFound for a name that is not safe."""
    from drillkit.evidence.export import TamperingFound

    parts = report.dir.split("/")
    recorded = {MANIFEST_FILE_NAME: report.manifest_sha256, **report.files}
    unsafe = [name for name in (*parts, *recorded) if not is_plain_name(name)]
    if unsafe:
        raise TamperingFound(
            f"the ledger entry for {report.dir!r} names {unsafe[0]!r}, which is not a plain "
            "file or directory name; nothing was exported"
        )
    return {
        f"runs/{report.dir}/{name}": RecordedFile(directory=report.dir, name=name, sha256=digest)
        for name, digest in sorted(recorded.items())
    }


def trend_points_of(
    source: EvidenceSource, drill: str | None = None, *, since: datetime | None = None
) -> dict[str, list[TrendPoint]]:
    """The runs of ``source`` as trends read them, by drill (``drill report trend``)."""
    return load_trend_points(
        source.list_reports(drill),
        source.read_document,
        drill,
        since=since,
        where=source.location,
    )


class LocalEvidence:
    """The evidence of one reports directory: ``ledger.jsonl``, its head and the reports."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = reports_dir
        self._verified_lines: list[LedgerLine] | None = None

    @property
    def location(self) -> str:
        return str(self.reports_dir)

    def verify(
        self, *, since: datetime | None, keys: Sequence[VerifyKey], anchors: Sequence[Anchor]
    ) -> Verification:
        lines = read_ledger(self.reports_dir)
        verification = verify_ledger(
            self.reports_dir, since=since, verify_keys=keys, anchors=anchors, lines=lines
        )
        self._verified_lines = lines
        return verification

    def read_lines(self) -> list[LedgerLine]:
        # After a verification, the entries it checked: an export is made of exactly
        # those, and parsing a ledger of 100,000 entries a second time took seconds.
        if self._verified_lines is not None:
            return list(self._verified_lines)
        return read_ledger(self.reports_dir)

    def read_head(self) -> bytes | None:
        return read_regular(head_path(self.reports_dir))

    def read_files(self, files: Sequence[RecordedFile]) -> Iterator[Iterable[bytes]]:
        # One descriptor per report directory, not one per file: an export of 10,000
        # runs reads 60,000 files, and opening each one's directory anew (three opens,
        # no link followed) cost a tenth of it (bench/evidence_scale.py).
        opened: tuple[str, int] | None = None
        try:
            for recorded in files:
                if opened is None or opened[0] != recorded.directory:
                    if opened is not None:
                        os.close(opened[1])
                        opened = None
                    opened = (
                        recorded.directory,
                        open_directory(self.reports_dir, recorded.directory),
                    )
                yield self._read_chunks(recorded, opened[1])
        finally:
            if opened is not None:
                os.close(opened[1])

    def _read_chunks(self, recorded: RecordedFile, directory: int) -> Iterator[bytes]:
        # Hashed as it is read, never through a link: a file changed since it was
        # verified fails the reader instead of passing on unvouched bytes. Opened now,
        # while its directory is open: each file is read before the next is asked for.
        shown = self.reports_dir / recorded.directory / recorded.name
        reader = os.fdopen(open_regular(recorded.name, dir_fd=directory, shown=shown), "rb")
        return self._hashed_chunks(reader, recorded, shown)

    @staticmethod
    def _hashed_chunks(reader: BinaryIO, recorded: RecordedFile, shown: Path) -> Iterator[bytes]:
        from drillkit.evidence.export import TamperingFound

        digest = hashlib.sha256()
        with reader:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != recorded.sha256:
            raise TamperingFound(
                f"{shown} changed while it was exported (it no longer matches its ledger "
                "entry); nothing was exported"
            )

    def list_reports(self, drill: str | None) -> list[ReportSummary]:
        return list_reports(self.reports_dir, drill)

    def read_document(self, summary: ReportSummary) -> ReportDocument:
        from drillkit.reporting.document import read_report_document

        return read_report_document(summary.report_dir / REPORT_FILE_NAME)

    def locate_report(self, run: str) -> str:
        return str(find_report(self.reports_dir, run))

    def read_report_file(self, run: str, name: str) -> bytes:
        directory = find_report(self.reports_dir, run)
        if not (directory / MANIFEST_FILE_NAME).is_file():
            raise DrillError(explain_unfinished(directory))
        return (directory / name).read_bytes()


__all__ = [
    "EvidenceSource",
    "LocalEvidence",
    "RecordedFile",
    "recorded_files",
    "trend_points_of",
]

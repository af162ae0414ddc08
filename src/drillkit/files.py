"""Durable file writes: reports and undo records are either whole or absent.

A crash or power loss in the middle of writing must never leave a half-written
``report.json`` that looks like a real one, nor a truncated undo record.
:func:`write_atomically` writes to a temporary file beside the target, forces it
to disk, renames it over the target and forces the rename itself to disk (DESIGN
section 5: temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

# Reports are meant to be read by other people and tools, not kept private; mkstemp
# would leave them readable by the owner alone.
_REPORT_FILE_MODE = 0o644


def write_atomically(path: Path, data: bytes, *, mode: int = _REPORT_FILE_MODE) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, whole.

    The parent directory must exist. The temporary file lives in the same directory,
    because a rename is only atomic within one file system.
    """
    descriptor, temporary_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            # Without this the rename can reach the disk before the data does, and a
            # power loss leaves an empty file under the final name.
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Force a directory's entries (new files, renames) to disk.

    A rename is durable only once the directory holding it is synced. Platforms
    that cannot open a directory (Windows) have no such step, so it is skipped there.
    """
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sha256_file(path: Path) -> str:
    """The SHA-256 digest of a file's bytes, as lowercase hex."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def state_home() -> Path:
    """Where drillkit keeps its state (labs, undo records): ``DRILLKIT_HOME`` when set,
    else ``$XDG_STATE_HOME/drillkit`` (``~/.local/state/drillkit``)."""
    configured = os.environ.get("DRILLKIT_HOME")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "drillkit"


def labs_root() -> Path:
    """Where labs live: ``<state home>/labs``, a directory per lab (``drillkit.lab``)."""
    return state_home() / "labs"

"""The files a restore keeps in the state home so that a crashed one can be dealt with.

A backup restore keeps its journal (``drillkit.restoring.journal``), an etcd restore its
state (``drillkit.faults.etcd``); the undo record of either names the file, and
``drill recover`` reads it back after a crash. Both are written and read here alike:
whole or not at all (``drillkit.files.write_atomically``), readable by this user alone,
and read back into a ``DrillError`` that names the file when it is missing or unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from drillkit.errors import DrillError
from drillkit.files import write_atomically

T = TypeVar("T")


def save_state_file(path: Path, document: Mapping[str, object]) -> Path:
    """Write ``document`` as indented JSON to ``path``, replacing what was there."""
    # They name hosts, data directories and commands: for this user's eyes only.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode(), mode=0o600)
    return path


def load_state_file(path: Path, parse: Callable[[Any], T], *, what: str, missing: str) -> T:
    """``parse`` of the JSON document at ``path``; ``DrillError(missing)`` when there is
    none, ``DrillError`` naming ``what`` and the file when it cannot be read or parsed
    (``parse`` raises ``ValueError``, ``KeyError`` or ``TypeError`` for a bad document)."""
    try:
        return parse(json.loads(path.read_text()))
    except FileNotFoundError:
        raise DrillError(missing) from None
    except (ValueError, KeyError, TypeError) as error:
        raise DrillError(f"unreadable {what} {path}: {error}") from None

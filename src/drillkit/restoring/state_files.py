"""The files a restore keeps in the state home so that a crashed one can be dealt with.

A backup restore keeps its journal (``drillkit.restoring.journal``), an etcd restore its
state (``drillkit.faults.etcd``); the undo record of either names the file, and
``drill recover`` reads it back after a crash. Both are a ``StateFile``: a dataclass
encoded by its pydantic adapter, written whole or not at all
(``drillkit.files.write_atomically``), readable by this user alone, and read back into
a ``DrillError`` that names the file when it is missing or unreadable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import TypeAdapter

from drillkit.errors import DrillError
from drillkit.files import write_atomically
from drillkit.model.records import read_record


class StateFile:
    """A restore's state, saved as indented JSON to ``state_file()`` and loaded back.

    Subclasses are dataclasses; their fields, in order, are the document's keys.
    """

    describes: ClassVar[str]
    """What the file holds, as messages name it: ``restore journal``."""
    missing: ClassVar[str]
    """The message when there is no such file; ``{path}`` stands for the file."""

    def state_file(self) -> Path:
        """Where this state is kept."""
        raise NotImplementedError

    def save(self) -> Path:
        """Write this state to ``state_file()``, replacing what was there."""
        path = self.state_file()
        document = _adapter(type(self)).dump_python(self, mode="json")
        # They name hosts, data directories and commands: for this user's eyes only.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, (json.dumps(document, indent=2) + "\n").encode(), mode=0o600)
        return path

    @classmethod
    def load(cls, path: Path) -> Self:
        """The state saved at ``path``; ``DrillError`` when there is none, or naming
        the file and its first problem when it cannot be read."""
        try:
            state: Self = read_record(_adapter(cls), json.loads(path.read_text()))
        except FileNotFoundError:
            raise DrillError(cls.missing.format(path=path)) from None
        except ValueError as error:  # not JSON, or not this state (read_record's one line)
            raise DrillError(f"unreadable {cls.describes} {path}: {error}") from None
        return state


_ADAPTERS: dict[type[StateFile], TypeAdapter[Any]] = {}


def _adapter(kind: type[StateFile]) -> TypeAdapter[Any]:
    # Built on first use: the dataclass's field types are all importable by then.
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]

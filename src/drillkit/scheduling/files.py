"""Finding the scheduler's named YAML files: ``DIRECTORY/NAME.yaml`` for a drill, a game day
or a backup plan a schedule names.

Reading them is ``drillkit.model.loading.load_model``, the one loader for every YAML file a
user writes, which names the file, line, column and field of any problem.
"""

from __future__ import annotations

from pathlib import Path

from drillkit.errors import InvalidInput


def find_named_file(directory: Path, name: str, *, what: str) -> Path:
    """``DIRECTORY/NAME.yaml`` (or ``.yml``); InvalidInput naming where it looked."""
    candidates = [directory / f"{name}.yaml", directory / f"{name}.yml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InvalidInput(f"no {what} named {name!r}: {candidates[0]} does not exist")

"""The error tree drawn in ``drillkit.errors``' docstring is the tree drillkit defines.

Every module is imported, so every ``DrillError`` subclass exists; then each one must
be drawn, under a class it derives from, naming the module that defines it when that
is not ``drillkit.errors``; and every class drawn must exist.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import drillkit
import drillkit.errors
from drillkit.errors import DrillError

# One line of the drawing: its branch characters, then a class name, then a note that
# starts with the defining module (``safety.lock: ...``) for classes defined elsewhere.
_LINE = re.compile(r"^    (?P<branches>[│├└─ ]*)(?P<name>[A-Z]\w*)(?:\s+(?P<note>.*))?$")
_MODULE_NOTE = re.compile(r"^(?P<module>[a-z_]+(?:\.[a-z_]+)+):")


@dataclass(frozen=True)
class Drawn:
    name: str
    parent: str | None
    module: str | None


def _drawn_tree() -> list[Drawn]:
    doc = drillkit.errors.__doc__ or ""
    drawing = doc.split("::\n", 1)[1]
    drawn: list[Drawn] = []
    ancestors: list[str] = []
    for line in drawing.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        depth = len(match["branches"]) // 4
        assert depth <= len(ancestors), f"{line.strip()!r} is drawn under no class"
        ancestors[depth:] = [match["name"]]
        note = _MODULE_NOTE.match(match["note"] or "")
        drawn.append(
            Drawn(
                name=match["name"],
                parent=ancestors[depth - 1] if depth else None,
                module=f"drillkit.{note['module']}" if note else None,
            )
        )
    return drawn


def _defined_errors() -> dict[str, type[DrillError]]:
    for module in pkgutil.walk_packages(drillkit.__path__, "drillkit."):
        if not module.name.endswith("__main__"):  # running the CLI is not defining
            importlib.import_module(module.name)
    found: dict[str, type[DrillError]] = {}
    pending: list[type[DrillError]] = [DrillError]
    while pending:
        error = pending.pop()
        assert found.get(error.__name__, error) is error, f"two classes named {error.__name__}"
        found[error.__name__] = error
        pending += error.__subclasses__()
    return found


def test_every_drillkit_error_is_drawn_in_the_tree() -> None:
    drawn_names = {d.name for d in _drawn_tree()}

    missing = sorted(set(_defined_errors()) - drawn_names)

    assert not missing, f"not drawn in drillkit/errors.py: {missing}"
    for name in _defined_errors():
        assert name in (drillkit.errors.__doc__ or "")


def test_every_drawn_class_exists_under_the_parent_it_is_drawn_under() -> None:
    defined = _defined_errors()

    for drawn in _drawn_tree():
        assert drawn.name in defined, f"{drawn.name} is drawn but not defined"
        if drawn.parent is not None:
            assert issubclass(defined[drawn.name], defined[drawn.parent]), drawn


def test_the_tree_names_the_module_of_each_class_defined_outside_errors() -> None:
    defined = _defined_errors()

    for drawn in _drawn_tree():
        where = defined[drawn.name].__module__
        if where == "drillkit.errors":
            assert drawn.module is None, f"{drawn.name} is defined in drillkit.errors"
        else:
            assert drawn.module == where, f"{drawn.name} is defined in {where}"

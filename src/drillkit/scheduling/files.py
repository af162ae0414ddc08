"""Reading the scheduler's own YAML files (game days, scheduling policy) into pydantic models.

Every problem becomes one ``InvalidInput`` line naming the file, the line, the column and
the field, as for drill files: ``gamedays/q4.yaml:7:11: steps[2].pause: invalid duration``.
Positions come from the YAML node tree: a pydantic error's location is walked through the
same nodes. Timestamps stay the text written (pydantic reads them, with their time zone
rules), and a key written twice is an error rather than silently the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from drillkit.errors import InvalidInput

ModelT = TypeVar("ModelT", bound=BaseModel)

_MAX_FILE_BYTES = 1024 * 1024


class _Loader(yaml.SafeLoader):
    """YAML's safe subset, with timestamps left as the text written."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def find_named_file(directory: Path, name: str, *, what: str) -> Path:
    """``DIRECTORY/NAME.yaml`` (or ``.yml``); InvalidInput naming where it looked."""
    candidates = [directory / f"{name}.yaml", directory / f"{name}.yml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InvalidInput(f"no {what} named {name!r}: {candidates[0]} does not exist")


def load_model(path: Path, model: type[ModelT], *, what: str) -> ModelT:
    """Read ``path`` as one YAML document and validate it as ``model``.

    ``what`` names the kind of file in messages, such as "a game day".
    """
    text = _read(path)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise InvalidInput(f"{path}: the file is empty: expected {what}")
        _ensure_unique_keys(path, root)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise InvalidInput(
            f"{path}:{_position(mark)}: invalid YAML: {_one_line(error.problem or str(error))}"
        ) from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"{path}: invalid YAML: {_one_line(error)}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}:{_position(root.start_mark)}: expected a mapping ({what})")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(_describe(path, root, error.errors(include_url=False))) from None


def _read(path: Path) -> str:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read it: {error.strerror or error}") from None
    if len(content) > _MAX_FILE_BYTES:
        raise InvalidInput(f"{path}: too large ({len(content)} bytes); the limit is 1 MiB")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {error.start})") from None


def _ensure_unique_keys(path: Path, node: Node) -> None:
    if isinstance(node, MappingNode):
        seen: set[object] = set()
        for key, value in node.value:
            if key.value in seen:
                raise InvalidInput(
                    f"{path}:{_position(key.start_mark)}: {key.value}: key written twice"
                )
            seen.add(key.value)
            _ensure_unique_keys(path, value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _ensure_unique_keys(path, item)


def _describe(path: Path, root: Node, details: Sequence[ErrorDetails]) -> str:
    # Pydantic counts a list's length after dropping invalid items, so one bad step is
    # also "too short"; the error about the item says it all.
    locations = [tuple(detail["loc"]) for detail in details]

    def has_inner_error(loc: tuple[int | str, ...]) -> bool:
        return any(len(other) > len(loc) and other[: len(loc)] == loc for other in locations)

    details = [
        detail
        for detail in details
        if not (detail["type"] == "too_short" and has_inner_error(tuple(detail["loc"])))
    ]
    problems = [_problem(root, detail) for detail in details]
    problems.sort(key=lambda problem: (problem[0].line, problem[0].column))
    mark, field, message = problems[0]
    text = f"{path}:{_position(mark)}: {field or '-'}: {message}"
    if len(problems) > 1:
        others = len(problems) - 1
        text += f" (and {others} more problem{'s' if others > 1 else ''})"
    return _one_line(text)


def _problem(root: Node, detail: ErrorDetails) -> tuple[Mark, str, str]:
    node, key_node, steps = root, None, []
    loc = detail["loc"]
    for index, step in enumerate(loc):
        found = _child(node, step)
        if found is None or (index < len(loc) - 1 and isinstance(found[1], ScalarNode)):
            # A union member's tag or a validator's name, not a place in the file (a tag
            # may share its name with a key, as `drill` does in a drill step).
            continue
        key_node, node = found
        steps.append(step)
    field = _field_path(steps)
    kind = detail["type"]
    if kind == "missing":
        return node.start_mark, _field_path([*steps, detail["loc"][-1]]), "missing required field"
    if kind == "extra_forbidden":
        mark = key_node.start_mark if key_node is not None else node.start_mark
        return mark, field, "unknown field"
    context = detail.get("ctx", {})
    if kind in ("value_error", "assertion_error") and "error" in context:
        message = str(context["error"])
    else:
        message = detail["msg"][:1].lower() + detail["msg"][1:]
    if kind.endswith(("_type", "_parsing")):
        message += f", found {_found(detail['input'])}"
    return node.start_mark, field, message


def _child(node: Node, step: int | str) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if key.value == step:
                return key, value
        # A missing field: stay at the mapping, but name the field.
        return None
    if isinstance(node, SequenceNode) and isinstance(step, int) and step < len(node.value):
        return None, node.value[step]
    return None


def _field_path(steps: Sequence[int | str]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _found(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _position(mark: Mark | None) -> str:
    if mark is None:
        return "1:1"
    return f"{mark.line + 1}:{mark.column + 1}"


def _one_line(text: object) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text).strip())

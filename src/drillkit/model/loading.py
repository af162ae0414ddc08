"""Reading the YAML files users write: a validated model out, or one line saying what is wrong.

This is the one loader for every YAML file drillkit reads: drills (``load_drill``, which also
checks that the experiment a drill names exists) and, through ``load_model``, game days, backup
plans, the scheduling policy and control catalogues. Every problem, whatever the input bytes,
becomes ``drillkit.errors.InvalidInput`` (exit status 2, before anything is touched) with a
message such as::

    drills/x.yaml:7:8: objectives.rto: invalid duration '5 minutes': use a number with a unit, ...

Positions come from the YAML node tree (``yaml.compose``), never from searching the text: while
converting nodes into plain values we record, for every path such as ``("target", "namespaces",
0)``, where its key and its value start. A pydantic error's ``loc`` is then walked through the same
data to find the node it is about. A wrong value is reported at the value, an unknown field at its
key and a missing field at the mapping that lacks it.

The YAML is read as JSON-shaped data, because drill files carry Chaos Toolkit activities, which are
JSON: mapping keys are text, timestamps stay the text written (pydantic reads the fields that are
times, with their time zone rules), and tags other than the core ones, duplicate keys, recursive
aliases and non-finite numbers are errors.
"""

from __future__ import annotations

import codecs
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, JsonValue, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import ErrorDetails
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from drillkit.errors import InvalidInput
from drillkit.model.drill import NAME_PATTERN, OBJECT_NAME_PATTERN, Drill
from drillkit.model.durations import format_duration
from drillkit.model.records import JSON_SCHEMA_DIALECT
from drillkit.model.services import (
    DerivedDisruption,
    Service,
    check_drill_proves,
    effective_objectives,
)
from drillkit.model.services import FieldProblem as FieldProblem

DRILL_SCHEMA_ID = "urn:drillkit:schema:drill:1"
"""``$id`` of the drill file's JSON Schema; a URN, because no URL serves it."""


# These files are a few kilobytes; the limits keep hostile input from exhausting memory, the
# recursion limit (PyYAML composes recursively) or time (aliases can expand exponentially).
_MAX_FILE_BYTES = 1024 * 1024
_MAX_DEPTH = 50
_MAX_EXPANDED_VALUES = 100_000

_YAML_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(f"{_YAML_TAG}{name}" for name in ("str", "int", "float", "bool", "null"))
_SCALAR_KINDS = {
    f"{_YAML_TAG}int": "whole number",
    f"{_YAML_TAG}float": "number",
    f"{_YAML_TAG}bool": "boolean",
}
_TIMESTAMP_TAG = f"{_YAML_TAG}timestamp"
_MERGE_TAG = f"{_YAML_TAG}merge"

_PATTERN_HINTS = {
    NAME_PATTERN: "use lowercase letters, digits and dashes, starting and ending with a letter "
    "or digit, such as zone-failure",
    OBJECT_NAME_PATTERN: "use lowercase letters, digits, dashes and dots, such as drill-markers",
}

ModelT = typing.TypeVar("ModelT", bound=BaseModel)

_FieldPath = tuple[str | int, ...]
"""Where a value sits in the document: mapping keys and list indexes, from the top."""


class _Position(typing.Protocol):
    """A YAML mark: PyYAML has a pure-Python and a C version of it."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class _Problem:
    """One thing wrong with a file, at a 1-based position."""

    line: int
    column: int
    field: str
    message: str

    @classmethod
    def at(cls, mark: _Position | None, path: _FieldPath, message: str) -> _Problem:
        """A problem at a YAML mark (0-based); without one, at the start of the file."""
        return cls(
            line=mark.line + 1 if mark is not None else 1,
            column=mark.column + 1 if mark is not None else 1,
            field=_format_field_path(path),
            message=message,
        )


@dataclass(frozen=True, kw_only=True)
class _Marks:
    """Where a value's key (absent for list items and the document) and the value start."""

    key: Mark | None
    value: Mark


@dataclass(frozen=True, kw_only=True)
class _Document:
    """A file's content as plain values, with the position of every value."""

    data: JsonValue
    marks: dict[_FieldPath, _Marks]

    def resolve(self, loc: Sequence[str | int]) -> _FieldPath:
        """Follow a pydantic error location through the data as far as the data goes.

        Steps that are not in the data are skipped: pydantic inserts union member tags (such as
        ``python`` in ``provider.python.module``), and a missing field is not there by definition.
        A tag may share its name with a key (``drill`` in a game day's drill step): a step that
        reaches a scalar while the next step is a key beside it is that tag, and skipped too.
        """
        path: _FieldPath = ()
        current = self.data
        for index, step in enumerate(loc):
            if isinstance(current, dict) and isinstance(step, str):
                if step not in current:
                    continue
                following = loc[index + 1] if index + 1 < len(loc) else None
                if not isinstance(current[step], dict | list) and following in current:
                    continue
                current = current[step]
            elif isinstance(current, list) and isinstance(step, int):
                if not 0 <= step < len(current):
                    continue
                current = current[step]
            else:
                continue
            path = (*path, step)
        return path

    def value_mark(self, path: _FieldPath) -> Mark:
        return self.marks[path].value

    def key_mark(self, path: _FieldPath) -> Mark:
        marks = self.marks[path]
        return marks.key if marks.key is not None else marks.value


def load_drill(path: Path, *, derive: Callable[[Drill], DerivedDisruption] | None = None) -> Drill:
    """Read, validate and return the drill in ``path``.

    The returned drill remembers ``path`` as its ``source``, so ``Drill.experiment_path()``
    resolves the experiment relative to the drill file, which this function checks exists.
    A drill that proves a service without naming the disruption proves what ``derive``
    finds in its experiment (``drillkit.running.proving`` reads it: the model cannot).

    Raises ``InvalidInput`` with a one-line ``path:line:column: field: problem`` message for any
    problem; if there are several, the first in the file is named and the rest counted.
    """
    drill, document = _load(path, Drill, noun="drill")
    drill = drill.with_source(path)
    _ensure_file_exists(path, document, ("experiment",), drill.experiment, drill.experiment_path())
    service_path = drill.service_path()
    if drill.proves is None or service_path is None:
        return drill
    _ensure_file_exists(path, document, ("proves", "service"), drill.proves.service, service_path)
    if drill.proves.disruption is None and derive is not None:
        derived = derive(drill)
        if derived.disruption is None:
            raise _invalid(
                path,
                [_place(document, ("proves",), f"names no disruption: {derived.derivation}")],
            )
        drill = drill.deriving(derived.disruption, derived.derivation)
    service = load_model(service_path, Service, noun="service")
    problems = check_drill_proves(drill, service)
    if problems:
        raise _invalid(path, [_place(document, field, message) for field, message in problems])
    return drill.proving(service, effective_objectives(drill, service))


def load_model(
    path: Path,
    model: type[ModelT],
    *,
    noun: str,
    check: Callable[[ModelT], Sequence[FieldProblem]] | None = None,
) -> ModelT:
    """Read ``path`` as one YAML document and validate it as ``model``.

    ``noun`` names the kind of file in messages, such as "game day". Problems are reported
    exactly as for drill files, as one ``InvalidInput`` line. ``check`` judges the valid
    model further (against other files, say); each problem it returns is placed at its
    field's value, or, for a field the file leaves out, at the mapping that lacks it.
    """
    loaded, document = _load(path, model, noun=noun)
    problems = check(loaded) if check is not None else ()
    if problems:
        raise _invalid(path, [_place(document, field, message) for field, message in problems])
    return loaded


def load_services(directory: Path) -> list[Service]:
    """Every service file ``directory/*.yaml``, by file name; InvalidInput for the first
    that is invalid, naming its file and line."""
    return [load_model(path, Service, noun="service") for path in sorted(directory.glob("*.yaml"))]


def _load(path: Path, model: type[ModelT], *, noun: str) -> tuple[ModelT, _Document]:
    text = _read_text(path, noun)
    root = _compose(path, text, noun)
    if root is None:
        raise _invalid(path, [_Problem.at(None, (), f"the file is empty: {_needs(model, noun)}")])
    document = _convert_document(path, root, noun)
    if not isinstance(document.data, dict):
        found = "nothing" if document.data is None else _describe_kind(document.data)
        raise _invalid(
            path,
            [
                _Problem.at(
                    root.start_mark,
                    (),
                    f"expected a mapping of {noun} fields ({_some_fields(model)}), found {found}",
                )
            ],
        )
    try:
        return model.model_validate(document.data), document
    except ValidationError as error:
        raise _invalid(path, _describe_validation_error(error, document, model)) from error


def _needs(model: type[BaseModel], noun: str) -> str:
    """What an empty file lacks: ``a drill needs at least name, experiment and target``."""
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    if required:
        listed = ", ".join(required[:-1]) + " and " if len(required) > 1 else ""
        return f"a {noun} needs at least {listed}{required[-1]}"
    names = list(model.model_fields)
    return f"a {noun} needs at least one of {', '.join(names[:-1])} or {names[-1]}"


def _some_fields(model: type[BaseModel]) -> str:
    """The fields to name when a file is not a mapping: the required ones, or else all."""
    names = list(model.model_fields)
    shown = [name for name in names if model.model_fields[name].is_required()] or names
    return ", ".join(shown) + (", ..." if len(shown) < len(names) else "")


def drill_json_schema() -> dict[str, object]:
    """Return the JSON Schema (draft 2020-12) of a drill file, for editors and documentation."""
    schema: dict[str, object] = {"$schema": JSON_SCHEMA_DIALECT, "$id": DRILL_SCHEMA_ID}
    schema.update(Drill.model_json_schema(schema_generator=_DrillSchemaGenerator))
    return schema


class _DrillSchemaGenerator(GenerateJsonSchema):
    """Writes duration defaults as a drill file would (``10s``), not as ISO 8601 (``PT10S``)."""

    def encode_default(self, dft: object) -> object:
        # Pydantic encodes a default by its Python type, so Duration's serializer is not used.
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


# --- Reading bytes and YAML -----------------------------------------------------------------------


def _read_text(path: Path, noun: str) -> str:
    try:
        with path.open("rb") as stream:
            content = stream.read(_MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as error:
        # ValueError: a path with a NUL character, which no file system accepts.
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise _invalid(path, [_Problem.at(None, (), f"cannot read the file: {reason}")]) from error
    if len(content) > _MAX_FILE_BYTES:
        raise _invalid(
            path,
            [
                _Problem.at(
                    None, (), f"the file is larger than 1 MiB; a {noun} file is a few kilobytes"
                )
            ],
        )
    content = content.removeprefix(codecs.BOM_UTF8)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = content[error.start]
        raise _invalid_text(
            path,
            _position_in_bytes(content, error.start),
            f"not UTF-8 text: byte 0x{byte:02x} cannot be decoded",
        ) from error


def _position_in_bytes(content: bytes, offset: int) -> tuple[int, int]:
    before = content[:offset]
    line_start = before.rfind(b"\n") + 1
    # Everything before the first undecodable byte is valid UTF-8; count characters, not bytes.
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return before.count(b"\n") + 1, column


def _position_in_text(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _compose(path: Path, text: str, noun: str) -> Node | None:
    try:
        _ensure_shallow_nesting(path, text, noun)
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        raise _invalid(path, [_describe_syntax_error(error)]) from error
    except yaml.reader.ReaderError as error:
        raise _invalid_text(
            path,
            _position_in_text(text, error.position),
            f"the character #x{error.character:04x} is not allowed in YAML",
        ) from error
    except yaml.YAMLError as error:
        # Every YAML error PyYAML raises is one of the two above; this keeps the promise that
        # only InvalidInput leaves the loader should a future version add another.
        raise _invalid(path, [_Problem.at(None, (), f"YAML error: {error}")]) from error


def _ensure_shallow_nesting(path: Path, text: str, noun: str) -> None:
    # PyYAML's parser is iterative but its composer recurses once per level, so deep nesting is
    # refused here, from the event stream, before it can exhaust the recursion limit.
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_DEPTH:
                raise _invalid(path, [_Problem.at(event.start_mark, (), _too_deep_message(noun))])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _too_deep_message(noun: str) -> str:
    return f"nested more than {_MAX_DEPTH} levels deep; a {noun} file needs far fewer"


def _describe_syntax_error(error: yaml.MarkedYAMLError) -> _Problem:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or "invalid YAML"
    if error.context and problem.startswith("but "):
        # PyYAML splits some sentences: context "expected a single document in the stream",
        # problem "but found another document".
        problem = f"{error.context}, {problem}"
    elif error.context:
        problem = f"{problem} ({error.context})"
    if "'\\t'" in problem:
        problem += "; YAML indents with spaces, not tabs"
    elif "<block end>" in problem or "mapping values are not allowed" in problem:
        problem += "; check the indentation of this line and the one above"
    return _Problem.at(mark, (), f"YAML syntax error: {problem}")


# --- YAML nodes to plain values -------------------------------------------------------------------


class _TooManyValues(Exception):
    """Raised inside the converter to stop walking a document whose aliases expand too far."""


class _DocumentConverter:
    """Turns a YAML node tree into plain JSON-shaped values, recording each value's position."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.marks: dict[_FieldPath, _Marks] = {}
        self.problems: list[_Problem] = []
        # The safe constructor turns scalar text into ints, floats and booleans exactly as
        # yaml.safe_load would; the empty stream is never read.
        self._constructor = yaml.SafeLoader("")
        self._open_collections: set[int] = set()
        self._converted = 0

    def convert(self, node: Node, path: _FieldPath, key_mark: Mark | None, depth: int) -> JsonValue:
        self.marks[path] = _Marks(key=key_mark, value=node.start_mark)
        self._converted += 1
        if self._converted > _MAX_EXPANDED_VALUES:
            self.problems.append(
                _Problem.at(
                    node.start_mark,
                    path,
                    f"the document expands to more than {_MAX_EXPANDED_VALUES} values; "
                    "are aliases (*name) nested in each other?",
                )
            )
            raise _TooManyValues
        if depth > _MAX_DEPTH:
            # Aliases can nest deeper than the text does.
            self.problems.append(_Problem.at(node.start_mark, path, _too_deep_message(self.noun)))
            return None
        if isinstance(node, ScalarNode):
            return self._convert_scalar(node, path)
        if id(node) in self._open_collections:
            self.problems.append(
                _Problem.at(node.start_mark, path, "an alias refers to a value that contains it")
            )
            return None
        self._open_collections.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._convert_sequence(node, path, depth)
            if isinstance(node, MappingNode):
                return self._convert_mapping(node, path, depth)
        finally:
            self._open_collections.discard(id(node))
        self.problems.append(_Problem.at(node.start_mark, path, "unsupported YAML node"))
        return None

    def _convert_scalar(self, node: ScalarNode, path: _FieldPath) -> JsonValue:
        if node.tag == _TIMESTAMP_TAG:
            # Keep dates as written: Chaos Toolkit arguments are JSON, and pydantic reads the
            # fields that are times (a game day's start) from the text.
            return str(node.value)
        if node.tag not in _SCALAR_TAGS:
            self.problems.append(
                _Problem.at(node.start_mark, path, _unsupported_tag(node.tag, self.noun))
            )
            return None
        try:
            value: object = self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError):
            # Explicit tags such as `!!int abc`, and integers too long for Python to convert.
            kind = _SCALAR_KINDS.get(node.tag, node.tag)
            self.problems.append(
                _Problem.at(node.start_mark, path, f"{_quote(node.value)} is not a valid {kind}")
            )
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(
                _Problem.at(node.start_mark, path, f"{_quote(node.value)} is not a finite number")
            )
            return None
        if value is None or isinstance(value, str | bool | int | float):
            return value
        self.problems.append(
            _Problem.at(node.start_mark, path, _unsupported_tag(node.tag, self.noun))
        )
        return None

    def _convert_sequence(self, node: SequenceNode, path: _FieldPath, depth: int) -> JsonValue:
        if node.tag != f"{_YAML_TAG}seq":
            self.problems.append(
                _Problem.at(node.start_mark, path, _unsupported_tag(node.tag, self.noun))
            )
            return None
        return [
            self.convert(item, (*path, index), None, depth + 1)
            for index, item in enumerate(node.value)
        ]

    def _convert_mapping(self, node: MappingNode, path: _FieldPath, depth: int) -> JsonValue:
        if node.tag != f"{_YAML_TAG}map":
            self.problems.append(
                _Problem.at(node.start_mark, path, _unsupported_tag(node.tag, self.noun))
            )
            return None
        own_marks = self.marks[path]
        mapping: dict[str, JsonValue] = {}
        merged_sources = [value for key, value in node.value if key.tag == _MERGE_TAG]
        # Merge keys (`<<: *defaults`) first, so the mapping's own keys override them; of several
        # merged mappings the first wins, as YAML specifies.
        for source in reversed(_merge_sources(merged_sources)):
            merged = self.convert(source, path, None, depth)
            if isinstance(merged, dict):
                mapping.update(merged)
            else:
                self.problems.append(
                    _Problem.at(source.start_mark, path, "'<<' can only merge mappings")
                )
        # Converting a merged mapping recorded its position under this path; restore ours.
        self.marks[path] = own_marks
        first_seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    _Problem.at(
                        key_node.start_mark, path, "a key must be text, not a list or mapping"
                    )
                )
                continue
            key = str(key_node.value)
            if key in first_seen:
                self.problems.append(
                    _Problem.at(
                        key_node.start_mark,
                        (*path, key),
                        f"duplicate key {_quote(key)} "
                        f"(first given on line {first_seen[key].line + 1})",
                    )
                )
                continue
            first_seen[key] = key_node.start_mark
            mapping[key] = self.convert(value_node, (*path, key), key_node.start_mark, depth + 1)
        return mapping


def _merge_sources(values: list[Node]) -> list[Node]:
    sources: list[Node] = []
    for value in values:
        if isinstance(value, SequenceNode):
            sources.extend(value.value)
        else:
            sources.append(value)
    return sources


def _unsupported_tag(tag: str, noun: str) -> str:
    # Show standard tags as people write them: `!!binary`, not `tag:yaml.org,2002:binary`.
    written = f"!!{tag.removeprefix(_YAML_TAG)}" if tag.startswith(_YAML_TAG) else tag
    return (
        f"unsupported YAML tag {_quote(written)}: a {noun} file holds text, numbers, true/false, "
        "null, lists and mappings"
    )


def _convert_document(path: Path, root: Node, noun: str) -> _Document:
    converter = _DocumentConverter(noun)
    try:
        data = converter.convert(root, (), None, 0)
    except _TooManyValues:
        data = None
    if converter.problems:
        raise _invalid(path, converter.problems)
    return _Document(data=data, marks=converter.marks)


# --- pydantic errors to sentences -----------------------------------------------------------------


def _describe_validation_error(
    error: ValidationError, document: _Document, model: type[BaseModel]
) -> list[_Problem]:
    details = error.errors(include_url=False)
    # Pydantic counts a list's length after dropping invalid items, so `[yes]` for a list of
    # names is reported both as "item 0 is not text" and "too short"; the first says it all,
    # however deep inside the item the problem is (a game day step's unknown field).
    invalid_items = {
        tuple(detail["loc"][:depth]) for detail in details for depth in range(len(detail["loc"]))
    }
    # A misspelt field (`function` for `func`) is both unknown and missing; report the typo once.
    missing = {tuple(detail["loc"]) for detail in details if detail["type"] == "missing"}
    misspelt = {
        (*detail["loc"][:-1], suggestion)
        for detail in details
        if detail["type"] == "extra_forbidden"
        and (suggestion := _suggest_field(detail["loc"], model)) is not None
    }
    problems: list[_Problem] = []
    for detail in details:
        if detail["type"] == "too_short" and tuple(detail["loc"]) in invalid_items:
            continue
        if detail["type"] == "missing" and tuple(detail["loc"]) in missing & misspelt:
            continue
        problem = _describe_error_detail(detail, document, model)
        if problem not in problems:
            problems.append(problem)
    return problems


def _describe_error_detail(
    detail: ErrorDetails, document: _Document, model: type[BaseModel]
) -> _Problem:
    loc = detail["loc"]
    path = document.resolve(loc)
    kind = detail["type"]
    context = detail.get("ctx", {})
    if kind == "missing":
        missing = loc[-1]
        return _Problem.at(
            document.value_mark(path),
            (*path, missing),
            f"missing required field {_quote(str(missing))}",
        )
    if kind == "extra_forbidden":
        message = f"unknown field {_quote(str(loc[-1]))}"
        suggestion = _suggest_field(loc, model)
        if suggestion is not None:
            message += f" (did you mean {_quote(suggestion)}?)"
        return _Problem.at(document.key_mark(path), path, message)
    if kind == "union_tag_invalid":
        expected = ", ".join(_split_expected(str(context.get("expected_tags", ""))))
        message = f"unknown type {_quote(str(context.get('tag', '')))}: expected one of: {expected}"
        type_path = (*path, "type")
        if type_path in document.marks:
            return _Problem.at(document.value_mark(type_path), type_path, message)
        return _Problem.at(document.value_mark(path), path, message)
    if kind == "union_tag_not_found":
        tags = ", ".join(_type_tags_at(loc, model))
        return _Problem.at(
            document.value_mark(path),
            (*path, "type"),
            f"missing required field 'type' (one of: {tags})",
        )
    return _Problem.at(document.value_mark(path), path, _translate(detail))


def _translate(detail: ErrorDetails) -> str:
    """Say in plain words what pydantic's error type means for the file's author."""
    kind = detail["type"]
    context = detail.get("ctx", {})
    found = _describe_found(detail["input"])
    expected_kinds = {
        "string_type": "a string",
        "int_type": "a whole number",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "time_delta_type": "a duration such as 90s, 5m or 1h30m",
        "time_delta_parsing": "a duration such as 90s, 5m or 1h30m",
    }
    if kind in expected_kinds:
        message = f"expected {expected_kinds[kind]}, found {found}"
        if kind == "string_type" and isinstance(detail["input"], bool | int | float):
            message += " (quote it to make it text)"
        return message
    if kind in ("literal_error", "enum"):
        choices = _split_expected(str(context.get("expected", "")))
        if len(choices) == 1:
            return f"must be {_quote(choices[0])}, found {found}"
        return f"expected one of: {', '.join(choices)}; found {found}"
    if kind in ("too_short", "too_long"):
        bound = context.get("min_length" if kind == "too_short" else "max_length")
        items = "item" if bound == 1 else "items"
        return f"must have at {'least' if kind == 'too_short' else 'most'} {bound} {items}"
    if kind == "string_too_short":
        bound = context.get("min_length")
        return "must not be empty" if bound == 1 else f"must be at least {bound} characters long"
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        pattern = str(context.get("pattern", ""))
        hint = _PATTERN_HINTS.get(pattern, f"it must match the pattern {pattern}")
        return f"{_quote(str(detail['input']))} is not a valid name: {hint}"
    bounds = {
        "greater_than": ("gt", "must be greater than"),
        "greater_than_equal": ("ge", "must be at least"),
        "less_than": ("lt", "must be less than"),
        "less_than_equal": ("le", "must be at most"),
    }
    if kind in bounds:
        key, phrase = bounds[kind]
        return f"{phrase} {_format_number(context.get(key))}, found {found}"
    if kind in ("value_error", "assertion_error"):
        return str(context.get("error", detail["msg"]))
    if kind == "finite_number":
        return f"must be a finite number, found {found}"
    if kind == "string_or_list":
        return f"{detail['msg']}, found {found}"
    # Anything else: pydantic's own sentence, which names no URL once include_url is off.
    text = detail["msg"]
    return text[:1].lower() + text[1:]


def _describe_found(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {_format_number(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the text {_quote(shown)}"
    return _describe_kind(value)


def _format_number(value: object) -> str:
    # Pydantic reports bounds of float fields as floats; people write `1`, not `1.0`.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _describe_kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return _describe_found(value)


def _split_expected(expected: str) -> list[str]:
    """Turn pydantic's ``'a', 'b' or 'c'`` into ``["a", "b", "c"]``."""
    return re.findall(r"'([^']*)'", expected)


def _suggest_field(loc: Sequence[str | int], root: type[BaseModel]) -> str | None:
    """The known field closest to the unknown one at the end of ``loc``, if any is close."""
    fields = sorted({name for model in _models_at(loc[:-1], root) for name in model.model_fields})
    matches = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    return matches[0] if matches else None


def _type_tags_at(loc: Sequence[str | int], root: type[BaseModel]) -> list[str]:
    return [tag for model in _models_at(loc, root) for tag in _type_tags(model)]


def _models_at(loc: Sequence[str | int], root: type[BaseModel]) -> list[type[BaseModel]]:
    """The models a value at ``loc`` may be, following field types from ``root`` down."""
    models: list[type[BaseModel]] = [root]
    for step in loc:
        if isinstance(step, int):
            # A list index: the element types are already among the candidates.
            continue
        fields = [model.model_fields[step] for model in models if step in model.model_fields]
        if fields:
            models = [found for field in fields for found in _models_in(field.annotation)]
            continue
        # Not a field: a discriminated union's tag, which picks one member, or a dict key.
        tagged = [model for model in models if step in _type_tags(model)]
        models = tagged if tagged else []
    return models


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
        return
    if origin in (typing.Union, types.UnionType, tuple, list, dict):
        for argument in typing.get_args(annotation):
            yield from _models_in(argument)


def _type_tags(model: type[BaseModel]) -> list[str]:
    field = model.model_fields.get("type")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return []
    return [str(tag) for tag in typing.get_args(field.annotation)]


# --- Checks beyond the schema ---------------------------------------------------------------------


def _ensure_file_exists(
    path: Path, document: _Document, field: _FieldPath, written: str, resolved: Path
) -> None:
    """The file a drill's ``field`` names (``experiment``, ``proves.service``) is there."""
    try:
        found = resolved.is_file()
        reason = "not found"
    except (OSError, ValueError) as error:
        found = False
        reason = f"cannot be read ({error})"
    if not found:
        noun = str(field[-1])
        raise _invalid(
            path,
            [
                _Problem.at(
                    document.value_mark(field),
                    field,
                    f"{noun} file {_quote(written)} {reason} "
                    f"(looked for {os.path.normpath(resolved)})",
                )
            ],
        )


def _place(document: _Document, field: _FieldPath, message: str) -> _Problem:
    """A problem about ``field``, at its value or at the nearest mapping holding it."""
    present = field
    while present and present not in document.marks:
        present = present[:-1]
    return _Problem.at(document.value_mark(present), field, message)


# --- Messages -------------------------------------------------------------------------------------


def _invalid(path: Path, problems: Sequence[_Problem]) -> InvalidInput:
    """Build the one-line error for the first problem in the file, counting the rest;
    every problem, in the order of the file, is the error's ``problems``."""
    lines = tuple(
        _one_line(f"{path}:{problem.line}:{problem.column}: {problem.field}: {problem.message}")
        for problem in sorted(problems, key=lambda problem: (problem.line, problem.column))
    )
    message = lines[0]
    others = len(lines) - 1
    if others:
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return InvalidInput(message, problems=lines)


def _invalid_text(path: Path, position: tuple[int, int], problem: str) -> InvalidInput:
    """A file that is not text YAML can read, at the first byte or character that says so."""
    line, column = position
    message = f"{problem}; is this a binary file?"
    return _invalid(path, [_Problem(line=line, column=column, field="-", message=message)])


def _format_field_path(path: _FieldPath) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    text = _one_line(text)
    # Only aliases nested in aliases make paths this long; the start says where they are.
    return (text if len(text) <= 100 else text[:97] + "...") or "-"


def _quote(text: str) -> str:
    # Long values (a 5000-digit number, a pasted blob) are shortened to keep the message readable.
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _one_line(text: str) -> str:
    # Keys and values come from the file; a line break in one must not split the message.
    return "".join(
        character if character.isprintable() else repr(character)[1:-1] for character in text
    )


def yaml_syntax_error(path: Path, error: yaml.MarkedYAMLError) -> InvalidInput:
    """The one-line ``path:line:column: -: YAML syntax error: ...`` for any YAML file a
    user gives drillkit (a kubeconfig as much as a drill)."""
    return _invalid(path, [_describe_syntax_error(error)])

"""Runtime records as the files drillkit writes hold them, through pydantic adapters.

A record (a backup's catalogue entry, an etcd snapshot's sidecar, a lab's ``lab.json``)
stays a frozen, keyword-only dataclass; its JSON form is pydantic's, over the dataclass
itself (``TypeAdapter(TheRecord)``), as the timeline's events are. This module holds
what those codecs share: the UTC moment as the timeline writes it, and reading a record
back into one ``ValueError`` naming the field, which the callers report after the file.
Unknown fields are ignored, so a file written by a newer version still reads.

The JSON Schemas in ``schemas/`` (reports, webhooks, every ``-o json`` document) are
generated from the same types by ``json_schema_of`` and written by ``write_json_schema``;
tests keep the committed files equal to what the types generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import TypeAdapter, ValidationError

from drillkit.model.timeline import _UtcTime

Record = TypeVar("Record")

UtcTime = _UtcTime
"""A UTC moment, written by ``format_utc`` (``2025-03-01T12:00:00.250Z``), read by ``parse_utc``."""


def read_record(adapter: TypeAdapter[Record], value: object) -> Record:
    """The record ``value`` (decoded JSON) holds; ``ValueError`` naming the first problem."""
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        raise ValueError(first_problem(error)) from None


def first_problem(error: ValidationError) -> str:
    """The first problem pydantic found, as one line naming the field.

    One line, not pydantic's report: callers put it after the file's name.
    """
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def json_schema_of(shape: Any) -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of the JSON form of ``shape`` (a model, a
    dataclass, a TypedDict, a list of one) as drillkit writes it."""
    schema: dict[str, object] = {"$schema": JSON_SCHEMA_DIALECT}
    schema.update(TypeAdapter(shape).json_schema(mode="serialization"))
    return schema


def write_json_schema(path: Path, schema: dict[str, object]) -> None:
    """Write a schema as the files in ``schemas/`` are: indented, ending in a newline."""
    path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")

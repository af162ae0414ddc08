"""Runtime records as the files drillkit writes hold them, through pydantic adapters.

A record (a backup's catalogue entry, an etcd snapshot's sidecar, a lab's ``lab.json``)
stays a frozen, keyword-only dataclass; its JSON form is pydantic's, over the dataclass
itself (``TypeAdapter(TheRecord)``), as the timeline's events are. This module holds
what those codecs share: the UTC moment as the timeline writes it, and reading a record
back into one ``ValueError`` naming the field, which the callers report after the file.
Unknown fields are ignored, so a file written by a newer version still reads.
"""

from __future__ import annotations

from typing import TypeVar

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

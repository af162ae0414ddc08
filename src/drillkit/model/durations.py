"""Durations as people write them in drill files: ``90s``, ``5m``, ``1h30m``, ``250ms``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> timedelta:
    """Parse ``"1h30m"`` into a timedelta; raise ValueError naming the accepted form."""
    compact = text.strip().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit, such as 90s, 5m, 1h30m or 250ms"
        )
    return _seconds(sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts), text)


def _seconds(seconds: float, written: object) -> timedelta:
    # timedelta raises OverflowError past ~2.7 million years, which pydantic would
    # not turn into a located validation error; a ValueError it does.
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"invalid duration {written!r}: too long") from None


def format_duration(value: timedelta) -> str:
    """Render a timedelta in the shortest form ``parse_duration`` reads back."""
    milliseconds = round(value.total_seconds() * 1000)
    if milliseconds % 1000:
        return f"{milliseconds}ms"
    seconds = milliseconds // 1000
    text = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text += f"{seconds // size}{unit}"
            seconds %= size
    return text + (f"{seconds}s" if seconds or not text else "")


def _coerce(value: object) -> object:
    # Drill files hold strings; bare numbers are read as seconds, which is what
    # Chaos Toolkit's own durations (pauses, timeouts) mean.
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError("invalid duration: expected a string such as 90s, not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("invalid duration: must not be negative")
        return _seconds(value, value)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                {"type": "number", "minimum": 0, "description": "seconds"},
            ]
        }
    ),
]
"""A pydantic field type for durations written as ``90s``, ``5m`` or ``1h30m``."""

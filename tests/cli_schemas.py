"""Checking what ``drill ... -o json`` prints against the schema committed for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def schema_file(name: str) -> Path:
    """``schemas/cli/<name>.schema.json``; ``report`` is ``report.json``'s own schema."""
    if name == "report":
        return SCHEMAS / "report.schema.json"
    return SCHEMAS / "cli" / f"{name}.schema.json"


def assert_matches_schema(name: str, text: str) -> Any:
    """The one JSON document ``text`` holds, once it is valid against schema ``name``."""
    document = json.loads(text)
    schema = json.loads(schema_file(name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)
    return document

"""Activities for the ``--var`` tests: what a careless activity does with a secret it is given."""

from __future__ import annotations

import hashlib
from typing import Any


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def reveal_the_password(secrets: dict[str, Any] | None = None) -> dict[str, str]:
    """Return the password as it is and its digest (which is no secret); chaoslib hands
    the keys of the targets the provider names, merged."""
    password = str((secrets or {})["password"])
    return {"seen": password, "digest": digest(password)}


def fail_quoting(text: str) -> None:
    raise RuntimeError(f"the login was refused with {text}")

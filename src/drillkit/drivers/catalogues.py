"""What the two catalogues share: namespace backups and etcd snapshots, oldest first.

``drivers.backups`` lists the backups of an object store and ``drivers.etcd`` the
snapshots of a directory, each oldest first. A restore names the entry it starts from
the same way in both, ``latest`` or the entry's own name, and a freshness probe asks
both the same question: how old is the newest entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from drillkit.errors import DrillError


class Dated(Protocol):
    """A catalogue entry that knows when it was taken."""

    def age_seconds(self, now: datetime) -> float: ...


Entry = TypeVar("Entry")


def find_entry(
    catalogue: Sequence[Entry],
    reference: str,
    *,
    name_of: Callable[[Entry], str],
    what: str,
    where: str,
    none_there: str,
) -> Entry:
    """``latest`` (the newest entry) or the entry whose name is ``reference``.

    ``DrillError`` saying ``none_there`` for an empty catalogue, else naming the
    ``what`` (``backup``, ``snapshot``) that the catalogue of ``where`` lacks.
    """
    if not catalogue:
        raise DrillError(none_there)
    if reference == "latest":
        return catalogue[-1]
    for entry in catalogue:
        if name_of(entry) == reference:
            return entry
    raise DrillError(f"{what} {reference} is not in the catalogue of {where}")


def newest_age(catalogue: Sequence[Dated], now: datetime) -> float | None:
    """Seconds from when the newest entry was taken until ``now``; None when there is none."""
    return catalogue[-1].age_seconds(now) if catalogue else None

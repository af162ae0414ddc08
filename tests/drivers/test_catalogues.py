"""Naming a catalogue entry (``latest`` or its name) and the age of the newest one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from drillkit.drivers.catalogues import find_entry, newest_age
from drillkit.errors import DrillError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    name: str
    taken_utc: datetime

    def age_seconds(self, now: datetime) -> float:
        return (now - self.taken_utc).total_seconds()


OLDEST = Entry("nightly-1", NOW - timedelta(hours=30))
NEWEST = Entry("nightly-2", NOW - timedelta(hours=6))
CATALOGUE = [OLDEST, NEWEST]


def find(catalogue: list[Entry], reference: str) -> Entry:
    return find_entry(
        catalogue,
        reference,
        name_of=lambda entry: entry.name,
        what="backup",
        where="the store",
        none_there="no backup in the store",
    )


@pytest.mark.parametrize(
    ("reference", "found"),
    [("latest", NEWEST), ("nightly-1", OLDEST), ("nightly-2", NEWEST)],
)
def test_latest_names_the_newest_entry_and_a_name_names_its_own(
    reference: str, found: Entry
) -> None:
    assert find(CATALOGUE, reference) is found


@pytest.mark.parametrize(
    ("catalogue", "reference", "message"),
    [
        ([], "latest", "no backup in the store"),
        ([], "nightly-1", "no backup in the store"),
        (CATALOGUE, "nightly-3", "backup nightly-3 is not in the catalogue of the store"),
    ],
)
def test_an_empty_catalogue_or_an_unknown_name_is_refused_with_a_readable_line(
    catalogue: list[Entry], reference: str, message: str
) -> None:
    with pytest.raises(DrillError) as refused:
        find(catalogue, reference)

    assert str(refused.value) == message


def test_the_age_is_that_of_the_newest_entry_and_none_without_entries() -> None:
    assert newest_age(CATALOGUE, NOW) == 6 * 3600
    assert newest_age([], NOW) is None

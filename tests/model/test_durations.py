"""Durations as drill, service and schedule files write them, and as drillkit prints them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drillkit.model.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=90), "90d"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(days=365, seconds=1), "365d1s"),
    ],
)
def test_a_duration_prints_in_its_shortest_form_and_reads_back(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value

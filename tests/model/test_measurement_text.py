"""How a measured duration reads: the same everywhere it is shown."""

from __future__ import annotations

import pytest

from drillkit.model.measurement import Bound, format_measured


@pytest.mark.parametrize(
    ("seconds", "bound", "resolution", "text"),
    [
        (47.25, Bound.EXACT, None, "47.2 s"),
        (600.0, Bound.LOWER, None, "≥ 600 s"),
        (600.0, "lower", None, "≥ 600 s"),
        (0.26, Bound.EXACT, 0.0, "0.26 s (at event receipt)"),
        (12.0, "exact", 2.0, "12 s (resolution 2 s)"),
        (None, Bound.LOWER, 2.0, "not measured"),
    ],
)
def test_a_measurement_reads_the_same_in_every_report(
    seconds: float | None, bound: Bound | str, resolution: float | None, text: str
) -> None:
    assert format_measured(seconds, bound, resolution=resolution) == text

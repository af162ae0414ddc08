"""Prometheus probes: a metric's current value, or whether it lies within bounds.

Both ask Prometheus's instant-query API (``drillkit.drivers.prometheus``) once
per call. The query must give one number: a scalar or a single series; an empty
result means there is no data now. Failing to ask raises ``PrometheusError``
(exit code 3) with one line saying why.
"""

from __future__ import annotations

import math

from drillkit.drivers import prometheus
from drillkit.errors import InvalidInput


def prometheus_query(url: str, query: str, timeout: float = 5.0) -> float | None:
    """The value of ``query`` at Prometheus ``url`` now; None when the result is empty."""
    return prometheus.query_instant(url, query, timeout=timeout)


def prometheus_threshold(
    url: str,
    query: str,
    min_value: float | None = None,
    max_value: float | None = None,
    timeout: float = 5.0,
) -> bool:
    """True when the value of ``query`` lies within ``[min_value, max_value]`` (inclusive).

    Give either bound or both. No data (an empty result) and NaN are false: a
    threshold that cannot be checked must not pass.
    """
    if min_value is None and max_value is None:
        raise InvalidInput("prometheus_threshold needs min_value, max_value or both")
    if min_value is not None and max_value is not None and min_value > max_value:
        raise InvalidInput(
            f"prometheus_threshold: min_value {min_value:g} is above max_value {max_value:g}"
        )
    value = prometheus.query_instant(url, query, timeout=timeout)
    if value is None or math.isnan(value):
        return False
    if min_value is not None and value < min_value:
        return False
    return max_value is None or value <= max_value

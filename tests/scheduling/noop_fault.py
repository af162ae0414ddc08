"""The fault of the scheduler's noop drill: it touches nothing but reports, as drillkit's
faults do, that it disrupted a pod of the drill's target namespace.

The scheduler's tests need a run that is judged (a verdict of ``met``), not a real fault;
a fault that says it affected nothing, or a generic action after which the recovery
condition never broke, would rightly be ``inconclusive``.
"""

from __future__ import annotations

from drillkit.faults.steps import AFFECTED_KEY, affected


def change_nothing() -> dict[str, object]:
    return {AFFECTED_KEY: [affected("Pod", "noop-0", action="deleted", namespace="default")]}

"""The control of the compatibility documents: it stops experiments where it is told to.

An experiment declares it as ``{"name": ..., "provider": {"type": "python", "module":
"controls", "arguments": {...}}}``; chaoslib calls each function below with the same
arguments, at its level. ``interrupt_before_method``: raise ``InterruptExecution`` before
the method; ``interrupt_before``: before the activity of that name; ``exit_after``:
raise ``SystemExit`` after the activity of that name.
"""

from __future__ import annotations

from typing import Any

from chaoslib.exceptions import InterruptExecution


def before_method_control(context: Any, **arguments: Any) -> None:
    if arguments.get("interrupt_before_method"):
        raise InterruptExecution("the control stops the experiment before its method")


def before_activity_control(context: Any, **arguments: Any) -> None:
    name = context.get("name")
    if name is not None and name == arguments.get("interrupt_before"):
        raise InterruptExecution(f"the control stops the experiment before {name}")


def after_activity_control(context: Any, **arguments: Any) -> None:
    name = context.get("name")
    if name is not None and name == arguments.get("exit_after"):
        raise SystemExit(f"the control exits after {name}")

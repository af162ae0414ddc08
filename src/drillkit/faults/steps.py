"""What a drillkit fault reports beside its effect, under keys the run's event handler
(``drillkit.running.chaostoolkit``) reads into the timeline and the run record.

- ``INJECTED_AT``: ``t_inject``, the instant the target acknowledged the first disruptive
  operation, as ``instant()``; None when the fault disrupted nothing;
- ``LANDED_WITHIN_KEY``: for a fault whose first disruption happened somewhere inside a
  step (a runbook command), ``INJECTED_AT`` is the step's start and this the step's
  length in seconds: data written until then may be lost with it;
- ``STEPS_KEY``: the procedure steps it ran (``procedure_step``), each a timeline event;
- ``RESTORE_POINT_KEY``: the snapshot or backup a restore starts from, and its age;
- ``RESTORED_KEY``: what a backup restore wrote, counted by kind (never content);
- ``AFFECTED_KEY``: what the fault disrupted (``affected``), so that a verdict can tell a
  fault that landed on the drill's targets from one that touched nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from drillkit.model.timeline import format_utc

INJECTED_AT = "drillkit_injected_at"
LANDED_WITHIN_KEY = "drillkit_landed_within_seconds"
STEPS_KEY = "drillkit_steps"
RESTORE_POINT_KEY = "drillkit_restore_point"
RESTORED_KEY = "drillkit_restored"
AFFECTED_KEY = "drillkit_affected"


def affected(
    kind: str, name: str, *, action: str, namespace: str | None = None
) -> dict[str, object]:
    """One ``AFFECTED_KEY`` entry: a ``Pod`` deleted or evicted, a ``Node`` stopped, an
    ``EtcdMember`` crashed, a ``Region`` stopped; ``namespace`` for namespaced kinds."""
    return {"kind": kind, "namespace": namespace, "name": name, "action": action}


def instant() -> dict[str, object]:
    """Now, on both clocks, as a step's ``started`` or ``finished``."""
    return {"monotonic": time.monotonic(), "utc": format_utc(datetime.now(UTC))}


def procedure_step(
    *,
    phase: str,
    name: str,
    command: str,
    executor: str,
    started: dict[str, object],
    finished: dict[str, object],
    member: str | None = None,
    seconds: float | None = None,
    exit_code: int = 0,
    output: str = "",
) -> dict[str, object]:
    """One ``STEPS_KEY`` entry; ``seconds`` defaults to the time between the instants."""
    if seconds is None:
        seconds = float(str(finished["monotonic"])) - float(str(started["monotonic"]))
    return {
        "phase": phase,
        "name": name,
        "member": member,
        "command": command,
        "executor": executor,
        "started": started,
        "finished": finished,
        "seconds": round(seconds, 3),
        "exit_code": exit_code,
        "output": output,
    }


# No Chaos Toolkit activities here: the functions serve drillkit's faults and runner
# and are no part of the experiment file API.
__all__: list[str] = []

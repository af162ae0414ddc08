"""Keeping a cluster whole: the run lock, undo records, crash recovery and guardrails.

DESIGN section 4 in code. A run holds ``ClusterLock`` for its whole life, checks
``ensure_guardrails`` before its first change, lets every fault ``record_undo``
before it acts, reverts its own records with ``revert_run`` when it ends, and
calls ``recover`` first to revert what dead runs left behind.
"""

from drillkit.safety.guardrails import (
    GuardrailViolation,
    Violation,
    check_guardrails,
    ensure_guardrails,
)
from drillkit.safety.lock import ClusterLock, LockHeld, LockLost
from drillkit.safety.recover import RecoveryAction, RecoveryOutcome, recover, revert_run
from drillkit.safety.undo import (
    START_LAB_ZONE,
    UNCORDON_NODES,
    UndoNotRecorded,
    UndoRecord,
    pending_undo,
    record_undo,
    resolve_undo,
)

__all__ = [
    "START_LAB_ZONE",
    "UNCORDON_NODES",
    "ClusterLock",
    "GuardrailViolation",
    "LockHeld",
    "LockLost",
    "RecoveryAction",
    "RecoveryOutcome",
    "UndoNotRecorded",
    "UndoRecord",
    "Violation",
    "check_guardrails",
    "ensure_guardrails",
    "pending_undo",
    "record_undo",
    "recover",
    "resolve_undo",
    "revert_run",
]

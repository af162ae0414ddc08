"""Keeping a cluster whole: the run lock, undo records, crash recovery and guardrails.

DESIGN section 4 in code. A run holds ``ClusterLock`` for its whole life, checks
``ensure_guardrails`` before its first change, lets every fault ``record_undo``
before it acts, reverts its own records with ``revert_run`` when it ends, and
calls ``recover`` first to revert what dead runs left behind.

Callers import from the modules (``safety.lock``, ``safety.undo``...): the package itself
imports nothing, so that a run that touches no cluster can check its guardrails without
loading the Kubernetes client.
"""

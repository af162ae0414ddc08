"""Small helpers for tests: waiting on conditions with a deadline, never fixed sleeps."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from drillkit.lab.cluster import load_manifests
from drillkit.lab.resources import seed_manifests_dir

T = TypeVar("T")

# Generous on purpose: a loaded 2-core CI machine is slow, and these deadlines only
# bound a hang; no test asserts how long anything took.
DEADLINE = 180.0


def log_progress(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr)


def wait_until(
    description: str, condition: Callable[[], T | bool | None], timeout: float = DEADLINE
) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last  # type: ignore[return-value]
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {description}; last: {last}")


def seed_web_manifests(namespace: str, *, replicas: int = 6) -> list[dict[str, Any]]:
    """The seed's web Deployment, PDB and Service, moved into another namespace."""
    manifests = []
    for manifest in load_manifests(seed_manifests_dir()):
        if manifest["kind"] not in ("Deployment", "PodDisruptionBudget", "Service", "ConfigMap"):
            continue
        moved = copy.deepcopy(manifest)
        moved["metadata"]["namespace"] = namespace
        if moved["kind"] == "Deployment":
            moved["spec"]["replicas"] = replicas
        manifests.append(moved)
    return manifests

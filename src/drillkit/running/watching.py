"""Watch-driven observation of Kubernetes workloads.

One watch per workload, shared by everything that wants to know about it: the
recovery condition (when every probe of it is a drillkit workload probe) and the
capacity record. Each change reaches the observer as it happens, so a recovery is
recorded within milliseconds of the API event instead of at the next poll, and a
quiet observation costs a few requests a minute instead of one per probe per poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from drillkit.model.drill import WorkloadReference
from drillkit.running.observer import CapacitySample, Evaluation
from drillkit.waiting import poll_until

if TYPE_CHECKING:
    from drillkit.drivers.kubernetes import Cluster, WorkloadState, WorkloadWatch

WORKLOAD_PROBES = "drillkit.probes.kubernetes"
"""The module of the workload probes a watch can answer; it and the Kubernetes client are
imported only for a run that names one, never to tell that a probe is something else."""

WorkloadKey = tuple[str, str, str]
"""(kind, namespace, name)"""


def _watched_kind(provider: Mapping[str, Any]) -> str | None:
    """The workload kind whose watch answers the probe, for probes that declare one."""
    if provider.get("type") != "python" or provider.get("module") != WORKLOAD_PROBES:
        return None
    from drillkit.probes import kubernetes as kubernetes_probes

    probe = getattr(kubernetes_probes, str(provider.get("func")), None)
    kind = getattr(probe, kubernetes_probes.WATCHED_KIND, None)
    return kind if isinstance(kind, str) else None


def watchable(probe: Mapping[str, Any]) -> bool:
    """Whether a workload watch answers the probe, without calling it: a drillkit
    workload probe naming its workload, expected to hold (tolerance true)."""
    provider = probe.get("provider") or {}
    arguments = provider.get("arguments") or {}
    return (
        _watched_kind(provider) is not None
        and probe.get("tolerance") is True
        and "namespace" in arguments
        and "name" in arguments
    )


class WorkloadWatches:
    """The latest known state of each followed workload, kept current by watches."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._lock = threading.Lock()
        self._states: dict[WorkloadKey, WorkloadState] = {}
        self._lost: dict[WorkloadKey, str] = {}
        self._watches: dict[WorkloadKey, WorkloadWatch] = {}
        self._listeners: list[Callable[[], None]] = []

    def follow(self, kind: str, namespace: str, name: str) -> WorkloadKey:
        from drillkit.drivers.kubernetes import WorkloadWatch

        key = (kind, namespace, name)
        if key not in self._watches:

            def on_state(state: WorkloadState) -> None:
                self._update(key, state, None)

            def on_lost(problem: str) -> None:
                self._update(key, None, problem)

            self._watches[key] = WorkloadWatch(
                self.cluster,
                kind=kind,
                namespace=namespace,
                name=name,
                on_state=on_state,
                on_lost=on_lost,
            )
        return key

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def state(self, key: WorkloadKey) -> tuple[WorkloadState | None, str | None]:
        """The latest state and, when contact was lost since, why it may be stale."""
        with self._lock:
            return self._states.get(key), self._lost.get(key)

    def start(self, *, initial_timeout: float = 30.0) -> None:
        """Start every watch and wait (bounded) until each has reported once, so the first
        observation is a fact rather than "not observed yet"."""
        for each in self._watches.values():
            each.start()
        poll_until(self._all_reported, timeout=initial_timeout, interval=0.01)

    def _all_reported(self) -> bool:
        with self._lock:
            return all(k in self._states or k in self._lost for k in self._watches)

    def stop(self) -> None:
        for each in self._watches.values():
            each.stop()

    def _update(self, key: WorkloadKey, state: WorkloadState | None, lost: str | None) -> None:
        with self._lock:
            if state is not None:
                self._states[key] = state
                self._lost.pop(key, None)
            if lost is not None:
                self._lost[key] = lost
        for listener in self._listeners:
            listener()


class WorkloadAvailable:
    """A workload has at least ``at_least`` ready replicas (default: all it wants)."""

    def __init__(self, watches: WorkloadWatches, key: WorkloadKey, at_least: int | None) -> None:
        self.watches = watches
        self.key = key
        self.at_least = at_least
        kind, namespace, name = key
        self.name = f"{kind.lower()} {namespace}/{name} available"

    def evaluate(self) -> Evaluation:
        state, lost = self.watches.state(self.key)
        if lost is not None:
            # Out of contact: the last state seen may be stale, and nothing newer is known.
            return Evaluation(holds=False, detail=lost, observed=False)
        if state is None:
            return Evaluation(holds=False, detail="not observed yet", observed=False)
        if not state.exists:
            return Evaluation(holds=False, detail=f"{self.key[1]}/{self.key[2]} does not exist")
        wanted = state.desired if self.at_least is None else self.at_least
        holds = wanted > 0 and state.ready >= wanted
        return Evaluation(holds=holds, detail=f"{state.ready}/{state.desired} ready")


class AllOf:
    """Holds when every part holds; the detail names the first part that does not."""

    def __init__(self, name: str, parts: Sequence[WorkloadAvailable]) -> None:
        self.name = name
        self.parts = list(parts)

    def evaluate(self) -> Evaluation:
        """A part seen failing makes the whole fail; otherwise a part that could not be
        observed leaves the whole unobserved."""
        details = []
        unobserved: Evaluation | None = None
        for part in self.parts:
            evaluation = part.evaluate()
            detail = f"{part.name}: {evaluation.detail}"
            if not evaluation.observed:
                unobserved = unobserved or Evaluation(holds=False, detail=detail, observed=False)
            elif not evaluation.holds:
                return Evaluation(holds=False, detail=detail)
            else:
                details.append(evaluation.detail)
        return unobserved or Evaluation(holds=True, detail="; ".join(details))


def watched_condition(
    probes: Sequence[Mapping[str, Any]], watches: WorkloadWatches
) -> AllOf | None:
    """The recovery condition answered from watches, or None when a probe needs polling."""
    if not all(map(watchable, probes)):
        return None
    parts = []
    for probe in probes:
        provider = probe["provider"]
        kind = _watched_kind(provider)
        assert kind is not None
        arguments = provider["arguments"]
        key = watches.follow(kind, str(arguments["namespace"]), str(arguments["name"]))
        at_least = arguments.get("at_least")
        parts.append(WorkloadAvailable(watches, key, int(at_least) if at_least else None))
    return AllOf("recovery condition", parts) if parts else None


class WatchedCapacity:
    """Ready replicas of the target workloads, from the shared watches."""

    def __init__(self, watches: WorkloadWatches, workloads: Sequence[WorkloadReference]) -> None:
        self.watches = watches
        self.keys = [watches.follow(str(w.kind), w.namespace, w.name) for w in workloads]

    def sample(self) -> list[CapacitySample]:
        samples = []
        for key in self.keys:
            state, lost = self.watches.state(key)
            if state is None or lost is not None:
                continue
            kind, namespace, name = key
            samples.append(
                CapacitySample(
                    workload=f"{kind}/{namespace}/{name}", ready=state.ready, desired=state.desired
                )
            )
        return samples

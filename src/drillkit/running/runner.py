"""Run one drill: the pre-flight, then the run's life (``running/lifecycle.py``).

``run_drill`` is the single entry point for ``drill run``, the scheduler and game
days. It connects to the measured cluster once and, before anything changes there,
checks the production confirmation and every cluster the faults name, reads the
scope, passes the guardrails, takes the lock and reverts what crashed runs left
behind; then it hands that one connection to a :class:`DrillRun`. It never raises
for a drill that ran badly: a missed objective, a deviation, an interruption or an
error inside the experiment all end in a ``RunRecord``. It raises only when it
cannot start at all (``InvalidInput``, ``GuardrailViolation``, ``LockHeld``,
``ClusterError``).
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from drillkit.errors import ClusterError, DrillError
from drillkit.model.activities import Activity, Section, parse_activities, parse_activity
from drillkit.model.drill import Drill
from drillkit.model.measurement import format_seconds
from drillkit.model.run import RunRecord, Scope, TouchedCluster
from drillkit.model.timeline import LockLost, TimelineEvent
from drillkit.running import chaostoolkit
from drillkit.running.activities import declaration, disruptions, speaks_kubernetes
from drillkit.running.lifecycle import DrillRun, RunOptions, operator_identity, run_secrets
from drillkit.running.recorder import Clock, SystemClock, TimelineRecorder
from drillkit.running.redaction import Secrets
from drillkit.safety.guardrails import (
    GuardrailViolation,
    Violation,
    check_guardrails,
    ensure_production_confirmed,
)

if TYPE_CHECKING:
    from drillkit.drivers.kubernetes import Cluster
    from drillkit.safety.lock import ClusterLock

__all__ = [
    "RunOptions",
    "check_touched_clusters",
    "collect_run_secrets",
    "describe_scope",
    "guardrail_violations",
    "new_run_id",
    "operator_identity",
    "register_undo_actions",
    "revert_until_deadline",
    "run_drill",
    "uses_kubernetes",
]


def run_drill(
    drill: Drill,
    options: RunOptions,
    *,
    on_event: Callable[[TimelineEvent], None] | None = None,
    on_message: Callable[[str], None] = lambda _: None,
    clock: Clock | None = None,
) -> RunRecord:
    """Run the drill once and return everything it produced (not yet written to disk).

    A drill that acts on Kubernetes first passes the guardrails, takes the cluster
    lock and reverts what crashed runs left behind; at its end, whatever happened,
    everything it recorded an undo for is reverted and verified, then the lock is
    released. Raises ``GuardrailViolation`` (nothing touched), ``LockHeld`` or
    ``ClusterError`` when it cannot start.
    """
    experiment = chaostoolkit.load_experiment(drill.experiment_path())
    # Judged before the run (guardrails, the clusters faults name): the configuration
    # chaoslib will use, the experiment's under the values given for it.
    judged = options.experiment_vars.applied_to(experiment)
    activities = parse_activities(judged)
    context = options.context or drill.target.context
    recorder = TimelineRecorder(clock)
    if on_event is not None:
        recorder.subscribe(on_event)
    run_id = new_run_id(clock)
    if not uses_kubernetes(drill, activities):
        ensure_production_confirmed(drill, confirmation=options.confirm_production, context=context)
        scope = describe_scope(drill, options)
        return DrillRun(
            drill, experiment, options, run_id=run_id, recorder=recorder, scope=scope
        ).execute()
    # Only now, for a run that acts on a cluster: the client, the lock and the undo records.
    from drillkit.drivers.kubernetes import Cluster
    from drillkit.safety.lock import ClusterLock
    from drillkit.safety.recover import recover

    register_undo_actions()
    with Cluster.connect(options.kubeconfig, context) as cluster:
        # Before anything else touches the cluster: a refused run changes nothing.
        ensure_production_confirmed(
            drill, confirmation=options.confirm_production, context=cluster.context_name
        )
        # Before the first change (the lock): every cluster a fault will act on is
        # the one it names, and the scope is the cluster as the run found it.
        touched = check_touched_clusters(cluster, judged)
        scope = describe_scope(drill, options, touched, cluster=cluster)
        violations = guardrail_violations(cluster, drill, activities)
        if violations:
            raise GuardrailViolation(violations)

        def on_lock_lost(reason: str) -> None:
            recorder.record(LockLost(at=recorder.now(), reason=reason))
            # Only while the experiment runs is there a handler to stop it with its
            # rollbacks; before or after, the guard signal's default would kill the process.
            guard = chaostoolkit.GUARD_SIGNAL
            if signal.getsignal(guard) not in (signal.SIG_DFL, signal.SIG_IGN, None):
                chaostoolkit.abort_main_thread()

        def revert() -> str | None:
            # After the rollbacks: whatever they missed (or never ran, or could not do
            # while the API server was away) is reverted from the undo records, and
            # verified, retrying until the drill's rollback deadline.
            return revert_until_deadline(
                cluster,
                run_id,
                deadline=drill.safety.rollback_deadline.total_seconds(),
                on_message=on_message,
            )

        lock = ClusterLock(cluster, holder=run_id, on_lost=on_lock_lost)
        lock.acquire()
        try:
            for action in recover(cluster, progress=on_message):
                on_message(action.as_leftover())
            run = DrillRun(
                drill,
                experiment,
                options,
                run_id=run_id,
                recorder=recorder,
                scope=scope,
                cluster=cluster,
                revert=revert,
            )
            return run.execute()
        finally:
            _release(lock, on_message)


def register_undo_actions() -> None:
    """Make every kind of undo record revertible: the fault modules that write them
    register, when imported, the functions that revert them (``@reverts``).

    Called before recovering or reverting, not at import: the modules reach boto3, the
    lab and the restore engine, which a run that touches no cluster never needs.
    """
    import drillkit.faults.backup  # the undo actions of cross-region restores
    import drillkit.faults.etcd  # the undo action of etcd restores
    import drillkit.faults.platforms  # noqa: F401  (the undo action of cloud zone outages)


def revert_until_deadline(
    cluster: Cluster, run_id: str, *, deadline: float, on_message: Callable[[str], None]
) -> str | None:
    """Revert and verify everything the run recorded, retrying with backoff while it
    fails (the API server away, a revert not yet verified) for up to ``deadline``
    seconds. Returns None when everything is reverted, else what is still not; its undo
    records are kept for ``drill recover``."""
    from drillkit.safety.recover import RecoveryOutcome, revert_run

    give_up_at = time.monotonic() + deadline
    delay = 1.0
    while True:
        try:
            actions = revert_run(cluster, run_id, progress=lambda _: None)
        except DrillError as error:
            failures = [str(error)]
        else:
            for action in actions:
                if action.outcome not in (
                    RecoveryOutcome.ALREADY_REVERTED,
                    RecoveryOutcome.FAILED,
                ):
                    on_message(f"safety net: {action.describe()}")
            failures = [a.describe() for a in actions if a.outcome is RecoveryOutcome.FAILED]
        if not failures:
            return None
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            return (
                f"not reverted within the {format_seconds(deadline)} s rollback deadline: "
                f"{'; '.join(failures)}; the undo records are kept: run `drill recover` "
                "once the cluster answers"
            )
        on_message(f"revert failed, retrying in {delay:.0f} s: {failures[0]}")
        threading.Event().wait(min(delay, remaining))
        delay = min(delay * 2, 15.0)


def _release(lock: ClusterLock, on_message: Callable[[str], None]) -> None:
    """Release the lock; when the API server cannot be reached, the Lease expires on
    its own, and the run's record matters more than a prompt release."""
    try:
        lock.release()
    except DrillError as error:
        on_message(f"the cluster lock was not released, it expires on its own: {error}")


def new_run_id(clock: Clock | None = None) -> str:
    """Sortable by start time, unique without coordination: ``20261126-093015-3fa2c1``."""
    now = (clock or SystemClock()).utc()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def uses_kubernetes(drill: Drill, activities: Sequence[Activity]) -> bool:
    """Whether the run acts on or observes a cluster (and so needs lock and guardrails):
    target workloads, RPO markers, or an activity (the experiment's or one of the
    drill's recovery probes) of a Kubernetes-speaking module."""
    if drill.target.workloads or drill.markers is not None:
        return True
    recovery = {"probes": [p.to_chaostoolkit() for p in drill.recovery.probes]}
    recovery_probes = parse_activities({"steady-state-hypothesis": recovery})
    return any(speaks_kubernetes(a) for a in (*activities, *recovery_probes))


def guardrail_violations(
    cluster: Cluster, drill: Drill, activities: Sequence[Activity]
) -> list[Violation]:
    """The guardrails the drill would break on ``cluster`` as it stands; reads only."""

    def pods_matching(namespace: str, selector: str) -> int:
        return sum(not p.terminating for p in cluster.pods(namespace, label_selector=selector))

    return check_guardrails(
        drill,
        disruptions(activities),
        nodes_per_zone=nodes_per_zone(cluster),
        pods_matching=pods_matching,
        nodes_matching=lambda selector: len(cluster.nodes(selector)),
    )


def check_touched_clusters(cluster: Cluster, experiment: Mapping[str, Any]) -> list[TouchedCluster]:
    """Every cluster the experiment's faults will act on, confirmed to be the one they
    name (``drillkit.faults.clusters``); ``InvalidInput`` naming both sides if not.
    Their arguments are substituted as chaoslib will (environment variables read)."""
    # Imported here: it reaches the lab and etcd, which only a run on a cluster needs.
    from drillkit.faults.clusters import check_clusters

    configuration, resolved = chaostoolkit.resolve_activities(experiment)
    faults = []
    for activity in resolved:
        parsed = parse_activity(activity, Section.METHOD)
        declared = declaration(parsed)
        if declared is not None:
            faults.append((activity["provider"].get("arguments") or {}, declared.reach))
    return check_clusters(cluster, faults, configuration)


def describe_scope(
    drill: Drill,
    options: RunOptions,
    touched: Sequence[TouchedCluster] = (),
    *,
    cluster: Cluster | None = None,
) -> Scope:
    """The cluster facts an auditor asks for, read through ``cluster``; unknown when it
    cannot be reached. A run without one acts on no cluster, and its scope names none:
    whatever cluster a kubeconfig happens to point at is not what the run tested.
    ``touched``: the clusters the run acts on, as the pre-flight check found them."""
    context = options.context or drill.target.context
    server = version = None
    per_zone: dict[str, int] = {}
    if cluster is not None:
        context = cluster.context_name
        server = cluster.api_client.configuration.host
        try:
            version = cluster.server_version()
            per_zone = nodes_per_zone(cluster)
        except ClusterError:
            pass
    return Scope(
        context=context,
        cluster_server=server,
        kubernetes_version=version,
        namespaces=tuple(drill.target.namespaces),
        workloads=tuple(f"{w.kind}/{w.namespace}/{w.name}" for w in drill.target.workloads),
        nodes_per_zone=per_zone,
        clusters=tuple(touched),
    )


def nodes_per_zone(cluster: Cluster) -> dict[str, int]:
    """How many nodes each zone has (``-``: nodes without a zone label), by zone."""
    per_zone: dict[str, int] = {}
    for node in cluster.nodes():
        per_zone[node.zone or "-"] = per_zone.get(node.zone or "-", 0) + 1
    return dict(sorted(per_zone.items()))


def collect_run_secrets(drill: Drill, options: RunOptions) -> Secrets:
    """The secrets a run of ``drill`` could see, for whatever prints while it runs."""
    experiment = chaostoolkit.load_experiment(drill.experiment_path())
    return run_secrets(drill, experiment, options)

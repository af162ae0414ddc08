"""Abrupt zone outage on any platform: every machine of one zone stops at once.

The Chaos Toolkit activities ``zone_outage`` and ``end_zone_outage`` (its
rollback) do the same thing everywhere through a ``ZoneOutageProvider``
(``drillkit.faults.platforms``): ``lab`` kills and restarts the zone's kwok process
(what ``drillkit.faults.zones`` does), ``aws`` stops and starts the zone's EC2
instances. An undo record naming the targets is persisted before anything stops.

The output names what was stopped; under ``drillkit_affected``, the zone's nodes
and the pods bound to them at the moment of the stop; and, under
``drillkit_injected_at``, the instant the platform acknowledged the stop: the start
of the outage (``t_inject``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from drillkit.drivers.kubernetes import Cluster
from drillkit.faults.declarations import FaultDeclaration, Reach, declare
from drillkit.faults.platforms import (
    ZONE_OUTAGE_TIMEOUT,
    ZoneOutageProvider,
    inject_zone_outage,
    open_provider,
)
from drillkit.model.activities import Activity
from drillkit.model.drill import Disruption


def _in_a_lab(arguments: Mapping[str, object], configuration: Mapping[str, object]) -> bool:
    return arguments.get("provider", "aws") == "lab"


ON_ITS_PROVIDER = Reach(lab=_in_a_lab)


def _plan_zone_outage(cluster: Cluster, activity: Activity) -> str:
    arguments = {k: str(v) for k, v in activity.arguments.items() if v is not None}
    zone, provider_name = arguments.get("zone"), arguments.get("provider", "aws")
    with open_provider(
        provider_name,
        cluster_name=arguments.get("cluster_name"),
        region=arguments.get("region"),
        endpoint_url=arguments.get("endpoint_url"),
        lab=arguments.get("lab"),
        cluster=cluster,
    ) as provider:
        stopped = provider.find_targets(str(zone))
    return (
        f"{activity.name} stops zone {zone} through {provider_name}: "
        f"{', '.join(stopped) or '(nothing running there)'}"
    )


@declare(FaultDeclaration(plan=_plan_zone_outage, reach=ON_ITS_PROVIDER, disrupts=Disruption.ZONE))
def zone_outage(
    zone: str,
    provider: str = "aws",
    cluster_name: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    lab: str | None = None,
    force: bool = False,
    timeout: float = ZONE_OUTAGE_TIMEOUT,
) -> dict[str, object]:
    """Stop every node machine of ``zone`` at once (Chaos Toolkit action).

    ``provider`` is ``aws`` (``cluster_name`` names the cluster tag; ``region`` and
    ``endpoint_url`` default to boto3's chain and AWS's endpoint) or ``lab`` (the lab
    ``KUBECONFIG`` and ``KUBERNETES_CONTEXT`` reach; ``lab``, if given, must be it).
    The undo record goes to that cluster and to the local state directory.
    """
    with ExitStack() as stack:
        chosen, cluster = _open(
            stack,
            provider,
            cluster_name=cluster_name,
            region=region,
            endpoint_url=endpoint_url,
            lab=lab,
            force=force,
            timeout=timeout,
        )
        if cluster is None:
            cluster = stack.enter_context(Cluster.from_environment())
        output = inject_zone_outage(chosen, zone, cluster=cluster)
    return {**output, "provider": provider}


@declare(FaultDeclaration(blast_radius=None, reach=ON_ITS_PROVIDER))
def end_zone_outage(
    zone: str,
    provider: str = "aws",
    cluster_name: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    lab: str | None = None,
    timeout: float = ZONE_OUTAGE_TIMEOUT,
) -> dict[str, object]:
    """The rollback of ``zone_outage``: start what this run stopped in ``zone``.

    Needs no Kubernetes API on AWS (the lab's is up: only its kwok stopped). The
    run's undo records are left for ``drill run`` (or ``drill recover``) to find
    reverted and resolve, as for every drillkit rollback.
    """
    with ExitStack() as stack:
        chosen, _ = _open(
            stack,
            provider,
            cluster_name=cluster_name,
            region=region,
            endpoint_url=endpoint_url,
            lab=lab,
            timeout=timeout,
        )
        started = chosen.start(zone)
    return {"zone": zone, "provider": provider, "started": started}


def _open(
    stack: ExitStack, provider: str, **arguments: Any
) -> tuple[ZoneOutageProvider, Cluster | None]:
    """The provider the arguments name, and the measured cluster when it is the lab's:
    only the lab's provider asks the cluster (which lab it is); the others are checked
    first, so bad arguments are refused before any connection."""
    cluster = stack.enter_context(Cluster.from_environment()) if provider == "lab" else None
    chosen = stack.enter_context(open_provider(provider, cluster=cluster, **arguments))
    return chosen, cluster


# The Chaos Toolkit activities of this module (what `chaos discover` lists); the other
# public functions serve drillkit itself and are no part of the experiment file API.
__all__ = [
    "end_zone_outage",
    "zone_outage",
]

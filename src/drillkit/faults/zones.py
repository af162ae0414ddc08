"""Abrupt zone outage: every node of a zone stops heartbeating at once.

Unlike a drain, nothing is orderly: the node-lifecycle controller has to notice
the missing heartbeats, mark the nodes NotReady/Unknown and taint them, and the
pods are evicted only when their tolerations run out. The measured RTO therefore
includes the detection time.

In the lab, a zone's nodes are kept alive by that zone's kwok process, so the
outage is a SIGKILL of that process and the rollback starts it again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from drillkit.drivers.kubernetes import Cluster
from drillkit.lab.cluster import Lab
from drillkit.model.timeline import format_utc
from drillkit.safety.undo import START_LAB_ZONE, record_undo

INJECTED_AT = "drillkit_injected_at"


def stop_zone(zone: str, lab: str = "local") -> dict[str, object]:
    """Cut every heartbeat of ``zone`` in the named lab (kill its kwok abruptly)."""
    component = Lab.open(lab).zone_component(zone)
    # Undo before harm: if this process dies now, recovery restarts the zone.
    with Cluster.from_environment() as cluster:
        record_undo(START_LAB_ZONE, (lab, zone), cluster=cluster)
    component.kill()
    # The kill is acknowledged once the process is gone: from here on no node of
    # the zone renews its Lease.
    acknowledged = {"monotonic": time.monotonic(), "utc": format_utc(datetime.now(UTC))}
    return {INJECTED_AT: acknowledged, "zone": zone, "lab": lab}


def start_zone(zone: str, lab: str = "local") -> dict[str, object]:
    """The rollback of ``stop_zone``: the zone's heartbeats resume."""
    with Cluster.from_environment() as cluster:
        started = Lab.open(lab).start_zones([zone], cluster)
    return {"zone": zone, "lab": lab, "started": started}

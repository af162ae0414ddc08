"""Ready replicas of the drill's target workloads, for "time to full capacity"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from drillkit.errors import ClusterError
from drillkit.model.drill import WorkloadReference
from drillkit.running.observer import CapacitySample

if TYPE_CHECKING:
    from drillkit.drivers.kubernetes import Cluster


class WorkloadCapacity:
    """Samples ``(ready, desired)`` of each targeted Deployment or StatefulSet."""

    def __init__(self, cluster: Cluster, workloads: Sequence[WorkloadReference]) -> None:
        self.cluster = cluster
        self.workloads = list(workloads)

    def sample(self) -> list[CapacitySample]:
        if not self.cluster.api_server_ready():
            # Not ready (etcd down, shutting down): what it still serves comes from
            # its cache and may be stale, and reads may hang. Unknown, not "full".
            return []
        samples = []
        for workload in self.workloads:
            try:
                ready, desired = self.cluster.workload_ready_replicas(
                    str(workload.kind), workload.namespace, workload.name
                )
            except ClusterError:
                # A sample that cannot be taken is simply missing; the API may be
                # briefly unavailable during the very faults being drilled.
                continue
            samples.append(
                CapacitySample(
                    workload=f"{workload.kind}/{workload.namespace}/{workload.name}",
                    ready=ready,
                    desired=desired,
                )
            )
        return samples

"""A Chaos Toolkit python fault for the verdict tests: empties one zone of one namespace's pods
and reports what it affected, under ``drillkit_affected``, as drillkit's own faults do.

It deletes only pods of ``namespace``, so it never disturbs the rest of the shared lab.
"""

from __future__ import annotations

from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.faults.steps import AFFECTED_KEY, INJECTED_AT, affected, instant


def empty_zone_of_namespace(zone: str, namespace: str) -> dict[str, object]:
    """Delete the pods of ``namespace`` bound to the nodes of ``zone``."""
    with Cluster.from_environment() as cluster:
        nodes = [node.name for node in cluster.nodes(f"{ZONE_LABEL}={zone}")]
        acknowledged = instant()
        hit = [affected("Node", node, action="emptied") for node in nodes]
        for node in nodes:
            for pod in cluster.pods(namespace, field_selector=f"spec.nodeName={node}"):
                if cluster.delete_pod(pod.namespace, pod.name, grace_period=0):
                    hit.append(affected("Pod", pod.name, action="deleted", namespace=namespace))
    return {INJECTED_AT: acknowledged, AFFECTED_KEY: hit}

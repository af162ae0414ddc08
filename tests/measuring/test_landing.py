"""Whether a fault landed on the drill's targets, from what it says it affected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from drillkit.measuring.landing import measure_landing
from drillkit.model.timeline import Affected, FaultInjected, Instant

WEB = "Deployment/shop/web"


def fault(affected: tuple[Affected, ...] | None, *, at: float = 10.0) -> FaultInjected:
    return FaultInjected(
        at=Instant(monotonic=at, utc=datetime(2026, 1, 1, tzinfo=UTC)),
        activity="zone-a-goes-dark",
        affected=affected,
    )


def pod(namespace: str, name: str = "web-1", *, workload: str | None = None) -> Affected:
    return Affected(kind="Pod", namespace=namespace, name=name, action="deleted", workload=workload)


def node(name: str) -> Affected:
    return Affected(kind="Node", name=name, action="stopped")


@dataclass(frozen=True, kw_only=True)
class Case:
    affected: tuple[Affected, ...] | None
    landed: bool
    reason: str = ""
    """Text the miss must contain; empty when the fault landed."""
    workloads: tuple[str, ...] = ()
    lost_at: tuple[float, ...] = ()


CASES = [
    pytest.param(
        Case(affected=(node("zone-a-1"), pod("shop")), landed=True),
        id="a pod of a target namespace on a stopped node lands",
    ),
    pytest.param(
        Case(affected=(pod("shop", workload=WEB),), workloads=(WEB,), landed=True),
        id="a pod owned by a declared workload lands",
    ),
    pytest.param(
        Case(affected=(pod("shop"),), workloads=(WEB,), landed=True),
        id="a pod whose owner the fault does not name lands by its namespace",
    ),
    pytest.param(
        Case(
            affected=(pod("shop", workload="Deployment/shop/batch"),),
            workloads=(WEB,),
            landed=False,
            reason="the pods it deleted in namespace shop belong to Deployment/shop/batch, "
            "none of the drill's workloads (Deployment/shop/web)",
        ),
        id="a pod owned by another workload does not land",
    ),
    pytest.param(
        Case(
            affected=(node("zone-a-1"), node("zone-a-2")),
            landed=False,
            reason="zone-a-goes-dark affected no target: no pod of namespace shop was on the "
            "stopped nodes (zone-a-1, zone-a-2)",
        ),
        id="stopped nodes without target pods do not land",
    ),
    pytest.param(
        Case(
            affected=(pod("billing", "api-1"), pod("billing", "api-2")),
            landed=False,
            reason="the 2 pods it deleted are in namespace billing, outside namespace shop",
        ),
        id="pods outside the target namespaces do not land",
    ),
    pytest.param(
        Case(affected=(), landed=False, reason="affected no target: it disrupted nothing"),
        id="a fault that affected nothing does not land",
    ),
    pytest.param(
        Case(affected=(Affected(kind="EtcdMember", name="etcd-0", action="crashed"),), landed=True),
        id="a crashed etcd member is cluster-wide and lands",
    ),
    pytest.param(
        Case(affected=(Affected(kind="Region", name="region-a", action="stopped"),), landed=True),
        id="a stopped region is cluster-wide and lands",
    ),
    pytest.param(
        Case(affected=None, lost_at=(12.0,), landed=True),
        id="a generic action lands when the condition was lost after it",
    ),
    pytest.param(
        Case(
            affected=None,
            lost_at=(5.0,),
            landed=False,
            reason="cannot say what it affected, and the recovery condition was never "
            "observed lost after it",
        ),
        id="a generic action does not land when the condition was only lost before it",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_measure_landing(case: Case) -> None:
    landing = measure_landing(
        [fault(case.affected)],
        namespaces=("shop",),
        workloads=case.workloads,
        lost_at=case.lost_at,
    )

    assert landing.landed is case.landed
    if case.landed:
        assert landing.misses == ()
    else:
        (miss,) = landing.misses
        assert case.reason in miss


def test_one_fault_that_landed_is_enough() -> None:
    landing = measure_landing(
        [fault((node("zone-a-1"),)), fault((pod("shop"),), at=20.0)],
        namespaces=("shop",),
        workloads=(),
        lost_at=(),
    )

    assert landing.landed is True

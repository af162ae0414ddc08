"""Which pods a fault picks: pure rules, tested without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drillkit.drivers.kubernetes import PodState
from drillkit.errors import ClusterError, InvalidInput
from drillkit.faults.kubernetes import choose_pods, plan_eviction

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pod(name: str, **fields: object) -> PodState:
    values: dict[str, object] = {
        "namespace": "shop",
        "name": name,
        "uid": f"uid-{name}",
        "node": "node-a-1",
        "created": T0,
        "owner_kind": "ReplicaSet",
        "ready": True,
        "terminating": False,
        "mirror": False,
        "uses_empty_dir": False,
    }
    values.update(fields)
    return PodState(**values)  # type: ignore[arg-type]


PODS = [pod(f"web-{i}", created=T0 + timedelta(minutes=i)) for i in range(6)]


def test_oldest_mode_picks_the_oldest_pods() -> None:
    chosen = choose_pods(list(reversed(PODS)), count=2, percentage=None, mode="oldest")
    assert [p.name for p in chosen] == ["web-0", "web-1"]


def test_random_mode_picks_the_requested_number_of_distinct_pods() -> None:
    chosen = choose_pods(PODS, count=3, percentage=None, mode="random")
    assert len({p.name for p in chosen}) == 3


@pytest.mark.parametrize(
    ("percentage", "expected"),
    [(50, 3), (34, 2), (1, 1), (100, 6)],
    ids=["half", "a third rounds to two", "a sliver is still one pod", "all"],
)
def test_a_percentage_is_rounded_to_whole_pods(percentage: float, expected: int) -> None:
    assert len(choose_pods(PODS, count=None, percentage=percentage, mode="oldest")) == expected


@pytest.mark.parametrize(
    "arguments",
    [
        {"count": 2, "percentage": 50},
        {"count": None, "percentage": None},
        {"count": 0, "percentage": None},
        {"count": None, "percentage": 150},
        {"count": 1, "percentage": None, "mode": "newest"},
    ],
    ids=["both count and percentage", "neither", "zero pods", "over 100 %", "unknown mode"],
)
def test_invalid_selections_are_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        choose_pods(PODS, **{"mode": "random", **arguments})  # type: ignore[arg-type]


def test_asking_for_more_pods_than_match_is_an_error() -> None:
    with pytest.raises(ClusterError, match="wants 7 pods but only 6 match"):
        choose_pods(PODS, count=7, percentage=None, mode="random")


def test_a_drain_skips_daemonset_mirror_and_terminating_pods() -> None:
    pods = [
        pod("web"),
        pod("agent", owner_kind="DaemonSet"),
        pod("static", mirror=True, owner_kind="Node"),
        pod("leaving", terminating=True),
    ]
    to_evict, skipped = plan_eviction(pods, delete_unmanaged=False, delete_emptydir_data=False)
    assert [p.name for p in to_evict] == ["web"]
    assert skipped == ["shop/agent (DaemonSet)", "shop/static (mirror pod)"]


def test_a_drain_refuses_unmanaged_pods_unless_told_to_evict_them() -> None:
    lonely = pod("lonely", owner_kind=None)
    with pytest.raises(InvalidInput, match="has no controller"):
        plan_eviction([lonely], delete_unmanaged=False, delete_emptydir_data=True)
    to_evict, _ = plan_eviction([lonely], delete_unmanaged=True, delete_emptydir_data=True)
    assert to_evict == [lonely]


def test_a_drain_refuses_emptydir_pods_unless_their_data_may_go() -> None:
    scratch = pod("scratch", uses_empty_dir=True)
    with pytest.raises(InvalidInput, match="emptyDir"):
        plan_eviction([scratch], delete_unmanaged=False, delete_emptydir_data=False)
    to_evict, _ = plan_eviction([scratch], delete_unmanaged=False, delete_emptydir_data=True)
    assert to_evict == [scratch]


def test_a_drain_limited_to_namespaces_leaves_every_other_pod_where_it_is() -> None:
    web = pod("web")
    # Unmanaged and in a namespace the runner may not evict in: left alone, not refused.
    system = pod("dns", namespace="kube-system", owner_kind=None)
    to_evict, skipped = plan_eviction(
        [web, system], delete_unmanaged=False, delete_emptydir_data=False, namespaces=["shop"]
    )
    assert to_evict == [web]
    assert skipped == ["kube-system/dns (outside the drained namespaces)"]

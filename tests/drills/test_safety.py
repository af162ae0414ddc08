"""Safety of drill runs on the lab: crashes, the cluster lock, guardrails, dry runs.

Each test SIGKILLs or blocks ``drill run`` at a chosen point and checks that the
cluster is restored by ``drill recover`` or by the next run, and that the killed
run still shows in ``drill report list``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drillkit.lab.cluster import Lab
from tests.conftest import start_lab
from tests.drills.support import (
    SHIPPED_DRILLS,
    BackgroundDrill,
    drill_environment,
    run_cli,
    run_drill,
    shipped,
    write_variant,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.lab


def drill_cli(lab: Lab, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_cli(drill_environment(lab), *arguments)


def cordoned(lab: Lab) -> list[str]:
    with lab.connect() as cluster:
        return [n.name for n in cluster.nodes() if n.unschedulable]


def what_a_drill_writes(lab: Lab) -> dict[str, object]:
    """Everything a drill can change: node labels, annotations, cordons and taints,
    the pods and where they run, and which lab processes run.

    Not resource versions: kwok's heartbeats rewrite node status on their own
    schedule, and the node controller sets its ``node.kubernetes.io/`` taints from
    that status (and from a cordon, which ``unschedulable`` shows already). Nor the
    pods of namespaces being deleted: an earlier test's namespace goes on its own.
    """
    with lab.connect() as cluster:
        nodes = cluster.nodes()
        pods = cluster.pods("*")
        leaving = {
            n.metadata.name
            for n in cluster.core.list_namespace().items
            if n.metadata.deletion_timestamp is not None
        }
    state: dict[str, object] = {
        f"node/{n.name}": (
            n.labels,
            n.annotations,
            n.unschedulable,
            sorted(t for t in n.taints if not t.startswith("node.kubernetes.io/")),
        )
        for n in nodes
    }
    state |= {
        f"pod/{p.namespace}/{p.name}": (p.uid, p.node, p.terminating)
        for p in pods
        if p.namespace not in leaving
    }
    state["running"] = sorted(c.name for c in lab.components() if c.is_running())
    return state


@pytest.fixture(scope="module")
def crash_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    """One lab for the crash tests; each test leaves it whole again, or fails."""
    own = start_lab("crashes")
    yield own
    own.down(lambda _: None)
    own.purge()


def ensure_whole(lab: Lab) -> None:
    """Every component running, every node schedulable and Ready, web back to 6."""
    for component in lab.components():
        if not component.is_running():
            component.start()
            component.wait_ready()
    with lab.connect() as cluster:
        wait_until("all nodes Ready", lambda: all(n.ready for n in cluster.nodes()))
        wait_until(
            "web 6/6 ready", lambda: cluster.deployment_ready_replicas("shop", "web") == (6, 6)
        )


# Where each drill is killed: the progress line to wait for, per drill.
KILL_POINTS = {
    "before-injection": {
        "pod-kill": "started",
        "zone-failure": "started",
        "zone-outage": "started",
    },
    "mid-fault": {
        "pod-kill": "fault injected by kill-two-web-pods",
        "zone-failure": "action drain-zone-a started",
        "zone-outage": "fault injected by zone-a-goes-dark",
    },
    "during-rollback": {
        "pod-kill": "rollbacks started",
        "zone-failure": "rollbacks started",
        "zone-outage": "rollbacks started",
    },
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
@pytest.mark.parametrize("name", ["pod-kill", "zone-failure", "zone-outage"])
def test_a_killed_run_is_reverted_by_recover_and_listed_as_interrupted(
    crash_lab: Lab, tmp_path: Path, name: str, point: str
) -> None:
    drill, experiment = shipped(name)
    if point == "before-injection":
        # A slow steady-state check holds the run before its method for two minutes.
        experiment["steady-state-hypothesis"]["probes"].insert(
            0,
            {
                "type": "probe",
                "name": "slow-steady-state-probe",
                "tolerance": 0,
                "provider": {"type": "process", "path": "sleep", "arguments": "120"},
            },
        )
    if point == "during-rollback":
        # A slow first rollback step, so the run can be killed while rolling back,
        # before the step that undoes the fault.
        experiment.setdefault("rollbacks", []).insert(
            0,
            {
                "type": "action",
                "name": "slow-rollback-step",
                "provider": {"type": "process", "path": "sleep", "arguments": "120"},
            },
        )
    path = write_variant(tmp_path / "drills", f"{name}-{point}", drill=drill, experiment=experiment)
    scheduler = crash_lab.component("kube-scheduler")
    if name == "zone-failure" and point == "mid-fault":
        # Without a scheduler no replacement becomes ready, so the drain keeps
        # retrying refused evictions: it is reliably mid-fault when it is killed.
        scheduler.stop()
    reports = tmp_path / "reports"
    try:
        run = BackgroundDrill(crash_lab, path, reports, tmp_path / "log")
        run.wait_for(KILL_POINTS[point][name])
        if name == "zone-failure" and point == "mid-fault":
            wait_until("zone-a cordoned", lambda: cordoned(crash_lab))
        run.kill()
        if point != "before-injection" and name == "zone-failure":
            assert cordoned(crash_lab), "killed while zone-a was cordoned"
        if point != "before-injection" and name == "zone-outage":
            assert not crash_lab.zone_component("zone-a").is_running(), "killed while dark"

        recovered = drill_cli(crash_lab, "recover")
        assert recovered.returncode == 0, recovered.stderr
        assert cordoned(crash_lab) == []
        assert crash_lab.zone_component("zone-a").is_running()
    finally:
        if not scheduler.is_running():
            scheduler.start()
    ensure_whole(crash_lab)
    listing = drill_cli(crash_lab, "report", "list", "--reports-dir", str(reports))
    assert f"{name}-{point}" in listing.stdout
    assert "interrupted" in listing.stdout


def test_killed_during_a_zone_outage_is_healed_by_the_next_run(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    kwok_a = scratch_lab.zone_component("zone-a")
    run = BackgroundDrill(
        scratch_lab, SHIPPED_DRILLS / "zone-outage.yaml", reports, tmp_path / "log"
    )
    run.wait_for("fault injected by zone-a-goes-dark")
    run.kill()
    assert not kwok_a.is_running(), "killed while zone-a is dark"

    # The dead run's lock expires on its own; until then a new run is refused.
    def next_run_starts() -> subprocess.CompletedProcess[str] | None:
        result = drill_cli(
            scratch_lab,
            "run",
            "pod-kill",
            "--drills-dir",
            str(SHIPPED_DRILLS),
            "--reports-dir",
            str(reports),
            "--output",
            "json",
        )
        if result.returncode == 3 and "holds the cluster lock" in result.stderr:
            return None
        return result

    result = wait_until("the dead run's lock to expire", next_run_starts)
    assert "recovered from an earlier run" in result.stderr
    assert kwok_a.is_running()
    with scratch_lab.connect() as cluster:
        wait_until("zone-a Ready again", lambda: all(n.ready for n in cluster.nodes()))


def test_a_second_run_is_refused_while_the_first_holds_the_lock(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    # A pod kill that must stay recovered for 30 s: the lock is held at least that long
    # after the fault, a wide window for the second run.
    drill, experiment = shipped("pod-kill")
    drill["objectives"]["stable_for"] = "30s"
    holding = write_variant(tmp_path, "pod-kill-long", drill=drill, experiment=experiment)
    first = BackgroundDrill(scratch_lab, holding, reports, tmp_path / "log")
    first.wait_for("action kill-two-web-pods started")
    second = run_drill(scratch_lab, SHIPPED_DRILLS / "pod-kill.yaml", reports)
    assert second.returncode == 3
    run_id = first.log.read_text().split("run ", 1)[1].split()[0]
    assert "holds the cluster lock" in second.stderr
    assert run_id in second.stderr, "the refusal names the holder"
    stdout = first.finish()
    assert first.process.returncode == 0, first.log.read_text()
    assert yaml.safe_load(stdout)["verdict"] == "met"


def test_guardrails_refuse_protected_namespaces_and_extra_zones_before_any_change(
    lab: Lab, tmp_path: Path
) -> None:
    before = what_a_drill_writes(lab)

    drill, experiment = shipped("pod-kill")
    drill["target"]["namespaces"] = ["kube-system"]
    drill["target"]["workloads"] = []
    experiment["method"][0]["provider"]["arguments"]["namespace"] = "kube-system"
    protected = write_variant(tmp_path, "protected", drill=drill, experiment=experiment)
    refused = run_drill(lab, protected, tmp_path / "reports")
    assert refused.returncode == 2, refused.stderr
    assert "kube-system" in refused.stderr

    drill, experiment = shipped("zone-failure")
    second_zone = yaml.safe_load(yaml.safe_dump(experiment["method"][0]))
    second_zone["name"] = "drain-zone-b"
    second_zone["provider"]["arguments"]["zone"] = "zone-b"
    experiment["method"].append(second_zone)
    two_zones = write_variant(tmp_path, "two-zones", drill=drill, experiment=experiment)
    refused = run_drill(lab, two_zones, tmp_path / "reports")
    assert refused.returncode == 2, refused.stderr
    assert "zone" in refused.stderr

    assert what_a_drill_writes(lab) == before, "a refused drill changed the cluster"


def test_dry_run_lists_the_plan_and_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    before = what_a_drill_writes(lab)
    for name in ("pod-kill", "zone-failure", "zone-outage"):
        result = drill_cli(
            lab,
            "run",
            name,
            "--drills-dir",
            str(SHIPPED_DRILLS),
            "--reports-dir",
            str(tmp_path / "reports"),
            "--dry-run",
        )
        assert result.returncode == 0, result.stderr
        assert "dry run" in result.stdout
        assert "method action" in result.stdout
    assert what_a_drill_writes(lab) == before
    assert not (tmp_path / "reports").exists()

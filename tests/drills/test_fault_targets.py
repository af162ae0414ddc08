"""Faults act on the cluster the run measures, say what they landed on, and stamp
t_inject at their first acknowledged disruption; against labs of the tests' own."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drillkit.faults.steps import AFFECTED_KEY
from drillkit.faults.zones import start_zone, stop_zone
from drillkit.lab import build
from drillkit.lab.cluster import Lab
from drillkit.safety.recover import revert_run
from tests.conftest import running_lab
from tests.drills.support import (
    SHIPPED_DRILLS,
    DrillResult,
    drill_environment,
    run_cli,
    run_drill,
    run_drill_with,
    shipped,
    write_variant,
)
from tests.drills.test_cross_region import environment, regions  # noqa: F401  (a fixture)

pytestmark = pytest.mark.lab


@pytest.fixture
def other_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    """A second lab of the test's own: the one a misdirected fault would hit."""
    with running_lab(f"other-{uuid.uuid4().hex[:6]}") as own:
        yield own


def identity_of(lab: Lab) -> dict[str, Any]:
    """What a report must record of a lab: API server, CA fingerprint, kube-system UID."""
    with lab.connect() as cluster:
        uid = cluster.core.read_namespace("kube-system").metadata.uid
    return {
        "server": lab.api_server_url,
        "ca_sha256": hashlib.sha256((lab.directory / "pki" / "ca.crt").read_bytes()).hexdigest(),
        "kube_system_uid": uid,
    }


def zone_a_kwok(lab: Lab) -> int | None:
    return lab.zone_component("zone-a").pid()


def zone_outage_naming(tmp_path: Path, lab_name: str) -> Path:
    """The shipped zone-outage drill, its fault and rollback naming ``lab_name``."""
    drill, experiment = shipped("zone-outage")
    for activity in experiment["method"] + experiment["rollbacks"]:
        activity["provider"]["arguments"]["lab"] = lab_name
    return write_variant(
        tmp_path / "variant", "zone-outage-named", drill=drill, experiment=experiment
    )


def etcd_restore_of(tmp_path: Path, lab: Lab) -> Path:
    """The shipped etcd-restore drill, its members declared: those of ``lab``."""
    drill, experiment = shipped("etcd-restore")
    experiment["configuration"]["etcd"] = {
        "members": [
            {
                "name": m.name,
                "data_dir": str(m.data_dir),
                "peer_url": m.peer_url,
                "client_url": m.client_url,
                "component": m.component,
            }
            for m in lab.etcd_members()
        ],
        "executor": {"type": "local", "path": [str(build.binaries_dir())]},
        "variables": {"lab": lab.shape.name, "snapshots": str(tmp_path / "snapshots")},
    }
    return write_variant(tmp_path / "etcd", "etcd-elsewhere", drill=drill, experiment=experiment)


def test_faults_act_on_the_lab_the_kubeconfig_reaches_and_clusters_named_elsewhere_are_refused(
    scratch_lab: Lab, other_lab: Lab, tmp_path: Path
) -> None:
    measured, elsewhere = scratch_lab, other_lab
    kwoks_before = (zone_a_kwok(measured), zone_a_kwok(elsewhere))
    etcd_before = elsewhere.component("etcd").pid()

    # etcd members that serve another cluster: refused before the snapshot, named.
    etcd_elsewhere = etcd_restore_of(tmp_path, elsewhere)
    refused = run_drill(measured, etcd_elsewhere, tmp_path / "reports")
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert elsewhere.etcd_members()[0].client_url in line and measured.api_server_url in line
    assert elsewhere.component("etcd").pid() == etcd_before
    assert not (tmp_path / "snapshots").exists()
    named_elsewhere = zone_outage_naming(tmp_path, elsewhere.shape.name)

    # A lab named explicitly that is not the measured cluster: refused, nothing touched.
    refused = run_drill(measured, named_elsewhere, tmp_path / "reports")
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert elsewhere.shape.name in lines[0] and measured.shape.name in lines[0], lines[0]
    assert (zone_a_kwok(measured), zone_a_kwok(elsewhere)) == kwoks_before
    assert not list((tmp_path / "reports").glob("*/*/report.json"))

    # --dry-run reports the same mismatch.
    planned = run_cli(drill_environment(measured), "run", str(named_elsewhere), "--dry-run")
    assert planned.returncode == 2
    assert "REFUSED" in planned.stderr and elsewhere.shape.name in planned.stderr
    assert measured.shape.name in planned.stderr

    # DRILLKIT_LAB naming the other lab no longer steers the shipped drill there.
    result = run_drill_with(
        drill_environment(measured, DRILLKIT_LAB=elsewhere.shape.name),
        SHIPPED_DRILLS / "zone-outage.yaml",
        tmp_path / "reports",
    )
    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    assert zone_a_kwok(elsewhere) == kwoks_before[1], "the other lab's zone-a was stopped"
    fault = result.journal()["run"][0]["output"]
    assert fault["lab"] == measured.shape.name
    hit = fault[AFFECTED_KEY]
    nodes = {h["name"] for h in hit if h["kind"] == "Node"}
    assert nodes == {"node-a-1", "node-a-2"}
    assert any(h["kind"] == "Pod" and h["namespace"] == "shop" for h in hit), hit
    # The report names the cluster it touched, captured before the first change.
    (touched,) = result.report()["scope"]["clusters"]
    assert touched == {"role": "measured", **identity_of(measured)}
    assert identity_of(elsewhere)["kube_system_uid"] != touched["kube_system_uid"]


def test_after_zone_failure_empties_zone_a_a_stop_of_zone_a_lands_on_no_shop_pod(
    scratch_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_drill(scratch_lab, SHIPPED_DRILLS / "zone-failure.yaml", tmp_path / "reports")
    assert result.returncode == 0, result.stderr
    drained = result.journal()["run"][0]["output"]
    evicted = drained[AFFECTED_KEY]
    assert len(evicted) == drained["evicted"] == 2
    assert {(h["kind"], h["namespace"], h["action"]) for h in evicted} == {
        ("Pod", "shop", "evicted")
    }

    # As chaos run calls it: the kubeconfig of the environment, no lab named.
    monkeypatch.setenv("KUBECONFIG", str(scratch_lab.kubeconfig))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)
    monkeypatch.delenv("DRILLKIT_LAB", raising=False)
    run_id = f"test-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("DRILLKIT_RUN_ID", run_id)
    try:
        stopped = stop_zone("zone-a")
    finally:
        start_zone("zone-a")
        with scratch_lab.connect() as cluster:
            revert_run(cluster, run_id, progress=lambda _: None)
    hit = stopped[AFFECTED_KEY]
    assert stopped["lab"] == scratch_lab.shape.name
    assert {h["name"] for h in hit if h["kind"] == "Node"} == {"node-a-1", "node-a-2"}
    assert not [h for h in hit if h["kind"] == "Pod" and h["namespace"] == "shop"], hit


def test_a_region_stop_is_stamped_at_its_first_signal_and_both_regions_are_recorded(
    regions: tuple[Lab, Lab],  # noqa: F811
    tmp_path: Path,
) -> None:
    region_a, region_b = regions
    drill, experiment = shipped("cross-region-restore")
    disaster = next(a for a in experiment["method"] if a["name"] == "region-a-is-lost")
    # Stopping the whole lab takes seconds, component after component: an injection
    # stamped at the step's end would come after the region was seen lost.
    disaster["provider"]["arguments"]["mode"] = "lab-stopped"
    path = write_variant(tmp_path / "variant", "region-stopped", drill=drill, experiment=experiment)
    env = environment(region_a, region_b, tmp_path / "store")

    # Region B that is region A: refused before anything is touched.
    same = run_drill_with(
        dict(env, DRILLKIT_RESTORE_KUBECONFIG=str(region_a.kubeconfig)),
        path,
        tmp_path / "refused",
    )
    assert same.returncode == 2, same.stderr
    assert region_a.api_server_url in same.stderr
    assert region_a.component("kube-apiserver").is_ready()

    result: DrillResult = run_drill_with(env, path, tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    events = result.timeline()
    (fault,) = [e for e in events if e["kind"] == "fault_injected"]
    lost = [e for e in events if e["kind"] == "condition_observed" and not e["holds"]]
    assert lost, "the region was never seen lost"
    assert all(e["monotonic"] >= fault["monotonic"] for e in lost), (fault, lost[0])
    output = next(r for r in result.journal()["run"] if r["activity"]["name"] == "region-a-is-lost")
    assert output["output"][AFFECTED_KEY] == [
        {
            "kind": "Region",
            "namespace": None,
            "name": region_a.shape.region,
            "action": f"lab-stopped (lab {region_a.shape.name})",
        }
    ]
    clusters = result.report()["scope"]["clusters"]
    assert clusters == [
        {"role": "measured", **identity_of(region_a)},
        {"role": "region B (restore target)", **identity_of(region_b)},
    ]

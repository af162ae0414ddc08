"""``drill run etcd-restore`` and ``drill recover`` against labs of their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drillkit.drivers.etcd import save_snapshot
from drillkit.drivers.executors import executor_for
from drillkit.lab.cluster import Lab, LabShape
from drillkit.lab.etcd import lab_target
from drillkit.model.timeline import parse_utc
from tests.drills.support import (
    SHIPPED_DRILLS,
    BackgroundDrill,
    DrillResult,
    drill_command,
    drill_environment,
    run_drill,
    shipped,
    write_variant,
)
from tests.faults.test_etcd_snapshots import flip_one_byte
from tests.helpers import log_progress, wait_until

pytestmark = pytest.mark.lab


def timeline(result: DrillResult) -> list[dict[str, Any]]:
    lines = (result.report_dir / "timeline.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def marker_sequence(lab: Lab) -> int:
    with lab.connect() as cluster:
        item = cluster.core.read_namespaced_config_map("drill-markers", "shop")
    return int(item.data["sequence"])


def api_answers(lab: Lab) -> bool:
    with lab.connect() as cluster:
        return cluster.api_server_ready()


def web_available(lab: Lab) -> bool:
    with lab.connect() as cluster:
        ready, desired = cluster.deployment_ready_replicas("shop", "web")
    return ready == desired > 0


def etcd_variant(directory: Path, name: str, **disaster: object) -> Path:
    """The shipped drill with other arguments for its disaster action."""
    drill, experiment = shipped("etcd-restore")
    for activity in experiment["method"]:
        if activity["provider"]["func"] == "etcd_disaster":
            activity["provider"]["arguments"].update(disaster)
    return write_variant(directory, name, drill=drill, experiment=experiment)


def test_the_restore_loses_exactly_the_writes_made_after_the_snapshot(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    result = run_drill(scratch_lab, SHIPPED_DRILLS / "etcd-restore.yaml", tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    events = timeline(result)
    (fault,) = [e for e in events if e["kind"] == "fault_injected"]
    steps = [e for e in events if e["kind"] == "procedure_step"]
    # The runbook's kill lands somewhere within its first step: t_inject is the step's
    # start (the RTO is never shortened), the data is lost up to the step's end (the
    # RPO is never shortened either).
    first_kill = steps[0]
    assert first_kill["phase"] == "kill"
    assert fault["monotonic"] == first_kill["monotonic"]
    assert fault["landed_within_seconds"] == pytest.approx(first_kill["seconds"], abs=0.002)
    lost = [e for e in events if e["kind"] == "condition_observed" and not e["holds"]]
    assert lost, "etcd's loss was never seen"
    assert all(e["monotonic"] >= fault["monotonic"] for e in lost), (fault, lost[0])
    snapshot = result.journal()["run"][0]["output"]["snapshot"]
    # Δ: from the snapshot to the end of the kill step, by the wall clock of this machine.
    landed_by = parse_utc(fault["utc"]) + timedelta(seconds=fault["landed_within_seconds"])
    delta = (landed_by - parse_utc(snapshot["taken_utc"])).total_seconds()
    assert delta > 2  # the experiment lets writes go on for 5 s after the snapshot

    # What survived, read from the restored cluster itself.
    surviving = marker_sequence(scratch_lab)
    written_before_fault = [
        e["sequence"]
        for e in events
        if e["kind"] == "marker_written"
        and e["monotonic"] <= fault["monotonic"] + fault["landed_within_seconds"]
    ]
    assert surviving in written_before_fault
    lost = [s for s in written_before_fault if s > surviving]
    assert len(lost) >= 2

    rpo = result.report()["measurements"]["rpo"]
    interval = 1.0
    assert rpo["newest_surviving_sequence"] == surviving
    assert rpo["markers_lost"] == len(lost)
    assert abs(rpo["seconds"] - delta) <= interval
    assert abs(rpo["backup_age_seconds"] - delta) <= interval
    # The runbook actually executed, step by step, all of it successfully.
    assert [s["phase"] for s in steps][:1] == ["kill"]
    assert {s["phase"] for s in steps} == {"kill", "stop", "restore", "start"}
    assert all(s["exit_code"] == 0 and s["executor"] == "local" for s in steps)
    assert any("--bump-revision" in s["command"] for s in steps)
    report_text = (result.report_dir / "report.md").read_text()
    assert f"restore point {snapshot['path']} (sha256 {snapshot['sha256']}" in fault["detail"]
    assert snapshot["sha256"] in report_text
    assert "restore step" in report_text and "backup age at the fault" in report_text
    # The data from before the disaster is not left behind once the restore completed.
    assert not list(scratch_lab.directory.glob("etcd.drillkit-kept-*"))
    wait_until("shop/web to be available", lambda: web_available(scratch_lab))


def test_a_flipped_byte_ends_in_error_untouched_then_corruption_is_restored(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    target = lab_target(scratch_lab.shape.name)
    snapshots = scratch_lab.directory / "snapshots"
    snapshot = save_snapshot(executor_for(target.executor), target, str(snapshots))
    flip_one_byte(Path(snapshot.path), snapshot.size // 3)
    etcd = scratch_lab.component("etcd")
    pid = etcd.pid()
    data_before = sorted(p.name for p in (scratch_lab.directory / "etcd" / "member").iterdir())

    drill, experiment = shipped("etcd-restore")
    experiment["method"] = [a for a in experiment["method"] if a["name"] != "snapshot-etcd"]
    flipped = write_variant(tmp_path, "flipped", drill=drill, experiment=experiment)
    result = run_drill(scratch_lab, flipped, tmp_path / "reports")

    assert result.returncode == 3, result.stderr
    assert result.summary["verdict"] == "error"
    assert "changed since it was catalogued" in result.report()["error"]
    assert etcd.pid() == pid
    assert sorted(p.name for p in (scratch_lab.directory / "etcd" / "member").iterdir()) == (
        data_before
    )
    assert not list(scratch_lab.directory.glob("etcd.drillkit-kept-*"))
    assert api_answers(scratch_lab)

    # The same lab, now with a good snapshot (the newest) and a garbled database.
    corrupted = etcd_variant(tmp_path, "corrupted", mode="corruption")
    result = run_drill(scratch_lab, corrupted, tmp_path / "reports")

    assert result.returncode == 0, result.stderr
    assert result.summary["verdict"] == "met"
    assert result.journal()["run"][1]["output"]["mode"] == "corruption"
    wait_until("shop/web to be available", lambda: web_available(scratch_lab))


@pytest.mark.parametrize(
    ("held_phase", "old_data"),
    [
        pytest.param("restore", True, id="killed-before-the-data-was-swapped"),
        pytest.param("start", False, id="killed-after-the-data-was-swapped"),
    ],
)
def test_drill_recover_after_a_kill_mid_restore_never_leaves_the_cluster_without_data(
    scratch_lab: Lab, tmp_path: Path, held_phase: str, old_data: bool
) -> None:
    gate = tmp_path / "phase-started"
    drill, experiment = shipped("etcd-restore")
    phase = experiment["configuration"]["etcd_procedure"][held_phase]
    # A step that holds the procedure at the start of a phase, so the kill lands there;
    # only once: `drill recover` runs the start phase again.
    hold = f"if [ ! -e {gate} ]; then touch {gate} && exec sleep 600; fi"
    phase.insert(0, {"name": "hold", "run": hold})
    held = write_variant(tmp_path, "held", drill=drill, experiment=experiment)
    run = BackgroundDrill(scratch_lab, held, tmp_path / "reports", tmp_path / "log")
    run.wait_for("action snapshot-etcd succeeded")
    # Written after the snapshot: only the data from before the disaster has it.
    with scratch_lab.connect() as cluster:
        cluster.core.create_namespaced_config_map(
            "shop", {"metadata": {"name": "written-after-the-snapshot"}}
        )
    wait_until(f"the procedure to be held at its {held_phase} phase", gate.exists)
    run.kill()
    _kill_processes_mentioning(str(gate))
    assert not api_answers(scratch_lab)

    recovered = subprocess.run(
        drill_command("recover"),
        env=drill_environment(scratch_lab),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "bring etcd and the API server back" in recovered.stdout
    assert "reverted" in recovered.stdout
    assert api_answers(scratch_lab)
    with scratch_lab.connect() as cluster:
        names = {c.metadata.name for c in cluster.core.list_namespaced_config_map("shop").items}
    # Before the swap: the data from before the disaster, which has the late write.
    # After it: the snapshot's data, which does not.
    assert ("written-after-the-snapshot" in names) is old_data
    assert not list(scratch_lab.directory.glob("etcd.drillkit-kept-*"))
    wait_until("shop/web to be available", lambda: web_available(scratch_lab))
    # Nothing is left to recover.
    again = subprocess.run(
        drill_command("recover"),
        env=drill_environment(scratch_lab),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0 and "nothing to recover" in again.stdout


def test_quorum_loss_of_a_three_member_cluster_is_restored(
    drillkit_home: Path, lab_binaries: Path, tmp_path: Path
) -> None:
    lab = Lab.create(
        LabShape(name=f"quorum-{os.getpid()}", region="quorum", zones=2, etcd_members=3)
    )
    lab.up(log_progress)
    try:
        assert [m.name for m in lab.etcd_members()] == ["etcd-0", "etcd-1", "etcd-2"]
        variant = etcd_variant(tmp_path, "quorum", mode="quorum-loss")
        result = run_drill(lab, variant, tmp_path / "reports")

        assert result.returncode == 0, result.stderr
        assert result.summary["verdict"] == "met"
        disaster = result.journal()["run"][1]["output"]
        assert disaster["members"] == ["etcd-0", "etcd-1"]
        steps = [e for e in timeline(result) if e["kind"] == "procedure_step"]
        restored = {s["member"] for s in steps if s["phase"] == "restore"}
        assert restored == {"etcd-0", "etcd-1", "etcd-2"}
        assert all(lab.component(m.component).is_ready() for m in lab.etcd_members())
        assert result.report()["measurements"]["rpo"]["markers_lost"] >= 1
    finally:
        lab.down(log_progress)
        lab.purge()


def _kill_processes_mentioning(text: str) -> None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command and int(entry.name) != os.getpid():
            os.kill(int(entry.name), signal.SIGKILL)

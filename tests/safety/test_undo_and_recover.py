"""Undo records and crash recovery, with real crashes: a process records, acts, and is killed.

A "crashed run" is a Python subprocess that records an undo, does the harm through
drillkit's own faults or the lab, and then SIGKILLs itself, so nothing of it is
alive when ``recover`` looks. Destructive tests get a lab of their own; undo
records go to the test's ``tmp_path`` (``undo_dir``), while ``DRILLKIT_HOME``
stays the session's so labs can be opened by name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client

from drillkit.drivers.cluster_state import create_config_map, delete_config_map, read_config_map
from drillkit.drivers.etcd import Snapshot
from drillkit.drivers.kubernetes import ZONE_LABEL, Cluster
from drillkit.faults.etcd import RestoreState
from drillkit.lab.cluster import Lab
from drillkit.model.procedure import EtcdMemberSpec, EtcdTargetSpec, RestoreProcedure
from drillkit.safety.lock import ClusterLock
from drillkit.safety.recover import RecoveryOutcome, RunIdentity, judge_alive, recover, revert_run
from drillkit.safety.undo import (
    CORDONED_BY,
    START_LAB_ZONE,
    UNCORDON_NODES,
    UNDO_NAMESPACE,
    UndoNotRecorded,
    UndoRecord,
    config_map_name,
    pending_undo,
    record_undo,
    resolve_undo,
    undo_file,
)
from tests.conftest import running_lab
from tests.drills.support import drill_environment, run_cli
from tests.helpers import log_progress, wait_until

HOST = socket.gethostname()


def crash_after(lab: Lab, undo_dir: Path, body: str, *, run_id: str | None) -> int:
    """Run ``body`` in a process that then dies by SIGKILL; return its (now dead) pid.

    ``body`` sees ``cluster`` (the lab as the runner), ``lab`` and ``undo_dir``.
    Without ``run_id`` the process names itself ``pid-<pid>@<host>``, as under ``chaos run``.
    """
    script = (
        textwrap.dedent(
            """
        import os, signal, sys
        from pathlib import Path
        from drillkit.drivers.kubernetes import Cluster
        from drillkit.faults.kubernetes import cordon_nodes
        from drillkit.lab.cluster import Lab
        from drillkit.safety.undo import record_undo
        lab = Lab.open(sys.argv[1])
        undo_dir = Path(sys.argv[2])
        cluster = Cluster.from_environment()
        """
        )
        + textwrap.dedent(body)
        + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    environment = dict(
        os.environ, KUBECONFIG=str(lab.kubeconfig), KUBERNETES_CONTEXT=lab.runner_context
    )
    environment.pop("DRILLKIT_RUN_ID", None)
    if run_id is not None:
        environment["DRILLKIT_RUN_ID"] = run_id
    with subprocess.Popen(
        [sys.executable, "-c", script, lab.shape.name, str(undo_dir)],
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        _, errors = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, errors
    return process.pid


def node(cluster: Cluster, name: str) -> tuple[bool, str | None]:
    """(unschedulable, cordoned-by annotation) of one node."""
    (state,) = [n for n in cluster.nodes() if n.name == name]
    return state.unschedulable, state.annotations.get(CORDONED_BY)


@pytest.fixture
def runner(scratch_lab: Lab) -> Iterator[Cluster]:
    with scratch_lab.connect(admin=False) as cluster:
        yield cluster


def new_run_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


# -- crash recovery on a lab of the test's own --------------------------------------------


@pytest.mark.lab
def test_recover_uncordons_a_crashed_runs_node_and_resolves_its_records(
    scratch_lab: Lab, runner: Cluster, tmp_path: Path
) -> None:
    run_id = new_run_id("crashed")
    crashed_pid = crash_after(
        scratch_lab,
        tmp_path,
        """
        record_undo("uncordon-nodes", ["node-a-1"], cluster=cluster, undo_dir=undo_dir)
        cordon_nodes("kubernetes.io/hostname=node-a-1")
        """,
        run_id=run_id,
    )
    assert node(runner, "node-a-1") == (True, run_id)
    assert undo_file(tmp_path, run_id).exists()
    assert read_config_map(runner, UNDO_NAMESPACE, config_map_name(run_id)) is not None
    (pending,) = pending_undo(runner, undo_dir=tmp_path)
    assert (pending.run_id, pending.action, pending.target) == (
        run_id,
        UNCORDON_NODES,
        ("node-a-1",),
    )
    assert (pending.pid, pending.host) == (crashed_pid, HOST)

    actions = recover(runner, progress=log_progress, undo_dir=tmp_path)

    assert [(a.run_id, a.action, a.target, a.outcome) for a in actions] == [
        (run_id, UNCORDON_NODES, ("node-a-1",), RecoveryOutcome.REVERTED)
    ]
    assert actions[0].details == ("uncordoned node node-a-1",)
    assert node(runner, "node-a-1") == (False, None)
    assert not undo_file(tmp_path, run_id).exists()
    assert read_config_map(runner, UNDO_NAMESPACE, config_map_name(run_id)) is None
    assert pending_undo(runner, undo_dir=tmp_path) == []
    # Running it again finds nothing to do and changes nothing.
    assert recover(runner, progress=log_progress, undo_dir=tmp_path) == []
    assert node(runner, "node-a-1") == (False, None)


@pytest.mark.lab
def test_recover_uncordons_orphaned_cordons_of_a_dead_process_without_a_record(
    scratch_lab: Lab, runner: Cluster, tmp_path: Path
) -> None:
    # A `chaos run` (no DRILLKIT_RUN_ID) left two annotated cordons and died, and its
    # undo records are gone (deleted by hand, a lost machine): only the marks remain.
    crash_after(
        scratch_lab,
        tmp_path,
        """
        from drillkit.safety.undo import CORDONED_BY, current_run_id
        for name in ("node-b-1", "node-b-2"):
            cluster.set_unschedulable(name, True, annotations={CORDONED_BY: current_run_id()})
        """,
        run_id=None,
    )
    marks = {node(runner, name)[1] for name in ("node-b-1", "node-b-2")}
    (marker,) = marks
    assert marker is not None and marker.startswith("pid-") and marker.endswith(f"@{HOST}")
    assert pending_undo(runner, undo_dir=tmp_path) == []

    actions = recover(runner, progress=log_progress, undo_dir=tmp_path)

    assert [(a.run_id, a.target, a.outcome, a.orphan) for a in actions] == [
        (marker, ("node-b-1", "node-b-2"), RecoveryOutcome.REVERTED, True)
    ]
    assert "orphaned cordon" in actions[0].describe()
    assert node(runner, "node-b-1") == (False, None)
    assert node(runner, "node-b-2") == (False, None)
    assert recover(runner, progress=log_progress, undo_dir=tmp_path) == []


@pytest.mark.lab
def test_recover_leaves_a_live_runs_records_alone(
    scratch_lab: Lab, runner: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One run whose process died but which still holds the cluster lock (say, a
    # runner whose child crashed), and one run that is this very process.
    locked_run = new_run_id("locked")
    crash_after(
        scratch_lab,
        tmp_path,
        """
        record_undo("uncordon-nodes", ["node-c-1"], cluster=cluster, undo_dir=undo_dir)
        cordon_nodes("kubernetes.io/hostname=node-c-1")
        """,
        run_id=locked_run,
    )
    monkeypatch.delenv("DRILLKIT_RUN_ID", raising=False)
    own = record_undo(UNCORDON_NODES, ["node-c-2"], cluster=runner, undo_dir=tmp_path)
    runner.set_unschedulable("node-c-2", True, annotations={CORDONED_BY: own.run_id})
    assert own.run_id == f"pid-{os.getpid()}@{HOST}"

    with ClusterLock(runner, holder=locked_run):
        actions = recover(runner, progress=log_progress, undo_dir=tmp_path)
        assert sorted((a.run_id, a.outcome) for a in actions) == sorted(
            [(locked_run, RecoveryOutcome.SKIPPED), (own.run_id, RecoveryOutcome.SKIPPED)]
        )
        assert node(runner, "node-c-1") == (True, locked_run)
        assert node(runner, "node-c-2") == (True, own.run_id)
        assert len(pending_undo(runner, undo_dir=tmp_path)) == 2

    # Without the lock the first run is dead; this process is still alive.
    actions = recover(runner, progress=log_progress, undo_dir=tmp_path)
    assert sorted((a.run_id, a.outcome) for a in actions) == sorted(
        [(locked_run, RecoveryOutcome.REVERTED), (own.run_id, RecoveryOutcome.SKIPPED)]
    )
    assert node(runner, "node-c-1") == (False, None)
    assert node(runner, "node-c-2") == (True, own.run_id)

    # A run reverts its own records when it ends.
    (reverted,) = revert_run(runner, own.run_id, progress=log_progress, undo_dir=tmp_path)
    assert reverted.outcome is RecoveryOutcome.REVERTED
    assert node(runner, "node-c-2") == (False, None)
    assert pending_undo(runner, undo_dir=tmp_path) == []


@pytest.mark.lab
def test_recover_restarts_a_killed_lab_zone_until_its_nodes_are_ready(
    scratch_lab: Lab, runner: Cluster, tmp_path: Path
) -> None:
    run_id = new_run_id("outage")
    crash_after(
        scratch_lab,
        tmp_path,
        """
        target = [lab.shape.name, "zone-b"]
        record_undo("start-lab-zone", target, cluster=cluster, undo_dir=undo_dir)
        lab.zone_component("zone-b").kill()
        """,
        run_id=run_id,
    )
    kwok = scratch_lab.zone_component("zone-b")
    assert not kwok.is_running()

    def zone_b_ready() -> list[bool]:
        return [n.ready for n in runner.nodes(f"{ZONE_LABEL}=zone-b")]

    # Recovering only makes sense once the outage shows: the zone's nodes go NotReady.
    wait_until("zone-b's nodes to go NotReady", lambda: not any(zone_b_ready()))

    actions = recover(runner, progress=log_progress, undo_dir=tmp_path)

    assert [(a.run_id, a.action, a.target, a.outcome) for a in actions] == [
        (run_id, START_LAB_ZONE, (scratch_lab.shape.name, "zone-b"), RecoveryOutcome.REVERTED)
    ]
    assert kwok.is_running()
    wait_until("zone-b's nodes to be Ready again", lambda: all(zone_b_ready()))
    assert pending_undo(runner, undo_dir=tmp_path) == []
    assert recover(runner, progress=log_progress, undo_dir=tmp_path) == []


# -- records recovery must not trust -----------------------------------------------------


@pytest.fixture(scope="module")
def forgery_lab(drillkit_home: Path, lab_binaries: Path) -> Iterator[Lab]:
    """A lab whose drillkit namespace gets forged and garbled undo records."""
    with running_lab(f"forged-{uuid.uuid4().hex[:6]}") as own:
        yield own


def forge_undo_config_map(lab: Lab, run_id: str, records_json: str) -> str:
    """Write a ``drillkit-undo-*`` ConfigMap as the runner identity may; return its name."""
    name = config_map_name(run_id)
    with lab.connect(admin=False) as runner:
        create_config_map(
            runner,
            UNDO_NAMESPACE,
            name,
            data={"records.json": records_json},
            labels={
                "app.kubernetes.io/managed-by": "drillkit",
                "app.kubernetes.io/component": "undo-records",
            },
            annotations={"drillkit.io/run-id": run_id},
        )
    return name


def delete_undo_config_map(lab: Lab, name: str) -> None:
    with lab.connect() as cluster:
        if read_config_map(cluster, UNDO_NAMESPACE, name) is not None:
            delete_config_map(cluster, UNDO_NAMESPACE, name)


def restore_state_running(sentinel: Path, run_id: str, data_dir: Path) -> RestoreState:
    """An etcd restore state whose every step would create ``sentinel``."""
    touch = [{"name": "touch", "run": f"touch {sentinel}"}]
    return RestoreState(
        run_id=run_id,
        mode="data-loss",
        target=EtcdTargetSpec(
            members=(
                EtcdMemberSpec(
                    name="etcd-0",
                    data_dir=str(data_dir),
                    peer_url="http://127.0.0.1:9",
                    client_url="http://127.0.0.1:9",
                ),
            )
        ),
        procedure=RestoreProcedure.model_validate(
            {"kill": touch, "restore": touch, "start": touch}
        ),
        snapshot=Snapshot(
            path=str(data_dir / "none.db"),
            taken_utc=RECORDED,
            size=1,
            sha256="0" * 64,
            revision=1,
            total_keys=1,
            endpoint="http://127.0.0.1:9",
        ),
        affected=("etcd-0",),
        kept={},
        phase="disaster",
    )


@pytest.mark.lab
def test_recover_refuses_a_forged_cluster_record_that_would_run_local_commands(
    forgery_lab: Lab, tmp_path: Path
) -> None:
    # The runner identity may write ConfigMaps in drillkit: it names a restore state
    # file (one in drillkit's own state home, one elsewhere) whose steps touch a file.
    run_id = new_run_id("forged")
    sentinel = tmp_path / "sentinel"
    state = restore_state_running(sentinel, run_id, tmp_path / "etcd")
    in_state_home = state.save()
    elsewhere = tmp_path / "state.json"
    elsewhere.write_text(in_state_home.read_text())
    forged = [
        UndoRecord(
            run_id=run_id,
            action="restore-etcd",
            target=(str(path),),
            created_utc=RECORDED,
            pid=1,
            host="elsewhere",
            cluster="https://127.0.0.1:9",
        ).to_json()
        for path in (in_state_home, elsewhere)
    ]
    name = forge_undo_config_map(forgery_lab, run_id, json.dumps({"version": 1, "records": forged}))
    try:
        recovered = run_cli(drill_environment(forgery_lab), "recover")
    finally:
        delete_undo_config_map(forgery_lab, name)
        in_state_home.unlink(missing_ok=True)

    assert not sentinel.exists(), recovered.stderr
    # Left for a person to look at: not "nothing left to revert".
    assert recovered.returncode == 3, recovered.stdout + recovered.stderr
    refused = [line for line in recovered.stdout.splitlines() if "refused" in line]
    assert len(refused) == 2, recovered.stdout + recovered.stderr
    for line, path in zip(refused, (in_state_home, elsewhere), strict=True):
        assert line.startswith(f"run {run_id}: bring etcd and the API server back ({path})")
        assert f"in configmap {UNDO_NAMESPACE}/{name}: refused" in line
        assert "a cluster-side record is never executed" in line


@pytest.mark.lab
def test_an_unreadable_record_is_reported_and_the_others_are_still_reverted(
    forgery_lab: Lab, tmp_path: Path
) -> None:
    garbled = forge_undo_config_map(forgery_lab, new_run_id("garbled"), "{not json")
    run_id = new_run_id("killed")
    try:
        crash_after(
            forgery_lab,
            tmp_path,
            """
            record_undo("uncordon-nodes", ["node-c-1"], cluster=cluster, undo_dir=undo_dir)
            cordon_nodes("kubernetes.io/hostname=node-c-1")
            """,
            run_id=run_id,
        )
        with forgery_lab.connect(admin=False) as runner:
            assert node(runner, "node-c-1") == (True, run_id)

        recovered = run_cli(drill_environment(forgery_lab), "recover")

        with forgery_lab.connect(admin=False) as runner:
            assert node(runner, "node-c-1") == (False, None), recovered.stderr
        lines = recovered.stdout.splitlines()
        assert (
            f"run {run_id}: uncordon nodes node-c-1: reverted (uncordoned node node-c-1)" in lines
        ), recovered.stdout + recovered.stderr
        (bad,) = [line for line in lines if "refused" in line]
        assert f"in configmap {UNDO_NAMESPACE}/{garbled}: refused" in bad
        assert "cannot be read" in bad
        assert recovered.returncode == 3
        # What a run finds before it starts says the same, not "recovered".
        with forgery_lab.connect(admin=False) as runner:
            (leftover,) = [a.as_leftover() for a in recover(runner, progress=lambda _: None)]
        assert leftover.startswith("not acted on, a person must look at it: ")
        assert garbled in leftover
    finally:
        delete_undo_config_map(forgery_lab, garbled)


# -- recording in two places, on the shared lab ---------------------------------------------


@pytest.fixture
def shared_runner(lab: Lab) -> Iterator[Cluster]:
    with lab.connect(admin=False) as cluster:
        yield cluster


@pytest.fixture
def run_id(monkeypatch: pytest.MonkeyPatch) -> str:
    run_id = new_run_id("recording")
    monkeypatch.setenv("DRILLKIT_RUN_ID", run_id)
    return run_id


def unreachable_cluster() -> Cluster:
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:9"  # discard port: nothing listens
    configuration.retries = 0
    return Cluster(client.ApiClient(configuration))


@pytest.mark.lab
def test_a_record_is_kept_in_a_local_file_and_a_configmap(
    shared_runner: Cluster, tmp_path: Path, run_id: str
) -> None:
    record = record_undo(UNCORDON_NODES, ["node-x"], cluster=shared_runner, undo_dir=tmp_path)
    # Recording the same undo twice keeps one record.
    record_undo(UNCORDON_NODES, ["node-x"], cluster=shared_runner, undo_dir=tmp_path)
    assert (record.run_id, record.pid, record.host) == (run_id, os.getpid(), HOST)

    local = json.loads(undo_file(tmp_path, run_id).read_text())
    config_map = read_config_map(shared_runner, UNDO_NAMESPACE, config_map_name(run_id))
    assert config_map is not None
    assert json.loads(config_map.data["records.json"]) == local
    assert local["records"] == [record.to_json()]
    assert config_map.labels["app.kubernetes.io/managed-by"] == "drillkit"
    assert config_map.labels["drillkit.io/run-id"] == run_id
    assert pending_undo(shared_runner, undo_dir=tmp_path, run_id=run_id) == [record]

    resolve_undo(record, cluster=shared_runner, undo_dir=tmp_path)
    assert not undo_file(tmp_path, run_id).exists()
    assert read_config_map(shared_runner, UNDO_NAMESPACE, config_map_name(run_id)) is None
    # Resolving again is harmless.
    resolve_undo(record, cluster=shared_runner, undo_dir=tmp_path)


def test_an_unreachable_cluster_still_gets_the_local_record(tmp_path: Path, run_id: str) -> None:
    with unreachable_cluster() as cluster:
        record = record_undo(UNCORDON_NODES, ["node-x"], cluster=cluster, undo_dir=tmp_path)
    local = json.loads(undo_file(tmp_path, run_id).read_text())
    assert local["records"] == [record.to_json()]


@pytest.mark.lab
def test_an_unwritable_state_directory_still_gets_the_cluster_record(
    shared_runner: Cluster, tmp_path: Path, run_id: str
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    record = record_undo(UNCORDON_NODES, ["node-x"], cluster=shared_runner, undo_dir=blocked)
    try:
        config_map = read_config_map(shared_runner, UNDO_NAMESPACE, config_map_name(run_id))
        assert config_map is not None
        assert json.loads(config_map.data["records.json"])["records"] == [record.to_json()]
    finally:
        resolve_undo(record, cluster=shared_runner, undo_dir=tmp_path)


def test_a_fault_may_not_act_when_no_record_could_be_kept(tmp_path: Path, run_id: str) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    with unreachable_cluster() as cluster, pytest.raises(UndoNotRecorded) as refused:
        record_undo(UNCORDON_NODES, ["node-x"], cluster=cluster, undo_dir=blocked)
    assert str(refused.value).startswith(
        "cannot record how to uncordon nodes node-x, so it is not done:"
    )


# -- pure parts ---------------------------------------------------------------------------

RECORDED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("run", "lock_holder", "process_alive", "alive"),
    [
        pytest.param(
            RunIdentity(run_id="r1", pid=1, host="other", recorded_utc=RECORDED),
            "r1",
            False,
            True,
            id="holding-the-lock-is-alive",
        ),
        pytest.param(
            RunIdentity(run_id="r1", pid=1, host=HOST, recorded_utc=RECORDED),
            "r2",
            True,
            True,
            id="a-live-process-here-is-alive",
        ),
        pytest.param(
            RunIdentity(run_id="r1", pid=1, host=HOST, recorded_utc=RECORDED),
            None,
            False,
            False,
            id="a-dead-process-here-without-the-lock-is-dead",
        ),
        pytest.param(
            RunIdentity(run_id="20261126-093015-3fa2c1", pid=1, host="other", recorded_utc=None),
            None,
            True,
            False,
            id="a-drill-run-elsewhere-without-the-lock-is-dead",
        ),
        pytest.param(
            RunIdentity.of_marker("pid-42@other"),
            None,
            False,
            True,
            id="a-chaos-run-elsewhere-cannot-be-checked-so-counts-as-alive",
        ),
        pytest.param(
            RunIdentity.of_marker("pid-42@" + HOST),
            None,
            False,
            False,
            id="a-dead-chaos-run-here-is-dead",
        ),
        pytest.param(
            RunIdentity.of_marker("20261126-093015-3fa2c1"),
            None,
            True,
            False,
            id="an-orphan-of-a-drill-run-without-the-lock-is-dead",
        ),
    ],
)
def test_whether_a_run_is_alive(
    run: RunIdentity, lock_holder: str | None, process_alive: bool, alive: bool
) -> None:
    verdict = judge_alive(
        run,
        lock_holder=lock_holder,
        this_host=HOST,
        process_alive=lambda pid, recorded: process_alive,
    )
    assert verdict is alive


def test_an_undo_record_reads_back_what_it_wrote() -> None:
    record = UndoRecord(
        run_id="pid-7@Host.Example",
        action=START_LAB_ZONE,
        target=("region-a", "zone-b"),
        created_utc=datetime(2026, 11, 26, 9, 30, 15, 250000, tzinfo=UTC),
        pid=7,
        host="Host.Example",
        cluster="https://127.0.0.1:6443",
    )
    assert UndoRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.describe() == "start zone zone-b of lab region-a"


@pytest.mark.parametrize(
    ("run_id", "name"),
    [
        ("20261126-093015-3fa2c1", "drillkit-undo-20261126-093015-3fa2c1"),
        ("pid-7@Host.Example", "drillkit-undo-pid-7-host.example-"),
    ],
    ids=["a-drill-run-id-is-kept", "a-process-marker-is-made-a-valid-name"],
)
def test_configmap_names_are_valid_object_names(run_id: str, name: str) -> None:
    assert config_map_name(run_id).startswith(name)


def test_a_run_id_too_long_for_an_object_name_is_cut_and_told_apart_by_a_digest() -> None:
    long_id, other_id = "run-" + "a" * 300, "run-" + "a" * 299 + "b"

    name, other = config_map_name(long_id), config_map_name(other_id)

    assert len(name) == 253 and len(other) == 253
    assert name.startswith("drillkit-undo-run-aaaa")
    assert re.fullmatch(r"[a-z0-9.-]+-[0-9a-f]{8}", name)
    assert name != other

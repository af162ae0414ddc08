"""etcd snapshots of the shared lab: saved online, proven by a trial restore, catalogued."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drillkit.drivers.etcd import (
    SnapshotRejected,
    check_digest,
    etcdctl,
    find_snapshot,
    read_catalogue,
    save_snapshot,
    verify_snapshot,
)
from drillkit.drivers.executors import LocalExecutor, executor_for
from drillkit.errors import DrillError, InvalidInput
from drillkit.lab import build
from drillkit.lab.cluster import Lab
from drillkit.lab.etcd import lab_target
from drillkit.model.procedure import (
    EtcdMemberSpec,
    EtcdTargetSpec,
    EtcdTlsSpec,
    LocalExecutorSpec,
)
from drillkit.probes.etcd import latest_snapshot_age, latest_snapshot_younger_than
from drillkit.restoring.etcd import resolve_procedure, resolve_target
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.lab


def flip_one_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_snapshot_is_saved_online_verified_and_catalogued(lab: Lab, tmp_path: Path) -> None:
    target = lab_target(lab.shape.name)
    executor = executor_for(target.executor)

    first = save_snapshot(executor, target, str(tmp_path))
    second = save_snapshot(executor, target, str(tmp_path))

    catalogue = read_catalogue(executor, str(tmp_path))
    assert [s.path for s in catalogue] == [first.path, second.path]
    assert find_snapshot(executor, str(tmp_path), "latest").path == second.path
    assert find_snapshot(executor, str(tmp_path), first.path).sha256 == first.sha256
    assert first.size == Path(first.path).stat().st_size
    assert first.total_keys > 0 and second.revision >= first.revision
    assert first.endpoint == lab.etcd_members()[0].client_url
    check_digest(executor, second)
    # Verification is a trial restore: it reports what the snapshot holds.
    assert verify_snapshot(executor, target, second.path).revision == second.revision


def test_a_single_flipped_byte_fails_the_trial_restore_and_the_digest(
    lab: Lab, tmp_path: Path
) -> None:
    target = lab_target(lab.shape.name)
    executor = executor_for(target.executor)
    snapshot = save_snapshot(executor, target, str(tmp_path))

    flip_one_byte(Path(snapshot.path), snapshot.size // 2)

    with pytest.raises(SnapshotRejected, match="changed since it was catalogued"):
        check_digest(executor, snapshot)
    with pytest.raises(SnapshotRejected, match=r"failed its trial restore: .*sha256"):
        verify_snapshot(executor, target, snapshot.path)


def test_the_freshness_probe_reads_the_catalogue(lab: Lab, tmp_path: Path) -> None:
    configuration = {"lab": lab.shape.name}
    directory = str(tmp_path / "snapshots")

    assert latest_snapshot_age(directory, configuration) is None
    assert latest_snapshot_younger_than("6h", directory, configuration) is False

    target = resolve_target(configuration)
    taken = datetime.now(UTC) - timedelta(hours=7)
    save_snapshot(executor_for(target.executor), target, directory, now=taken)

    age = latest_snapshot_age(directory, configuration)
    assert age is not None and age >= 7 * 3600
    assert latest_snapshot_younger_than("6h", directory, configuration) is False
    assert latest_snapshot_younger_than("8h", directory, configuration) is True

    save_snapshot(executor_for(target.executor), target, directory)
    assert latest_snapshot_younger_than("6h", directory, configuration) is True


def test_the_target_and_procedure_are_checked_before_anything_runs() -> None:
    with pytest.raises(InvalidInput, match=r"configuration.etcd.members: .*at least 1"):
        resolve_target({"etcd": {"members": []}})
    with pytest.raises(InvalidInput, match="needs `etcd`"):
        resolve_target({})
    with pytest.raises(InvalidInput, match="needs `etcd_procedure`"):
        resolve_procedure({})
    with pytest.raises(InvalidInput, match=r"\{data_dir\} needs each_member: true"):
        resolve_procedure(
            {
                "etcd_procedure": {
                    "kill": [{"name": "crash", "run": "kill -9 $(pidof etcd)"}],
                    "restore": [{"name": "restore", "run": "etcdutl snapshot restore {data_dir}"}],
                    "start": [{"name": "start", "run": "systemctl start etcd"}],
                }
            }
        )


def test_the_local_executor_reports_failures_and_timeouts() -> None:
    executor = LocalExecutor()

    done = executor.run("echo out; echo err >&2; exit 3", timeout=60)
    assert (done.exit_code, done.ok) == (3, False)
    assert "out" in done.output and "err" in done.output
    assert done.failure() == "exit code 3: err"

    fed = executor.run("tr a-z A-Z", timeout=60, stdin=b"restore\n")
    assert fed.ok and fed.output == "RESTORE\n"

    stuck = executor.run("sleep 60", timeout=1)
    assert stuck.timed_out and not stuck.ok


@pytest.fixture
def tls_etcd(lab: Lab, tmp_path: Path) -> Iterator[EtcdTargetSpec]:
    """A single etcd member that only talks TLS with client certificates, as kubeadm's
    does; the lab's CA, serving and admin certificates stand in for the cluster's.
    Yields it as a target with those client certificates."""
    pki = lab.directory / "pki"
    client, peer = free_port(), free_port()
    url = f"https://127.0.0.1:{client}"
    target = EtcdTargetSpec(
        members=(EtcdMemberSpec(name="default", data_dir="-", peer_url="-", client_url=url),),
        executor=LocalExecutorSpec(path=(str(build.binaries_dir()),)),
        tls=EtcdTlsSpec(
            cacert=str(pki / "ca.crt"), cert=str(pki / "admin.crt"), key=str(pki / "admin.key")
        ),
    )
    with (tmp_path / "etcd.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(build.binaries_dir() / "etcd"),
                f"--data-dir={tmp_path / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                f"--cert-file={pki / 'apiserver.crt'}",
                f"--key-file={pki / 'apiserver.key'}",
                f"--trusted-ca-file={pki / 'ca.crt'}",
                "--client-cert-auth",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        executor = executor_for(target.executor)
        health = etcdctl(target, url, "endpoint", "health")
        wait_until("the TLS etcd to answer", lambda: executor.run(health, timeout=30).ok)
        yield target
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_snapshots_of_a_tls_member_use_the_client_certificate(
    tls_etcd: EtcdTargetSpec, tmp_path: Path
) -> None:
    executor = executor_for(tls_etcd.executor)
    without_tls = tls_etcd.model_copy(update={"tls": None})

    snapshot = save_snapshot(executor, tls_etcd, str(tmp_path / "snapshots"))

    assert snapshot.endpoint == tls_etcd.members[0].client_url
    assert read_catalogue(executor, str(tmp_path / "snapshots")) == [snapshot]
    with pytest.raises(DrillError, match="no etcd member could save a snapshot"):
        save_snapshot(executor, without_tls, str(tmp_path / "refused"))

"""The SSH executor against a real sshd on loopback, and etcd snapshots through it.

The "remote" host is this machine, so what a command did there (files written,
processes left running) is checked directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from drillkit.drivers.etcd import check_digest, read_catalogue, save_snapshot, verify_snapshot
from drillkit.drivers.executors import (
    CommandFailed,
    LocalExecutor,
    SshExecutor,
    checked,
    executor_for,
)
from drillkit.lab import build
from drillkit.lab.cluster import Lab
from drillkit.model.procedure import EtcdMemberSpec, EtcdTargetSpec
from tests.helpers import wait_until
from tests.sshd import SshServer, generate_key


def test_a_command_runs_on_the_host_as_the_user_with_its_output_and_exit_code(
    sshd: SshServer,
) -> None:
    executor = SshExecutor(sshd.executor_spec())

    done = executor.run('echo "$USER"; echo "${SSH_CONNECTION:+over ssh}"', timeout=60)

    assert done.ok and done.exit_code == 0 and not done.timed_out
    assert done.output == f"{sshd.user}\nover ssh\n"
    assert executor.description == f"ssh {sshd.user}@127.0.0.1:{sshd.port}"


def test_a_failing_command_gives_its_exit_code_and_its_last_line(sshd: SshServer) -> None:
    executor = SshExecutor(sshd.executor_spec())

    failed = executor.run("echo restoring; echo 'no snapshot here' >&2; exit 3", timeout=60)

    assert (failed.exit_code, failed.ok) == (3, False)
    assert "restoring" in failed.output
    assert failed.failure() == "exit code 3: no snapshot here"
    with pytest.raises(CommandFailed, match=rf"ssh {sshd.user}@.*exit code 3: no snapshot here"):
        checked(executor, "echo 'no snapshot here' >&2; exit 3")


def test_stdin_reaches_the_remote_command(sshd: SshServer, tmp_path: Path) -> None:
    executor = SshExecutor(sshd.executor_spec())
    written = tmp_path / "written.json"

    shouted = executor.run("tr a-z A-Z", timeout=60, stdin=b"restore\n")
    stored = executor.run(f"cat > {written}", timeout=60, stdin=b'{"revision": 7}\n')

    assert shouted.ok and shouted.output == "RESTORE\n"
    assert stored.ok and written.read_text() == '{"revision": 7}\n'


def test_the_session_has_the_hosts_environment_plus_the_declared_variables_and_path(
    sshd: SshServer, tmp_path: Path
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "etcdutl").write_text("#!/bin/sh\necho declared etcdutl\n")
    (tools / "etcdutl").chmod(0o755)
    executor = SshExecutor(
        sshd.executor_spec(
            path=(str(tools),),
            environment={"ETCDCTL_API": "3", "DRILL_NOTE": "two words; $HOME stays literal"},
        )
    )

    done = executor.run(
        'echo "$ETCDCTL_API|$DRILL_NOTE|${PYTEST_CURRENT_TEST:-not inherited}"; etcdutl',
        timeout=60,
    )

    assert done.ok, done.output
    # pytest sets PYTEST_CURRENT_TEST here; an SSH session does not carry it over.
    assert "PYTEST_CURRENT_TEST" in os.environ
    assert done.output == ("3|two words; $HOME stays literal|not inherited\ndeclared etcdutl\n")


def test_a_timeout_kills_the_remote_command_and_its_children(
    sshd: SshServer, tmp_path: Path
) -> None:
    executor = SshExecutor(sshd.executor_spec())
    parent, child = tmp_path / "parent.pid", tmp_path / "child.pid"

    stuck = executor.run(
        f"sleep 30 & echo $! > {child}; echo $$ > {parent}; echo started; wait", timeout=2
    )

    assert stuck.timed_out and not stuck.ok
    assert stuck.failure().startswith("timed out after")
    # Killing the local ssh client is not enough: sshd does not signal a command
    # that has no terminal, so the host must end it (and what it started) itself.
    pids = [int(parent.read_text()), int(child.read_text())]
    wait_until(
        "the remote command and its child to be gone",
        lambda: not any(_is_running(pid) for pid in pids),
    )


def _different_host_key(sshd: SshServer, directory: Path) -> str:
    impostor = generate_key(directory / "impostor_ed25519")
    return sshd.known_hosts_line(impostor.with_suffix(".pub"))


def _no_host_key(sshd: SshServer, directory: Path) -> str:
    return ""


@pytest.mark.parametrize(
    "known_hosts", [_different_host_key, _no_host_key], ids=["different key", "not listed"]
)
def test_a_host_whose_key_is_not_the_known_one_is_refused_and_nothing_runs(
    sshd: SshServer, tmp_path: Path, known_hosts: Callable[[SshServer, Path], str]
) -> None:
    known_hosts_file = tmp_path / "known_hosts"
    known_hosts_file.write_text(known_hosts(sshd, tmp_path))
    executor = SshExecutor(sshd.executor_spec(known_hosts_file=known_hosts_file))
    marker = tmp_path / "ran"

    refused = executor.run(f"touch {marker}", timeout=60)

    assert not refused.ok and refused.exit_code == 255
    assert "Host key verification failed" in refused.output
    assert not marker.exists()


@pytest.mark.lab
def test_snapshots_are_saved_verified_and_catalogued_through_ssh(
    lab: Lab, sshd: SshServer, tmp_path: Path
) -> None:
    target = EtcdTargetSpec(
        members=tuple(
            EtcdMemberSpec(
                name=member.name,
                data_dir=str(member.data_dir),
                peer_url=member.peer_url,
                client_url=member.client_url,
                component=member.component,
            )
            for member in lab.etcd_members()
        ),
        executor=sshd.executor_spec(path=(str(build.binaries_dir()),)),
    )
    executor = executor_for(target.executor)
    directory = tmp_path / "snapshots"

    snapshot = save_snapshot(executor, target, str(directory))

    assert executor.description.startswith("ssh ")
    assert Path(snapshot.path).parent == directory
    assert snapshot.size == Path(snapshot.path).stat().st_size
    assert snapshot.endpoint == lab.etcd_members()[0].client_url
    assert snapshot.total_keys > 0
    catalogue = read_catalogue(executor, str(directory))
    assert [(s.path, s.sha256, s.revision) for s in catalogue] == [
        (snapshot.path, snapshot.sha256, snapshot.revision)
    ]
    # The catalogue is files on the host: read locally it is the same.
    assert read_catalogue(LocalExecutor(), str(directory)) == catalogue
    check_digest(executor, snapshot)
    assert verify_snapshot(executor, target, snapshot.path).revision == snapshot.revision


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    # A zombie has ended; it only waits for its parent to collect its status.
    return state != "Z"

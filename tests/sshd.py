"""A real OpenSSH server on loopback, for proving the SSH executor.

The server has a host key and a client key of its own, generated per session, and
lets exactly one user in: the one running the tests. As root, sshd runs as usual
(privilege separation needs ``/run/sshd``) and root logs in with its key; as a
normal user, sshd runs unprivileged and can only start sessions as that user, which
is all the tests need. The host's login environment applies to every session, as
it would on a control-plane host: nothing of the test process's environment
reaches the commands.

Use the ``sshd`` fixture (import it into a conftest or a test module) or
:func:`running_sshd` directly.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from drillkit.model.procedure import SshExecutorSpec
from tests.helpers import free_port, stop_process, wait_until

SSHD = Path("/usr/sbin/sshd")
HOST = "127.0.0.1"
LOGIN_DEADLINE = 60.0


@dataclass(frozen=True, kw_only=True)
class SshServer:
    """A running sshd and what a client needs to log in to it."""

    host: str
    port: int
    user: str
    identity_file: Path
    known_hosts_file: Path
    host_public_key: Path
    log_file: Path

    def executor_spec(
        self,
        *,
        path: tuple[str, ...] = (),
        environment: dict[str, str] | None = None,
        known_hosts_file: Path | None = None,
    ) -> SshExecutorSpec:
        return SshExecutorSpec(
            type="ssh",
            host=self.host,
            port=self.port,
            user=self.user,
            identity_file=str(self.identity_file),
            known_hosts_file=str(known_hosts_file or self.known_hosts_file),
            path=path,
            environment=environment or {},
        )

    def known_hosts_line(self, public_key: Path) -> str:
        """``[host]:port <type> <key>``, the form ssh looks up for a non-default port."""
        key_type, key = public_key.read_text().split()[:2]
        return f"[{self.host}]:{self.port} {key_type} {key}\n"


def generate_key(path: Path) -> Path:
    """An ed25519 key pair without a passphrase; return the private key's path."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


@contextmanager
def running_sshd(directory: Path) -> Iterator[SshServer]:
    """Start sshd with its files in ``directory``; stop it on exit."""
    if not SSHD.exists():
        raise RuntimeError(f"{SSHD} is missing: install openssh-server")
    user = getpass.getuser()
    host_key = generate_key(directory / "host_ed25519")
    client_key = generate_key(directory / "client_ed25519")
    authorized_keys = directory / "authorized_keys"
    authorized_keys.write_text(client_key.with_suffix(".pub").read_text())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {HOST}",
                f"Port {port}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized_keys}",
                f"AllowUsers {user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                # The key files live in pytest's temporary directories, whose parents
                # sshd would otherwise insist on owning.
                "StrictModes no",
                f"PidFile {directory / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        # As root, sshd's privilege separation chroots its pre-authentication child here.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    server = SshServer(
        host=HOST,
        port=port,
        user=user,
        identity_file=client_key,
        known_hosts_file=directory / "known_hosts",
        host_public_key=host_key.with_suffix(".pub"),
        log_file=directory / "sshd.log",
    )
    server.known_hosts_file.write_text(server.known_hosts_line(server.host_public_key))
    # sshd re-executes itself for every connection, so it must be started by its
    # absolute path; -D keeps it in the foreground as our child, -E logs to a file.
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config), "-E", str(server.log_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            f"sshd on port {port} to accept a login",
            lambda: _logs_in(server, process),
            timeout=LOGIN_DEADLINE,
        )
        yield server
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """An sshd on loopback that lets the current user in with a key of its own."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _logs_in(server: SshServer, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        log = server.log_file.read_text() if server.log_file.exists() else ""
        raise RuntimeError(f"sshd exited with {process.returncode}:\n{log[-2000:]}")
    # The same options the executor uses, independently of it: this checks the server.
    attempt = subprocess.run(
        [
            "ssh",
            "-p",
            str(server.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={server.known_hosts_file}",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
            "-i",
            str(server.identity_file),
            f"{server.user}@{server.host}",
            "true",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return attempt.returncode == 0

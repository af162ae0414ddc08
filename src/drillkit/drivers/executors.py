"""Where a procedure's commands run: this machine, or a control-plane host over SSH.

Both executors run one bash command at a time and hand back its exit code and
output; neither interprets it. The SSH executor uses the OpenSSH client that
operators already trust, non-interactively (``BatchMode``), and refuses hosts
whose key is not in the declared known-hosts file: a restore must never talk to
an impostor. A command that outlives its timeout is killed with its process group;
over SSH the host enforces the deadline too (coreutils ``timeout``), because sshd
does not signal a command whose client went away.
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from drillkit.errors import CommandFailed as CommandFailed
from drillkit.model.procedure import ExecutorSpec, LocalExecutorSpec, SshExecutorSpec

# How much later than the local timeout the host kills a command itself: the local
# side decides that a command timed out, the host only makes sure it is gone.
REMOTE_DEADLINE_GRACE = 5.0


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    command: str
    exit_code: int
    output: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def failure(self) -> str:
        """One line saying how it failed, with the last line of its output."""
        last = self.output.strip().splitlines()[-1:] or ["no output"]
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s: {last[0]}"
        return f"exit code {self.exit_code}: {last[0]}"


class Executor(Protocol):
    description: str

    def run(self, command: str, *, timeout: float, stdin: bytes | None = None) -> CommandResult:
        """Run ``command`` with bash and wait for it (at most ``timeout`` seconds)."""
        ...


def checked(executor: Executor, command: str, *, timeout: float = 120.0) -> str:
    """Run a command that must succeed and return its output; ``CommandFailed`` if not."""
    result = executor.run(command, timeout=timeout)
    if not result.ok:
        raise CommandFailed(f"{executor.description}: `{command}` failed, {result.failure()}")
    return result.output


class LocalExecutor:
    """bash on this machine."""

    def __init__(
        self, path: tuple[str, ...] = (), environment: Mapping[str, str] | None = None
    ) -> None:
        self.path = path
        self.environment = dict(environment or {})
        self.description = "local"

    def run(self, command: str, *, timeout: float, stdin: bytes | None = None) -> CommandResult:
        environment = dict(os.environ, **self.environment)
        if self.path:
            environment["PATH"] = os.pathsep.join([*self.path, environment.get("PATH", "")])
        return _run(["bash", "-c", command], command, environment, timeout, stdin)


class SshExecutor:
    """bash on a remote host, through the ``ssh`` client."""

    def __init__(self, spec: SshExecutorSpec) -> None:
        self.spec = spec
        self.description = f"ssh {spec.user}@{spec.host}:{spec.port}"

    def argv(self, command: str, *, timeout: float | None = None) -> list[str]:
        """The ssh command line; with ``timeout``, the host kills the command a little
        after it (TERM, then KILL 5 s later, to its whole process group)."""
        spec = self.spec
        options = [
            "-p",
            str(spec.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "ServerAliveInterval=15",
        ]
        if spec.known_hosts_file:
            options += ["-o", f"UserKnownHostsFile={spec.known_hosts_file}"]
        if spec.identity_file:
            options += ["-o", "IdentitiesOnly=yes", "-i", spec.identity_file]
        # The session starts with the host's login environment: set what the spec asks
        # for, then put its directories in front of the host's own PATH.
        exports = [
            f"export {name}={shlex.quote(value)}" for name, value in spec.environment.items()
        ]
        if spec.path:
            exports.append(f"export PATH={shlex.quote(':'.join(spec.path))}:$PATH")
        remote = f"bash -c {shlex.quote('; '.join([*exports, command]))}"
        if timeout is not None:
            # Killing the local ssh client leaves a command without a terminal running
            # on the host, so the host gets its own, slightly later, deadline.
            deadline = math.ceil(timeout + REMOTE_DEADLINE_GRACE)
            remote = f"timeout --kill-after=5 {deadline} {remote}"
        return ["ssh", *options, f"{spec.user}@{spec.host}", remote]

    def run(self, command: str, *, timeout: float, stdin: bytes | None = None) -> CommandResult:
        return _run(self.argv(command, timeout=timeout), command, dict(os.environ), timeout, stdin)


def executor_for(spec: ExecutorSpec) -> Executor:
    if isinstance(spec, LocalExecutorSpec):
        return LocalExecutor(spec.path, spec.environment)
    return SshExecutor(spec)


def _run(
    argv: list[str],
    command: str,
    environment: dict[str, str],
    timeout: float,
    stdin: bytes | None,
) -> CommandResult:
    started = time.monotonic()
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        start_new_session=True,
    ) as process:
        timed_out = False
        try:
            output, _ = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        except BaseException:
            # The run is stopping (a signal, a guard): the command and all it started
            # end here, for in a session of their own the run's end would not find them.
            os.killpg(process.pid, signal.SIGKILL)
            raise
    text = output.decode(errors="replace")
    return CommandResult(
        command=command,
        exit_code=process.returncode,
        output=text,
        seconds=time.monotonic() - started,
        timed_out=timed_out,
    )

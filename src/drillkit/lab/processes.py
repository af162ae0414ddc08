"""Start, stop, kill and health-check one lab process (etcd, an API server, a kwok, ...).

Processes are detached from the ``drill`` that started them (their own session),
so a lab outlives ``drill lab up``. Each writes its output to ``logs/<name>.log``
and its pid to ``pids/<name>.pid``. A pid file alone is not trusted: the process
must still exist and its command line must mention this lab's directory, which
protects against pid reuse after a reboot.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drillkit.errors import LabError
from drillkit.processes import process_is_alive
from drillkit.waiting import poll_until

# Processes this Python process started, kept so they can be reaped when they
# exit (no zombies) and are not reported as leaked while still running.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """An HTTP(S) endpoint that answers 200 once the component is ready."""

    url: str
    # Client certificate for endpoints behind authentication (the API server's /readyz).
    client_cert: tuple[Path, Path] | None = None
    ca_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class Component:
    """One supervised process of a lab."""

    name: str
    argv: Sequence[str]
    lab_dir: Path
    health: HealthCheck
    ports: Sequence[int]
    environment: Mapping[str, str] | None = None
    """Variables set for the process on top of this one's environment."""

    @property
    def pid_file(self) -> Path:
        return self.lab_dir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.lab_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of this component's live process, or None when it is not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_ours(pid, self.lab_dir) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> int:
        """Start the process unless it already runs; return its pid."""
        running = self.pid()
        if running is not None:
            return running
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n--- drillkit: starting {self.name} at {time.ctime()}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.lab_dir,
                env={**os.environ, **self.environment} if self.environment else None,
                start_new_session=True,
            )
        _children[process.pid] = process
        self.pid_file.write_text(f"{process.pid}\n")
        return process.pid

    def stop(
        self, *, timeout: float = 15.0, on_signalled: Callable[[], None] = lambda: None
    ) -> None:
        """Stop gracefully (SIGTERM), escalating to SIGKILL after ``timeout`` seconds;
        ``on_signalled`` runs once SIGTERM was delivered."""
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            on_signalled()
            if not _wait_until(lambda: not _is_alive(pid), timeout):
                _signal(pid, signal.SIGKILL)
                _wait_until(lambda: not _is_alive(pid), 10.0)
        self.pid_file.unlink(missing_ok=True)

    def kill(self, *, on_signalled: Callable[[], None] = lambda: None) -> None:
        """Kill abruptly (SIGKILL), as a crash or power loss would.

        ``on_signalled`` runs the moment the signal was delivered, before the wait
        for the process to be gone: from then on it serves nothing."""
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            on_signalled()
            _wait_until(lambda: not _is_alive(pid), 10.0)
        self.pid_file.unlink(missing_ok=True)

    def is_ready(self) -> bool:
        return self.is_running() and _answers_ok(self.health)

    def wait_ready(self, *, timeout: float = 120.0) -> None:
        """Block until the health endpoint answers 200; raise LabError naming the log if not."""

        def ready() -> bool:
            if not self.is_running():
                raise LabError(
                    f"{self.name} exited while starting; last lines of {self.log_file}:\n"
                    + tail(self.log_file)
                )
            return _answers_ok(self.health)

        if not _wait_until(ready, timeout):
            raise LabError(
                f"{self.name} did not become ready within {timeout:.0f} s "
                f"({self.health.url}); see {self.log_file}"
            )


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    # No start time to compare: a reused pid is told apart by its command line (_is_ours).
    return process_is_alive(pid, None)


def _is_ours(pid: int, lab_dir: Path) -> bool:
    if not _is_alive(pid):
        return False
    if pid in _children:
        # Started by this process, so it cannot be a reused pid; its command line
        # may read empty for a moment while the kernel finishes the exec.
        return True
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return str(lab_dir).encode() in command_line


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    return poll_until(condition, timeout=timeout, interval=0.05, max_interval=0.5) is not None


def _answers_ok(health: HealthCheck) -> bool:
    context: ssl.SSLContext | None = None
    if health.url.startswith("https:"):
        if health.ca_file is not None:
            context = ssl.create_default_context(cafile=str(health.ca_file))
        else:
            # The controller manager and scheduler serve with self-signed
            # certificates made at start-up; there is nothing to verify them against.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if health.client_cert is not None:
            context.load_cert_chain(str(health.client_cert[0]), str(health.client_cert[1]))
    try:
        with urllib.request.urlopen(health.url, timeout=3, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False

"""Executor specs as declared in an experiment, and the local executor that honours them."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from drillkit.drivers.executors import executor_for
from drillkit.model.procedure import EtcdTargetSpec, LocalExecutorSpec, SshExecutorSpec
from tests.helpers import live_processes_marked, wait_until


def test_the_local_executor_sets_the_declared_variables_and_puts_its_path_first(
    tmp_path: Path,
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "etcdutl").write_text("#!/bin/sh\necho declared etcdutl\n")
    (tools / "etcdutl").chmod(0o755)
    executor = executor_for(LocalExecutorSpec(path=(str(tools),), environment={"ETCDCTL_API": "3"}))

    done = executor.run('echo "$ETCDCTL_API"; etcdutl', timeout=60)

    assert done.ok, done.output
    assert done.output == "3\ndeclared etcdutl\n"


def test_an_executor_is_declared_with_its_environment_in_a_target() -> None:
    target = EtcdTargetSpec.model_validate(
        {
            "members": [
                {
                    "name": "cp-1",
                    "data_dir": "/var/lib/etcd",
                    "peer_url": "https://127.0.0.1:2380",
                    "client_url": "https://127.0.0.1:2379",
                }
            ],
            "executor": {
                "type": "ssh",
                "host": "cp-1.example",
                "user": "ops",
                "environment": {"KUBECONFIG": "/etc/kubernetes/admin.conf"},
            },
        }
    )

    assert isinstance(target.executor, SshExecutorSpec)
    assert target.executor.environment == {"KUBECONFIG": "/etc/kubernetes/admin.conf"}
    assert LocalExecutorSpec().environment == {}


@pytest.mark.parametrize("name", ["ETCD-API", "1ST", "A B", "X;rm -rf /", ""])
def test_a_variable_name_the_shell_cannot_export_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="is not an environment variable name"):
        SshExecutorSpec(type="ssh", host="cp-1.example", user="ops", environment={name: "x"})
    with pytest.raises(ValidationError, match="is not an environment variable name"):
        LocalExecutorSpec(environment={name: "x"})


class Stopped(Exception):
    """What the signal handler raises, as a run's stop raises SystemExit."""


def test_a_command_interrupted_by_a_stopping_run_is_ended_with_all_it_started(
    tmp_path: Path,
) -> None:
    # Executors start commands in a session of their own (a timeout ends the group), so
    # the run's end would not find them: a stop must end them where it interrupts them.
    started = tmp_path / "started"
    mark = f"drillkit-executor-{tmp_path.name}"
    executor = executor_for(LocalExecutorSpec())

    def stop(signum: int, frame: object) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGUSR1, stop)
    sender = threading.Thread(
        target=lambda: (
            wait_until("the command to start", started.exists),
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1),
        )
    )
    sender.start()
    try:
        with pytest.raises(Stopped):
            executor.run(
                f"touch {started}; sh -c 'while true; do sleep 0.2; done; : {mark}' & wait",
                timeout=600,
            )
    finally:
        signal.signal(signal.SIGUSR1, previous)
        sender.join()
    wait_until("the command and its child to end", lambda: live_processes_marked(mark) == [])

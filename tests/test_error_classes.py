"""Each class of failure a new user meets, as the ``drill`` process prints it: one line
on stderr that names what the user gave (file, context, server) and what to do next;
no traceback, no module path, nothing on stdout, and the documented exit code (2: the
input is the user's to fix; 3: the drill could not run).

Every case is real: a kubeconfig that is missing or names no such context, a loopback
port with nothing listening, a loopback server answering 403 as an API server does, a
lab directory whose API server is not running, a drill file with a wrong field.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import drill_command, free_port

REPOSITORY = Path(__file__).resolve().parent.parent
FOREIGN_NAMES = re.compile(
    r"Traceback|urllib3|kubernetes\.|chaoslib|drillkit\.|HTTPS?ConnectionPool|"
    r"MaxRetryError|NewConnectionError|\w+Exception\b|\w+Error\(|context None"
)


def kubeconfig_for(path: Path, server: str, context: str = "dev") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                "current-context": context,
            }
        ),
        encoding="utf-8",
    )
    return path


def drill(home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KUBE")}
    environment.update(DRILLKIT_HOME=str(home / "state"), HOME=str(home))
    return subprocess.run(
        drill_command(*arguments),
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_plain_line(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert lines[0].startswith("drill: error: "), lines[0]
    assert not FOREIGN_NAMES.search(lines[0]), f"internals leak: {lines[0]}"
    assert result.stdout == ""
    assert result.returncode == exit_code, result.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir()
    return tmp_path


@pytest.fixture
def forbidding_server() -> Iterator[str]:
    """A loopback server answering every request as an API server that denies it."""

    class Forbidding(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "Forbidden",
                    "code": 403,
                    "message": 'namespaces "kube-system" is forbidden: User "ci" cannot get '
                    'resource "namespaces"',
                }
            ).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, *arguments: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forbidding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


DRILLS = str(REPOSITORY / "drills")


def test_no_kubeconfig_names_where_it_looked_and_the_option(home: Path) -> None:
    line = one_plain_line(drill(home, "run", "pod-kill", "--drills-dir", DRILLS), 2)

    assert line == (
        f"drill: error: {home}/.kube/config: kubeconfig not found; give one with --kubeconfig"
    )


def test_a_dead_server_names_the_server_the_context_and_the_file(home: Path) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = kubeconfig_for(home / "dead.yaml", server)

    line = one_plain_line(
        drill(home, "run", "pod-kill", "--drills-dir", DRILLS, "--kubeconfig", str(kubeconfig)),
        3,
    )

    assert line == (
        f"drill: error: reading namespace kube-system: cannot reach the API server at {server}: "
        f"connection refused; is the cluster up, and is context dev of {kubeconfig} the one "
        "you meant?"
    )


def test_a_wrong_context_names_the_file_and_the_contexts_it_has(home: Path) -> None:
    kubeconfig = kubeconfig_for(home / "kubeconfig.yaml", f"https://127.0.0.1:{free_port()}")

    line = one_plain_line(
        drill(
            home,
            *("run", "pod-kill", "--drills-dir", DRILLS),
            *("--kubeconfig", str(kubeconfig), "--context", "prod"),
        ),
        2,
    )

    assert line == f"drill: error: {kubeconfig}: no context named 'prod' (it has: dev)"


def test_a_lab_that_is_down_is_named_with_the_command_that_starts_it(home: Path) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = kubeconfig_for(
        home / "state" / "labs" / "demo" / "kubeconfig.yaml", server, "demo-runner"
    )

    run = one_plain_line(
        drill(home, "run", "pod-kill", "--drills-dir", DRILLS, "--kubeconfig", str(kubeconfig)),
        3,
    )
    asked = one_plain_line(drill(home, "lab", "kubeconfig", "--name", "staging"), 2)

    assert run.endswith(
        f"cannot reach the API server at {server}: connection refused; "
        "is lab demo up? start it with: drill lab up --name demo"
    )
    assert asked == (
        "drill: error: there is no lab named 'staging'; start one with: drill lab up --name staging"
    )


def test_a_refusal_says_who_may_not_do_what_and_what_to_do(
    home: Path, forbidding_server: str
) -> None:
    kubeconfig = kubeconfig_for(home / "kubeconfig.yaml", forbidding_server)

    line = one_plain_line(
        drill(home, "run", "pod-kill", "--drills-dir", DRILLS, "--kubeconfig", str(kubeconfig)),
        3,
    )

    assert line.endswith(
        'the API server answered 403 Forbidden (namespaces "kube-system" is forbidden: '
        'User "ci" cannot get resource "namespaces"); the kubeconfig\'s user may not do this: '
        "grant it the roles in deploy/rbac.yaml, or choose another context with --context"
    )


def broken_drill(home: Path) -> Path:
    drills = home / "drills"
    drills.mkdir()
    path = drills / "broken.yaml"
    path.write_text(
        "name: broken\n"
        f"experiment: {REPOSITORY / 'experiments' / 'pod-kill.yaml'}\n"
        "target: {namespaces: [shop]}\n"
        "objectives:\n"
        "  rto: soon\n"
        "  stable_fo: 5s\n",
        encoding="utf-8",
    )
    return path


ROTTEN_RTO = (
    "drills/broken.yaml:5:8: objectives.rto: invalid duration 'soon': use a number with "
    "a unit, such as 90s, 5m, 1h30m or 250ms"
)
MISSPELT_FIELD = (
    "drills/broken.yaml:6:3: objectives.stable_fo: unknown field 'stable_fo' "
    "(did you mean 'stable_for'?)"
)


def test_a_bad_drill_names_the_file_the_line_and_the_field(home: Path) -> None:
    broken_drill(home)

    line = one_plain_line(drill(home, "run", "broken"), 2)

    assert line == f"drill: error: {ROTTEN_RTO} (and 1 more problem)"


def test_validate_lists_every_problem_of_every_file(home: Path) -> None:
    broken_drill(home)
    (home / "drills" / "unnamed.yaml").write_text("experiment: nowhere.yaml\n", encoding="utf-8")

    result = drill(home, "validate")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"invalid  {ROTTEN_RTO}",
        f"invalid  {MISSPELT_FIELD}",
        "invalid  drills/unnamed.yaml:1:1: name: missing required field 'name'",
        "invalid  drills/unnamed.yaml:1:1: target: missing required field 'target'",
    ]


def test_an_activity_that_fails_is_told_once_in_plain_words(home: Path) -> None:
    experiment = home / "latency.json"
    probe = {
        "type": "probe",
        "name": "latency",
        "tolerance": True,
        "provider": {
            "type": "python",
            "module": "drillkit.probes.prometheus",
            "func": "prometheus_threshold",
            "arguments": {"url": f"http://127.0.0.1:{free_port()}", "query": "up"},
        },
    }
    experiment.write_text(
        json.dumps(
            {
                "title": "latency stays low",
                "description": "a probe given no threshold",
                "steady-state-hypothesis": {"title": "fast", "probes": [probe]},
                "method": [
                    {
                        "type": "action",
                        "name": "nothing",
                        "provider": {"type": "process", "path": "true"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )

    result = drill(home, "run", str(experiment), "--output", "json")

    failure = "probe latency failed: prometheus_threshold needs min_value, max_value or both"
    assert result.returncode == 3
    progress = result.stderr.splitlines()
    assert [line for line in progress if FOREIGN_NAMES.search(line)] == []
    assert sum(failure in line for line in progress) == 1, result.stderr
    report = home / json.loads(result.stdout)["report_dir"] / "report.json"
    assert json.loads(report.read_text(encoding="utf-8"))["error"] == (
        f"the steady state could not be checked before the fault ({failure}), "
        "so nothing was injected; fix the probe first"
    )


@pytest.mark.parametrize(
    ("journaled", "plain"),
    [
        (
            "Traceback...\nchaoslib.exceptions.ActivityFailed: drillkit.errors.InvalidInput: "
            "needs min_value\n",
            "needs min_value",
        ),
        (
            "chaoslib.exceptions.ActivityFailed: requests.exceptions.ReadTimeout: no answer",
            "ReadTimeout: no answer",
        ),
        ("ValueError: 3 is not a zone", "ValueError: 3 is not a zone"),
        ("chaoslib.exceptions.ActivityFailed: failed: exit 1", "failed: exit 1"),
    ],
)
def test_an_activity_error_is_said_without_wrapping_or_module_paths(
    journaled: str, plain: str
) -> None:
    from drillkit.running.chaostoolkit import plain_activity_error

    assert plain_activity_error(journaled) == plain

"""``drill run --junit FILE --webhook URL``: what a CI job gets from a run, whatever its verdict.

The real command in a subprocess, on a plain experiment that touches no cluster; the
webhook goes to a real HTTP server on loopback.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from drillkit.scheduling.notifications import WebhookPayload
from tests.helpers import Receiver, drill_command, free_port, receiving_webhooks
from tests.reporting.test_junit import ensure_junit_shape
from tests.running.test_drill_run import DRILLS, environment

PLAIN_EXPERIMENT = DRILLS / "no-cluster-experiment.json"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving_webhooks() as box:
        yield box


def run_plain_experiment(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = environment(tmp_path)
    # Loopback only: a proxy from the developer's setup must not stand in between.
    for name in [name for name in env if name.lower().endswith("_proxy")]:
        del env[name]
    return subprocess.run(
        drill_command(
            "run",
            str(PLAIN_EXPERIMENT),
            "--reports-dir",
            str(tmp_path / "reports"),
            "--output",
            "json",
            *arguments,
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_run_that_is_not_met_writes_its_junit_file_and_notifies_with_rto_and_rpo(
    tmp_path: Path, receiver: Receiver
) -> None:
    junit = tmp_path / "junit.xml"

    result = run_plain_experiment(tmp_path, "--junit", str(junit), "--webhook", receiver.url)

    # No objective and no fault that can say it landed: inconclusive, exit 1 as without.
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "inconclusive"
    root = ensure_junit_shape(junit.read_bytes())
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "no-cluster-experiment"
    cases = [(case.get("name"), [child.tag for child in case]) for case in suite.iter("testcase")]
    assert cases == [
        ("RTO", ["skipped", "system-out"]),
        ("steady state before: python-answers", []),
        ("steady state after: python-answers", []),
    ]
    skipped = suite.find("testcase/skipped")
    assert skipped is not None
    assert skipped.get("message") == (
        "RTO not judged: no objective declared; not measured: the recovery condition was not "
        "observed after the fault"
    )

    ((path, body),) = receiver.received()
    assert path == "/"
    TypeAdapter(WebhookPayload).validate_python(body)
    assert (body["event"], body["verdict"], body["run_id"]) == (
        "finished",
        "inconclusive",
        summary["run_id"],
    )
    assert body["target"] == {"kind": "drill", "name": "no-cluster-experiment"}
    (run,) = body["runs"]
    for name in ("rto", "rpo"):
        assert run[name] == {key: summary["measurements"][name][key] for key in run[name]}
    assert run["report_dir"] == summary["report_dir"]


def test_an_undelivered_webhook_is_a_warning_and_changes_no_exit_code(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"

    result = run_plain_experiment(tmp_path, "--webhook", url)

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["verdict"] == "inconclusive"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"warning: notification to {url.removesuffix('/hook')}/... failed: "
    )


def test_a_junit_file_that_cannot_be_written_is_a_warning_and_changes_no_exit_code(
    tmp_path: Path,
) -> None:
    junit = tmp_path / "missing-directory" / "junit.xml"

    result = run_plain_experiment(tmp_path, "--junit", str(junit))

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["verdict"] == "inconclusive"
    assert f"warning: cannot write the JUnit file {junit}: " in result.stderr

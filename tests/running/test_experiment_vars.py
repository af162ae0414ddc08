"""``drill run --var`` and ``--var-file``: values given as ``chaos run`` takes them.

The documents of ``tests/compat`` check that both commands agree on what the values do
to an experiment; here, what drill alone adds: the observer polls with the same
configuration, a secret given on the command line is redacted like any other, the
guardrails judge the configuration the run will use, and bad input is one line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from drillkit.model.activities import parse_activities
from drillkit.running.activities import disruptions
from drillkit.running.chaostoolkit import ExperimentVars
from tests.running.test_drill_run import DRILLS, drill_command, environment, read_report
from tests.running.vars_activities import digest

VAR_TOKEN = "tok-from-var-7f3a91"
FILE_PASSWORD = "pw-from-file-3c9e1a"


def drill_run(
    tmp_path: Path, target: Path, *arguments: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command(
            "run",
            str(target),
            "--reports-dir",
            str(tmp_path / "reports"),
            "--output",
            "json",
            *arguments,
        ),
        env=environment(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_observer_polls_with_the_configuration_given_with_var(tmp_path: Path) -> None:
    # The environment names no service file: only --var does. Were the observer's probes
    # given the environment's configuration, recovery would never be seen and the
    # objective missed.
    service = tmp_path / "given-service"
    service.touch()

    result = drill_run(
        tmp_path,
        DRILLS / "file-service.yaml",
        "--var",
        f"service_file={service}",
        "--var",
        "heal_after:int=1",
        SERVICE_FILE=str(tmp_path / "no-such-service"),
    )

    assert result.returncode == 0, result.stderr
    report, _ = read_report(result)
    assert report["verdict"] == "met"
    rto = report["measurements"]["rto"]
    assert rto["seconds"] >= 1.0 - rto["resolution_seconds"]
    assert service.exists()
    assert not (tmp_path / "no-such-service").exists()


SECRET_EXPERIMENT = {
    "version": "1.0.0",
    "title": "An experiment handed its secrets on the command line",
    "description": "Activities print, return and fail with the secrets they are given.",
    "configuration": {"api_token": "placeholder-token"},
    "secrets": {"service": {"password": "placeholder-password"}},
    "method": [
        {
            "type": "action",
            "name": "digest-the-token",
            "provider": {
                "type": "process",
                "path": "sh",
                "arguments": ["-c", 'printf %s "$0" | sha256sum', "${api_token}"],
            },
        },
        {
            "type": "action",
            "name": "print-the-token",
            "provider": {"type": "process", "path": "echo", "arguments": "${api_token}"},
        },
        {
            "type": "action",
            "name": "reveal-the-password",
            "provider": {
                "type": "python",
                "module": "tests.running.vars_activities",
                "func": "reveal_the_password",
                "secrets": ["service"],
            },
        },
        {
            "type": "action",
            "name": "fail-quoting-the-token",
            "provider": {
                "type": "python",
                "module": "tests.running.vars_activities",
                "func": "fail_quoting",
                "arguments": {"text": "${api_token}"},
            },
        },
    ],
}


def test_secrets_given_with_var_and_var_file_are_in_no_report_file_nor_stderr(
    tmp_path: Path,
) -> None:
    experiment = tmp_path / "secrets-experiment.json"
    experiment.write_text(json.dumps(SECRET_EXPERIMENT))
    var_file = tmp_path / "secrets.json"
    var_file.write_text(json.dumps({"secrets": {"service": {"password": FILE_PASSWORD}}}))

    result = drill_run(
        tmp_path, experiment, "--var", f"api_token={VAR_TOKEN}", "--var-file", str(var_file)
    )

    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    _, report_dir = read_report(result)
    journal = (report_dir / "journal.json").read_text()
    # The activities were given the values of the command line, not the experiment's.
    assert digest(VAR_TOKEN) in journal
    assert digest(FILE_PASSWORD) in journal
    assert "the login was refused with [redacted]" in result.stderr
    written = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "timeline.jsonl" for p in written)
    for secret in (VAR_TOKEN, FILE_PASSWORD):
        assert secret not in result.stderr
        assert secret not in result.stdout
        for path in written:
            assert secret.encode() not in path.read_bytes(), path


def test_the_guardrails_judge_the_configuration_given_with_var() -> None:
    experiment = {
        "title": "t",
        "configuration": {"zone": "zone-b"},
        "method": [
            {
                "type": "action",
                "name": "drain",
                "provider": {
                    "type": "python",
                    "module": "drillkit.faults.kubernetes",
                    "func": "drain_zone",
                    "arguments": {"zone": "${zone}"},
                },
            }
        ],
    }
    given = ExperimentVars(configuration={"zone": "zone-a", "unused": "x"})

    applied = given.applied_to(experiment)

    (drain,) = disruptions(parse_activities(applied))
    assert drain.radius.zones == ("zone-a",)
    # Only the configuration's own keys are replaced, as chaoslib does; the experiment
    # itself is left as it was.
    assert applied["configuration"] == {"zone": "zone-a"}
    assert experiment["configuration"] == {"zone": "zone-b"}


def test_secrets_given_in_a_var_file_replace_the_experiments_targets_as_chaoslib_does() -> None:
    experiment = {
        "title": "t",
        "secrets": {"service": {"password": {"type": "env", "key": "X"}, "user": "u"}},
    }
    given = ExperimentVars(secrets={"service": {"password": "p"}, "other": {"k": "v"}})

    assert given.applied_to(experiment)["secrets"] == {"service": {"password": "p"}}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--var", "greeting"), "--var 'greeting': expected KEY=VALUE or KEY:TYPE=VALUE"),
        (
            ("--var", "replicas:complex=3"),
            "--var replicas:complex: variable type can only be: bool, str, int, float, "
            "bytes or json",
        ),
        (("--var", "replicas:int=three"), "--var replicas:int: cannot convert the value to int"),
        (("--var-file", "missing.json"), "--var-file missing.json: cannot read it:"),
        (("--var-file", "broken.json"), "--var-file broken.json: not valid JSON:"),
        (("--var-file", "broken.yaml"), "--var-file broken.yaml: not valid YAML:"),
        (("--var-file", "list.json"), "--var-file list.json: expected a mapping"),
        (("--var-file", "broken.env"), "--var-file broken.env: line 2: expected NAME=VALUE"),
    ],
)
def test_bad_var_input_is_one_line_naming_the_option_and_touches_nothing(
    tmp_path: Path, arguments: tuple[str, ...], message: str
) -> None:
    (tmp_path / "broken.json").write_text('{"configuration": ')
    (tmp_path / "broken.yaml").write_text("configuration: [\n")
    (tmp_path / "list.json").write_text('["greeting"]')
    (tmp_path / "broken.env").write_text("GREETING=hello\nREPLICAS\n")
    drill = yaml.safe_load((DRILLS / "file-service.yaml").read_text())
    drill["experiment"] = str(DRILLS / "file-service-experiment.yaml")
    (tmp_path / "drill.yaml").write_text(yaml.safe_dump(drill))
    relative = [
        str(tmp_path / a) if a.endswith((".json", ".yaml", ".env")) else a for a in arguments
    ]

    result = drill_run(tmp_path, tmp_path / "drill.yaml", *relative)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("drill: error: ")
    assert message.replace("--var-file ", f"--var-file {tmp_path}/") in lines[0]
    assert not (tmp_path / "reports").exists()
    assert (tmp_path / "service").exists()


def test_the_help_of_drill_run_explains_var_and_var_file(tmp_path: Path) -> None:
    result = subprocess.run(
        drill_command("run", "--help"),
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0
    assert "--var KEY[:TYPE]=VALUE" in result.stdout
    assert "--var-file FILE" in result.stdout
    assert "--var replicas:int=3" in result.stdout

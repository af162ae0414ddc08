"""Shell completion: ``drill completion`` prints click's script for each shell, and the
installed ``drill`` answers the script's questions with the names that exist (drills, run
ids, labs, schedules), as a shell asks them: through ``_DRILL_COMPLETE`` and ``COMP_WORDS``."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli

DRILL = Path(sys.executable).parent / "drill"
SCHEDULING_DRILLS = Path(__file__).parent / "scheduling" / "drills"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Nothing of the developer's own (labs, scheduler database, reports) may answer.
    monkeypatch.setenv("DRILLKIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for name in ("DRILL_DRILLS_DIR", "DRILL_REPORTS_DIR", "DRILL_SCHEDULER_DATABASE"):
        monkeypatch.delenv(name, raising=False)


def complete(command_line: str, **environment: str) -> list[str]:
    """What the installed ``drill`` offers for the last word of ``command_line`` (empty
    when it ends in a space), each as click's bash protocol gives it: ``type,value``."""
    words = shlex.split(command_line) + ([""] if command_line.endswith(" ") else [])
    result = subprocess.run(
        [str(DRILL)],
        env={
            **os.environ,
            **environment,
            "_DRILL_COMPLETE": "bash_complete",
            "COMP_WORDS": command_line,
            "COMP_CWORD": str(len(words) - 1),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # One line per completion; with none, click still ends its answer with a newline.
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.parametrize(
    ("shell", "function"),
    [("bash", "_drill_completion()"), ("zsh", "#compdef drill"), ("fish", "function")],
)
def test_completion_prints_clicks_script_for_each_shell(shell: str, function: str) -> None:
    printed = CliRunner().invoke(cli, ["completion", shell])

    assert printed.exit_code == 0, printed.output
    assert "_DRILL_COMPLETE" in printed.output
    assert function in printed.output
    # The same script click itself gives for _DRILL_COMPLETE=<shell>_source.
    sourced = subprocess.run(
        [str(DRILL)],
        env={**os.environ, "_DRILL_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert printed.output == sourced.stdout


def test_completion_help_says_how_to_install_the_script_for_each_shell() -> None:
    shown = CliRunner().invoke(cli, ["completion", "--help"])

    assert shown.exit_code == 0, shown.output
    assert "drill completion bash > ~/.local/share/bash-completion/completions/drill" in (
        shown.output
    )
    assert "_drill" in shown.output and "$fpath" in shown.output
    assert "drill completion fish > ~/.config/fish/completions/drill.fish" in shown.output


def test_completion_refuses_a_shell_it_has_no_script_for() -> None:
    refused = CliRunner().invoke(cli, ["completion", "tcsh"])

    assert refused.exit_code == 2
    assert "Invalid value for 'SHELL': 'tcsh' is not one of 'bash', 'zsh', 'fish'" in (
        refused.output
    )


def test_drill_names_complete_from_the_drills_directory_and_files_after_them(
    tmp_path: Path,
) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    for name in ("zone-failure.yaml", "zone-outage.yaml", "pod-kill.yml", "notes.txt"):
        (drills / name).touch()

    assert complete("drill run zo") == ["file,zo", "plain,zone-failure", "plain,zone-outage"]
    assert complete(f"drill show --drills-dir {drills} ") == [
        "file,",
        "plain,pod-kill",
        "plain,zone-failure",
        "plain,zone-outage",
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "etcd-restore.yaml").touch()
    assert complete("drill run e", DRILL_DRILLS_DIR=str(elsewhere)) == [
        "file,e",
        "plain,etcd-restore",
    ]


def test_run_ids_complete_from_the_reports_directory(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    finished = reports / "zone-failure" / "20250101T100000Z-1a2b"
    started = reports / "pod-kill" / "20250102T100000Z-3c4d"
    stray = reports / "pod-kill" / "not-a-run"
    for directory in (finished, started, stray):
        directory.mkdir(parents=True)
    (finished / "report.json").write_text("{}")
    (started / "started.json").write_text("{}")

    assert complete("drill report show 2025") == [
        "plain,20250101T100000Z-1a2b",
        "plain,20250102T100000Z-3c4d",
    ]
    assert complete(f"drill report pdf --reports-dir {reports} ") == [
        "plain,20250101T100000Z-1a2b",
        "plain,20250102T100000Z-3c4d",
        "plain,latest",
    ]
    assert complete("drill report list ") == ["plain,pod-kill", "plain,zone-failure"]


def test_lab_names_complete_from_the_labs_drillkit_home_holds(tmp_path: Path) -> None:
    labs = tmp_path / "home" / "labs"
    for name in ("local", "region-b", "half-made"):
        (labs / name).mkdir(parents=True)
    # lab.json marks a lab: it is the first thing a lab writes, and what `lab status` lists.
    (labs / "local" / "lab.json").write_text("{}")
    (labs / "region-b" / "lab.json").write_text("{}")

    assert complete("drill lab status --name ") == ["plain,local", "plain,region-b"]
    assert complete("drill lab down --name re") == ["plain,region-b"]


def add_schedules(database: str, *names: str) -> None:
    for name in names:
        arguments = ["schedule", "add", "noop", "--as", name, "--cron", "0 3 * * *"]
        arguments += ["--drills-dir", str(SCHEDULING_DRILLS), "--database", database]
        added = CliRunner().invoke(cli, arguments)
        assert added.exit_code == 0, added.output


def test_schedule_names_complete_from_the_scheduler_database(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'scheduler.db'}"
    add_schedules(database, "nightly", "weekly")

    assert complete(f"drill schedule remove --database {database} ") == [
        "plain,nightly",
        "plain,weekly",
    ]
    assert complete("drill schedule pause w", DRILL_SCHEDULER_DATABASE=database) == ["plain,weekly"]


def test_schedule_names_complete_quietly_to_nothing_without_a_readable_database(
    tmp_path: Path,
) -> None:
    readable = f"sqlite:///{tmp_path / 'scheduler.db'}"
    add_schedules(readable, "nightly")
    assert complete(f"drill schedule history --database {readable} ") == ["plain,nightly"]

    # No database: none is created by asking, in the default place or a given one.
    assert complete("drill schedule history ") == []
    assert not (tmp_path / "home").exists()
    missing = tmp_path / "missing" / "scheduler.db"
    assert complete(f"drill schedule resume --database sqlite:///{missing} ") == []
    assert not missing.parent.exists()
    # Not a database, or not a URL at all: still nothing, and nothing on stderr.
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not sqlite")
    assert complete(f"drill schedule fire --database sqlite:///{garbage} ") == []
    assert complete("drill schedule export --database nonsense:// ") == []


def test_bash_completes_drill_names_through_the_printed_script(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    (drills / "zone-failure.yaml").touch()
    (drills / "zone-outage.yaml").touch()
    script = tmp_path / "drill.bash"
    script.write_text(CliRunner().invoke(cli, ["completion", "bash"]).output)
    # What bash does on Tab after `drill run zo`: call the function the script registered.
    asked = (
        f"source {script} && "
        "COMP_WORDS=(drill run zo) && COMP_CWORD=2 && "
        '$(complete -p drill | grep -o "\\-F [^ ]*" | cut -c4-) drill && '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", asked],
        env={**os.environ, "PATH": f"{DRILL.parent}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["zone-failure", "zone-outage"]

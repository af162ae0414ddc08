"""One output convention across every ``drill`` command, read from the click tree itself.

``-o/--output`` is always the format of what a command prints (text or json; yaml or json
where the native output is YAML), never a file; a file a command writes is always
``--output-file``; and every command a script calls has ``-o json``, with a schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from drillkit.cli.documents import SCHEMAS, render_schema
from drillkit.cli.main import cli
from tests.cli_schemas import SCHEMAS as SCHEMAS_DIR
from tests.cli_schemas import schema_file

# Every command a script would call, and the schema of its -o json document. A new
# command goes here, or in WITHOUT_JSON with the reason it needs none.
SCRIPTED = {
    "run": "run",
    "validate": "validate",
    "list": "list",
    "show": "show",
    "recover": "recover",
    "report list": "report-list",
    "report show": "report",
    "report trend": "report-trend",
    "lab status": "lab-status",
    "evidence verify": "evidence-verify",
    "evidence export": "evidence-export",
    "evidence sync": "evidence-sync",
    "evidence controls": "evidence-controls",
    "backup create": "backup-create",
    "backup list": "backup-list",
    "backup verify": "backup-verify",
    "backup restore": "backup-restore",
    "schedule list": "schedule-list",
    "schedule apply": "schedule-apply",
    "schedule history": "schedule-history",
    "schedule fire": "schedule-fire",
    "schedule export": "schedule-export",
    "gameday list": "gameday-list",
    "gameday run": "gameday-run",
    "finding list": "finding-list",
    "finding show": "finding-show",
    "readiness": "readiness",
}
# Also documented: ``drill run --dry-run -o json`` prints the plan (schema run-dry-run).
WITHOUT_JSON = {
    "schema": "prints a JSON Schema already",
    "report pdf": "writes a file and prints its path",
    "lab build": "prints the directory of the binaries it built",
    "lab up": "an action for people; drill lab status -o json reports the result",
    "lab grant": "an action; one line saying what it bound",
    "lab reset": "an action; one line",
    "lab down": "an action; one line",
    "lab kubeconfig": "prints a path, on the last line for scripts",
    "lab component": "an action; one line",
    "lab load-image": "an action; prints what containerd imported",
    "evidence keygen": "writes a key pair and prints where",
    "evidence adopt": "an action; drill evidence verify -o json reports the result",
    "schedule add": "an action; drill schedule list -o json reports the result",
    "schedule remove": "an action; one line",
    "finding note": "an action; one line; drill finding show -o json reports the result",
    "schedule pause": "an action; one line",
    "schedule resume": "an action; one line",
    "scheduler run": "a daemon: logs on stderr, /metrics for machines",
    "completion": "prints a shell's completion script",
}


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for name, child in command.commands.items():
            yield from walk(child, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(walk(cli))


def options_of(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def each_option() -> Iterator[tuple[str, click.Option]]:
    for name, command in COMMANDS.items():
        for option in options_of(command):
            yield f"{name} {'/'.join(option.opts)}", option


OPTIONS = dict(each_option())


def test_every_command_is_either_scripted_with_json_or_says_why_it_needs_none() -> None:
    assert set(SCRIPTED) | set(WITHOUT_JSON) == set(COMMANDS)
    assert not set(SCRIPTED) & set(WITHOUT_JSON)


@pytest.mark.parametrize("name", sorted(SCRIPTED))
def test_a_command_scripts_call_has_o_json_and_a_committed_schema(name: str) -> None:
    (output,) = [o for o in options_of(COMMANDS[name]) if "--output" in o.opts]
    assert isinstance(output.type, click.Choice)
    assert "json" in output.type.choices
    assert schema_file(SCRIPTED[name]).is_file()


# A command that writes a file in more than one format names the file's format --format;
# what it prints is still -o's.
FILE_FORMATS = {"evidence export --format": ["bundle", "oscal"]}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_o_is_always_the_output_format_and_never_a_path(name: str) -> None:
    option = OPTIONS[name]
    if name in FILE_FORMATS:
        assert isinstance(option.type, click.Choice)
        assert list(option.type.choices) == FILE_FORMATS[name]
        command = COMMANDS[name.removesuffix(" --format")]
        assert any("--output-file" in o.opts for o in options_of(command))
        return
    assert "--format" not in option.opts, "the format of the output is -o/--output"
    if "-o" in option.opts or "--output" in option.opts:
        assert option.opts == ["-o", "--output"]
        assert isinstance(option.type, click.Choice)
        assert list(option.type.choices) in (["text", "json"], ["yaml", "json"])
        assert option.default == option.type.choices[0]


# Besides its own output, a run writes one file for CI systems, named for what it holds.
BESIDE_THE_OUTPUT = {"run --junit", "gameday run --junit"}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_file_a_command_writes_is_named_output_file(name: str) -> None:
    option = OPTIONS[name]
    writes = isinstance(option.type, click.Path) and option.type.writable
    if name in BESIDE_THE_OUTPUT:
        assert option.opts == ["--junit"] and writes
    elif writes or "--output-file" in option.opts:
        assert option.opts == ["--output-file"] and not option.secondary_opts
        assert isinstance(option.type, click.Path)
        assert option.type.writable and not option.type.dir_okay


def test_the_path_options_that_are_not_output_files_are_the_files_and_directories_read() -> None:
    # Made by file_option or directory_option: files read, and the state directories
    # (reports, drills...) commands read and write under.
    paths = {
        name.split(" --")[-1].split("/")[0]
        for name, option in OPTIONS.items()
        if isinstance(option.type, click.Path) and not option.type.writable
    }
    assert paths == {
        "backups-dir",
        "controls",
        "drills-dir",
        "gamedays-dir",
        "kubeconfig",
        "policy",
        "public-key",
        "reports-dir",
        "schedules-dir",
        "services-dir",
        "signing-key",
        "var-file",
        "verify-key",
    }


def test_the_committed_schemas_are_the_ones_the_document_types_generate() -> None:
    committed = {path.name for path in (SCHEMAS_DIR / "cli").glob("*.schema.json")}
    assert committed == {f"{name}.schema.json" for name in SCHEMAS}
    for name in SCHEMAS:
        text = (SCHEMAS_DIR / "cli" / f"{name}.schema.json").read_text(encoding="utf-8")
        assert json.loads(text) == render_schema(name), (
            f"schemas/cli/{name}.schema.json is stale; regenerate the folder with "
            "drillkit.cli.documents.write_schemas"
        )


def test_every_schema_but_report_json_s_own_is_a_cli_document() -> None:
    named = set(SCRIPTED.values()) | {"run-dry-run"}
    assert named == set(SCHEMAS) | {"report"}
    assert Path(schema_file("report")).is_file()

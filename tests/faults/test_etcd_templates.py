"""The etcd procedure's templates: every value is one quoted word, through real bash.

Values reach the commands from places the template's author does not control (the
state home's path, a snapshot catalogue on the host), so these tests run rendered
commands through the real local executor with hostile values and check that
nothing but the declared commands ran, and that each received its value intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.drivers.etcd import (
    Snapshot,
    SnapshotRejected,
    check_digest,
    find_snapshot,
    read_catalogue,
)
from drillkit.drivers.executors import LocalExecutor
from drillkit.errors import InvalidInput
from drillkit.faults.etcd import RestoreState, run_phase
from drillkit.model.procedure import (
    EtcdMemberSpec,
    EtcdTargetSpec,
    ProcedureStep,
    RestoreProcedure,
    ensure_bare_placeholders,
)
from drillkit.model.timeline import format_utc
from drillkit.restoring.etcd import resolve_procedure

EXPERIMENT = Path(__file__).parents[2] / "experiments" / "etcd-restore.yaml"

# The commands the shipped procedure calls; each stub records its name and
# arguments, NUL-terminated, in a file of its own.
STUBBED = ("drill", "etcdutl", "rm", "mv")
STUB = """#!/bin/sh
printf '%s\\0' "$(basename "$0")" "$@" > "$(mktemp "$STUB_RECORDS/call.XXXXXX")"
"""


def a_state(
    *, data_dir: str, member: str = "etcd-0", snapshot: str = "/s/etcd.db", lab: str = "local"
) -> RestoreState:
    target = EtcdTargetSpec(
        members=(
            EtcdMemberSpec(
                name=member,
                data_dir=data_dir,
                peer_url="http://127.0.0.1:2380",
                client_url="http://127.0.0.1:2379",
            ),
        ),
        variables={"lab": lab},
    )
    return RestoreState(
        run_id="run-1",
        mode="data-loss",
        target=target,
        procedure=resolve_procedure(shipped_configuration()),
        snapshot=Snapshot(
            path=snapshot,
            taken_utc=datetime(2026, 1, 1, tzinfo=UTC),
            size=1,
            sha256="0" * 64,
            revision=1,
            total_keys=1,
            endpoint="http://127.0.0.1:2379",
        ),
        affected=(member,),
        kept={},
        phase="disaster",
    )


def shipped_configuration() -> dict[str, object]:
    configuration: dict[str, object] = yaml.safe_load(EXPERIMENT.read_text())["configuration"]
    return configuration


def a_step(run: str, *, each_member: bool = True) -> ProcedureStep:
    return ProcedureStep(name="step", run=run, each_member=each_member)


def test_a_data_directory_with_a_space_is_one_word_to_rm(tmp_path: Path) -> None:
    # The auditor's case: a state home under "a b" made `rm -rf {data_dir}.restoring`
    # remove ".../a" and "b/...".
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep").write_text("precious")
    data_dir = tmp_path / "a b" / "home" / "etcd-0"
    restoring = Path(f"{data_dir}.restoring")
    restoring.mkdir(parents=True)
    state = a_state(data_dir=str(data_dir))

    run_phase(
        LocalExecutor(),
        state,
        "restore",
        [a_step("rm -rf {data_dir}.restoring")],
        state.target.members,
    )

    assert not restoring.exists()
    assert (tmp_path / "a" / "keep").read_text() == "precious"


HOSTILE_PIECES = st.sampled_from(
    [
        "$(touch {sentinel})",
        "`touch {sentinel}`",
        "; touch {sentinel}",
        "' ; touch {sentinel} ; '",
        '" ; touch {sentinel} ; "',
        "\n touch {sentinel} #",
        "&& touch {sentinel}",
        "| touch {sentinel}",
        "> {sentinel}",
        "a b",
        "*",
        "~",
        "\\",
        "{{}}",
    ]
)
HOSTILE = (
    st.lists(
        st.one_of(
            HOSTILE_PIECES,
            st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
        ),
        min_size=1,
        max_size=4,
    )
    .map("".join)
    .filter(bool)
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data_dir=HOSTILE, member=HOSTILE, snapshot=HOSTILE, lab=HOSTILE)
def test_hostile_values_in_the_shipped_procedure_execute_nothing(
    tmp_path: Path, data_dir: str, member: str, snapshot: str, lab: str
) -> None:
    sentinel = tmp_path / "sentinel"
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    for name in STUBBED:
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(stat.S_IRWXU)
    records = tmp_path / "records"
    records.mkdir(exist_ok=True)
    for old in records.iterdir():
        old.unlink()
    values = {
        key: value.replace("{sentinel}", str(sentinel))
        for key, value in {
            "data_dir": data_dir,
            "member": member,
            "snapshot": snapshot,
            "lab": lab,
        }.items()
    }
    state = a_state(**values)
    executor = LocalExecutor(path=(str(stubs),), environment={"STUB_RECORDS": str(records)})

    for phase in ("kill", "stop", "restore", "start"):
        run_phase(executor, state, phase, getattr(state.procedure, phase), state.target.members)

    assert not sentinel.exists()
    calls = [call.read_bytes().decode().split("\0")[:-1] for call in records.iterdir()]
    restore = next(call for call in calls if call[:3] == ["etcdutl", "snapshot", "restore"])
    assert restore[3] == values["snapshot"]
    assert restore[restore.index("--name") + 1] == values["member"]
    assert restore[restore.index("--data-dir") + 1] == values["data_dir"] + ".restoring"
    assert ["mv", values["data_dir"] + ".restoring", values["data_dir"]] in calls
    assert ["rm", "-rf", values["data_dir"]] in calls
    assert all(call[-2:] == ["--name", values["lab"]] for call in calls if call[0] == "drill")


@pytest.mark.parametrize(
    ("template", "where"),
    [
        ("rm -rf '{data_dir}'", "inside '...'"),
        ('rm -rf "{data_dir}.restoring"', 'inside "..."'),
        ("echo $'{member}'", "inside \\$'...'"),
        ('x="$(ls "{data_dir}")"', 'inside "..."'),
        ("true # restore {snapshot}", "in a # comment"),
        ("cat <<EOF\n{snapshot}\nEOF", "after a here-document"),
        ("bash -c 'rm -rf {data_dir}'", "inside '...'"),
    ],
)
def test_a_template_that_quotes_a_placeholder_is_refused(template: str, where: str) -> None:
    with pytest.raises(ValueError, match=where):
        ensure_bare_placeholders(template)
    with pytest.raises(InvalidInput, match=rf"etcd_procedure\.restore\.0\.run: .*{where}"):
        resolve_procedure(
            {
                "etcd_procedure": {
                    "kill": [{"name": "k", "run": "true"}],
                    "restore": [{"name": "r", "run": template, "each_member": True}],
                    "start": [{"name": "s", "run": "true"}],
                }
            }
        )


@pytest.mark.parametrize(
    "template",
    [
        "rm -rf {data_dir}.restoring && mv {data_dir}.restoring {data_dir}",
        "echo 'literal' {snapshot} \"$HOME\" {member}",
        'x=$(cat {snapshot}) && echo "$x" `ls {data_dir}`',
        "a#b {member}",
        'echo "#" {member} # a comment without placeholders',
        "cat <<< {snapshot}",
        "echo {{literal braces}} {member}",
    ],
)
def test_bare_placeholders_are_accepted(template: str) -> None:
    ensure_bare_placeholders(template)


def test_conversions_and_format_specs_are_refused() -> None:
    for template in ("echo {snapshot!r}", "echo {member:>8}"):
        with pytest.raises(ValueError, match="no conversion or format spec"):
            ensure_bare_placeholders(template)


def test_the_shipped_procedure_is_accepted() -> None:
    procedure = resolve_procedure(shipped_configuration())
    assert isinstance(procedure, RestoreProcedure)


def catalogue(directory: Path, snapshot_file: Path, *, path: str | None = None) -> Snapshot:
    """Write the sidecar of ``snapshot_file`` as save_snapshot does, naming ``path``."""
    data = snapshot_file.read_bytes()
    entry = Snapshot(
        path=path if path is not None else str(snapshot_file),
        taken_utc=datetime.now(UTC).replace(microsecond=0),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        revision=7,
        total_keys=3,
        endpoint="http://127.0.0.1:2379",
    )
    document = entry.to_json() | {"taken_utc": format_utc(entry.taken_utc)}
    (directory / f"{snapshot_file.name}.json").write_text(json.dumps(document) + "\n")
    return entry


def test_a_catalogue_entry_naming_another_file_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    honest = tmp_path / "etcd-1.db"
    honest.write_bytes(b"snapshot bytes")
    catalogue(tmp_path, honest, path=f"{tmp_path}/$(touch {sentinel}).db")

    with pytest.raises(SnapshotRejected, match=r"etcd-1\.db\.json names .*not the file beside it"):
        find_snapshot(LocalExecutor(), str(tmp_path), "latest")
    assert not sentinel.exists()


def test_a_snapshot_with_shell_characters_in_its_name_is_read_and_checked(
    tmp_path: Path,
) -> None:
    sentinel = tmp_path / "sentinel"
    # A file name cannot hold a slash: the sentinel's path comes from the environment.
    odd = tmp_path / 'etcd-$(touch "$SENTINEL") a\nb\\c.db'
    odd.write_bytes(os.urandom(4096))
    entry = catalogue(tmp_path, odd)
    executor = LocalExecutor(environment={"SENTINEL": str(sentinel)})

    assert read_catalogue(executor, str(tmp_path)) == [entry]
    check_digest(executor, entry)
    odd.write_bytes(os.urandom(4096))
    with pytest.raises(SnapshotRejected, match="changed since it was catalogued"):
        check_digest(executor, entry)
    assert not sentinel.exists()

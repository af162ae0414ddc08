"""Loading drill files: valid files load; every broken file gets one line naming where and what.

Each fixture in ``invalid_drills/`` declares the message it expects on its first line,
``# expect: LINE:COLUMN: FIELD: TEXT``; files that cannot hold a comment (empty, binary) have
their expectation in ``EXPECTATIONS_WITHOUT_COMMENT``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.model.drill import Drill, RollbackPolicy, Strategy
from drillkit.model.loading import DRILL_SCHEMA_ID, drill_json_schema, load_drill

HERE = Path(__file__).parent
VALID_DRILLS = HERE / "valid_drills"
INVALID_DRILLS = HERE / "invalid_drills"

EXPECT_COMMENT = re.compile(rb"^# expect: (.+)$")
EXPECTATION = re.compile(r"^(\d+:\d+: \S+: )(.+)$")

EXPECTATIONS_WITHOUT_COMMENT = {
    "empty.yaml": "1:1: -: the file is empty",
    "binary-junk.yaml": "1:1: -: not UTF-8 text: byte 0x89 cannot be decoded",
}


def read_expectation(fixture: Path) -> tuple[str, str]:
    """The expected ``LINE:COLUMN: FIELD: `` prefix and text of a fixture's message."""
    if fixture.name in EXPECTATIONS_WITHOUT_COMMENT:
        expectation = EXPECTATIONS_WITHOUT_COMMENT[fixture.name]
    else:
        comment = EXPECT_COMMENT.match(fixture.read_bytes().split(b"\n", 1)[0])
        assert comment, f"{fixture.name} lacks a first line '# expect: LINE:COLUMN: FIELD: TEXT'"
        expectation = comment.group(1).decode()
    match = EXPECTATION.match(expectation)
    assert match, f"{fixture.name}: malformed expectation {expectation!r}"
    return match.group(1), match.group(2)


INVALID_FIXTURES = sorted(INVALID_DRILLS.glob("*.yaml"))


def load_error_message(path: Path) -> str:
    with pytest.raises(InvalidInput) as raised:
        load_drill(path)
    return str(raised.value)


def test_invalid_fixtures_cover_at_least_32_kinds_of_mistake() -> None:
    assert len(INVALID_FIXTURES) >= 32


@pytest.mark.parametrize("fixture", INVALID_FIXTURES, ids=lambda fixture: fixture.stem)
def test_invalid_drill_is_reported_in_one_line_at_its_location(fixture: Path) -> None:
    location_and_field, text = read_expectation(fixture)

    message = load_error_message(fixture)

    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{fixture}:{location_and_field}")
    assert text in message
    assert "Traceback" not in message
    assert "pydantic" not in message


def test_every_problem_in_a_file_is_counted_after_the_first() -> None:
    message = load_error_message(INVALID_DRILLS / "several-problems.yaml")

    assert message.endswith("name: missing required field 'name' (and 2 more problems)")


def test_invalid_input_exits_with_status_2() -> None:
    with pytest.raises(InvalidInput) as raised:
        load_drill(INVALID_DRILLS / "bad-duration.yaml")

    assert raised.value.exit_code == 2


def test_message_matches_the_documented_example(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text("title: t\n")
    drill = tmp_path / "x.yaml"
    drill.write_text(
        "name: x\n"
        "experiment: experiment.yaml\n"
        "target:\n"
        "  namespaces: [shop]\n"
        "\n"
        "objectives:\n"
        "  rto:   5 minutes\n"
    )

    assert load_error_message(drill) == (
        f"{drill}:7:10: objectives.rto: invalid duration '5 minutes': "
        "use a number with a unit, such as 90s, 5m, 1h30m or 250ms"
    )


def test_missing_file_is_reported_at_the_start_of_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    assert load_error_message(missing) == (
        f"{missing}:1:1: -: cannot read the file: No such file or directory"
    )


def test_directory_is_not_read_as_a_drill(tmp_path: Path) -> None:
    assert load_error_message(tmp_path).startswith(f"{tmp_path}:1:1: -: cannot read the file:")


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * 200_000)

    assert "larger than 1 MiB" in load_error_message(huge)


def test_aliases_that_expand_exponentially_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")

    assert "the document expands to more than 100000 values" in load_error_message(bomb)


def test_aliases_nested_deeper_than_the_text_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x]"] + [f"a{level}: &a{level} [*a{level - 1}]" for level in range(1, 80)]
    deep = tmp_path / "deep.yaml"
    deep.write_text("\n".join(lines) + "\n")

    assert "nested more than 50 levels deep" in load_error_message(deep)


def test_misspelt_required_field_is_reported_once_as_a_typo(tmp_path: Path) -> None:
    drill = tmp_path / "typo.yaml"
    drill.write_text("nmae: x\nexperiment: e.yaml\ntarget: {namespaces: [shop]}\n")

    assert load_error_message(drill) == (
        f"{drill}:1:1: nmae: unknown field 'nmae' (did you mean 'name'?)"
    )


def test_line_break_in_a_key_does_not_split_the_message(tmp_path: Path) -> None:
    drill = tmp_path / "newline.yaml"
    drill.write_text('name: x\nexperiment: e.yaml\ntarget: {namespaces: [a]}\n"bad\\nkey": 1\n')

    message = load_error_message(drill)

    assert "\n" not in message
    assert message == f"{drill}:4:1: bad\\nkey: unknown field 'bad\\nkey'"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text("title: t\n")
    drill = tmp_path / "bom.yaml"
    drill.write_bytes(
        b"\xef\xbb\xbfname: bom\nexperiment: experiment.yaml\ntarget: {namespaces: [a]}\n"
    )

    assert load_drill(drill).name == "bom"


def test_dates_stay_the_text_that_was_written(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text("title: t\n")
    drill = tmp_path / "dated.yaml"
    drill.write_text(
        "name: dated\nexperiment: experiment.yaml\ntarget: {namespaces: [a]}\n"
        "description: 2024-05-01\n"
    )

    assert load_drill(drill).description == "2024-05-01"


# --- Valid drills -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture",
    [path for path in sorted(VALID_DRILLS.glob("*.yaml")) if path.name != "experiment.yaml"],
    ids=lambda fixture: fixture.stem,
)
def test_valid_drill_loads_and_resolves_its_experiment_beside_it(fixture: Path) -> None:
    drill = load_drill(fixture)

    assert drill.source == fixture
    assert drill.experiment_path().resolve() == (VALID_DRILLS / "experiment.yaml").resolve()


def test_full_drill_loads_every_section() -> None:
    drill = load_drill(VALID_DRILLS / "zone-failure.yaml")

    assert drill.name == "zone-failure"
    assert drill.strategy is Strategy.WARM_STANDBY
    assert drill.safety.rollback is RollbackPolicy.ON_FAILURE
    assert drill.objectives.rto is not None and drill.objectives.rto.total_seconds() == 120
    assert drill.recovery.poll_interval.total_seconds() == 0.5
    assert [workload.name for workload in drill.target.workloads] == ["web", "db"]
    assert drill.markers is not None and drill.markers.store.name == "drill-markers"
    assert drill.evidence is not None and drill.evidence.controls == (
        "SOC2-A1.3",
        "ISO27001-A.8.13",
    )
    assert drill.schedule is not None and drill.schedule.timezone == "Europe/Berlin"
    assert drill.safety.production is True
    assert "payments" in drill.protected_namespaces()


def test_merge_keys_copy_a_probe_and_override_its_name() -> None:
    drill = load_drill(VALID_DRILLS / "with-anchors.yaml")

    (guard,) = drill.safety.abort_conditions
    assert guard.name == "web-still-ready"
    assert guard.provider == drill.recovery.probes[0].provider


def test_error_inside_merged_mapping_points_at_the_anchored_text() -> None:
    message = load_error_message(INVALID_DRILLS / "merged-wrong-type.yaml")

    # Both the anchored probe and its merged copy are wrong at the same place in the text.
    assert ":11:54: recovery.probes[0].provider.timeout:" in message
    assert message.endswith("(and 1 more problem)")


def test_loaded_drill_equals_the_same_drill_built_in_code() -> None:
    loaded = load_drill(VALID_DRILLS / "minimal.yaml")

    built = Drill.model_validate(
        {"name": "minimal", "experiment": "experiment.yaml", "target": {"namespaces": ["shop"]}}
    )

    assert loaded == built.with_source(VALID_DRILLS / "minimal.yaml")


# --- JSON Schema ------------------------------------------------------------------------------


def test_json_schema_names_its_dialect_and_identity() -> None:
    schema = drill_json_schema()

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == DRILL_SCHEMA_ID
    assert schema["title"] == "drillkit drill"
    assert schema["required"] == ["name", "experiment", "target"]
    json.dumps(schema)


def test_json_schema_forbids_unknown_fields_everywhere() -> None:
    schema = drill_json_schema()
    definitions = schema["$defs"]
    assert isinstance(definitions, dict)

    objects = [schema] + [
        definition for definition in definitions.values() if definition.get("type") == "object"
    ]
    assert all(obj.get("additionalProperties") is False for obj in objects)


def test_json_schema_describes_every_field() -> None:
    schema = drill_json_schema()
    definitions = schema["$defs"]
    assert isinstance(definitions, dict)

    for owner in [schema, *definitions.values()]:
        for name, field in owner.get("properties", {}).items():
            assert field.get("description"), f"{owner.get('title')}.{name} has no description"


def test_json_schema_writes_duration_defaults_as_drill_files_do() -> None:
    text = json.dumps(drill_json_schema())

    assert '"default": "10s"' in text
    assert "PT" not in text


def test_json_schema_hides_the_source_file() -> None:
    assert "source" not in json.dumps(drill_json_schema()["properties"])

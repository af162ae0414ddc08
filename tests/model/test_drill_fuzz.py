"""Whatever bytes a drill file holds, load_drill returns a Drill or raises InvalidInput in one line.

Hypothesis writes random YAML documents, valid drills with one value replaced at random, random
text and random bytes. Runs are derandomized and keep no example database, so the suite is the
same on every machine.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.errors import InvalidInput
from drillkit.model.drill import Drill
from drillkit.model.loading import load_drill

FUZZ_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    # Every example overwrites the same file in tmp_path, so sharing the fixture is intended.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

FIELD_NAMES = [
    "name",
    "experiment",
    "target",
    "namespaces",
    "workloads",
    "objectives",
    "rto",
    "strategy",
    "recovery",
    "probes",
    "provider",
    "type",
    "safety",
    "blast_radius",
    "markers",
    "store",
    "schedule",
    "cron",
    "timezone",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["90s", "-5s", "0s", "python", "probe", "configmap", "UTC", "0 10 * * TUE"])
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)

VALID_DRILL: dict[str, object] = {
    "name": "fuzz",
    "experiment": "experiment.yaml",
    "target": {
        "namespaces": ["shop"],
        "workloads": [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
    },
    "objectives": {"rto": "2m", "rpo": "0s"},
    "recovery": {
        "probes": [
            {"type": "probe", "name": "web", "provider": {"type": "http", "url": "http://x/"}}
        ]
    },
    "safety": {"blast_radius": {"max_zones": 1}, "rollback": "always"},
    "markers": {"store": {"type": "configmap", "namespace": "shop", "name": "m"}},
    "evidence": {"owner": "team"},
    "schedule": {"cron": "0 10 * * TUE", "timezone": "UTC"},
}


def value_paths(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value inside ``value``, the document itself excluded."""
    children: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    paths = []
    for step, child in children:
        paths.append((*path, step))
        paths.extend(value_paths(child, (*path, step)))
    return paths


VALID_DRILL_PATHS = value_paths(VALID_DRILL)


def replace_at(document: object, path: tuple[str | int, ...], replacement: object) -> object:
    changed = copy.deepcopy(document)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    parent[path[-1]] = replacement  # type: ignore[index]
    return changed


def ensure_drill_or_one_line_error(path: Path) -> None:
    try:
        drill = load_drill(path)
    except InvalidInput as error:
        message = str(error)
        assert message.startswith(f"{path}:")
        assert "\n" not in message and "\r" not in message
    else:
        assert isinstance(drill, Drill)


@FUZZ_SETTINGS
@given(document=documents)
def test_random_yaml_documents(tmp_path: Path, document: object) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_text(yaml.safe_dump(document))

    ensure_drill_or_one_line_error(drill)


@FUZZ_SETTINGS
@given(path=st.sampled_from(VALID_DRILL_PATHS), replacement=documents)
def test_valid_drill_with_one_value_replaced(
    tmp_path: Path, path: tuple[str | int, ...], replacement: object
) -> None:
    (tmp_path / "experiment.yaml").write_text("title: fuzz\n")
    drill = tmp_path / "drill.yaml"
    drill.write_text(yaml.safe_dump(replace_at(VALID_DRILL, path, replacement)))

    ensure_drill_or_one_line_error(drill)


@FUZZ_SETTINGS
@given(text=st.text(max_size=200))
def test_random_text(tmp_path: Path, text: str) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_bytes(text.encode())

    ensure_drill_or_one_line_error(drill)


@FUZZ_SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,?\n\t ")), max_size=120))
def test_random_yaml_punctuation(tmp_path: Path, text: str) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_text(text)

    ensure_drill_or_one_line_error(drill)


@FUZZ_SETTINGS
@given(content=st.binary(max_size=200))
def test_random_bytes(tmp_path: Path, content: bytes) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_bytes(content)

    ensure_drill_or_one_line_error(drill)


def test_the_unmodified_fuzz_drill_is_valid(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text("title: fuzz\n")
    drill = tmp_path / "drill.yaml"
    drill.write_text(yaml.safe_dump(VALID_DRILL))

    assert load_drill(drill).name == "fuzz"

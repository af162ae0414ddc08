"""An experiment's runtime block is read as chaos run reads it, under a drill file's policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chaoslib.types import Strategy

from drillkit.errors import InvalidInput
from drillkit.model.drill import RollbackPolicy
from drillkit.running.chaostoolkit import load_experiment, runtime_strategies


def experiment(runtime: object = None) -> dict[str, object]:
    document: dict[str, object] = {
        "title": "t",
        "description": "d",
        "method": [{"type": "probe", "name": "p", "provider": {"type": "process", "path": "true"}}],
    }
    if runtime is not None:
        document["runtime"] = runtime
    return document


@pytest.mark.parametrize(
    ("runtime", "policy", "rollbacks", "hypothesis"),
    [
        # No runtime block: drillkit plays the rollbacks always, chaos's hypothesis default.
        (None, None, "always", Strategy.DEFAULT),
        ({"rollbacks": {"strategy": "never"}}, None, "never", Strategy.DEFAULT),
        ({"rollbacks": {"strategy": "default"}}, None, "default", Strategy.DEFAULT),
        ({"rollbacks": {"strategy": "deviated"}}, None, "deviated", Strategy.DEFAULT),
        # A drill file's safety.rollback wins over the experiment's.
        ({"rollbacks": {"strategy": "never"}}, RollbackPolicy.ALWAYS, "always", Strategy.DEFAULT),
        (None, RollbackPolicy.ON_FAILURE, "deviated", Strategy.DEFAULT),
        (
            {"hypothesis": {"strategy": "before-method-only"}},
            None,
            "always",
            Strategy.BEFORE_METHOD,
        ),
        ({"hypothesis": {"strategy": "continously"}}, None, "always", Strategy.CONTINUOUS),
        ({"hypothesis": {"strategy": "continuously"}}, None, "always", Strategy.CONTINUOUS),
        ({"hypothesis": {"strategy": "skip"}}, None, "always", Strategy.SKIP),
    ],
)
def test_runtime_strategies(
    runtime: object, policy: RollbackPolicy | None, rollbacks: str, hypothesis: Strategy
) -> None:
    strategies = runtime_strategies(experiment(runtime), policy)

    assert (strategies.rollbacks, strategies.hypothesis) == (rollbacks, hypothesis)


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ({"rollbacks": {"strategy": "sometimes"}}, "runtime.rollbacks.strategy: 'sometimes'"),
        ({"hypothesis": {"strategy": "during"}}, "runtime.hypothesis.strategy: 'during'"),
        ("never", "runtime: must be a mapping"),
        ({"rollbacks": "never"}, "runtime.rollbacks: must be a mapping"),
    ],
)
def test_an_unknown_runtime_strategy_is_refused_naming_the_field(
    tmp_path: Path, runtime: object, message: str
) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment(runtime)))

    with pytest.raises(InvalidInput) as refused:
        load_experiment(path)

    assert str(refused.value).startswith(f"{path}: invalid experiment: {message}")


def test_a_rollback_naming_no_activity_is_refused_before_anything_runs(tmp_path: Path) -> None:
    # chaoslib validates the method's references only; chaos run meets this one after the
    # method, when the rollbacks play, and stops with a traceback.
    document = experiment()
    document["rollbacks"] = [{"ref": "nowhere"}]
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(document))

    with pytest.raises(InvalidInput) as refused:
        load_experiment(path)

    assert str(refused.value) == (
        f"{path}: invalid experiment: rollbacks[0]: referenced activity 'nowhere' could "
        "not be found in the experiment"
    )

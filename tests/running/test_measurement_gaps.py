"""A gap in contact with the API server is a gap in measurement, never "condition lost".

Table tests of the pure rule (``measure_recovery`` with ``holds`` None for "could not be
observed") and of the watched condition that produces such observations; the polled
condition against an API server port on loopback where nothing listens.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from drillkit.measuring.recovery import measure_recovery
from drillkit.model.measurement import Bound
from drillkit.running.chaostoolkit import ProbeCondition
from drillkit.running.observer import Evaluation
from drillkit.running.watching import AllOf
from tests.drivers.test_unanswering_api_server import write_kubeconfig


@pytest.mark.parametrize(
    ("observations", "seconds", "resolution", "bound", "disrupted"),
    [
        pytest.param(
            [(9.0, True), (10.5, None), (19.5, True), (30.0, True)],
            9.5,
            9.0,
            Bound.EXACT,
            False,
            id="held-before-and-after-a-gap-recovery-by-the-end-of-the-gap",
        ),
        pytest.param(
            [(9.0, True), (11.0, False), (12.0, None), (20.0, True), (31.0, True)],
            10.0,
            8.0,
            Bound.EXACT,
            True,
            id="lost-then-a-gap-restoration-anywhere-in-the-gap",
        ),
        pytest.param(
            [(9.0, True), (11.0, False), (12.0, True), (15.0, None), (16.0, True), (27.0, True)],
            6.0,
            1.0,
            Bound.EXACT,
            True,
            id="a-gap-breaks-a-stable-interval",
        ),
        pytest.param(
            [(9.0, True), (11.0, False), (14.0, None)],
            4.0,
            0.0,
            Bound.LOWER,
            True,
            id="out-of-contact-at-the-end-bound-ends-where-contact-was-lost",
        ),
        pytest.param(
            [(9.0, True), (12.0, None), (14.0, True)],
            None,
            0.0,
            Bound.EXACT,
            False,
            id="held-after-a-gap-but-not-for-stable-for-unmeasured",
        ),
        pytest.param(
            [(9.0, None), (12.0, True), (23.0, True)],
            2.0,
            2.0,
            Bound.EXACT,
            False,
            id="out-of-contact-at-the-fault",
        ),
    ],
)
def test_a_gap_in_contact_widens_or_bounds_the_rto_and_is_never_a_loss(
    observations: list[tuple[float, bool | None]],
    seconds: float | None,
    resolution: float,
    bound: Bound,
    disrupted: bool,
) -> None:
    recovery = measure_recovery(
        observations, t_inject=10.0, stable_for=10.0, deadline=100.0, resolution=0.0
    )
    assert recovery.rto.seconds == seconds, recovery.rto.note
    assert recovery.rto.resolution_seconds == resolution
    if seconds is not None:
        assert recovery.rto.bound is bound
    assert recovery.disruption_observed is disrupted
    assert recovery.rto.note


def test_without_gaps_nothing_changes() -> None:
    recovery = measure_recovery(
        [(9.0, True), (11.0, False), (12.0, True), (23.0, True)],
        t_inject=10.0,
        stable_for=10.0,
        deadline=100.0,
        resolution=0.0,
    )
    assert (recovery.rto.seconds, recovery.rto.resolution_seconds) == (2.0, 0.0)


class Fixed:
    def __init__(self, name: str, evaluation: Evaluation) -> None:
        self.name = name
        self.evaluation = evaluation

    def evaluate(self) -> Evaluation:
        return self.evaluation


@pytest.mark.parametrize(
    ("parts", "holds", "observed"),
    [
        pytest.param([True, None], False, False, id="one-part-out-of-contact"),
        pytest.param([None, False], False, True, id="a-part-seen-failing-is-a-loss"),
        pytest.param([True, True], True, True, id="all-hold"),
    ],
)
def test_a_condition_with_a_part_out_of_contact_is_unobserved(
    parts: list[bool | None], holds: bool, observed: bool
) -> None:
    evaluations = [
        Evaluation(holds=False, detail="lost contact", observed=False)
        if part is None
        else Evaluation(holds=part, detail="ready" if part else "0/6 ready")
        for part in parts
    ]
    condition = AllOf(
        "recovery condition",
        [Fixed(f"part {index}", e) for index, e in enumerate(evaluations)],
    )
    evaluation = condition.evaluate()
    assert (evaluation.holds, evaluation.observed) == (holds, observed)


def _closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PODS_READY = {
    "type": "probe",
    "name": "web-pods-ready",
    "tolerance": True,
    "provider": {
        "type": "python",
        "module": "drillkit.probes.kubernetes",
        "func": "pods_ready",
        "arguments": {"label_selector": "app=web", "namespace": "shop"},
    },
}


@pytest.fixture
def api_server_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The measured cluster's API server URL, with nothing listening there."""
    server = f"https://127.0.0.1:{_closed_loopback_port()}"
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", server)))
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)
    return server


def test_a_polled_probe_the_measured_api_server_did_not_answer_is_a_gap(
    api_server_down: str,
) -> None:
    condition = ProbeCondition(
        "recovery condition", [PODS_READY], {}, {}, api_server=api_server_down
    )

    evaluation = condition.evaluate()

    assert (evaluation.holds, evaluation.observed) == (False, False)
    assert "web-pods-ready" in evaluation.detail


def test_a_polled_probe_that_failed_otherwise_is_a_loss_even_beside_a_gap(
    api_server_down: str,
) -> None:
    # The service itself refuses connections: an answer about the service, not a gap.
    service = {
        "type": "probe",
        "name": "storefront-answers",
        "tolerance": 200,
        "provider": {
            "type": "http",
            "url": f"http://127.0.0.1:{_closed_loopback_port()}/",
            "timeout": 5,
        },
    }
    condition = ProbeCondition(
        "recovery condition", [PODS_READY, service], {}, {}, api_server=api_server_down
    )

    evaluation = condition.evaluate()

    assert (evaluation.holds, evaluation.observed) == (False, True)
    assert "storefront-answers" in evaluation.detail


def test_a_polled_probe_is_judged_against_its_tolerance_substituted_as_chaoslib_does() -> None:
    # chaoslib substitutes ${...} in a string tolerance before comparing; so must the
    # recovery condition, or a hypothesis that holds is never seen holding.
    greeting = {
        "type": "probe",
        "name": "greets",
        "tolerance": "${greeting}, world",
        "provider": {
            "type": "python",
            "module": "os.path",
            "func": "basename",
            "arguments": {"p": "/greetings/hello, world"},
        },
    }
    condition = ProbeCondition(
        "recovery condition", [greeting], {"greeting": "hello"}, {}, api_server=None
    )

    assert condition.evaluate().holds is True

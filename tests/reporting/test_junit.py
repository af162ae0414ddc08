"""The JUnit file of a run: a case per objective and per steady-state probe, judged as the
report judges them, in the XML shape CI test reporters read."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drillkit.model.measurement import (
    Bound,
    Finding,
    Measurement,
    Outcome,
    RecoveryMeasurement,
    RpoMeasurement,
    RunStatus,
    Severity,
    Verdict,
)
from drillkit.model.objectives import Objectives
from drillkit.model.run import RunRecord
from drillkit.reporting.junit import (
    CaseResult,
    JUnitSuite,
    describe_unrun_drill,
    judge_run,
    render_junit,
    write_junit,
)
from tests.reporting.conftest import UTC_ORIGIN, make_record

RTO_30 = Objectives(rto=timedelta(seconds=30))
BOTH = Objectives(rto=timedelta(seconds=120), rpo=timedelta(seconds=5))


def recovery(seconds: float | None, *, bound: Bound = Bound.EXACT, note: str = "") -> Any:
    return RecoveryMeasurement(
        t_inject=100.0,
        t_lost=101.0,
        t_restored=None,
        rto=Measurement(seconds=seconds, resolution_seconds=1.0, bound=bound, note=note),
        disruption_observed=True,
    )


def data_loss(seconds: float | None) -> RpoMeasurement:
    return RpoMeasurement(
        rpo=Measurement(seconds=seconds, resolution_seconds=2.0),
        markers_written_before_inject=5,
        markers_lost=1,
        newest_surviving_sequence=4,
    )


def judged(
    outcome: Outcome, objectives: Objectives = BOTH, status: RunStatus = RunStatus.COMPLETED
) -> RunRecord:
    """A run whose outcome is ``outcome``: the JUnit file reads only what the report states."""
    return dataclasses.replace(
        make_record("met"), outcome=outcome, objectives=objectives, status=status
    )


@dataclass(frozen=True)
class Row:
    record: RunRecord
    cases: tuple[tuple[str, CaseResult, str], ...]
    """(name, result, message) of each objective's case, in order."""


ROWS = [
    pytest.param(
        Row(
            judged(Outcome(verdict=Verdict.MET, recovery=recovery(47.2), rpo=data_loss(4.0))),
            (("RTO", CaseResult.PASSED, ""), ("RPO", CaseResult.PASSED, "")),
        ),
        id="objectives met pass",
    ),
    pytest.param(
        Row(
            judged(Outcome(verdict=Verdict.MISSED, recovery=recovery(183.2), rpo=data_loss(4.0))),
            (
                ("RTO", CaseResult.FAILURE, "RTO 183.2 s exceeds the objective 120 s"),
                ("RPO", CaseResult.PASSED, ""),
            ),
        ),
        id="a missed RTO is a failure with the value and the objective",
    ),
    pytest.param(
        Row(
            judged(
                Outcome(
                    verdict=Verdict.MISSED,
                    recovery=recovery(600.0, bound=Bound.LOWER, note="not restored by timeout"),
                    rpo=data_loss(8.0),
                )
            ),
            (
                ("RTO", CaseResult.FAILURE, "RTO of at least 600 s exceeds the objective 120 s"),
                ("RPO", CaseResult.FAILURE, "RPO 8 s exceeds the objective 5 s"),
            ),
        ),
        id="a lower bound past the objective is a failure saying at least",
    ),
    pytest.param(
        Row(
            judged(
                Outcome(
                    verdict=Verdict.INCONCLUSIVE,
                    recovery=recovery(60.0, bound=Bound.LOWER, note="interrupted"),
                    rpo=None,
                )
            ),
            (
                (
                    "RTO",
                    CaseResult.SKIPPED,
                    "RTO not judged: at least 60 s cannot show whether the objective 120 s "
                    "was met (interrupted)",
                ),
                (
                    "RPO",
                    CaseResult.SKIPPED,
                    "RPO not judged (objective 5 s): not measured: the drill writes no data "
                    "markers",
                ),
            ),
        ),
        id="an objective not measured, or only bounded below it, is skipped saying why",
    ),
    pytest.param(
        Row(
            judged(
                Outcome(verdict=Verdict.UNJUDGED, recovery=recovery(12.0)),
                objectives=Objectives(),
            ),
            (
                (
                    "RTO",
                    CaseResult.SKIPPED,
                    "RTO not judged: no objective declared; measured 12 s (resolution 1 s)",
                ),
            ),
        ),
        id="no objective: skipped, never a pass, and no RPO case when none was measured",
    ),
    pytest.param(
        Row(
            judged(
                Outcome(
                    verdict=Verdict.INCONCLUSIVE,
                    recovery=recovery(0.0),
                    recovery_tested=False,
                ),
                objectives=RTO_30,
            ),
            (
                (
                    "RTO",
                    CaseResult.SKIPPED,
                    "RTO not judged: the fault never took effect or landed on none of the "
                    "drill's targets, so this run did not test recovery",
                ),
            ),
        ),
        id="a value within the objective is not a pass when the fault did not land",
    ),
    pytest.param(
        Row(
            judged(
                Outcome(
                    verdict=Verdict.ABORTED,
                    findings=(
                        Finding(severity=Severity.FAILURE, text="aborted by a guard (errors)"),
                    ),
                    recovery=recovery(10.0),
                ),
                objectives=RTO_30,
                status=RunStatus.ABORTED,
            ),
            (("RTO", CaseResult.ERROR, "RTO not judged: aborted by a guard (errors)"),),
        ),
        id="an aborted run is an error naming why",
    ),
    pytest.param(
        Row(
            dataclasses.replace(
                judged(Outcome(verdict=Verdict.ERROR), objectives=RTO_30, status=RunStatus.ERROR),
                error="cluster unreachable",
            ),
            (("RTO", CaseResult.ERROR, "RTO not judged: cluster unreachable"),),
        ),
        id="a run that could not run is an error",
    ),
]


@pytest.mark.parametrize("row", ROWS)
def test_each_objective_is_one_case_judged_as_the_report_judges_it(row: Row) -> None:
    suite = judge_run(row.record)

    objectives = [case for case in suite.cases if not case.name.startswith("steady state")]
    assert [(c.name, c.result, c.message) for c in objectives] == list(row.cases)
    assert suite.name == suite.cases[0].classname == "zone-failure"


def test_a_case_carries_what_was_measured_and_the_objective() -> None:
    record = judged(Outcome(verdict=Verdict.MISSED, recovery=recovery(183.2), rpo=data_loss(4.0)))

    rto, rpo = judge_run(record).cases

    assert rto.output == "RTO 183.2 s (resolution 1 s); objective 120 s"
    assert rpo.output == "RPO 4 s (resolution 2 s); objective 5 s"


def probe(name: str, *, status: str = "succeeded", met: bool = True, **more: Any) -> Any:
    return {
        "activity": {"name": name, "type": "probe", "tolerance": 200},
        "status": status,
        "tolerance_met": met,
        "duration": 0.25,
        "output": 200,
        **more,
    }


def test_each_steady_state_probe_before_and_after_is_a_case() -> None:
    journal = {
        "steady_states": {
            "before": {"steady_state_met": True, "probes": [probe("shop-answers")]},
            "during": [{"probes": [probe("not-a-case")]}],
            "after": {
                "steady_state_met": False,
                "probes": [
                    probe("shop-answers", met=False, output={"status": 503}),
                    probe(
                        "db-answers",
                        status="failed",
                        met=False,
                        exception=["Traceback...\n", "ActivityFailed: \x1b[31mrefused\x1b[0m\n"],
                    ),
                ],
            },
        }
    }
    record = dataclasses.replace(make_record("met"), journal=journal)

    cases = judge_run(record).cases[1:]

    assert [(c.name, c.result, c.seconds) for c in cases] == [
        ("steady state before: shop-answers", CaseResult.PASSED, 0.25),
        ("steady state after: shop-answers", CaseResult.FAILURE, 0.25),
        ("steady state after: db-answers", CaseResult.ERROR, 0.25),
    ]
    assert cases[1].message == (
        "probe shop-answers did not meet its tolerance: it returned {'status': 503}"
    )
    assert cases[2].message == "probe db-answers raised: ActivityFailed: \x1b[31mrefused\x1b[0m"
    # The terminal colours of the traceback cannot go into XML as they are.
    document = ElementTree.fromstring(render_junit([judge_run(record)], name="run"))
    error = document.find("testsuite/testcase[@name='steady state after: db-answers']/error")
    assert error is not None
    assert (
        error.get("message")
        == "probe db-answers raised: ActivityFailed: \ufffd[31mrefused\ufffd[0m"
    )


def test_a_journal_without_steady_states_gives_objective_cases_only() -> None:
    record = dataclasses.replace(make_record("met"), journal={"status": "aborted"})

    assert [case.name for case in judge_run(record).cases] == ["RTO"]


# -- the XML shape -------------------------------------------------------------------------------

# The JUnit XSD (Jenkins' junit-10, which GitLab and GitHub's reporters read as well): the
# elements each may hold and their attributes.
CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"properties", "testcase", "system-out", "system-err"},
    "properties": {"property"},
    "property": set(),
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
    "skipped": set(),
    "error": set(),
    "failure": set(),
    "system-out": set(),
    "system-err": set(),
}
ATTRIBUTES = {
    "testsuites": {"name", "time", "tests", "failures", "errors", "skipped", "disabled"},
    "testsuite": {
        "name",
        "tests",
        "failures",
        "errors",
        "skipped",
        "time",
        "timestamp",
        "hostname",
        "id",
        "package",
        "disabled",
        "log",
        "url",
        "file",
    },
    "property": {"name", "value"},
    "testcase": {"name", "classname", "time", "assertions", "status", "file", "line"},
    "skipped": {"message"},
    "error": {"message", "type"},
    "failure": {"message", "type"},
    "properties": set(),
    "system-out": set(),
    "system-err": set(),
}
COUNTED = ("failure", "error", "skipped")


def ensure_junit_shape(document: bytes) -> ElementTree.Element:
    """Parse ``document`` and check it as the XSD would, and that every count adds up."""
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n")
    root = ElementTree.fromstring(document)
    assert root.tag == "testsuites"
    for element in root.iter():
        assert element.tag in CHILDREN, element.tag
        assert {child.tag for child in element} <= CHILDREN[element.tag], element.tag
        assert set(element.attrib) <= ATTRIBUTES[element.tag], (element.tag, element.attrib)
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        for outcome, attribute in zip(COUNTED, ("failures", "errors", "skipped"), strict=True):
            assert int(suite.get(attribute, "")) == len(suite.findall(f"testcase/{outcome}"))
        assert float(suite.get("time", "")) >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", "x"))
        for case in cases:
            assert case.get("name") and case.get("classname")
            assert float(case.get("time", "")) >= 0
            assert len([child for child in case if child.tag in COUNTED]) <= 1
            for child in case:
                if child.tag in COUNTED:
                    assert child.get("message")
    for attribute in ("tests", "failures", "errors", "skipped"):
        total = sum(int(suite.get(attribute, "")) for suite in root.findall("testsuite"))
        assert int(root.get(attribute, "")) == total
    return root


def test_the_document_has_the_junit_shape_and_its_counts_add_up() -> None:
    suites = [
        judge_run(make_record("met")),
        judge_run(make_record("missed", run_id="20250301-100000-cd34")),
        judge_run(make_record("interrupted", run_id="20250301-110000-ef56")),
        describe_unrun_drill(
            "zone-failure", classname="zone-failure", at=UTC_ORIGIN, error="no cluster"
        ),
    ]

    root = ensure_junit_shape(render_junit(suites, name="zone-failure"))

    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "2")
    missed = root.findall("testsuite")[1]
    assert missed.get("timestamp") == "2025-03-01T09:00:00"
    assert {p.get("name"): p.get("value") for p in missed.iter("property")} == {
        "run_id": "20250301-100000-cd34",
        "verdict": "missed",
        "status": "completed",
    }
    failure = missed.find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == "RTO 40 s exceeds the objective 30 s"


def test_a_drill_that_did_not_run_is_one_error_or_skip_case() -> None:
    could_not = describe_unrun_drill(
        "pod-kill (step 2)", classname="q.pod-kill", at=UTC_ORIGIN, error="refused"
    )
    never = describe_unrun_drill(
        "pod-kill (step 4)", classname="q.pod-kill", at=UTC_ORIGIN, skipped="not run"
    )

    assert [(c.name, c.result, c.message) for c in could_not.cases] == [
        ("run", CaseResult.ERROR, "refused")
    ]
    assert [(c.result, c.message) for c in never.cases] == [(CaseResult.SKIPPED, "not run")]


def test_the_file_is_written_whole_and_replaces_an_older_one(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("an older file")
    suites: list[JUnitSuite] = [judge_run(make_record("missed"))]

    write_junit(path, suites, name="zone-failure")

    assert path.read_bytes() == render_junit(suites, name="zone-failure")
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]

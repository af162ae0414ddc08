"""A JUnit XML file of runs, for CI systems (``drill run --junit``, ``drill gameday run --junit``).

The dialect GitLab, Jenkins and GitHub's test reporters read: ``<testsuites>`` holding one
``<testsuite>`` per drill run, and in it one ``<testcase>`` per objective (RTO, RPO) and one
per steady-state probe the journal records (before and after the method). A case passes,
or carries one of:

- ``<failure>``: an objective missed ("RTO 183.2 s exceeds the objective 120 s"), or a
  probe whose tolerance was not met;
- ``<skipped>``: an objective that was not judged (none declared, not measured, only a
  lower bound below it, or a fault that did not land), saying why. Never a pass: a CI
  page must not show green for something the run did not show;
- ``<error>``: the run was aborted or could not run, or a probe raised.

:func:`judge_run` turns a run's record into a :class:`JUnitSuite` (pure, over values: the
measurements as ``report.json`` states them, and the journal); :func:`render_junit` writes
the XML with the standard library; :func:`write_junit` writes the file atomically. The
verdict and the exit code are the report's and the command's: this file only mirrors them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from drillkit.files import write_atomically
from drillkit.model.measurement import Bound, Verdict, format_measured, format_seconds
from drillkit.model.run import RunRecord
from drillkit.reporting.document import MeasurementDocument, render_report_document

STEADY_STATE_PHASES: Final = ("before", "after")
"""The hypothesis checks that become cases, as the Chaos Toolkit journal names them."""

# A probe's output can be anything an activity returned; a message quotes its start only.
_QUOTED_OUTPUT: Final = 200
# XML 1.0 cannot hold most control characters (a traceback's terminal colours, say).
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class CaseResult(StrEnum):
    """How one case ended, as JUnit says it (a pass is a case without a child)."""

    PASSED = "passed"
    FAILURE = "failure"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True, slots=True)
class JUnitCase:
    """One ``<testcase>``: an objective or a steady-state probe of one run."""

    classname: str
    name: str
    seconds: float
    result: CaseResult
    message: str = ""
    """Why it did not pass, in one line (the ``message`` attribute)."""
    detail: str = ""
    """More of the same: the text of the failure, skip or error."""
    output: str = ""
    """What was measured, for a reader of a case that passed too (``<system-out>``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JUnitSuite:
    """One ``<testsuite>``: the cases of one drill run, or of a drill that did not run."""

    name: str
    cases: tuple[JUnitCase, ...]
    seconds: float
    timestamp: datetime
    properties: tuple[tuple[str, str], ...] = ()

    def count(self, result: CaseResult) -> int:
        return sum(1 for case in self.cases if case.result is result)


def judge_run(
    record: RunRecord, *, name: str | None = None, classname: str | None = None
) -> JUnitSuite:
    """The suite of one run: its objectives, then its steady-state probes before and after.

    ``name`` and ``classname`` default to the drill's name (a game day gives its own).
    """
    classname = classname or record.drill
    measurements = render_report_document(record).measurements
    objectives = (("RTO", measurements.rto), ("RPO", measurements.rpo))
    cases = [
        _judge_objective(label, measurement, record, classname)
        for label, measurement in objectives
        # An RPO neither promised nor measured is not part of this drill.
        if label == "RTO"
        or measurement.objective_seconds is not None
        or measurement.seconds is not None
    ]
    cases += _judge_steady_states(record.journal, classname)
    return JUnitSuite(
        name=name or record.drill,
        cases=tuple(cases),
        seconds=record.duration_seconds,
        timestamp=record.started_utc,
        properties=(
            ("run_id", record.run_id),
            ("verdict", record.outcome.verdict.value),
            ("status", record.status.value),
        ),
    )


def describe_unrun_drill(
    name: str,
    *,
    classname: str,
    at: datetime,
    error: str | None = None,
    skipped: str | None = None,
) -> JUnitSuite:
    """The suite of a drill that made no run (``at``: when it was to): one case, an
    ``error`` (it could not run) or, when ``skipped`` says why, a skip (it never started)."""
    result = CaseResult.SKIPPED if skipped is not None else CaseResult.ERROR
    case = JUnitCase(
        classname=classname,
        name="run",
        seconds=0.0,
        result=result,
        message=skipped if skipped is not None else error or "the drill could not run",
    )
    return JUnitSuite(name=name, cases=(case,), seconds=0.0, timestamp=at)


def render_junit(suites: Sequence[JUnitSuite], *, name: str) -> bytes:
    """The JUnit XML document of ``suites``, UTF-8 with its declaration."""
    root = ElementTree.Element("testsuites", _counts(suites, name=name))
    for suite in suites:
        element = ElementTree.SubElement(root, "testsuite", _counts([suite], name=suite.name))
        # The XSD's timestamp is ISO 8601 without a zone; drillkit's times are UTC.
        element.set("timestamp", suite.timestamp.strftime("%Y-%m-%dT%H:%M:%S"))
        if suite.properties:
            properties = ElementTree.SubElement(element, "properties")
            for key, value in suite.properties:
                ElementTree.SubElement(properties, "property", name=key, value=_xml(value))
        for case in suite.cases:
            _render_case(element, case)
    ElementTree.indent(root)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit(path: Path, suites: Sequence[JUnitSuite], *, name: str) -> None:
    """Write the JUnit file of ``suites`` to ``path``, atomically as every report file."""
    write_atomically(path, render_junit(suites, name=name))


# -- objectives ------------------------------------------------------------------------------


def _judge_objective(
    label: str, measurement: MeasurementDocument, record: RunRecord, classname: str
) -> JUnitCase:
    outcome = record.outcome
    seconds, target = measurement.seconds, measurement.objective_seconds
    measured = format_measured(
        seconds, measurement.bound, resolution=measurement.resolution_seconds
    )
    if seconds is None and measurement.note:
        measured = f"not measured: {measurement.note.removeprefix('not measured: ')}"
    objective = f"objective {format_seconds(target)} s" if target is not None else "no objective"
    output = f"{label} {measured}; {objective}"

    def case(result: CaseResult, message: str = "", detail: str = "") -> JUnitCase:
        return JUnitCase(
            classname=classname,
            name=label,
            seconds=0.0,
            result=result,
            message=message,
            detail=detail,
            output=output,
        )

    if outcome.verdict in (Verdict.ABORTED, Verdict.ERROR):
        # The verdict's reason leads the findings of a stopped run.
        reason = (
            outcome.findings[0].text
            if outcome.findings
            else record.error or f"the run ended {record.status.value}"
        )
        return case(CaseResult.ERROR, f"{label} not judged: {reason}", record.error or "")
    if measurement.met is False:
        assert seconds is not None and target is not None  # a miss needs both
        at_least = " of at least" if measurement.bound is Bound.LOWER else ""
        message = (
            f"{label}{at_least} {format_seconds(seconds)} s exceeds the objective "
            f"{format_seconds(target)} s"
        )
        return case(CaseResult.FAILURE, message, output)
    if target is None:
        value = f"measured {measured}" if seconds is not None else measured
        return case(CaseResult.SKIPPED, f"{label} not judged: no objective declared; {value}")
    if seconds is None:
        return case(CaseResult.SKIPPED, f"{label} not judged ({objective}): {measured}")
    if measurement.met is None:
        # Only a lower bound, below the objective: the true value may be either side.
        return case(
            CaseResult.SKIPPED,
            f"{label} not judged: at least {format_seconds(seconds)} s cannot show whether the "
            f"{objective} was met ({measurement.note})",
        )
    if not outcome.recovery_tested:
        return case(
            CaseResult.SKIPPED,
            f"{label} not judged: the fault never took effect or landed on none of the "
            "drill's targets, so this run did not test recovery",
        )
    return case(CaseResult.PASSED)


# -- steady-state probes ---------------------------------------------------------------------


def _judge_steady_states(journal: Mapping[str, Any], classname: str) -> list[JUnitCase]:
    # The journal is Chaos Toolkit's, as the run kept it: read it without trusting its shape.
    states = journal.get("steady_states")
    cases: list[JUnitCase] = []
    for phase in STEADY_STATE_PHASES:
        state = states.get(phase) if isinstance(states, Mapping) else None
        probes = state.get("probes") if isinstance(state, Mapping) else None
        for run in probes if isinstance(probes, list) else ():
            if isinstance(run, Mapping):
                cases.append(_judge_probe(run, phase, classname))
    return cases


def _judge_probe(run: Mapping[str, Any], phase: str, classname: str) -> JUnitCase:
    activity = run.get("activity")
    probe = str(activity.get("name", "?")) if isinstance(activity, Mapping) else "?"
    duration = run.get("duration")
    seconds = float(duration) if isinstance(duration, int | float) else 0.0
    name = f"steady state {phase}: {probe}"
    status = run.get("status")

    def case(result: CaseResult, message: str = "", detail: str = "") -> JUnitCase:
        return JUnitCase(
            classname=classname,
            name=name,
            seconds=seconds,
            result=result,
            message=message,
            detail=detail,
        )

    if status == "failed":
        trace = run.get("exception")
        lines = [str(line) for line in trace] if isinstance(trace, list) else []
        last = "".join(lines).strip().splitlines()[-1:] or ["the probe failed"]
        return case(CaseResult.ERROR, f"probe {probe} raised: {last[0]}", "".join(lines))
    if status != "succeeded":
        return case(CaseResult.ERROR, f"probe {probe} did not finish (status {status})")
    if run.get("tolerance_met") is False:
        output = repr(run.get("output"))
        if len(output) > _QUOTED_OUTPUT:
            output = output[:_QUOTED_OUTPUT] + "..."
        tolerance = activity.get("tolerance") if isinstance(activity, Mapping) else None
        return case(
            CaseResult.FAILURE,
            f"probe {probe} did not meet its tolerance: it returned {output}",
            f"tolerance: {tolerance!r}",
        )
    return case(CaseResult.PASSED)


# -- XML -------------------------------------------------------------------------------------


def _counts(suites: Sequence[JUnitSuite], *, name: str) -> dict[str, str]:
    return {
        "name": _xml(name),
        "tests": str(sum(len(suite.cases) for suite in suites)),
        "failures": str(sum(suite.count(CaseResult.FAILURE) for suite in suites)),
        "errors": str(sum(suite.count(CaseResult.ERROR) for suite in suites)),
        "skipped": str(sum(suite.count(CaseResult.SKIPPED) for suite in suites)),
        "time": _seconds(sum(suite.seconds for suite in suites)),
    }


def _render_case(suite: ElementTree.Element, case: JUnitCase) -> None:
    element = ElementTree.SubElement(
        suite,
        "testcase",
        classname=_xml(case.classname),
        name=_xml(case.name),
        time=_seconds(case.seconds),
    )
    if case.result is not CaseResult.PASSED:
        child = ElementTree.SubElement(element, case.result.value, message=_xml(case.message))
        if case.detail:
            child.text = _xml(case.detail)
    if case.output:
        ElementTree.SubElement(element, "system-out").text = _xml(case.output)


def _seconds(seconds: float) -> str:
    return f"{seconds:.3f}"


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)

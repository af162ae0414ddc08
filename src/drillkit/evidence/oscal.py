"""``drill evidence export --format oscal``: the ledger as NIST OSCAL documents.

GRC tools read OSCAL, NIST's machine-readable form of assessments. The export writes a
zip of two OSCAL JSON documents, made from the verified ledger alone:

- ``assessment-results.json``: one result for the period. Each run of the period is an
  *observation* (its verdict, RTO and RPO, and its report as relevant evidence); each
  run that did not meet its objectives is a *finding* for each control its evidence
  addresses (the drill's ``evidence.controls``, by catalogue id), whose target is that
  control, not satisfied, and whose related observation is the run.
- ``poam.json``: the plan of action and milestones, one item for each drill finding
  (:mod:`drillkit.evidence.findings`) still open at the ledger's end: a *risk* with its
  owner, remediation and due date from the finding's notes, and the run that opened it as
  its observation. A closed finding has no item; with no finding open, there is no
  ``poam.json`` (an OSCAL POA&M has at least one item).

The same ledger always gives the same bytes: every UUID is a version-5 UUID of the ledger
digests it stands for, the documents' time is the ledger's newest entry's, and the zip's
members are written in a fixed order with that time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from drillkit import __version__
from drillkit.evidence.controls import Catalogue
from drillkit.evidence.export import (
    IndexRow,
    PeriodEvidence,
    index_row,
    read_period,
    write_zip,
)
from drillkit.evidence.findings import Finding, read_findings
from drillkit.evidence.ledger import LedgerLine, RunEntry
from drillkit.evidence.sources import EvidenceSource, RecordedFile
from drillkit.model.timeline import format_utc, parse_utc
from drillkit.signing import VerifyKey

ASSESSMENT_RESULTS_FILE: Final = "assessment-results.json"
POAM_FILE: Final = "poam.json"
OSCAL_VERSION: Final = "1.2.1"
"""The OSCAL model version the documents follow."""
PROPERTY_NAMESPACE: Final = "urn:drillkit:oscal"
"""The namespace of drillkit's own properties (``verdict``, ``ledger-seq``...)."""
_UUID_NAMESPACE: Final = uuid.UUID("6c1c8e0e-2f61-5c5e-9a57-6f1a3d4b7e21")
_OWNER_ROLE: Final = "remediation-owner"

OscalObject = dict[str, object]
"""A JSON object of an OSCAL document, as it is written (hyphenated OSCAL names)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OscalExport:
    """What ``export_oscal`` wrote."""

    path: Path
    runs: int
    findings: int
    """Findings of the assessment results: a non-met run and a control it addresses."""
    poam_items: int
    bytes: int
    head: str | None
    """``SEQ:DIGEST`` of the ledger's head, as ``drill evidence verify`` prints it."""


def export_oscal(
    evidence: Path | EvidenceSource,
    output: Path,
    *,
    start: datetime,
    end: datetime,
    catalogue: Catalogue,
    controls: Sequence[str] = (),
    verify_key: VerifyKey | None = None,
) -> OscalExport:
    """Write the assessment results of the runs started in ``[start, end)`` and the POA&M
    of the findings open now to the zip ``output``. Refuses as ``export_bundle`` does: a
    ledger that does not verify, a bad period, an unknown control."""
    period = read_period(
        evidence,
        start=start,
        end=end,
        catalogue=catalogue,
        controls=controls,
        verify_key=verify_key,
    )
    results = render_assessment_results(period, catalogue, start=start, end=end)
    poam = render_poam(period, catalogue)
    files: dict[str, bytes | RecordedFile] = {ASSESSMENT_RESULTS_FILE: _encode(results)}
    items = sum(1 for finding in read_findings(period.lines) if finding.is_open)
    # OSCAL has no empty POA&M: with nothing open, there is no plan to act on.
    if items:
        files[POAM_FILE] = _encode(poam)
    size = write_zip(output, files, _ledger_moment(period.lines, default=end), period.source)
    return OscalExport(
        path=output,
        runs=len(period.rows),
        findings=len(_assessment_findings(period, catalogue)),
        poam_items=items,
        bytes=size,
        head=_anchor(period),
    )


def render_assessment_results(
    period: PeriodEvidence, catalogue: Catalogue, *, start: datetime, end: datetime
) -> OscalObject:
    """The OSCAL assessment results of ``period``: its runs and their findings."""
    by_seq = _run_lines(period.lines)
    head = _head_digest(period.lines)
    observations = [_observation(row, by_seq[row.ledger_entry]) for row in period.rows]
    findings = _assessment_findings(period, catalogue)
    reviewed = sorted({control for row in period.rows for control in row.controls})
    selection: OscalObject = (
        {"include-controls": [{"control-id": control} for control in reviewed]}
        if reviewed
        else {"include-all": {}}
    )
    result: OscalObject = {
        "uuid": _uuid("result", head, format_utc(start), format_utc(end)),
        "title": f"DR drills from {format_utc(start)} to {format_utc(end)}",
        "description": (
            "Every drill run of the period recorded in drillkit's signed ledger: each run is "
            "an observation, each run that did not meet its objectives a finding for each "
            "control its evidence addresses."
        ),
        "start": format_utc(start),
        "end": format_utc(end),
        "reviewed-controls": {"control-selections": [selection]},
    }
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": _uuid("assessment-results", head, format_utc(start), format_utc(end)),
            "metadata": _metadata(
                "drillkit assessment results", period.lines, default=end, parties=[]
            ),
            "import-ap": {
                "href": "drills/",
                "remarks": "The drill files are the assessment plan: each run executed one.",
            },
            "results": [result],
        }
    }


def render_poam(period: PeriodEvidence, catalogue: Catalogue) -> OscalObject:
    """The OSCAL plan of action and milestones of the findings open at the ledger's end."""
    by_seq = _run_lines(period.lines)
    by_run = {
        f"{line.entry.drill}/{line.entry.run_id}": line
        for line in by_seq.values()
        if isinstance(line.entry, RunEntry)
    }
    open_findings = [finding for finding in read_findings(period.lines) if finding.is_open]
    owners = sorted({finding.owner for finding in open_findings if finding.owner})
    parties: list[OscalObject] = [
        {"uuid": _uuid("party", owner), "type": "organization", "name": owner} for owner in owners
    ]
    observations: list[OscalObject] = []
    risks: list[OscalObject] = []
    items: list[OscalObject] = []
    for finding in open_findings:
        opening = by_run.get(finding.opened_by)
        item: OscalObject = {
            "uuid": _uuid("poam-item", finding.id, finding.opened_utc),
            "title": f"{finding.id}: {finding.service} does not keep its {finding.disruption} "
            "promise",
            "description": finding.reason,
            "props": _props(
                ("finding", finding.id),
                ("service", finding.service),
                ("disruption", finding.disruption),
                ("opened-by", finding.opened_by),
            ),
        }
        risk = _risk(finding)
        if opening is not None:
            row = index_row(opening, period.document(opening), catalogue, period.secrets)
            observation = _observation(row, opening)
            observations.append(observation)
            item["related-observations"] = [{"observation-uuid": observation["uuid"]}]
            risk["related-observations"] = [{"observation-uuid": observation["uuid"]}]
        risks.append(risk)
        item["related-risks"] = [{"risk-uuid": risk["uuid"]}]
        items.append(item)
    document: OscalObject = {
        "uuid": _uuid("poam", _head_digest(period.lines)),
        "metadata": _metadata(
            "drillkit plan of action and milestones",
            period.lines,
            default=None,
            parties=parties,
        ),
    }
    if observations:
        document["observations"] = observations
    if risks:
        document["risks"] = risks
    document["poam-items"] = items
    return {"plan-of-action-and-milestones": document}


def _assessment_findings(period: PeriodEvidence, catalogue: Catalogue) -> list[OscalObject]:
    by_seq = _run_lines(period.lines)
    return [
        finding
        for row in period.rows
        if row.verdict != "met"
        for finding in _run_findings(row, by_seq[row.ledger_entry], catalogue)
    ]


def _observation(row: IndexRow, line: LedgerLine) -> OscalObject:
    entry = line.entry
    assert isinstance(entry, RunEntry)
    # An objective the drill does not set, and did not measure, is left unsaid.
    measured = [
        f"; {name} {actual} (objective {target})"
        for name, actual, target, seconds, objective in (
            ("RTO", row.rto_actual, row.rto_target, row.rto_actual_seconds, row.rto_target_seconds),
            ("RPO", row.rpo_actual, row.rpo_target, row.rpo_actual_seconds, row.rpo_target_seconds),
        )
        if seconds is not None or objective is not None
    ]
    return {
        "uuid": _uuid("observation", line.digest),
        "title": f"Drill run {row.drill}/{row.run_id}",
        "description": f"{row.drill} run {row.run_id} ({row.strategy}): {row.verdict}"
        f"{''.join(measured)}.",
        "props": _props(
            ("drill", row.drill),
            ("run-id", row.run_id),
            ("verdict", row.verdict),
            ("ledger-seq", str(row.ledger_entry)),
            ("ledger-digest", line.digest),
            ("rto-objective-seconds", _seconds(row.rto_target_seconds)),
            ("rto-measured-seconds", _seconds(row.rto_actual_seconds)),
            ("rpo-objective-seconds", _seconds(row.rpo_target_seconds)),
            ("rpo-measured-seconds", _seconds(row.rpo_actual_seconds)),
            ("operator", row.operator),
            ("approver", row.approver),
            *(("control", control) for control in row.controls),
        ),
        "methods": ["TEST"],
        "relevant-evidence": [
            {
                "href": row.report,
                "description": f"The run's report, as ledger entry {row.ledger_entry} records "
                "its digests (in the evidence bundle of the same period).",
            }
        ],
        "collected": _utc(entry.ended_utc),
    }


def _run_findings(row: IndexRow, line: LedgerLine, catalogue: Catalogue) -> list[OscalObject]:
    # One finding per control, since an OSCAL finding has a single target; a run that
    # names no control still fails its drill's own objectives.
    observation = _uuid("observation", line.digest)
    reason = "fail" if row.verdict == "missed" else "other"
    text = "; ".join(row.findings) or f"The run's verdict was {row.verdict}."
    targets = row.controls or (f"{row.drill}-objectives",)
    findings: list[OscalObject] = []
    for target in targets:
        control = catalogue.find(target) if row.controls else None
        findings.append(
            {
                "uuid": _uuid("finding", line.digest, target),
                "title": f"{row.drill}/{row.run_id}: {row.verdict}",
                "description": text,
                "target": {
                    "type": "objective-id",
                    "target-id": target,
                    "title": control.title if control is not None else "The drill's objectives",
                    "status": {"state": "not-satisfied", "reason": reason},
                },
                "related-observations": [{"observation-uuid": observation}],
            }
        )
    return findings


def _risk(finding: Finding) -> OscalObject:
    newest = finding.notes[-1] if finding.notes else None
    remediation = next((n.remediation for n in reversed(finding.notes) if n.remediation), None)
    risk: OscalObject = {
        "uuid": _uuid("risk", finding.id, finding.opened_utc),
        "title": f"{finding.service}: {finding.disruption} promise not kept",
        "description": finding.reason,
        "statement": f"Opened by run {finding.opened_by} on {finding.opened_utc}; open until "
        f"a run proving {finding.service}'s {finding.disruption} promise meets it."
        + (f" Latest note: {newest.text}" if newest is not None and newest.text else ""),
        "status": "open",
    }
    if finding.due is not None:
        risk["deadline"] = _end_of_day(finding.due)
    if remediation is not None or finding.owner is not None or finding.due is not None:
        task: OscalObject = {
            "uuid": _uuid("milestone", finding.id, finding.opened_utc),
            "type": "milestone",
            "title": f"{finding.id} remediated"
            + (f" by {finding.due}" if finding.due is not None else ""),
        }
        if finding.due is not None:
            task["timing"] = {"on-date": {"date": _end_of_day(finding.due)}}
        if finding.owner is not None:
            task["responsible-roles"] = [
                {"role-id": _OWNER_ROLE, "party-uuids": [_uuid("party", finding.owner)]}
            ]
        risk["remediations"] = [
            {
                "uuid": _uuid("remediation", finding.id, finding.opened_utc),
                "lifecycle": "planned",
                "title": f"Remediation of {finding.id}",
                "description": remediation or "Not noted yet (drill finding note --remediation).",
                "tasks": [task],
            }
        ]
    return risk


def _metadata(
    title: str,
    lines: Sequence[LedgerLine],
    *,
    default: datetime | None,
    parties: list[OscalObject],
) -> OscalObject:
    metadata: OscalObject = {
        "title": title,
        "last-modified": format_utc(_ledger_moment(lines, default=default)),
        "version": __version__,
        "oscal-version": OSCAL_VERSION,
    }
    if parties:
        metadata["roles"] = [{"id": _OWNER_ROLE, "title": "Remediation owner"}]
        metadata["parties"] = parties
    return metadata


def _ledger_moment(lines: Sequence[LedgerLine], *, default: datetime | None) -> datetime:
    # The documents' time is the ledger's, not the clock's: one ledger, one export.
    for line in reversed(lines):
        if line.entry is not None:
            return parse_utc(line.entry.recorded_utc)
    return default if default is not None else datetime(1970, 1, 1, tzinfo=UTC)


def _anchor(period: PeriodEvidence) -> str | None:
    head = period.verification.head
    return f"{head.seq}:{head.digest}" if head is not None else None


def _run_lines(lines: Sequence[LedgerLine]) -> dict[int, LedgerLine]:
    return {line.entry.seq: line for line in lines if isinstance(line.entry, RunEntry)}


def _head_digest(lines: Sequence[LedgerLine]) -> str:
    return lines[-1].digest if lines else "empty"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, "/".join(parts)))


def _props(*pairs: tuple[str, str]) -> list[OscalObject]:
    # OSCAL property values are never empty.
    return [
        {"name": name, "ns": PROPERTY_NAMESPACE, "value": value}
        for name, value in pairs
        if value.strip()
    ]


def _seconds(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _utc(text: str) -> str:
    return format_utc(parse_utc(text))


def _end_of_day(day: str) -> str:
    return f"{day}T23:59:59Z"


def _encode(document: OscalObject) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

"""Findings: a service promise a run did not meet, open until a later run meets it.

A run of a drill that proves a service (its ledger entry carries ``promise``) and misses,
is inconclusive or errors opens a finding for that (service, disruption), unless one is
open already. The finding closes only when a later run proving the same (service,
disruption) meets its objectives; a met run of another disruption, or of another
service, leaves it open. Owners note who fixes it, how, and by when. Every step is a
ledger entry of its own (``FindingEntry``), chained and signed like runs, so the history
of a finding — which run opened it, which notes it had, which run closed it — is evidence
that ``drill evidence verify`` checks, and the findings are read back from the ledger
alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from drillkit.errors import InvalidInput
from drillkit.evidence.ledger import (
    FindingAction,
    FindingEntry,
    LedgerLine,
    RunEntry,
    append_finding,
    read_ledger,
)
from drillkit.measuring.readiness import (
    OpenFinding,
    PromisedService,
    ProvingRun,
    ServiceReadiness,
    assess_service,
)
from drillkit.model.drill import Disruption
from drillkit.model.measurement import Verdict
from drillkit.model.services import DisruptionObjectives
from drillkit.model.timeline import parse_utc
from drillkit.signing import SigningKey

OPENING_VERDICTS = frozenset({Verdict.MISSED, Verdict.INCONCLUSIVE, Verdict.ERROR})
"""Verdicts of a proving run that open a finding. An aborted run was stopped by a guard or
a person before it could be judged, and an unjudged one had nothing to be judged against:
neither says the promise failed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FindingNote:
    """A note on a finding: who fixes it, how, and by when."""

    recorded_utc: str
    owner: str | None
    remediation: str | None
    due: str | None
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One finding as the ledger tells it."""

    id: str
    service: str
    disruption: str
    opened_utc: str
    opened_by: str
    """``<drill>/<run id>`` of the run that did not meet the promise."""
    reason: str
    closed_utc: str | None = None
    closed_by: str | None = None
    """The run that met the promise and closed it; None while open."""
    notes: tuple[FindingNote, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.closed_utc is None

    @property
    def owner(self) -> str | None:
        """The owner the newest note names."""
        return next((n.owner for n in reversed(self.notes) if n.owner), None)

    @property
    def due(self) -> str | None:
        """The due date the newest note names."""
        return next((n.due for n in reversed(self.notes) if n.due), None)


def read_findings(lines: Sequence[LedgerLine]) -> list[Finding]:
    """Every finding the ledger's finding entries tell, in the order they opened."""
    findings: dict[str, Finding] = {}
    for line in lines:
        entry = line.entry
        if not isinstance(entry, FindingEntry):
            continue
        if entry.action is FindingAction.OPENED:
            findings[entry.finding] = Finding(
                id=entry.finding,
                service=entry.service,
                disruption=entry.disruption,
                opened_utc=entry.recorded_utc,
                opened_by=entry.run or "",
                reason=entry.text,
            )
            continue
        known = findings.get(entry.finding)
        if known is None:
            continue  # verify reports a chain that lost the opening entry
        if entry.action is FindingAction.CLOSED:
            findings[entry.finding] = replace(
                known, closed_utc=entry.recorded_utc, closed_by=entry.run
            )
        else:
            note = FindingNote(
                recorded_utc=entry.recorded_utc,
                owner=entry.owner,
                remediation=entry.remediation,
                due=entry.due,
                text=entry.text,
            )
            findings[entry.finding] = replace(known, notes=(*known.notes, note))
    return list(findings.values())


def judge_run(
    reports_dir: Path,
    run: RunEntry,
    *,
    reason: str,
    signing_key: SigningKey | None = None,
    now: datetime | None = None,
) -> list[FindingEntry]:
    """Open or close findings for the promise ``run`` proves, as its verdict says; the
    entries written. ``reason`` is the run's first finding, for the opening entry."""
    promise = run.promise
    if promise is None:
        return []
    open_ones = [
        finding
        for finding in read_findings(read_ledger(reports_dir))
        if finding.is_open
        and (finding.service, finding.disruption) == (promise.service, promise.disruption)
    ]
    verdict = Verdict(run.verdict)

    def write(action: FindingAction, finding: str | None, text: str) -> FindingEntry:
        return append_finding(
            reports_dir,
            finding=finding,
            action=action,
            service=promise.service,
            disruption=promise.disruption,
            text=text,
            run=run,
            signing_key=signing_key,
            now=now,
        )

    if verdict is Verdict.MET:
        closing = f"closed by {run.drill}/{run.run_id}, which met the objectives"
        return [write(FindingAction.CLOSED, finding.id, closing) for finding in open_ones]
    if verdict in OPENING_VERDICTS and not open_ones:
        return [write(FindingAction.OPENED, None, f"{verdict}: {reason}")]
    return []


def note_finding(
    reports_dir: Path,
    finding_id: str,
    *,
    text: str,
    owner: str | None,
    remediation: str | None,
    due: date | None,
    signing_key: SigningKey | None = None,
    now: datetime | None = None,
) -> FindingEntry:
    """Add a note to an open finding; InvalidInput when there is no such open finding."""
    finding = find_finding(reports_dir, finding_id)
    if not finding.is_open:
        raise InvalidInput(
            f"finding {finding_id} was closed by {finding.closed_by}; notes are for open findings"
        )
    if not (text.strip() or owner or remediation or due):
        raise InvalidInput("a note needs a text, --owner, --remediation or --due")
    return append_finding(
        reports_dir,
        finding=finding.id,
        action=FindingAction.NOTED,
        service=finding.service,
        disruption=finding.disruption,
        text=text,
        owner=owner,
        remediation=remediation,
        due=due.isoformat() if due is not None else None,
        signing_key=signing_key,
        now=now,
    )


def find_finding(reports_dir: Path, finding_id: str) -> Finding:
    """The finding named ``finding_id`` (``F12``); InvalidInput naming the known ones."""
    findings = read_findings(read_ledger(reports_dir))
    for finding in findings:
        if finding.id == finding_id:
            return finding
    known = ", ".join(f.id for f in findings[-5:]) or "none yet"
    raise InvalidInput(
        f"no finding {finding_id!r} in {reports_dir}; the newest are: {known} "
        "(list them with: drill finding list --all)"
    )


def proving_runs(lines: Sequence[LedgerLine]) -> list[ProvingRun]:
    """The runs of the ledger that prove a service promise, as readiness weighs them."""
    return [
        ProvingRun(
            service=entry.promise.service,
            disruption=entry.promise.disruption,
            run=f"{entry.drill}/{entry.run_id}",
            ended=parse_utc(entry.ended_utc),
            verdict=Verdict(entry.verdict),
            rto_seconds=entry.measurements.rto.seconds,
            rpo_seconds=entry.measurements.rpo.seconds,
        )
        for line in lines
        if isinstance(entry := line.entry, RunEntry) and entry.promise is not None
    ]


def open_findings(lines: Sequence[LedgerLine]) -> list[OpenFinding]:
    """The findings of the ledger still open, as readiness weighs them."""
    return [
        OpenFinding(
            finding=finding.id,
            service=finding.service,
            disruption=finding.disruption,
            opened=parse_utc(finding.opened_utc),
            run=finding.opened_by,
        )
        for finding in read_findings(lines)
        if finding.is_open
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedService:
    """A service as the ledger recorded it: the objectives the newest run proving it
    entered (``ProvenPromise.service_objectives``), from the service file it names."""

    name: str
    objectives: Mapping[Disruption, DisruptionObjectives]
    service_sha256: str
    """The service file those objectives were read from."""
    recorded_by: str
    """The run that recorded them: ``<drill>/<run id>``."""


def recorded_services(lines: Sequence[LedgerLine], *, now: datetime) -> list[RecordedService]:
    """Each service the ledger's runs proved by ``now``, with the objectives the newest of
    them recorded, by name: the promises as they stood, from the ledger alone. Runs
    entered before the objectives were recorded name none and are passed over."""
    recorded: dict[str, RecordedService] = {}
    for line in lines:
        entry = line.entry
        if not isinstance(entry, RunEntry) or entry.promise is None:
            continue
        promise = entry.promise
        if promise.service_objectives is None or parse_utc(entry.ended_utc) > now:
            continue
        # Later lines were entered later: the newest objectives replace the older.
        recorded[promise.service] = RecordedService(
            name=promise.service,
            objectives={
                Disruption(objectives.disruption): DisruptionObjectives(
                    rto=_duration(objectives.rto_seconds),
                    rpo=_duration(objectives.rpo_seconds),
                    prove_every=timedelta(seconds=objectives.prove_every_seconds),
                )
                for objectives in promise.service_objectives
            },
            service_sha256=promise.service_sha256,
            recorded_by=f"{entry.drill}/{entry.run_id}",
        )
    return [recorded[name] for name in sorted(recorded)]


def _duration(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def assess_readiness(
    services: Sequence[PromisedService], lines: Sequence[LedgerLine], *, now: datetime
) -> list[ServiceReadiness]:
    """How ready each service was at ``now``, from the ledger as it stood then: the
    proving runs entered by then, and the findings open then."""
    held = [
        line
        for line in lines
        if line.entry is not None and parse_utc(line.entry.recorded_utc) <= now
    ]
    runs, findings = proving_runs(held), open_findings(held)
    return [assess_service(service, runs, findings, now=now) for service in services]

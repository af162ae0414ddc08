"""``drill readiness``: per service and disruption, is the promise proven now, and why not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.options import (
    moment_callback,
    output_file_option,
    output_option,
    reports_dir_option,
    services_dir_option,
    start_of,
)
from drillkit.cli.output import echo_json

if TYPE_CHECKING:
    from drillkit.cli.documents import ProvingRunDocument, ReadinessDocument
    from drillkit.evidence.ledger import LedgerLine
    from drillkit.measuring.readiness import PromisedService, ProvingRun, ServiceReadiness


@click.command()
@click.argument("service", required=False)
@services_dir_option
@reports_dir_option
@click.option(
    "--at",
    "moment",
    metavar="DATE",
    callback=moment_callback,
    default=None,
    help="Assess as of this day or UTC time (default: now); the same ledger gives the same "
    "answer for the same moment.",
)
@click.option(
    "--from-ledger",
    is_flag=True,
    help="Weigh the promises as the ledger recorded them (each service's newest proving run "
    "by --at), not the service files: the score from the ledger alone.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 100),
    default=None,
    help="Exit 1 when a service scores below this, for CI gates.",
)
@output_file_option(
    help="Also write the readiness page: FILE.html, or FILE.pdf for print. Per service, "
    "the score, every deduction, and per disruption a chart of the measured RTO and RPO "
    "of its runs over time against the objective."
)
@output_option("a list of services: score, deductions, and each disruption's state and runs.")
def readiness(
    service: str | None,
    services_dir: Path,
    reports_dir: Path,
    moment: datetime | date | None,
    from_ledger: bool,
    min_score: float | None,
    output_file: Path | None,
    output: str,
) -> None:
    """Is each service DR-ready? Its promises, proven or not, and every point lost.

    Each disruption a service declares (services/NAME.yaml) carries an equal share
    of 100 points, kept only while the newest run that met it is younger than its
    prove_every, within the objectives the service promises now, with no finding
    open. Every share lost has its line. The runs and findings come from the ledger;
    the promises from the service files, or with --from-ledger from the ledger too:
    every run proving a service records all the service's objectives as they were.

    \b
    Examples:
      drill readiness
      drill readiness shop -o json
      drill readiness --min-score 75       # exit 1 below 75, for a CI gate
      drill readiness --from-ledger --at 2026-03-31   # an auditor's copy of the ledger
      drill readiness shop --output-file readiness.html    # or readiness.pdf
    """
    from drillkit.errors import InvalidInput
    from drillkit.evidence.findings import assess_readiness, recorded_services
    from drillkit.evidence.ledger import read_ledger
    from drillkit.model.loading import load_services

    if output_file is not None and output_file.suffix.lower() not in (".html", ".pdf"):
        raise click.BadParameter(
            f"{output_file} is neither .html nor .pdf; the page is written as one of them",
            param_hint="'--output-file'",
        )
    now = start_of(moment) if moment is not None else datetime.now(UTC)
    lines = read_ledger(reports_dir)
    services: Sequence[PromisedService]
    if from_ledger:
        services, source = recorded_services(lines, now=now), f"the ledger in {reports_dir}"
        missing = "no run of the ledger records a service's objectives"
    else:
        services, source = load_services(services_dir), str(services_dir)
        missing = f"no service files in {services_dir}: write services/NAME.yaml"
    if service is not None:
        services = [s for s in services if s.name == service]
        if not services:
            raise InvalidInput(f"no service named {service!r} in {source}")
    if not services:
        raise InvalidInput(missing)
    assessed = assess_readiness(services, lines, now=now)
    if output_file is not None:
        _write_page(output_file, assessed, lines, now=now)
    if output == "json":
        echo_json([_document(result) for result in assessed])
    else:
        for result in assessed:
            _print(result)
        if output_file is not None:
            click.echo(f"page: {output_file}")
    if min_score is not None and any(result.score < min_score for result in assessed):
        raise SystemExit(1)


def _write_page(
    target: Path, assessed: list[ServiceReadiness], lines: list[LedgerLine], *, now: datetime
) -> None:
    from drillkit.evidence.findings import proving_runs
    from drillkit.files import write_atomically
    from drillkit.reporting.readiness import render_readiness_html

    page = render_readiness_html(assessed, proving_runs(lines), generated=now)
    if target.suffix.lower() == ".pdf":
        from drillkit.reporting.pdf import render_pdf

        content = render_pdf(page, title="drillkit DR readiness")
    else:
        content = page.encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, content)


def _print(result: ServiceReadiness) -> None:
    from drillkit.measuring.readiness import describe_objectives

    click.echo(
        f"{result.service}: {result.score:g}/100 (as of {result.assessed:%Y-%m-%d %H:%M} UTC)"
    )
    click.echo(f"  {'DISRUPTION':<15} {'STATE':<13} {'PROMISE':<30} {'LAST MET':<48} {'POINTS':>7}")
    for promise in result.promises:
        promised = describe_objectives(promise.promise)
        last = promise.last_met
        met = f"{last.ended:%Y-%m-%d} {last.run}" if last is not None else "-"
        click.echo(
            f"  {promise.disruption:<15} {promise.state:<13} {promised:<30} {met:<48} "
            f"{f'{promise.points:g}/{promise.share:g}':>7}"
        )
    for line in result.deductions:
        click.echo(f"  {line}")


def _run_document(run: ProvingRun | None) -> ProvingRunDocument | None:
    if run is None:
        return None
    return {
        "run": run.run,
        "ended_utc": _utc(run.ended),
        "verdict": run.verdict,
        "rto_seconds": run.rto_seconds,
        "rpo_seconds": run.rpo_seconds,
    }


def _document(result: ServiceReadiness) -> ReadinessDocument:
    return {
        "service": result.service,
        "score": result.score,
        "assessed_utc": _utc(result.assessed),
        "deductions": result.deductions,
        "promises": [
            {
                "disruption": p.disruption,
                "state": p.state,
                "points": p.points,
                "share": p.share,
                "reason": p.reason,
                "rto_objective_seconds": _seconds(p.promise.rto),
                "rpo_objective_seconds": _seconds(p.promise.rpo),
                "prove_every_seconds": p.promise.prove_every.total_seconds(),
                "last_met": _run_document(p.last_met),
                "newest": _run_document(p.newest),
                "open_findings": [f.finding for f in p.open_findings],
            }
            for p in result.promises
        ],
    }


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _utc(moment: datetime) -> str:
    from drillkit.model.timeline import format_utc

    return format_utc(moment)

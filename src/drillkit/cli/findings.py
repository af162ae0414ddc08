"""``drill finding``: the service promises runs did not meet, until a later run meets them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from drillkit.cli.options import (
    load_signing_key_option,
    output_option,
    reports_dir_option,
    signing_key_option,
)
from drillkit.cli.output import echo_json

if TYPE_CHECKING:
    from drillkit.cli.documents import FindingDocument
    from drillkit.evidence.findings import Finding


@click.group()
def finding() -> None:
    """Findings: a service promise a run missed, open until a later run meets it.

    \b
    A run of a drill that proves a service (`proves` in the drill file) and misses, is
    inconclusive or errors opens a finding for that service and disruption; only a later
    run proving the same service and disruption that meets its objectives closes it.
    Opening, notes and closing are ledger entries, signed like runs.
    """


@finding.command(name="list")
@click.option("--all", "everything", is_flag=True, help="Closed findings too.")
@reports_dir_option
@output_option("a list of findings, oldest first: id, service, disruption, state, owner, due...")
def list_findings(everything: bool, reports_dir: Path, output: str) -> None:
    """List open findings (with --all, closed ones too), oldest first.

    \b
    Examples:
      drill finding list
      drill finding list --all -o json
    """
    from drillkit.evidence.findings import read_findings
    from drillkit.evidence.ledger import read_ledger

    findings = [f for f in read_findings(read_ledger(reports_dir)) if everything or f.is_open]
    if output == "json":
        echo_json([_document(f) for f in findings])
        return
    if not findings:
        click.echo(f"no {'' if everything else 'open '}findings in {reports_dir}")
        return
    click.echo(
        f"{'ID':<6} {'SERVICE':<16} {'DISRUPTION':<15} {'STATE':<7} {'OPENED':<11} "
        f"{'OWNER':<16} {'DUE':<11} OPENED BY"
    )
    for f in findings:
        click.echo(
            f"{f.id:<6} {f.service:<16} {f.disruption:<15} {_state(f):<7} {f.opened_utc[:10]:<11} "
            f"{f.owner or '-':<16} {f.due or '-':<11} {f.opened_by}"
        )


@finding.command()
@click.argument("finding_id", metavar="ID")
@reports_dir_option
@output_option("one finding: id, service, disruption, state, the runs, every note.")
def show(finding_id: str, reports_dir: Path, output: str) -> None:
    """Show a finding: why it opened, its notes, and the run that closed it.

    \b
    Example:
      drill finding show F12
    """
    from drillkit.evidence.findings import find_finding

    found = find_finding(reports_dir, finding_id)
    if output == "json":
        echo_json(_document(found))
        return
    click.echo(f"finding {found.id}: service {found.service}, disruption {found.disruption}")
    click.echo(f"  opened   {found.opened_utc} by run {found.opened_by}: {found.reason}")
    for note in found.notes:
        said = "; ".join(
            part
            for part in (
                note.text,
                f"owner {note.owner}" if note.owner else "",
                f"remediation: {note.remediation}" if note.remediation else "",
                f"due {note.due}" if note.due else "",
            )
            if part
        )
        click.echo(f"  noted    {note.recorded_utc}: {said}")
    if not found.is_open:
        click.echo(f"  closed   {found.closed_utc} by run {found.closed_by}")
    else:
        click.echo("  open: a run of a drill proving the same service and disruption that meets")
        click.echo("  its objectives closes it")


@finding.command()
@click.argument("finding_id", metavar="ID")
@click.argument("text", required=False, default="")
@click.option("--owner", default=None, help="Who fixes it: a team or a person.")
@click.option("--remediation", default=None, help="What is done about it, in one line.")
@click.option(
    "--due",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="When it is to be fixed, YYYY-MM-DD.",
)
@reports_dir_option
@signing_key_option
def note(
    finding_id: str,
    text: str,
    owner: str | None,
    remediation: str | None,
    due: datetime | None,
    reports_dir: Path,
    signing_key: Path | None,
) -> None:
    """Note on an open finding who fixes it, how, and by when (a signed ledger entry).

    \b
    Example:
      drill finding note F12 --owner shop-team \\
        --remediation "raise web's replicas to 9" --due 2027-01-15
    """
    from drillkit.evidence.findings import note_finding

    key = load_signing_key_option(signing_key)
    entry = note_finding(
        reports_dir,
        finding_id,
        text=text,
        owner=owner,
        remediation=remediation,
        due=due.date() if due is not None else None,
        signing_key=key,
    )
    click.echo(f"noted on finding {entry.finding} as ledger entry {entry.seq}")


def _state(found: Finding) -> Literal["open", "closed"]:
    return "open" if found.is_open else "closed"


def _document(found: Finding) -> FindingDocument:
    return {
        "id": found.id,
        "service": found.service,
        "disruption": found.disruption,
        "state": _state(found),
        "opened_utc": found.opened_utc,
        "opened_by": found.opened_by,
        "reason": found.reason,
        "closed_utc": found.closed_utc,
        "closed_by": found.closed_by,
        "owner": found.owner,
        "due": found.due,
        "notes": [
            {
                "recorded_utc": n.recorded_utc,
                "owner": n.owner,
                "remediation": n.remediation,
                "due": n.due,
                "text": n.text,
            }
            for n in found.notes
        ],
    }

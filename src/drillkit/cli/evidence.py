"""``drill evidence``: the ledger of runs, its verification, signing keys and audit bundles."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.options import (
    evidence_option,
    file_option,
    load_signing_key_option,
    moment_callback,
    open_evidence_source,
    open_evidence_store,
    output_file_option,
    output_option,
    reports_dir_option,
    retention_options,
    signing_key_option,
    start_of,
)
from drillkit.cli.output import echo_json

if TYPE_CHECKING:
    from drillkit.cli.documents import ExportDocument, SyncDocument
    from drillkit.evidence.export import ExportResult
    from drillkit.evidence.oscal import OscalExport
    from drillkit.evidence.verify import Verification


@click.group()
def evidence() -> None:
    """Prove to an auditor that every drill run is recorded, unaltered and complete.

    \b
    Every `drill run` adds one entry to reports/ledger.jsonl: the run, its verdict and
    measurements, the SHA-256 of each report file, and the SHA-256 of the entry before
    it (a hash chain). `verify` recomputes all of it and names any report file, run or
    ledger line that was altered, removed, reordered or left out; `export` bundles a
    period's runs for an audit, mapped to controls (SOC 2 A1.2/A1.3, ISO/IEC
    27001:2022 A.5.29, A.5.30, A.8.13, A.8.14, or your own).

    \b
    Signing (optional): create a key once and point DRILL_SIGNING_KEY at it; entries,
    the ledger head and bundles are then signed with Ed25519, and the auditor checks
    them with the public key:
      drill evidence keygen
      export DRILL_SIGNING_KEY=~/.local/state/drillkit/evidence/signing-key.pem

    \b
    Typical use:
      drill evidence verify
      drill evidence export --from 2025-01-01 --to 2025-03-31 --output-file q1-evidence.zip
      drill evidence verify --public-key signing-key.pem.pub --head 42:3f1c...

    \b
    A fleet keeps one ledger in an S3 bucket with Object Lock (--evidence or
    DRILL_EVIDENCE): every runner's `drill run` enters its report there too, and
    `sync` brings a laptop's local ledger in:
      export DRILL_EVIDENCE=s3://dr-evidence/prod
      drill evidence sync
      drill evidence verify --public-key runner-a.pub --public-key runner-b.pub
    """


@evidence.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def keygen(path: Path | None) -> None:
    """Create an Ed25519 signing key pair: PATH (private, mode 0600) and PATH.pub.

    PATH defaults to signing-key.pem in drillkit's state directory. Keep the private
    key with whoever runs drills (set DRILL_SIGNING_KEY to its path); give the .pub
    file to auditors. An existing key is never overwritten.
    """
    from drillkit.files import state_home
    from drillkit.signing import generate_key_pair

    private_path = path or state_home() / "evidence" / "signing-key.pem"
    key, public_path = generate_key_pair(private_path)
    click.echo(f"private key  {private_path}  (keep it secret; mode 0600)")
    click.echo(f"public key   {public_path}  (give it to auditors)")
    click.echo(f"fingerprint  {key.fingerprint}")
    click.echo(f"sign from now on with:  export DRILL_SIGNING_KEY={private_path}")


@evidence.command()
@reports_dir_option
@evidence_option
@click.option(
    "--since",
    metavar="DATE",
    callback=moment_callback,
    default=None,
    help="Re-read the report files of runs started since this date only (the chain is "
    "always checked whole).",
)
@file_option(
    "--public-key",
    "public_keys",
    multiple=True,
    envvar="DRILL_VERIFY_KEY",
    help="Check every signature with this Ed25519 public key (PEM) [env: DRILL_VERIFY_KEY]; "
    "repeatable, one per runner: an entry verifies under the key it names. Default: the "
    "public half of --signing-key, if set.",
)
@signing_key_option
@click.option(
    "--head",
    "heads",
    multiple=True,
    metavar="SEQ:DIGEST",
    help="A ledger head kept from earlier (printed by verify, recorded in every bundle's "
    "manifest): the ledger must still hold that entry, unchanged. Repeatable.",
)
@output_option("one object with intact, counts, head, problems and notices.")
def verify(
    reports_dir: Path,
    evidence: str | None,
    since: datetime | date | None,
    public_keys: tuple[Path, ...],
    signing_key: Path | None,
    heads: tuple[str, ...],
    output: str,
) -> None:
    """Recompute the ledger's hash chain and every report's digests, and name what changed.

    \b
    Finds, and says which run, file or ledger line:
      - a report file altered, removed or added, a run directory removed, a link or
        special file in place of a report file or run directory;
      - a game day's report altered, or its links to its drill runs;
      - a ledger line altered, removed, duplicated or moved;
      - the end of the ledger cut off (checked against reports/ledger.head, the
        witness copy in drillkit's state directory, and any --head you kept);
      - a report directory that is not in the ledger (left out);
      - with a public key: an entry not signed, or not signed by that key.

    \b
    With --evidence s3://bucket/prefix, the evidence store instead: each entry is
    judged on its original (oldest) version; later versions and delete markers, a
    link that does not match the entry before, a gap, an end older than this
    machine's witness, and report files that differ are named. Reports uploaded but
    never entered (a runner stopped between the two) are listed as "not entered".
      drill evidence verify --evidence s3://dr-evidence/prod --public-key a.pub -o json

    Exit codes: 0 intact; 1 something was altered, removed, reordered or left out;
    2 invalid option or key, or a ledger that is a link or not a regular file.
    """
    from drillkit.evidence.verify import parse_anchor
    from drillkit.signing import load_verify_key, verify_key_for

    anchors = [parse_anchor(text) for text in heads]
    if public_keys:
        keys = [load_verify_key(path.expanduser()) for path in public_keys]
    else:
        own = verify_key_for(None, signing_key)
        keys = [own] if own is not None else []
    if evidence is not None and since is not None:
        raise click.BadParameter(
            "the evidence store is always verified whole; --since applies to a local ledger",
            param_hint="'--since'",
        )
    result = open_evidence_source(reports_dir, evidence).verify(
        since=start_of(since) if since is not None else None,
        keys=keys,
        anchors=anchors,
    )
    if output == "json":
        click.echo(json.dumps(_verification_json(result)))
    else:
        _print_verification(result)
    sys.exit(0 if result.intact else 1)


@evidence.command(name="export")
@reports_dir_option
@evidence_option
@click.option(
    "--from",
    "start",
    metavar="DATE",
    callback=moment_callback,
    required=True,
    help="First day of the period (2025-01-01), or a UTC time (2025-01-01T00:00:00Z).",
)
@click.option(
    "--to",
    "end",
    metavar="DATE",
    callback=moment_callback,
    required=True,
    help="Last day of the period, included; or a UTC time, excluded.",
)
@click.option(
    "--control",
    "controls",
    multiple=True,
    metavar="ID",
    help="Only runs that are evidence for this control (e.g. SOC2-A1.3). Repeatable.",
)
@output_file_option(required=True, help="The bundle to write (a .zip).")
@file_option(
    "--controls",
    "controls_files",
    multiple=True,
    envvar="DRILL_CONTROLS",
    help="A YAML control catalogue adding to or overriding the shipped one "
    "[env: DRILL_CONTROLS]. See: drill evidence controls.",
)
@click.option("--pdf", is_flag=True, help="Add index.pdf, the index rendered for print.")
@click.option(
    "--format",
    "bundle_format",
    type=click.Choice(["bundle", "oscal"]),
    default="bundle",
    show_default=True,
    help="What the zip written holds: bundle, the evidence bundle; oscal, NIST OSCAL "
    "assessment-results.json and poam.json for GRC tools. (-o is what is printed.)",
)
@signing_key_option
@output_option(
    "one object: bundle, format, runs, skips, gamedays, files, bytes, head, signed_by; "
    "with --format oscal, findings and poam_items too."
)
def export(
    reports_dir: Path,
    evidence: str | None,
    start: datetime | date,
    end: datetime | date,
    controls: tuple[str, ...],
    output_file: Path,
    controls_files: tuple[Path, ...],
    pdf: bool,
    bundle_format: str,
    signing_key: Path | None,
    output: str,
) -> None:
    """Bundle every run of a period into one zip for an auditor.

    \b
    The bundle holds:
      index.html, index.csv  one row per run: date, drill, scope, DR strategy, RTO and
                             RPO target and actual, verdict, findings, operator,
                             approver, controls; and the scheduled runs that were skipped
      runs/<drill>/<run-id>/ the report files each run's ledger entry records, byte
                             for byte (game days: runs/gamedays/<name>/<id>/)
      ledger.jsonl           the ledger lines of the period (and the one before)
      manifest.json          SHA-256 of every file, the period and the ledger head
      manifest.sig           its Ed25519 signature, with --signing-key

    \b
    With --format oscal, the zip holds two NIST OSCAL (1.2.1) JSON documents instead:
      assessment-results.json  each run of the period an observation; each run not
                               met a finding for each control its evidence addresses
      poam.json                plan of action and milestones: each drill finding open
                               now, with its owner, remediation and due date (absent
                               when no finding is open)
    The same ledger always gives the same bytes (UUIDs derive from ledger digests).

    The ledger is verified first; nothing is exported if it does not verify (exit 1).
    Runs are selected by start time; --to includes the whole day.

    With --evidence s3://bucket/prefix, the bundle is made from the evidence store
    instead: its entries and the report files they record (each object's original,
    checked against its SHA-256 and the digest its entry recorded), verified whole
    first. Its ledger.jsonl holds the store's entries; it has no ledger.head, the
    manifest names the head.

    \b
    Examples:
      drill evidence export --from 2025-01-01 --to 2025-03-31 --control SOC2-A1.3 \
        --output-file q1.zip
      drill evidence export --from 2025-01-01 --to 2025-03-31 --format oscal \
        --output-file q1-oscal.zip
    """
    from drillkit.evidence.controls import load_catalogue

    period_start = start_of(start)
    period_end = _end_of(end)
    key = load_signing_key_option(signing_key)
    catalogue = load_catalogue(controls_files)
    verify_key = key.verify_key if key is not None else None
    source = open_evidence_source(reports_dir, evidence)
    if bundle_format == "oscal":
        if pdf:
            raise click.BadParameter(
                "the OSCAL documents have no index to print; --pdf is for --format bundle",
                param_hint="'--pdf'",
            )
        from drillkit.evidence.oscal import export_oscal

        exported, lines = _describe_oscal(
            export_oscal(
                source,
                output_file,
                start=period_start,
                end=period_end,
                catalogue=catalogue,
                controls=controls,
                verify_key=verify_key,
            )
        )
    else:
        from drillkit.evidence.export import export_bundle

        exported, lines = _describe_bundle(
            export_bundle(
                source,
                output_file,
                start=period_start,
                end=period_end,
                catalogue=catalogue,
                controls=controls,
                signing_key=key,
                verify_key=verify_key,
                include_pdf=pdf,
            )
        )
    if output == "json":
        echo_json(exported)
        return
    for line in lines:
        click.echo(line)


def _describe_bundle(result: ExportResult) -> tuple[ExportDocument, list[str]]:
    """The ``-o json`` document of a bundle written, and its lines of text."""
    head = f"{result.head.seq}:{result.head.digest}" if result.head is not None else None
    exported: ExportDocument = {
        "bundle": str(result.path),
        "format": "bundle",
        "runs": result.runs,
        "skips": result.skips,
        "gamedays": result.gamedays,
        "files": result.files,
        "bytes": result.bytes,
        "head": head,
        "signed_by": result.signed_by or None,
    }
    lines = [
        f"{result.path}: {result.runs} runs, {result.skips} skips, {result.gamedays} game days, "
        f"{result.files} files, {result.bytes / 1e6:.1f} MB",
        f"ledger head  {head or 'none'}  (keep it; check later with: drill evidence verify --head)",
    ]
    if result.signed_by:
        lines.append(f"signed by    {result.signed_by}")
    return exported, lines


def _describe_oscal(result: OscalExport) -> tuple[ExportDocument, list[str]]:
    """The ``-o json`` document of an OSCAL export written, and its line of text."""
    from drillkit.evidence.oscal import ASSESSMENT_RESULTS_FILE, POAM_FILE

    exported: ExportDocument = {
        "bundle": str(result.path),
        "format": "oscal",
        "runs": result.runs,
        "skips": 0,
        "gamedays": 0,
        "files": 2 if result.poam_items else 1,
        "bytes": result.bytes,
        "head": result.head,
        "signed_by": None,
        "findings": result.findings,
        "poam_items": result.poam_items,
    }
    poam = (
        f"{POAM_FILE} ({result.poam_items} open findings)"
        if result.poam_items
        else "no POA&M (no finding open)"
    )
    return exported, [
        f"{result.path}: {ASSESSMENT_RESULTS_FILE} ({result.runs} runs, {result.findings} "
        f"findings), {poam}, {result.bytes / 1e6:.1f} MB"
    ]


@evidence.command()
@reports_dir_option
@signing_key_option
@evidence_option
@retention_options
@click.option("--dry-run", is_flag=True, help="List the reports that would be entered.")
def adopt(
    reports_dir: Path,
    signing_key: Path | None,
    evidence: str | None,
    retention_mode: str,
    retention_days: int,
    dry_run: bool,
) -> None:
    """Enter complete reports that the ledger lacks, oldest first, marked "adopted".

    For reports written before the ledger existed, or whose entry could not be
    written. Adopted entries say so in the ledger and in every export: they vouch for
    the report files from now on, not from the time of the run.

    Runs that died before their report was complete (killed, or dead while writing
    it) are first finalised as interrupted and entered, as `drill recover` does.
    With --evidence, what is entered is entered in the fleet's evidence store too.
    """
    from drillkit.cli.running import entering_in_evidence_store
    from drillkit.evidence.ledger import adopt_runs, find_unrecorded_runs
    from drillkit.evidence.recording import finalise_interrupted_runs
    from drillkit.reporting.writer import find_unfinished_runs

    if dry_run:
        for run_dir in find_unfinished_runs(reports_dir):
            click.echo(f"would finalise {run_dir} as interrupted, if its process is dead")
        for run_dir in find_unrecorded_runs(reports_dir):
            click.echo(f"would adopt {run_dir}")
        return
    key = load_signing_key_option(signing_key)
    with entering_in_evidence_store(
        evidence, retention_mode, retention_days, reports_dir, signing_key=key
    ):
        for finalised in finalise_interrupted_runs(reports_dir, signing_key=key):
            click.echo(finalised.describe())
        entries = adopt_runs(reports_dir, signing_key=key)
    for entry in entries:
        click.echo(f"adopted {entry.report.dir} as entry {entry.seq}")
    if not entries:
        click.echo("every report is in the ledger")


@evidence.command()
@reports_dir_option
@click.option(
    "--evidence",
    metavar="s3://BUCKET/PREFIX",
    required=True,
    envvar="DRILL_EVIDENCE",
    help="The evidence store to bring the local ledger into [env: DRILL_EVIDENCE].",
)
@retention_options
@signing_key_option
@output_option("one object: store, pushed (local and store seq of each), present.")
def sync(
    reports_dir: Path,
    evidence: str,
    retention_mode: str,
    retention_days: int,
    signing_key: Path | None,
    output: str,
) -> None:
    """Enter the local ledger's entries that the evidence store lacks, oldest first.

    Each entry's report is uploaded, then the entry is chained onto the store's end
    (its own seq and prev, signed with --signing-key if given) and names where it
    came from: its local seq and digest, for an auditor to match. Entries the store
    has already are skipped, so running it twice pushes nothing the second time. A
    local ledger that does not verify is refused (exit 1): drill evidence verify.

    \b
    Example:
      drill evidence sync --evidence s3://dr-evidence/prod --retention-mode compliance
    """
    from drillkit.evidence.store import sync_ledger

    if not evidence.startswith("s3://") or not evidence.removeprefix("s3://").split("/")[0]:
        raise click.BadParameter(
            f"{evidence!r} is not an evidence store; expected s3://bucket/prefix",
            param_hint="'--evidence'",
        )
    key = load_signing_key_option(signing_key)
    store = open_evidence_store(evidence, mode=retention_mode, days=retention_days)
    result = sync_ledger(store, reports_dir, signing_key=key)
    if output == "json":
        document: SyncDocument = {
            "store": result.store,
            "pushed": [
                {"local_seq": local, "store_seq": stored} for local, stored in result.pushed
            ],
            "present": result.present,
        }
        echo_json(document)
        return
    for local, stored in result.pushed:
        click.echo(f"local entry {local} entered as entry {stored} of {result.store}")
    click.echo(f"{len(result.pushed)} entries pushed, {result.present} already in {result.store}")


@evidence.command(name="controls")
@file_option(
    "--controls",
    "controls_files",
    multiple=True,
    envvar="DRILL_CONTROLS",
    help="Extra catalogue files [env: DRILL_CONTROLS].",
)
@output_option("a list of controls: id, framework, reference, title, evidence, aliases.")
def list_controls(controls_files: tuple[Path, ...], output: str) -> None:
    """List the control catalogue that exports map runs to.

    \b
    Drill files name controls in evidence.controls, by id or alias. Add your own
    framework with a YAML file of the same shape, given with --controls or DRILL_CONTROLS:
      controls:
        - id: ACME-DR-2
          framework: ACME resilience policy
          reference: DR-2
          title: Every tier-1 service survives the loss of a zone
          requirement: "Tier-1 services recover from a zone loss within 15 minutes."
          evidence: The run drained a zone and measured the RTO against 15 minutes.
          aliases: [DR-2]
    """
    from drillkit.evidence.controls import load_catalogue

    catalogue = load_catalogue(controls_files).controls
    if output == "json":
        echo_json([control.model_dump(mode="json") for control in catalogue])
        return
    for control in catalogue:
        aliases = f"  (also: {', '.join(control.aliases)})" if control.aliases else ""
        click.echo(f"{control.id:<18} {control.framework} {control.reference}: {control.title}")
        if aliases:
            click.echo(f"{'':<18}{aliases}")


def _end_of(moment: datetime | date) -> datetime:
    # A day given as the end of a period includes the whole day.
    if isinstance(moment, datetime):
        return moment
    return start_of(moment) + timedelta(days=1)


def _print_verification(result: Verification) -> None:
    head = result.head
    anchor = f"{head.seq}:{head.digest}" if head is not None else "none"
    click.echo(
        f"ledger {result.ledger}: {_count(result.entries, 'entry', 'entries')} "
        f"({_count(result.runs, 'run')}, {_count(result.skips, 'skip')}, "
        f"{_count(result.gamedays, 'game day')}, "
        f"{_count(result.findings, 'finding entry', 'finding entries')}); head {anchor}"
    )
    click.echo(f"report files re-read for {_count(result.runs_checked, 'run')}")
    for notice in result.notices:
        click.echo(f"note: {notice}")
    if result.intact:
        click.secho("INTACT: nothing was altered, removed, reordered or left out", fg="green")
        return
    count = len(result.problems)
    click.secho(f"TAMPERED: {count} problem{'s' if count != 1 else ''}", fg="red", bold=True)
    for problem in result.problems:
        click.echo(f"  {problem.message}")


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _verification_json(result: Verification) -> dict[str, object]:
    head = result.head
    return {
        "intact": result.intact,
        "ledger": str(result.ledger),
        "entries": result.entries,
        "runs": result.runs,
        "skips": result.skips,
        "gamedays": result.gamedays,
        "findings": result.findings,
        "runs_checked": result.runs_checked,
        "head": f"{head.seq}:{head.digest}" if head is not None else None,
        "problems": [
            {
                "kind": problem.kind.value,
                "message": problem.message,
                "line": problem.line,
                "run": problem.run,
                "file": problem.file,
            }
            for problem in result.problems
        ],
        "notices": list(result.notices),
    }

"""``drill report``: list and show run reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.completing import complete_reported_drills, complete_run_ids
from drillkit.cli.options import (
    evidence_option,
    open_evidence_source,
    output_file_option,
    output_option,
    parse_moment,
    reports_dir_option,
    start_of,
)
from drillkit.cli.output import echo_json

if TYPE_CHECKING:
    from drillkit.cli.documents import ListedReport
    from drillkit.reporting.document import ReportSummary


@click.group()
def report() -> None:
    """Find and read the reports of past runs (reports/<drill>/<run-id>/).

    \b
    list, show and trend read the fleet's evidence store instead with --evidence
    s3://bucket/prefix (or DRILL_EVIDENCE): its entered runs, each report file checked
    against the digest its ledger entry recorded.
    """


@report.command(name="list")
@click.argument("drill", required=False, shell_complete=complete_reported_drills)
@reports_dir_option
@evidence_option
@output_option("a list of runs, newest first: run_id, drill, verdict, rto_seconds, rpo_seconds...")
def list_reports(drill: str | None, reports_dir: Path, evidence: str | None, output: str) -> None:
    """List runs, newest first, with verdict and measured RTO and RPO."""
    from drillkit.model.measurement import format_measured

    source = open_evidence_source(reports_dir, evidence)
    summaries = source.list_reports(drill)
    if output == "json":
        echo_json([_listed_report(summary) for summary in summaries])
        return
    if not summaries:
        click.echo(f"no reports in {source.location}")
        return
    click.echo(
        f"{'RUN':<24} {'DRILL':<20} {'STARTED (UTC)':<20} {'VERDICT':<13} {'RTO':>9} {'RPO':>9}"
    )

    def seconds(value: float | None, bound: str | None) -> str:
        return "-" if value is None else format_measured(value, bound)

    for summary in summaries:
        started = summary.started_utc.strftime("%Y-%m-%d %H:%M:%S") if summary.started_utc else "-"
        click.echo(
            f"{summary.run_id:<24} {summary.drill:<20} {started:<20} {summary.verdict_text:<13} "
            f"{seconds(summary.rto_seconds, summary.rto_bound):>9} "
            f"{seconds(summary.rpo_seconds, summary.rpo_bound):>9}"
        )


def _listed_report(summary: ReportSummary) -> ListedReport:
    return {
        "run_id": summary.run_id,
        "drill": summary.drill,
        "report_dir": summary.shown_location,
        "started_utc": summary.started_utc.isoformat() if summary.started_utc else None,
        "state": summary.verdict_text,
        "verdict": summary.verdict,
        "status": summary.status,
        "rto_seconds": summary.rto_seconds,
        "rto_bound": summary.rto_bound,
        "rpo_seconds": summary.rpo_seconds,
        "rpo_bound": summary.rpo_bound,
        "problem": summary.problem,
    }


@report.command(name="show")
@click.argument("run", default="latest", shell_complete=complete_run_ids)
@reports_dir_option
@evidence_option
@output_option("report.json, as written (schemas/report.schema.json).")
@click.option(
    "--path",
    "path_only",
    is_flag=True,
    help="Print only the report directory (of a run with or without a complete report); "
    "with --evidence, its URL.",
)
def show_report(
    run: str, reports_dir: Path, evidence: str | None, output: str, path_only: bool
) -> None:
    """Show one run's report. RUN is a run id, a unique prefix of one, or 'latest'.

    text is report.md, the report for people; json is report.json.
    A run without a complete report (still running, or killed) is named in one line;
    `drill recover` turns a killed run's record into a report marked interrupted.
    """
    if path_only and output != "text":
        raise click.UsageError("--path prints the report directory, not a document: leave out -o")
    source = open_evidence_source(reports_dir, evidence)
    if path_only:
        click.echo(source.locate_report(run))
    elif output == "json":
        click.echo(source.read_report_file(run, "report.json").decode("utf-8").rstrip())
    else:
        click.echo(source.read_report_file(run, "report.md").decode("utf-8").rstrip())
        click.echo(f"\n(HTML: {source.locate_report(run)}/report.html)")


@report.command(name="trend")
@click.argument("drill", required=False, shell_complete=complete_reported_drills)
@reports_dir_option
@evidence_option
@click.option(
    "--since",
    default=None,
    metavar="DATE",
    help="Only runs started on or after this day (2025-01-01) or UTC time.",
)
@output_file_option(
    default=None,
    help="Where to write the HTML page with the charts [default: <reports-dir>/trend.html].",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Also write the page as a PDF, beside the HTML page (its name, ending in .pdf).",
)
@output_option("one object per drill (runs, pass_rate, mttr_seconds, points).")
def trend(
    drill: str | None,
    reports_dir: Path,
    evidence: str | None,
    since: str | None,
    output_file: Path | None,
    pdf: bool,
    output: str,
) -> None:
    """RTO and RPO over time, pass rate and MTTR per drill, with charts in HTML.

    \b
    Pass rate: runs that met their objectives over all runs (missed, aborted,
    errored and killed runs count as not passed). MTTR: the mean RTO of runs that
    were disrupted and recovered; runs that saw no disruption, or did not recover
    before the timeout, are counted beside it, not averaged in.

    \b
    Examples:
      drill report trend                     every drill
      drill report trend zone-failure --since 2025-01-01 --output-file trend.html --pdf
    """
    import json
    from datetime import UTC, datetime

    from drillkit.evidence.sources import trend_points_of
    from drillkit.files import write_atomically
    from drillkit.model.measurement import format_seconds
    from drillkit.reporting.trend import measure_trends, render_trend_html

    start = start_of(parse_moment(since)) if since is not None else None
    source = open_evidence_source(reports_dir, evidence)
    trends = measure_trends(trend_points_of(source, drill, since=start))
    page = render_trend_html(trends, generated=datetime.now(UTC))
    target = output_file or reports_dir / "trend.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, page.encode("utf-8"))
    pdf_path = target.with_suffix(".pdf") if pdf else None
    if pdf_path is not None:
        from drillkit.reporting.pdf import render_pdf

        write_atomically(pdf_path, render_pdf(page, title="drillkit trends"))

    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "drill": t.drill,
                        "runs": t.runs,
                        "met": t.met,
                        "pass_rate": t.pass_rate,
                        "mttr_seconds": t.mttr_seconds,
                        "recovered_runs": t.recovered_runs,
                        "unrecovered_runs": t.unrecovered_runs,
                        "worst_rto_seconds": t.worst_rto_seconds,
                        "points": [
                            {
                                "run_id": p.run_id,
                                "started_utc": p.started_utc.isoformat(),
                                "verdict": p.verdict,
                                "rto_seconds": p.rto_seconds,
                                "rpo_seconds": p.rpo_seconds,
                            }
                            for p in t.points
                        ],
                    }
                    for t in trends
                ]
            )
        )
        return

    def seconds(value: float | None) -> str:
        return "-" if value is None else format_seconds(value) + "s"

    if not trends:
        click.echo(f"no runs in {source.location}")
    else:
        click.echo(
            f"{'DRILL':<24} {'RUNS':>5} {'PASS':>6} {'MTTR':>9} {'WORST RTO':>10} {'RTO OBJ':>8}"
        )
    for t in trends:
        rate = "-" if t.pass_rate is None else f"{100 * t.pass_rate:.0f}%"
        click.echo(
            f"{t.drill:<24} {t.runs:>5} {rate:>6} {seconds(t.mttr_seconds):>9} "
            f"{seconds(t.worst_rto_seconds):>10} {seconds(t.rto_objective):>8}"
        )
    click.echo(f"charts: {target}")
    if pdf_path is not None:
        click.echo(f"pdf: {pdf_path}")


@report.command(name="pdf")
@click.argument("run", default="latest", shell_complete=complete_run_ids)
@reports_dir_option
@output_file_option(default=None, help="The PDF to write [default: <drill>-<run-id>.pdf here].")
def pdf(run: str, reports_dir: Path, output_file: Path | None) -> None:
    """Render one run's report.html as a PDF. RUN is a run id, a prefix of one, or 'latest'.

    The PDF is written outside the report directory, whose files the ledger vouches for.
    """
    from drillkit.errors import DrillError
    from drillkit.files import write_atomically
    from drillkit.reporting.pdf import render_pdf
    from drillkit.reporting.writer import MANIFEST_FILE_NAME, explain_unfinished, find_report

    directory = find_report(reports_dir, run)
    if not (directory / MANIFEST_FILE_NAME).is_file():
        raise DrillError(explain_unfinished(directory))
    page = (directory / "report.html").read_text(encoding="utf-8")
    target = output_file or Path(f"{directory.parent.name}-{directory.name}.pdf")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(
        target, render_pdf(page, title=f"{directory.parent.name} run {directory.name}")
    )
    click.echo(str(target))

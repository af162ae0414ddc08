"""``drill report``: list and show run reports."""

from __future__ import annotations

from pathlib import Path

import click

from drillkit.cli.options import reports_dir_option


@click.group()
def report() -> None:
    """Find and read the reports of past runs (reports/<drill>/<run-id>/)."""


@report.command(name="list")
@click.argument("drill", required=False)
@reports_dir_option
def list_reports(drill: str | None, reports_dir: Path) -> None:
    """List runs, newest first, with verdict and measured RTO and RPO."""
    from drillkit.model.measurement import format_seconds
    from drillkit.reporting.writer import list_reports as find_reports

    summaries = find_reports(reports_dir, drill)
    if not summaries:
        click.echo(f"no reports in {reports_dir}")
        return
    click.echo(
        f"{'RUN':<24} {'DRILL':<20} {'STARTED (UTC)':<20} {'VERDICT':<13} {'RTO':>9} {'RPO':>9}"
    )

    def seconds(value: float | None, bound: str | None) -> str:
        if value is None:
            return "-"
        return (">=" if bound == "lower" else "") + format_seconds(value) + "s"

    for summary in summaries:
        started = summary.started_utc.strftime("%Y-%m-%d %H:%M:%S") if summary.started_utc else "-"
        click.echo(
            f"{summary.run_id:<24} {summary.drill:<20} {started:<20} {summary.verdict_text:<13} "
            f"{seconds(summary.rto_seconds, summary.rto_bound):>9} "
            f"{seconds(summary.rpo_seconds, summary.rpo_bound):>9}"
        )


@report.command(name="show")
@click.argument("run", default="latest")
@reports_dir_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "json", "path"]),
    default="md",
    show_default=True,
    help="md: the report for people; json: report.json; path: the report directory.",
)
def show_report(run: str, reports_dir: Path, fmt: str) -> None:
    """Show one run's report. RUN is a run id, a unique prefix of one, or 'latest'."""
    from drillkit.reporting.writer import find_report

    directory = find_report(reports_dir, run)
    if fmt == "path":
        click.echo(str(directory))
    elif fmt == "json":
        click.echo((directory / "report.json").read_text().rstrip())
    else:
        click.echo((directory / "report.md").read_text().rstrip())
        click.echo(f"\n(HTML: {directory / 'report.html'})")

"""The ``drill`` command: the root group, error handling and exit codes.

Subcommands live in sibling modules and import heavy libraries (the Kubernetes
client, chaoslib, matplotlib) inside their functions, so ``drill --help`` stays fast.
Only this module imports the command modules; they never import each other, and take
what they share from ``options``, ``output``, ``running`` and ``completing`` (an
import-linter contract).

Exit codes: 0 objectives met; 1 missed, deviated or aborted; 2 usage error or an
invalid drill; 3 the drill could not run (cluster unreachable, lab failed, lock held).
"""

from __future__ import annotations

import sys
import traceback

import click

from drillkit import __version__
from drillkit.cli.backup import backup
from drillkit.cli.completing import completion
from drillkit.cli.drills import list_drills, schema, show, validate
from drillkit.cli.evidence import evidence
from drillkit.cli.findings import finding
from drillkit.cli.gameday import gameday
from drillkit.cli.lab import lab
from drillkit.cli.readiness import readiness
from drillkit.cli.recover import recover
from drillkit.cli.report import report
from drillkit.cli.run import run
from drillkit.cli.schedule import schedule, scheduler
from drillkit.errors import DrillError


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="drill")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(context: click.Context, debug: bool) -> None:
    """Run chaos experiments and disaster-recovery drills against Kubernetes, and
    measure the actual recovery time (RTO) and data loss (RPO) against your targets.

    \b
    Start here:
      drill lab up                  a real local control plane to practise on
      drill run zone-failure        run drills/zone-failure.yaml against the current context
      drill report list             what ran, with verdicts and measured RTO/RPO

    Exit codes: 0 met, 1 missed/aborted, 2 invalid input, 3 could not run.
    """
    context.ensure_object(dict)
    context.obj["debug"] = debug


for command in (run, validate, list_drills, show, report, recover, schema, lab, evidence):
    cli.add_command(command)
cli.add_command(schedule)
cli.add_command(scheduler)
cli.add_command(gameday)
cli.add_command(backup)
cli.add_command(completion)
cli.add_command(finding)
cli.add_command(readiness)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn errors into one line and an exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    debug = "--debug" in arguments
    try:
        cli.main(args=arguments, prog_name="drill", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("drill: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except DrillError as error:
        if debug:
            traceback.print_exc()
        click.echo(f"drill: error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("drill: interrupted", err=True)
        sys.exit(130)
    sys.exit(0)

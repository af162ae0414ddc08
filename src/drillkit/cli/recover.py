"""``drill recover``: revert what crashed runs left behind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from drillkit.cli.options import (
    context_option,
    evidence_option,
    kubeconfig_option,
    load_signing_key_option,
    output_option,
    reports_dir_option,
    retention_options,
    signing_key_option,
)
from drillkit.cli.output import echo_json
from drillkit.cli.running import entering_in_evidence_store

if TYPE_CHECKING:
    from drillkit.cli.documents import RecoveryDocument
    from drillkit.evidence.recording import FinalisedRun
    from drillkit.safety.recover import RecoveryAction


@click.command()
@kubeconfig_option
@context_option()
@reports_dir_option
@signing_key_option
@evidence_option
@retention_options
@output_option("one object: actions (reverted, failed, refused...), finalised runs, error.")
def recover(
    kubeconfig: Path | None,
    context: str | None,
    reports_dir: Path,
    signing_key: Path | None,
    evidence: str | None,
    retention_mode: str,
    retention_days: int,
    output: str,
) -> None:
    """Revert the faults of drill runs that died without cleaning up, and report them.

    Every disruptive step of a drill is preceded by an undo record, kept locally
    and in the cluster (ConfigMaps in namespace drillkit), and cordons are
    annotated with the run that made them. For each run that is no longer alive
    (it does not hold the cluster lock and its process is gone), this reverts
    what it recorded (uncordons nodes, restarts a lab zone), verifies the result
    and removes the records. Live runs are left alone. Safe to run at any time;
    `drill run` does the same before it starts.

    Then each dead run of this host without a complete report (killed, or dead
    while writing it) gets a report marked interrupted, made from what it recorded
    until it died, and its entry in the evidence ledger (signed with --signing-key),
    and, with --evidence, in the fleet's evidence store.

    A record that cannot be read, or a cluster-side record of something that would run
    on this machine without the same record in this machine's state home, is not acted
    on: it is reported as refused, for a person to look at, and the others still run.

    Exit code 0 when nothing is left to revert, 3 when a revert failed or a record was
    refused.
    """
    from drillkit.drivers.kubernetes import Cluster
    from drillkit.errors import DrillError
    from drillkit.evidence.recording import FinaliseOutcome, finalise_interrupted_runs
    from drillkit.running.runner import register_undo_actions
    from drillkit.safety.recover import RecoveryOutcome
    from drillkit.safety.recover import recover as recover_runs

    # Read first: a broken key must stop this before anything is changed.
    ledger_key = load_signing_key_option(signing_key)

    def finalise() -> list[FinalisedRun]:
        """Report the dead runs of this host."""
        with entering_in_evidence_store(
            evidence, retention_mode, retention_days, reports_dir, signing_key=ledger_key
        ):
            finalised = finalise_interrupted_runs(reports_dir, signing_key=ledger_key)
        if output == "text":
            for run in finalised:
                click.echo(run.describe())
        return finalised

    register_undo_actions()
    try:
        with Cluster.connect(kubeconfig, context) as cluster:
            actions = recover_runs(cluster, progress=lambda text: click.echo(text, err=True))
    except DrillError as error:
        # The evidence needs no cluster: it is finalised even when the cluster is down.
        finalised = finalise()
        if output == "json":
            echo_json(_recovery_json([], finalised, str(error)))
        raise
    if output == "text":
        if not actions:
            click.echo("nothing to recover: no undo records or drill cordons of dead runs")
        for action in actions:
            click.echo(action.describe())
    finalised = finalise()
    if output == "json":
        echo_json(_recovery_json(actions, finalised, None))
    failed = any(run.outcome is FinaliseOutcome.FAILED for run in finalised)
    left = (RecoveryOutcome.FAILED, RecoveryOutcome.REFUSED)
    if failed or any(a.outcome in left for a in actions):
        raise SystemExit(3)


def _recovery_json(
    actions: list[RecoveryAction], finalised: list[FinalisedRun], error: str | None
) -> RecoveryDocument:
    return {
        "actions": [
            {
                "run_id": action.run_id,
                "action": action.action,
                "target": list(action.target),
                "outcome": action.outcome,
                "details": list(action.details),
                "orphan": action.orphan,
                "where": action.where,
                "summary": action.describe(),
            }
            for action in actions
        ],
        "finalised": [
            {
                "run_dir": str(run.run_dir),
                "outcome": run.outcome,
                "detail": run.detail,
                "summary": run.describe(),
            }
            for run in finalised
        ],
        "error": error,
    }

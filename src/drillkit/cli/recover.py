"""``drill recover``: revert what crashed runs left behind."""

from __future__ import annotations

from pathlib import Path

import click

from drillkit.cli.options import context_option, kubeconfig_option


@click.command()
@kubeconfig_option
@context_option()
def recover(kubeconfig: Path | None, context: str | None) -> None:
    """Revert the faults of drill runs that died without cleaning up.

    Every disruptive step of a drill is preceded by an undo record, kept locally
    and in the cluster (ConfigMaps in namespace drillkit), and cordons are
    annotated with the run that made them. For each run that is no longer alive
    (it does not hold the cluster lock and its process is gone), this reverts
    what it recorded (uncordons nodes, restarts a lab zone), verifies the result
    and removes the records. Live runs are left alone. Safe to run at any time;
    `drill run` does the same before it starts.

    Exit code 0 when nothing is left to revert, 3 when a revert failed.
    """
    import drillkit.faults.backup  # registers the undo actions of cross-region restores
    import drillkit.faults.etcd  # registers the undo action of etcd restores
    import drillkit.faults.outage  # noqa: F401  (registers the undo action of cloud zone outages)
    from drillkit.drivers.kubernetes import Cluster
    from drillkit.safety.recover import RecoveryOutcome
    from drillkit.safety.recover import recover as recover_runs

    with Cluster.connect(kubeconfig, context) as cluster:
        actions = recover_runs(cluster, progress=lambda text: click.echo(text, err=True))
    if not actions:
        click.echo("nothing to recover: no undo records or drill cordons of dead runs")
    for action in actions:
        click.echo(action.describe())
    if any(a.outcome is RecoveryOutcome.FAILED for a in actions):
        raise SystemExit(3)

"""``drill backup``: back up namespaces, list and verify backups, restore one elsewhere.

The same built-in provider the cross-region-restore drill uses
(``drillkit.drivers.backups``), as commands a person, cron or CI can run: ``create`` a
backup now (a backup plan, ``drill schedule add NAME --backup``, takes them on a
schedule), ``verify`` the weekly check that an archive is whole, ``restore`` a restore
into another cluster or a scratch namespace, journalled so that ``drill recover`` cleans
up a restore that was killed.

Signing: with ``DRILL_SIGNING_KEY`` (the evidence ledger's Ed25519 key) ``create`` signs
the catalogue entry, and ``verify`` and ``restore`` refuse an entry that the key
(or ``DRILL_VERIFY_KEY``, a public key) did not sign. The keys are loaded here with
``drillkit.signing`` and handed to the backup driver, which sits below it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from drillkit.cli.options import (
    context_option,
    file_option,
    kubeconfig_option,
    load_signing_key_option,
    output_option,
    signing_key_option,
)
from drillkit.cli.output import progress_printer

_store_option = click.option(
    "--store",
    required=True,
    envvar="DRILLKIT_BACKUP_STORE",
    help="Backup store: a directory, file:///path or s3://bucket/prefix "
    "($DRILLKIT_BACKUP_STORE; S3 endpoint from $DRILLKIT_S3_ENDPOINT).",
)

_verify_key_option = file_option(
    "--verify-key",
    default=None,
    envvar="DRILL_VERIFY_KEY",
    help="Refuse a backup whose catalogue entry this Ed25519 public key (PEM) did not sign "
    "[env: DRILL_VERIFY_KEY]; default: the public half of --signing-key, if set.",
)


@click.group()
def backup() -> None:
    """Back up namespaces into a store, list and verify backups, restore them."""


@backup.command("create")
@_store_option
@click.option(
    "--namespace", "-n", "namespaces", multiple=True, required=True, help="Namespace to back up."
)
@kubeconfig_option
@context_option()
@signing_key_option
@output_option("the same, as one JSON document for tools.")
def create(
    store: str,
    namespaces: tuple[str, ...],
    kubeconfig: Path | None,
    context: str | None,
    signing_key: Path | None,
    output: str,
) -> None:
    """Export NAMESPACES through the API into a verified, catalogued archive."""
    from drillkit.drivers.backups import create_backup
    from drillkit.drivers.kubernetes import Cluster
    from drillkit.drivers.objectstore import open_store

    signer = load_signing_key_option(signing_key)
    opened = open_store(store)
    with Cluster.connect(kubeconfig, context) as cluster:
        info = create_backup(cluster, opened, list(namespaces), signer=signer)
    _show(info.to_json(), output, f"{info.name}: {_counts(info.counts)}")


@backup.command("list")
@_store_option
@output_option("the same, as one JSON document for tools.")
def list_backups(store: str, output: str) -> None:
    """The catalogued backups, oldest first."""
    from drillkit.drivers.backups import read_catalogue
    from drillkit.drivers.objectstore import open_store

    catalogue = read_catalogue(open_store(store))
    if output == "json":
        click.echo(json.dumps([b.to_json() for b in catalogue], indent=2))
        return
    if not catalogue:
        click.echo("no backups")
    for info in catalogue:
        namespaces = ",".join(info.namespaces)
        taken_by = f"plan {info.plan}" if info.plan else "no plan"
        click.echo(
            f"{info.name}  {info.size:>9} bytes  {namespaces}  {taken_by}  {_counts(info.counts)}"
        )


@backup.command("verify")
@_store_option
@click.argument("name", default="latest")
@_verify_key_option
@signing_key_option
@output_option("the same, as one JSON document for tools.")
def verify(
    store: str, name: str, verify_key: Path | None, signing_key: Path | None, output: str
) -> None:
    """Read backup NAME (default: the newest) and check every digest, and its catalogue
    entry's signature when a key is configured; exit 3 if it fails."""
    from drillkit.drivers.backups import find_backup, load_backup
    from drillkit.drivers.objectstore import open_store
    from drillkit.signing import verify_key_for

    verifier = verify_key_for(verify_key, signing_key)
    opened = open_store(store)
    loaded = load_backup(opened, find_backup(opened, name), verifier=verifier)
    _show(
        {**loaded.info.to_json(), "verified": True},
        output,
        f"{loaded.info.name}: verified, {len(loaded.objects)} objects",
    )


@backup.command("restore")
@_store_option
@click.argument("name", default="latest")
@kubeconfig_option
@context_option()
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FROM=TO",
    help="Restore namespace FROM as TO (repeatable), e.g. a scratch namespace.",
)
@click.option(
    "--conflict",
    type=click.Choice(["skip", "replace", "fail"]),
    default="fail",
    show_default=True,
    help="What to do with objects that exist already; fail writes nothing then.",
)
@click.option(
    "--allow-cluster-kind",
    "cluster_kinds",
    multiple=True,
    metavar="KIND",
    help="Also restore cluster-scoped objects of KIND (repeatable) when the backup declares "
    "them, e.g. CustomResourceDefinition; by default only the backup's namespaces are written.",
)
@click.option("--no-wait", is_flag=True, help="Do not wait for restored workloads.")
@click.option("--cleanup", is_flag=True, help="Delete the restore again once it is verified.")
@_verify_key_option
@signing_key_option
@output_option("the same, as one JSON document for tools.")
def restore(
    store: str,
    name: str,
    kubeconfig: Path | None,
    context: str | None,
    mappings: tuple[str, ...],
    conflict: str,
    cluster_kinds: tuple[str, ...],
    no_wait: bool,
    cleanup: bool,
    verify_key: Path | None,
    signing_key: Path | None,
    output: str,
) -> None:
    """Verify backup NAME (default: the newest) completely, then restore it."""
    from drillkit.drivers.objectstore import open_store
    from drillkit.errors import InvalidInput
    from drillkit.restoring.engine import UndoAtTarget, verify_and_restore
    from drillkit.restoring.targets import ClusterAddress
    from drillkit.signing import verify_key_for

    namespace_map: dict[str, str] = {}
    for mapping in mappings:
        source, _, target = mapping.partition("=")
        if not source or not target:
            raise InvalidInput(f"--map {mapping!r}: use FROM=TO, such as shop=shop-verify")
        namespace_map[source] = target
    verifier = verify_key_for(verify_key, signing_key)
    opened = open_store(store)
    address = ClusterAddress(kubeconfig=str(kubeconfig) if kubeconfig else None, context=context)
    records = UndoAtTarget()
    outcome = verify_and_restore(
        opened,
        name,
        address,
        verifier=verifier,
        namespace_map=namespace_map,
        conflict=conflict,
        wait=not no_wait,
        cleanup=cleanup,
        record=records,
        progress=progress_printer(),
        allowed_cluster_kinds=cluster_kinds,
    )
    summary: dict[str, Any] = {"backup": outcome.backup.name, "restored": outcome.result.to_json()}
    if outcome.cleanup is not None:
        summary["cleanup"] = outcome.cleanup
    # Completed: nothing is left for `drill recover` to do.
    records.resolve(address, outcome.journal)
    _show(summary, output, f"{outcome.backup.name}: restored {_counts(outcome.result.counts())}")


def _counts(counts: Any) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in dict(counts).items())


def _show(document: dict[str, Any], output: str, line: str) -> None:
    click.echo(json.dumps(document, indent=2) if output == "json" else line)

"""Backup plans: which namespaces a backup schedule backs up, into which store, how many kept.

A plan is a file ``backups/NAME.yaml``; ``drill schedule add NAME --backup`` schedules it and
each fire calls ``take_planned_backup``: export the namespaces with the built-in provider
(``drillkit.drivers.backups``), read the stored archive back and check every digest, then
delete the plan's backups beyond ``keep``, newest kept. The RPO a cross-region-restore drill
measures is then the real cadence of these fires, not a backup the drill took for itself.

The scheduling policy file's blackouts and error-budget gates are for drills and do not
apply to backups (a change freeze is when a backup matters most); a plan's own
``schedule.blackouts`` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.drivers.backups import create_backup, load_backup, prune_backups
from drillkit.drivers.kubernetes import Cluster
from drillkit.model.backups import BackupInfo
from drillkit.model.drill import Schedule
from drillkit.model.loading import load_model
from drillkit.restoring.targets import expand, resolve_store
from drillkit.scheduling.files import find_named_file
from drillkit.signing import SigningKey


class BackupPlan(BaseModel):
    """A backup plan file."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="drillkit backup plan")

    description: str = Field(default="", description="What the plan protects, for people.")
    namespaces: tuple[str, ...] = Field(min_length=1, description="The namespaces backed up.")
    store: str | None = Field(
        default=None,
        description="A directory, file:///path or s3://bucket/prefix; $VARIABLES are expanded "
        "(default: $DRILLKIT_BACKUP_STORE; the S3 endpoint from $DRILLKIT_S3_ENDPOINT).",
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig of the cluster backed up (default: the scheduler's --kubeconfig).",
    )
    context: str | None = Field(
        default=None, description="Its context (default: the scheduler's --context, else current)."
    )
    keep: int | None = Field(
        default=None,
        ge=1,
        description="Keep the newest this many backups of this plan, deleting older ones "
        "after each new backup (default: keep all).",
    )
    schedule: Schedule | None = Field(
        default=None, description="When to back up (cron, time zone, jitter, own blackouts)."
    )


@dataclass(frozen=True, kw_only=True)
class PlannedBackup:
    """What one fire of a backup plan did."""

    backup: BackupInfo
    pruned: tuple[BackupInfo, ...]
    store: str

    def describe(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in self.backup.counts.items())
        text = f"{self.backup.name} in {self.store}, verified: {counts}"
        if self.pruned:
            text += f"; deleted {len(self.pruned)} older beyond the plan's keep"
        return text


def find_backup_plan(directory: Path, name: str) -> Path:
    """``backups/NAME.yaml`` (or ``.yml``); InvalidInput naming where it looked."""
    return find_named_file(directory, name, what="backup plan")


def load_backup_plan(path: Path) -> BackupPlan:
    """Read a backup plan; InvalidInput names file, line and field."""
    return load_model(path, BackupPlan, noun="backup plan")


def take_planned_backup(
    name: str,
    plan: BackupPlan,
    *,
    kubeconfig: Path | None,
    context: str | None,
    signing_key: SigningKey | None = None,
) -> PlannedBackup:
    """Back up the plan's namespaces, verify what was stored, apply the plan's retention.

    With ``signing_key`` (the ledger's) the catalogue entry is signed, and checked as
    it is read back."""
    store = resolve_store(plan.store, None)
    if plan.kubeconfig is not None:
        # A kubeconfig of its own comes with its own current context.
        kubeconfig = Path(expand(plan.kubeconfig, what=f"backup plan {name}: kubeconfig"))
        context = None
    with Cluster.connect(kubeconfig, plan.context or context) as cluster:
        info = create_backup(cluster, store, plan.namespaces, plan=name, signer=signing_key)
    # Read back what the store holds: a backup nobody can read is no backup.
    load_backup(store, info, verifier=signing_key.verify_key if signing_key else None)
    pruned = prune_backups(store, plan=name, keep=plan.keep) if plan.keep else []
    return PlannedBackup(backup=info, pruned=tuple(pruned), store=store.description)

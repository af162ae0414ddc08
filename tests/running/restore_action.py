"""A Chaos Toolkit python action for the runner's tests: reports a restore as
``drillkit.faults.backup.restore_backup`` does, without a cluster or a backup."""

from __future__ import annotations

from drillkit.faults.backup import summarise_restore
from drillkit.faults.steps import RESTORED_KEY
from drillkit.model.backups import ObjectKey, RestoreResult


def report_a_restore() -> dict[str, object]:
    """The ``RESTORED_KEY`` output of a restore of the shop: 3 created, 1 skipped."""
    result = RestoreResult(
        created=[
            ObjectKey(api_version="v1", kind="Namespace", namespace=None, name="shop"),
            ObjectKey(api_version="v1", kind="Secret", namespace="shop", name="db-credentials"),
            ObjectKey(api_version="apps/v1", kind="Deployment", namespace="shop", name="web"),
        ],
        skipped=[ObjectKey(api_version="v1", kind="ConfigMap", namespace="shop", name="flags")],
    )
    return {RESTORED_KEY: summarise_restore("backup-1", "region-b", result)}

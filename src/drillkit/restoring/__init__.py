"""Restoring backups: the restore engine and the targets restores act on.

- :mod:`~drillkit.restoring.engine`: verify a backup, restore it into a cluster
  journalled, clean up a verification restore or an interrupted one (``drill recover``);
  the ``restore_backup`` activity (``drillkit.faults.backup``) and ``drill backup
  restore`` both call it;
- :mod:`~drillkit.restoring.journal`: the journal a restore keeps before each write;
- :mod:`~drillkit.restoring.state_files`: how that journal, and an etcd restore's state,
  are written to the state home and read back after a crash;
- :mod:`~drillkit.restoring.targets`: the backup store and the clusters a backup
  activity names (arguments, the experiment's configuration, the environment), real
  clusters or drill labs;
- :mod:`~drillkit.restoring.etcd`: the etcd members an etcd snapshot or restore acts
  on, declared or a lab's, and the check that they serve the measured cluster.

The archive format is ``drillkit.model.backups``; the cluster and the object store are
reached through ``drillkit.drivers``. It sits above ``drillkit.safety`` and below the
faults, the probes and the CLI: it never imports them, nor running, evidence or
scheduling.
"""

from drillkit.restoring.engine import (
    RESTORE_BACKUP,
    RestoreOutcome,
    RestoreStep,
    UndoAtTarget,
    cleanup_restore,
    prepare_restore,
    prepared_backup,
    record_in_source_or_target,
    run_restore,
    verify_and_restore,
)
from drillkit.restoring.journal import RestoreJournal, restore_journal_file
from drillkit.restoring.targets import (
    ClusterAddress,
    resolve_restore_target,
    resolve_store,
    source_address,
)

__all__ = [
    "RESTORE_BACKUP",
    "ClusterAddress",
    "RestoreJournal",
    "RestoreOutcome",
    "RestoreStep",
    "UndoAtTarget",
    "cleanup_restore",
    "prepare_restore",
    "prepared_backup",
    "record_in_source_or_target",
    "resolve_restore_target",
    "resolve_store",
    "restore_journal_file",
    "run_restore",
    "source_address",
    "verify_and_restore",
]

"""drillkit's error tree: every exception it raises to a user, under one root.

Adapters translate foreign exceptions into these, each in one function, keeping only
what a user needs: ``ApiException`` and urllib3's errors in
``drivers.kubernetes.translate_api_errors``, botocore's in
``drivers.boto.translate_boto_errors``, a failed command in
``drivers.executors.checked``. The CLI turns any ``DrillError`` into one readable
line and its ``exit_code`` (3, could not run, unless the class says otherwise).

Classes without a module beside them are defined here; the others are defined in
the module named (a test keeps this drawing true)::

    DrillError
    ├── InvalidInput                a drill, experiment, file or flag is wrong (exit 2)
    │   ├── KubeconfigInvalid       a kubeconfig cannot be read or used; also a ClusterError
    │   ├── GuardrailViolation      safety.guardrails: the drill would break its guardrails
    │   ├── ProductionNotConfirmed  safety.guardrails: a production drill was not confirmed
    │   └── NotRegularFile          evidence.ledger: evidence that is a link, FIFO or directory
    ├── LabError                    the local control plane could not be built or run
    │   └── BuildFailed
    ├── ClusterError                the Kubernetes API refused or failed a request
    │   ├── NotFound                404: the object, or its kind, does not exist
    │   ├── Conflict                409: it exists already, or changed since it was read
    │   ├── Forbidden               401, 403: this identity may not
    │   ├── TooManyRequests         429: refused for now (a disruption budget, load shedding)
    │   └── KubeconfigInvalid       (see InvalidInput)
    ├── CloudError                  a cloud provider's API (EC2) refused or failed a request
    ├── StorageError                an object store refused or failed a request
    │   ├── ObjectMissing           no object under that key
    │   ├── ObjectExists            a write only for a new key met an object already there
    │   └── ObjectCorrupted         an object no longer matches its digest
    ├── CommandFailed               a command that had to succeed did not
    ├── SnapshotRejected            an etcd snapshot failed its integrity check
    ├── PrometheusError             Prometheus could not answer a query with one number
    ├── VeleroFailed                a Velero backup or restore failed, or did not finish
    ├── BackupRejected              model.backups: a backup failed its integrity check
    ├── RestoreConflict             drivers.backups: objects of the backup exist already
    ├── UndoNotRecorded             safety.undo: no undo record could be written
    ├── UndoUnreadable              safety.undo: a stored undo record cannot be read
    ├── LockHeld                    safety.lock: another drill holds the cluster lock
    ├── LockLost                    safety.lock: the cluster lock was lost during a run
    ├── StepFailed                  faults.etcd: a step of an etcd procedure failed
    ├── LedgerMismatch              evidence.ledger: the ledger's end moved
    ├── TamperingFound              evidence.export: evidence did not verify (exit 1)
    └── SchedulerDatabaseError      scheduling.database: the schedule store failed
"""

from __future__ import annotations


class DrillError(Exception):
    """Anything drillkit reports to a user as one line instead of a traceback."""

    exit_code = 3


class InvalidInput(DrillError):
    """A user-written file or option is invalid; nothing was touched.

    The message is one line, the first problem; ``problems`` holds every problem found,
    each a line of its own, for ``drill validate`` to list (just the message when the
    check stopped at the first)."""

    exit_code = 2

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class LabError(DrillError):
    """The local lab could not be built, started or controlled."""


class BuildFailed(LabError):
    """A Go build of a lab binary failed; the message names the module or package."""


# -- the Kubernetes API ---------------------------------------------------------------------


class ClusterError(DrillError):
    """The Kubernetes API refused or failed a request.

    ``status`` and ``reason`` are the API server's answer; both are None when there was
    none (the server could not be reached)."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(ClusterError):
    """404: the object does not exist (any more), or the API serves no such kind."""


class Conflict(ClusterError):
    """409: the object already exists, or changed since it was read."""


class Forbidden(ClusterError):
    """401 or 403: the API server did not accept this identity, or denied it the request."""


class TooManyRequests(ClusterError):
    """429: refused for now; an eviction a PodDisruptionBudget blocks, or load shed."""


class KubeconfigInvalid(InvalidInput, ClusterError):
    """A kubeconfig that cannot be read, parsed or used, or lacks the context asked for.

    Bad input (exit 2, the message names the file), and also a ``ClusterError``: no
    cluster can be reached through it, which is all that callers who merely look (the
    report's scope, optional watches) need to know.
    """


# -- other services -------------------------------------------------------------------------


class CloudError(DrillError):
    """The cloud provider's API refused or failed a request, or could not be reached.

    ``code`` is the provider's error code (``UnauthorizedOperation``) when it answered."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class StorageError(DrillError):
    """The object store refused or failed a request, or could not be reached.

    ``code`` is the service's error code (``AccessDenied``) when it answered."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ObjectMissing(StorageError):
    """No object under that key."""


class ObjectExists(StorageError):
    """A write meant only for a new key found an object there already (a lost race)."""


class ObjectCorrupted(StorageError):
    """An object's content no longer matches the digest stored with it."""


class CommandFailed(DrillError):
    """A command that had to succeed did not."""


class SnapshotRejected(DrillError):
    """A snapshot failed its integrity check; nothing destructive may use it."""


class PrometheusError(DrillError):
    """Prometheus could not be asked, or could not answer the query with one number."""


class VeleroFailed(DrillError):
    """A Velero backup or restore ended in a failed phase, or not in time."""

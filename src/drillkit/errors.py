"""The root of drillkit's own error tree.

Adapters (``drivers``, ``lab``) translate foreign exceptions (``ApiException``,
``CalledProcessError``, ``OSError``) into these, keeping only what a user needs.
The CLI turns any ``DrillError`` into one readable line and an exit code::

    DrillError
    ├── InvalidInput         a drill, experiment or flag is wrong (exit 2)
    ├── LabError             the local control plane could not be built or run (exit 3)
    │   └── BuildFailed
    └── ClusterError         the cluster refused or failed a request (exit 3)
"""

from __future__ import annotations


class DrillError(Exception):
    """Anything drillkit reports to a user as one line instead of a traceback."""

    exit_code = 3


class InvalidInput(DrillError):
    """A user-written file or option is invalid; nothing was touched."""

    exit_code = 2


class LabError(DrillError):
    """The local lab could not be built, started or controlled."""


class BuildFailed(LabError):
    """A Go build of a lab binary failed; the message names the module or package."""


class ClusterError(DrillError):
    """The Kubernetes API refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason

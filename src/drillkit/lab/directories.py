"""Where labs live on this machine, and which exist: a lab is a directory under
``<state home>/labs`` holding its ``lab.json``.

Kept apart from ``lab/cluster.py``, which imports the Kubernetes client, so that listing
labs stays cheap: shell completion of lab names reads it on every key press.
"""

from __future__ import annotations

from typing import Final

from drillkit.files import labs_root as labs_root

LAB_FILE_NAME: Final = "lab.json"
"""The file that marks a directory as a lab: its shape and ports, fixed at creation."""


def lab_names() -> list[str]:
    """Names of every lab that has a directory on this machine."""
    root = labs_root()
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir() if (path / LAB_FILE_NAME).exists())

"""drillkit: chaos-engineering and disaster-recovery drills for Kubernetes.

Runs Chaos Toolkit experiments as measured drills: it records when a fault was
injected, when the recovery condition was lost and restored, and how much data
was lost, and compares the measured RTO and RPO with the targets a team promised.
"""

from drillkit.errors import DrillError

__version__ = "0.1.0"

__all__ = ["DrillError", "__version__"]

"""The promise a drill proves, where its file leaves the disruption to its faults.

``drill.proves`` names a service file and, usually, the kind of disruption the drill
proves. Left out, the disruption is what the experiment's method disrupts, as the fault
registry (``running.activities``) says of each fault: the model layer reads drill files
but not experiments through the registry, so drill files are read here for every command
that runs, shows, validates or schedules them.
"""

from __future__ import annotations

from pathlib import Path

from drillkit.model import loading
from drillkit.model.activities import parse_activities
from drillkit.model.drill import Drill
from drillkit.model.services import DerivedDisruption, derive_disruption
from drillkit.running.activities import disruptions
from drillkit.running.chaostoolkit import load_experiment


def load_drill(path: Path) -> Drill:
    """The drill in ``path``, as ``drillkit.model.loading.load_drill`` reads it, proving the
    disruption its method's faults cause when it names none; ``InvalidInput`` as there."""
    return loading.load_drill(path, derive=derive_proven_disruption)


def derive_proven_disruption(drill: Drill) -> DerivedDisruption:
    """The disruption ``drill``'s experiment disrupts, from the faults of its method."""
    experiment = load_experiment(drill.experiment_path())
    return derive_disruption(disruptions(parse_activities(experiment)))

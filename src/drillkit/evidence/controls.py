"""The control catalogue: which audit controls a drill run can be evidence for.

Drill files name controls in ``evidence.controls`` (``SOC2-A1.3``); an export maps each
run to the controls it names and describes them from this catalogue, so an auditor
reading the bundle sees "A1.3 Recovery plan testing" and what the run showed for it.

The catalogue is data, not code: ``controls.yaml`` beside this module ships SOC 2 A1.2
and A1.3, ISO/IEC 27001:2022 A.5.29, A.5.30, A.8.13 and A.8.14, DORA Articles 11(6),
12(2), 12(3), 24(5) and 25(1), and NIST SP 800-53 Rev. 5 CP-4, CP-9(1), CP-9(2) and
CP-10, the last two frameworks with their requirements quoted. Teams add their own
(internal policies, other frameworks) with a file of the same shape, given with
``--controls FILE`` or ``DRILL_CONTROLS``: a new id is added, an existing id replaced.
Catalogue files are read by ``drillkit.model.loading.load_model``, so a mistake in one is
reported as ``FILE:LINE:COLUMN: field: problem`` like any other file a user writes.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from drillkit.model.loading import load_model

_BUILTIN: Final = "controls.yaml"


class Control(BaseModel):
    """One control of a framework, and what a drill run contributes to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="How drill files name it, e.g. SOC2-A1.3.")
    framework: str = Field(min_length=1)
    reference: str = Field(min_length=1, description="The control's number in its framework.")
    title: str = Field(min_length=1)
    requirement: str = Field(
        default="", description="The control's own words (the part a drill gives evidence for)."
    )
    evidence: str = Field(default="", description="What a drill run shows for this control.")
    aliases: tuple[str, ...] = Field(default=(), description="Other accepted spellings.")


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    controls: tuple[Control, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Controls by id, with every alias resolving to its control."""

    controls: tuple[Control, ...]
    _by_name: Mapping[str, Control] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: an export looks up every control of every run (10,000 runs, tens
        # of thousands of lookups), and rebuilding the index each time dominated it.
        index: dict[str, Control] = {}
        for control in self.controls:
            for name in (control.id, *control.aliases):
                index[_normalise(name)] = control
        object.__setattr__(self, "_by_name", index)

    def find(self, name: str) -> Control | None:
        """The control a drill's ``controls`` entry means, by id or alias, ignoring case."""
        return self._by_name.get(_normalise(name))

    def canonical_id(self, name: str) -> str:
        """The catalogue id for ``name``; an unknown name stays as written."""
        control = self.find(name)
        return control.id if control is not None else name.strip()


def load_catalogue(extra: Iterable[Path] = ()) -> Catalogue:
    """The shipped catalogue, extended and overridden by each file in ``extra`` in turn."""
    builtin = importlib.resources.files("drillkit.evidence").joinpath(_BUILTIN)
    with importlib.resources.as_file(builtin) as builtin_path:
        controls: dict[str, Control] = {
            control.id: control for control in _load_controls(builtin_path)
        }
    for path in extra:
        for control in _load_controls(path):
            controls[control.id] = control
    return Catalogue(tuple(controls.values()))


def _load_controls(path: Path) -> tuple[Control, ...]:
    return load_model(path, _CatalogueFile, noun="control catalogue").controls


def _normalise(name: str) -> str:
    return " ".join(name.replace("-", " ").split()).casefold()

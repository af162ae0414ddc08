"""Everything one run produced: the record that report writers and the ledger read.

The runner fills a ``RunRecord`` as the run goes and freezes it at the end; the
writers in ``drillkit.reporting`` turn it into files. Secrets never enter it:
the experiment's ``secrets`` block is dropped before the journal is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drillkit.model.measurement import Outcome, RunStatus
from drillkit.model.objectives import Objectives
from drillkit.model.timeline import TimelineEvent


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchedCluster:
    """One cluster the run acted on, as it answered before the first change."""

    role: str
    """``measured`` (the drill's own), ``region B (restore target)``, ``etcd member ...``."""
    server: str
    """The API server URL (an etcd member's client URL)."""
    ca_sha256: str | None
    """SHA-256 of the CA the connection trusted, None when it trusted none."""
    kube_system_uid: str | None
    """UID of the cluster's ``kube-system`` namespace, minted when the cluster was made."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Scope:
    """What the drill ran against, as an auditor asks for it."""

    context: str | None
    cluster_server: str | None
    kubernetes_version: str | None
    namespaces: tuple[str, ...]
    workloads: tuple[str, ...]
    nodes_per_zone: Mapping[str, int] = field(default_factory=dict)
    clusters: tuple[TouchedCluster, ...] = ()
    """Every cluster the run acted on, checked and recorded before its first change;
    empty for a run that touched no cluster."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Accountability:
    """Who ran the drill, who approved it, and which controls it gives evidence for."""

    operator: str
    owner: str | None
    approver: str | None
    controls: tuple[str, ...]
    production_confirmation: str | None = None
    """For a production drill: the cluster the operator named to confirm it, and where
    (``context prod-eu, named on the command line``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceFile:
    """A drill, experiment or service file as it was when the run started."""

    path: str
    sha256: str

    @classmethod
    def read(cls, path: Path) -> SourceFile:
        """The file as it is now: its path and the SHA-256 of its bytes."""
        return cls(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


@dataclass(frozen=True, kw_only=True, slots=True)
class PromisedObjectives:
    """What a service file promised for one kind of disruption when a run started."""

    disruption: str
    rto: timedelta | None
    rpo: timedelta | None
    prove_every: timedelta


@dataclass(frozen=True, kw_only=True, slots=True)
class Promise:
    """The service promise a run proves: the service, the kind of disruption, what the
    service file promised for it when the run started, and that file."""

    service: str
    disruption: str
    owners: tuple[str, ...]
    rto: timedelta | None
    rpo: timedelta | None
    prove_every: timedelta
    """How often a drill must prove it: a proof older than this no longer counts."""
    service_file: SourceFile
    service_objectives: tuple[PromisedObjectives, ...] = ()
    """Every disruption the service file promised to survive then, in its order: what a
    readiness score weighs, so that the ledger alone reproduces it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RestoredKind:
    """How many objects of one kind a restore wrote (created or replaced)."""

    kind: str
    count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class RestoreSummary:
    """What a backup restore wrote into its target, by kind and count; never object content.

    The counts are pairs rather than a mapping on purpose: redaction replaces the values
    of secret-named keys in mappings, and a kind named ``Secret`` is one.
    """

    backup: str
    """The backup restored, by name."""
    target: str
    """Where it was restored: the kube context and kubeconfig, in words."""
    namespaces: tuple[str, ...]
    """The namespaces the restore wrote into, after any namespace mapping."""
    objects_by_kind: tuple[RestoredKind, ...]
    """Objects restored (created or replaced), by kind, sorted by kind."""
    created: int
    replaced: int
    skipped: int
    """Objects left alone because they already existed (conflict policy ``skip``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """One execution of a drill, complete enough to judge it without the cluster."""

    run_id: str
    drill: str
    description: str
    strategy: str
    status: RunStatus
    outcome: Outcome
    objectives: Objectives
    resolution_seconds: float
    """Resolution of the recovery-condition observer (0 for watches, else the poll interval)."""
    started_utc: datetime
    ended_utc: datetime
    duration_seconds: float
    """Monotonic duration of the whole run."""
    scope: Scope
    accountability: Accountability
    drill_file: SourceFile | None
    experiment_file: SourceFile
    tool_version: str
    timeline: tuple[TimelineEvent, ...]
    journal: Mapping[str, Any]
    """The Chaos Toolkit journal, with secrets removed."""
    error: str | None = None
    """Why the run could not proceed, when its status is ``error``."""
    restore: RestoreSummary | None = None
    """The backup restore the run completed (the last one, should it restore twice);
    None for drills that restore no backup."""
    promise: Promise | None = None
    """The service promise the drill proves; None for a drill that names none."""

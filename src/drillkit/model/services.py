"""The service file: what a team promises for one service, per kind of disruption.

``services/NAME.yaml`` names a service's owners, the workloads that make it, and for each
kind of disruption it must survive (a pod, a node, a zone, a region, the control plane,
corrupted data, a restore from backup) the RTO and RPO it promised and how often that
promise must be proven by a drill. A drill names the service and the disruption it proves
(``proves`` in the drill file); it is then judged against the service's objectives for
that disruption, and may only tighten them: a drill that allowed a longer outage than the
service promised would prove nothing about the promise.

These are pure values; reading the file and placing problems at ``path:line:column`` is
``drillkit.model.loading``'s job, as for drills.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field

from drillkit.model.activities import Disruption as MethodDisruption
from drillkit.model.drill import (
    Disruption,
    Drill,
    DrillName,
    NonEmptyText,
    PositiveDuration,
    WorkloadReference,
    _DrillFileModel,
)
from drillkit.model.durations import Duration, format_duration
from drillkit.model.objectives import Objectives
from drillkit.model.run import Promise, PromisedObjectives, SourceFile


class DisruptionObjectives(_DrillFileModel):
    """What the service promises when one kind of disruption hits it."""

    rto: Duration | None = Field(
        default=None, description="Longest acceptable outage after this disruption."
    )
    rpo: Duration | None = Field(
        default=None, description="Largest acceptable data loss after this disruption."
    )
    prove_every: PositiveDuration = Field(
        description="How often a drill must prove it, such as 90d for quarterly or 365d yearly."
    )


class Service(_DrillFileModel):
    """A service file: its owners, its workloads and its objectives per disruption."""

    name: DrillName = Field(description="Service name: lowercase letters, digits and dashes.")
    description: str = Field(default="", description="What the service is, for people.")
    owners: tuple[NonEmptyText, ...] = Field(
        min_length=1, description="Teams or people who answer for the service; at least one."
    )
    workloads: tuple[WorkloadReference, ...] = Field(
        min_length=1, description="The Deployments and StatefulSets that make the service."
    )
    objectives: dict[Disruption, DisruptionObjectives] = Field(
        min_length=1,
        description="Objectives per kind of disruption: pod, node, zone, region, "
        "control-plane, data-corruption, backup-restore.",
    )


FieldProblem = tuple[tuple[str | int, ...], str]
"""A problem found beyond the schema: the field it is about (mapping keys and list indexes,
from the top) and what is wrong with it; ``model.loading`` places it in the file."""


def check_drill_proves(drill: Drill, service: Service) -> list[FieldProblem]:
    """What is wrong with ``drill`` proving ``service``: a disruption the service has no
    objective for, a target outside the service, or an objective looser than promised."""
    proves = drill.proves
    if proves is None:
        return []
    if proves.disruption is None:
        return [(("proves",), "names no disruption, and none was derived from the method's faults")]
    promised = service.objectives.get(proves.disruption)
    if promised is None:
        declared = ", ".join(service.objectives)
        return [
            (
                ("proves", "disruption"),
                f"service {service.name} declares no {proves.disruption} objective "
                f"(it declares: {declared})",
            )
        ]
    problems: list[FieldProblem] = []
    if not _targets_service(drill, service):
        problems.append(
            (
                ("target",),
                f"the target names none of service {service.name}'s workloads "
                f"({', '.join(_workload_name(w) for w in service.workloads)})",
            )
        )
    for field in ("rto", "rpo"):
        own: timedelta | None = getattr(drill.objectives, field)
        limit: timedelta | None = getattr(promised, field)
        if own is not None and limit is not None and own > limit:
            problems.append(
                (
                    ("objectives", field),
                    f"{format_duration(own)} is looser than service {service.name}'s "
                    f"{proves.disruption} {field} of {format_duration(limit)}; a drill may "
                    "only tighten the service's objectives",
                )
            )
    return problems


def effective_objectives(drill: Drill, service: Service) -> Objectives:
    """The drill's objectives, each one it leaves out taken from the service's promise for
    the disruption it proves. Call after :func:`check_drill_proves` found nothing."""
    if drill.proves is None or drill.proves.disruption is None:
        return drill.objectives
    promised = service.objectives[drill.proves.disruption]
    inherited: Mapping[str, timedelta] = {
        field: value
        for field in ("rto", "rpo")
        if getattr(drill.objectives, field) is None
        and (value := getattr(promised, field)) is not None
    }
    return drill.objectives.model_copy(update=inherited) if inherited else drill.objectives


WIDTH: tuple[Disruption, ...] = (
    Disruption.POD,
    Disruption.NODE,
    Disruption.ZONE,
    Disruption.DATA_CORRUPTION,
    Disruption.BACKUP_RESTORE,
    Disruption.CONTROL_PLANE,
    Disruption.REGION,
)
"""The kinds of disruption from the narrowest to the widest: a zone takes nodes and pods
with it, a region its control plane, its data and its zones."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DerivedDisruption:
    """The disruption a drill proves, derived from its method's faults, and how: one line
    saying which fault it comes from, or, when none could be derived, what is missing."""

    disruption: Disruption | None
    derivation: str


def derive_disruption(method: Sequence[MethodDisruption]) -> DerivedDisruption:
    """The kind of disruption the method's faults cause: the widest, when they cause
    several, and the fault that causes it (the first of that kind)."""
    kinds = [(fault.activity, fault.kind) for fault in method if fault.kind is not None]
    if not kinds:
        unknown = ", ".join(fault.activity for fault in method)
        missing = (
            f"no fault of its method ({unknown}) says which kind of disruption it is"
            if unknown
            else "its method has no fault"
        )
        return DerivedDisruption(
            disruption=None, derivation=f"{missing}; name it in proves.disruption"
        )
    activity, kind = max(kinds, key=lambda fault: WIDTH.index(fault[1]))
    others = sorted({other for _, other in kinds} - {kind}, key=WIDTH.index)
    derivation = f"derived from fault {activity}"
    if others:
        derivation += (
            ", the widest of the method's faults (they also disrupt: "
            f"{', '.join(str(other) for other in others)})"
        )
    return DerivedDisruption(disruption=kind, derivation=derivation)


def _targets_service(drill: Drill, service: Service) -> bool:
    if drill.target.workloads:
        return bool(set(drill.target.workloads) & set(service.workloads))
    return bool(set(drill.target.namespaces) & {w.namespace for w in service.workloads})


def _workload_name(workload: WorkloadReference) -> str:
    return f"{workload.namespace}/{workload.name}"


def promise_of(drill: Drill) -> Promise | None:
    """The promise ``drill`` proves, as its service file states it now; None when it
    proves none (or was not read by ``load_drill``, which reads the service)."""
    service, path = drill.service, drill.service_path()
    if drill.proves is None or drill.proves.disruption is None or service is None or path is None:
        return None
    promised = service.objectives[drill.proves.disruption]
    return Promise(
        service=service.name,
        disruption=str(drill.proves.disruption),
        owners=service.owners,
        rto=promised.rto,
        rpo=promised.rpo,
        prove_every=promised.prove_every,
        service_file=SourceFile.read(path),
        service_objectives=promised_objectives(service),
    )


def promised_objectives(service: Service) -> tuple[PromisedObjectives, ...]:
    """Every disruption ``service`` promises to survive and what it promises, in its order."""
    return tuple(
        PromisedObjectives(
            disruption=str(disruption),
            rto=promised.rto,
            rpo=promised.rpo,
            prove_every=promised.prove_every,
        )
        for disruption, promised in service.objectives.items()
    )


def describe_promise(promise: Promise) -> str:
    """``service shop survives a zone disruption: promised RTO 5m, RPO none, proven every
    90d; owners platform-team``."""

    def duration(value: timedelta | None) -> str:
        return "none" if value is None else format_duration(value)

    return (
        f"service {promise.service} survives a {promise.disruption} disruption: promised RTO "
        f"{duration(promise.rto)}, RPO {duration(promise.rpo)}, proven every "
        f"{duration(promise.prove_every)}; owners {', '.join(promise.owners)}"
    )

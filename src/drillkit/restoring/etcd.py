"""The etcd behind an experiment, for its snapshots and restores: declared, or a lab's.

An etcd activity or probe reads its target from the experiment's configuration:
``etcd`` (an ``EtcdTargetSpec`` mapping: members, executor, TLS; for real control
planes, usually over SSH); else the lab the run's cluster is (found by its API
server and CA, ``drillkit.lab.cluster.lab_reached_by``; a ``lab`` in the
configuration must be that one), from which ``drillkit.lab.etcd.lab_target`` gives
the members, the local executor and the ``{lab}`` and ``{snapshots}`` variables of
the restore procedure. The procedure is the configuration's ``etcd_procedure``.

Before a disaster, ``ensure_members_hold`` checks that every member serves the
measured cluster's data: its ``kube-system`` namespace, with the UID the API server
gave (``ClusterIdentity``). Members declared for another cluster are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from drillkit.drivers.etcd import etcdctl
from drillkit.drivers.executors import executor_for
from drillkit.drivers.kubernetes import Cluster, ClusterIdentity
from drillkit.errors import DrillError, InvalidInput
from drillkit.lab.cluster import lab_reached_by
from drillkit.lab.etcd import lab_target
from drillkit.model.procedure import EtcdTargetSpec, RestoreProcedure
from drillkit.model.records import first_problem

KUBE_SYSTEM_KEY = "/registry/namespaces/kube-system"
"""Where the API server (default ``--etcd-prefix``) keeps namespace kube-system."""


def resolve_target(
    configuration: Mapping[str, Any] | None, cluster: Cluster | None = None
) -> EtcdTargetSpec:
    """The etcd target: the configuration's ``etcd``, else the lab ``cluster`` is (a
    ``lab`` named in the configuration must be it). Without ``cluster`` (a probe
    reading the catalogue), the lab named, else the one ``KUBECONFIG`` reaches."""
    configuration = configuration or {}
    if configuration.get("etcd") is not None:
        return _validated(EtcdTargetSpec, configuration["etcd"], "configuration.etcd")
    named = str(configuration.get("lab") or "") or None
    if cluster is not None:
        return lab_target(lab_reached_by(cluster.identity(ask=False), named=named).shape.name)
    if named is not None:
        return lab_target(named)
    try:
        with Cluster.from_environment() as found:
            return lab_target(lab_reached_by(found.identity(ask=False)).shape.name)
    except DrillError as error:
        raise InvalidInput(
            "the experiment's configuration needs `etcd` (the control plane's etcd "
            f"members and executor) unless the run's cluster is a drill lab: {error}"
        ) from None


def ensure_members_hold(target: EtcdTargetSpec, identity: ClusterIdentity) -> None:
    """Refuse (``InvalidInput``, nothing touched) unless every member answers with the
    data of the cluster ``identity`` names: its ``kube-system`` namespace and that UID.

    etcd keeps each namespace under ``/registry/namespaces/<name>`` as protobuf, in
    which the UID is stored as plain text; a serializable read asks each member
    itself rather than the leader."""
    if identity.kube_system_uid is None:
        raise InvalidInput(
            f"cannot confirm that the etcd members serve {identity.server}: this identity "
            "may not read namespace kube-system, whose UID names the cluster"
        )
    executor = executor_for(target.executor)
    for member in target.members:
        command = etcdctl(
            target,
            member.client_url,
            "get",
            KUBE_SYSTEM_KEY,
            "--print-value-only",
            "--consistency=s",
            "--command-timeout=10s",
        )
        result = executor.run(command, timeout=60)
        if not result.ok:
            raise InvalidInput(
                f"etcd member {member.name} ({member.client_url}) does not answer, so it "
                f"cannot be confirmed to serve {identity.server}: {result.failure()}"
            )
        if identity.kube_system_uid not in result.output:
            raise InvalidInput(
                f"etcd member {member.name} ({member.client_url}) is not the etcd of "
                f"{identity.server}: it holds no kube-system namespace with UID "
                f"{identity.kube_system_uid}; refusing before any change"
            )


def snapshot_directory(target: EtcdTargetSpec, directory: str | None) -> str:
    """The snapshot directory given, else the target's ``snapshots`` variable."""
    chosen = directory or target.variables.get("snapshots")
    if not chosen:
        raise InvalidInput("say where snapshots are kept: the activity's `directory` argument")
    return chosen


def resolve_procedure(configuration: Mapping[str, Any] | None) -> RestoreProcedure:
    value = (configuration or {}).get("etcd_procedure")
    if value is None:
        raise InvalidInput("the experiment's configuration needs `etcd_procedure`")
    return _validated(RestoreProcedure, value, "configuration.etcd_procedure")


_Model = TypeVar("_Model", EtcdTargetSpec, RestoreProcedure)


def _validated(model: type[_Model], value: object, where: str) -> _Model:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise InvalidInput(f"{where}.{first_problem(error)}") from None

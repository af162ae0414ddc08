"""The etcd behind an experiment: declared in its configuration, or a lab's.

An etcd activity or probe reads its target from the experiment's configuration:
``etcd`` (an ``EtcdTargetSpec`` mapping: members, executor, TLS; for real control
planes, usually over SSH) or, for the lab, ``lab`` (its name), from which the
members, the local executor and the ``{lab}`` and ``{snapshots}`` variables of the
restore procedure follow. The procedure is the configuration's ``etcd_procedure``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from drillkit.errors import InvalidInput
from drillkit.lab import build
from drillkit.lab.cluster import Lab
from drillkit.model.procedure import (
    EtcdMemberSpec,
    EtcdTargetSpec,
    LocalExecutorSpec,
    RestoreProcedure,
)


def resolve_target(configuration: Mapping[str, Any] | None) -> EtcdTargetSpec:
    """The etcd target from the experiment's configuration: ``etcd``, else ``lab``."""
    configuration = configuration or {}
    if configuration.get("etcd") is not None:
        return _validated(EtcdTargetSpec, configuration["etcd"], "configuration.etcd")
    lab_name = configuration.get("lab")
    if not lab_name:
        raise InvalidInput(
            "the experiment's configuration needs `etcd` (the control plane's etcd "
            "members and executor) or `lab` (the name of a drill lab)"
        )
    return lab_target(str(lab_name))


def lab_target(name: str) -> EtcdTargetSpec:
    """A lab's etcd as a target: local executor, the lab's binaries first on PATH."""
    lab = Lab.open(name)
    return EtcdTargetSpec(
        members=tuple(
            EtcdMemberSpec(
                name=m.name,
                data_dir=str(m.data_dir),
                peer_url=m.peer_url,
                client_url=m.client_url,
                component=m.component,
            )
            for m in lab.etcd_members()
        ),
        # `drill` itself (for `drill lab component`) and etcdctl/etcdutl.
        executor=LocalExecutorSpec(
            path=(str(build.binaries_dir()), str(Path(sys.executable).parent))
        ),
        etcdctl="etcdctl",
        etcdutl="etcdutl",
        variables={"lab": name, "snapshots": str(lab.directory / "snapshots")},
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
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}.{path}: {first['msg']}") from None

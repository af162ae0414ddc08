"""Where backup activities and commands find their store and their clusters.

Shared by ``drillkit.faults.backup``, ``drillkit.probes.backup`` (which may not
import each other) and the backup plans of ``drillkit.scheduling``. An activity's own
argument wins; else the experiment's configuration (``backup_store``,
``restore_kubeconfig``, ``restore_context``); else the environment
(``DRILLKIT_BACKUP_STORE``, ``DRILLKIT_RESTORE_KUBECONFIG``,
``DRILLKIT_RESTORE_CONTEXT``). A real cluster is named by its kubeconfig and context;
a drill lab named by ``restore_lab`` stands for its kubeconfig and its
least-privilege runner context.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit.drivers.kubernetes import Cluster
from drillkit.drivers.objectstore import ObjectStore, open_store
from drillkit.errors import InvalidInput
from drillkit.lab.cluster import Lab


@dataclass(frozen=True, kw_only=True)
class ClusterAddress:
    """How to reach a cluster: a kubeconfig file (None: the default) and a context."""

    kubeconfig: str | None
    context: str | None

    def connect(self) -> Cluster:
        return Cluster.connect(Path(self.kubeconfig) if self.kubeconfig else None, self.context)

    def describe(self) -> str:
        return (
            f"{self.context or 'current context'} of {self.kubeconfig or 'the default kubeconfig'}"
        )


def _setting(
    value: str | None, configuration: Mapping[str, Any] | None, key: str, variable: str
) -> str | None:
    if value:
        return value
    configured = (configuration or {}).get(key)
    if configured:
        return str(configured)
    return os.environ.get(variable) or None


def resolve_store(store: str | None, configuration: Mapping[str, Any] | None) -> ObjectStore:
    """The backup store an activity uses; ``InvalidInput`` when none is named."""
    url = _setting(store, configuration, "backup_store", "DRILLKIT_BACKUP_STORE")
    if url is None:
        raise InvalidInput(
            "no backup store: pass store, set the configuration's backup_store "
            "or DRILLKIT_BACKUP_STORE (a directory or s3://bucket/prefix)"
        )
    endpoint = _setting(None, configuration, "backup_store_endpoint", "DRILLKIT_S3_ENDPOINT")
    return open_store(expand(url, what="backup store"), endpoint_url=endpoint)


def expand(value: str, *, what: str) -> str:
    """``~`` and ``$VARIABLE``s expanded; ``InvalidInput`` naming a variable that is not set."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    unset = re.search(r"\$\{?(\w+)", expanded)
    if unset is not None:
        raise InvalidInput(f"{what} {value!r}: the environment variable {unset[1]} is not set")
    return expanded


def resolve_restore_target(
    kubeconfig: str | None,
    context: str | None,
    configuration: Mapping[str, Any] | None,
) -> ClusterAddress:
    """The cluster a restore writes into."""
    lab = _setting(None, configuration, "restore_lab", "DRILLKIT_RESTORE_LAB")
    path = _setting(kubeconfig, configuration, "restore_kubeconfig", "DRILLKIT_RESTORE_KUBECONFIG")
    chosen = _setting(context, configuration, "restore_context", "DRILLKIT_RESTORE_CONTEXT")
    if path is None and lab is not None:
        opened = Lab.open(lab)
        return ClusterAddress(
            kubeconfig=str(opened.kubeconfig), context=chosen or opened.runner_context
        )
    if path is None:
        raise InvalidInput(
            "no restore target: pass kubeconfig, set the configuration's restore_kubeconfig "
            "(or restore_lab) or DRILLKIT_RESTORE_KUBECONFIG"
        )
    return ClusterAddress(kubeconfig=expand(path, what="restore kubeconfig"), context=chosen)


def source_address() -> ClusterAddress:
    """The cluster the drill runs against, as Chaos Toolkit activities find it."""
    return ClusterAddress(
        kubeconfig=os.environ.get("KUBECONFIG") or None,
        context=os.environ.get("KUBERNETES_CONTEXT") or None,
    )

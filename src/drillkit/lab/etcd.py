"""A lab's etcd as an etcd target: its members, the local executor, its snapshot directory.

Experiments against a real control plane declare their etcd in their configuration;
``drillkit.restoring.etcd.resolve_target`` falls back to this for a drill lab.
"""

from __future__ import annotations

import sys
from pathlib import Path

from drillkit.lab import build
from drillkit.lab.cluster import Lab
from drillkit.model.procedure import EtcdMemberSpec, EtcdTargetSpec, LocalExecutorSpec


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

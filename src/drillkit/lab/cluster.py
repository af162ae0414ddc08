"""One lab: a real control plane and kwok-simulated nodes on loopback, in one directory.

``Lab`` owns everything under ``<labs root>/<name>/``::

    lab.json            shape and ports, fixed when the lab is first created
    pki/                CA, serving and client certificates, service-account keys
    kubeconfig.yaml     contexts <name>-admin and <name>-runner (current)
    kubeconfigs/        one kubeconfig per component identity
    etcd/               etcd's data directory (member etcd-0; etcd-1/, etcd-2/ with three)
    logs/, pids/        one log and one pid file per component

Components start in dependency order (etcd, kube-apiserver, controllers,
scheduler, one kwok per zone) and each is waited on before the next. Every
component binds to 127.0.0.1 only. Drills use ``Lab.component(name)`` to stop,
kill or restart a single component, e.g. one zone's kwok for an abrupt outage.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import socket
import string
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import TypeAdapter

from drillkit.drivers.kubernetes import (
    REGION_LABEL,
    ZONE_LABEL,
    Cluster,
    ClusterIdentity,
    NodeSpec,
    NodeState,
)
from drillkit.errors import InvalidInput, LabError
from drillkit.lab import access, build, node
from drillkit.lab.directories import LAB_FILE_NAME, lab_names, labs_root
from drillkit.lab.node import RealNode
from drillkit.lab.pki import ensure_pki, write_kubeconfig
from drillkit.lab.processes import Component, HealthCheck, tail
from drillkit.lab.resources import deploy_dir, kwok_stages_dir, seed_manifests_dir
from drillkit.model.records import read_record
from drillkit.model.timeline import format_utc
from drillkit.processes import resident_memory
from drillkit.waiting import poll_until

Progress = Callable[[str], None]

SERVICE_CIDR = "10.96.0.0/16"
# Heartbeats: kwok renews each node's Lease every quarter of its duration (5 s);
# the node-lifecycle controller checks every 2 s and declares a node Unknown
# after 20 s without a renewal, instead of Kubernetes' default 40 s.
NODE_LEASE_SECONDS = 20
NODE_MONITOR_PERIOD = "2s"
NODE_MONITOR_GRACE_PERIOD = "20s"
NODE_CAPACITY = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
# Client-side rate limits of the controllers and the scheduler. Their defaults (20 and
# 50 requests/s) make a 1,000-node lab take minutes to create or move thousands of
# pods; the API server, not the client, should set the pace.
CONTROL_PLANE_API_QPS = 500
CONTROL_PLANE_API_BURST = 1000
SEED_REPLICAS = 6
# Each seed pod requests 500m of a node's 4 CPUs (lab/seed/shop.yaml): 8 fit on a node.
SEED_PODS_PER_NODE = 8
SEED_WAIT_SECONDS = 180.0
KWOK_START_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True)
class LabShape:
    """How a lab was asked to look; fixed when the lab is created."""

    name: str
    region: str
    zones: int = 3
    nodes_per_zone: int = 2
    etcd_members: int = 1
    seed: bool = True
    """Whether ``up`` applies the seed workload (namespace shop); a standby region for
    restores starts without it."""
    seed_replicas: int = SEED_REPLICAS
    """Replicas of the seed's shop/web; its PodDisruptionBudget keeps two thirds available."""
    real_nodes: int = 0
    """Real nodes (kubelet, containerd, runc on this machine) beside the kwok nodes; at
    most ``MAX_REAL_NODES``. With the seed, one runs deployment shop/web-real."""

    def zone_names(self) -> list[str]:
        return [f"zone-{letter}" for letter in string.ascii_lowercase[: self.zones]]


ETCD_MEMBER_COUNTS = (1, 3, 5)
# A real node is named after this machine, whose host name resolves to loopback: one a lab.
MAX_REAL_NODES = 1


@dataclass(frozen=True, kw_only=True)
class EtcdMember:
    """One member of the lab's etcd cluster: what a restore procedure needs to know."""

    name: str
    """The member name (``--name``): etcd-0, etcd-1, ..."""
    component: str
    """The lab component that runs it: ``etcd`` for etcd-0, else the member name."""
    data_dir: Path
    client_url: str
    peer_url: str

    @staticmethod
    def port_names(index: int) -> tuple[str, str]:
        prefix = "etcd" if index == 0 else f"etcd-{index}"
        return f"{prefix}-client", f"{prefix}-peer"


@dataclass(frozen=True, kw_only=True)
class LabConfig:
    """What ``lab.json`` holds: the shape plus the ports chosen at creation."""

    shape: LabShape
    ports: dict[str, int] = field(default_factory=dict)


_LAB_CONFIG: Final = TypeAdapter(LabConfig)


@dataclass(frozen=True, kw_only=True)
class ComponentStatus:
    name: str
    pid: int | None
    ready: bool
    ports: tuple[int, ...]
    resident_bytes: int | None
    """The process's memory resident in RAM; None when it is not running."""


@dataclass(frozen=True, kw_only=True)
class LabStatus:
    name: str
    directory: Path
    kubeconfig: Path
    api_server: str
    components: tuple[ComponentStatus, ...]
    nodes: tuple[NodeState, ...]

    @property
    def running(self) -> bool:
        return all(c.pid is not None for c in self.components)

    @property
    def stopped(self) -> bool:
        return all(c.pid is None for c in self.components)

    @property
    def real_nodes(self) -> tuple[NodeState, ...]:
        return tuple(n for n in self.nodes if n.labels.get(node.REAL_NODE_LABEL) == "true")

    def nodes_per_zone(self) -> dict[str, tuple[int, int]]:
        """zone -> (ready nodes, nodes), of the kwok nodes."""
        counts: dict[str, tuple[int, int]] = {}
        real = {each.name for each in self.real_nodes}
        for each in self.nodes:
            if each.name in real:
                continue
            ready, total = counts.get(each.zone or "-", (0, 0))
            counts[each.zone or "-"] = (ready + each.ready, total + 1)
        return dict(sorted(counts.items()))


class Lab:
    """A named lab on this machine. Create with ``Lab.create``, reopen with ``Lab.open``."""

    def __init__(self, directory: Path, config: LabConfig) -> None:
        self.directory = directory
        self.config = config
        self.shape = config.shape

    # -- lifecycle of the lab directory -------------------------------------------------

    @classmethod
    def open(cls, name: str) -> Lab:
        """Open an existing lab; raise InvalidInput when there is none by that name."""
        directory = labs_root() / name
        try:
            raw = json.loads((directory / LAB_FILE_NAME).read_text())
        except FileNotFoundError:
            raise InvalidInput(
                f"there is no lab named {name!r}; start one with: drill lab up --name {name}"
            ) from None
        return cls(directory, read_record(_LAB_CONFIG, raw))

    @classmethod
    def create(cls, shape: LabShape) -> Lab:
        """Open the lab of this name, creating its directory and ports on first use."""
        _ensure_valid_name(shape.name)
        if shape.zones < 1 or shape.zones > 26 or shape.nodes_per_zone < 1:
            raise InvalidInput("a lab needs 1 to 26 zones and at least one node per zone")
        if not 0 <= shape.real_nodes <= MAX_REAL_NODES:
            raise InvalidInput(
                f"a lab runs at most {MAX_REAL_NODES} real node (it is named after this "
                f"machine), not {shape.real_nodes}"
            )
        seed_capacity = shape.zones * shape.nodes_per_zone * SEED_PODS_PER_NODE
        if not 1 <= shape.seed_replicas <= seed_capacity:
            raise InvalidInput(
                f"the seed's shop/web needs 1 to {seed_capacity} replicas on "
                f"{shape.zones} zones x {shape.nodes_per_zone} nodes ({SEED_PODS_PER_NODE} "
                f"fit on a node), not {shape.seed_replicas}"
            )
        if shape.etcd_members not in ETCD_MEMBER_COUNTS:
            raise InvalidInput(
                f"a lab runs {', '.join(map(str, ETCD_MEMBER_COUNTS))} etcd members, "
                f"not {shape.etcd_members}"
            )
        if (labs_root() / shape.name / LAB_FILE_NAME).exists():
            lab = cls.open(shape.name)
            if lab.shape != shape:
                raise InvalidInput(
                    f"lab {shape.name!r} exists with {lab.shape.zones} zones x "
                    f"{lab.shape.nodes_per_zone} nodes in region {lab.shape.region}; "
                    f"with {lab.shape.etcd_members} etcd member(s)"
                    f"{'' if lab.shape.seed else ', without the seed workload'}"
                    f"{', with a real node' if lab.shape.real_nodes else ''}; "
                    f"remove it first with: drill lab down --name {shape.name} --purge"
                )
            return lab
        directory = labs_root() / shape.name
        directory.mkdir(parents=True, exist_ok=True)
        names = [p for i in range(shape.etcd_members) for p in EtcdMember.port_names(i)]
        names += ["kube-apiserver", "kube-controller-manager"]
        names += ["kube-scheduler", *(f"kwok-{zone}" for zone in shape.zone_names())]
        if shape.real_nodes:
            names += node.PORT_NAMES
        config = LabConfig(
            shape=shape, ports=dict(zip(names, _free_ports(len(names)), strict=True))
        )
        document = _LAB_CONFIG.dump_python(config, mode="json")
        (directory / LAB_FILE_NAME).write_text(json.dumps(document, indent=2) + "\n")
        return cls(directory, config)

    @staticmethod
    def names() -> list[str]:
        """Names of every lab that has a directory on this machine."""
        return lab_names()

    # -- paths and endpoints ------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig.yaml"

    @property
    def api_server_url(self) -> str:
        return f"https://127.0.0.1:{self.config.ports['kube-apiserver']}"

    @property
    def ca_file(self) -> Path:
        """The CA every kubeconfig of this lab trusts; minted when the lab was first started."""
        return self.directory / "pki" / "ca.crt"

    def is_reached_by(self, identity: ClusterIdentity) -> bool:
        """Whether a connection with ``identity`` reaches this lab: its API server URL and
        its own CA (a lab recreated on the same port has a new CA)."""
        if identity.server.rstrip("/") != self.api_server_url or identity.ca_sha256 is None:
            return False
        try:
            ca = self.ca_file.read_bytes()
        except FileNotFoundError:
            return False
        return hashlib.sha256(ca).hexdigest() == identity.ca_sha256

    @property
    def admin_context(self) -> str:
        return f"{self.shape.name}-admin"

    @property
    def runner_context(self) -> str:
        return f"{self.shape.name}-runner"

    def etcd_members(self) -> list[EtcdMember]:
        """The etcd members, etcd-0 first."""
        members = []
        for index in range(self.shape.etcd_members):
            client, peer = (self.config.ports[p] for p in EtcdMember.port_names(index))
            component = "etcd" if index == 0 else f"etcd-{index}"
            members.append(
                EtcdMember(
                    name=f"etcd-{index}",
                    component=component,
                    data_dir=self.directory / component,
                    client_url=f"http://127.0.0.1:{client}",
                    peer_url=f"http://127.0.0.1:{peer}",
                )
            )
        return members

    def etcd_initial_cluster(self) -> str:
        """``--initial-cluster``: every member's name and peer URL."""
        return ",".join(f"{m.name}={m.peer_url}" for m in self.etcd_members())

    @property
    def real_node(self) -> RealNode | None:
        """The lab's real node, when it was made with one."""
        if not self.shape.real_nodes:
            return None
        return RealNode(
            lab_dir=self.directory, api_server_url=self.api_server_url, ports=self.config.ports
        )

    def connect(self, *, admin: bool = True) -> Cluster:
        """A client for this lab as the admin or as the ``drillkit-runner`` identity."""
        context = self.admin_context if admin else self.runner_context
        return Cluster.connect(self.kubeconfig, context)

    def grant(self, role: str, namespaces: Sequence[str] = ()) -> None:
        """Bind the ClusterRole ``role`` to the lab's ``drillkit-runner`` identity, in
        each of ``namespaces`` or else cluster-wide, as an administrator would
        (``drillkit.lab.access.grant``)."""
        with self.connect() as cluster:
            access.grant(cluster, role, namespaces, lab_name=self.shape.name)

    # -- components ---------------------------------------------------------------------

    def components(self) -> list[Component]:
        """Every component in start order."""
        binaries = build.binaries_dir()
        pki = self.directory / "pki"
        ports = self.config.ports
        lab = self.directory

        def component(
            name: str, argv: list[str], health: HealthCheck, *port_names: str
        ) -> Component:
            return Component(
                name=name,
                argv=argv,
                lab_dir=lab,
                health=health,
                ports=tuple(ports[p] for p in port_names),
            )

        members = self.etcd_members()
        initial_cluster = self.etcd_initial_cluster()
        items = [
            component(
                member.component,
                [
                    str(binaries / "etcd"),
                    f"--name={member.name}",
                    f"--data-dir={member.data_dir}",
                    f"--listen-client-urls={member.client_url}",
                    f"--advertise-client-urls={member.client_url}",
                    f"--listen-peer-urls={member.peer_url}",
                    f"--initial-advertise-peer-urls={member.peer_url}",
                    f"--initial-cluster={initial_cluster}",
                    "--auto-compaction-retention=1",
                    # The lab's data is disposable; fsync would only slow every write.
                    "--unsafe-no-fsync=true",
                ],
                HealthCheck(url=f"{member.client_url}/health"),
                *EtcdMember.port_names(index),
            )
            for index, member in enumerate(members)
        ]
        items += [
            component(
                "kube-apiserver",
                [
                    str(binaries / "kube-apiserver"),
                    f"--etcd-servers={','.join(m.client_url for m in members)}",
                    "--bind-address=127.0.0.1",
                    # Without a default route the API server cannot pick an address itself.
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={ports['kube-apiserver']}",
                    f"--tls-cert-file={pki / 'apiserver.crt'}",
                    f"--tls-private-key-file={pki / 'apiserver.key'}",
                    f"--client-ca-file={pki / 'ca.crt'}",
                    f"--service-account-key-file={pki / 'service-account.pub'}",
                    f"--service-account-signing-key-file={pki / 'service-account.key'}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    "--authorization-mode=Node,RBAC",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--allow-privileged=true",
                    f"--cert-dir={pki}",
                    *self._kubelet_client_arguments(),
                ],
                HealthCheck(
                    url=f"{self.api_server_url}/readyz",
                    ca_file=pki / "ca.crt",
                    client_cert=(pki / "admin.crt", pki / "admin.key"),
                ),
                "kube-apiserver",
            ),
            component(
                "kube-controller-manager",
                [
                    str(binaries / "kube-controller-manager"),
                    f"--kubeconfig={lab / 'kubeconfigs' / 'controller-manager.yaml'}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={ports['kube-controller-manager']}",
                    "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                    f"--root-ca-file={pki / 'ca.crt'}",
                    f"--service-account-private-key-file={pki / 'service-account.key'}",
                    "--use-service-account-credentials=true",
                    # One instance per lab: leader election would only make it exit
                    # when etcd is down during a restore drill.
                    "--leader-elect=false",
                    f"--node-monitor-period={NODE_MONITOR_PERIOD}",
                    f"--node-monitor-grace-period={NODE_MONITOR_GRACE_PERIOD}",
                    f"--kube-api-qps={CONTROL_PLANE_API_QPS}",
                    f"--kube-api-burst={CONTROL_PLANE_API_BURST}",
                ],
                HealthCheck(url=f"https://127.0.0.1:{ports['kube-controller-manager']}/healthz"),
                "kube-controller-manager",
            ),
            component(
                "kube-scheduler",
                [
                    str(binaries / "kube-scheduler"),
                    f"--kubeconfig={lab / 'kubeconfigs' / 'scheduler.yaml'}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={ports['kube-scheduler']}",
                    "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                    "--leader-elect=false",
                    f"--kube-api-qps={CONTROL_PLANE_API_QPS}",
                    f"--kube-api-burst={CONTROL_PLANE_API_BURST}",
                ],
                HealthCheck(url=f"https://127.0.0.1:{ports['kube-scheduler']}/healthz"),
                "kube-scheduler",
            ),
        ]
        for index, zone in enumerate(self.shape.zone_names()):
            port = ports[f"kwok-{zone}"]
            items.append(
                component(
                    f"kwok-{zone}",
                    [
                        str(binaries / "kwok"),
                        f"--kubeconfig={lab / 'kubeconfigs' / 'kwok.yaml'}",
                        f"--config={binaries / build.STAGES_FILE}",
                        *(f"--config={path}" for path in sorted(kwok_stages_dir().glob("*.yaml"))),
                        "--manage-all-nodes=false",
                        f"--manage-nodes-with-label-selector={ZONE_LABEL}={zone}",
                        # Nodes advertise loopback: the API server must never dial elsewhere.
                        "--node-ip=127.0.0.1",
                        "--node-name=localhost",
                        f"--node-port={port}",
                        f"--server-address=127.0.0.1:{port}",
                        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
                        # Pod IPs are data only; distinct ranges per zone keep them unique.
                        f"--cidr=10.244.{index * 16}.0/20",
                    ],
                    HealthCheck(url=f"http://127.0.0.1:{port}/healthz"),
                    f"kwok-{zone}",
                )
            )
        if self.real_node is not None:
            items += self.real_node.components()
        return items

    def _kubelet_client_arguments(self) -> list[str]:
        # The API server's own identity towards a real node's kubelet (logs, exec), and
        # the node's host name as the address to dial: it resolves to loopback.
        if self.real_node is None:
            return []
        pki = self.directory / "pki"
        stem = node.KUBELET_CLIENT.file_stem
        return [
            f"--kubelet-client-certificate={pki / f'{stem}.crt'}",
            f"--kubelet-client-key={pki / f'{stem}.key'}",
            "--kubelet-preferred-address-types=Hostname",
        ]

    def component(self, name: str) -> Component:
        """One component by name: etcd, kube-apiserver, kube-controller-manager,
        kube-scheduler, kwok-<zone>, and with a real node containerd and kubelet."""
        for item in self.components():
            if item.name == name:
                return item
        known = ", ".join(c.name for c in self.components())
        raise InvalidInput(f"lab {self.shape.name!r} has no component {name!r}; it has {known}")

    def zone_component(self, zone: str) -> Component:
        """The kwok that keeps one zone's nodes alive; stopping it is a zone outage."""
        return self.component(f"kwok-{zone}")

    def start_zones(
        self, zones: Sequence[str], cluster: Cluster, progress: Progress = lambda _: None
    ) -> list[str]:
        """Start the zones' kwok (those not running) and wait until every node of those
        zones is Ready; return the names of the kwoks started.

        kwok 0.8 sets its stages up lazily, on the first objects they see, and two
        workers doing so at once can crash it ("concurrent map writes") just after it
        starts. A kwok that dies before its nodes are Ready is started again, up to
        KWOK_START_ATTEMPTS times; after that its log is in the error.
        """
        kwoks = [self.zone_component(zone) for zone in zones]
        started = []
        for item in kwoks:
            if not item.is_running():
                progress(f"starting {item.name}")
                item.start()
                started.append(item.name)
        attempts = dict.fromkeys((k.name for k in kwoks), 1)

        def ready() -> bool:
            for item in kwoks:
                if not item.is_running():
                    if attempts[item.name] >= KWOK_START_ATTEMPTS:
                        raise LabError(
                            f"{item.name} keeps exiting while it starts; last lines of "
                            f"{item.log_file}:\n{tail(item.log_file)}"
                        )
                    attempts[item.name] += 1
                    progress(f"{item.name} exited while starting; starting it again")
                    item.start()
                    return False
            if not all(item.is_ready() for item in kwoks):
                return False
            selector = ",".join(zones)
            nodes = cluster.nodes(f"{ZONE_LABEL} in ({selector})")
            return bool(nodes) and all(n.ready for n in nodes)

        began = time.monotonic()
        cluster.wait_for(f"the nodes of {', '.join(zones)} to be Ready", ready, timeout=120)
        count = self.shape.nodes_per_zone * len(zones)
        progress(f"{count} nodes Ready {time.monotonic() - began:.1f} s after their kwok started")
        return started

    # -- up, down, status ---------------------------------------------------------------

    def up(self, progress: Progress) -> bool:
        """Start the lab and wait until every node is Ready and the seed is available.

        Returns False when it was already running (nothing was done).
        """
        components = self.components()
        if all(c.is_running() for c in components) and all(c.is_ready() for c in components):
            return False
        if any(c.is_running() for c in components):
            progress("some components are not running; restarting the lab cleanly")
            self.down(progress)
        build.ensure_binaries(progress)
        ensure_pki(self.directory / "pki", lab_name=self.shape.name)
        real_node = self.real_node
        if real_node is not None:
            real_node.prepare(progress)
        self._write_kubeconfigs()
        for item in components:
            ensure_ports_free(item)
        by_name = {c.name: c for c in components}
        members = [by_name[m.component] for m in self.etcd_members()]
        # Members start together: each waits for a quorum before it reports healthy.
        for item in members:
            progress(f"starting {item.name}")
            item.start()
        for item in members:
            item.wait_ready()
        self._start(by_name["kube-apiserver"], progress)
        with self.connect() as cluster:
            progress("applying RBAC and admission policies from deploy/")
            access.install(cluster, load_manifests(deploy_dir()))
            # Nodes exist with their capacity before kwok starts, so kwok keeps
            # that capacity instead of filling in its own defaults.
            progress(
                f"registering {self.shape.zones * self.shape.nodes_per_zone} nodes "
                f"in zones {', '.join(self.shape.zone_names())}"
            )
            for spec in self.node_specs():
                cluster.register_node(spec)
            for name in ("kube-controller-manager", "kube-scheduler"):
                self._start(by_name[name], progress)
            self.start_zones(self.shape.zone_names(), cluster, progress)
            if real_node is not None:
                self._start_real_node(real_node, cluster, progress)
            if self.shape.seed:
                progress(
                    f"applying the seed workload (namespace shop, "
                    f"{self.shape.seed_replicas} replicas of web)"
                )
                cluster.apply(seed_manifests(self.shape.seed_replicas))
                self._wait_available(cluster, "web")
                if real_node is not None:
                    progress(f"applying deployment shop/{node.WEB_NAME} on the real node")
                    cluster.apply(real_node.web_manifests())
                    self._wait_available(cluster, node.WEB_NAME)
        return True

    def _wait_available(self, cluster: Cluster, name: str) -> None:
        cluster.wait_for(
            f"deployment shop/{name} to be available",
            lambda: _all_ready(cluster.deployment_ready_replicas("shop", name)),
            timeout=self._seed_wait_seconds(),
        )

    def _seed_wait_seconds(self) -> float:
        # The lab made 3,000 pods ready in 40 s (75/s) on 2 cores; 20/s leaves room for
        # a loaded machine and for a topology spread over hundreds of nodes.
        return SEED_WAIT_SECONDS + self.shape.seed_replicas / 20

    def _start_real_node(self, real_node: RealNode, cluster: Cluster, progress: Progress) -> None:
        containerd, kubelet = real_node.components()
        self._start(containerd, progress)
        progress(f"loading the lab's image {node.LAB_IMAGE} into containerd")
        real_node.load_lab_image()
        self._start(kubelet, progress)
        cluster.wait_for(
            f"real node {real_node.name} to be Ready",
            lambda: any(n.ready for n in cluster.nodes(f"{node.REAL_NODE_LABEL}=true")) or None,
            timeout=120,
        )

    def reset(self, progress: Progress) -> None:
        """Spread the seed workload over every zone again, as it was when the lab started.

        Nothing moves pods back into a zone a drill drained or took down, so the next
        fault on that zone would land on no target; restarting shop/web lets the
        scheduler place every replica afresh under its zone spread constraint.
        """
        if not self.shape.seed:
            raise InvalidInput(f"lab {self.shape.name} has no seed workload to reset")
        with self.connect() as cluster:
            progress("restarting deployment shop/web so its pods spread over every zone")
            cluster.restart_deployment("shop", "web", at=format_utc(datetime.now(UTC)))
            cluster.wait_for(
                "deployment shop/web to be rolled out",
                lambda: cluster.deployment_rolled_out("shop", "web") or None,
                timeout=self._seed_wait_seconds(),
            )

    def down(self, progress: Progress, *, on_signalled: Callable[[], None] = lambda: None) -> None:
        """Stop every component (newest first) and wait until their ports are free;
        ``on_signalled`` runs each time a running component was signalled to stop."""
        for item in reversed(self.components()):
            if item.is_running():
                progress(f"stopping {item.name}")
                item.stop(on_signalled=on_signalled)
            else:
                item.stop()
        if self.real_node is not None:
            progress("removing the real node's containers, mounts, cgroups and files")
            self.real_node.remove(progress)
        for item in self.components():
            ensure_ports_free(item, wait=30.0)

    def purge(self) -> None:
        """Delete the lab's directory; the lab must be stopped."""
        shutil.rmtree(self.directory)

    def status(self) -> LabStatus:
        components = self.components()
        statuses = []
        for item in components:
            pid = item.pid()
            statuses.append(
                ComponentStatus(
                    name=item.name,
                    pid=pid,
                    ready=item.is_ready(),
                    ports=tuple(item.ports),
                    resident_bytes=resident_memory(pid) if pid is not None else None,
                )
            )
        nodes: tuple[NodeState, ...] = ()
        if any(s.name == "kube-apiserver" and s.ready for s in statuses):
            with self.connect() as cluster:
                nodes = tuple(cluster.nodes())
        return LabStatus(
            name=self.shape.name,
            directory=self.directory,
            kubeconfig=self.kubeconfig,
            api_server=self.api_server_url,
            components=tuple(statuses),
            nodes=nodes,
        )

    def node_specs(self) -> list[NodeSpec]:
        specs = []
        for zone in self.shape.zone_names():
            for number in range(1, self.shape.nodes_per_zone + 1):
                name = f"node-{zone.removeprefix('zone-')}-{number}"
                specs.append(
                    NodeSpec(
                        name=name,
                        labels={
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "node.kubernetes.io/instance-type": "kwok-4cpu-16gi",
                            ZONE_LABEL: zone,
                            REGION_LABEL: self.shape.region,
                            "type": "kwok",
                        },
                        annotations={"kwok.x-k8s.io/node": "fake"},
                        capacity=NODE_CAPACITY,
                    )
                )
        return specs

    # -- internals ----------------------------------------------------------------------

    def _start(self, item: Component, progress: Progress) -> None:
        progress(f"starting {item.name}")
        item.start()
        item.wait_ready()

    def _write_kubeconfigs(self) -> None:
        pki = self.directory / "pki"
        name = self.shape.name
        users = {f"{name}-admin": "admin", f"{name}-runner": "runner"}
        write_kubeconfig(self.kubeconfig, self.api_server_url, pki, users, current=f"{name}-runner")
        directory = self.directory / "kubeconfigs"
        directory.mkdir(exist_ok=True)
        for stem in ("controller-manager", "scheduler", "kwok"):
            write_kubeconfig(
                directory / f"{stem}.yaml", self.api_server_url, pki, {stem: stem}, current=stem
            )


def find_lab(identity: ClusterIdentity) -> Lab | None:
    """The lab on this machine (in the state home) that ``identity`` reaches, if any."""
    for name in Lab.names():
        lab = Lab.open(name)
        if lab.is_reached_by(identity):
            return lab
    return None


def lab_reached_by(
    identity: ClusterIdentity,
    *,
    named: str | None = None,
    role: str = "the cluster the run measures",
) -> Lab:
    """The lab a lab fault acts on: the one the run's kubeconfig reaches.

    ``named`` (a fault's ``lab`` argument or the experiment's ``lab``) must be that
    lab: a fault never acts on a lab other than the cluster it was meant for
    (``role``). ``InvalidInput`` naming both otherwise.
    """
    found = find_lab(identity)
    if found is None:
        raise InvalidInput(
            f"the cluster at {identity.server} is not a drill lab on this machine "
            f"(no lab in {labs_root()} has that API server and CA); a lab fault needs one"
        )
    if named and named != found.shape.name:
        raise InvalidInput(
            f"lab {named!r} named by the experiment is not {role}: "
            f"{identity.server} is lab {found.shape.name!r}; refusing before any change"
        )
    return found


def seed_manifests(replicas: int) -> list[dict[str, Any]]:
    """The seed workload with ``replicas`` of shop/web, whose PodDisruptionBudget keeps
    two thirds of them available (4 of the default 6)."""
    manifests = load_manifests(seed_manifests_dir())
    for manifest in manifests:
        if manifest["kind"] == "Deployment" and manifest["metadata"]["name"] == "web":
            manifest["spec"]["replicas"] = replicas
        if manifest["kind"] == "PodDisruptionBudget" and manifest["metadata"]["name"] == "web":
            manifest["spec"]["minAvailable"] = replicas - max(1, replicas // 3)
    return manifests


def load_manifests(directory: Path, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every YAML document in the files ``names`` of a directory, in that order (default:
    its ``*.yaml`` files, in file-name order)."""
    # A kustomization.yaml (deploy/'s, for kubectl apply -k) describes manifests, it is none.
    paths = [directory / name for name in names] or sorted(
        path for path in directory.glob("*.yaml") if path.name != "kustomization.yaml"
    )
    manifests: list[dict[str, Any]] = []
    for path in paths:
        manifests += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return manifests


def ensure_ports_free(item: Component, *, wait: float = 0.0) -> None:
    """Raise LabError naming the port when something else listens on a component's port."""
    deadline = time.monotonic() + wait
    for port in item.ports:
        freed = poll_until(
            functools.partial(_is_free, port),
            timeout=max(0.0, deadline - time.monotonic()),
            interval=0.2,
        )
        if freed is None:
            raise LabError(
                f"port 127.0.0.1:{port} needed by {item.name} is in use by another process"
            )


def _is_free(port: int) -> bool:
    return not _is_listening(port)


def _is_listening(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_ports(count: int) -> list[int]:
    # Hold every socket open until all are chosen, so no port is handed out twice.
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _ensure_valid_name(name: str) -> None:
    allowed = set(string.ascii_lowercase + string.digits + "-")
    if not name or not set(name) <= allowed or name.startswith("-"):
        raise InvalidInput(
            f"invalid lab name {name!r}: use lowercase letters, digits and dashes (e.g. region-a)"
        )


def _all_ready(counts: tuple[int, int]) -> bool | None:
    ready, desired = counts
    return (desired > 0 and ready >= desired) or None

"""A real node in a lab: kubelet, containerd and runc on this machine, joined to the lab.

kwok nodes run no containers, so a lab RTO is otherwise control-plane reaction time
only. A lab made with ``real_nodes=1`` also runs a kubelet whose pods are real
containers (containerd v2 with Debian's runc), so a drill against the workload on it
measures real container start and readiness.

Everything of the node lives in ``<lab>/node/`` (configuration, containerd's images,
the kubelet's pods and volumes, pod logs, CNI state) and, for the unix sockets, whose
paths must stay short, in ``/run/drillkit/<lab digest>/``; the kubelet's pod cgroups are
under a cgroup of the lab's own, ``/drillkit-<lab digest>``, never the machine's
``/kubepods``. ``RealNode.remove`` takes all of it away again: the pods' processes and
containerd's shims by PID, every mount below those directories, the lab's cgroup trees,
the CNI bridge, and the files.

What a host of this kind needs, and why (see the kubelet and containerd settings):
cgroups v1 (``failCgroupV1: false``, ``cgroupDriver: cgroupfs``), no CAP_SYS_RESOURCE
(``restrict_oom_score_adj``), no registry (the sandbox image is the lab's own,
``LAB_IMAGE``, and pods use ``imagePullPolicy: Never``), and loopback only: the kubelet
listens on 127.0.0.1, pods use the host network or a bridge with no gateway, and the
node is named after this machine's host name, which resolves to 127.0.0.1, so the API
server reaches the kubelet on loopback.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drillkit.errors import LabError
from drillkit.lab import build, images
from drillkit.lab.pki import ClientIdentity, issue_client, write_kubeconfig
from drillkit.lab.processes import Component, HealthCheck
from drillkit.processes import process_is_alive
from drillkit.waiting import poll_until

Progress = Callable[[str], None]

REAL_NODE_LABEL = "drillkit.io/real-node"
# Real nodes repel every pod that does not tolerate this, so the kwok seed stays where it is.
REAL_NODE_TAINT = {"key": REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"}
LAB_IMAGE = "drillkit.local/labserve:lab"
KUBELET_CLIENT = ClientIdentity(
    file_stem="kubelet-client", user="kube-apiserver-kubelet-client", groups=("system:masters",)
)
NODE_LEASE_SECONDS = 20
# Debian's containernetworking-plugins and runc (scripts/test installs both).
CNI_BIN_DIR = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The seed workload of real nodes: one web server in a real container.
WEB_NAMESPACE = "shop"
WEB_NAME = "web-real"
PORT_NAMES = ("kubelet", "kubelet-healthz", "containerd-metrics", WEB_NAME)

_MNT_DETACH = 2
# How long a cgroup may stay busy after its processes were killed, before removal gives up.
CGROUP_RELEASE_SECONDS = 15.0


@dataclass(frozen=True, kw_only=True)
class RealNode:
    """The real node of one lab (a lab runs at most one: it is named after this machine)."""

    lab_dir: Path
    api_server_url: str
    ports: dict[str, int]

    @property
    def name(self) -> str:
        """This machine's host name, which resolves to loopback (checked in ``prepare``)."""
        return socket.gethostname().lower()

    @property
    def directory(self) -> Path:
        return self.lab_dir / "node"

    @property
    def run_dir(self) -> Path:
        """containerd's state and sockets, under /run: a unix socket path has 107 bytes."""
        return Path("/run/drillkit") / self.digest

    @property
    def socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def digest(self) -> str:
        """Names what the node makes outside the lab's directory."""
        return hashlib.sha256(str(self.lab_dir).encode()).hexdigest()[:12]

    @property
    def bridge(self) -> str:
        """The CNI bridge's interface name (at most 15 characters)."""
        return f"dk{self.digest[:8]}"

    @property
    def cgroup_name(self) -> str:
        """The kubelet's cgroup root, in every hierarchy: ``kubepods`` goes below it."""
        return f"drillkit-{self.digest}"

    @property
    def web_address(self) -> str:
        return f"127.0.0.1:{self.ports[WEB_NAME]}"

    # -- components ---------------------------------------------------------------------

    def components(self) -> list[Component]:
        """containerd, then the kubelet."""
        binaries = build.binaries_dir(build.REAL_NODE)
        node = self.directory
        return [
            Component(
                name="containerd",
                argv=[str(binaries / "containerd"), f"--config={node / 'containerd.toml'}"],
                lab_dir=self.lab_dir,
                health=HealthCheck(
                    url=f"http://127.0.0.1:{self.ports['containerd-metrics']}/v1/metrics"
                ),
                ports=(self.ports["containerd-metrics"],),
                # containerd finds its runc shim on PATH.
                environment={"PATH": f"{binaries}:{os.environ.get('PATH', '/usr/bin:/bin')}"},
            ),
            Component(
                name="kubelet",
                argv=[
                    str(binaries / "kubelet"),
                    f"--config={node / 'kubelet.yaml'}",
                    f"--kubeconfig={node / 'kubelet.kubeconfig'}",
                    f"--hostname-override={self.name}",
                    f"--node-labels={REAL_NODE_LABEL}=true,type=real",
                    f"--root-dir={node / 'kubelet'}",
                    f"--cert-dir={node / 'kubelet-pki'}",
                ],
                lab_dir=self.lab_dir,
                health=HealthCheck(url=f"http://127.0.0.1:{self.ports['kubelet-healthz']}/healthz"),
                ports=(self.ports["kubelet"], self.ports["kubelet-healthz"]),
            ),
        ]

    # -- set-up -------------------------------------------------------------------------

    def prepare(self, progress: Progress) -> None:
        """Build (or find) the node's binaries and write its configuration and certificates."""
        _check_host(self.name)
        binaries = build.ensure_binaries(progress, build.REAL_NODE)
        pki = self.lab_dir / "pki"
        issue_client(pki, self.identity)
        issue_client(pki, KUBELET_CLIENT)
        for path in (self.directory, self.run_dir, self.directory / "cni" / "net.d"):
            path.mkdir(parents=True, exist_ok=True)
        (self.directory / "containerd.toml").write_text(self._containerd_config())
        (self.directory / "cni" / "net.d" / "10-lab.conflist").write_text(
            json.dumps(self._cni_config(), indent=2) + "\n"
        )
        # The kubelet wants its cgroup root to exist; it makes kubepods below it.
        for hierarchy in _cgroup_hierarchies():
            _make_cgroup(hierarchy / self.cgroup_name)
        (self.directory / "kubelet.yaml").write_text(
            yaml.safe_dump(self._kubelet_config(), sort_keys=False)
        )
        write_kubeconfig(
            self.directory / "kubelet.kubeconfig",
            self.api_server_url,
            pki,
            {"node": self.identity.file_stem},
            current="node",
        )
        self._lab_image_archive(binaries)

    @property
    def identity(self) -> ClientIdentity:
        """The kubelet's identity: what the Node authorizer and NodeRestriction expect."""
        return ClientIdentity(
            file_stem="node", user=f"system:node:{self.name}", groups=("system:nodes",)
        )

    def load_image(self, archive: Path) -> str:
        """Import an OCI or docker archive into the node's containerd; returns ctr's output."""
        binaries = build.binaries_dir(build.REAL_NODE)
        result = subprocess.run(
            [
                str(binaries / "ctr"),
                f"--address={self.socket}",
                "--namespace=k8s.io",
                "images",
                "import",
                str(archive),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LabError(
                f"could not load {archive} into the real node: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result.stdout.strip()

    def load_lab_image(self) -> None:
        self.load_image(self._lab_image_archive(build.binaries_dir(build.REAL_NODE)))

    def web_manifests(self) -> list[dict[str, Any]]:
        """Deployment shop/web-real: one web server in a real container on the real node,
        ready once it answers HTTP on loopback."""
        host, port = self.web_address.split(":")
        labels = {"app": WEB_NAME}
        probe = {
            "httpGet": {"host": host, "port": int(port), "path": "/healthz"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        }
        return [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": WEB_NAME, "namespace": WEB_NAMESPACE, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            # Host network, listening on loopback only: nothing of this pod
                            # is reachable from, or reaches, beyond this machine.
                            "hostNetwork": True,
                            "dnsPolicy": "Default",
                            "enableServiceLinks": False,
                            "automountServiceAccountToken": False,
                            "nodeSelector": {REAL_NODE_LABEL: "true"},
                            "tolerations": [{**REAL_NODE_TAINT, "operator": "Equal"}],
                            "terminationGracePeriodSeconds": 5,
                            "containers": [
                                {
                                    "name": "web",
                                    "image": LAB_IMAGE,
                                    "imagePullPolicy": "Never",
                                    "args": ["serve", self.web_address],
                                    "readinessProbe": probe,
                                    "resources": {
                                        "requests": {"cpu": "10m", "memory": "16Mi"},
                                        "limits": {"memory": "64Mi"},
                                    },
                                    "securityContext": {
                                        "runAsUser": 65532,
                                        "runAsNonRoot": True,
                                        "readOnlyRootFilesystem": True,
                                        "allowPrivilegeEscalation": False,
                                    },
                                }
                            ],
                        },
                    },
                },
            }
        ]

    # -- removal ------------------------------------------------------------------------

    def remove(self, progress: Progress) -> None:
        """Take away everything the node made: run after kubelet and containerd stopped
        (``Lab.down`` stops them first). Safe to run when there is nothing to remove."""
        killed = self._kill_pods()
        if killed:
            progress(f"ended {killed} container and shim processes of the real node")
        for mount in _mounts_below((self.directory, self.run_dir)):
            _unmount(mount)
        if Path("/sys/class/net", self.bridge).exists():
            subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # shared by the labs of this machine while in use
            self.run_dir.parent.rmdir()
        shutil.rmtree(self.directory, ignore_errors=True)
        # Last: the one step that may have to wait, and that raises when it cannot finish.
        for hierarchy in _cgroup_hierarchies():
            _remove_cgroup_tree(hierarchy / self.cgroup_name)

    def _kill_pods(self) -> int:
        """SIGKILL every process in the node's pod cgroups and every shim of its containerd."""
        pids: set[int] = set()
        for hierarchy in _cgroup_hierarchies():
            tree = hierarchy / self.cgroup_name
            if tree.is_dir():
                for procs in tree.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError):
                        pids.update(int(line) for line in procs.read_text().split())
        address = str(self.socket).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    command = (entry / "cmdline").read_bytes().split(b"\0")
                    if b"containerd-shim-runc-v2" in command[0] and address in command:
                        pids.add(int(entry.name))
        pids.discard(os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        poll_until(
            lambda: not any(process_is_alive(pid, None) for pid in pids),
            timeout=15.0,
            interval=0.05,
        )
        return len(pids)

    # -- configuration ------------------------------------------------------------------

    def _containerd_config(self) -> str:
        runc = shutil.which("runc") or "/usr/sbin/runc"
        state = self.run_dir / "state"
        cri_runtime = "plugins.'io.containerd.cri.v1.runtime'"
        lines = [
            "version = 3",
            f"root = {_toml(self.directory / 'containerd')}",
            f"state = {_toml(state)}",
            "imports = []",
            # NRI would listen on /var/run/nri; the lab has no use for it.
            "disabled_plugins = ['io.containerd.nri.v1.nri']",
            "[grpc]",
            f"  address = {_toml(self.socket)}",
            "[metrics]",
            f"  address = '127.0.0.1:{self.ports['containerd-metrics']}'",
            "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
            f"  sandbox = {_toml(LAB_IMAGE)}",
            f"[{cri_runtime}]",
            # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj below containerd's.
            "  restrict_oom_score_adj = true",
            "  netns_mounts_under_state_dir = true",
            "  enable_cdi = false",
            f"[{cri_runtime}.containerd.runtimes.runc.options]",
            f"  BinaryName = {_toml(runc)}",
            f"  Root = {_toml(state / 'runc')}",
            "  SystemdCgroup = false",
            f"[{cri_runtime}.cni]",
            f"  bin_dirs = [{_toml(CNI_BIN_DIR)}]",
            f"  conf_dir = {_toml(self.directory / 'cni' / 'net.d')}",
            "[plugins.'io.containerd.grpc.v1.cri']",
            "  stream_server_address = '127.0.0.1'",
            "[plugins.'io.containerd.internal.v1.opt']",
            f"  path = {_toml(self.directory / 'opt')}",
        ]
        return "\n".join(lines) + "\n"

    def _cni_config(self) -> dict[str, Any]:
        # A bridge with no gateway and no masquerading: pods not on the host network
        # have an address on this machine only, and no route anywhere.
        return {
            "cniVersion": "1.0.0",
            "name": "drillkit-lab",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": False,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": "10.89.0.0/24"}]],
                        "dataDir": str(self.directory / "cni" / "ipam"),
                    },
                }
            ],
        }

    def _kubelet_config(self) -> dict[str, Any]:
        pki = self.lab_dir / "pki"
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": self.ports["kubelet"],
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.ports["kubelet-healthz"],
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup_name}",
            # This machine has cgroups v1 (hybrid) and no swap accounting to speak of.
            "failCgroupV1": False,
            "failSwapOn": False,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "registerWithTaints": [REAL_NODE_TAINT],
            "nodeLeaseDurationSeconds": NODE_LEASE_SECONDS,
            "podLogsDir": str(self.directory / "pod-logs"),
            "serializeImagePulls": False,
            # Images cannot be pulled again here: never collect them, never evict for disk.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%"},
        }

    def _lab_image_archive(self, binaries: Path) -> Path:
        archive = binaries.parent / "labserve.oci.tar"
        if not archive.exists():
            images.write_archive(
                archive,
                name=LAB_IMAGE,
                files={"labserve": binaries / "labserve"},
                entrypoint=["/labserve"],
            )
        return archive


def _check_host(name: str) -> None:
    # The API server dials the kubelet at the node's host name; it must stay on loopback.
    try:
        address = socket.gethostbyname(name)
    except OSError as error:
        raise LabError(f"this machine's host name {name!r} does not resolve: {error}") from None
    if not address.startswith("127."):
        raise LabError(
            f"this machine's host name {name!r} resolves to {address}, not to loopback; a real "
            f"node is named after it and the API server must reach the kubelet on 127.0.0.1 "
            f"(add '127.0.1.1 {name}' to /etc/hosts)"
        )
    if not CNI_BIN_DIR.is_dir() or shutil.which("runc") is None:
        raise LabError(
            "a real node needs Debian's runc and containernetworking-plugins: "
            "apt-get install runc containernetworking-plugins"
        )


def _toml(value: object) -> str:
    # TOML basic strings share JSON's escapes.
    return json.dumps(str(value))


def _cgroup_hierarchies() -> list[Path]:
    """Each mounted cgroup v1 hierarchy (and the v2 one, if any) under /sys/fs/cgroup."""
    if not CGROUP_ROOT.is_dir():
        return []
    return [path for path in CGROUP_ROOT.iterdir() if path.is_dir() and not path.is_symlink()]


def _make_cgroup(path: Path) -> None:
    path.mkdir(exist_ok=True)
    # A new cpuset cgroup has no CPUs and no memory nodes until given its parent's.
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = path / name
        if mine.exists() and not mine.read_text().strip():
            mine.write_text((path.parent / name).read_text())


def _remove_cgroup_tree(tree: Path) -> None:
    """Remove a cgroup and those below it, deepest first. A cgroup whose processes were
    just killed refuses rmdir (EBUSY) until the kernel has let go of them, so this tries
    again until the tree is gone or a deadline passes; a tree still busy then is named."""

    def removed() -> bool:
        if not tree.is_dir():
            return True
        directories = sorted(
            (path for path in tree.rglob("*") if path.is_dir()), key=lambda p: -len(p.parts)
        )
        for directory in [*directories, tree]:
            with contextlib.suppress(OSError):
                directory.rmdir()
        return not tree.is_dir()

    if poll_until(removed, timeout=CGROUP_RELEASE_SECONDS, interval=0.05) is None:
        raise LabError(
            f"cgroup {tree} is still busy {CGROUP_RELEASE_SECONDS:.0f} s after its "
            "processes were killed; remove it with rmdir once they have ended"
        )


def _mounts_below(roots: tuple[Path, ...]) -> list[Path]:
    """Mount points at or below any of ``roots``, deepest first."""
    prefixes = [str(root.resolve()) for root in roots if root.exists()]
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == prefix or point.startswith(prefix + "/") for prefix in prefixes):
            mounts.append(Path(point))
    return sorted(set(mounts), key=lambda p: -len(p.parts))


def _unmount(point: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(str(point).encode(), _MNT_DETACH) != 0:
        error = ctypes.get_errno()
        # Gone already: detaching a parent detached it too.
        if error not in (errno.EINVAL, errno.ENOENT):
            raise LabError(f"could not unmount {point}: {os.strerror(error)}")

"""Build the lab's binaries from the Go module proxy, once per set of versions.

The consumer modules under ``lab/`` (``go.mod`` and ``go.sum`` only) pin one
Kubernetes release, one etcd release and kwok. ``go build`` turns them into
binaries cached outside the repository, under
``~/.cache/drillkit/lab/<versions>-<digest>/bin``; the digest covers the module
files, so editing a pin builds a fresh set. A file lock keeps two builds (two
test sessions, two ``drill lab up``) from racing.

A lab with real nodes needs a second set, built only then: kubelet (from the same
Kubernetes module), containerd v2 with its runc shim and ``ctr`` (module
``lab/containerd``), and ``labserve`` (``lab/images``, the lab's own source), the one
program of the image real nodes run.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from drillkit.errors import BuildFailed
from drillkit.lab.resources import lab_modules_dir

KUBERNETES_VERSION = "1.36.3"
ETCD_VERSION = "3.6.16"
KWOK_VERSION = "0.8.0"
CONTAINERD_VERSION = "2.2.10"

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class GoBinary:
    """One binary: the consumer module it is built in and the main package it comes from."""

    name: str
    module: str
    package: str
    ldflags: str = "-s -w"
    tags: str = ""


def _kubernetes_ldflags() -> str:
    # Without these, every component reports v0.0.0-master and kubectl warns about skew.
    minor = KUBERNETES_VERSION.split(".")[1]
    version = f"v{KUBERNETES_VERSION}"
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor=1",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _kubernetes_binary(name: str) -> GoBinary:
    return GoBinary(
        name=name,
        module="kubernetes",
        package=f"k8s.io/kubernetes/cmd/{name}",
        ldflags=_kubernetes_ldflags(),
        tags="notest,grpcnotrace",
    )


BINARIES = (
    GoBinary(name="etcd", module="etcd", package="go.etcd.io/etcd/server/v3"),
    GoBinary(name="etcdctl", module="etcd", package="go.etcd.io/etcd/etcdctl/v3"),
    GoBinary(name="etcdutl", module="etcd", package="go.etcd.io/etcd/etcdutl/v3"),
    GoBinary(name="kwok", module="kwok", package="sigs.k8s.io/kwok/cmd/kwok"),
    *(
        _kubernetes_binary(name)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    ),
)

# kwok ships its behaviour (node and pod lifecycles) as Stage objects in its module;
# the lab uses the fast stages: nodes and pods become ready at once, deletions are immediate.
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
STAGES_FILE = "kwok-stages.yaml"


def cache_root() -> Path:
    """Where drillkit keeps built binaries; ``DRILLKIT_CACHE`` overrides ``~/.cache/drillkit``."""
    configured = os.environ.get("DRILLKIT_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "drillkit"


@dataclass(frozen=True, kw_only=True)
class BinarySet:
    """Binaries built and cached together, in a directory named after their versions and
    the digest of their modules' files."""

    label: str
    modules: tuple[str, ...]
    binaries: tuple[GoBinary, ...]
    kwok_stages: bool = False
    """Whether the set includes kwok's stage files (``STAGES_FILE``)."""


CONTROL_PLANE = BinarySet(
    label=f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_kwok-{KWOK_VERSION}",
    modules=("kubernetes", "etcd", "kwok"),
    binaries=BINARIES,
    kwok_stages=True,
)
REAL_NODE = BinarySet(
    label=f"node-k8s-{KUBERNETES_VERSION}_containerd-{CONTAINERD_VERSION}",
    modules=("kubernetes", "containerd", "images"),
    binaries=(
        _kubernetes_binary("kubelet"),
        *(
            GoBinary(
                name=name,
                module="containerd",
                package=f"github.com/containerd/containerd/v2/cmd/{name}",
                # Snapshotters the lab does not use, whose builds need C libraries.
                tags="no_btrfs,no_devmapper,no_zfs",
            )
            for name in ("containerd", "containerd-shim-runc-v2", "ctr")
        ),
        GoBinary(name="labserve", module="images", package="."),
    ),
)


def binaries_dir(binary_set: BinarySet = CONTROL_PLANE) -> Path:
    """The directory holding a set's binaries (it may not exist yet)."""
    return cache_root() / "lab" / f"{binary_set.label}-{_modules_digest(binary_set)}" / "bin"


@functools.cache
def _modules_digest(binary_set: BinarySet) -> str:
    # The shipped module files do not change while drillkit runs: hash them once.
    digest = hashlib.sha256()
    modules = lab_modules_dir()
    for module in binary_set.modules:
        for path in sorted((modules / module).iterdir()):
            if path.suffix in (".mod", ".sum", ".go"):
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def is_built(binary_set: BinarySet = CONTROL_PLANE) -> bool:
    """Whether every binary of the set (and kwok's stages, if it has them) is in the cache."""
    directory = binaries_dir(binary_set)
    return (directory / ".complete").exists() and all(
        (directory / binary.name).exists() for binary in binary_set.binaries
    )


def ensure_binaries(progress: Progress, binary_set: BinarySet = CONTROL_PLANE) -> Path:
    """Build whatever is missing of a set and return its directory; idempotent."""
    directory = binaries_dir(binary_set)
    if is_built(binary_set):
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with build_lock(directory.parent / "build.lock"):
        # Another process may have finished the build while this one waited.
        if is_built(binary_set):
            return directory
        go = find_go()
        for binary in binary_set.binaries:
            if (directory / binary.name).exists():
                continue
            progress(f"building {binary.name} from {binary.package} (module lab/{binary.module})")
            started = time.monotonic()
            _go_build(go, binary, directory)
            progress(f"built {binary.name} in {time.monotonic() - started:.0f} s")
        if binary_set.kwok_stages:
            _write_kwok_stages(go, directory)
        (directory / ".complete").write_text("ok\n")
    return directory


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created): one build at a time per cache."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_go() -> str:
    """The ``go`` command on PATH; ``BuildFailed`` saying how to get one."""
    go = shutil.which("go")
    if go is None:
        raise BuildFailed(
            "the lab is built with Go 1.26 or newer, and no 'go' command is on PATH; "
            "install Go (scripts/install-go fetches it from the Go module proxy)"
        )
    return go


def go_environment() -> dict[str, str]:
    """The environment of a reproducible build: the local toolchain, static binaries."""
    environment = dict(os.environ)
    # Never let go fetch a toolchain behind our back, and build static binaries
    # as upstream does. VCS stamping is off because a fresh clone may be owned
    # by another user, which makes git refuse to describe it.
    environment.update(GOTOOLCHAIN="local", CGO_ENABLED="0")
    environment["GOFLAGS"] = (environment.get("GOFLAGS", "") + " -buildvcs=false").strip()
    return environment


def _go_build(go: str, binary: GoBinary, directory: Path) -> None:
    output = directory / f".{binary.name}.partial"
    command = [go, "build", "-trimpath", "-ldflags", binary.ldflags, "-o", str(output)]
    if binary.tags:
        command += ["-tags", binary.tags]
    command.append(binary.package)
    result = subprocess.run(
        command,
        cwd=lab_modules_dir() / binary.module,
        env=go_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    log = directory.parent / f"build-{binary.name}.log"
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise BuildFailed(
            f"building {binary.name} failed in module lab/{binary.module} "
            f"(package {binary.package}): {_first_error(result.stderr)} (full output: {log})"
        )
    # Rename last, so a killed build never leaves a truncated binary behind.
    output.rename(directory / binary.name)


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if not line.startswith(("#", "go: downloading")):
            return line
    return lines[0] if lines else "no output"


def _write_kwok_stages(go: str, directory: Path) -> None:
    result = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=lab_modules_dir() / "kwok",
        env=go_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    source = Path(result.stdout.strip())
    if result.returncode != 0 or not source.is_dir():
        raise BuildFailed(
            f"could not locate the sigs.k8s.io/kwok module for its stage files: "
            f"{_first_error(result.stderr)}"
        )
    documents = [(source / name).read_text().strip() for name in KWOK_STAGE_FILES]
    (directory / STAGES_FILE).write_text("\n---\n".join(documents) + "\n")

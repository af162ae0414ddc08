"""The OCI archive of this tree's drillkit, built by scripts/image once per tree.

It is cached under ``~/.cache/drillkit/image/<key>``, where the key covers the wheel's
content, the build script and the dependency constraints, so any change to them builds
afresh (about two minutes, cold). A file lock keeps concurrent sessions from building it
twice. The image tests run it with podman; the real-node tests load it into the lab's node.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from drillkit import __version__
from drillkit.lab import build

REPOSITORY = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPOSITORY / "scripts" / "image"
CONSTRAINTS = REPOSITORY / "image" / "constraints.txt"
TAG = f"localhost/drillkit:{__version__}"


def build_wheel(directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    subprocess.run([*command, "--wheel-dir", str(directory), str(REPOSITORY)], check=True)
    (wheel,) = directory.glob("drillkit-*.whl")
    return wheel


def cache_key(wheel: Path) -> str:
    digest = hashlib.sha256()
    for path in (wheel, BUILD_SCRIPT, CONSTRAINTS):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def ensure_archive(scratch: Path) -> Path:
    """The OCI archive of this tree's drillkit, built by scripts/image or found cached;
    ``scratch`` is an empty directory for the wheel."""
    wheel = build_wheel(scratch)
    directory = build.cache_root() / "image" / cache_key(wheel)
    archive = directory / "drillkit.oci.tar"
    if archive.exists():
        return archive
    directory.mkdir(parents=True, exist_ok=True)
    with build.build_lock(directory / "build.lock"):
        # Another session may have built it while this one waited for the lock.
        if not archive.exists():
            command = [str(BUILD_SCRIPT), "--wheel", str(wheel), "--tag", TAG]
            subprocess.run([*command, "--output", str(archive)], check=True)
    return archive

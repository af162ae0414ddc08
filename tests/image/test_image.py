"""The OCI image of drillkit (scripts/image): it loads, runs as a non-root user on a
read-only root file system, and `drill --version` and `drill validate` work in it.

The archive is built once per tree (``tests.image.archive``, the session fixture
``image_archive``). podman runs with a storage of its own under the session's temporary
directory, never the machine's, with runc (crun cannot run containers on this kind of
host) and no network at all.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drillkit import __version__
from tests.image.archive import REPOSITORY, TAG

IMAGE_UID = 65532

Podman = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory, image_archive: Path) -> Iterator[Podman]:
    """podman on a storage of the session's own, with the archive loaded into it."""
    root = tmp_path_factory.mktemp("podman")
    base = ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run")]
    base += ["--tmpdir", str(root / "tmp"), "--storage-driver", "vfs"]
    base += ["--events-backend", "file"]

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *arguments], capture_output=True, text=True, check=False, timeout=300
        )

    loaded = run("load", "--input", str(image_archive))
    assert loaded.returncode == 0, loaded.stderr
    yield run
    run("rmi", "--all", "--force")


def run_in_image(
    podman: Podman,
    *arguments: str,
    volumes: dict[Path, str] | None = None,
    entrypoint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the image as its own user, read-only, with no network; volumes are read-only."""
    options = ["run", "--rm", "--runtime", "runc", "--network", "none", "--read-only"]
    # runc cannot raise rlimits past this host's hard limits; these are within them.
    options += ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
    # The state volume the CronJob mounts at /var/lib/drillkit, here a tmpfs.
    options += ["--mount", "type=tmpfs,destination=/var/lib/drillkit,tmpfs-mode=0755,chown=true"]
    for source, target in (volumes or {}).items():
        options += ["--volume", f"{source}:{target}:ro"]
    if entrypoint is not None:
        options += ["--entrypoint", entrypoint]
    if volumes:
        options += ["--workdir", "/project"]
    options.append(TAG)
    return podman(*options, *arguments)


def read_json_member(archive: tarfile.TarFile, name: str) -> Any:
    member = archive.extractfile(name)
    assert member is not None, name
    return json.loads(member.read())


def blob_name(digest: str) -> str:
    algorithm, hexadecimal = digest.split(":")
    return f"blobs/{algorithm}/{hexadecimal}"


def test_the_archive_holds_one_layer_of_its_own_and_names_a_non_root_user(
    image_archive: Path,
) -> None:
    with tarfile.open(image_archive) as archive:
        index = read_json_member(archive, "index.json")
        (descriptor,) = index["manifests"]
        manifest = read_json_member(archive, blob_name(descriptor["digest"]))
        config = read_json_member(archive, blob_name(manifest["config"]["digest"]))
    # One layer and no base: the root file system scripts/image made, whose digest it
    # records as a label.
    assert len(manifest["layers"]) == 1
    assert config["rootfs"]["diff_ids"] == [
        "sha256:" + config["config"]["Labels"]["io.drillkit.rootfs.sha256"]
    ]
    assert config["config"]["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert config["config"]["Entrypoint"] == ["/opt/drillkit/bin/drill"]
    assert "DRILLKIT_HOME=/var/lib/drillkit" in config["config"]["Env"]


def test_drill_version_runs_as_the_non_root_user_on_a_read_only_root(podman: Podman) -> None:
    version = run_in_image(podman, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"drill, version {__version__}"
    user = run_in_image(podman, "-u", entrypoint="id")
    assert user.stdout.strip() == str(IMAGE_UID)


def test_drill_validate_accepts_the_shipped_drills(podman: Podman) -> None:
    result = run_in_image(
        podman,
        "validate",
        volumes={
            REPOSITORY / "drills": "/project/drills",
            REPOSITORY / "experiments": "/project/experiments",
            REPOSITORY / "services": "/project/services",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok       drills/pod-kill.yaml" in result.stdout
    assert "ok       services/shop.yaml (service shop)" in result.stdout


def test_drill_validate_names_the_file_and_line_of_a_broken_drill(
    podman: Podman, tmp_path: Path
) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    shipped = (REPOSITORY / "drills" / "pod-kill.yaml").read_text()
    (drills / "broken.yaml").write_text(shipped + "rollback_on_falure: true\n")
    line = len(shipped.splitlines()) + 1
    result = run_in_image(
        podman,
        "validate",
        "drills/broken.yaml",
        volumes={drills: "/project/drills", REPOSITORY / "experiments": "/project/experiments"},
    )
    assert result.returncode == 2
    # Problems are told on stderr, one line each.
    problems = [text for text in result.stderr.splitlines() if text.startswith("invalid")]
    assert len(problems) == 1, result.stderr
    assert f"drills/broken.yaml:{line}:1: rollback_on_falure" in problems[0]


def test_only_the_state_directory_is_writable(podman: Podman) -> None:
    script = "touch /var/lib/drillkit/written && ! touch /opt/drillkit/written 2>/dev/null"
    result = run_in_image(podman, "-c", script, entrypoint="sh")
    assert result.returncode == 0, result.stderr


def test_a_report_page_renders_as_pdf_with_the_fonts_it_names(podman: Podman) -> None:
    # render_pdf refuses to return a PDF whose fonts fontconfig substituted; warnings are
    # errors, as in the test suite.
    script = (
        "from drillkit.reporting.pdf import render_pdf; "
        "print(render_pdf('<h1>drill</h1><pre>exit 0</pre>', title='t')[:5].decode())"
    )
    result = run_in_image(
        podman, "-W", "error", "-c", script, entrypoint="/opt/drillkit/bin/python"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "%PDF-"

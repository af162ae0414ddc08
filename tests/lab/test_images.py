"""The OCI archive a lab writes for its real nodes (``drillkit.lab.images``): a valid image
layout whose every blob matches its digest, the same bytes each time. That containerd
imports and runs it is shown by ``tests/lab/test_real_node.py``."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from drillkit.lab.images import write_archive


def read_member(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    assert member is not None, name
    return member.read()


def blob(archive: tarfile.TarFile, descriptor: dict[str, Any]) -> bytes:
    algorithm, digest = descriptor["digest"].split(":")
    data = read_member(archive, f"blobs/{algorithm}/{digest}")
    assert hashlib.sha256(data).hexdigest() == digest
    assert len(data) == descriptor["size"]
    return data


def test_the_archive_is_an_image_layout_naming_the_image_and_its_entrypoint(
    tmp_path: Path,
) -> None:
    program = tmp_path / "program"
    program.write_bytes(b"\x7fELF not really")
    path = tmp_path / "image.oci.tar"

    write_archive(path, name="drillkit.local/t:1", files={"t": program}, entrypoint=["/t"])

    with tarfile.open(path) as archive:
        assert json.loads(read_member(archive, "oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        (entry,) = json.loads(read_member(archive, "index.json"))["manifests"]
        assert entry["annotations"]["io.containerd.image.name"] == "drillkit.local/t:1"
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1"
        manifest = json.loads(blob(archive, entry))
        config = json.loads(blob(archive, manifest["config"]))
        (layer_descriptor,) = manifest["layers"]
        layer = blob(archive, layer_descriptor)
    assert config["config"]["Entrypoint"] == ["/t"]
    assert config["config"]["User"] == "65532"
    assert config["rootfs"]["diff_ids"] == [layer_descriptor["digest"]]
    with tarfile.open(fileobj=io.BytesIO(layer)) as files:
        (member,) = files.getmembers()
        assert (member.name, member.mode) == ("t", 0o755)
        assert read_member(files, "t") == program.read_bytes()


def test_the_same_files_make_the_same_bytes(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.write_bytes(b"same")
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"

    for path in (first, second):
        write_archive(path, name="drillkit.local/t:1", files={"t": program}, entrypoint=["/t"])

    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.glob("*.partial"))

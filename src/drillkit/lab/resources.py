"""Files that ship with drillkit: the Go consumer modules, the RBAC and the seed workload.

In a source checkout they live at the top of the repository (``lab/``,
``deploy/``); in an installed wheel they are packaged under ``drillkit/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _shipped(name: str) -> Path:
    packaged = _PACKAGE_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent.parent / name


def lab_modules_dir() -> Path:
    """The directory holding the Go consumer modules (``kubernetes/``, ``etcd/``, ``kwok/``)."""
    return _shipped("lab")


def seed_manifests_dir() -> Path:
    """The declarative seed workload applied to every lab."""
    return _shipped("lab") / "seed"


def kwok_stages_dir() -> Path:
    """The lab's own kwok stages, loaded after kwok's fast stages."""
    return _shipped("lab") / "stages"


def deploy_dir() -> Path:
    """The RBAC and other manifests users apply to their own clusters."""
    return _shipped("deploy")

"""Users' experiment files are an API: the activities they name must keep working.

Every ``provider: {type: python, module: drillkit..., func: ...}`` in what drillkit ships
(experiments, drills, game days, the README and docs, files under ``src/drillkit``) must
name a function that exists and accepts the arguments given there, as Chaos Toolkit will
call it. And the activities themselves are pinned: a rename or a dropped parameter
breaks experiment files that drillkit never sees, so it must fail here first.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import drillkit
import drillkit.faults
import drillkit.probes

ROOT = Path(__file__).resolve().parent.parent

# http_ok is http_get reduced to its "ok": the same parameters, for a tolerance of true.
HTTP_PROBE_PARAMETERS = (
    "url",
    "expected_status",
    "max_latency_ms",
    "body_contains",
    "body_matches",
    "timeout",
    "verify_tls",
)

# Every activity an experiment file may name, with its parameters. Chaos Toolkit calls
# activities with keyword arguments only, so parameter names are the API; their order is not.
PINNED_ACTIVITIES: dict[str, tuple[str, ...]] = {
    "drillkit.faults.backup.region_disaster": (
        "mode",
        "lab",
        "store",
        "backup",
        "provider",
        "velero_namespace",
        "velero_sync_timeout",
        "conflict",
        "configuration",
    ),
    "drillkit.faults.backup.restore_backup": (
        "store",
        "backup",
        "kubeconfig",
        "context",
        "namespace_map",
        "conflict",
        "wait",
        "cleanup",
        "cluster_kinds",
        "configuration",
    ),
    "drillkit.faults.backup.restore_velero_backup": (
        "backup",
        "kubeconfig",
        "context",
        "namespace_map",
        "conflict",
        "velero_namespace",
        "timeout",
        "configuration",
    ),
    "drillkit.faults.backup.start_region": ("lab", "configuration"),
    "drillkit.faults.backup.take_backup": ("namespaces", "store", "configuration"),
    "drillkit.faults.backup.take_velero_backup": (
        "namespaces",
        "velero_namespace",
        "storage_location",
        "timeout",
        "configuration",
    ),
    "drillkit.faults.etcd.etcd_disaster": ("mode", "directory", "snapshot", "configuration"),
    "drillkit.faults.etcd.restore_etcd": ("configuration",),
    "drillkit.faults.etcd.take_snapshot": ("directory", "configuration"),
    "drillkit.faults.kubernetes.cordon_nodes": ("label_selector",),
    "drillkit.faults.kubernetes.drain_zone": (
        "zone",
        "parallelism",
        "timeout",
        "delete_unmanaged",
        "delete_emptydir_data",
        "namespaces",
    ),
    "drillkit.faults.kubernetes.kill_pods": (
        "label_selector",
        "namespace",
        "count",
        "percentage",
        "mode",
        "grace_period",
        "field_selector",
    ),
    "drillkit.faults.kubernetes.uncordon_nodes": ("label_selector",),
    "drillkit.faults.kubernetes.uncordon_zone": ("zone",),
    "drillkit.faults.outage.end_zone_outage": (
        "zone",
        "provider",
        "cluster_name",
        "region",
        "endpoint_url",
        "lab",
        "timeout",
    ),
    "drillkit.faults.outage.zone_outage": (
        "zone",
        "provider",
        "cluster_name",
        "region",
        "endpoint_url",
        "lab",
        "force",
        "timeout",
    ),
    "drillkit.faults.zones.start_zone": ("zone", "lab"),
    "drillkit.faults.zones.stop_zone": ("zone", "lab"),
    "drillkit.probes.backup.deployment_available_in_any_region": (
        "name",
        "namespace",
        "kubeconfig",
        "context",
        "configuration",
    ),
    "drillkit.probes.backup.latest_backup_age": ("store", "configuration"),
    "drillkit.probes.backup.latest_backup_younger_than": ("max_age", "store", "configuration"),
    "drillkit.probes.etcd.latest_snapshot_age": ("directory", "configuration"),
    "drillkit.probes.etcd.latest_snapshot_younger_than": (
        "max_age",
        "directory",
        "configuration",
    ),
    "drillkit.probes.http.http_get": HTTP_PROBE_PARAMETERS,
    "drillkit.probes.http.http_ok": HTTP_PROBE_PARAMETERS,
    "drillkit.probes.kubernetes.api_server_ready": (),
    "drillkit.probes.kubernetes.deployment_available": ("name", "namespace", "at_least"),
    "drillkit.probes.kubernetes.nodes_ready_in_zone": ("zone", "at_least"),
    "drillkit.probes.kubernetes.pdb_disruptions_allowed": ("name", "namespace", "at_least"),
    "drillkit.probes.kubernetes.pods_ready": ("label_selector", "namespace", "at_least"),
    "drillkit.probes.kubernetes.ready_endpoint_count": ("name", "namespace"),
    "drillkit.probes.kubernetes.service_ready_endpoints": ("name", "namespace", "at_least"),
    "drillkit.probes.kubernetes.statefulset_available": ("name", "namespace", "at_least"),
    "drillkit.probes.prometheus.prometheus_query": ("url", "query", "timeout"),
    "drillkit.probes.prometheus.prometheus_threshold": (
        "url",
        "query",
        "min_value",
        "max_value",
        "timeout",
    ),
}

# What the package root re-exports (httpx's exported-members test, for drillkit).
ROOT_EXPORTS = ["DrillError", "__version__"]

# Chaos Toolkit passes these itself when the function declares them, never from ``arguments``.
INJECTED_PARAMETERS = ("configuration", "secrets")

KEEP_WORKING = (
    "experiment files that drillkit never sees name it: keep the old name working "
    "(an alias, or a parameter that still accepts the old name)"
)


def exported_activities() -> dict[str, tuple[str, ...]]:
    """``module.func`` to parameter names of every activity ``drillkit.faults`` and
    ``drillkit.probes`` export: a module's ``__all__``, or else its public functions."""
    exported: dict[str, tuple[str, ...]] = {}
    for package in (drillkit.faults, drillkit.probes):
        for found in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            module = importlib.import_module(found.name)
            names = getattr(module, "__all__", None)
            if names is None:
                names = [
                    name
                    for name, member in vars(module).items()
                    if inspect.isfunction(member)
                    and member.__module__ == module.__name__
                    and not name.startswith("_")
                ]
            for name in names:
                function = getattr(module, name)
                exported[f"{module.__name__}.{name}"] = tuple(
                    inspect.signature(function).parameters
                )
    return exported


def test_the_activities_experiment_files_can_name_are_the_pinned_ones() -> None:
    exported = exported_activities()
    problems = []
    for name, pinned in sorted(PINNED_ACTIVITIES.items()):
        if name not in exported:
            problems.append(f"{name} is gone; {KEEP_WORKING}")
            continue
        dropped = sorted(set(pinned) - set(exported[name]))
        if dropped:
            problems.append(f"{name} no longer takes {', '.join(dropped)}; {KEEP_WORKING}")
        added = sorted(set(exported[name]) - set(pinned))
        if added:
            problems.append(
                f"{name} takes new parameter(s) {', '.join(added)}: add them to "
                "PINNED_ACTIVITIES (and to the README if users should know)"
            )
    for name in sorted(set(exported) - set(PINNED_ACTIVITIES)):
        problems.append(
            f"{name} is a new activity: add it to PINNED_ACTIVITIES and the README's table, "
            "or leave it out of its module's __all__ if experiments must not name it"
        )
    assert not problems, "\n".join(problems)


def test_every_pinned_activity_is_a_function_chaos_toolkit_can_call() -> None:
    for name in PINNED_ACTIVITIES:
        module_name, function_name = name.rsplit(".", 1)
        function = getattr(importlib.import_module(module_name), function_name, None)
        assert inspect.isfunction(function), f"{name} is not a function"
        kinds = {parameter.kind for parameter in inspect.signature(function).parameters.values()}
        # Chaos Toolkit passes arguments by keyword, from a mapping.
        assert inspect.Parameter.POSITIONAL_ONLY not in kinds, f"{name} has positional-only ones"


def test_the_package_root_exports_exactly_what_it_names() -> None:
    assert drillkit.__all__ == ROOT_EXPORTS
    public = {
        name
        for name, member in vars(drillkit).items()
        if not isinstance(member, types.ModuleType)
        and (not name.startswith("_") or name == "__version__")
    }
    assert public == set(ROOT_EXPORTS)


# -- what drillkit ships -------------------------------------------------------------------


@dataclass(frozen=True)
class NamedActivity:
    """One python provider found in a shipped file."""

    source: str
    module: str
    func: str
    arguments: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{self.module}.{self.func}"


_FENCED_BLOCK = re.compile(r"^```(?:yaml|yml|json)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shipped_files() -> Iterator[Path]:
    for directory in ("experiments", "drills", "gamedays", "docs", "src/drillkit"):
        for path in sorted((ROOT / directory).rglob("*")):
            if path.is_file() and path.suffix in (".yaml", ".yml", ".json", ".md"):
                yield path
    yield ROOT / "README.md"


def documents_in(path: Path) -> Iterator[tuple[str, object]]:
    """Each YAML or JSON document in ``path`` (for Markdown, in its fenced blocks), with
    where it is, for messages."""
    text = path.read_text(encoding="utf-8")
    where = str(path.relative_to(ROOT))
    if path.suffix == ".md":
        for block in _FENCED_BLOCK.finditer(text):
            line = text.count("\n", 0, block.start()) + 1
            for document in yaml.safe_load_all(block.group(1)):
                yield f"{where}:{line}", document
    elif path.suffix == ".json":
        yield where, json.loads(text)
    else:
        for document in yaml.safe_load_all(text):
            yield where, document


def python_providers(source: str, value: object) -> Iterator[NamedActivity]:
    """Every python provider anywhere in ``value``: method, rollbacks, steady-state
    hypothesis, a drill's recovery probes and abort conditions alike."""
    if isinstance(value, Mapping):
        provider = value.get("provider")
        if isinstance(provider, Mapping) and provider.get("type") == "python":
            yield NamedActivity(
                source=source,
                module=str(provider.get("module")),
                func=str(provider.get("func")),
                arguments=provider.get("arguments") or {},
            )
        for item in value.values():
            yield from python_providers(source, item)
    elif isinstance(value, list):
        for item in value:
            yield from python_providers(source, item)


def shipped_activities() -> list[NamedActivity]:
    return [
        activity
        for path in shipped_files()
        for source, document in documents_in(path)
        for activity in python_providers(source, document)
        if activity.module == "drillkit" or activity.module.startswith("drillkit.")
    ]


SHIPPED = shipped_activities()


def test_the_shipped_files_are_found_and_read() -> None:
    # Guards the test itself: a collector that found nothing would pass everything.
    sources = {activity.source.split(":")[0].split("/")[0] for activity in SHIPPED}
    assert {"experiments", "drills"} <= sources
    assert {"drillkit.faults.kubernetes.kill_pods", "drillkit.faults.etcd.etcd_disaster"} <= {
        activity.name for activity in SHIPPED
    }


@pytest.mark.parametrize(
    "activity", SHIPPED, ids=[f"{activity.source}:{activity.func}" for activity in SHIPPED]
)
def test_every_activity_a_shipped_file_names_exists_and_accepts_its_arguments(
    activity: NamedActivity,
) -> None:
    module = importlib.import_module(activity.module)
    function = getattr(module, activity.func, None)
    assert callable(function), f"{activity.source}: {activity.name} does not exist"
    signature = inspect.signature(function)
    misplaced = sorted(set(activity.arguments) & set(INJECTED_PARAMETERS))
    assert not misplaced, f"{activity.source}: Chaos Toolkit passes {misplaced} itself"
    # As chaoslib validates an activity: what it injects is there, the rest from the file.
    arguments = dict(activity.arguments)
    for injected in INJECTED_PARAMETERS:
        if injected in signature.parameters:
            arguments[injected] = None
    try:
        signature.bind(**arguments)
    except TypeError as error:
        pytest.fail(f"{activity.source}: {activity.name}{signature} cannot take them: {error}")
    assert activity.name in PINNED_ACTIVITIES, (
        f"{activity.source}: {activity.name} is not a pinned activity"
    )


_README_ROW = re.compile(r"^\| `(drillkit\.[a-z_.]+)` \| (.+) \|$", re.MULTILINE)
_PARENTHESES = re.compile(r"\([^()]*\)")
_BACKTICKED_NAME = re.compile(r"`([a-z_][a-z0-9_]*)`")


def test_every_activity_the_readme_lists_is_pinned() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = {
        f"{module}.{name}"
        for module, functions in _README_ROW.findall(text)
        # What stands in parentheses describes an activity: argument values, options.
        for name in _BACKTICKED_NAME.findall(_PARENTHESES.sub("", functions))
    }
    assert len(listed) >= 20, f"the README's table of faults and probes was not found: {listed}"
    assert sorted(listed - set(PINNED_ACTIVITIES)) == []

"""A lab at scale, at a size the suite can afford: ``drill lab up --nodes-per-zone N
--seed-replicas M`` and the zone-failure drill on it. The 1,002-node figures come from
``bench/`` (bench/README.md), not from here."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from kubernetes import client

from drillkit.lab.cluster import Lab
from tests.drills.support import SHIPPED_DRILLS, run_drill
from tests.helpers import drill_command

pytestmark = pytest.mark.lab

NODES_PER_ZONE = 40
SEED_REPLICAS = 240


def test_a_lab_of_120_nodes_holds_its_seed_spread_and_a_zone_failure_moves_a_third_of_it(
    drillkit_home: Path, lab_binaries: Path, tmp_path: Path
) -> None:
    drill = drill_command("lab")
    name = ["--name", "wide"]
    shape = ["--nodes-per-zone", str(NODES_PER_ZONE), "--seed-replicas", str(SEED_REPLICAS)]
    try:
        up = subprocess.run([*drill, "up", *name, *shape], capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        assert f"{3 * NODES_PER_ZONE} nodes Ready" in up.stderr
        assert f"{SEED_REPLICAS} replicas of web" in up.stderr
        for zone in ("zone-a", "zone-b", "zone-c"):
            assert f"{zone:<24} {NODES_PER_ZONE}/{NODES_PER_ZONE} nodes Ready" in up.stdout
        assert "memory (resident)" in up.stdout

        status = subprocess.run(
            [*drill, "status", *name, "--output", "json"], capture_output=True, text=True
        )
        assert status.returncode == 0, status.stderr
        (document,) = json.loads(status.stdout)
        assert all(c["resident_bytes"] > 0 for c in document["components"])
        assert [z["ready_nodes"] for z in document["zones"]] == [NODES_PER_ZONE] * 3

        lab = Lab.open("wide")
        third = SEED_REPLICAS // 3
        assert _ready_web_pods_per_zone(lab) == {"zone-a": third, "zone-b": third, "zone-c": third}
        with lab.connect() as cluster:
            policy = client.PolicyV1Api(cluster.api_client)
            budget = policy.read_namespaced_pod_disruption_budget("web", "shop")
        assert budget.spec.min_available == SEED_REPLICAS - third

        result = run_drill(lab, SHIPPED_DRILLS / "zone-failure.yaml", tmp_path / "reports")
        assert result.returncode == 0, result.stderr
        assert result.summary["verdict"] == "met"
        assert result.journal()["run"][0]["output"]["evicted"] == third
        placed = _ready_web_pods_per_zone(lab)
        assert "zone-a" not in placed
        assert sum(placed.values()) == SEED_REPLICAS
        with lab.connect() as cluster:
            assert not [n.name for n in cluster.nodes() if n.unschedulable]
    finally:
        subprocess.run([*drill, "down", *name, "--purge"], capture_output=True, check=False)


def _ready_web_pods_per_zone(lab: Lab) -> dict[str, int]:
    with lab.connect() as cluster:
        zones = {n.name: n.zone for n in cluster.nodes()}
        return dict(
            Counter(
                zones[p.node]
                for p in cluster.pods("shop")
                if p.ready and p.node and not p.terminating
            )
        )

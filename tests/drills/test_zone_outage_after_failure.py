"""The reported case: ``drill run zone-outage`` right after ``drill run zone-failure``,
and ``drill lab reset``, which the README's tour runs between them.

zone-failure drains zone-a and uncordons it in its rollback, but nothing moves shop/web's
pods back, so zone-a is left without any. The outage that follows stops a zone holding no
target pod: it tests nothing, and must not be reported as met.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.lab.cluster import Lab
from tests.drills.support import SHIPPED_DRILLS, drill_environment, run_cli, run_drill

pytestmark = pytest.mark.lab


def web_pods_in_zone(lab: Lab, zone: str) -> list[str]:
    with lab.connect() as cluster:
        nodes = {n.name for n in cluster.nodes() if n.zone == zone}
        return [p.name for p in cluster.pods("shop", label_selector="app=web") if p.node in nodes]


def test_a_zone_outage_of_a_zone_left_empty_by_zone_failure_is_not_met(
    scratch_lab: Lab, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    failure = run_drill(scratch_lab, SHIPPED_DRILLS / "zone-failure.yaml", reports)
    assert failure.returncode == 0, failure.stderr
    assert web_pods_in_zone(scratch_lab, "zone-a") == [], "zone-a was left without web pods"

    outage = run_drill(scratch_lab, SHIPPED_DRILLS / "zone-outage.yaml", reports)

    assert outage.returncode == 1, outage.stderr
    summary = outage.summary
    assert summary["verdict"] == "inconclusive"
    assert any(
        finding.startswith("zone-a-goes-dark ") and "so this run did not test recovery" in finding
        for finding in summary["findings"]
    ), summary["findings"]
    assert not any("tolerated" in finding for finding in summary["findings"])

    # What the tour does between the two, as written there: the lab $KUBECONFIG reaches
    # (whatever its name) gets its seed spread over every zone again.
    reset = run_cli(drill_environment(scratch_lab), "lab", "reset")
    assert reset.returncode == 0, reset.stderr
    assert f"lab {scratch_lab.shape.name}: shop/web restarted" in reset.stdout
    assert web_pods_in_zone(scratch_lab, "zone-a"), "zone-a holds no web pod after the reset"

    again = run_drill(scratch_lab, SHIPPED_DRILLS / "zone-outage.yaml", reports)

    assert again.returncode == 0, again.stderr
    assert again.summary["verdict"] == "met"

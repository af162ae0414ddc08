"""DR readiness from constructed runs and findings: every point lost has its line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drillkit.measuring.readiness import (
    OpenFinding,
    ProofState,
    ProvingRun,
    assess_service,
)
from drillkit.model.measurement import Verdict
from drillkit.model.services import Service

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

SHOP = Service.model_validate(
    {
        "name": "shop",
        "owners": ["platform-team"],
        "workloads": [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
        "objectives": {
            "pod": {"rto": "1m", "prove_every": "30d"},
            "zone": {"rto": "5m", "prove_every": "90d"},
            "control-plane": {"rto": "10m", "rpo": "15m", "prove_every": "180d"},
            "region": {"rto": "30m", "rpo": "15m", "prove_every": "365d"},
        },
    }
)


def run(
    disruption: str,
    days_ago: float,
    verdict: Verdict = Verdict.MET,
    *,
    rto: float | None = 10.0,
    rpo: float | None = 60.0,
    service: str = "shop",
) -> ProvingRun:
    ended = NOW - timedelta(days=days_ago)
    return ProvingRun(
        service=service,
        disruption=disruption,
        run=f"{disruption}-drill/{ended:%Y%m%d}",
        ended=ended,
        verdict=verdict,
        rto_seconds=rto,
        rpo_seconds=rpo,
    )


def test_every_promise_proven_recently_scores_100_with_nothing_lost() -> None:
    runs = [run("pod", 3), run("zone", 40), run("control-plane", 100), run("region", 200)]

    readiness = assess_service(SHOP, runs, [], now=NOW)

    assert readiness.score == 100.0
    assert readiness.deductions == []
    assert {p.state for p in readiness.promises} == {ProofState.PROVEN}


def test_each_way_of_losing_points_has_its_own_line() -> None:
    runs = [
        run("pod", 3),
        # Proven 97 days ago; the service asks every 90.
        run("zone", 97),
        # Met when the objective was looser: 700 s is beyond today's 10 minutes.
        run("control-plane", 20, rto=700.0),
        # Region: never proven. Pod: a later miss opened a finding.
        run("pod", 1, Verdict.MISSED),
    ]
    finding = OpenFinding(
        finding="F4",
        service="shop",
        disruption="pod",
        opened=NOW - timedelta(days=1),
        run="pod-drill/20261130",
    )

    readiness = assess_service(SHOP, runs, [finding], now=NOW)

    assert readiness.score == 0.0
    assert readiness.deductions == [
        "-25 pod: finding F4 open since 2026-11-30 (run pod-drill/20261130), not closed by a run "
        "that met the objectives",
        "-25 zone: last proven 97 days ago by zone-drill/20260826, required every 90d",
        "-25 control-plane: last proven by control-plane-drill/20261111, whose RTO of 700 s is "
        "beyond the 10m the service now promises",
        "-25 region: never proven",
    ]
    states = {p.disruption: p.state for p in readiness.promises}
    assert states == {
        "pod": ProofState.FAILING,
        "zone": ProofState.STALE,
        "control-plane": ProofState.LOOSER,
        "region": ProofState.NEVER,
    }


def test_the_score_is_the_shares_kept_and_the_deductions_add_up_to_what_was_lost() -> None:
    runs = [run("pod", 3), run("zone", 10), run("region", 400)]

    readiness = assess_service(SHOP, runs, [], now=NOW)

    assert readiness.score == 50.0
    # Every point lost has its line: 100 and the deductions give the score.
    assert 100 + sum(float(line.split()[0]) for line in readiness.deductions) == readiness.score
    assert [p.points for p in readiness.promises] == [25.0, 25.0, 0.0, 0.0]


def test_a_run_that_did_not_meet_is_the_newest_but_not_the_proof() -> None:
    runs = [run("zone", 30), run("zone", 2, Verdict.INCONCLUSIVE)]

    (_, zone, *_) = assess_service(SHOP, runs, [], now=NOW).promises

    assert zone.newest is not None and zone.newest.verdict is Verdict.INCONCLUSIVE
    assert zone.last_met is not None and zone.last_met.ended == NOW - timedelta(days=30)
    assert zone.state is ProofState.PROVEN


def test_a_run_without_the_rpo_the_service_now_promises_does_not_prove_it() -> None:
    readiness = assess_service(SHOP, [run("region", 5, rpo=None)], [], now=NOW)

    (region,) = [p for p in readiness.promises if p.disruption == "region"]
    assert region.state is ProofState.LOOSER
    assert region.reason == (
        "last proven by region-drill/20261126, which did not measure the RPO the service now "
        "promises"
    )


def test_runs_and_findings_of_other_services_do_not_count() -> None:
    other = [run("pod", 1, service="billing"), run("zone", 1, service="billing")]
    finding = OpenFinding(finding="F9", service="billing", disruption="zone", opened=NOW, run="x/y")

    readiness = assess_service(SHOP, [*other, run("zone", 1)], [finding], now=NOW)

    states = {p.disruption: p.state for p in readiness.promises}
    assert states["pod"] is ProofState.NEVER
    assert states["zone"] is ProofState.PROVEN


def test_the_same_runs_at_the_same_moment_give_the_same_answer_in_any_order() -> None:
    runs = [run("pod", 3), run("zone", 97), run("pod", 40, Verdict.MISSED), run("region", 9)]

    first = assess_service(SHOP, runs, [], now=NOW)
    again = assess_service(SHOP, list(reversed(runs)), [], now=NOW)

    assert first == again

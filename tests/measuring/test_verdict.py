"""Every path to a verdict, and the findings that explain it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from drillkit.measuring.verdict import decide_verdict
from drillkit.model.measurement import (
    Bound,
    CapacityMeasurement,
    FaultLanding,
    Measurement,
    RecoveryMeasurement,
    RpoMeasurement,
    RunStatus,
    Severity,
    Verdict,
    WorkloadCapacity,
)
from drillkit.model.objectives import Objectives


def recovered(
    seconds: float | None, *, bound: Bound = Bound.EXACT, resolution: float = 0.0, note: str = ""
) -> RecoveryMeasurement:
    return RecoveryMeasurement(
        t_inject=100.0,
        t_lost=101.0,
        t_restored=100.0 + seconds if seconds is not None and bound is Bound.EXACT else None,
        rto=Measurement(seconds=seconds, resolution_seconds=resolution, bound=bound, note=note),
        disruption_observed=True,
    )


UNDISRUPTED = RecoveryMeasurement(
    t_inject=100.0,
    t_lost=None,
    t_restored=None,
    rto=Measurement(seconds=0.0, resolution_seconds=0.0, note="no disruption observed"),
    disruption_observed=False,
)
NEVER_INJECTED = RecoveryMeasurement(
    t_inject=None,
    t_lost=None,
    t_restored=None,
    rto=Measurement(seconds=None, resolution_seconds=0.0, note="the fault never took effect"),
    disruption_observed=False,
)


def lost_data(seconds: float | None, *, bound: Bound = Bound.EXACT) -> RpoMeasurement:
    return RpoMeasurement(
        rpo=Measurement(seconds=seconds, resolution_seconds=1.0, bound=bound),
        markers_written_before_inject=10,
        markers_lost=3,
        newest_surviving_sequence=7,
        backup_age_seconds=None,
    )


BOTH = Objectives(rto=timedelta(seconds=30), rpo=timedelta(seconds=5))
RTO_ONLY = Objectives(rto=timedelta(seconds=30))
NONE = Objectives()
ZONE_MISS = (
    "zone-a-goes-dark affected no target: no pod of namespace shop was on the stopped nodes "
    "(zone-a-1, zone-a-2)"
)


@dataclass(frozen=True, kw_only=True)
class Case:
    verdict: Verdict
    finding: str
    """Text one finding must contain."""
    run_status: RunStatus = RunStatus.COMPLETED
    recovery: RecoveryMeasurement | None = field(default_factory=lambda: recovered(12.0))
    rpo: RpoMeasurement | None = field(default_factory=lambda: lost_data(2.0))
    objectives: Objectives = BOTH
    guard_tripped: bool = False
    guards: tuple[str, ...] = ()
    interrupt_signal: str | None = None
    landing: FaultLanding | None = None
    rolled_back: bool = True


CASES = [
    pytest.param(
        Case(verdict=Verdict.MET, finding="RTO 12 s met the 30 s objective"),
        id="measurements within both objectives are met",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MET,
            recovery=recovered(30.0),
            rpo=lost_data(5.0),
            finding="RPO 5 s met the 5 s objective",
        ),
        id="a measurement equal to its objective is met",
    ),
    pytest.param(
        Case(
            verdict=Verdict.ERROR,
            run_status=RunStatus.ERROR,
            finding="could not run to completion",
        ),
        id="a run that errored is an error whatever it measured",
    ),
    pytest.param(
        Case(
            verdict=Verdict.ABORTED,
            run_status=RunStatus.ABORTED,
            finding="aborted by a guard",
        ),
        id="a run stopped by a guard is aborted",
    ),
    pytest.param(
        Case(
            verdict=Verdict.ABORTED,
            guard_tripped=True,
            guards=("error-rate: 5xx above 20%",),
            finding="aborted by a guard (error-rate: 5xx above 20%)",
        ),
        id="a tripped guard aborts even a run that completed and names the guard",
    ),
    pytest.param(
        Case(
            verdict=Verdict.ABORTED,
            run_status=RunStatus.INTERRUPTED,
            interrupt_signal="SIGINT",
            finding="interrupted by signal SIGINT",
        ),
        id="an interrupted run is aborted with a finding naming the signal",
    ),
    pytest.param(
        Case(
            verdict=Verdict.ABORTED,
            run_status=RunStatus.INTERRUPTED,
            rolled_back=False,
            finding="interrupted by the experiment itself (a control or an activity stopped "
            "it): the drill was stopped, its rollbacks not run, before it completed",
        ),
        id="a run its experiment interrupted says so and that its rollbacks did not run",
    ),
    pytest.param(
        Case(
            verdict=Verdict.ABORTED,
            run_status=RunStatus.INTERRUPTED,
            recovery=recovered(600.0, bound=Bound.LOWER, note="not recovered before timeout"),
            interrupt_signal="SIGTERM",
            finding="RTO of at least 600 s exceeded the 30 s objective",
        ),
        id="an aborted run still reports the objective it missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            run_status=RunStatus.FAILED,
            finding="steady-state hypothesis deviated",
        ),
        id="a deviated steady state is missed even within the objectives",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            recovery=recovered(47.2),
            finding="RTO 47.2 s exceeded the 30 s objective",
        ),
        id="an RTO above its objective is missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            recovery=recovered(32.0, resolution=5.0),
            finding="RTO 32 s exceeded the 30 s objective (measured at 5 s resolution, "
            "so the true value may be up to 5 s lower)",
        ),
        id="an RTO above its objective by less than its resolution is missed with a caveat",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            recovery=recovered(600.0, bound=Bound.LOWER, note="not recovered before timeout"),
            finding="RTO of at least 600 s exceeded the 30 s objective: not recovered before "
            "timeout",
        ),
        id="an RTO lower bound beyond its objective is missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            recovery=recovered(30.0, bound=Bound.LOWER, note="not recovered before timeout"),
            finding="RTO of at least 30 s exceeded the 30 s objective",
        ),
        id="an RTO lower bound equal to its objective is missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            recovery=recovered(20.0, bound=Bound.LOWER, note="observation stopped 20 s after"),
            finding="RTO is at least 20 s (observation stopped 20 s after), which cannot show "
            "whether the 30 s objective was met",
        ),
        id="an RTO lower bound below its objective is inconclusive",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            recovery=recovered(None, note="the recovery condition was not observed"),
            finding="RTO could not be measured: the recovery condition was not observed, "
            "so the 30 s objective is unverified",
        ),
        id="an RTO objective without a measured RTO is inconclusive",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            recovery=None,
            finding="RTO was not measured, so the 30 s objective is unverified",
        ),
        id="an RTO objective without any recovery measurement is inconclusive",
    ),
    pytest.param(
        Case(
            verdict=Verdict.UNJUDGED,
            objectives=NONE,
            recovery=recovered(None, note="the recovery condition was not observed"),
            rpo=None,
            finding="RTO could not be measured: the recovery condition was not observed",
        ),
        id="an unmeasured RTO without an objective is reported and unjudged",
    ),
    pytest.param(
        Case(
            verdict=Verdict.UNJUDGED,
            objectives=NONE,
            recovery=recovered(47.2),
            rpo=None,
            finding="RTO 47.2 s measured (no objective declared)",
        ),
        id="without objectives a run whose steady state held is unjudged, its RTO reported",
    ),
    pytest.param(
        Case(
            verdict=Verdict.UNJUDGED,
            objectives=NONE,
            recovery=recovered(600.0, bound=Bound.LOWER, note="not recovered before timeout"),
            rpo=None,
            finding="RTO is at least 600 s: not recovered before timeout",
        ),
        id="without an RTO objective an unrecovered service is reported but not judged",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            rpo=lost_data(12.5),
            finding="RPO 12.5 s exceeded the 5 s objective",
        ),
        id="an RPO above its objective is missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            rpo=lost_data(60.0, bound=Bound.LOWER),
            finding="RPO of at least 60 s exceeded the 5 s objective",
        ),
        id="an RPO lower bound beyond its objective is missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            rpo=lost_data(None),
            finding="RPO could not be measured",
        ),
        id="an RPO objective without a measured RPO is inconclusive",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            rpo=None,
            finding="RPO was not measured (no data markers), so the 5 s objective is unverified",
        ),
        id="an RPO objective without markers is inconclusive",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MET,
            finding="3 of 10 markers written before the fault were lost",
        ),
        id="lost markers are reported with their count",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            recovery=recovered(47.2),
            rpo=lost_data(None),
            finding="RTO 47.2 s exceeded the 30 s objective",
        ),
        id="a missed objective outweighs an unmeasured one",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            objectives=NONE,
            recovery=NEVER_INJECTED,
            rpo=None,
            finding="the fault never took effect",
        ),
        id="a fault that never took effect is inconclusive even without objectives",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MET,
            recovery=UNDISRUPTED,
            finding="no disruption observed: the recovery condition held throughout",
        ),
        id="no disruption observed is met with a warning that recovery was not exercised",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MET,
            recovery=UNDISRUPTED,
            landing=FaultLanding(landed=True),
            finding="the service tolerated the fault rather than recovered from it",
        ),
        id="no disruption after a fault that landed is met: the service tolerated it",
    ),
    pytest.param(
        Case(
            verdict=Verdict.UNJUDGED,
            objectives=NONE,
            rpo=None,
            finding="no objective was declared, so nothing was judged",
        ),
        id="a run without any objective is unjudged, never met",
    ),
    pytest.param(
        Case(
            verdict=Verdict.UNJUDGED,
            objectives=Objectives(stable_for=timedelta(seconds=1), timeout=timedelta(minutes=1)),
            rpo=lost_data(2.0),
            finding="RPO 2 s measured (no objective declared)",
        ),
        id="measuring windows alone are no objective: unjudged",
    ),
    pytest.param(
        Case(
            verdict=Verdict.MISSED,
            objectives=NONE,
            rpo=None,
            run_status=RunStatus.FAILED,
            finding="steady-state hypothesis deviated",
        ),
        id="a deviation without objectives is still missed",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            recovery=UNDISRUPTED,
            landing=FaultLanding(landed=False, misses=(ZONE_MISS,)),
            finding=f"{ZONE_MISS}, so this run did not test recovery",
        ),
        id="a fault that landed on no target is inconclusive and named",
    ),
    pytest.param(
        Case(
            verdict=Verdict.INCONCLUSIVE,
            objectives=NONE,
            rpo=None,
            recovery=UNDISRUPTED,
            landing=FaultLanding(landed=False, misses=(ZONE_MISS,)),
            finding=ZONE_MISS,
        ),
        id="a fault that landed on no target is inconclusive even without objectives",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_decide_verdict(case: Case) -> None:
    outcome = decide_verdict(
        run_status=case.run_status,
        recovery=case.recovery,
        rpo=case.rpo,
        objectives=case.objectives,
        guard_tripped=case.guard_tripped,
        rolled_back=case.rolled_back,
        guards=case.guards,
        interrupt_signal=case.interrupt_signal,
        landing=case.landing,
    )

    assert outcome.verdict is case.verdict
    texts = [finding.text for finding in outcome.findings]
    assert any(case.finding in text for text in texts), texts
    assert outcome.recovery is case.recovery
    assert outcome.rpo is case.rpo


def test_a_verdict_other_than_met_leads_with_a_failure_finding() -> None:
    outcome = decide_verdict(
        run_status=RunStatus.INTERRUPTED,
        recovery=recovered(12.0),
        rpo=None,
        objectives=NONE,
        guard_tripped=False,
        rolled_back=True,
        interrupt_signal="SIGINT",
    )

    assert outcome.findings[0].severity is Severity.FAILURE
    assert outcome.findings[0].text.startswith("interrupted by signal SIGINT")


def test_capacity_is_reported_with_each_workload_that_ran_short() -> None:
    capacity = CapacityMeasurement(
        time_to_full_capacity=Measurement(seconds=95.0, resolution_seconds=0.0),
        t_full_capacity=195.0,
        workloads=(
            WorkloadCapacity(workload="shop/web", lowest_ready=1, desired=3),
            WorkloadCapacity(workload="shop/db", lowest_ready=2, desired=2),
        ),
    )

    outcome = decide_verdict(
        run_status=RunStatus.COMPLETED,
        recovery=recovered(12.0),
        rpo=None,
        objectives=RTO_ONLY,
        guard_tripped=False,
        rolled_back=True,
        capacity=capacity,
    )

    assert outcome.verdict is Verdict.MET
    assert outcome.capacity is capacity
    texts = [finding.text for finding in outcome.findings]
    assert "full capacity 95 s after the fault" in texts
    assert "shop/web dropped to 1 of 3 ready replicas" in texts
    assert not any("shop/db" in text for text in texts)


@pytest.mark.parametrize(
    ("measurement", "finding"),
    [
        pytest.param(
            Measurement(
                seconds=600.0,
                resolution_seconds=0.0,
                bound=Bound.LOWER,
                note="not at full capacity before timeout",
            ),
            "time to full capacity is at least 600 s: not at full capacity before timeout",
            id="capacity not back by the timeout is a warning",
        ),
        pytest.param(
            Measurement(seconds=None, resolution_seconds=0.0, note="no capacity was observed"),
            "time to full capacity could not be measured: no capacity was observed",
            id="unmeasured capacity is a warning",
        ),
    ],
)
def test_capacity_that_is_not_exact_is_a_warning_but_never_decides_the_verdict(
    measurement: Measurement, finding: str
) -> None:
    outcome = decide_verdict(
        run_status=RunStatus.COMPLETED,
        recovery=recovered(12.0),
        rpo=None,
        objectives=RTO_ONLY,
        guard_tripped=False,
        rolled_back=True,
        capacity=CapacityMeasurement(time_to_full_capacity=measurement, t_full_capacity=None),
    )

    assert outcome.verdict is Verdict.MET
    warnings = [f.text for f in outcome.findings if f.severity is Severity.WARNING]
    assert finding in warnings


def test_backup_age_is_reported() -> None:
    rpo = RpoMeasurement(
        rpo=Measurement(seconds=2.0, resolution_seconds=1.0),
        markers_written_before_inject=0,
        markers_lost=0,
        newest_surviving_sequence=4,
        backup_age_seconds=3600.0,
    )

    outcome = decide_verdict(
        run_status=RunStatus.COMPLETED,
        recovery=recovered(12.0),
        rpo=rpo,
        objectives=NONE,
        guard_tripped=False,
        rolled_back=True,
    )

    assert "the backup in use at the fault was 3600 s old" in [f.text for f in outcome.findings]


def test_a_fault_that_landed_nowhere_never_claims_the_service_tolerated_it() -> None:
    outcome = decide_verdict(
        run_status=RunStatus.COMPLETED,
        recovery=UNDISRUPTED,
        rpo=None,
        objectives=RTO_ONLY,
        guard_tripped=False,
        rolled_back=True,
        landing=FaultLanding(landed=False, misses=(ZONE_MISS,)),
    )

    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert not any("tolerated" in finding.text for finding in outcome.findings)


def test_an_unjudged_run_leads_with_the_missing_objective() -> None:
    outcome = decide_verdict(
        run_status=RunStatus.COMPLETED,
        recovery=recovered(12.0),
        rpo=None,
        objectives=NONE,
        guard_tripped=False,
        rolled_back=True,
        landing=FaultLanding(landed=True),
    )

    assert outcome.verdict is Verdict.UNJUDGED
    assert outcome.findings[0].text.startswith("no objective was declared, so nothing was judged")


@pytest.mark.parametrize(
    ("recovery", "landing", "tested"),
    [
        pytest.param(recovered(12.0), FaultLanding(landed=True), True, id="landed"),
        pytest.param(recovered(12.0), None, True, id="no fault recorded, recovery measured"),
        pytest.param(
            UNDISRUPTED, FaultLanding(landed=False, misses=(ZONE_MISS,)), False, id="missed"
        ),
        pytest.param(NEVER_INJECTED, None, False, id="never took effect"),
    ],
)
def test_the_outcome_says_whether_the_run_tested_recovery(
    recovery: RecoveryMeasurement, landing: FaultLanding | None, tested: bool
) -> None:
    outcome = decide_verdict(
        run_status=RunStatus.COMPLETED,
        recovery=recovery,
        rpo=None,
        objectives=RTO_ONLY,
        guard_tripped=False,
        rolled_back=True,
        landing=landing,
    )

    assert outcome.recovery_tested is tested

"""The scheduler's ``/metrics`` reports each service's readiness, from the ledger at each scrape."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from drillkit.evidence.ledger import RunEntry, read_ledger
from drillkit.evidence.recording import record_run
from drillkit.model.run import Promise, SourceFile
from drillkit.model.timeline import parse_utc
from drillkit.scheduling.daemon import DrillScheduler, FireProcesses
from drillkit.scheduling.database import Database
from tests.reporting.conftest import UTC_ORIGIN, make_record

SERVICE = """\
name: shop
owners: [platform-team]
workloads: [{kind: Deployment, namespace: shop, name: web}]
objectives:
  zone: {rto: 5m, prove_every: 90d}
  region: {rto: 30m, rpo: 15m, prove_every: 365d}
"""


def samples(scheduler: DrillScheduler) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = scheduler.metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("drillkit_readiness_")
    }


def test_metrics_give_the_score_and_each_promise_as_the_ledger_stands_at_the_scrape(
    tmp_path: Path,
) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "shop.yaml").write_text(SERVICE)
    reports = tmp_path / "reports"
    scheduler = DrillScheduler(
        Database(f"sqlite:///{tmp_path / 'scheduler.db'}"),
        scheduler_id="a",
        processes=FireProcesses(arguments=[]),
        ledger=reports,
        services_dir=services,
    )
    zone = Promise(
        service="shop",
        disruption="zone",
        owners=("platform-team",),
        rto=timedelta(minutes=5),
        rpo=None,
        prove_every=timedelta(days=90),
        service_file=SourceFile.read(services / "shop.yaml"),
    )

    assert samples(scheduler)[("drillkit_readiness_score", (("service", "shop"),))] == 0.0

    # A zone run that met the promise, then one that missed it: a finding opens.
    for day, variant in enumerate(("met", "missed")):
        record = make_record(
            variant,
            run_id=f"2025030{day + 1}-090000-ab12",
            started_utc=UTC_ORIGIN + timedelta(days=day),
        )
        record_run(dataclasses.replace(record, promise=zone), reports, signing_key=None)

    found = samples(scheduler)
    zone_labels = (("disruption", "zone"), ("service", "shop"))
    assert found[("drillkit_readiness_score", (("service", "shop"),))] == 0.0
    assert found[("drillkit_readiness_open_findings", zone_labels)] == 1.0
    assert found[("drillkit_readiness_rto_objective_seconds", zone_labels)] == 300.0
    assert ("drillkit_readiness_rpo_objective_seconds", zone_labels) not in found
    region_labels = (("disruption", "region"), ("service", "shop"))
    assert found[("drillkit_readiness_rpo_objective_seconds", region_labels)] == 900.0
    runs = [line.entry for line in read_ledger(reports) if isinstance(line.entry, RunEntry)]
    assert [run.verdict for run in runs] == ["met", "missed"]
    assert found[("drillkit_readiness_last_rto_seconds", zone_labels)] == (
        runs[-1].measurements.rto.seconds
    )
    assert found[("drillkit_readiness_last_proven_timestamp_seconds", zone_labels)] == (
        parse_utc(runs[0].ended_utc).timestamp()
    )
    assert ("drillkit_readiness_last_proven_timestamp_seconds", region_labels) not in found

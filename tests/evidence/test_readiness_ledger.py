"""The readiness score from the ledger alone: every run proving a service records all of
the service's objectives as they were, so ``drill readiness --from-ledger`` needs no
service file, and entries written before that still verify with the bytes they had."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.errors import InvalidInput
from drillkit.evidence.ledger import entry_payload, parse_entry
from drillkit.evidence.verify import verify_ledger
from drillkit.model.drill import Disruption
from drillkit.model.loading import load_model
from drillkit.model.run import Promise, SourceFile
from drillkit.model.services import Service, promised_objectives
from drillkit.signing import SigningKey, generate_key_pair, load_verify_key
from tests.evidence.conftest import enter_proving_run, run_id_of
from tests.reporting.conftest import Variant

OBJECTIVES = {
    "pod": {"rto": "30s", "prove_every": "30d"},
    "zone": {"rto": "30s", "prove_every": "90d"},
    "region": {"rto": "30m", "prove_every": "365d"},
}


def write_service(directory: Path, objectives: dict[str, dict[str, str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "shop.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "shop",
                "owners": ["platform-team"],
                "workloads": [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
                "objectives": objectives,
            },
            sort_keys=False,
        )
    )
    return path


def prove(
    reports_dir: Path,
    service_file: Path,
    day: int,
    disruption: str,
    variant: Variant,
    *,
    recorded: bool = True,
    signing_key: SigningKey | None = None,
) -> None:
    """A run on ``day`` proving shop's ``disruption``, entered and judged by the ledger's
    own code; ``recorded=False`` writes it as runs did before they recorded the service's
    objectives."""
    service = load_model(service_file, Service, noun="service")
    promised = service.objectives[Disruption(disruption)]
    promise = Promise(
        service="shop",
        disruption=disruption,
        owners=service.owners,
        rto=promised.rto,
        rpo=promised.rpo,
        prove_every=promised.prove_every,
        service_file=SourceFile.read(service_file),
        service_objectives=promised_objectives(service) if recorded else (),
    )
    enter_proving_run(reports_dir, promise, day, variant, signing_key=signing_key)


def readiness(*options: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["readiness", "shop", "-o", "json", *options])
    assert result.exit_code == 0, result.output
    document: list[dict[str, object]] = json.loads(result.output)
    return document


def test_the_ledger_alone_gives_the_score_the_service_files_give(tmp_path: Path) -> None:
    services, reports = tmp_path / "services", tmp_path / "reports"
    service_file = write_service(services, OBJECTIVES)
    for day, disruption, variant in [
        (0, "zone", "met"),
        (1, "pod", "missed"),
        (2, "zone", "missed"),
        (3, "zone", "met"),
    ]:
        prove(reports, service_file, day, disruption, variant)  # type: ignore[arg-type]
    at = ("--at", "2025-03-10", "--reports-dir", str(reports))

    from_files = readiness("--services-dir", str(services), *at)
    from_ledger = readiness("--from-ledger", "--services-dir", str(tmp_path / "nowhere"), *at)

    assert from_ledger == from_files
    (shop,) = from_ledger
    # zone proven; pod's finding open; region never proven.
    assert shop["score"] == 33.3
    assert [line.split(":")[0] for line in shop["deductions"]] == ["-33.3 pod", "-33.3 region"]


def test_the_ledger_weighs_the_objectives_its_newest_run_recorded(tmp_path: Path) -> None:
    services, reports = tmp_path / "services", tmp_path / "reports"
    service_file = write_service(services, OBJECTIVES)
    prove(reports, service_file, 0, "zone", "met")
    # Then the team promises a zone RTO tighter than the run measured (20 s), and no
    # region at all; a pod drill records the new promises.
    tightened = {"pod": OBJECTIVES["pod"], "zone": {"rto": "10s", "prove_every": "90d"}}
    service_file = write_service(services, tightened)
    prove(reports, service_file, 1, "pod", "met")
    at = ("--reports-dir", str(reports), "--from-ledger")

    # The first run ended on 2025-03-01, the second on 2025-03-02.
    before = readiness("--at", "2025-03-01T18:00:00Z", *at)
    after = readiness("--at", "2025-03-10", *at)

    assert [p["disruption"] for p in before[0]["promises"]] == ["pod", "zone", "region"]  # type: ignore[index]
    assert [p["disruption"] for p in after[0]["promises"]] == ["pod", "zone"]  # type: ignore[index]
    assert after[0]["deductions"] == [
        f"-50 zone: last proven by shop-zone/{run_id_of(0)}, whose RTO of 20 s is beyond the "
        "10s the service now promises"
    ]
    assert after == readiness("--at", "2025-03-10", "--services-dir", str(services), *at[:-1])


def test_a_ledger_whose_runs_recorded_no_objectives_says_so(tmp_path: Path) -> None:
    service_file = write_service(tmp_path / "services", OBJECTIVES)
    prove(tmp_path / "reports", service_file, 0, "zone", "met", recorded=False)

    result = CliRunner().invoke(
        cli, ["readiness", "--from-ledger", "--reports-dir", str(tmp_path / "reports")]
    )

    assert isinstance(result.exception, InvalidInput)
    assert str(result.exception) == "no run of the ledger records a service's objectives"


def test_an_entry_without_the_service_s_objectives_keeps_its_bytes_and_verifies(
    tmp_path: Path,
) -> None:
    signing_key, public_key = generate_key_pair(tmp_path / "signing-key.pem")
    service_file = write_service(tmp_path / "services", OBJECTIVES)
    reports = tmp_path / "reports"
    prove(reports, service_file, 0, "zone", "met", recorded=False, signing_key=signing_key)
    prove(reports, service_file, 1, "zone", "met", signing_key=signing_key)

    old, new = (reports / "ledger.jsonl").read_bytes().splitlines()

    assert "service_objectives" not in json.loads(old)["promise"]
    assert json.loads(new)["promise"]["service_objectives"][1] == {
        "disruption": "zone",
        "rto_seconds": 30.0,
        "rpo_seconds": None,
        "prove_every_seconds": 90 * 86400.0,
    }
    for number, line in enumerate((old, new), start=1):
        written = json.loads(line)
        del written["sig"]
        assert entry_payload(parse_entry(number, line).entry) == written
    report = verify_ledger(reports, verify_key=load_verify_key(public_key))
    assert report.problems == ()

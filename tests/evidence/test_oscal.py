"""The OSCAL export: a real ledger's runs and findings as NIST assessment results and a POA&M,
validated against NIST's OSCAL model as compliance-trestle implements it."""

from __future__ import annotations

import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from trestle.oscal import OSCAL_VERSION
from trestle.oscal.assessment_results import Model as AssessmentResultsModel
from trestle.oscal.poam import Model as PoamModel

from drillkit.cli.main import cli
from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.findings import note_finding
from drillkit.evidence.ledger import FindingAction, RunEntry, append_finding, append_run
from drillkit.evidence.oscal import (
    ASSESSMENT_RESULTS_FILE,
    POAM_FILE,
    export_oscal,
)
from drillkit.evidence.oscal import (
    OSCAL_VERSION as EXPORTED_VERSION,
)
from drillkit.evidence.store import sync_ledger
from tests.cli_schemas import assert_matches_schema
from tests.evidence.conftest import RECORDED, write_run
from tests.evidence.test_store_s3 import open_store
from tests.reporting.conftest import UTC_ORIGIN

START = UTC_ORIGIN.replace(hour=0)
END = START + timedelta(days=10)


def record(reports_dir: Path, index: int, variant: str) -> RunEntry:
    """Run ``index`` of ``variant`` written by the report writer and entered in the ledger."""
    run_dir = write_run(reports_dir, index, variant=variant)  # type: ignore[arg-type]
    return append_run(reports_dir, run_dir, now=RECORDED)


def open_finding(reports_dir: Path, run: RunEntry, disruption: str) -> str:
    entry = append_finding(
        reports_dir,
        finding=None,
        action=FindingAction.OPENED,
        service="shop",
        disruption=disruption,
        text=f"{run.verdict}: the shop stayed down",
        run=run,
        now=RECORDED,
    )
    return entry.finding


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A met run, a missed run that opened finding zone (noted, still open), and a missed
    run that opened finding pod, closed by a later met run."""
    reports_dir = tmp_path / "reports"
    record(reports_dir, 0, "met")
    missed = record(reports_dir, 1, "missed")
    zone = open_finding(reports_dir, missed, "zone")
    note_finding(
        reports_dir,
        zone,
        text="the drain waits for the PDB",
        owner="platform-team",
        remediation="relax the PDB of shop/web",
        due=date(2025, 7, 31),
        now=RECORDED,
    )
    pod_miss = record(reports_dir, 2, "missed")
    pod = open_finding(reports_dir, pod_miss, "pod")
    closing = record(reports_dir, 3, "met")
    append_finding(
        reports_dir,
        finding=pod,
        action=FindingAction.CLOSED,
        service="shop",
        disruption="pod",
        text="closed by a met run",
        run=closing,
        now=RECORDED,
    )
    return reports_dir


def export(reports_dir: Path, output: Path) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Export the period; both documents, validated by trestle, and the zip's bytes."""
    export_oscal(reports_dir, output, start=START, end=END, catalogue=load_catalogue())
    results, poam = validated(output)
    assert poam is not None
    return results, poam, output.read_bytes()


def validated(output: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The documents of an OSCAL export, each validated against its trestle model."""
    with zipfile.ZipFile(output) as bundle:
        names = bundle.namelist()
        assert names in ([ASSESSMENT_RESULTS_FILE], [ASSESSMENT_RESULTS_FILE, POAM_FILE])
        results = json.loads(bundle.read(ASSESSMENT_RESULTS_FILE))
        poam = json.loads(bundle.read(POAM_FILE)) if POAM_FILE in names else None
    AssessmentResultsModel.model_validate(results)
    if poam is None:
        return results["assessment-results"], None
    PoamModel.model_validate(poam)
    return results["assessment-results"], poam["plan-of-action-and-milestones"]


def props(item: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for prop in item.get("props", []):
        found.setdefault(prop["name"], []).append(prop["value"])
    return found


def test_both_documents_follow_the_oscal_version_trestle_implements() -> None:
    assert EXPORTED_VERSION == OSCAL_VERSION


def test_each_run_is_an_observation_and_a_missed_run_a_finding_for_each_of_its_controls(
    reports: Path, tmp_path: Path
) -> None:
    results, _, _ = export(reports, tmp_path / "oscal.zip")

    (result,) = results["results"]
    observations = {props(o)["run-id"][0]: o for o in result["observations"]}
    assert len(observations) == 4
    missed = next(o for o in observations.values() if props(o)["verdict"] == ["missed"])
    assert props(missed)["control"] == ["ISO27001-A.5.30", "SOC2-A1.3"]
    assert missed["relevant-evidence"][0]["href"].endswith(
        f"{props(missed)['run-id'][0]}/report.html"
    )

    # Two missed runs, each evidence for two controls: four findings.
    assert len(result["findings"]) == 4
    of_missed = [
        f
        for f in result["findings"]
        if f["related-observations"] == [{"observation-uuid": missed["uuid"]}]
    ]
    assert sorted(f["target"]["target-id"] for f in of_missed) == ["ISO27001-A.5.30", "SOC2-A1.3"]
    assert {f["target"]["status"]["state"] for f in of_missed} == {"not-satisfied"}
    met = [o["uuid"] for o in observations.values() if props(o)["verdict"] == ["met"]]
    linked = {r["observation-uuid"] for f in result["findings"] for r in f["related-observations"]}
    assert linked.isdisjoint(met)
    selected = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert [c["control-id"] for c in selected] == ["ISO27001-A.5.30", "SOC2-A1.3"]


def test_only_an_open_finding_is_a_poam_item_with_its_owner_remediation_and_due_date(
    reports: Path, tmp_path: Path
) -> None:
    results, poam, _ = export(reports, tmp_path / "oscal.zip")

    (item,) = poam["poam-items"]
    assert props(item)["disruption"] == ["zone"]
    (risk,) = poam["risks"]
    assert item["related-risks"] == [{"risk-uuid": risk["uuid"]}]
    assert risk["status"] == "open" and risk["deadline"] == "2025-07-31T23:59:59Z"
    (remediation,) = risk["remediations"]
    assert remediation["description"] == "relax the PDB of shop/web"
    (task,) = remediation["tasks"]
    assert task["timing"]["on-date"]["date"] == "2025-07-31T23:59:59Z"
    (party,) = poam["metadata"]["parties"]
    assert party["name"] == "platform-team"
    assert task["responsible-roles"][0]["party-uuids"] == [party["uuid"]]

    # The run that opened it is its observation, the same one as in the assessment results.
    (observation,) = poam["observations"]
    assert item["related-observations"] == [{"observation-uuid": observation["uuid"]}]
    assert props(observation)["verdict"] == ["missed"]
    assert observation["uuid"] in {o["uuid"] for o in results["results"][0]["observations"]}


def test_the_same_ledger_exports_the_same_bytes_and_a_longer_one_new_uuids(
    reports: Path, tmp_path: Path
) -> None:
    first = export(reports, tmp_path / "first.zip")
    again = export(reports, tmp_path / "again.zip")
    assert first[2] == again[2]

    record(reports, 4, "met")
    longer = export(reports, tmp_path / "longer.zip")
    assert longer[0]["uuid"] != first[0]["uuid"]
    # A run keeps its observation's UUID: it is the UUID of its ledger entry.
    kept = {o["uuid"] for o in first[0]["results"][0]["observations"]}
    assert kept < {o["uuid"] for o in longer[0]["results"][0]["observations"]}


def test_a_ledger_without_open_findings_gives_no_poam(tmp_path: Path) -> None:
    reports_dir = tmp_path / "reports"
    record(reports_dir, 0, "met")
    output = tmp_path / "oscal.zip"

    export_oscal(reports_dir, output, start=START, end=END, catalogue=load_catalogue())

    results, poam = validated(output)
    assert poam is None
    assert "findings" not in results["results"][0]


def test_evidence_export_format_oscal_writes_both_documents_and_describes_them(
    reports: Path, tmp_path: Path
) -> None:
    written = tmp_path / "q1-oscal.zip"

    result = CliRunner().invoke(
        cli,
        [
            "evidence", "export", "--reports-dir", str(reports), "--format", "oscal",
            "--from", "2025-03-01", "--to", "2025-03-10", "--output-file", str(written),
            "-o", "json",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    exported = assert_matches_schema("evidence-export", result.stdout)
    assert (exported["format"], exported["runs"]) == ("oscal", 4)
    assert (exported["findings"], exported["poam_items"]) == (4, 1)
    _, poam = validated(written)
    assert poam is not None and len(poam["poam-items"]) == 1


def test_evidence_export_format_oscal_refuses_pdf(reports: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "evidence", "export", "--reports-dir", str(reports), "--format", "oscal", "--pdf",
            "--from", "2025-03-01", "--to", "2025-03-10",
            "--output-file", str(tmp_path / "x.zip"),
        ],
    )  # fmt: skip

    assert result.exit_code == 2
    assert "--pdf is for --format bundle" in result.output
    assert not (tmp_path / "x.zip").exists()


def test_the_fleet_s_store_exports_the_documents_of_the_ledger_synced_to_it(
    reports: Path, tmp_path: Path, evidence_url: str
) -> None:
    # The ledger holds a note, whose run is null: it is synced as it is.
    sync_ledger(open_store(evidence_url), reports, signing_key=None)
    local, local_poam, _ = export(reports, tmp_path / "local.zip")

    result = CliRunner().invoke(
        cli,
        [
            "evidence", "export", "--evidence", evidence_url, "--format", "oscal",
            "--from", "2025-03-01", "--to", "2025-03-10",
            "--output-file", str(tmp_path / "store.zip"), "-o", "json",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    stored, stored_poam = validated(tmp_path / "store.zip")
    assert stored_poam is not None
    # The store re-chains each entry (its own numbers and times): the same runs, findings
    # and open items, under other UUIDs.
    (local_result,), (stored_result,) = local["results"], stored["results"]
    assert [o["title"] for o in stored_result["observations"]] == [
        o["title"] for o in local_result["observations"]
    ]
    assert sorted(f["target"]["target-id"] for f in stored_result["findings"]) == sorted(
        f["target"]["target-id"] for f in local_result["findings"]
    )
    assert [i["title"] for i in stored_poam["poam-items"]] == [
        i["title"] for i in local_poam["poam-items"]
    ]

"""Findings end to end: real ``drill run``s of drills proving a service, read back from the ledger.

The drills act on the file service of ``tests/running/drills`` (no cluster): the service
comes back ``HEAL_AFTER`` seconds after the fault, so a promised RTO of 1 s is missed and
one of 30 s is met. A miss opens a finding; a met run of another disruption leaves it
open; a met run of the same service and disruption closes it, and says so in the ledger.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from drillkit.errors import InvalidInput
from drillkit.evidence.findings import note_finding
from drillkit.evidence.ledger import FindingAction, append_finding
from tests.helpers import drill_command
from tests.running.test_drill_run import DRILLS, environment


def project(tmp_path: Path, *, pod_rto: str) -> Path:
    """A service promising pod and node objectives, and a drill proving each."""
    services = tmp_path / "services"
    services.mkdir(exist_ok=True)
    (services / "files.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "files",
                "owners": ["storage-team"],
                "workloads": [{"kind": "Deployment", "namespace": "default", "name": "files"}],
                "objectives": {
                    "pod": {"rto": pod_rto, "prove_every": "30d"},
                    "node": {"rto": "30s", "prove_every": "90d"},
                },
            },
            sort_keys=False,
        )
    )
    drills = tmp_path / "drills"
    drills.mkdir(exist_ok=True)
    for disruption in ("pod", "node"):
        drill = yaml.safe_load((DRILLS / "file-service.yaml").read_text())
        del drill["objectives"]["rto"]
        drill["name"] = f"files-{disruption}"
        drill["experiment"] = str(DRILLS / "file-service-experiment.yaml")
        drill["proves"] = {"service": "../services/files.yaml", "disruption": disruption}
        (drills / f"files-{disruption}.yaml").write_text(yaml.safe_dump(drill))
    return drills


def drill(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_command(*arguments),
        env=environment(tmp_path, HEAL_AFTER="2"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run(tmp_path: Path, name: str) -> str:
    """Run drills/NAME in tmp_path; its verdict."""
    result = drill(
        tmp_path,
        "run", name,
        "--drills-dir", str(tmp_path / "drills"),
        "--reports-dir", str(tmp_path / "reports"),
        "--signing-key", str(tmp_path / "key.pem"),
        "-o", "json",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return str(json.loads(result.stdout)["verdict"])


def findings(tmp_path: Path, *options: str) -> list[dict[str, object]]:
    result = drill(
        tmp_path,
        "finding",
        "list",
        *options,
        "--reports-dir",
        str(tmp_path / "reports"),
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_a_miss_opens_a_finding_only_a_met_run_of_the_same_promise_closes(tmp_path: Path) -> None:
    assert drill(tmp_path, "evidence", "keygen", str(tmp_path / "key.pem")).returncode == 0
    project(tmp_path, pod_rto="1s")

    assert run(tmp_path, "files-pod") == "missed"
    (opened,) = findings(tmp_path)
    assert (opened["service"], opened["disruption"], opened["state"]) == ("files", "pod", "open")
    assert str(opened["opened_by"]).startswith("files-pod/")
    assert str(opened["reason"]).startswith("missed: ")

    # A second miss adds no second finding; a met run of the node promise closes nothing.
    assert run(tmp_path, "files-pod") == "missed"
    assert run(tmp_path, "files-node") == "met"
    assert [f["id"] for f in findings(tmp_path)] == [opened["id"]]

    noted = drill(
        tmp_path,
        "finding", "note", str(opened["id"]), "rto too tight for the repair loop",
        "--owner", "storage-team", "--remediation", "repair within 500 ms", "--due", "2027-01-15",
        "--reports-dir", str(tmp_path / "reports"), "--signing-key", str(tmp_path / "key.pem"),
    )  # fmt: skip
    assert noted.returncode == 0, noted.stderr

    # The team settles on a promise the service keeps (30 s); the next run meets it.
    project(tmp_path, pod_rto="30s")
    assert run(tmp_path, "files-pod") == "met"

    assert findings(tmp_path) == []
    (closed,) = findings(tmp_path, "--all")
    assert closed["state"] == "closed"
    assert str(closed["closed_by"]).startswith("files-pod/")
    assert closed["closed_by"] != closed["opened_by"]
    assert (closed["owner"], closed["due"]) == ("storage-team", "2027-01-15")
    (note,) = closed["notes"]  # type: ignore[misc]
    assert note["remediation"] == "repair within 500 ms"

    shown = drill(
        tmp_path, "finding", "show", str(opened["id"]), "--reports-dir", str(tmp_path / "reports")
    )
    assert shown.returncode == 0, shown.stderr
    assert f"closed   {closed['closed_utc']} by run {closed['closed_by']}" in shown.stdout

    # Opening, the note and closing are ledger entries, signed, and the chain verifies.
    verified = drill(
        tmp_path, "evidence", "verify", "--reports-dir", str(tmp_path / "reports"),
        "--signing-key", str(tmp_path / "key.pem"), "-o", "json",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout
    ledger = (tmp_path / "reports" / "ledger.jsonl").read_text().splitlines()
    kinds = [(json.loads(line)["kind"], json.loads(line).get("action")) for line in ledger]
    assert kinds == [
        ("run", None),
        ("finding", "opened"),
        ("run", None),
        ("run", None),
        ("finding", "noted"),
        ("run", None),
        ("finding", "closed"),
    ]
    assert all("sig" in json.loads(line) for line in ledger)
    counted = json.loads(verified.stdout)
    assert (counted["entries"], counted["runs"], counted["findings"]) == (7, 4, 3)


def test_a_note_on_an_unknown_finding_is_refused_in_one_line(tmp_path: Path) -> None:
    project(tmp_path, pod_rto="1s")
    reports = str(tmp_path / "reports")
    unsigned = ("--reports-dir", reports)

    unknown = drill(tmp_path, "finding", "note", "F99", "x", *unsigned)

    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        f"drill: error: no finding 'F99' in {reports}; the newest are: none yet (list them "
        "with: drill finding list --all)"
    ]


def test_a_drill_that_proves_no_service_opens_no_finding(tmp_path: Path) -> None:
    result = drill(
        tmp_path,
        "run", str(DRILLS / "file-service.yaml"), "--reports-dir", str(tmp_path / "reports"),
        "-o", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    assert findings(tmp_path, "--all") == []


def test_a_note_on_a_closed_finding_is_refused(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    opened = append_finding(
        reports, finding=None, action=FindingAction.OPENED, service="files", disruption="pod",
        text="missed: RTO 2 s exceeds the 1s objective",
    )  # fmt: skip
    append_finding(
        reports, finding=opened.finding, action=FindingAction.CLOSED, service="files",
        disruption="pod", text="closed by files-pod/2",
    )  # fmt: skip

    with pytest.raises(InvalidInput, match=f"finding {opened.finding} was closed"):
        note_finding(reports, opened.finding, text="late", owner=None, remediation=None, due=None)

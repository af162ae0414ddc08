"""``drill readiness`` on a ledger of real runs: the score, and a line for every point lost."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from tests.cli_schemas import assert_matches_schema
from tests.evidence.test_findings import drill, project, run


def readiness(tmp_path: Path, *options: str) -> tuple[int, str]:
    result = drill(
        tmp_path, "readiness",
        "--services-dir", str(tmp_path / "services"),
        "--reports-dir", str(tmp_path / "reports"),
        *options,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def a_missed_pod_run_and_a_met_node_run(tmp_path: Path) -> None:
    """The files service's project, its pod promise too tight (1 s), and one run of each."""
    assert drill(tmp_path, "evidence", "keygen", str(tmp_path / "key.pem")).returncode == 0
    project(tmp_path, pod_rto="1s")
    assert run(tmp_path, "files-pod") == "missed"
    assert run(tmp_path, "files-node") == "met"


def test_readiness_keeps_the_share_of_each_proven_promise_and_explains_each_lost_one(
    tmp_path: Path,
) -> None:
    a_missed_pod_run_and_a_met_node_run(tmp_path)

    code, text = readiness(tmp_path, "-o", "json")

    assert code == 0
    (files,) = assert_matches_schema("readiness", text)
    assert files["score"] == 50.0
    pod, node = files["promises"]
    assert (pod["disruption"], pod["state"], pod["points"]) == ("pod", "failing", 0.0)
    (finding,) = pod["open_findings"]
    assert pod["newest"]["verdict"] == "missed" and pod["last_met"] is None
    assert (node["disruption"], node["state"], node["points"]) == ("node", "proven", 50.0)
    assert node["last_met"]["run"].startswith("files-node/")
    (deduction,) = files["deductions"]
    assert deduction.startswith(f"-50 pod: finding {finding} open since ")
    assert deduction.endswith("not closed by a run that met the objectives")

    # A CI gate: below the minimum, exit 1.
    assert readiness(tmp_path, "--min-score", "60")[0] == 1
    assert readiness(tmp_path, "--min-score", "50")[0] == 0

    # The same ledger, assessed 100 days on: the node proof is older than its 90 days.
    ended = node["last_met"]["ended_utc"][:10]
    later = (date.fromisoformat(ended) + timedelta(days=100)).isoformat()
    code, text = readiness(tmp_path, "--at", later)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("files: 0/100 (as of ")
    assert lines[-2].startswith(f"  -50 pod: finding {finding} open since ")
    assert lines[-1].startswith("  -50 node: last proven ")
    assert lines[-1].endswith("required every 90d")


def test_readiness_of_an_unknown_service_is_refused_in_one_line(tmp_path: Path) -> None:
    project(tmp_path, pod_rto="1s")

    result = drill(
        tmp_path, "readiness", "billing", "--services-dir", str(tmp_path / "services"),
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"drill: error: no service named 'billing' in {tmp_path / 'services'}"
    )
    assert json.loads(readiness(tmp_path, "-o", "json")[1])[0]["deductions"] == [
        "-50 pod: never proven",
        "-50 node: never proven",
    ]


def test_readiness_at_a_past_moment_counts_only_what_the_ledger_held_then(
    tmp_path: Path,
) -> None:
    a_missed_pod_run_and_a_met_node_run(tmp_path)
    yesterday = (date.today() - timedelta(days=1)).isoformat()

    code, text = readiness(tmp_path, "--at", yesterday, "-o", "json")

    assert code == 0
    (files,) = assert_matches_schema("readiness", text)
    # Neither run had happened, nor had the pod run's finding been opened.
    assert files["score"] == 0.0
    assert [(p["disruption"], p["state"]) for p in files["promises"]] == [
        ("pod", "never proven"),
        ("node", "never proven"),
    ]
    assert all(not p["open_findings"] for p in files["promises"])

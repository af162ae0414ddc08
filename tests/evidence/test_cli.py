"""``drill evidence`` and the ledger hook of ``drill run``, via click and the ``drill`` command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.evidence.ledger import read_ledger
from tests.cli_schemas import assert_matches_schema
from tests.evidence.conftest import flip_byte, record_runs
from tests.helpers import drill_command

EXPERIMENT = """\
title: the shell answers
description: a drill that needs no cluster
steady-state-hypothesis:
  title: true is true
  probes:
    - type: probe
      name: true
      tolerance: 0
      provider: {type: process, path: /bin/true}
method:
  - type: action
    name: nothing
    provider: {type: process, path: /bin/true}
"""
DRILL = """\
name: harmless
experiment: experiment.yaml
target: {namespaces: [shop]}
objectives: {rto: 30s, stable_for: 200ms, timeout: 1s}
recovery: {poll_interval: 200ms}
evidence: {owner: sre, controls: [SOC2-A1.3]}
"""


@pytest.fixture
def harmless(tmp_path: Path) -> Path:
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT)
    (tmp_path / "harmless.yaml").write_text(DRILL)
    return tmp_path / "harmless.yaml"


def test_every_drill_run_is_entered_in_the_ledger_signed_with_the_configured_key(
    tmp_path: Path, harmless: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    key = tmp_path / "key.pem"
    assert runner.invoke(cli, ["evidence", "keygen", str(key)]).exit_code == 0
    monkeypatch.setenv("DRILL_SIGNING_KEY", str(key))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    reports = tmp_path / "reports"

    for _ in range(2):
        runner.invoke(cli, ["run", str(harmless), "--reports-dir", str(reports)])

    lines = read_ledger(reports)
    assert [line.entry.kind for line in lines if line.entry] == ["run", "run"]
    assert all(line.entry and line.entry.sig for line in lines)
    verified = runner.invoke(
        cli,
        ["evidence", "verify", "--reports-dir", str(reports), "--public-key", f"{key}.pub"],
    )
    assert verified.exit_code == 0, verified.output
    assert "INTACT" in verified.output


def test_a_broken_signing_key_stops_a_run_before_it_starts(tmp_path: Path, harmless: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    key.chmod(0o600)
    reports = tmp_path / "reports"

    result = subprocess.run(
        [*drill_command(), "run", str(harmless), "--reports-dir", str(reports)],
        env={**os.environ, "DRILL_SIGNING_KEY": str(key)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2
    assert f"drill: error: {key}: not an unencrypted PEM private key" in result.stderr
    assert not reports.exists()


def test_verify_exits_0_when_intact_and_1_naming_the_file_when_not(tmp_path: Path) -> None:
    run_dirs = record_runs(tmp_path, 2)
    command = [*drill_command(), "evidence", "verify", "--reports-dir", str(tmp_path)]
    env = {**os.environ, "DRILLKIT_HOME": os.environ["DRILLKIT_HOME"]}

    intact = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    flip_byte(run_dirs[1] / "report.html", 1000)
    tampered = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "INTACT" in intact.stdout
    assert tampered.returncode == 1
    assert "TAMPERED: 1 problem" in tampered.stdout
    assert f"run pod-kill/{run_dirs[1].name} (ledger line 2): report.html was altered" in (
        tampered.stdout
    )


def test_verify_json_lists_problems_with_line_run_and_file(tmp_path: Path) -> None:
    run_dirs = record_runs(tmp_path, 2)
    flip_byte(run_dirs[0] / "report.json", 5)

    result = CliRunner().invoke(
        cli, ["evidence", "verify", "--reports-dir", str(tmp_path), "-o", "json"]
    )

    report = assert_matches_schema("evidence-verify", result.output)
    assert result.exit_code == 1
    assert report["intact"] is False
    assert report["head"].startswith("2:")
    assert report["problems"] == [
        {
            "kind": "file altered",
            "message": report["problems"][0]["message"],
            "line": 1,
            "run": f"zone-failure/{run_dirs[0].name}",
            "file": "report.json",
        }
    ]


def test_export_refuses_tampered_evidence_with_exit_1(tmp_path: Path) -> None:
    run_dirs = record_runs(tmp_path, 2)
    (run_dirs[0] / "journal.json").unlink()
    output = tmp_path / "bundle.zip"

    result = subprocess.run(
        [
            *drill_command(),
            "evidence",
            "export",
            "--reports-dir",
            str(tmp_path),
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-31",
            "--output-file",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "journal.json is missing" in result.stderr
    assert not output.exists()


def test_export_prints_the_head_to_keep(tmp_path: Path) -> None:
    record_runs(tmp_path, 3)
    output = tmp_path / "q1.zip"

    result = CliRunner().invoke(
        cli,
        [
            "evidence",
            "export",
            "--reports-dir",
            str(tmp_path),
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-02",
            "--output-file",
            str(output),
        ],
    )

    assert result.exit_code == 0, result.output
    assert f"{output}: 2 runs, 0 skips" in result.output
    head = result.output.split("ledger head  ")[1].split()[0]
    kept = CliRunner().invoke(
        cli, ["evidence", "verify", "--reports-dir", str(tmp_path), "--head", head]
    )
    assert kept.exit_code == 0, kept.output


def test_a_bad_date_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["evidence", "export", "--from", "March", "--to", "2025-03-31", "--output-file", "x.zip"],
    )

    assert result.exit_code == 2
    assert "'March' is not a date" in result.output


def test_adopt_enters_reports_missing_from_the_ledger(tmp_path: Path) -> None:
    from tests.evidence.conftest import write_run

    record_runs(tmp_path, 1)
    write_run(tmp_path, 4)

    dry = CliRunner().invoke(
        cli, ["evidence", "adopt", "--reports-dir", str(tmp_path), "--dry-run"]
    )
    done = CliRunner().invoke(cli, ["evidence", "adopt", "--reports-dir", str(tmp_path)])

    assert "would adopt" in dry.output
    assert "adopted zone-failure/20250305-090000-000004 as entry 2" in done.output
    assert (
        CliRunner().invoke(cli, ["evidence", "verify", "--reports-dir", str(tmp_path)]).exit_code
        == 0
    )


def test_run_o_json_prints_the_summary_alone_on_stdout(
    tmp_path: Path, harmless: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))

    result = CliRunner().invoke(
        cli, ["run", str(harmless), "--reports-dir", str(tmp_path / "reports"), "-o", "json"]
    )

    summary = assert_matches_schema("run", result.stdout)
    assert summary["drill"] == "harmless"
    assert result.exit_code == {"met": 0}.get(summary["verdict"], result.exit_code)


def test_run_dry_run_o_json_prints_the_plan_and_changes_nothing(
    tmp_path: Path, harmless: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    reports = tmp_path / "reports"

    result = CliRunner().invoke(
        cli, ["run", str(harmless), "--reports-dir", str(reports), "--dry-run", "-o", "json"]
    )

    assert result.exit_code == 0, result.output
    plan = assert_matches_schema("run-dry-run", result.stdout)
    assert (plan["drill"], plan["dry_run"], plan["namespaces"]) == ("harmless", True, ["shop"])
    assert plan["method"] and plan["violations"] == []
    assert not reports.exists()


def test_report_list_o_json_gives_every_run_newest_first(tmp_path: Path) -> None:
    run_dirs = record_runs(tmp_path, 3)

    result = CliRunner().invoke(
        cli, ["report", "list", "--reports-dir", str(tmp_path), "-o", "json"]
    )

    assert result.exit_code == 0, result.output
    listed = assert_matches_schema("report-list", result.stdout)
    assert [run["run_id"] for run in listed] == [d.name for d in reversed(run_dirs)]
    assert all(run["state"] == (run["verdict"] or run["state"]) for run in listed)


def test_report_show_o_json_prints_report_json_and_path_prints_the_directory(
    tmp_path: Path,
) -> None:
    (run_dir,) = record_runs(tmp_path, 1)
    show = ["report", "show", run_dir.name, "--reports-dir", str(tmp_path)]

    as_json = CliRunner().invoke(cli, [*show, "-o", "json"])
    as_text = CliRunner().invoke(cli, show)
    path = CliRunner().invoke(cli, [*show, "--path"])
    both = CliRunner().invoke(cli, [*show, "--path", "-o", "json"])

    assert as_json.exit_code == 0, as_json.output
    report = assert_matches_schema("report", as_json.stdout)
    assert report["run_id"] == run_dir.name
    assert as_text.stdout == (
        (run_dir / "report.md").read_text().rstrip() + f"\n\n(HTML: {run_dir / 'report.html'})\n"
    )
    assert path.stdout == f"{run_dir}\n"
    assert both.exit_code == 2 and both.stdout == ""


def test_export_o_json_describes_the_bundle_written(tmp_path: Path) -> None:
    record_runs(tmp_path, 3)
    bundle = tmp_path / "q1.zip"

    result = CliRunner().invoke(
        cli,
        [
            "evidence", "export", "--reports-dir", str(tmp_path),
            "--from", "2025-03-01", "--to", "2025-03-02", "--output-file", str(bundle),
            "-o", "json",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    exported = assert_matches_schema("evidence-export", result.stdout)
    assert (exported["bundle"], exported["runs"]) == (str(bundle), 2)
    assert exported["head"] is not None and bundle.is_file()

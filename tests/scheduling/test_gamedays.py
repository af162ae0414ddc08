"""Game days: the file, the order of steps, checkpoints, stopping, and the aggregated report."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit import __version__
from drillkit.cli.main import cli
from drillkit.errors import InvalidInput
from drillkit.scheduling.gamedays import (
    GameDayRecord,
    GameDayVerdict,
    StepResult,
    StepStatus,
    load_gameday,
    run_gameday,
    write_gameday_report,
)
from drillkit.scheduling.launching import DrillRunResult
from tests.cli_schemas import assert_matches_schema
from tests.reporting.test_junit import ensure_junit_shape
from tests.scheduling.conftest import TEST_DRILLS, FakeClock, Receiver

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def test_the_shipped_game_day_runs_the_shipped_drills() -> None:
    gameday = load_gameday(REPOSITORY / "gamedays" / "quarterly-resilience.yaml")

    assert gameday.drills() == ["pod-kill", "zone-failure"]
    assert all((REPOSITORY / "drills" / f"{drill}.yaml").is_file() for drill in gameday.drills())
    assert gameday.schedule is not None and len(gameday.schedule.blackouts) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "name: g\nsteps:\n  - drill: noop\n  - wait: 5m\n",
            "g.yaml:4:5: steps[1]: expected a step with one of: drill, pause, checkpoint",
            id="unknown-step",
        ),
        pytest.param(
            "name: g\nsteps:\n  - drill: noop\n  - pause: five minutes\n",
            "g.yaml:4:12: steps[1].pause: invalid duration 'five minutes'",
            id="bad-pause",
        ),
        pytest.param(
            "name: g\nsteps:\n  - pause: 5m\n",
            "g.yaml:3:3: steps: a game day needs at least one drill step",
            id="no-drill",
        ),
        pytest.param(
            "name: g\nsteps:\n  - drill: noop\n    continue: true\n",
            "g.yaml:4:5: steps[0].continue: unknown field",
            id="unknown-field",
        ),
        pytest.param(
            "steps:\n  - drill: noop\n",
            "g.yaml:1:1: name: missing required field",
            id="missing-name",
        ),
        pytest.param(
            "name: g\nsteps:\n  - drill: noop\ndescriptoin: x\n",
            "g.yaml:4:1: descriptoin: unknown field 'descriptoin' (did you mean 'description'?)",
            id="misspelt-field",
        ),
        pytest.param(
            "# nothing yet\n",
            "g.yaml:1:1: -: the file is empty: a game day needs at least name and steps",
            id="empty",
        ),
        pytest.param(
            "- drill: noop\n",
            "g.yaml:1:1: -: expected a mapping of game day fields (name, steps, ...), found a list",
            id="not-a-mapping",
        ),
        pytest.param(
            "name: g\nname: h\nsteps: []\n",
            "g.yaml:2:1: name: duplicate key 'name' (first given on line 1)",
            id="duplicate-key",
        ),
        pytest.param(
            "name: g\nsteps: [drill: noop\n",
            "g.yaml:3:1: -: YAML syntax error: expected ',' or ']'",
            id="yaml-syntax",
        ),
    ],
)
def test_an_invalid_game_day_is_one_line_naming_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "g", text)

    with pytest.raises(InvalidInput) as raised:
        load_gameday(path)

    assert str(raised.value).startswith(f"{tmp_path}/{message}"), str(raised.value)
    assert "\n" not in str(raised.value)


GAMEDAY = """\
name: practice
description: Two drills with a pause and checkpoints.
steps:
  - checkpoint: Everyone is ready
  - drill: noop
  - pause: 100ms
    reason: look at the dashboards
  - drill: noop
  - checkpoint: Everything is back to normal
evidence: {owner: platform-team, approver: head-of-sre, controls: [SOC2-A1.3]}
"""


def run_cli(tmp_path: Path, *arguments: str, answers: str | None = None) -> object:
    return CliRunner().invoke(
        cli,
        [
            "gameday",
            "run",
            "practice",
            "--gamedays-dir",
            str(tmp_path / "gamedays"),
            "--drills-dir",
            str(TEST_DRILLS),
            "--reports-dir",
            str(tmp_path / "reports"),
            *arguments,
        ],
        input=answers,
        catch_exceptions=False,
    )


def test_an_unattended_game_day_runs_every_step_and_reports_them_together(
    tmp_path: Path,
) -> None:
    write(tmp_path / "gamedays", "practice", GAMEDAY)

    result = run_cli(tmp_path, "--yes", "--output", "json")

    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    last_line = result.stdout.strip().splitlines()[-1]  # type: ignore[attr-defined]
    summary = assert_matches_schema("gameday-run", last_line)
    assert summary["verdict"] == "met"
    assert summary["unattended"] is True
    assert [(s["kind"], s["status"]) for s in summary["steps"]] == [
        ("checkpoint", "confirmed-unattended"),
        ("drill", "met"),
        ("pause", "waited"),
        ("drill", "met"),
        ("checkpoint", "confirmed-unattended"),
    ]
    assert summary["drills"] == {"total": 2, "ran": 2, "by_status": {"met": 2}}
    assert summary["accountability"]["approver"] == "head-of-sre"
    report_dir = Path(summary["report_dir"])
    assert report_dir.parent == tmp_path / "reports" / "gamedays" / "practice"
    assert {p.name for p in report_dir.iterdir()} == {
        "gameday.json",
        "gameday.md",
        "gameday.html",
        "manifest.json",
    }
    markdown = (report_dir / "gameday.md").read_text()
    assert markdown.startswith("# Game day practice: MET")
    assert "Drills: 2 of 2 met their objectives" in markdown
    # Each drill has its own report, linked from the game day's.
    for step in summary["steps"]:
        if step["kind"] == "drill":
            assert (Path(step["report_dir"]) / "report.json").is_file()
            assert step["run_id"] in markdown


def test_junit_and_webhook_give_ci_each_drill_of_the_game_day(
    tmp_path: Path, receiver: Receiver
) -> None:
    write(tmp_path / "gamedays", "practice", GAMEDAY)
    junit = tmp_path / "junit.xml"

    result = run_cli(
        tmp_path, "--yes", "--output", "json", "--junit", str(junit), "--webhook", receiver.url
    )

    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    summary = json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]
    run_ids = [step["run_id"] for step in summary["steps"] if step["kind"] == "drill"]
    root = ensure_junit_shape(junit.read_bytes())
    assert root.get("name") == "practice"
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == ["noop (step 2)", "noop (step 4)"]
    for suite, run_id in zip(suites, run_ids, strict=True):
        assert {p.get("name"): p.get("value") for p in suite.iter("property")}["run_id"] == run_id
        assert [(case.get("classname"), case.get("name")) for case in suite][1:] == [
            ("practice.noop", "RTO"),
            ("practice.noop", "steady state before: always-true"),
            ("practice.noop", "steady state after: always-true"),
        ]
        assert suite.get("failures") == suite.get("errors") == suite.get("skipped") == "0"
    ((_, body),) = receiver.received()
    assert (body["event"], body["verdict"], body["run_id"]) == (
        "finished",
        "met",
        summary["gameday_id"],
    )
    assert body["target"] == {"kind": "gameday", "name": "practice"}
    assert [run["run_id"] for run in body["runs"]] == run_ids
    assert body["runs"][0]["rto"]["objective_seconds"] == 30.0


def test_a_game_day_that_stops_early_still_writes_its_junit_file(tmp_path: Path) -> None:
    write(tmp_path / "gamedays", "practice", GAMEDAY)
    junit = tmp_path / "junit.xml"

    result = run_cli(tmp_path, "--junit", str(junit), answers="n\n")

    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    root = ensure_junit_shape(junit.read_bytes())
    assert (root.get("tests"), root.get("skipped")) == ("2", "2")
    assert [case.get("message") for case in root.iter("skipped")] == [
        "not run: the game day stopped early (checkpoint 1 was declined)"
    ] * 2


def test_a_declined_checkpoint_stops_the_game_day_and_the_rest_is_not_run(tmp_path: Path) -> None:
    write(tmp_path / "gamedays", "practice", GAMEDAY)

    result = run_cli(tmp_path, answers="n\n")

    assert result.exit_code == 1  # type: ignore[attr-defined]
    output = result.output  # type: ignore[attr-defined]
    assert "game day practice: INCOMPLETE" in output
    assert "1. checkpoint Everyone is ready: declined" in output
    assert "2. drill noop: not-run" in output
    assert "stopped early: checkpoint 1 was declined" in output
    assert not (tmp_path / "reports" / "noop").exists()


def test_a_game_day_naming_a_missing_drill_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "gamedays",
        "practice",
        "name: practice\nsteps:\n  - drill: noop\n  - drill: no-such-drill\n",
    )

    result = CliRunner().invoke(
        cli,
        [
            "gameday",
            "run",
            "practice",
            "--yes",
            "--gamedays-dir",
            str(tmp_path / "gamedays"),
            "--drills-dir",
            str(TEST_DRILLS),
            "--reports-dir",
            str(tmp_path / "reports"),
        ],
    )

    assert result.exit_code != 0
    assert "no drill named 'no-such-drill'" in str(result.exception)
    assert not (tmp_path / "reports").exists()


# -- the order of steps, with the drills' results given -------------------------------------------


def results(*verdicts: str) -> object:
    queue = list(verdicts)
    ran: list[str] = []

    def run(drill: str) -> DrillRunResult:
        ran.append(drill)
        verdict = queue.pop(0)
        if verdict == "lock-held":
            return DrillRunResult(drill=drill, lock_held="another drill holds the cluster lock")
        return DrillRunResult(drill=drill, verdict=verdict, run_id=f"run-{len(ran)}")

    run.ran = ran  # type: ignore[attr-defined]
    return run


def gameday_of(tmp_path: Path, steps: str) -> object:
    return load_gameday(write(tmp_path, "g", f"name: g\nsteps:\n{steps}"))


@pytest.mark.parametrize(
    ("steps", "verdicts", "statuses", "verdict"),
    [
        pytest.param(
            "  - drill: a\n  - drill: b\n", ["met", "met"], ["met", "met"], "met", id="all-met"
        ),
        pytest.param(
            "  - drill: a\n  - drill: b\n",
            ["missed"],
            ["missed", "not-run"],
            "missed",
            id="stops-at-a-miss",
        ),
        pytest.param(
            "  - drill: a\n    continue_on_failure: true\n  - drill: b\n",
            ["missed", "met"],
            ["missed", "met"],
            "missed",
            id="goes-on-when-told",
        ),
        pytest.param(
            "  - drill: a\n  - drill: b\n",
            ["error"],
            ["error", "not-run"],
            "error",
            id="an-error-stops-and-is-an-error",
        ),
        pytest.param(
            "  - drill: a\n  - drill: b\n",
            ["lock-held"],
            ["lock-held", "not-run"],
            "error",
            id="lock-held",
        ),
    ],
)
def test_a_game_day_stops_at_the_first_failing_drill_unless_a_step_says_otherwise(
    tmp_path: Path, steps: str, verdicts: list[str], statuses: list[str], verdict: str
) -> None:
    clock = FakeClock(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))

    record = run_gameday(
        gameday_of(tmp_path, steps),  # type: ignore[arg-type]
        run_drill=results(*verdicts),  # type: ignore[arg-type]
        confirm=None,
        wait=lambda _: None,
        operator="tester",
        clock=clock,
    )

    assert [step.status.value for step in record.steps] == statuses
    assert record.verdict is GameDayVerdict(verdict)


def test_a_game_day_whose_first_drill_finds_the_lock_held_ran_nothing(tmp_path: Path) -> None:
    record = run_gameday(
        gameday_of(tmp_path, "  - drill: a\n"),  # type: ignore[arg-type]
        run_drill=results("lock-held"),  # type: ignore[arg-type]
        confirm=None,
        wait=lambda _: None,
        operator="tester",
    )

    assert record.lock_held == "another drill holds the cluster lock"
    assert record.steps[0].status is StepStatus.LOCK_HELD


def test_an_interruption_during_a_pause_stops_the_game_day(tmp_path: Path) -> None:
    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    record = run_gameday(
        gameday_of(tmp_path, "  - drill: a\n  - pause: 1h\n  - drill: b\n"),  # type: ignore[arg-type]
        run_drill=results("met", "met"),  # type: ignore[arg-type]
        confirm=None,
        wait=interrupted,
        operator="tester",
    )

    assert [step.status.value for step in record.steps] == ["met", "interrupted", "not-run"]
    assert record.verdict is GameDayVerdict.INCOMPLETE
    assert record.stopped == "interrupted"


def _finished_record() -> GameDayRecord:
    started = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
    ended = datetime(2026, 3, 1, 9, 5, 30, 987654, tzinfo=UTC)
    return GameDayRecord(
        gameday_id="20260301-090000-abcdef",
        name="quarterly",
        description="Twice a year, \u00e0 la carte",
        started_utc=started,
        ended_utc=ended,
        duration_seconds=330.86419753,
        unattended=True,
        steps=(
            StepResult(
                index=0,
                kind="drill",
                title="pod-kill",
                status=StepStatus.MET,
                started_utc=started,
                ended_utc=datetime(2026, 3, 1, 9, 2, 0, tzinfo=UTC),
                duration_seconds=119.8765432,
                run_id="20260301-090000-pod",
                report_dir="/reports/pod-kill/20260301-090000-pod",
            ),
            StepResult(
                index=1,
                kind="pause",
                title="30s",
                status=StepStatus.WAITED,
                started_utc=datetime(2026, 3, 1, 9, 2, 0, tzinfo=UTC),
                ended_utc=datetime(2026, 3, 1, 9, 2, 30, tzinfo=UTC),
                duration_seconds=30.0,
                detail="let the dashboards settle",
            ),
            StepResult(
                index=2,
                kind="drill",
                title="zone-failure",
                status=StepStatus.MISSED,
                started_utc=datetime(2026, 3, 1, 9, 2, 30, tzinfo=UTC),
                ended_utc=ended,
                duration_seconds=180.0004,
                run_id="20260301-090230-zone",
                report_dir="/reports/zone-failure/20260301-090230-zone",
            ),
            StepResult(index=3, kind="checkpoint", title="All clear", status=StepStatus.NOT_RUN),
        ),
        verdict=GameDayVerdict.MISSED,
        stopped="drill zone-failure ended missed",
        operator="ops@example.com",
        owner="sre",
        approver=None,
        controls=("SOC2-A1.2", "ISO-A.17"),
    )


def test_the_game_day_report_json_and_manifest_keep_their_bytes(tmp_path: Path) -> None:
    directory = write_gameday_report(_finished_record(), tmp_path)

    assert (directory / "gameday.json").read_text(encoding="utf-8") == (
        """{
  "schema_version": 1,
  "gameday_id": "20260301-090000-abcdef",
  "gameday": "quarterly",
  "description": "Twice a year, \\u00e0 la carte",
  "verdict": "missed",
  "started_utc": "2026-03-01T09:00:00.123Z",
  "ended_utc": "2026-03-01T09:05:30.987Z",
  "duration_seconds": 330.864,
  "unattended": true,
  "stopped": "drill zone-failure ended missed",
  "accountability": {
    "operator": "ops@example.com",
    "owner": "sre",
    "approver": null,
    "controls": [
      "SOC2-A1.2",
      "ISO-A.17"
    ]
  },
  "drills": {
    "total": 2,
    "ran": 2,
    "by_status": {
      "met": 1,
      "missed": 1
    }
  },
  "steps": [
    {
      "index": 1,
      "kind": "drill",
      "title": "pod-kill",
      "status": "met",
      "started_utc": "2026-03-01T09:00:00.123Z",
      "ended_utc": "2026-03-01T09:02:00.000Z",
      "duration_seconds": 119.877,
      "run_id": "20260301-090000-pod",
      "report_dir": "/reports/pod-kill/20260301-090000-pod",
      "detail": null
    },
    {
      "index": 2,
      "kind": "pause",
      "title": "30s",
      "status": "waited",
      "started_utc": "2026-03-01T09:02:00.000Z",
      "ended_utc": "2026-03-01T09:02:30.000Z",
      "duration_seconds": 30.0,
      "run_id": null,
      "report_dir": null,
      "detail": "let the dashboards settle"
    },
    {
      "index": 3,
      "kind": "drill",
      "title": "zone-failure",
      "status": "missed",
      "started_utc": "2026-03-01T09:02:30.000Z",
      "ended_utc": "2026-03-01T09:05:30.987Z",
      "duration_seconds": 180.0,
      "run_id": "20260301-090230-zone",
      "report_dir": "/reports/zone-failure/20260301-090230-zone",
      "detail": null
    },
    {
      "index": 4,
      "kind": "checkpoint",
      "title": "All clear",
      "status": "not-run",
      "started_utc": null,
      "ended_utc": null,
      "duration_seconds": null,
      "run_id": null,
      "report_dir": null,
      "detail": null
    }
  ],
  "tool_version": "VERSION"
}
""".replace("VERSION", __version__)
    )
    digests = {
        name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
        for name in ("gameday.html", "gameday.json", "gameday.md")
    }
    assert (directory / "manifest.json").read_text(encoding="utf-8") == (
        """{
  "algorithm": "sha256",
  "files": {
    "gameday.html": "HTML",
    "gameday.json": "JSON",
    "gameday.md": "MARKDOWN"
  }
}
""".replace("HTML", digests["gameday.html"])
        .replace("JSON", digests["gameday.json"])
        .replace("MARKDOWN", digests["gameday.md"])
    )

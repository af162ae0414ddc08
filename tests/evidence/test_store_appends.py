"""Everything a command appends to the local ledger reaches the evidence store too, on a
real MinIO: a run's entry, the findings it opened or closed and the runs it finalised as
interrupted, a game day with its drill runs, a scheduled fire's skip and the scheduler's
missed fires. Runs are real: the no-cluster ``noop`` drill through click in this process,
and the file service's drills in processes of their own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillkit.cli.main import cli
from drillkit.evidence.ledger import (
    AnyEntry,
    GameDayEntry,
    RunEntry,
    SkipEntry,
    entry_payload,
    read_ledger,
)
from drillkit.evidence.store import EvidenceStore, sync_ledger
from drillkit.scheduling.policies import SkipKind
from tests.evidence.conftest import record_runs, write_run
from tests.scheduling.conftest import TEST_DRILLS, clock_for_apscheduler, miss_a_fire

LOCKED = ("--retention-mode", "compliance", "--retention-days", "1")
ALWAYS_BLACK = "blackouts:\n  - {name: always, start: 2000-01-01T00:00, end: 2100-01-01T00:00}\n"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, evidence_url: str) -> None:
    monkeypatch.setenv("DRILL_SCHEDULER_DATABASE", f"sqlite:///{tmp_path / 'scheduler.db'}")
    monkeypatch.setenv("DRILL_DRILLS_DIR", str(TEST_DRILLS))
    monkeypatch.setenv("DRILL_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("DRILL_GAMEDAYS_DIR", str(tmp_path / "gamedays"))
    monkeypatch.setenv("DRILL_SCHEDULE_POLICY", str(tmp_path / "schedule-policy.yaml"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("DRILL_SIGNING_KEY", raising=False)
    monkeypatch.setenv("DRILL_EVIDENCE", evidence_url)
    # Runs in processes of their own reach MinIO on loopback directly, never via a proxy.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def drill(*arguments: str) -> Result:
    return CliRunner().invoke(cli, [*arguments[:2], *arguments[2:], *LOCKED])


def stored_entries(url: str) -> list[AnyEntry]:
    lines = EvidenceStore(url).read_entries().lines
    return [entry for _, line in sorted(lines.items()) if (entry := line.entry) is not None]


def local_digests(reports: Path) -> list[str]:
    return [line.digest for line in read_ledger(reports)]


def assert_store_holds_the_local_ledger(url: str, reports: Path) -> None:
    stored = stored_entries(url)
    assert [entry.origin.digest for entry in stored if entry.origin] == local_digests(reports)
    verified = CliRunner().invoke(cli, ["evidence", "verify", "-o", "json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["entries"] == len(stored)


def killed_run_beside(run_dir: Path) -> Path:
    """A run of the same drill killed after it started: the start note of ``run_dir``
    under another run id, naming a process that has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    run_id = f"{run_dir.name[:-6]}dead00"
    killed = run_dir.parent / run_id
    killed.mkdir()
    note = json.loads((run_dir / "started.json").read_text())
    note.update(run_id=run_id, pid=ended.pid)
    (killed / "started.json").write_text(json.dumps(note))
    return killed


def noop_run_and_a_killed_one(reports: Path) -> tuple[RunEntry, Path]:
    """A noop run entered in the ledger, and a run of it killed after it started."""
    first = drill("run", "noop")
    assert first.exit_code == 0, first.output
    (run,) = [line.entry for line in read_ledger(reports) if line.entry]
    assert isinstance(run, RunEntry)
    return run, killed_run_beside(reports / run.report.dir)


def test_a_run_enters_the_store_with_the_killed_run_it_finalised(
    evidence_url: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    run, killed = noop_run_and_a_killed_one(reports)

    second = drill("run", "noop")

    assert second.exit_code == 0, second.output
    assert [(entry.kind, entry.report.dir) for entry in stored_entries(evidence_url)] == [
        ("run", run.report.dir),
        ("run", next(line.entry.report.dir for line in read_ledger(reports)[1:2])),
        ("run", f"noop/{killed.name}"),
    ]
    assert "as entry 3" in second.output
    assert_store_holds_the_local_ledger(evidence_url, reports)


def test_a_game_day_enters_the_store_with_its_drill_runs(evidence_url: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    gamedays = tmp_path / "gamedays"
    gamedays.mkdir()
    (gamedays / "practice.yaml").write_text(
        "name: practice\nsteps:\n  - drill: noop\n  - drill: noop\n"
    )

    played = drill("gameday", "run", "practice", "--yes")

    assert played.exit_code == 0, played.output
    assert [entry.kind for entry in stored_entries(evidence_url)] == ["run", "run", "gameday"]
    assert_store_holds_the_local_ledger(evidence_url, reports)
    listed = CliRunner().invoke(cli, ["report", "list", "-o", "json"])
    assert [run["drill"] for run in json.loads(listed.output)] == ["noop", "noop"]


def test_a_game_day_in_a_shared_store_links_its_runs_by_their_store_entries(
    evidence_url: str, tmp_path: Path
) -> None:
    # Another runner entered two runs first: local entry numbers are not the store's.
    other = tmp_path / "other" / "reports"
    record_runs(other, 2, drills=("zone-failure",))
    sync_ledger(EvidenceStore(evidence_url), other, signing_key=None)
    (tmp_path / "gamedays").mkdir()
    (tmp_path / "gamedays" / "practice.yaml").write_text(
        "name: practice\nsteps:\n  - drill: noop\n  - drill: noop\n"
    )

    played = drill("gameday", "run", "practice", "--yes")

    assert played.exit_code == 0, played.output
    lines = EvidenceStore(evidence_url).read_entries().lines
    gameday = lines[5].entry
    assert isinstance(gameday, GameDayEntry)
    for linked in gameday.runs:
        assert linked.seq is not None
        target = lines[linked.seq].entry
        assert isinstance(target, RunEntry) and target.report.dir == linked.dir
    assert [linked.seq for linked in gameday.runs] == [3, 4]

    # A game day entered with a link to an entry that does not hold its run is found.
    forged = entry_payload(gameday)
    for name in ("seq", "prev", "recorded_utc"):
        forged.pop(name)
    forged["runs"][0]["seq"] = 1
    EvidenceStore(evidence_url).claim(forged, signing_key=None)
    verified = CliRunner().invoke(cli, ["evidence", "verify", "-o", "json"])
    assert verified.exit_code == 1, verified.output
    (problem,) = json.loads(verified.output)["problems"]
    assert "links run" in problem["message"] and "to entry 1" in problem["message"]


def test_a_scheduled_fire_enters_its_skip_in_the_store(evidence_url: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (tmp_path / "schedule-policy.yaml").write_text(ALWAYS_BLACK)

    skipped = drill("schedule", "fire", "noop", "--fire-time", "2026-01-05T10:00:00Z")

    assert skipped.exit_code == 0, skipped.output
    assert "noop: skipped: blackout" in skipped.output
    (skip,) = stored_entries(evidence_url)
    assert skip.kind == "skip"
    assert_store_holds_the_local_ledger(evidence_url, reports)


def test_the_scheduler_enters_the_fires_it_records_as_missed_in_the_store(
    evidence_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler_clock = clock_for_apscheduler(monkeypatch)
    reports = tmp_path / "reports"

    miss_a_fire(
        f"sqlite:///{tmp_path / 'scheduler.db'}",
        scheduler_clock,
        reports,
        recorded=lambda: len(stored_entries(evidence_url)) == 1,
        ledger=reports,
        evidence=EvidenceStore(evidence_url),
    )

    (skip,) = stored_entries(evidence_url)
    assert isinstance(skip, SkipEntry)
    assert skip.reason.startswith(SkipKind.MISSED.value)
    assert_store_holds_the_local_ledger(evidence_url, reports)


def test_runs_enter_the_findings_they_open_and_close_in_the_store(
    evidence_url: str, tmp_path: Path
) -> None:
    from tests.evidence.test_findings import drill as drill_process
    from tests.evidence.test_findings import project

    reports = tmp_path / "reports"

    def run(name: str) -> None:
        result = drill_process(
            tmp_path,
            "run", name,
            "--drills-dir", str(tmp_path / "drills"),
            "--reports-dir", str(reports),
            "--evidence", evidence_url, *LOCKED,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        assert "warning" not in result.stderr

    project(tmp_path, pod_rto="1s")
    run("files-pod")
    project(tmp_path, pod_rto="30s")
    run("files-pod")

    stored = stored_entries(evidence_url)
    assert [(entry.kind, getattr(entry, "action", None)) for entry in stored] == [
        ("run", None),
        ("finding", "opened"),
        ("run", None),
        ("finding", "closed"),
    ]
    assert_store_holds_the_local_ledger(evidence_url, reports)


def test_recover_and_adopt_enter_what_they_add_to_the_ledger_in_the_store(
    evidence_url: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    _, killed = noop_run_and_a_killed_one(reports)
    # A report written before the ledger knew it: adopt enters it.
    unrecorded = write_run(reports, 3, drill="zone-failure")

    # No cluster to reach: recover still finalises the killed run, and enters it.
    recovered = drill("recover")
    assert recovered.exit_code != 0
    assert ("noop", killed.name) == tuple(stored_entries(evidence_url)[-1].report.dir.split("/"))
    adopted = drill("evidence", "adopt")

    assert adopted.exit_code == 0, adopted.output
    last = stored_entries(evidence_url)[-1]
    assert isinstance(last, RunEntry) and last.adopted
    assert last.report.dir == unrecorded.relative_to(reports).as_posix()
    assert_store_holds_the_local_ledger(evidence_url, reports)

"""Game days enter the evidence: a ledger entry of their own, verified, exported, linked.

A game day's report (``reports/gamedays/<name>/<id>/``) is entered in the ledger after
it is written, with the digest of each of its files and a link to the entry of every
drill run it made; ``verify`` checks both, ``export`` ships it with an index row, and
the links of ``gameday.md`` and ``gameday.html`` lead to each drill's report, in the
reports tree and in the bundle alike.
"""

from __future__ import annotations

import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli.main import cli
from drillkit.evidence import append_gameday
from drillkit.evidence.controls import load_catalogue
from drillkit.evidence.export import export_bundle
from drillkit.evidence.ledger import GameDayEntry, RunEntry, read_ledger
from drillkit.evidence.verify import ProblemKind, verify_ledger
from drillkit.scheduling.gamedays import (
    GameDayRecord,
    GameDayVerdict,
    StepResult,
    StepStatus,
    write_gameday_report,
)
from drillkit.signing import generate_key_pair
from tests.evidence.conftest import RECORDED, flip_byte, record_runs
from tests.reporting.conftest import UTC_ORIGIN

START = UTC_ORIGIN.replace(hour=0)


def gameday_of(run_dirs: list[Path]) -> GameDayRecord:
    """A game day that ran the given runs (already written and entered) as its drills."""
    steps = [
        StepResult(
            index=index,
            kind="drill",
            title=run_dir.parent.name,
            status=StepStatus.MET,
            started_utc=UTC_ORIGIN,
            ended_utc=UTC_ORIGIN + timedelta(minutes=1),
            duration_seconds=60.0,
            run_id=run_dir.name,
            report_dir=str(run_dir),
        )
        for index, run_dir in enumerate(run_dirs)
    ]
    return GameDayRecord(
        gameday_id="20250301-100000-abcdef",
        name="quarterly",
        description="two drills",
        started_utc=UTC_ORIGIN + timedelta(hours=1),
        ended_utc=UTC_ORIGIN + timedelta(hours=2),
        duration_seconds=3600.0,
        unattended=True,
        steps=tuple(steps),
        verdict=GameDayVerdict.MET,
        stopped=None,
        operator="sre@example.com",
    )


def links_of(document: str) -> list[str]:
    markdown = re.findall(r"\]\(([^)]+)\)", document)
    html = re.findall(r'href="([^"]+)"', document)
    return markdown + html


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_game_day_is_entered_with_its_files_and_the_entries_of_its_runs(
    tmp_path: Path, signed: bool
) -> None:
    key = generate_key_pair(tmp_path / "key.pem")[0] if signed else None
    reports = tmp_path / "reports"
    run_dirs = record_runs(reports, 2, signing_key=key)
    gameday_dir = write_gameday_report(gameday_of(run_dirs), reports)

    entry = append_gameday(reports, gameday_dir, signing_key=key, now=RECORDED)

    assert isinstance(entry, GameDayEntry)
    assert (entry.seq, entry.gameday, entry.gameday_id) == (
        3,
        "quarterly",
        "20250301-100000-abcdef",
    )
    assert entry.report.dir == "gamedays/quarterly/20250301-100000-abcdef"
    assert set(entry.report.files) == {"gameday.json", "gameday.md", "gameday.html"}
    runs = [line.entry for line in read_ledger(reports)[:2]]
    assert all(isinstance(run, RunEntry) for run in runs)
    assert [(linked.run_id, linked.seq) for linked in entry.runs] == [
        (run.run_id, run.seq) for run in runs if isinstance(run, RunEntry)
    ]
    assert (entry.sig is not None) is signed
    result = verify_ledger(reports, verify_key=key.verify_key if key else None)
    assert result.intact, [problem.message for problem in result.problems]
    assert result.entries == 3


@pytest.mark.parametrize("name", ["gameday.json", "gameday.md", "gameday.html", "manifest.json"])
def test_an_altered_game_day_file_is_named(tmp_path: Path, name: str) -> None:
    reports = tmp_path / "reports"
    gameday_dir = write_gameday_report(gameday_of(record_runs(reports, 2)), reports)
    append_gameday(reports, gameday_dir, now=RECORDED)
    flip_byte(gameday_dir / name, 5)

    result = verify_ledger(reports)

    assert [(problem.kind, problem.file) for problem in result.problems] == [
        (ProblemKind.FILE_ALTERED, name)
    ]
    assert "game day quarterly/20250301-100000-abcdef" in result.problems[0].message


def test_links_of_the_game_day_report_lead_to_each_drill_report_in_the_tree_and_the_bundle(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    run_dirs = record_runs(reports, 2)
    gameday_dir = write_gameday_report(gameday_of(run_dirs), reports)
    append_gameday(reports, gameday_dir, now=RECORDED)
    output = tmp_path / "bundle.zip"

    export_bundle(
        reports,
        output,
        start=START,
        end=START + timedelta(days=30),
        catalogue=load_catalogue(),
        now=RECORDED,
    )

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(output) as bundle:
        bundle.extractall(unpacked)
        index = bundle.read("index.html").decode()
    bundled = unpacked / "runs" / "gamedays" / "quarterly" / "20250301-100000-abcdef"
    assert {path.name for path in bundled.iterdir()} == {
        "gameday.json",
        "gameday.md",
        "gameday.html",
        "manifest.json",
    }
    assert "20250301-100000-abcdef" in index
    assert 'href="runs/gamedays/quarterly/20250301-100000-abcdef/gameday.html"' in index
    for directory, root in ((gameday_dir, reports), (bundled, unpacked / "runs")):
        for document in ("gameday.md", "gameday.html"):
            links = links_of((directory / document).read_text())
            assert len(links) == 2, links
            for link in links:
                target = (directory / link).resolve()
                assert target.is_file(), link
                assert target.is_relative_to(root.resolve()), link
                assert target.parent.name in {run_dir.name for run_dir in run_dirs}


def test_drill_gameday_run_enters_the_game_day_signed_with_the_run_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.scheduling.conftest import TEST_DRILLS
    from tests.scheduling.test_gamedays import GAMEDAY, write

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    key, public = generate_key_pair(tmp_path / "key.pem")
    write(tmp_path / "gamedays", "practice", GAMEDAY)
    reports = tmp_path / "reports"

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
            str(reports),
            "--signing-key",
            str(tmp_path / "key.pem"),
        ],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    entries = [line.entry for line in read_ledger(reports)]
    gamedays = [entry for entry in entries if isinstance(entry, GameDayEntry)]
    assert len(gamedays) == 1 and gamedays[0].sig is not None
    assert [linked.seq for linked in gamedays[0].runs] == [
        entry.seq for entry in entries if isinstance(entry, RunEntry)
    ]
    assert all(linked.seq is not None for linked in gamedays[0].runs)
    verified = verify_ledger(reports, verify_key=key.verify_key)
    assert verified.intact, [problem.message for problem in verified.problems]
    assert public.is_file()


def test_a_broken_signing_key_stops_a_game_day_before_its_first_drill(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.evidence.test_cli import drill_command
    from tests.scheduling.conftest import TEST_DRILLS
    from tests.scheduling.test_gamedays import GAMEDAY, write

    key = tmp_path / "key.pem"
    key.write_text("not a key")
    key.chmod(0o600)
    write(tmp_path / "gamedays", "practice", GAMEDAY)
    reports = tmp_path / "reports"

    result = subprocess.run(
        [
            *drill_command(),
            "gameday",
            "run",
            "practice",
            "--yes",
            "--gamedays-dir",
            str(tmp_path / "gamedays"),
            "--drills-dir",
            str(TEST_DRILLS),
            "--reports-dir",
            str(reports),
        ],
        env={
            **os.environ,
            "DRILL_SIGNING_KEY": str(key),
            "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2
    assert f"drill: error: {key}: not an unencrypted PEM private key" in result.stderr
    assert not reports.exists()


def test_a_game_day_relinked_to_another_run_is_named(tmp_path: Path) -> None:
    # Unsigned, the game day's own line can be rewritten with its head and witness;
    # its link must still name the entry that holds the run.
    import json

    from drillkit.evidence.ledger import digest_bytes, encode_canonical, head_path, witness_path
    from tests.evidence.conftest import ledger_lines, write_ledger_lines

    reports = tmp_path / "reports"
    run_dirs = record_runs(reports, 2)
    append_gameday(reports, write_gameday_report(gameday_of(run_dirs[:1]), reports), now=RECORDED)
    lines = ledger_lines(reports)
    forged = json.loads(lines[-1])
    forged["runs"][0]["seq"] = 2
    lines[-1] = encode_canonical(forged) + b"\n"
    write_ledger_lines(reports, lines)
    head = json.loads(head_path(reports).read_bytes())
    head["digest"] = digest_bytes(lines[-1].rstrip(b"\n"))
    for path in (head_path(reports), witness_path(reports)):
        path.write_bytes(encode_canonical(head) + b"\n")

    result = verify_ledger(reports)

    assert [problem.kind for problem in result.problems] == [ProblemKind.LINE_ALTERED]
    assert "links run zone-failure/" in result.problems[0].message
